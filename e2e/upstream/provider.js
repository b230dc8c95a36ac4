// An independent upstream OpenID provider for the e2e tests: panva's
// oidc-provider (an OpenID Certified implementation), run as its own process
// by run.sh. Its development login page accepts any login name with any
// password and vouches for that name as a verified email address; its client
// is Gatehouse (ISSUER/oidc/callback), which logs people in through it as a
// system OAuth2 provider.
//
//   node upstream/provider.js PORT GATEHOUSE_ISSUER CLIENT_ID CLIENT_SECRET
import http from 'node:http';
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';

const [port, gatehouseIssuer, clientID, clientSecret] = process.argv.slice(2);
if (!port || !gatehouseIssuer || !clientID || !clientSecret) {
  console.error('usage: node upstream/provider.js PORT GATEHOUSE_ISSUER CLIENT_ID CLIENT_SECRET');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = await generateKeyPair('ES256', { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: 'upstream-e2e', alg: 'ES256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientID,
    client_secret: clientSecret,
    redirect_uris: [`${gatehouseIssuer}/oidc/callback`],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomUUID()] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // The login name is the account: any email typed on the login page.
  findAccount: (_ctx, id) => ({
    accountId: id,
    claims: () => ({ sub: id, email: id, email_verified: true, name: id }),
  }),
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
});
provider.proxy = false;

const server = http.createServer(provider.callback());
server.listen(Number(port), '127.0.0.1', () => console.log(`upstream OpenID provider at ${issuer}`));
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
