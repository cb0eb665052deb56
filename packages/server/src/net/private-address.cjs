'use strict';
/*
 * The one private-address check of the server: rest-hook delivery and client JWKS fetches refuse
 * such endpoints (outbound-target.ts), and the bot runner (a CommonJS child process under Node's
 * permission model) refuses such connections. CommonJS so that both can load it.
 */
const { BlockList, isIP } = require('node:net');

/**
 * Loopback, private (RFC 1918, ULA), link-local, unspecified, carrier-grade NAT, benchmarking,
 * multicast and reserved ranges. BlockList compares parsed addresses, so every spelling counts
 * (`0:0:0:0:0:0:0:1`), and it matches IPv4-mapped IPv6 addresses (`::ffff:7f00:1`) against the
 * IPv4 rules.
 */
const PRIVATE_ADDRESSES = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
]) {
  PRIVATE_ADDRESSES.addSubnet(network, prefix, 'ipv4');
}
// ::/96 holds :: and ::1 and the deprecated IPv4-compatible forms (::127.0.0.1).
for (const [network, prefix] of [
  ['::', 96],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
]) {
  PRIVATE_ADDRESSES.addSubnet(network, prefix, 'ipv6');
}

/** True for an address nothing user-controlled may reach; anything that is not an IP address included. */
function isPrivateAddress(address) {
  const family = isIP(address);
  try {
    return family === 0 || PRIVATE_ADDRESSES.check(address, family === 6 ? 'ipv6' : 'ipv4');
  } catch {
    return true; // one BlockList cannot parse: refuse rather than guess
  }
}

module.exports = { isPrivateAddress };
