import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';

/** A client's key pair for private_key_jwt tests. */
export interface SigningKey {
  kid: string;
  alg: 'RS384' | 'ES384';
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export async function makeKey(alg: SigningKey['alg']): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomUUID();
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** A SMART Backend Services client assertion for `tokenUrl`; `claims` and `header` override the valid defaults. */
export async function signAssertion(
  tokenUrl: string,
  clientId: string,
  key: SigningKey,
  claims: JWTPayload = {},
  header: Record<string, unknown> = {}
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: clientId,
    sub: clientId,
    aud: tokenUrl,
    exp: now + 240,
    iat: now,
    jti: randomUUID(),
    ...claims,
  })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header })
    .sign(key.privateKey);
}

/** POSTs a form to the token endpoint over real HTTP; undefined fields are left out. */
export async function postTokenForm(
  tokenUrl: string,
  fields: Record<string, string | undefined>,
  headers: Record<string, string> = {}
): Promise<{ status: number; body: Record<string, unknown> }> {
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) {
    if (value !== undefined) {
      form.set(name, value);
    }
  }
  const res = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: form.toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A client's key server on 127.0.0.1: `/jwks.json` publishes `published`; `routes` add other paths. */
export interface JwksServer {
  port: number;
  /** http://127.0.0.1:<port>/jwks.json */
  url: string;
  published: { keys: JWK[] };
  /** Requests received, by path. */
  hits: Map<string, number>;
  close(): Promise<void>;
}

export async function startJwksServer(
  routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {}
): Promise<JwksServer> {
  const hits = new Map<string, number>();
  const jwks: JwksServer = { port: 0, url: '', published: { keys: [] }, hits, close: async () => undefined };
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const route = routes[path];
    if (route) {
      route(req, res);
      return;
    }
    res.writeHead(path === '/jwks.json' ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(path === '/jwks.json' ? jwks.published : {}));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  jwks.port = (server.address() as AddressInfo).port;
  jwks.url = `http://127.0.0.1:${jwks.port}/jwks.json`;
  jwks.close = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return jwks;
}
