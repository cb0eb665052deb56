'use strict';
/*
 * What every bot process runs before a bot's code: the network and signal guards, and loading a
 * bot's CommonJS code with a require that offers @medplum/core and Node's built-ins only. Shared
 * by runner.cjs (one run per process) and warm-runner.cjs (a bot's runs, one after another or at
 * once, in a process kept warm); readable under their --allow-fs-read.
 */
const { builtinModules } = require('node:module');
const vm = require('node:vm');
// Beside this file's folder in src/ and in dist/ (the build copies it); readable under --allow-fs-read.
const { isPrivateAddress } = require('../net/private-address.cjs');

const BUILTINS = new Set(builtinModules);

/**
 * Node 24's permission model does not cover the network, so a bot could otherwise reach the
 * database, Redis or other services on the server's network. Every TCP connection goes through
 * net.Socket.prototype.connect (fetch, http, tls included), so that is where connections are
 * checked: the server's own origin and the `allowedHosts` (host:port) are allowed; anything else
 * must resolve only to public addresses (SMS gateways and other internet APIs stay reachable).
 * process.binding is refused under the permission model, so the original cannot be reached around
 * this wrapper; UDP and Unix sockets are refused outright.
 */
function confineNetwork(baseUrl, allowedHosts) {
  const net = require('node:net');
  const dns = require('node:dns');
  const dgram = require('node:dgram');
  const origin = new URL(baseUrl);
  const originPort = Number(origin.port || (origin.protocol === 'https:' ? 443 : 80));
  const originHost = origin.hostname.replace(/^\[|\]$/g, '');
  const allowed = new Set(allowedHosts);
  for (const host of originHost === 'localhost' ? ['localhost', '127.0.0.1', '::1'] : [originHost]) {
    allowed.add(`${host}:${originPort}`);
  }
  const denied = (what) =>
    Object.assign(new Error(`Bots may not connect to ${what} (a private address; see BOT_ALLOWED_HOSTS)`), {
      code: 'ERR_ACCESS_DENIED',
    });
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function guardedConnect(...args) {
    // net.connect passes its normalized [options, callback] array; direct calls pass options or (port, host).
    const normalized = Array.isArray(args[0]);
    const first = normalized ? args[0][0] : args[0];
    const options = typeof first === 'object' && first !== null ? first : { port: first, host: args[1] };
    // The http Agent passes `path: null` for TCP connections.
    if (options.path != null) {
      throw denied(`the socket ${options.path}`);
    }
    const host = String(options.host ?? 'localhost')
      .replace(/^\[|\]$/g, '')
      .toLowerCase();
    if (allowed.has(`${host}:${Number(options.port)}`)) {
      return connect.apply(this, args);
    }
    if (net.isIP(host)) {
      if (isPrivateAddress(host)) {
        throw denied(`${host}:${options.port}`);
      }
      return connect.apply(this, args);
    }
    // A name: check every address it resolves to, at connection time (no rebinding window).
    const lookup = options.lookup ?? dns.lookup;
    const checkedLookup = (hostname, lookupOptions, callback) => {
      lookup(hostname, lookupOptions, (err, address, family) => {
        if (err) {
          return callback(err, address, family);
        }
        const addresses = Array.isArray(address) ? address.map((a) => a.address) : [address];
        const blocked = addresses.find(isPrivateAddress);
        return blocked ? callback(denied(`${hostname} (${blocked})`)) : callback(null, address, family);
      });
    };
    const guarded = { ...options, lookup: checkedLookup };
    if (normalized) {
      const copy = [guarded, ...args[0].slice(1)];
      for (const symbol of Object.getOwnPropertySymbols(args[0])) {
        copy[symbol] = args[0][symbol];
      }
      return connect.call(this, copy, ...args.slice(1));
    }
    return typeof first === 'object'
      ? connect.call(this, guarded, ...args.slice(1))
      : connect.call(this, guarded, args[2]);
  };
  dgram.createSocket = () => {
    throw denied('UDP');
  };
}

/**
 * Node's permission model does not cover signals: process.kill (and the raw process._kill under
 * it) reach any process of the server's user, and process._debugProcess opens another process's
 * inspector. A bot may signal its own process only; the guards cannot be replaced or removed.
 */
function confineProcess() {
  const denied = (what) =>
    Object.assign(new Error(`Bots may not ${what}`), {
      code: 'ERR_ACCESS_DENIED',
    });
  const rawKill = process._kill;
  const kill = process.kill;
  const ownPid = process.pid;
  // The pid is converted once, so an object whose valueOf changes between check and use cannot slip by.
  const checkedPid = (pid) => {
    const n = typeof pid === 'number' ? pid : Number(pid);
    if (n !== ownPid) {
      throw denied('signal other processes');
    }
    return n;
  };
  const guards = {
    kill: function kill_(pid, signal) {
      return kill.call(process, checkedPid(pid), signal);
    },
    _kill: function _kill(pid, signal) {
      return rawKill.call(process, checkedPid(pid), signal);
    },
    _debugProcess: function _debugProcess() {
      throw denied('open the inspector of a process');
    },
  };
  for (const [name, value] of Object.entries(guards)) {
    Object.defineProperty(process, name, { value, writable: false, configurable: false, enumerable: true });
  }
  // os.setPriority can renice other processes of the user too.
  const os = require('node:os');
  const setPriority = os.setPriority;
  Object.defineProperty(os, 'setPriority', {
    value: function setPriority_(pid, priority) {
      if (priority === undefined) {
        return setPriority(pid);
      }
      return setPriority(Number(pid) === 0 ? 0 : checkedPid(pid), priority);
    },
    writable: false,
    configurable: false,
    enumerable: true,
  });
}

/** Compiles a bot's code and returns its handler; throws when it exports none. */
function loadHandler(core, code, filename) {
  // Bots may require Node's built-in modules (which the permission model still confines) and
  // @medplum/core, as in Medplum's runtime; nothing else exists for them.
  const botRequire = (name) => {
    if (name === '@medplum/core') {
      return core;
    }
    if (BUILTINS.has(name) || name.startsWith('node:')) {
      return require(name);
    }
    throw new Error(`Cannot find module '${name}': bots can require @medplum/core and Node built-ins only`);
  };
  const module = { exports: {} };
  const compiled = vm.compileFunction(code, ['exports', 'require', 'module', '__filename', '__dirname'], {
    filename,
  });
  compiled(module.exports, botRequire, module, filename, '/');
  const handler = module.exports.handler ?? module.exports.default?.handler;
  if (typeof handler !== 'function') {
    throw new Error('Bot code does not export a handler function (exports.handler = async (medplum, event) => ...)');
  }
  return handler;
}

/** One run of a handler: Medplum's HL7 conversions of input and result, a client with the run's trace id. */
async function runHandler(core, handler, { baseUrl, accessToken, event }) {
  const medplum = new core.MedplumClient({
    baseUrl,
    fetch: (url, options = {}) =>
      fetch(url, { ...options, headers: { ...options.headers, 'X-Trace-Id': event.traceId } }),
  });
  medplum.setAccessToken(accessToken);
  let input = event.input;
  if (event.contentType === core.ContentType.HL7_V2 && typeof input === 'string') {
    input = core.Hl7Message.parse(input);
  }
  let result = await handler(medplum, { ...event, input });
  if (result instanceof core.Hl7Message) {
    result = result.toString();
  }
  return result;
}

module.exports = { confineNetwork, confineProcess, loadHandler, runHandler };
