import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort } from '../test/free-port.js';
import { startTestServer, type TestServer } from '../test/test-server.js';

let t: TestServer;
let port: number;
const LIMIT = 1024 * 1024;

beforeAll(async () => {
  t = await startTestServer({ MAX_BODY_BYTES: String(LIMIT), MAX_URL_LENGTH: '4096' });
  port = await freePort();
  await t.app.listen({ port, host: '127.0.0.1' });
});
afterAll(async () => {
  await t?.close();
});

interface RawExchange {
  /** Everything the server sent, as text. */
  received: string;
  /** The socket error the client saw, if any (ECONNRESET, EPIPE). */
  error?: string;
}

/**
 * Sends raw bytes (and optionally a large body the client pushes before it reads anything, as
 * a client busy uploading does), then reads until the server closes or `waitMs` passes.
 */
function exchange(head: Buffer | string, options: { body?: number; chunked?: boolean; waitMs?: number } = {}) {
  return new Promise<RawExchange>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const result: RawExchange = { received: '' };
    socket.pause();
    socket.on('data', (d) => {
      result.received += d.toString('latin1');
    });
    socket.on('error', (e) => {
      result.error = (e as NodeJS.ErrnoException).code;
    });
    socket.on('close', () => resolve(result));
    setTimeout(() => socket.destroy(), options.waitMs ?? 5000);
    socket.write(head);
    const total = options.body ?? 0;
    const data = Buffer.alloc(64 * 1024, 'x');
    const chunk = options.chunked
      ? Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')])
      : data;
    let sent = 0;
    const push = () => {
      if (socket.destroyed) {
        return;
      }
      if (sent >= total) {
        socket.resume(); // only now does this client read what the server said
        return;
      }
      socket.write(chunk, () => {
        sent += data.length;
        setImmediate(push);
      });
    };
    push();
  });
}

function statusOf(received: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1]);
}

function outcomeOf(received: string): { resourceType: string; issue: { details?: { text?: string } }[] } {
  return JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4).split('HTTP/1.1')[0]);
}

const auth = () => `Authorization: Bearer ${t.token}\r\n`;

describe('errors before routing are OperationOutcomes and close cleanly', () => {
  test('headers too large: 431, Connection: close', async () => {
    const { received, error } = await exchange(
      `GET /fhir/R4/Patient HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`
    );
    expect(statusOf(received)).toBe(431);
    expect(received).toMatch(/\r\nConnection: close\r\n/i);
    expect(outcomeOf(received).resourceType).toBe('OperationOutcome');
    expect(error).toBeUndefined();
  });

  test('raw non-UTF-8 bytes in the path and a broken request line: 400 OperationOutcome', async () => {
    const head = Buffer.concat([
      Buffer.from('GET /fhir/R4/Patient/'),
      Buffer.from([0xff, 0xfe, 0xc0]),
      Buffer.from(` HTTP/1.1\r\nHost: x\r\n${auth()}\r\n`),
    ]);
    for (const request of [head, 'GARBAGE\r\n\r\n']) {
      const { received, error } = await exchange(request);
      expect(statusOf(received)).toBe(400);
      expect(received).toMatch(/\r\nConnection: close\r\n/i);
      expect(outcomeOf(received).resourceType).toBe('OperationOutcome');
      expect(error).toBeUndefined();
    }
  });

  test('a URL over MAX_URL_LENGTH: 400 naming the limit', async () => {
    const { received } = await exchange(
      `GET /fhir/R4/Patient?name=${'a'.repeat(5000)} HTTP/1.1\r\nHost: x\r\n${auth()}Connection: close\r\n\r\n`
    );
    expect(statusOf(received)).toBe(400);
    expect(outcomeOf(received).issue[0].details?.text).toMatch(/MAX_URL_LENGTH/);
  });
});

describe('an oversized upload gets its 413 while the client is still sending', () => {
  const post = (framing: string) =>
    `POST /fhir/R4/Patient HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/fhir+json\r\n${framing}\r\n\r\n`;

  test('declared length: the body is read and dropped, the connection stays usable', async () => {
    const size = 3 * LIMIT;
    const { received, error } = await exchange(`${post(`Content-Length: ${size}`)}`, { body: size, waitMs: 1500 });
    expect(error).toBeUndefined();
    expect(statusOf(received)).toBe(413);
    expect(outcomeOf(received).resourceType).toBe('OperationOutcome');
  });

  test('chunked: Connection: close, then a lingering close instead of a reset', async () => {
    const { received, error } = await exchange(post('Transfer-Encoding: chunked'), { body: 20 * LIMIT, chunked: true });
    expect(error).toBeUndefined();
    expect(statusOf(received)).toBe(413);
    expect(received).toMatch(/\r\nconnection: close\r\n/i);
  });

  test('a keep-alive client can send its next request after the 413', async () => {
    const size = 2 * LIMIT;
    const next = `GET /fhir/R4/metadata HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;
    const { received } = await exchange(post(`Content-Length: ${size}`), { body: size, waitMs: 1500 });
    expect(statusOf(received)).toBe(413);
    // The same socket, again: write the next request after the dropped body.
    const again = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let text = '';
      socket.on('data', (d) => {
        text += d.toString('latin1');
      });
      socket.on('close', () => resolve(text));
      socket.on('error', () => undefined);
      socket.write(post(`Content-Length: ${size}`));
      socket.write(Buffer.alloc(size, 'x'), () => socket.write(next));
      setTimeout(() => socket.destroy(), 5000);
    });
    expect(again.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 413', 'HTTP/1.1 200']);
  });
});
