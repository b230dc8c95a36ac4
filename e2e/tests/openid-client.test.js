// panva's openid-client (v6) as an independent relying party against a
// running Gatehouse: discovery, code + PKCE (the login form driven by fetch),
// ID token validation, refresh rotation, userinfo, client_credentials, token
// exchange if advertised, and Gatehouse's own /api/v1 with the access token.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as client from 'openid-client';
import { jwtVerify, decodeProtectedHeader } from 'jose';
import { env, jwks, verifyJWT, loginWithForm, tamper, b64url, apiGet, TIMEOUT_MS } from './env.js';

const insecure = { execute: [client.allowInsecureRequests], timeout: TIMEOUT_MS / 1000 };
let publicConfig; // the public client (PKCE, no secret)
let serviceConfig; // the confidential client (client_secret_basic)

before(async () => {
  publicConfig = await client.discovery(
    new URL(env.issuer),
    env.publicClientID,
    { token_endpoint_auth_method: 'none' },
    client.None(),
    insecure,
  );
  serviceConfig = await client.discovery(
    new URL(env.issuer),
    env.confidentialClientID,
    undefined,
    client.ClientSecretBasic(env.confidentialClientSecret),
    insecure,
  );
});

test('discovery names the issuer, its endpoints and what it supports', () => {
  const md = publicConfig.serverMetadata();
  assert.equal(md.issuer, env.issuer);
  const at = (p) => new URL(p, env.issuer).href;
  assert.equal(md.authorization_endpoint, at('/oauth2/v2/authorization'));
  assert.equal(md.token_endpoint, at('/oauth2/v2/token'));
  assert.equal(md.userinfo_endpoint, at('/oauth2/v2/userinfo'));
  assert.equal(md.jwks_uri, at('/oauth2/v2/jwks'));
  assert.equal(md.introspection_endpoint, at('/oauth2/v2/introspect'));
  assert.equal(md.revocation_endpoint, at('/oauth2/v2/revoke'));
  assert.equal(md.end_session_endpoint, at('/oauth2/v2/logout'));
  assert.deepEqual(md.response_types_supported, ['code']);
  assert.deepEqual(md.code_challenge_methods_supported, ['S256'], 'only S256 PKCE');
  for (const g of ['authorization_code', 'refresh_token', 'client_credentials']) {
    assert.ok(md.grant_types_supported.includes(g), `grant ${g} supported`);
  }
  assert.ok(md.grant_types_supported.every((g) => g !== 'implicit' && g !== 'password'));
  assert.ok(md.id_token_signing_alg_values_supported.length > 0);
  for (const alg of md.id_token_signing_alg_values_supported) {
    assert.ok(['ES256', 'ES512', 'RS256'].includes(alg), `signing alg ${alg}`);
  }
  for (const s of ['openid', 'email', 'offline_access']) assert.ok(md.scopes_supported.includes(s));
  assert.ok(md.token_endpoint_auth_methods_supported.includes('client_secret_basic'));
  assert.ok(md.token_endpoint_auth_methods_supported.includes('none'));
});

test('the JWKS holds public keys only', async () => {
  const res = await fetch(publicConfig.serverMetadata().jwks_uri, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  assert.equal(res.status, 200);
  const { keys } = await res.json();
  assert.ok(keys.length >= 1);
  for (const k of keys) {
    assert.ok(k.kid, 'every key has a kid');
    assert.equal(k.d, undefined, 'no private part');
    assert.equal(k.p, undefined, 'no private part');
  }
});

// codeFlow logs the user in with the given client configuration and returns
// the token response, having let openid-client check state, nonce and PKCE.
async function codeFlow(config, email, scope = 'openid email offline_access') {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: env.redirectURI,
    scope,
    state,
    nonce,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
  });
  const { callbackURL, page, status } = await loginWithForm(url, email, env.password);
  assert.ok(callbackURL, `expected a redirect to the relying party, got HTTP ${status}: ${page}`);
  assert.equal(callbackURL.searchParams.get('iss') ?? env.issuer, env.issuer);
  const tokens = await client.authorizationCodeGrant(config, callbackURL, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  return { tokens, nonce, callbackURL, codeVerifier };
}

