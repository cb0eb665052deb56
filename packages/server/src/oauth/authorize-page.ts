/** Minimal server-rendered pages of `oauth2/authorize`. Every value that reaches HTML goes through `escapeHtml`. */

export function escapeHtml(value: string): string {
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** Headers of every authorize page: no scripts, no framing (clickjacking), no caching, no referrer. */
export const PAGE_HEADERS: Record<string, string> = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

const STYLE = `body{font-family:system-ui,sans-serif;background:#f4f6f8;margin:0;display:flex;justify-content:center}
main{background:#fff;margin-top:10vh;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002;width:22rem}
h1{font-size:1.3rem;margin-top:0}label{display:block;margin:.8rem 0 .2rem}
input[type=email],input[type=password],input[type=text]{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}
button{margin-top:1.2rem;width:100%;padding:.6rem;font-size:1rem;cursor:pointer}
.error{color:#b00020;background:#fdecee;padding:.5rem;border-radius:4px}.app{color:#555}`;

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body><main>${body}</main></body></html>`;
}

function hiddenFields(params: Record<string, string | undefined>): string {
  return Object.entries(params)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value as string)}">`)
    .join('');
}

function errorBlock(error: string | undefined): string {
  return error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : '';
}

/** The sign-in form; it posts the authorization request's parameters back with the credentials. */
export function signInPage(options: {
  clientName: string;
  params: Record<string, string | undefined>;
  email?: string;
  error?: string;
}): string {
  return page(
    'Sign in',
    `<h1>Sign in</h1><p class="app">to continue to ${escapeHtml(options.clientName)}</p>${errorBlock(options.error)}
<form method="post" action="/oauth2/authorize">${hiddenFields(options.params)}
<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required autofocus value="${escapeHtml(options.email ?? '')}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>`
  );
}

/** The second factor: a code from the user's authenticator app. */
export function mfaPage(options: {
  params: Record<string, string | undefined>;
  login: string;
  error?: string;
}): string {
  return page(
    'Verification code',
    `<h1>Verification code</h1><p class="app">Enter the code from your authenticator app.</p>${errorBlock(options.error)}
<form method="post" action="/oauth2/authorize">${hiddenFields({ ...options.params, login: options.login })}
<label for="token">Code</label><input id="token" name="token" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" required autofocus>
<button type="submit">Verify</button></form>`
  );
}

/** The user has several profiles: one button per membership. */
export function chooseProfilePage(options: {
  params: Record<string, string | undefined>;
  login: string;
  memberships: { id: string; label: string }[];
}): string {
  const buttons = options.memberships
    .map(
      (m) =>
        `<form method="post" action="/oauth2/authorize">${hiddenFields({ ...options.params, login: options.login, profile: m.id })}<button type="submit">${escapeHtml(m.label)}</button></form>`
    )
    .join('');
  return page('Choose a profile', `<h1>Choose a profile</h1>${buttons}`);
}

/** A request that cannot be answered by a redirect (unknown client, unregistered redirect URI). */
export function errorPage(message: string): string {
  return page('Sign-in error', `<h1>Sign-in error</h1>${errorBlock(message)}`);
}
