// USSD screens: the latency of one screen (Africa's Talking callback → session in Redis → the
// clinic-ussd-menu bot in its warm process, including its own FHIR searches → the answer) with
// BENCH_USSD_SESSIONS (50) sessions at once. Each virtual phone walks the menu again and again
// without pausing (main menu, appointments, back, hours and contact, back, exit: 6 screens, 3 of
// them with FHIR searches by the bot), so the load is closed-loop: the worst case for a gateway
// whose users take seconds per screen. The server was started with USSD_SERVICE_CODE, so its
// channel names the bot, which this phase builds and deploys as `npm run deploy:bots` does.
//
// Environment: BENCH_USSD=0 skips it; BENCH_USSD_SESSIONS (50), BENCH_USSD_SECONDS (20) after
// BENCH_USSD_WARMUP_SECONDS (3).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
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
  const url = `${origin}/messaging/ussd/africastalking?key=${encodeURIComponent(key)}`;
  let sessionCounter = 0;
  const screen = async (sessionId, phoneNumber, text) => {
    const started = performance.now();
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ sessionId, serviceCode: USSD_SERVICE_CODE, phoneNumber, networkCode: '63902', text }),
      signal: AbortSignal.timeout(30_000),
    });
    const body = await res.text();
    const ms = performance.now() - started;
    const ok = res.status === 200 && /^(CON|END) /.test(body) && !body.startsWith('END Sorry');
    return { ms, ok, error: ok ? undefined : `${res.status} ${body.slice(0, 80)}` };
  };
  const walkUntil = async (phone, until, sink) => {
    while (performance.now() < until) {
      const sessionId = `ATUid_bench_${runTag}_${sessionCounter++}`;
      let text = '';
      for (const input of ['', ...WALK]) {
        text = input === '' ? '' : text === '' ? input : `${text}*${input}`;
        const result = await screen(sessionId, phone, text);
        sink?.(result);
      }
    }
  };
  say(`USSD: ${WARMUP} s warm-up + ${SECONDS} s, ${SESSIONS} sessions at once, no pause between screens`);
  await Promise.all(phones.map((phone) => walkUntil(phone, performance.now() + WARMUP * 1000)));
  const latencies = [];
  const errors = [];
  const cpu = startCpu(serverPid);
  const started = performance.now();
  const until = started + SECONDS * 1000;
  await Promise.all(
    phones.map((phone) =>
      walkUntil(phone, until, (r) => {
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
    screens: latencies.length,
    rate: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: Math.max(...latencies),
    errors: errors.length,
    firstError: errors[0],
    cpu: cpu(),
  };
  say(
    `  ${Math.round(result.rate)} screens/s, p50 ${result.p50.toFixed(0)} ms, p99 ${result.p99.toFixed(0)} ms, max ${result.max.toFixed(0)} ms, errors ${result.errors}; CPU ${formatCpu(result.cpu)}`
  );
  return result;
}

/** The section of docs/benchmarks.md. */
export function ussdMarkdown(r) {
  if (!r) {
    return '';
  }
  const ms = (x) => `${x.toFixed(0)} ms`;
  return [
    `USSD screens (\`POST /messaging/ussd/africastalking\`, the clinic-ussd-menu bot in its warm process, ${r.sessions} sessions at once walking the menu without pauses; half the screens run FHIR searches in the bot; budget p99 ≤ 300 ms):`,
    '',
    '| Sessions at once | Screens | Screens/s | p50 | p99 | max | Errors | CPU (cores: server, PostgreSQL, other incl. the bot process) |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    `| ${r.sessions} | ${r.screens} | ${Math.round(r.rate)} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.max)} | ${r.errors}${r.firstError ? ` (${r.firstError})` : ''} | ${r.cpu ? `${r.cpu.server.toFixed(2)}, ${r.cpu.postgres.toFixed(2)}, ${r.cpu.other.toFixed(2)}` : 'n/a'} |`,
    '',
  ].join('\n');
}
