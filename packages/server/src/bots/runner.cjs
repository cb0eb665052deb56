'use strict';
/*
 * Runs one bot, in a process of its own started by execute.ts under Node's permission model
 * (no file reads beyond this file, sandbox.cjs and @medplum/core, no writes, no child processes,
 * no workers), with an empty environment and a heap cap. The run arrives over IPC (never in
 * argv, which other users of the machine can see); the outcome leaves over IPC; console output
 * goes to stdout/stderr, which the server keeps as the run's log.
 */
const { confineNetwork, confineProcess, loadHandler, runHandler } = require('./sandbox.cjs');

// If the server goes away, so does the run (a bot must not outlive the process that bounds it).
process.on('disconnect', () => process.exit(1));

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

async function execute(run) {
  confineNetwork(run.baseUrl, run.allowedHosts ?? []);
  confineProcess();
  const core = require(run.corePath);
  const handler = loadHandler(core, run.code, run.filename);
  return runHandler(core, handler, run);
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