test('the code works once; a replay revokes what it gave', async () => {
  const { tokens, callbackURL, codeVerifier } = await codeFlow(publicConfig, env.oidcEmail);
  assert.equal((await apiGet('/api/v1/acl', tokens.access_token)).status, 200);
  const res = await fetch(publicConfig.serverMetadata().token_endpoint, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: callbackURL.searchParams.get('code'),
      redirect_uri: env.redirectURI,
      client_id: env.publicClientID,
      code_verifier: codeVerifier, // the right one: only the replay is wrong
    }),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error, 'invalid_grant');
  assert.equal((await apiGet('/api/v1/acl', tokens.access_token)).status, 401,
    'the access token of the first redemption is revoked');
  await assert.rejects(client.refreshTokenGrant(publicConfig, tokens.refresh_token), 'and its refresh token');
});

let session; // { tokens, claims } of the public client's login, for the tests below

test('authorization code + PKCE: a valid ID token and a JWT access token', async () => {
  const { tokens, nonce } = await codeFlow(publicConfig, env.oidcEmail);
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.ok(tokens.access_token && tokens.id_token && tokens.refresh_token);
  const claims = tokens.claims();
  assert.equal(claims.iss, env.issuer);
  assert.equal(claims.sub, env.oidcEmail);
  assert.equal(claims.nonce, nonce);
  assert.ok([claims.aud].flat().includes(env.publicClientID));
  assert.ok(claims.auth_time > 0);
  assert.equal(claims.email, env.oidcEmail);

  // openid-client trusts the token endpoint; check the signature against the JWKS too.
  const id = await verifyJWT(tokens.id_token, { audience: env.publicClientID });
  assert.equal(id.payload.nonce, nonce);
  const at = await verifyJWT(tokens.access_token, { typ: 'at+jwt' });
  assert.equal(at.payload.sub, env.oidcEmail);
  assert.equal(at.payload.client_id, env.publicClientID);
  assert.equal(at.header.kid, id.header.kid);
  // at_hash: the left half of the access token's SHA-256 (ES256/RS256), base64url
  const hash = createHash(id.header.alg === 'ES512' ? 'sha512' : 'sha256').update(tokens.access_token).digest();
  assert.equal(claims.at_hash, hash.subarray(0, hash.length / 2).toString('base64url'), 'at_hash');
  session = { tokens, claims };
});

test('userinfo answers for the access token', async () => {
  const info = await client.fetchUserInfo(publicConfig, session.tokens.access_token, session.claims.sub);
  assert.equal(info.sub, env.oidcEmail);
  assert.equal(info.email, env.oidcEmail);
});

test("the access token is accepted by Gatehouse's own /api/v1, a tampered one is not", async () => {
  const ok = await apiGet('/api/v1/acl', session.tokens.access_token);
  assert.equal(ok.status, 200, await ok.text());
  const bad = await apiGet('/api/v1/acl', tamper(session.tokens.access_token));
  assert.equal(bad.status, 401);
  // the same claims, unsigned
  const [h, p] = session.tokens.access_token.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const none = `${b64url({ ...header, alg: 'none' })}.${p}.`;
  assert.equal((await apiGet('/api/v1/acl', none)).status, 401);
  // the ID token is no access token
  assert.equal((await apiGet('/api/v1/acl', session.tokens.id_token)).status, 401);
  assert.equal((await apiGet('/api/v1/acl')).status, 401);
});

