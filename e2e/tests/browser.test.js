// A person logging in: headless Debian chromium, driven by playwright-core,
// opens a tiny relying party served here on 127.0.0.1, which starts the
// authorization code flow with PKCE (oauth4webapi); the browser lands on
// Gatehouse's real login page, with its real Content-Security-Policy, and
// comes back with a code, which the relying party exchanges and whose ID
// token it validates (nonce, iss, aud, signature). Then: single sign-on with
// prompt=none, the consent page (deny and allow), logout, the German pages,
// and a new user who signs in through an independent upstream OpenID
// provider (oidc-provider, its own process) and creates an organization on
// the onboarding form.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';
import * as oauth from 'oauth4webapi';
import { env, verifyJWT, apiGet } from './env.js';

const insecure = { [oauth.allowInsecureRequests]: true, signal: () => AbortSignal.timeout(15000) };
const rpOrigin = `http://127.0.0.1:${env.rpPort}`;
const clientMeta = { client_id: env.publicClientID };
// Authorization parameters the relying party passes on from its own URL.
const passThrough = ['prompt', 'max_age', 'login_hint', 'ui_locales'];

let as; // the authorization server's metadata
let server; // the relying party
let browser;
let signedIn; // { context, page, first } of the browser that signed in locally
const flows = new Map(); // state -> { verifier, nonce }
const results = []; // what /callback saw, newest last

// The relying party: / starts a login, /callback finishes it, /logout asks
// Gatehouse to end the session and /bye is where that lands.
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
        response_type: 'code',
        client_id: env.publicClientID,
        redirect_uri: env.redirectURI,
        scope: 'openid email',
        state,
        nonce,
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      });
      for (const p of passThrough) {
        if (url.searchParams.has(p)) auth.searchParams.set(p, url.searchParams.get(p));
      }
      res.writeHead(302, { location: auth.href }).end();
      return;
    }
    if (url.pathname === '/callback') {
      const state = url.searchParams.get('state');
      const flow = flows.get(state);
      if (!flow) throw new Error(`unknown state ${state}`);
      flows.delete(state);
      if (url.searchParams.has('error')) {
        results.push({ error: url.searchParams.get('error'), state });
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(`<!doctype html><title>Relying party</title><h1 id="error">${url.searchParams.get('error')}</h1>`);
        return;
      }
      const params = oauth.validateAuthResponse(as, clientMeta, url, state);
      const response = await oauth.authorizationCodeGrantRequest(
        as, clientMeta, oauth.None(), params, env.redirectURI, flow.verifier, insecure);
      const tokens = await oauth.processAuthorizationCodeResponse(as, clientMeta, response, {
        expectedNonce: flow.nonce,
        requireIdToken: true,
      });
      const claims = oauth.getValidatedIdTokenClaims(tokens);
      results.push({ tokens, claims, nonce: flow.nonce });
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><title>Relying party</title><h1 id="who">Signed in as ${claims.sub}</h1>`);
      return;
    }
    if (url.pathname === '/logout') {
      const last = results.findLast((r) => r.tokens);
      const end = new URL(as.end_session_endpoint);
      end.search = new URLSearchParams({
        id_token_hint: last.tokens.id_token,
        post_logout_redirect_uri: `${rpOrigin}/bye`,
        state: 'bye',
      });
      res.writeHead(302, { location: end.href }).end();
      return;
    }
    if (url.pathname === '/bye') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><title>Relying party</title><h1 id="bye">Signed out (${url.searchParams.get('state')})</h1>`);
      return;
    }
    res.writeHead(404).end();
  } catch (err) {
    results.push({ error: err });
    res.writeHead(500, { 'content-type': 'text/plain' }).end(`relying party error: ${err.message}`);
  }
}

before(async () => {
  const issuer = new URL(env.issuer);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  server = http.createServer((req, res) => void rp(req, res));
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(env.rpPort, '127.0.0.1', resolve);
  });
  browser = await chromium.launch({
    executablePath: env.chromium,
    headless: true,
    timeout: 60000,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
});

after(async () => {
  await signedIn?.context.close();
  await browser?.close();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
  server?.closeAllConnections?.();
});

