import type { TibaConfig } from '../../config.js';
import { startTwilioStandIn, type TwilioStandIn } from '../twilio-stand-in/stand-in.js';

/** Twilio's own test number and WhatsApp sandbox sender: what the stand-in owns unless told otherwise. */
export const STAND_IN_SMS_NUMBER = '+15005550006';
export const STAND_IN_WHATSAPP_SENDER = 'whatsapp:+14155238886';

export interface ConfiguredStandIn {
  /** The configuration to run with: Twilio calls go to the stand-in. */
  config: Readonly<TibaConfig>;
  standIn?: TwilioStandIn;
}

/**
 * With TWILIO_STAND_IN=true, starts the local Twilio stand-in with the configured account and
 * numbers (Twilio's test numbers when none are set) and points the Twilio client at it. The
 * credentials must be given (npm start generates them): every process of a deployment, workers
 * included, has to sign and verify with the same ones.
 */
export async function startConfiguredStandIn(config: Readonly<TibaConfig>): Promise<ConfiguredStandIn> {
  const twilio = config.twilio;
  if (!twilio.standIn) {
    return { config };
  }
  if (!twilio.accountSid || !twilio.authToken) {
    throw new Error('TWILIO_STAND_IN=true needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (any AC… id and secret)');
  }
  const named = twilio.from || twilio.whatsappFrom;
  const from = named ? twilio.from : STAND_IN_SMS_NUMBER;
  const whatsappFrom = named ? twilio.whatsappFrom : STAND_IN_WHATSAPP_SENDER;
  const whatsapp = whatsappFrom && (whatsappFrom.startsWith('whatsapp:') ? whatsappFrom : `whatsapp:${whatsappFrom}`);
  const standIn = await startTwilioStandIn({
    accounts: [
      {
        accountSid: twilio.accountSid,
        authToken: twilio.authToken,
        numbers: [from, whatsapp].filter((n): n is string => Boolean(n)),
      },
    ],
    port: twilio.standInPort,
    inboundUrl: `${config.baseUrl}messaging/twilio/inbound`,
  });
  return {
    config: Object.freeze({
      ...config,
      twilio: Object.freeze({ ...twilio, from, whatsappFrom: whatsapp, apiBaseUrl: twilio.apiBaseUrl ?? standIn.url }),
    }),
    standIn,
  };
}
