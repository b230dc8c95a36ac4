// Two-step verification (issue 14) in headless chromium: an organization
// requires a second factor, so its member's first password sign-in is sent
// to the enrolment page (QR code drawn as inline SVG under the strict CSP,
// the key as text); the test computes the TOTP code itself (RFC 6238 with
// node:crypto), confirms, saves the recovery codes shown once, and comes
// back to the relying party with amr pwd/otp/mfa and the mfa acr. Then: a
// sign-in with a fresh code, the same code replayed and refused, a recovery
// code accepted once and refused the second time, and the German prompt.
// Screenshots of every page to e2e/artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';
import * as oauth from 'oauth4webapi';
import { env, verifyJWT, TIMEOUT_MS } from './env.js';

const insecure = { [oauth.allowInsecureRequests]: true, signal: () => AbortSignal.timeout(15000) };
const rpOrigin = `http://127.0.0.1:${env.rpPort}`;
const clientMeta = { client_id: env.publicClientID };
const mfaEmail = process.env.E2E_MFA_EMAIL;
const adminToken = process.env.E2E_ADMIN_TOKEN;
const ACR_MFA = 'urn:gatehouse:acr:mfa';

let as;
let server;
let browser;
const flows = new Map();
const results = [];

// The relying party: / starts a login (code + PKCE), /callback finishes it.
async function rp(req, res) {
  const url = new URL(req.url, rpOrigin);
  try {
    if (url.pathname === '/') {
      const verifier = oauth.generateRandomCodeVerifier();
      const state = oauth.generateRandomState();
      const nonce = oauth.generateRandomNonce();
      flows.set(state, { verifier, nonce });
      const auth = new URL(as.authorization_endpoint);
      auth.search = new URLSearchParams({
        response_type: 'code', client_id: env.publicClientID, redirect_uri: env.redirectURI, scope: 'openid email',
        state, nonce, code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      });
      if (url.searchParams.has('ui_locales')) auth.searchParams.set('ui_locales', url.searchParams.get('ui_locales'));
      res.writeHead(302, { location: auth.href }).end();
      return;
    }
    if (url.pathname === '/callback') {
      const state = url.searchParams.get('state');
      const flow = flows.get(state);
      if (!flow) throw new Error(`unknown state ${state}`);
      flows.delete(state);
      const params = oauth.validateAuthResponse(as, clientMeta, url, state);
      const response = await oauth.authorizationCodeGrantRequest(
        as, clientMeta, oauth.None(), params, env.redirectURI, flow.verifier, insecure);
      const tokens = await oauth.processAuthorizationCodeResponse(as, clientMeta, response, {
        expectedNonce: flow.nonce, requireIdToken: true,
      });
      results.push({ tokens, claims: oauth.getValidatedIdTokenClaims(tokens) });
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><title>Relying party</title><h1 id="who">Signed in as ${results.at(-1).claims.sub}</h1>`);
      return;
    }
    res.writeHead(404).end();
  } catch (err) {
    results.push({ error: err });
    res.writeHead(500, { 'content-type': 'text/plain' }).end(`relying party error: ${err.message}`);
  }
}

async function api(method, p, body) {
  const res = await fetch(new URL(p, env.issuer), {
    method,
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${p}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

before(async () => {
  assert.ok(mfaEmail && adminToken, 'E2E_MFA_EMAIL and E2E_ADMIN_TOKEN come from e2e/run.sh');
  // An organization that requires a second factor, with the person as a member.
  const org = await api('POST', '/api/v1/organizations', {
    metadata: { name: `e2e-mfa-${crypto.randomBytes(3).toString('hex')}` }, spec: { organizationType: 'adhoc' },
  });
  await api('POST', `/api/v1/organizations/${org.metadata.id}/users`, { spec: { subject: mfaEmail, state: 'active', groupIDs: [] } });
  const policy = await api('PUT', `/api/v1/organizations/${org.metadata.id}/mfapolicy`, { mode: 'required' });
  assert.equal(policy.mode, 'required');

  const issuer = new URL(env.issuer);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  assert.ok(as.acr_values_supported.includes(ACR_MFA), 'discovery lists the mfa acr');
  server = http.createServer((req, res) => void rp(req, res));
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(env.rpPort, '127.0.0.1', resolve);
  });
  browser = await chromium.launch({
    executablePath: env.chromium, headless: true, timeout: 60000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
  server?.closeAllConnections?.();
});

// totp is RFC 6238's code (SHA-1, 6 digits, 30 s) of a base32 secret at
// time ms: written here from the RFC, not taken from Gatehouse.
function totp(secret, ms) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/[\s=]/g, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(ms / 30000)));
  const mac = crypto.createHmac('sha1', key).update(counter).digest();
  const o = mac[19] & 0xf;
  return String((mac.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, '0');
}

async function newPage(locale) {
  const context = await browser.newContext(locale ? { locale } : {});
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  page.consoleMessages = [];
  page.on('console', (m) => page.consoleMessages.push(`${m.type()}: ${m.text()}`));
  await context.route('**/*', (route) => (new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort()));
  return { context, page };
}

async function until(page, pathname) {
  try {
    await page.waitForURL((u) => u.pathname === pathname || u.href.startsWith(`${env.issuer}${pathname}`));
  } catch (err) {
    err.message += `\nthe browser is at ${page.url()}; its console said:\n  ${page.consoleMessages.join('\n  ')}`;
    throw err;
  }
}

const shot = (page, name) => page.screenshot({ path: path.join(env.artifacts, name), fullPage: true });

// password signs in with the password and waits for the second step's page.
async function password(page, step, query = '') {
  await page.goto(`${rpOrigin}/${query}`);
  await until(page, '/oauth2/v2/login');
  await page.locator('#email').fill(mfaEmail);
  await page.locator('#password').fill(env.password);
  await page.locator('form:has(#password) button[type=submit]').click();
  await until(page, step);
}

async function backAtRP(page, before) {
  await page.waitForURL((u) => u.href.startsWith(env.redirectURI));
  assert.equal(results.length, before + 1, 'the relying party got one callback');
  const r = results.at(-1);
  if (r.error) throw r.error;
  assert.equal(r.claims.sub, mfaEmail);
  const { payload } = await verifyJWT(r.tokens.id_token, { audience: env.publicClientID });
  for (const m of ['pwd', 'otp', 'mfa']) assert.ok(payload.amr.includes(m), `amr ${payload.amr} has ${m}`);
  assert.equal(payload.acr, ACR_MFA);
  return r;
}

let secret;
let recoveryCodes;
let lastCode;

test('a required policy forces enrolment after the password: QR code and key, first code, recovery codes once', async () => {
  const { context, page } = await newPage();
  try {
    const response = page.waitForResponse((r) => new URL(r.url()).pathname === '/oauth2/v2/mfa/enrol');
    await password(page, '/oauth2/v2/mfa/enrol');
    const csp = (await response).headers()['content-security-policy'];
    assert.match(csp, /default-src 'none'; style-src 'self'; img-src 'self';/);
    assert.doesNotMatch(csp, /unsafe-inline|data:/);
    assert.ok(await page.locator('svg.qr path').getAttribute('d'), 'the QR code is drawn');
    const box = await page.locator('svg.qr').boundingBox();
    assert.ok(box.width >= 150, `the QR code is displayed (${box.width}px)`);
    secret = (await page.locator('#totp-secret').textContent()).replace(/\s/g, '');
    assert.match(secret, /^[A-Z2-7]{32}$/);
    await shot(page, 'mfa-enrol.png');
    // No session before the factor.
    assert.ok(!(await context.cookies()).some((c) => c.name.startsWith('gatehouse_session_')), 'no browser session yet');

    await page.locator('#code').fill(totp(secret, Date.now() - 30000 * 3));
    await page.locator('button[type=submit]').click();
    await page.locator('#mfa-error').waitFor();

    lastCode = totp(secret, Date.now());
    await page.locator('#code').fill(lastCode);
    await page.locator('button[type=submit]').click();
    await page.locator('#recovery-codes').waitFor();
    recoveryCodes = await page.locator('#recovery-codes code').allTextContents();
    assert.equal(recoveryCodes.length, 10);
    await shot(page, 'mfa-recovery-codes.png');
    const before = results.length;
    await page.locator('#codes-continue').click();
    await backAtRP(page, before);
  } finally {
    await context.close();
  }
});

test('the next sign-in asks for a code: a fresh one signs in, the same one replayed is refused', async () => {
  assert.ok(secret, 'enrolled by the previous test');
  // The next step's code: within the skew of one step, and later than the
  // enrolment's (a code of the same or an earlier step is spent).
  const code = totp(secret, Date.now() + 30000);
  assert.notEqual(code, lastCode);
  let { context, page } = await newPage();
  try {
    await password(page, '/oauth2/v2/mfa');
    await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
    assert.equal(await page.locator('#code').getAttribute('autocomplete'), 'one-time-code');
    await shot(page, 'mfa-prompt.png');
    const before = results.length;
    await page.locator('#code').fill(code);
    await page.locator('button[type=submit]').click();
    await backAtRP(page, before);
  } finally {
    await context.close();
  }
  ({ context, page } = await newPage());
  try {
    await password(page, '/oauth2/v2/mfa');
    await page.locator('#code').fill(code);
    await page.locator('button[type=submit]').click();
    await page.locator('#mfa-error').waitFor();
    assert.match(await page.locator('#mfa-error').textContent(), /not valid/);
    assert.ok(page.url().startsWith(`${env.issuer}/oauth2/v2/mfa`), 'still at the prompt');
    await shot(page, 'mfa-replay-refused.png');
  } finally {
    await context.close();
  }
});

test('a recovery code signs in once', async () => {
  assert.ok(recoveryCodes, 'enrolled by the first test');
  let { context, page } = await newPage();
  try {
    await password(page, '/oauth2/v2/mfa');
    await page.locator('#use-recovery').click();
    await page.getByRole('heading', { name: 'Use a recovery code' }).waitFor();
    await shot(page, 'mfa-recovery.png');
    const before = results.length;
    await page.locator('#code').fill(recoveryCodes[0]);
    await page.locator('button[type=submit]').click();
    await backAtRP(page, before);
  } finally {
    await context.close();
  }
  ({ context, page } = await newPage());
  try {
    await password(page, '/oauth2/v2/mfa');
    await page.locator('#use-recovery').click();
    await page.locator('#code').fill(recoveryCodes[0]);
    await page.locator('button[type=submit]').click();
    await page.locator('#mfa-error').waitFor();
  } finally {
    await context.close();
  }
});

test('the code prompt in German', async () => {
  const { context, page } = await newPage('de-DE');
  try {
    await password(page, '/oauth2/v2/mfa', '?ui_locales=de');
    await page.getByRole('heading', { name: 'Bestätigung in zwei Schritten' }).waitFor();
    await shot(page, 'mfa-prompt-de.png');
  } finally {
    await context.close();
  }
});