async function newPage({ locale } = {}) {
  const context = await browser.newContext(locale ? { locale } : {});
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  // What the browser says (a CSP violation, say) goes into a failure's message.
  page.consoleMessages = [];
  page.on('console', (m) => page.consoleMessages.push(`${m.type()}: ${m.text()}`));
  // A CSP violation means a navigation will not happen: waits stop at once.
  page.cspViolation = new Promise((_, reject) => page.on('console', (m) => {
    if (/Content Security Policy/.test(m.text())) reject(new Error(`the browser refused to go on: ${m.text()}`));
  }));
  page.cspViolation.catch(() => {});
  // Only 127.0.0.1: anything else the page would load is refused.
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    return u.hostname === '127.0.0.1' ? route.continue() : route.abort();
  });
  return { context, page };
}

// until waits for the browser to reach a URL, failing at once on a CSP
// violation and saying where the browser is and what its console said.
async function until(page, predicate) {
  try {
    await Promise.race([page.waitForURL(predicate), page.cspViolation]);
  } catch (err) {
    err.message += `\nthe browser is at ${page.url()}; its console said:\n  ${page.consoleMessages.join('\n  ')}`;
    throw err;
  }
}

const backAtRP = (page) => until(page, (u) => u.href.startsWith(env.redirectURI));
const atGatehouse = (page, pathname) => until(page, (u) => u.origin === env.issuer && u.pathname === pathname);

// lastResult is what the relying party got from the latest callback.
function lastResult(before) {
  assert.equal(results.length, before + 1, 'the relying party got one callback');
  const r = results.at(-1);
  if (r.error instanceof Error) throw r.error;
  return r;
}

// checkSignedIn checks the relying party's last sign-in as email.
async function checkSignedIn(page, before, email) {
  const r = lastResult(before);
  assert.equal(r.error, undefined, `the relying party got an error: ${r.error}`);
  assert.equal(await page.locator('#who').textContent(), `Signed in as ${email}`);
  assert.equal(r.claims.iss, env.issuer);
  assert.equal(r.claims.sub, email);
  assert.equal(r.claims.nonce, r.nonce);
  assert.ok([r.claims.aud].flat().includes(env.publicClientID));
  const { payload } = await verifyJWT(r.tokens.id_token, { audience: env.publicClientID });
  assert.equal(payload.nonce, r.nonce);
  await verifyJWT(r.tokens.access_token, { typ: 'at+jwt' });
  assert.equal((await apiGet('/api/v1/acl', r.tokens.access_token)).status, 200);
  return r;
}

