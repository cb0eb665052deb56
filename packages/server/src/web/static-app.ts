import { stat } from 'node:fs/promises';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export interface StaticAppOptions {
  /** The web app's build output (index.html and assets/). */
  distDir: string;
}

/**
 * Paths that belong to the API: an unknown one is an API 404 (an OperationOutcome), never the
 * app's index.html, even when a browser asks for HTML.
 */
const API_PREFIXES = ['/fhir/', '/auth/', '/oauth2/', '/admin/', '/.well-known/', '/scim/'];
const API_PATHS = new Set(['/fhir', '/healthcheck', '/metrics', '/jwks.json']);

/** Vite puts content-hashed bundles here: a changed file gets a new name, so they never go stale. */
const HASHED_ASSETS = '/assets/';
const ONE_YEAR_MS = 365 * 24 * 3600 * 1000;

/**
 * Serves the built web app at `/`. A GET that matches no API route gets the file of that name
 * when there is one, else `index.html` when the client accepts HTML (the app routes in the
 * browser: /Patient/123 is a page, not a file); anything else falls through to the API's 404.
 * Files are looked up on each request, so rebuilding the app needs no restart.
 */
export async function staticApp(app: FastifyInstance, options: StaticAppOptions): Promise<void> {
  const root = path.resolve(options.distDir);
  if (!(await stat(path.join(root, 'index.html')).catch(() => undefined))?.isFile()) {
    app.log.warn({ distDir: root }, 'No web app to serve: index.html is missing (build it: npm run build)');
    return;
  }
  // serve: false: no route of its own, only reply.sendFile; the route below decides what to send.
  // preCompressed: the build writes .br/.gz beside each file; sent when the client accepts them.
  await app.register(fastifyStatic, { root, serve: false, dotfiles: 'deny', preCompressed: true });

  app.get('/*', async (request, reply) => {
    const pathname = decodePathname(request.url);
    if (pathname === undefined) {
      return reply.callNotFound();
    }
    const file = await findFile(root, pathname);
    if (file) {
      return sendAppFile(reply, file);
    }
    if (acceptsHtml(request) && !isApiPath(pathname)) {
      return sendAppFile(reply, 'index.html');
    }
    return reply.callNotFound();
  });
}

function sendAppFile(reply: FastifyReply, file: string): FastifyReply {
  if (`/${file}`.startsWith(HASHED_ASSETS)) {
    return reply.sendFile(file, { maxAge: ONE_YEAR_MS, immutable: true });
  }
  // index.html names the current bundles: browsers must revalidate it (ETag) on every load.
  reply.header('Cache-Control', 'no-cache');
  if (file === 'index.html') {
    reply.header('X-Frame-Options', 'DENY').header('X-Content-Type-Options', 'nosniff');
  }
  return reply.sendFile(file, { cacheControl: false });
}

/** The URL's decoded path, or undefined when it cannot name a file (bad escapes, NUL). */
function decodePathname(url: string): string | undefined {
  const raw = url.split('?')[0];
  try {
    const decoded = decodeURIComponent(raw);
    return decoded.includes('\0') ? undefined : decoded;
  } catch {
    return undefined;
  }
}

/** The path of a regular file under root (relative to it), or undefined. Never leaves root. */
async function findFile(root: string, pathname: string): Promise<string | undefined> {
  const relative = path.normalize(pathname).replace(/^[/\\]+/, '');
  if (relative === '' || relative.split(/[/\\]/).some((segment) => segment.startsWith('.'))) {
    return undefined;
  }
  const absolute = path.join(root, relative);
  if (!absolute.startsWith(root + path.sep)) {
    return undefined;
  }
  const stats = await stat(absolute).catch(() => undefined);
  return stats?.isFile() ? relative.split(path.sep).join('/') : undefined;
}

function acceptsHtml(request: FastifyRequest): boolean {
  return String(request.headers.accept ?? '').includes('text/html');
}

function isApiPath(pathname: string): boolean {
  return API_PATHS.has(pathname) || API_PREFIXES.some((prefix) => pathname.startsWith(prefix));
}
