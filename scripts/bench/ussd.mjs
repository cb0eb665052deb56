// USSD screens: the latency of one screen (Africa's Talking callback → session in Redis → the
// clinic-ussd-menu bot in its warm process, including its own FHIR searches → the answer) with
// BENCH_USSD_SESSIONS (50) sessions at once. Each virtual phone walks the menu again and again
// without pausing (main menu, appointments, back, hours and contact, back, exit: 6 screens, 3 of
// them with FHIR searches by the bot), so the load is closed-loop: the worst case for a gateway
// whose users take seconds per screen. The server was started with USSD_SERVICE_CODE, so its
// channel names the bot, which this phase builds and deploys as `npm run deploy:bots` does.
//
// It runs twice: without pauses, and with BENCH_USSD_PAUSE_MS (1000) between a phone's screens
// (people take seconds per screen; a second is still quicker than any of them).
//
// Environment: BENCH_USSD=0 skips it; BENCH_USSD_SESSIONS (50), BENCH_USSD_SECONDS (20) after
// BENCH_USSD_WARMUP_SECONDS (3), BENCH_USSD_PAUSE_MS (1000).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stop as stopEsbuild } from 'esbuild';
import { buildBots, listBots } from '../../bots/build.mjs';
import { deployBots, signIn } from '../../bots/deploy.mjs';
import { formatCpu, startCpu } from './cpu.mjs';
import { percentile } from './load.mjs';

const env = process.env;
const num = (name, fallback) => (env[name] ? Number(env[name]) : fallback);
export const USSD_ENABLED = env.BENCH_USSD !== '0';
export const USSD_SERVICE_CODE = '*384*7777#';
const SESSIONS = num('BENCH_USSD_SESSIONS', 50);
const SECONDS = num('BENCH_USSD_SECONDS', 20);
const WARMUP = num('BENCH_USSD_WARMUP_SECONDS', 3);
const PAUSE_MS = num('BENCH_USSD_PAUSE_MS', 1000);
/** One walk through the menu: the inputs after the first (empty) screen. */
const WALK = ['1', '0', '2', '0', '4'];

/** The server settings this phase needs: its USSD channel, keyed by `key`. */
export function ussdServerEnv(key) {
  return { USSD_SERVICE_CODE, USSD_CALLBACK_SECRET: key, USSD_BOT: 'clinic-ussd-menu' };
}

