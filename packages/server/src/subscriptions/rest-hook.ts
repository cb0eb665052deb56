import { createHmac } from 'node:crypto';
import type { Subscription } from '@medplum/fhirtypes';
import type { DeliveryJob } from '../jobs/queues.js';
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
}

/** POSTs a notification; never throws. Any 2xx is a success; the request is cut at `timeoutMs`. */
export async function postRestHook(
  endpoint: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number
): Promise<RestHookOutcome> {
  try {
    const response = await fetch(endpoint, {
      method: 'POST',
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    // The answer's body is not used: release the connection.
    await response.body?.cancel().catch(() => undefined);
    const success = response.status >= 200 && response.status < 300;
    return { success, status: response.status, detail: `HTTP ${response.status}` };
  } catch (err) {
    const name = (err as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      return { success: false, detail: `No answer within ${timeoutMs} ms` };
    }
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return { success: false, detail: `Request failed: ${cause?.code ?? cause?.message ?? (err as Error).message}` };
  }
}
