// Settings handed over by run.sh, and small helpers shared by the tests.
import { createRemoteJWKSet, jwtVerify } from 'jose';

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the tests with e2e/run.sh`);
  return v;
}

export const env = {
  issuer: need('GATEHOUSE_ISSUER'),
  rpPort: Number(need('E2E_RP_PORT')),
  redirectURI: need('E2E_REDIRECT_URI'),
  publicClientID: need('E2E_PUBLIC_CLIENT_ID'),
  confidentialClientID: need('E2E_CONFIDENTIAL_CLIENT_ID'),
  confidentialClientSecret: need('E2E_CONFIDENTIAL_CLIENT_SECRET'),
  // Confidential clients whose ID tokens are RS256 and ES256 (issue 17).
  algClients: {
    RS256: { id: need('E2E_RS256_CLIENT_ID'), secret: need('E2E_RS256_CLIENT_SECRET') },
    ES256: { id: need('E2E_ES256_CLIENT_ID'), secret: need('E2E_ES256_CLIENT_SECRET') },
  },
  browserEmail: need('E2E_BROWSER_EMAIL'),
  oidcEmail: need('E2E_OIDC_EMAIL'),
  password: need('E2E_PASSWORD'),
  upstreamIssuer: need('E2E_UPSTREAM_ISSUER'),
  upstreamName: need('E2E_UPSTREAM_NAME'),
  newcomerEmail: need('E2E_NEWCOMER_EMAIL'),
  artifacts: need('E2E_ARTIFACTS'),
  chromium: process.env.CHROMIUM || '/usr/bin/chromium',
};

// Every fetch of the tests is bounded.
export const TIMEOUT_MS = 15000;

export const jwks = createRemoteJWKSet(new URL('/oauth2/v2/jwks', env.issuer), {
  timeoutDuration: TIMEOUT_MS,
});

// verifyJWT checks a token's signature against Gatehouse's published JWKS
// (the relying-party libraries trust the token endpoint's TLS instead), plus
// issuer, audience and, for access tokens, typ at+jwt.
export async function verifyJWT(token, { audience, typ } = {}) {
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer: env.issuer,
    audience,
    typ,
    algorithms: ['ES256', 'ES512', 'RS256'],
  });
  return { payload, header: protectedHeader };
}

// A minimal cookie jar for driving the login form with fetch.
export class CookieJar {
  #cookies = new Map();
  store(res) {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      if (/;\s*max-age=(0|-)/i.test(c) || value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }
  header() {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

function hidden(html, name) {
  const m = html.match(new RegExp(`<input[^>]*name="${name}"[^>]*value="([^"]*)"`));
  if (!m) throw new Error(`no hidden ${name} in the login page:\n${html}`);
  return m[1];
}

// loginWithForm opens an authorization URL, fills Gatehouse's login form
// like a browser without JavaScript would (cookies, hidden CSRF fields) and
// follows the redirects until one leaves for the relying party's redirect
// URI; it returns that URL (with code and state). A wrong password returns
// { page } instead: the login page shown again.
export async function loginWithForm(authorizationURL, email, password) {
  const jar = new CookieJar();
  const get = async (url) => {
    const res = await fetch(url, {
      redirect: 'manual',
      headers: { cookie: jar.header() },
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    jar.store(res);
    return res;
  };
  let url = new URL(authorizationURL);
  let res;
  for (let hops = 0; ; hops++) {
    if (hops > 10) throw new Error('too many redirects before the login page');
    res = await get(url);
    if (res.status < 300 || res.status >= 400) break;
    url = new URL(res.headers.get('location'), url);
  }
  if (res.status !== 200) throw new Error(`login page: HTTP ${res.status}: ${await res.text()}`);
  if (url.origin !== env.issuer || url.pathname !== '/oauth2/v2/login') {
    throw new Error(`expected the login page, got ${url}`);
  }
  const html = await res.text();
  const form = new URLSearchParams({
    state: hidden(html, 'state'),
    csrf_token: hidden(html, 'csrf_token'),
    email,
    password,
  });
  const action = new URL(html.match(/<form method="post" action="([^"]+)"/)[1], url);
  res = await fetch(action, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      cookie: jar.header(),
      origin: env.issuer,
    },
    body: form,
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  jar.store(res);
  for (let hops = 0; ; hops++) {
    if (hops > 10) throw new Error('too many redirects after the login');
    if (res.status < 300 || res.status >= 400) {
      return { status: res.status, page: await res.text() };
    }
    const next = new URL(res.headers.get('location'), action);
    if (next.href.startsWith(env.redirectURI)) return { callbackURL: next };
    if (next.origin !== env.issuer) throw new Error(`redirected off the issuer to ${next}`);
    res = await get(next);
  }
}

// tamper changes one character in the middle of a JWT's signature.
export function tamper(jwt) {
  const [h, p, s] = jwt.split('.');
  const i = Math.floor(s.length / 2);
  const c = s[i] === 'A' ? 'B' : 'A';
  return [h, p, s.slice(0, i) + c + s.slice(i + 1)].join('.');
}

export function b64url(obj) {
  return Buffer.from(JSON.stringify(obj)).toString('base64url');
}

export async function apiGet(path, token) {
  return fetch(new URL(path, env.issuer), {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
}
