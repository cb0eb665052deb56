import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../test/test-server.js';
import { outboxWrites } from './outbox-signal.js';
import { createSubscription, TestReceiver } from './receiver.fixtures.js';

let server: TestServer;
let receiver: TestReceiver;

beforeAll(async () => {
  // The default poll (200 ms): a local write must not wait for it.
  server = await startTestServer();
  receiver = await TestReceiver.start();
});

afterAll(async () => {
  await receiver?.stop();
  await server?.close();
});

/**
 * Milliseconds from each write's outbox signal (right after its statement: committed, or for a
 * transaction about to commit) to its rest-hook arriving, one write at a time, sorted.
 */
async function deliveryLatencies(writes: number, request: (i: number) => InjectOptions): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < writes; i++) {
    let signalledAt = 0;
    const onWrite = () => {
      signalledAt ||= performance.now();
    };
    outboxWrites.on('write', onWrite);
    const received = new Promise<number>((resolve) => {
      receiver.onRequest = (r) => resolve(r.atPrecise);
    });
    try {
      const res = await server.request(request(i));
      expect(res.statusCode, res.body).toBeLessThan(300);
      latencies.push((await received) - signalledAt);
    } finally {
      outboxWrites.off('write', onWrite);
      receiver.onRequest = undefined;
    }
  }
  return latencies.sort((a, b) => a - b);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

const patient = (i: number) => ({ resourceType: 'Patient', name: [{ family: 'Latencyhook', given: [`n${i}`] }] });

test('a local write reaches its rest-hook within milliseconds, alone or in a transaction', {
  timeout: 120_000,
}, async () => {
  await createSubscription(server, 'Patient?family=Latencyhook', receiver.url());
  const create = (i: number): InjectOptions => ({ method: 'POST', url: '/fhir/R4/Patient', payload: patient(i) });
  const transaction = (i: number): InjectOptions => ({
    method: 'POST',
    url: '/fhir/R4',
    payload: {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ request: { method: 'POST', url: 'Patient' }, resource: patient(i) }],
    },
  });
  await deliveryLatencies(20, create); // warm-up: connections, prepared statements, JIT
  const creates = await deliveryLatencies(200, create);
  const transactions = await deliveryLatencies(50, transaction);
  for (const [what, latencies] of [
    ['200 creates', creates],
    ['50 transactions', transactions],
  ] as const) {
    console.log(
      `${what}, write -> rest-hook received: p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms`
    );
  }
  // Generous bounds for a shared machine: they catch a relay or worker that waits for a poll.
  expect(percentile(creates, 50)).toBeLessThan(50);
  expect(percentile(transactions, 50)).toBeLessThan(50);
  expect(receiver.received).toHaveLength(270);
});
