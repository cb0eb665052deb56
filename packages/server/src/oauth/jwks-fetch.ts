import type { LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { createRemoteJWKSet, customFetch, type FetchImplementation, type RemoteJWKSet } from 'jose';
import { checkOutboundUrl, pinnedLookup } from '../net/outbound-target.js';

export const JWKS_FETCH_TIMEOUT_MS = 5_000;
/** A JWKS holds a few public keys (about 1 KB each): anything much larger is not one. */
export const JWKS_MAX_BYTES = 64 * 1024;
const JWKS_CACHE_MAX_AGE_MS = 10 * 60_000;
/** An unknown `kid` refetches a client's JWKS at most this often, so forged kids cannot hammer its server. */
export const JWKS_REFETCH_COOLDOWN_MS = 5_000;
const MAX_CACHED_JWKS_URIS = 1_000;

export interface JwksFetchOptions {
  /** `host:port`s on private networks a jwksUri may name (JWKS_ALLOWED_HOSTS); `*` allows all. */
  allowedHosts: readonly string[];
  timeoutMs: number;
  maxBytes: number;
}

/** Why a client's JWKS could not be used; the message is fit for an `invalid_client` description. */
export class JwksFetchError extends Error {}

/** The key set at a client's jwksUri, fetched through the private-address guard. */
export type RemoteKeySets = (url: URL) => RemoteJWKSet;

/**
 * One cached key set per URL, refetched after 10 minutes or when an unknown `kid` arrives (after
 * the cooldown). A jwksUri is chosen by whoever registers the client, so it is fetched like a
 * rest-hook: public addresses only unless allowed, pinned to the checked addresses, no redirects,
 * cut at `timeoutMs` and `maxBytes`.
 */
export function createRemoteKeySets(options: JwksFetchOptions): RemoteKeySets {
  const keySets = new Map<string, RemoteJWKSet>();
  const fetchJwks = guardedJwksFetch(options);
  return (url) => {
    let keySet = keySets.get(url.href);
    if (!keySet) {
      if (keySets.size >= MAX_CACHED_JWKS_URIS) {
        keySets.delete(keySets.keys().next().value as string);
      }
      keySet = createRemoteJWKSet(url, {
        timeoutDuration: options.timeoutMs,
        cacheMaxAge: JWKS_CACHE_MAX_AGE_MS,
        cooldownDuration: JWKS_REFETCH_COOLDOWN_MS,
        [customFetch]: fetchJwks,
      });
      keySets.set(url.href, keySet);
    }
    return keySet;
  };
}

/** jose's fetch hook: a GET that only reaches allowed addresses and reads at most `maxBytes`. */
export function guardedJwksFetch(options: JwksFetchOptions): FetchImplementation {
  return async (url, init) => {
    const target = await checkOutboundUrl(url, options.allowedHosts, 'JWKS_ALLOWED_HOSTS');
    if ('refused' in target) {
      throw new JwksFetchError(`The client's jwksUri is not allowed: ${target.refused}`);
    }
    const signal = AbortSignal.any([init.signal, AbortSignal.timeout(options.timeoutMs)]);
    try {
      const body = await getSmallBody(target.url, Object.fromEntries(init.headers), signal, target.addresses, options);
      return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
    } catch (err) {
      // jose reports a TimeoutError as JWKSTimeout; node's http says AbortError.
      throw signal.aborted ? signal.reason : err;
    }
  };
}

/** The body of a 200 answer; any other status, or a body over the limit, is a JwksFetchError. */
function getSmallBody(
  url: URL,
  headers: Record<string, string>,
  signal: AbortSignal,
  addresses: LookupAddress[] | undefined,
  options: Pick<JwksFetchOptions, 'maxBytes'>
): Promise<Buffer> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.get(
      url,
      { headers, signal, lookup: addresses ? pinnedLookup(addresses) : undefined },
      (response) => {
        if (response.statusCode !== 200) {
          response.destroy();
          reject(new JwksFetchError(`The client's jwksUri answered HTTP ${response.statusCode}`));
          return;
        }
        const tooLarge = () => new JwksFetchError(`The client's JWKS is larger than ${options.maxBytes} bytes`);
        if (Number(response.headers['content-length'] ?? 0) > options.maxBytes) {
          response.destroy();
          reject(tooLarge());
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > options.maxBytes) {
            response.destroy();
            reject(tooLarge());
            return;
          }
          chunks.push(chunk);
        });
        response.on('end', () => resolve(Buffer.concat(chunks)));
        response.on('error', reject);
      }
    );
    request.on('error', reject);
  });
}
