'use strict';
/*
 * Runs one bot, in a process of its own started by execute.ts under Node's permission model
 * (no file reads beyond this file and @medplum/core, no writes, no child processes, no workers),
 * with an empty environment and a heap cap. The run arrives over IPC (never in argv, which other
 * users of the machine can see); the outcome leaves over IPC; console output goes to
 * stdout/stderr, which the server keeps as the run's log.
 */
const { builtinModules } = require('node:module');
const vm = require('node:vm');

const BUILTINS = new Set(builtinModules);

process.once('message', (run) => {
  execute(run).then(
    (value) => finish({ type: 'result', value, undefined: value === undefined }),
    (err) => {
      const message = err instanceof Error ? err.message : typeof err === 'string' ? err : JSON.stringify(err);
      console.error(`Unhandled error: ${err instanceof Error ? err.stack : message}`);
      finish({ type: 'error', message: String(message ?? 'Bot failed') });
    }
  );
});

/**
 * Node 24's permission model does not cover the network, so a bot could otherwise reach the
 * database or Redis on the server's machine. Every TCP connection goes through
 * net.Socket.prototype.connect (fetch, http, tls included); the bot may connect to the server's own
 * origin only. process.binding is refused under the permission model, so the original cannot be
 * reached around this wrapper; UDP and Unix sockets are refused outright.
 */
function confineNetwork(baseUrl) {
  const net = require('node:net');
  const dgram = require('node:dgram');
  const origin = new URL(baseUrl);
  const port = Number(origin.port || (origin.protocol === 'https:' ? 443 : 80));
  const host = origin.hostname.replace(/^\[|\]$/g, '');
  const hosts = new Set([host, ...(host === 'localhost' ? ['127.0.0.1', '::1'] : [])]);
  const denied = (what) =>
    Object.assign(new Error(`Bots may only connect to ${origin.origin}, not ${what}`), { code: 'ERR_ACCESS_DENIED' });
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function guardedConnect(...args) {
    // net.connect passes its normalized [options, callback] array; direct calls pass options or (port, host).
    const first = Array.isArray(args[0]) ? args[0][0] : args[0];
    const options = typeof first === 'object' && first !== null ? first : { port: first, host: args[1] };
    if (options.path !== undefined) {
      throw denied(`the socket ${options.path}`);
    }
    const target = String(options.host ?? 'localhost');
    if (Number(options.port) !== port || !hosts.has(target)) {
      throw denied(`${target}:${options.port}`);
    }
    return connect.apply(this, args);
  };
  dgram.createSocket = () => {
    throw denied('UDP');
  };
}

async function execute(run) {
  confineNetwork(run.baseUrl);
  const core = require(run.corePath);
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
  const compiled = vm.compileFunction(run.code, ['exports', 'require', 'module', '__filename', '__dirname'], {
    filename: run.filename,
  });
  compiled(module.exports, botRequire, module, run.filename, '/');
  const handler = module.exports.handler ?? module.exports.default?.handler;
  if (typeof handler !== 'function') {
    throw new Error('Bot code does not export a handler function (exports.handler = async (medplum, event) => ...)');
  }
  const medplum = new core.MedplumClient({
    baseUrl: run.baseUrl,
    fetch: (url, options = {}) =>
      fetch(url, { ...options, headers: { ...options.headers, 'X-Trace-Id': run.event.traceId } }),
  });
  medplum.setAccessToken(run.accessToken);
  let input = run.event.input;
  if (run.event.contentType === core.ContentType.HL7_V2 && typeof input === 'string') {
    input = core.Hl7Message.parse(input);
  }
  let result = await handler(medplum, { ...run.event, input });
  if (result instanceof core.Hl7Message) {
    result = result.toString();
  }
  return result;
}

function finish(message) {
  let sent = message;
  try {
    // What cannot cross as JSON (a function, a cycle) is an error of the bot, not a crash.
    JSON.stringify(message);
  } catch (err) {
    sent = { type: 'error', message: `Bot result is not serializable: ${err.message}` };
  }
  process.send(sent, () => process.exit(0));
}
