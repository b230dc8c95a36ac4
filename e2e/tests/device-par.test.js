// Issue 16 with panva's openid-client (v6) as the relying party: the device
// authorization grant (RFC 8628), where headless chromium (playwright-core)
// is the person entering the user code on Gatehouse's page, signing in and
// approving; and a code flow through pushed authorization requests
// (RFC 9126) for a client that requires them. The clients are registered
// through /api/v1 with the bootstrap token.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import * as client from 'openid-client';
import { env, verifyJWT, loginWithForm, TIMEOUT_MS } from './env.js';

const insecure = { execute: [client.allowInsecureRequests], timeout: TIMEOUT_MS / 1000 };
const adminToken = process.env.E2E_ADMIN_TOKEN;
const suffix = Math.random().toString(36).slice(2, 8);
let browser;
let deviceConfig; // a public command-line client with the device grant
let parConfig; // a confidential client that requires PAR

// createClient registers a platform client and returns it as the API does
// (a confidential client's secret in status.clientSecret, shown once).
async function createClient(name, spec) {
  const res = await fetch(new URL('/api/v1/oauth2clients', env.issuer), {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ metadata: { name }, spec }),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const body = await res.json();
  assert.equal(res.status, 201, JSON.stringify(body));
  return body;
}

before(async () => {
  assert.ok(adminToken, 'E2E_ADMIN_TOKEN is set by run.sh');
  const cli = await createClient(`e2e-device-cli-${suffix}`, {
    type: 'public',
    tokenEndpointAuthMethod: 'none',
    grantTypes: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
    scopes: ['openid', 'email', 'offline_access'],
  });
  deviceConfig = await client.discovery(new URL(env.issuer), cli.metadata.id, { token_endpoint_auth_method: 'none' },
    client.None(), insecure);
  const web = await createClient(`e2e-par-web-${suffix}`, {
    type: 'confidential',
    redirectURIs: [env.redirectURI],
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: ['openid', 'email', 'offline_access'],
    requirePushedAuthorizationRequests: true,
  });
  assert.equal(web.spec.requirePushedAuthorizationRequests, true);
  parConfig = await client.discovery(new URL(env.issuer), web.metadata.id, undefined,
    client.ClientSecretBasic(web.status.clientSecret), insecure);
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
  await browser?.close();
});

test('discovery advertises the device grant and PAR', () => {
  const md = deviceConfig.serverMetadata();
  assert.equal(md.device_authorization_endpoint, new URL('/oauth2/v2/device_authorization', env.issuer).href);
  assert.ok(md.grant_types_supported.includes('urn:ietf:params:oauth:grant-type:device_code'));
  assert.equal(md.pushed_authorization_request_endpoint, new URL('/oauth2/v2/par', env.issuer).href);
  assert.equal(md.require_pushed_authorization_requests, false, 'a per-client setting');
});

test('device flow: the person enters the user code in the page, signs in and approves', async () => {
  const da = await client.initiateDeviceAuthorization(deviceConfig, { scope: 'openid email offline_access' });
  assert.match(da.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
  assert.equal(da.verification_uri, new URL('/oauth2/v2/device', env.issuer).href);
  // openid-client polls (keeping the interval, slowing down when told) while
  // the person acts in the browser.
  const abort = new AbortController();
  const polling = client.pollDeviceAuthorizationGrant(deviceConfig, da, undefined, { signal: abort.signal });
  polling.catch(() => {});

  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(20000);
    await page.goto(da.verification_uri);
    assert.equal(await page.locator('h1').textContent(), 'Connect a device');
    await page.fill('#user_code', da.user_code.toLowerCase());
    await page.click('button[type=submit]');
    // The ordinary login page.
    await page.waitForURL(/\/oauth2\/v2\/login/);
    await page.fill('#email', env.oidcEmail);
    await page.fill('#password', env.password);
    await page.click('form:has(#password) button[type=submit]');
    // The approval page names the client and the scopes, and warns.
    await page.waitForURL(/\/oauth2\/v2\/device\/confirm/);
    assert.equal(await page.locator('#client-name').textContent(), `e2e-device-cli-${suffix}`);
    assert.match(await page.locator('#scopes').textContent(), /email address/);
    assert.match(await page.locator('#device-warning').textContent(), /deny/);
    await page.click('button[value=approve]');
    await page.locator('h1', { hasText: 'Device connected' }).waitFor();
  } catch (e) {
    abort.abort();
    throw e;
  } finally {
    await context.close();
  }

  const tokens = await polling;
  assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');
  const claims = tokens.claims();
  assert.equal(claims.email, env.oidcEmail);
  assert.deepEqual([claims.aud].flat(), [deviceConfig.clientMetadata().client_id]);
  const { payload } = await verifyJWT(tokens.access_token, { audience: env.issuer, typ: 'at+jwt' });
  assert.equal(payload.sub, env.oidcEmail);
  assert.equal(payload.client_id, deviceConfig.clientMetadata().client_id);
  const refreshed = await client.refreshTokenGrant(deviceConfig, tokens.refresh_token);
  assert.ok(refreshed.access_token);

  // The device code is single-use.
  await assert.rejects(
    client.genericGrantRequest(deviceConfig, 'urn:ietf:params:oauth:grant-type:device_code', { device_code: da.device_code }),
    (e) => e.error === 'invalid_grant',
  );
});

test('PAR: a plain request is refused, a pushed one signs in once', async () => {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const params = {
    redirect_uri: env.redirectURI,
    scope: 'openid email offline_access',
    state,
    nonce,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
  };

  // Without PAR, the request goes back to the client refused.
  const plain = await fetch(client.buildAuthorizationUrl(parConfig, params), {
    redirect: 'manual',
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  assert.equal(plain.status, 302);
  const refused = new URL(plain.headers.get('location'));
  assert.ok(refused.href.startsWith(env.redirectURI));
  assert.equal(refused.searchParams.get('error'), 'invalid_request');

  const url = await client.buildAuthorizationUrlWithPAR(parConfig, params);
  assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri']);
  assert.match(url.searchParams.get('request_uri'), /^urn:ietf:params:oauth:request_uri:/);
  const { callbackURL } = await loginWithForm(url.href, env.oidcEmail, env.password);
  assert.ok(callbackURL, 'the login ends at the redirect URI');
  const tokens = await client.authorizationCodeGrant(parConfig, callbackURL, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
  });
  assert.equal(tokens.claims().email, env.oidcEmail);

  // The request_uri works once.
  const again = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS) });
  assert.equal(again.status, 400);
  assert.match(await again.text(), /request_uri is unknown, expired or already used/);
});
