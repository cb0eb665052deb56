import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';

export interface CorsOptions {
  /** Origins (scheme://host[:port]) allowed to call the API from a browser. */
  origins: readonly string[];
}

/** The API routes that a browser app on another origin calls. */
const CORS_PREFIXES = ['/fhir/', '/auth/', '/oauth2/', '/.well-known/', '/admin/'];

/** What MedplumClient sends beyond the CORS-safelisted headers. */
const ALLOWED_HEADERS = [
  'Authorization',
  'Content-Type',
  'Accept',
  'Prefer',
  'If-Match',
  'If-None-Exist',
  'Cache-Control',
  'X-Medplum',
  'X-Security-Context',
];
/** What it reads from responses: versions, created locations, async job status, throttling. */
const EXPOSED_HEADERS = [
  'ETag',
  'Last-Modified',
  'Location',
  'Content-Location',
  'Retry-After',
  'X-Progress',
  'X-Request-Id',
];

/**
 * CORS for the API, for the listed origins only (e.g. `vite dev` on another port). A page served
 * by this server is same-origin and needs none, so with no origins configured nothing is added.
 * Credentials are allowed because MedplumClient's token request uses `credentials: 'include'`.
 * Called on the root instance (not registered as a plugin) so that its hook covers every route.
 */
export async function registerApiCors(app: FastifyInstance, options: CorsOptions): Promise<void> {
  if (options.origins.length === 0) {
    return;
  }
  const allowed = {
    origin: [...options.origins],
    credentials: true,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: EXPOSED_HEADERS,
    maxAge: 600,
  };
  await app.register(cors, {
    delegator: (request, callback) => {
      const pathname = request.url.split('?')[0];
      callback(null, CORS_PREFIXES.some((prefix) => pathname.startsWith(prefix)) ? allowed : { origin: false });
    },
  });
}
