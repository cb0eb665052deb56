import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** How long a closing connection keeps reading what the client still sends, at most and between reads. */
const LINGER_TOTAL_MS = 10_000;
const LINGER_IDLE_MS = 2_000;

const lingering = new WeakSet<Socket>();

/**
 * Closes a connection the way nginx's lingering close does: after the answer, only our side is
 * shut (FIN), and whatever the client is still sending is read and dropped until it stops, for
 * a bounded time. Closing with unread bytes would make the kernel reset the connection, and a
 * client still uploading (a 20 MB body refused with 413) would lose the answer it has not read.
 * Node ends a `Connection: close` response with socket.destroySoon(), which this replaces.
 */
export function lingerBeforeClose(socket: Socket): void {
  if (lingering.has(socket) || socket.destroyed) {
    return;
  }
  lingering.add(socket);
  socket.destroySoon = function lingeringDestroySoon(this: Socket) {
    this.end();
    drainThenDestroy(this);
  };
}

/**
 * An answer sent before the request body was read (413, 401, 415 ...) must not reset a client
 * that is still uploading. A body of declared length up to `drainBytes` × 4 is read and dropped
 * by Node on a connection kept open (Fastify's `Connection: close` is taken back); any other
 * body gets `Connection: close` and a lingering close.
 */
export function answeredBeforeBody(request: FastifyRequest, reply: FastifyReply, drainBytes: number): void {
  const declared = Number(request.headers['content-length']);
  if (Number.isSafeInteger(declared) && declared <= drainBytes * 4) {
    reply.removeHeader('connection');
    return;
  }
  reply.header('Connection', 'close');
  lingerBeforeClose(request.raw.socket);
}

/** Writes a raw HTTP answer, then closes the connection with a lingering close. */
export function answerAndClose(socket: Socket, response: string): void {
  if (socket.writable) {
    socket.end(response);
  }
  drainThenDestroy(socket);
}

function drainThenDestroy(socket: Socket): void {
  if (socket.destroyed) {
    return;
  }
  const destroy = () => socket.destroy();
  const total = setTimeout(destroy, LINGER_TOTAL_MS);
  total.unref();
  socket.setTimeout(LINGER_IDLE_MS, destroy);
  socket.once('end', destroy);
  socket.once('close', () => clearTimeout(total));
  socket.on('data', () => undefined);
  socket.resume();
}
