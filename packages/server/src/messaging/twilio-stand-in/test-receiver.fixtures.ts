import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedForm {
  path: string;
  signature: string | undefined;
  params: Record<string, string>;
}

/** A local HTTP server that records form POSTs (status callbacks, inbound webhooks) and answers `reply`. */
export class FormReceiver {
  readonly received: ReceivedForm[] = [];
  reply: { status: number; body: string; type?: string } = { status: 204, body: '' };

  private constructor(private readonly server: Server) {}

  static async start(): Promise<FormReceiver> {
    const server = createServer();
    const receiver = new FormReceiver(server);
    server.on('request', async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const signature = req.headers['x-twilio-signature'];
      receiver.received.push({
        path: req.url ?? '/',
        signature: typeof signature === 'string' ? signature : undefined,
        params: Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))),
      });
      res.writeHead(receiver.reply.status, { 'content-type': receiver.reply.type ?? 'text/xml' });
      res.end(receiver.reply.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  url(path = '/'): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
