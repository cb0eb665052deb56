import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { brotliCompressSync, brotliDecompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../test/test-server.js';

const INDEX_HTML =
  '<!doctype html><html><body><div id="root"></div><script src="/assets/index-abc123.js"></script></body></html>';
const BUNDLE = 'console.log("tiba app");';
const APP_ORIGIN = 'http://localhost:3000';
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

/** A web app build as Vite lays it out, in a temporary folder (the real build may be absent). */
async function makeDist(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tiba-app-dist-'));
  await mkdir(path.join(dir, 'assets'));
  await writeFile(path.join(dir, 'index.html'), INDEX_HTML);
  await writeFile(path.join(dir, 'assets', 'index-abc123.js'), BUNDLE);
  await writeFile(path.join(dir, 'assets', 'index-abc123.js.br'), brotliCompressSync(BUNDLE));
  await writeFile(path.join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  await writeFile(path.join(dir, '.env'), 'SECRET=1');
  return dir;
}

describe('web app serving', () => {
  let server: TestServer;
  let distDir: string;

  beforeAll(async () => {
    distDir = await makeDist();
    server = await startTestServer({ APP_DIST_DIR: distDir, CORS_ORIGINS: `${APP_ORIGIN}, http://127.0.0.1:3000/` });
  });

  afterAll(async () => {
    await server?.close();
    await rm(distDir, { recursive: true, force: true });
  });

  const get = (url: string, accept = BROWSER_ACCEPT, headers: Record<string, string> = {}) =>
    server.app.inject({ method: 'GET', url, headers: { accept, ...headers } });

  test('serves index.html at / without caching it', async () => {
    const res = await get('/');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.body).toBe(INDEX_HTML);
  });

  test('revalidates index.html with its ETag', async () => {
    const first = await get('/');
    const etag = String(first.headers.etag);
    expect(etag).toBeTruthy();
    const again = await get('/', BROWSER_ACCEPT, { 'if-none-match': etag });
    expect(again.statusCode).toBe(304);
  });

  test('serves hashed assets with a long-lived immutable cache', async () => {
    const res = await get('/assets/index-abc123.js', '*/*');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/javascript/);
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(res.body).toBe(BUNDLE);
  });

  test('sends the precompressed file to clients that accept it', async () => {
    const res = await server.app.inject({
      method: 'GET',
      url: '/assets/index-abc123.js',
      headers: { accept: '*/*', 'accept-encoding': 'gzip, deflate, br' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-encoding']).toBe('br');
    expect(res.headers.vary).toMatch(/accept-encoding/i);
    expect(res.headers['content-type']).toMatch(/javascript/);
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(brotliDecompressSync(res.rawPayload).toString()).toBe(BUNDLE);
    // index.html has no .br: the plain file, whatever the client accepts.
    const index = await get('/Patient/1', BROWSER_ACCEPT, { 'accept-encoding': 'gzip, br' });
    expect(index.headers['content-encoding']).toBeUndefined();
    expect(index.body).toBe(INDEX_HTML);
  });

  test('serves other files of the build, revalidated on each load', async () => {
    const res = await get('/favicon.svg', 'image/*');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^image\/svg\+xml/);
    expect(res.headers['cache-control']).toBe('no-cache');
  });

  test('answers HEAD like GET, without a body', async () => {
    const res = await server.app.inject({ method: 'HEAD', url: '/assets/index-abc123.js' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('');
  });

  test('an app page (a path that is no file) gets index.html when the client accepts HTML', async () => {
    for (const url of ['/Patient', '/Patient/123?tab=edit', '/signin']) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.body).toBe(INDEX_HTML);
    }
  });

  test('a missing file asked for without HTML is an OperationOutcome 404', async () => {
    for (const url of ['/Patient/123', '/assets/missing.js']) {
      const res = await get(url, 'application/fhir+json');
      expect(res.statusCode, url).toBe(404);
      expect(res.json()).toMatchObject({ resourceType: 'OperationOutcome' });
    }
  });

  test('unknown API paths stay OperationOutcome 404s even for a browser', async () => {
    for (const url of ['/auth/nothing-here', '/oauth2/nothing-here', '/.well-known/nothing-here']) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
      expect(res.json()).toMatchObject({ resourceType: 'OperationOutcome' });
    }
  });

  test('API routes win over the app', async () => {
    const fhir = await get('/fhir/R4/Patient');
    expect(fhir.statusCode).toBe(401);
    expect(fhir.json()).toMatchObject({ resourceType: 'OperationOutcome' });
    const metadata = await get('/fhir/R4/metadata');
    expect(metadata.json()).toMatchObject({ resourceType: 'CapabilityStatement' });
    const health = await get('/healthcheck');
    expect(health.json()).toMatchObject({ ok: true });
  });

  test('other methods on app paths are 404 OperationOutcomes', async () => {
    const res = await server.app.inject({ method: 'POST', url: '/Patient', headers: { accept: BROWSER_ACCEPT } });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ resourceType: 'OperationOutcome' });
  });

  test('never serves dotfiles or anything outside the build', async () => {
    for (const url of ['/.env', '/assets/..%2f.env', '/..%2f..%2fpackage.json', '/%2e%2e/%2e%2e/etc/passwd']) {
      const res = await get(url, '*/*');
      expect(res.statusCode, url).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, url).toBeLessThan(500);
      expect(res.body, url).not.toContain('SECRET');
    }
    const asBrowser = await get('/.env');
    expect(asBrowser.body).toBe(INDEX_HTML);
  });

  test('a bad escape in the path is a 4xx, not a crash', async () => {
    const res = await get('/%E0%A4%A', '*/*');
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(res.statusCode).toBeLessThan(500);
  });

  describe('CORS', () => {
    const preflight = (url: string, origin: string) =>
      server.app.inject({
        method: 'OPTIONS',
        url,
        headers: {
          origin,
          'access-control-request-method': 'PUT',
          'access-control-request-headers': 'authorization,content-type,if-match,x-medplum',
        },
      });

    test('preflight from an allowed origin lists what MedplumClient sends', async () => {
      for (const url of ['/fhir/R4/Patient/123', '/auth/login', '/oauth2/token']) {
        const res = await preflight(url, APP_ORIGIN);
        expect(res.statusCode, url).toBe(204);
        expect(res.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
        expect(res.headers['access-control-allow-credentials']).toBe('true');
        const allowed = String(res.headers['access-control-allow-headers']).toLowerCase();
        for (const header of ['authorization', 'content-type', 'accept', 'prefer', 'if-match', 'x-medplum']) {
          expect(allowed).toContain(header);
        }
        expect(String(res.headers['access-control-allow-methods'])).toContain('PUT');
      }
    });

    test('a configured origin with a trailing slash is matched without it', async () => {
      const res = await preflight('/fhir/R4/Patient', 'http://127.0.0.1:3000');
      expect(res.headers['access-control-allow-origin']).toBe('http://127.0.0.1:3000');
    });

    test('an origin that is not configured gets no CORS grant', async () => {
      const res = await preflight('/fhir/R4/Patient', 'https://evil.example');
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
      const get = await server.app.inject({
        method: 'GET',
        url: '/fhir/R4/metadata',
        headers: { origin: 'https://evil.example' },
      });
      expect(get.headers['access-control-allow-origin']).toBeUndefined();
    });

    test('responses to an allowed origin expose the headers the client reads', async () => {
      const res = await server.app.inject({ method: 'GET', url: '/fhir/R4/metadata', headers: { origin: APP_ORIGIN } });
      expect(res.statusCode).toBe(200);
      expect(res.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
      const exposed = String(res.headers['access-control-expose-headers']).toLowerCase();
      expect(exposed).toContain('etag');
      expect(exposed).toContain('location');
    });

    test('an authenticated cross-origin request works', async () => {
      const res = await server.request({ method: 'GET', url: '/fhir/R4/Patient', headers: { origin: APP_ORIGIN } });
      expect(res.statusCode).toBe(200);
      expect(res.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
    });

    test('non-API paths get no CORS', async () => {
      const res = await preflight('/Patient', APP_ORIGIN);
      expect(res.statusCode).toBe(404);
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    });
  });
});

describe('without a web app build', () => {
  let server: TestServer;
  let emptyDir: string;

  beforeAll(async () => {
    emptyDir = await mkdtemp(path.join(tmpdir(), 'tiba-no-app-'));
    server = await startTestServer({ APP_DIST_DIR: emptyDir });
  });

  afterAll(async () => {
    await server?.close();
    await rm(emptyDir, { recursive: true, force: true });
  });

  test('/ is a plain 404 OperationOutcome and the API works', async () => {
    const res = await server.app.inject({ method: 'GET', url: '/', headers: { accept: BROWSER_ACCEPT } });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ resourceType: 'OperationOutcome' });
    const metadata = await server.app.inject({ method: 'GET', url: '/fhir/R4/metadata' });
    expect(metadata.statusCode).toBe(200);
  });

  test('no CORS headers when no origins are configured', async () => {
    const res = await server.app.inject({
      method: 'GET',
      url: '/fhir/R4/metadata',
      headers: { origin: APP_ORIGIN },
    });
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });
});
