// Twilio's REST error answers, as api.twilio.com sends them: HTTP status plus a JSON body
// {code, message, more_info, status}. https://www.twilio.com/docs/api/errors

export interface TwilioErrorBody {
  code: number;
  message: string;
  more_info: string;
  status: number;
}

export interface TwilioErrorAnswer {
  status: number;
  body: TwilioErrorBody;
}

/** One of Twilio's REST errors (the message text as Twilio words it, with the value it is about). */
export function twilioError(code: number, status: number, message: string): TwilioErrorAnswer {
  return { status, body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status } };
}

export const REST_ERRORS = {
  authenticate: () => twilioError(20003, 401, 'Authenticate'),
  notFound: (path: string) => twilioError(20404, 404, `The requested resource ${path} was not found`),
  tooManyRequests: () => twilioError(20429, 429, 'Too Many Requests'),
  internal: () => twilioError(20500, 500, 'Internal Server Error'),
  unavailable: () => twilioError(20503, 503, 'Service Unavailable'),
  fromRequired: () => twilioError(21603, 400, "A 'From' phone number is required."),
  toRequired: () => twilioError(21604, 400, "A 'To' phone number is required."),
  bodyRequired: () => twilioError(21602, 400, 'Message body is required.'),
  invalidTo: (to: string) => twilioError(21211, 400, `The 'To' number ${to} is not a valid phone number.`),
  fromNotOwned: (from: string) =>
    twilioError(
      21606,
      400,
      `The From phone number ${from} is not a valid, SMS-capable inbound phone number or short code for your account.`
    ),
  bodyTooLong: () => twilioError(21617, 400, 'The concatenated message body exceeds the 1600 character limit.'),
  notMobile: (to: string) => twilioError(21614, 400, `'To' number ${to} is not a valid mobile number`),
  unsubscribed: () => twilioError(21610, 400, 'Attempt to send to unsubscribed recipient'),
  invalidCallback: () => twilioError(21609, 400, 'Invalid StatusCallback url'),
  channelMismatch: () =>
    twilioError(21910, 400, 'Invalid From and To pair. From and To should be of the same channel.'),
  invalidService: (sid: string) => twilioError(21701, 400, `The Messaging Service Sid ${sid} is invalid.`),
} as const;

/** Delivery errors that arrive in status callbacks (ErrorCode / ErrorMessage), not in the REST answer. */
export const DELIVERY_ERRORS: Record<number, string> = {
  30003: 'Unreachable destination handset',
  30005: 'Unknown destination handset',
  30006: 'Landline or unreachable carrier',
  30007: 'Message filtered',
  63016:
    'Failed to send freeform message because you are outside the allowed window. If you are using WhatsApp, please use a Message Template.',
};