// signIn fills the login page with the local user's password.
async function signIn(page, screenshot) {
  const before = results.length;
  await page.getByLabel('Email address').fill(env.browserEmail);
  await page.getByLabel('Password').fill(env.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await backAtRP(page);
  if (screenshot) await page.screenshot({ path: path.join(env.artifacts, screenshot) });
  return checkSignedIn(page, before, env.browserEmail);
}

async function toLoginPage(page, query = '') {
  await page.goto(`${rpOrigin}/${query}`);
  await atGatehouse(page, '/oauth2/v2/login');
}

test('the login page: labelled fields, no external loads, a strict CSP, a screenshot in e2e/artifacts/', async () => {
  const { context, page } = await newPage();
  try {
    const external = [];
    page.on('request', (r) => new URL(r.url()).origin === env.issuer || new URL(r.url()).origin === rpOrigin || external.push(r.url()));
    const response = page.waitForResponse((r) => new URL(r.url()).pathname === '/oauth2/v2/login');
    await toLoginPage(page);
    const csp = (await response).headers()['content-security-policy'];
    assert.match(csp, /default-src 'none'; style-src 'self'; img-src 'self';/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    assert.match(csp, new RegExp(`form-action 'self' ${rpOrigin};`), 'form-action names this origin and the relying party only');
    assert.equal(await page.title(), 'Sign in · Gatehouse');
    await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
    assert.equal(await page.getByLabel('Email address').getAttribute('type'), 'email');
    assert.equal(await page.getByLabel('Password').getAttribute('type'), 'password');
    await page.getByRole('button', { name: env.upstreamName }).waitFor();
    await page.screenshot({ path: path.join(env.artifacts, 'login-page.png'), fullPage: true });
    assert.deepEqual(external, [], 'the login page loads nothing from elsewhere');
  } finally {
    await context.close();
  }
});

// The pages outside the login flow, in the browser: the landing page at /,
// the page of an authorization request naming an unknown client (never a
// redirect, never JSON), and the login page in dark mode. The stylesheet
// must load under the policy (no CSP violation in the console) and apply
// (the card has the design's background and radius).
test('the landing, error and dark pages: the stylesheet applies under the strict policy, screenshots', async () => {
  const { context, page } = await newPage();
  try {
    const styled = async (what) => {
      const card = await page.locator('.card').evaluate((e) => getComputedStyle(e).borderTopLeftRadius);
      assert.equal(card, '12px', `${what}: the stylesheet applies`);
      assert.deepEqual(page.consoleMessages.filter((m) => /Content Security Policy/.test(m)), [], `${what}: no CSP violation`);
    };
    let resp = await page.goto(`${env.issuer}/`);
    assert.equal(resp.status(), 200);
    assert.match(resp.headers()['content-type'], /^text\/html/);
    await page.getByRole('link', { name: 'Open the console' }).waitFor();
    await styled('landing');
    await page.screenshot({ path: path.join(env.artifacts, 'landing-page.png'), fullPage: true });

    resp = await page.goto(`${env.issuer}/oauth2/v2/authorization?client_id=nobody&redirect_uri=${encodeURIComponent('https://evil.example/cb')}&response_type=code&scope=openid`);
    assert.equal(resp.status(), 400);
    assert.equal(new URL(page.url()).origin, env.issuer, 'no redirect');
    await page.getByRole('heading', { name: 'Unknown application' }).waitFor();
    await styled('unknown client');
    await page.screenshot({ path: path.join(env.artifacts, 'error-unknown-client.png'), fullPage: true });

    await page.emulateMedia({ colorScheme: 'dark' });
    await toLoginPage(page);
    const bg = await page.locator('body').evaluate((e) => getComputedStyle(e).backgroundColor);
    assert.equal(bg, 'rgb(11, 11, 14)', 'dark background');
    await page.screenshot({ path: path.join(env.artifacts, 'login-page-dark.png'), fullPage: true });
  } finally {
    await context.close();
  }
});

test('a user signs in through the login page and the relying party gets a valid ID token', async () => {
  const { context, page } = await newPage();
  signedIn = { context, page };
  await toLoginPage(page);
  signedIn.first = await signIn(page, 'signed-in.png');
  assert.equal(signedIn.first.claims.acr, 'urn:gatehouse:acr:password');
});

test('single sign-on: prompt=none in the same browser comes back with a code, no page, the same auth_time', async () => {
  assert.ok(signedIn, 'needs the sign-in above');
  const { page, first } = signedIn;
  const before = results.length;
  const seen = [];
  page.on('framenavigated', (f) => f === page.mainFrame() && seen.push(new URL(f.url()).pathname));
  await page.goto(`${rpOrigin}/?prompt=none`);
  await backAtRP(page);
  const r = await checkSignedIn(page, before, env.browserEmail);
  assert.equal(r.claims.auth_time, first.claims.auth_time, 'the session\'s login time, not a new one');
  assert.ok(!seen.includes('/oauth2/v2/login'), `no login page on the way: ${seen}`);
});

test('the consent page (prompt=consent): Deny sends access_denied, Allow signs in', async () => {
  assert.ok(signedIn, 'needs the sign-in above');
  const { page } = signedIn;
  let before = results.length;
  await page.goto(`${rpOrigin}/?prompt=consent`);
  await atGatehouse(page, '/oauth2/v2/consent');
  await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
  assert.equal(await page.locator('#client-name').textContent(), 'e2e public client');
  assert.match(await page.locator('#scopes').textContent(), /See your email address/);
  await page.screenshot({ path: path.join(env.artifacts, 'consent-page.png'), fullPage: true });
  await page.getByRole('button', { name: 'Deny' }).click();
  await backAtRP(page);
  assert.equal(lastResult(before).error, 'access_denied');
  assert.equal(await page.locator('#error').textContent(), 'access_denied');

  before = results.length;
  await page.goto(`${rpOrigin}/?prompt=consent`);
  await atGatehouse(page, '/oauth2/v2/consent');
  await page.getByRole('button', { name: 'Allow' }).click();
  await backAtRP(page);
  await checkSignedIn(page, before, env.browserEmail);
});

test('logout ends the browser session: back at the relying party, then prompt=none needs a login', async () => {
  assert.ok(signedIn, 'needs the sign-in above');
  const { page } = signedIn;
  await page.goto(`${rpOrigin}/logout`);
  await until(page, (u) => u.href.startsWith(`${rpOrigin}/bye`));
  assert.equal(await page.locator('#bye').textContent(), 'Signed out (bye)');
  const before = results.length;
  await page.goto(`${rpOrigin}/?prompt=none`);
  await backAtRP(page);
  assert.equal(lastResult(before).error, 'login_required');
});

test('a wrong password shows an error on the login page and no redirect', async () => {
  const { context, page } = await newPage();
  try {
    await toLoginPage(page);
    const before = results.length;
    await page.getByLabel('Email address').fill(env.browserEmail);
    await page.getByLabel('Password').fill(`${env.password}-wrong`);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.textContent(), /\S/);
    await page.screenshot({ path: path.join(env.artifacts, 'login-wrong-password.png'), fullPage: true });
    const u = new URL(page.url());
    assert.equal(u.origin, env.issuer, `still on Gatehouse, not at ${u}`);
    assert.equal(u.pathname, '/oauth2/v2/login');
    assert.equal(results.length, before, 'the relying party was not called');
    assert.equal(await page.getByLabel('Email address').inputValue(), env.browserEmail, 'the email is kept');
  } finally {
    await context.close();
  }
});

test('after a wrong password, the right one on the same page signs in', async () => {
  const { context, page } = await newPage();
  try {
    await toLoginPage(page);
    await page.getByLabel('Email address').fill(env.browserEmail);
    await page.getByLabel('Password').fill(`${env.password}-wrong`);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('alert').waitFor();
    await signIn(page);
  } finally {
    await context.close();
  }
});

test('German pages: ui_locales=de, and a German browser without it', async () => {
  for (const [query, locale] of [['?ui_locales=de', undefined], ['', 'de-CH']]) {
    const { context, page } = await newPage({ locale });
    try {
      await toLoginPage(page, query);
      assert.equal(await page.title(), 'Anmelden · Gatehouse');
      assert.equal(await page.getByLabel('Passwort').getAttribute('type'), 'password');
      if (query) await page.screenshot({ path: path.join(env.artifacts, 'login-page-de.png'), fullPage: true });
    } finally {
      await context.close();
    }
  }
});

test('a new user signs in through the upstream provider, creates an organization on the onboarding form, and is in it', async () => {
  const { context, page } = await newPage();
  try {
    await toLoginPage(page);
    const before = results.length;
    await page.getByRole('button', { name: env.upstreamName }).click();
    // The page that moves on to the upstream, then oidc-provider's own login page.
    await until(page, (u) => u.href.startsWith(env.upstreamIssuer));
    await page.locator('input[name="login"]').fill(env.newcomerEmail);
    await page.locator('input[name="password"]').fill('anything');
    await page.locator('button[type="submit"]').click();
    // oidc-provider asks its user to allow Gatehouse, the first time.
    await until(page, (u) => u.origin === env.issuer || u.href.startsWith(env.upstreamIssuer));
    if (page.url().startsWith(env.upstreamIssuer)) {
      await page.locator('button[type="submit"]').click();
    }
    await atGatehouse(page, '/oauth2/v2/onboard');
    await page.getByRole('heading', { name: 'Create your organization' }).waitFor();
    assert.equal(await page.locator('#role-administrator').isChecked(), true, 'administrator is the default role');
    await page.getByLabel('Organization name').fill('e2e-startup');
    await page.getByLabel('Organization description (optional)').fill('Made in the browser');
    await page.getByLabel('Name of your group').fill('founders');
    await page.screenshot({ path: path.join(env.artifacts, 'onboarding-page.png'), fullPage: true });
    await page.getByRole('button', { name: 'Create organization' }).click();
    await backAtRP(page);
    const r = await checkSignedIn(page, before, env.newcomerEmail);
    assert.equal(r.claims.acr, 'urn:gatehouse:acr:federated');
    assert.deepEqual(r.claims.amr, ['fed']);

    // The new organization, with the new user in it, through /api/v1 with the user's token.
    const orgs = await (await apiGet('/api/v1/organizations', r.tokens.access_token)).json();
    const org = orgs.find((o) => o.metadata.name === 'e2e-startup');
    assert.ok(org, `the user's organizations: ${JSON.stringify(orgs)}`);
    assert.equal(org.metadata.description, 'Made in the browser');
    const users = await (await apiGet(`/api/v1/organizations/${org.metadata.id}/users`, r.tokens.access_token)).json();
    assert.deepEqual(users.map((u) => [u.spec.subject, u.spec.state]), [[env.newcomerEmail, 'active']]);
    const groups = await (await apiGet(`/api/v1/organizations/${org.metadata.id}/groups`, r.tokens.access_token)).json();
    assert.deepEqual(groups.map((g) => [g.metadata.name, g.spec.userIDs]), [['founders', [users[0].metadata.id]]]);
  } finally {
    await context.close();
  }
});
