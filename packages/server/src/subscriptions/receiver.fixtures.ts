import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Subscription } from '@medplum/fhirtypes';
import { expect } from 'vitest';
import type { TestServer } from '../test/test-server.js';

/** One request a receiver got. */
export interface ReceivedRequest {
  at: number;
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** The raw body, as signed. */
  body: string;
  /** performance.now() when the body was in (for latency figures within this process). */
  atPrecise: number;
}

/**
 * A real HTTP server standing in for a rest-hook endpoint: records what it receives and answers
 * with `respond` (a status, or 'hang' to never answer).
 */
export class TestReceiver {
  readonly received: ReceivedRequest[] = [];
  respond: (request: ReceivedRequest) => number | 'hang' = () => 200;
  /** Called with each request as it arrives. */
  onRequest: ((request: ReceivedRequest) => void) | undefined;
  private server: http.Server | undefined;
  private hanging = new Set<http.ServerResponse>();
  port = 0;

  static async start(port = 0): Promise<TestReceiver> {
    const receiver = new TestReceiver();
    await receiver.listen(port);
    return receiver;
  }

  url(path = '/hook'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  async listen(port = this.port): Promise<void> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const request = {
          at: Date.now(),
          atPrecise: performance.now(),
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        };
        this.received.push(request);
        this.onRequest?.(request);
        const answer = this.respond(request);
        if (answer === 'hang') {
          this.hanging.add(res);
          return;
        }
        res.writeHead(answer).end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Stops listening (the port refuses connections until `listen()` again). */
  async stop(): Promise<void> {
    for (const res of this.hanging) {
      res.destroy();
    }
    this.hanging.clear();
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  /** The requests for one Subscription. */
  for(subscriptionId: string): ReceivedRequest[] {
    return this.received.filter((r) => r.headers['x-medplum-subscription'] === subscriptionId);
  }

  async waitFor(predicate: () => boolean, timeoutMs = 10_000, what = 'deliveries'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) {
        throw new Error(`Timed out waiting for ${what}; received ${this.received.length} request(s)`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** Creates an active rest-hook Subscription through the API (as the test server's admin client). */
export async function createSubscription(
  server: TestServer,
  criteria: string,
  endpoint: string,
  extra: Partial<Subscription> = {}
): Promise<Subscription & { id: string }> {
  const res = await server.request({
    method: 'POST',
    url: '/fhir/R4/Subscription',
    payload: {
      resourceType: 'Subscription',
      status: 'active',
      reason: 'test',
      criteria,
      channel: { type: 'rest-hook', endpoint },
      ...extra,
    },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as Subscription & { id: string };
}
