import type { Answer } from './answer-check.js';
import type { HostileRequest } from './hostile-requests.js';

/** What happened to one request sent over HTTP: an answer, or the transport failure it met. */
export type HttpOutcome = { answer: Answer } | { failure: string } | { notSent: true };

/**
 * Sends a hostile request to a listening server with fetch (keep-alive connections, as real
 * clients use them), so resets and timeouts show up as failures instead of passing unseen.
 */
export async function sendOverHttp(
  baseUrl: string,
  request: HostileRequest,
  token: string,
  timeoutMs: number
): Promise<HttpOutcome> {
  try {
    // Joined as text: URL resolution would read a path like //host/x as another host.
    const res = await fetch(`${new URL(baseUrl).origin}${request.url}`, {
      method: request.method,
      headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json', ...request.headers },
      body: request.body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const answer = {
      status: res.status,
      contentType: res.headers.get('content-type') ?? undefined,
      body: await res.text(),
    };
    return { answer };
  } catch (err) {
    if (err instanceof TypeError && /Invalid URL|not a valid HTTP|Request with|invalid header/i.test(err.message)) {
      return { notSent: true }; // the client refused to send it: nothing reached the server
    }
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return {
      failure:
        (err as Error)?.name === 'TimeoutError'
          ? 'timeout'
          : (cause?.code ?? cause?.message ?? (err as Error)?.message ?? 'unknown'),
    };
  }
}