/** Deploys the menu bot and gives each phone a patient with an appointment; then measures. */
export async function ussdBench({ origin, clientId, clientSecret, key, serverPid, runTag, say }) {
  say(`USSD: deploying clinic-ussd-menu, ${SESSIONS} patients with appointments`);
  const medplum = await signIn({ baseUrl: `${origin}/`, clientId, clientSecret });
  const bots = listBots().filter((bot) => bot.name === 'clinic-ussd-menu');
  const distDir = mkdtempSync(path.join(tmpdir(), 'tiba-bench-bots-'));
  try {
    await buildBots({ bots, outDir: distDir });
    await deployBots(medplum, { bots, distDir });
  } finally {
    rmSync(distDir, { recursive: true, force: true });
    // esbuild's service process would keep this one alive after the run.
    await stopEsbuild();
  }
  await medplum.createResource({ resourceType: 'Organization', active: true, name: 'Bench clinic' });
  const phones = [];
  for (let i = 0; i < SESSIONS; i++) {
    const phone = `+2547${runTag.replace(/\D/g, '').padEnd(4, '0').slice(0, 4)}${String(i).padStart(4, '0')}`;
    const patient = await medplum.createResource({
      resourceType: 'Patient',
      telecom: [{ system: 'phone', use: 'mobile', value: phone }],
      communication: i % 2 ? [{ language: { coding: [{ code: 'sw' }] }, preferred: true }] : undefined,
    });
    await medplum.createResource({
      resourceType: 'Appointment',
      status: 'booked',
      start: `${new Date().getFullYear() + 1}-01-0${1 + (i % 9)}T09:00:00+03:00`,
      end: `${new Date().getFullYear() + 1}-01-0${1 + (i % 9)}T09:30:00+03:00`,
      participant: [{ actor: { reference: `Patient/${patient.id}` }, status: 'accepted' }],
    });
    phones.push(phone);
  }
  const callbackPath = `/messaging/ussd/africastalking?key=${encodeURIComponent(key)}`;
  // node:http with a keep-alive agent (one socket per phone), as a gateway keeps its connections.
  const agent = new http.Agent({ keepAlive: true, maxSockets: SESSIONS });
  let sessionCounter = 0;
  const screen = (sessionId, phoneNumber, text) =>
    new Promise((resolve) => {
      const started = performance.now();
      const body = new URLSearchParams({
        sessionId,
        serviceCode: USSD_SERVICE_CODE,
        phoneNumber,
        networkCode: '63902',
        text,
      }).toString();
      const done = (ok, error) => resolve({ ms: performance.now() - started, ok, error });
      const req = http.request(
        `${origin}${callbackPath}`,
        {
          method: 'POST',
          agent,
          timeout: 30_000,
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          const chunks = [];
          res.on('data', (chunk) => chunks.push(chunk));
          res.on('end', () => {
            const answer = Buffer.concat(chunks).toString('utf8');
            const ok = res.statusCode === 200 && /^(CON|END) /.test(answer) && !answer.startsWith('END Sorry');
            done(ok, ok ? undefined : `${res.statusCode} ${answer.slice(0, 80)}`);
          });
          res.on('error', (err) => done(false, err.message));
        }
      );
      // A failed connection is a failed screen, counted with its cause, not the end of the run.
      req.on('timeout', () => req.destroy(new Error('no answer in 30 s')));
      req.on('error', (err) => done(false, err.message));
      req.end(body);
    });
  const walkUntil = async (phone, until, pauseMs, sink) => {
    while (performance.now() < until) {
      const sessionId = `ATUid_bench_${runTag}_${sessionCounter++}`;
      let text = '';
      for (const input of ['', ...WALK]) {
        text = input === '' ? '' : text === '' ? input : `${text}*${input}`;
        const result = await screen(sessionId, phone, text);
        sink?.(result);
        if (pauseMs > 0) {
          await new Promise((resolve) => setTimeout(resolve, pauseMs));
        }
      }
    }
  };
  const measure = async (pauseMs) => {
    say(`USSD: ${WARMUP} s warm-up + ${SECONDS} s, ${SESSIONS} sessions at once, ${pauseMs} ms between screens`);
    await Promise.all(phones.map((phone) => walkUntil(phone, performance.now() + WARMUP * 1000, pauseMs)));
    const latencies = [];
    const errors = [];
    const cpu = startCpu(serverPid);
    const botCpu = startChildCpu(serverPid);
    const started = performance.now();
    const until = started + SECONDS * 1000;
    await Promise.all(
      phones.map((phone) =>
        walkUntil(phone, until, pauseMs, (r) => {
          latencies.push(r.ms);
          if (!r.ok) {
            errors.push(r.error);
          }
        })
      )
    );
    const seconds = (performance.now() - started) / 1000;
    const result = {
      sessions: SESSIONS,
      pauseMs,
      screens: latencies.length,
      rate: latencies.length / seconds,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: Math.max(...latencies),
      errors: errors.length,
      firstError: errors[0],
      cpu: cpu(),
      botCores: botCpu(),
    };
    say(
      `  ${Math.round(result.rate)} screens/s, p50 ${result.p50.toFixed(0)} ms, p99 ${result.p99.toFixed(0)} ms, max ${result.max.toFixed(0)} ms, errors ${result.errors}; CPU ${formatCpu(result.cpu)}, of which bot processes ${result.botCores.toFixed(2)}`
    );
    return result;
  };
  const runs = [await measure(0)];
  if (PAUSE_MS > 0) {
    runs.push(await measure(PAUSE_MS));
  }
  agent.destroy();
  return {
    runs,
    errors: runs.reduce((n, r) => n + r.errors, 0),
    firstError: runs.find((r) => r.firstError)?.firstError,
  };
}

/** CPU (cores) used by the server's child processes (the warm bot processes) while measuring. */
function startChildCpu(serverPid) {
  const ticks = () => {
    try {
      const children = readFileSync(`/proc/${serverPid}/task/${serverPid}/children`, 'utf8').trim().split(/\s+/);
      let sum = 0;
      for (const pid of children.filter(Boolean)) {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        sum += Number(fields[11]) + Number(fields[12]); // utime + stime
      }
      return sum;
    } catch {
      return 0;
    }
  };
  const before = ticks();
  const started = performance.now();
  // Clock ticks are 100 per second on Linux.
  return () => (ticks() - before) / 100 / ((performance.now() - started) / 1000);
}

/** The section of docs/benchmarks.md. */
export function ussdMarkdown(ussd) {
  if (!ussd) {
    return '';
  }
  const ms = (x) => `${x.toFixed(0)} ms`;
  const row = (r) =>
    `| ${r.sessions} | ${r.pauseMs} ms | ${r.screens} | ${Math.round(r.rate)} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.max)} | ${r.errors}${r.firstError ? ` (${r.firstError})` : ''} | ${r.cpu ? `${r.cpu.server.toFixed(2)}, ${r.botCores.toFixed(2)}, ${r.cpu.postgres.toFixed(2)}, ${Math.max(0, r.cpu.other - r.botCores).toFixed(2)}` : 'n/a'} |`;
  return [
    'USSD screens (`POST /messaging/ussd/africastalking`, the clinic-ussd-menu bot in its warm process, each phone walking the menu again and again; half the screens run FHIR searches in the bot; budget p99 ≤ 300 ms at 50 sessions):',
    '',
    '| Sessions at once | Pause between screens | Screens | Screens/s | p50 | p99 | max | Errors | CPU, cores: server, bot process, PostgreSQL, other work |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...ussd.runs.map(row),
    '',
  ].join('\n');
}
