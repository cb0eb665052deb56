import { createHmac } from 'node:crypto';
import type { LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { Subscription } from '@medplum/fhirtypes';
import type { DeliveryJob } from '../jobs/queues.js';
import { checkOutboundUrl, pinnedLookup } from '../net/outbound-target.js';
import { subscriptionSecret } from './extensions.js';

/** HMAC-SHA256 of the body, hex: Medplum's `X-Signature` (verify it with the Subscription's secret). */
export function signBody(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/**
 * The headers of a notification, as Medplum sends them: the subscription and interaction, the
 * deleted resource on deletes, each `channel.header` ("Name: value"), and the signature.
 */
export function notificationHeaders(
  subscription: Subscription & { id: string },
  job: Pick<DeliveryJob, 'interaction' | 'resourceType' | 'resourceId'>,
  body: string
): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/fhir+json',
    'x-medplum-subscription': subscription.id,
    'x-medplum-interaction': job.interaction,
  };
  if (job.interaction === 'delete') {
    headers['x-medplum-deleted-resource'] = `${job.resourceType}/${job.resourceId}`;
  }
  for (const header of subscription.channel?.header ?? []) {
    const colon = header.indexOf(':');
    const name = colon > 0 ? header.slice(0, colon).trim() : '';
    // A header that is not "Name: value", or names what Tiba sets itself, is left out.
    if (/^[!#$%&'*+.^`|~\w-]+$/.test(name) && !(name.toLowerCase() in headers)) {
      headers[name] = header.slice(colon + 1).trim();
    }
  }
  const secret = subscriptionSecret(subscription);
  if (secret) {
    headers['x-signature'] = signBody(secret, body);
  }
  return headers;
}

export interface RestHookOutcome {
  success: boolean;
  status?: number;
  /** What happened, for the AuditEvent and Subscription.error. */
  detail: string;
  /** The endpoint is refused outright: retrying cannot help. */
  refused?: boolean;
}

export interface RestHookOptions {
  timeoutMs: number;
  /** `host:port` entries (lowercase) that may be private; `*` allows every endpoint. */
  allowedHosts: readonly string[];
}

/**
 * POSTs a notification; never throws. Any 2xx is a success; the request is cut at `timeoutMs`.
 * Only http(s) endpoints whose every address is public are called (unless allowed by
 * REST_HOOK_ALLOWED_HOSTS), so a Subscription cannot reach the server's own network; the
 * connection goes to the addresses that were checked, so a DNS answer that changes in between
 * (rebinding) is not used.
 */
export async function postRestHook(
  endpoint: string,
  headers: Record<string, string>,
  body: string,
  options: RestHookOptions
): Promise<RestHookOutcome> {
  try {
    const target = await checkOutboundUrl(endpoint, options.allowedHosts, 'REST_HOOK_ALLOWED_HOSTS');
    if ('refused' in target) {
      return { success: false, detail: `endpoint not allowed: ${target.refused}`, refused: true };
    }
    const status = await send(target.url, headers, body, options.timeoutMs, target.addresses);
    const success = status >= 200 && status < 300;
    return { success, status, detail: `HTTP ${status}` };
  } catch (err) {
    const name = (err as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      return { success: false, detail: `No answer within ${options.timeoutMs} ms` };
    }
    const code = (err as { code?: string }).code;
    return { success: false, detail: `Request failed: ${code ?? (err as Error).message}` };
  }
}

/** One POST; resolves with the status once the answer's head is in (its body is discarded). */
function send(
  url: URL,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
  addresses: LookupAddress[] | undefined
): Promise<number> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        lookup: addresses ? pinnedLookup(addresses) : undefined,
        signal: AbortSignal.timeout(timeoutMs),
      },
      (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      }
    );
    request.on('error', reject);
    request.end(body);
  });
}
