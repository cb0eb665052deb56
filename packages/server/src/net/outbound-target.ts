import type { LookupAddress } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import { isPrivateAddress } from './private-address.cjs';

/** Where an outbound request may go (the addresses to connect to), or why it may not. */
export type OutboundTarget = { url: URL; addresses?: LookupAddress[] } | { refused: string };

/**
 * Checks a URL the server is asked to call on someone's behalf (rest-hooks, client JWKS): only
 * http(s), and only hosts whose every address is public, unless `host:port` is in `allowedHosts`
 * (`*` allows all; `setting` names the variable that lists them, for the message). Connect with
 * `pinnedLookup(addresses)` so that a DNS answer that changes in between (rebinding) is not used.
 * Allowed hosts are resolved as usual (no addresses); a failed DNS lookup throws.
 */
export async function checkOutboundUrl(
  endpoint: string,
  allowedHosts: readonly string[],
  setting: string
): Promise<OutboundTarget> {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return { refused: 'not an absolute URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { refused: `${url.protocol} (only http and https)` };
  }
  const hostPort = `${url.hostname}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`.toLowerCase();
  if (allowedHosts.includes('*') || allowedHosts.includes(hostPort)) {
    return { url };
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const family = isIP(host);
  const addresses = family ? [{ address: host, family }] : await lookup(host, { all: true });
  if (addresses.length === 0 || addresses.some((a) => isPrivateAddress(a.address))) {
    return { refused: `${url.hostname} resolves to a private address (${setting})` };
  }
  return { url, addresses };
}

/** Answers every lookup with the addresses already checked. */
export function pinnedLookup(addresses: LookupAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all) {
      (callback as (err: null, addresses: LookupAddress[]) => void)(null, addresses);
      return;
    }
    const chosen = addresses.find((a) => !options.family || a.family === options.family) ?? addresses[0];
    callback(null, chosen.address, chosen.family);
  };
}
