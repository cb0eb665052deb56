import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';

/** Where Twilio's REST API lives; TWILIO_API_BASE_URL replaces it (the stand-in, a recording proxy). */
export const TWILIO_API_ORIGIN = 'https://api.twilio.com';

export interface TwilioRestOptions {
  accountSid: string;
  authToken: string;
  /** `http://127.0.0.1:4010` sends every call there instead of api.twilio.com (TWILIO_API_BASE_URL). */
  apiBaseUrl?: string;
  /** Each REST call is cut after this long (ms). */
  timeoutMs?: number;
}

/**
 * The official client's HTTP layer with the API host swapped. The client builds absolute
 * `https://api.twilio.com/...` URIs (then adds region/edge to the host), so the one place a
 * base URL can be changed without forking it is the `httpClient` it delegates to.
 */
class BaseUrlRequestClient extends twilio.RequestClient {
  constructor(
    private readonly baseUrl: string,
    options: ConstructorParameters<typeof twilio.RequestClient>[0]
  ) {
    super(options);
  }

  override request<TData>(opts: RequestClient.RequestOptions<TData>) {
    const uri = new URL(opts.uri);
    const target = new URL(`${uri.pathname}${uri.search}`, this.baseUrl);
    return super.request<TData>({ ...opts, uri: target.href });
  }
}

const clients = new Map<string, twilio.Twilio>();
const MAX_CACHED_CLIENTS = 100;

/**
 * The client of an account, made once and reused, so its connections stay open (keep-alive)
 * instead of one TLS handshake per message. A changed auth token makes a new one.
 */
export function twilioRestClientFor(options: TwilioRestOptions): twilio.Twilio {
  const key = JSON.stringify([options.accountSid, options.authToken, options.apiBaseUrl, options.timeoutMs]);
  let client = clients.get(key);
  if (!client) {
    if (clients.size >= MAX_CACHED_CLIENTS) {
      clients.delete(clients.keys().next().value as string);
    }
    client = createTwilioRestClient(options);
    clients.set(key, client);
  }
  return client;
}

/**
 * A `twilio` client for one account. Auto-retry stays off: the sending job owns retries, so a
 * 429 is never retried behind its back (and its attempt record stays true).
 * https://www.twilio.com/docs/libraries/reference/twilio-node/
 */
export function createTwilioRestClient(options: TwilioRestOptions): twilio.Twilio {
  const timeout = options.timeoutMs ?? 15_000;
  const base = options.apiBaseUrl?.replace(/\/+$/, '');
  const httpClient = base && base !== TWILIO_API_ORIGIN ? new BaseUrlRequestClient(`${base}/`, { timeout }) : undefined;
  return twilio(options.accountSid, options.authToken, {
    ...(httpClient ? { httpClient } : { timeout }),
    autoRetry: false,
  });
}
