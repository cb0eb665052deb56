'use strict';
/*
 * A bot's warm process (warm-process.ts): the same confinement as runner.cjs (permission model,
 * empty environment, heap cap, network and signal guards), but it stays up and runs its one
 * bot's runs as they come, several at once. The code and the process's token arrive once
 * (`init`); each `run` carries its event and gets back its value and its own console output.
 * It belongs to one bot: a different bot, or new code, gets another process.
 */
const { AsyncLocalStorage } = require('node:async_hooks');
const { format } = require('node:util');
const { confineNetwork, confineProcess, loadHandler, runHandler } = require('./sandbox.cjs');

/** Console output kept per run (its tail), as the server keeps for one-run processes. */
const MAX_LOG_CHARS = 10 * 1024;

process.on('disconnect', () => process.exit(1));

/** Each run's console output, found through the async context the run started in. */
const currentLog = new AsyncLocalStorage();

function captureConsole() {
  for (const level of ['log', 'info', 'warn', 'error', 'debug', 'trace']) {
    const original = console[level].bind(console);
    console[level] = (...args) => {
      const log = currentLog.getStore();
      if (!log) {
        return original(...args);
      }
      log.text += `${format(...args)}\n`;
      if (log.text.length > 2 * MAX_LOG_CHARS) {
        log.text = log.text.slice(-MAX_LOG_CHARS);
        log.truncated = true;
      }
    };
  }
}

function logTail(log) {
  return log.truncated || log.text.length > MAX_LOG_CHARS ? `[…]${log.text.slice(-MAX_LOG_CHARS)}` : log.text;
}

let state;

process.on('message', (message) => {
  if (message.type === 'init') {
    try {
      confineNetwork(message.baseUrl, message.allowedHosts ?? []);
      confineProcess();
      captureConsole();
      const core = require(message.corePath);
      const handler = loadHandler(core, message.code, message.filename);
      state = { core, handler, baseUrl: message.baseUrl, accessToken: message.accessToken };
      process.send({ type: 'ready' });
    } catch (err) {
      process.send({ type: 'init-error', message: err instanceof Error ? err.message : String(err) }, () =>
        process.exit(1)
      );
    }
    return;
  }
  if (message.type === 'run' && state) {
    const log = { text: '', truncated: false };
    currentLog.run(log, () => {
      runHandler(state.core, state.handler, { ...state, event: message.event }).then(
        (value) => finish({ type: 'result', id: message.id, value, undefined: value === undefined }, log),
        (err) => {
          const text = err instanceof Error ? err.message : typeof err === 'string' ? err : JSON.stringify(err);
          console.error(`Unhandled error: ${err instanceof Error ? err.stack : text}`);
          finish({ type: 'error', id: message.id, message: String(text ?? 'Bot failed') }, log);
        }
      );
    });
  }
});

function finish(message, log) {
  let sent = { ...message, logs: logTail(log) };
  try {
    // What cannot cross as JSON (a function, a cycle) is an error of the bot, not a crash.
    JSON.stringify(sent);
  } catch (err) {
    sent = {
      type: 'error',
      id: message.id,
      message: `Bot result is not serializable: ${err.message}`,
      logs: sent.logs,
    };
  }
  process.send(sent);
}