test('refresh rotates the refresh token; the old one is refused afterwards', async () => {
  const old = session.tokens.refresh_token;
  const fresh = await client.refreshTokenGrant(publicConfig, old);
  assert.ok(fresh.access_token && fresh.refresh_token);
  assert.notEqual(fresh.refresh_token, old, 'rotated');
  assert.notEqual(fresh.access_token, session.tokens.access_token);
  if (fresh.id_token) {
    assert.equal(fresh.claims().sub, env.oidcEmail);
    await verifyJWT(fresh.id_token, { audience: env.publicClientID });
  }
  const info = await client.fetchUserInfo(publicConfig, fresh.access_token, env.oidcEmail);
  assert.equal(info.sub, env.oidcEmail);

  await assert.rejects(client.refreshTokenGrant(publicConfig, old), (err) => {
    assert.equal(err.error, 'invalid_grant');
    return true;
  });
  // reuse detection: the family is revoked, so the newest refresh token is dead too
  await assert.rejects(client.refreshTokenGrant(publicConfig, fresh.refresh_token), (err) => {
    assert.equal(err.error, 'invalid_grant');
    return true;
  });
  const after = await apiGet('/api/v1/acl', fresh.access_token);
  assert.equal(after.status, 401, 'the latest access token of a revoked family is refused');
});

test('the confidential client: code flow with client_secret_basic, then refresh', async () => {
  const { tokens } = await codeFlow(serviceConfig, env.oidcEmail);
  assert.equal(tokens.claims().sub, env.oidcEmail);
  await verifyJWT(tokens.id_token, { audience: env.confidentialClientID });
  const fresh = await client.refreshTokenGrant(serviceConfig, tokens.refresh_token);
  assert.notEqual(fresh.refresh_token, tokens.refresh_token);
  await assert.rejects(client.refreshTokenGrant(serviceConfig, tokens.refresh_token));
});

test('client_credentials for the confidential client', async () => {
  const tokens = await client.clientCredentialsGrant(serviceConfig);
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.equal(tokens.refresh_token, undefined, 'no refresh token for client_credentials');
  assert.equal(tokens.id_token, undefined);
  const { payload } = await verifyJWT(tokens.access_token, { typ: 'at+jwt' });
  assert.equal(payload.client_id, env.confidentialClientID);
  assert.equal(payload.sub, env.confidentialClientID);
  // /api/v1 takes only user tokens
  assert.equal((await apiGet('/api/v1/acl', tokens.access_token)).status, 401);

  const wrong = await client.discovery(new URL(env.issuer), env.confidentialClientID, undefined,
    client.ClientSecretBasic('not-the-secret'), insecure);
  await assert.rejects(client.clientCredentialsGrant(wrong), (err) => {
    assert.equal(err.error, 'invalid_client');
    return true;
  });
  // the public client may not use it
  await assert.rejects(client.clientCredentialsGrant(publicConfig));
});

test('introspection (RFC 7662) and revocation (RFC 7009)', async () => {
  const { tokens } = await codeFlow(serviceConfig, env.oidcEmail);
  const live = await client.tokenIntrospection(serviceConfig, tokens.access_token);
  assert.equal(live.active, true);
  assert.equal(live.sub, env.oidcEmail);
  assert.equal(live.client_id, env.confidentialClientID);
  assert.equal((await client.tokenIntrospection(serviceConfig, tamper(tokens.access_token))).active, false);

  await client.tokenRevocation(serviceConfig, tokens.refresh_token);
  await assert.rejects(client.refreshTokenGrant(serviceConfig, tokens.refresh_token), 'a revoked refresh token');
  assert.equal((await client.tokenIntrospection(serviceConfig, tokens.access_token)).active, false,
    'revoking the refresh token ends the session and its access token');
  assert.equal((await apiGet('/api/v1/acl', tokens.access_token)).status, 401);
});

test('RFC 8693 token exchange, where discovery advertises it', async (t) => {
  const grant = 'urn:ietf:params:oauth:grant-type:token-exchange';
  if (!serviceConfig.serverMetadata().grant_types_supported.includes(grant)) {
    t.skip('grant_types_supported does not list token-exchange');
    return;
  }
  // a user's access token, traded by the confidential client for a narrower one
  const { tokens } = await codeFlow(publicConfig, env.oidcEmail, 'openid email');
  const exchanged = await client.genericGrantRequest(serviceConfig, grant, {
    subject_token: tokens.access_token,
    subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    scope: 'openid',
  });
  assert.ok(exchanged.access_token);
  assert.notEqual(exchanged.access_token, tokens.access_token);
  const { payload } = await verifyJWT(exchanged.access_token, { typ: 'at+jwt' });
  assert.equal(payload.sub, env.oidcEmail);
  assert.equal(payload.client_id, env.confidentialClientID);
  assert.equal(payload.scope, 'openid');
  // wider than the subject token: refused
  await assert.rejects(client.genericGrantRequest(serviceConfig, grant, {
    subject_token: tokens.access_token,
    subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    scope: 'openid email offline_access',
  }), (err) => {
    assert.equal(err.error, 'invalid_scope');
    return true;
  });
  // a forged subject token: refused
  await assert.rejects(client.genericGrantRequest(serviceConfig, grant, {
    subject_token: tamper(tokens.access_token),
    subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
  }));
  // a public client may not exchange
  await assert.rejects(client.genericGrantRequest(publicConfig, grant, {
    subject_token: tokens.access_token,
    subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
  }));
});

// Issue 17: OpenID Connect Core §15.1 makes RS256 mandatory, and many relying
// parties accept nothing else. Discovery lists every algorithm published;
// a client registered with --id-token-signed-response-alg gets its ID tokens
// (code exchange and refresh) in that algorithm, accepted by openid-client
// told to expect that algorithm only and by a JWKS verifier allowing it
// alone, and refused by one allowing only another. Access tokens stay ES256.
test('discovery lists RS256, ES256 and ES512, and the JWKS has keys of each', async () => {
  const md = publicConfig.serverMetadata();
  for (const alg of ['RS256', 'ES256', 'ES512']) {
    assert.ok(md.id_token_signing_alg_values_supported.includes(alg), `discovery lists ${alg}`);
  }
  const res = await fetch(md.jwks_uri, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  const { keys } = await res.json();
  for (const alg of ['RS256', 'ES256', 'ES512']) {
    assert.ok(keys.some((k) => k.alg === alg && k.kid && k.use === 'sig'), `the JWKS has a ${alg} key`);
  }
});

for (const [alg, other] of [['RS256', 'ES256'], ['ES256', 'RS256']]) {
  test(`a client choosing ${alg} ID tokens: code flow, refresh and userinfo`, async () => {
    const c = env.algClients[alg];
    const config = await client.discovery(
      new URL(env.issuer),
      c.id,
      { id_token_signed_response_alg: alg },
      client.ClientSecretBasic(c.secret),
      insecure,
    );
    const check = async (tokens, step) => {
      assert.ok(tokens.id_token, `${step}: an ID token`);
      assert.equal(decodeProtectedHeader(tokens.id_token).alg, alg, `${step}: the ID token is ${alg}`);
      const { payload } = await jwtVerify(tokens.id_token, jwks, {
        issuer: env.issuer, audience: c.id, algorithms: [alg],
      });
      assert.equal(payload.sub, env.oidcEmail);
      await assert.rejects(jwtVerify(tokens.id_token, jwks, { issuer: env.issuer, audience: c.id, algorithms: [other] }),
        `${step}: a verifier allowing only ${other} refuses it`);
      const at = await verifyJWT(tokens.access_token, { typ: 'at+jwt' });
      assert.equal(at.header.alg, 'ES256', `${step}: access tokens stay ES256`);
      assert.equal(at.payload.client_id, c.id);
      const info = await client.fetchUserInfo(config, tokens.access_token, env.oidcEmail);
      assert.equal(info.sub, env.oidcEmail);
      assert.equal((await apiGet('/api/v1/acl', tokens.access_token)).status, 200);
    };
    const { tokens } = await codeFlow(config, env.oidcEmail);
    await check(tokens, 'code exchange');
    const fresh = await client.refreshTokenGrant(config, tokens.refresh_token);
    assert.notEqual(fresh.refresh_token, tokens.refresh_token, 'rotated');
    await check(fresh, 'refresh');
  });
}
