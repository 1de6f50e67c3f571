// A real, certified OpenID provider (oidc-provider) for the external-issuer tests, on loopback:
// client-credentials clients whose access tokens are JWTs (RFC 9068) for cxhooks' audience.
//
// Environment:
//   CX_OIDC_PORT      port to listen on (0: any free one)
//   CX_OIDC_KEYS      file of the provider's private JWKs, newest (signing) first; created if missing
//                     (the signing key also goes to FILE.pem and its kid to FILE.kid)
//   CX_OIDC_ROTATE=1  put a new key in front first (key rotation: new tokens carry its kid)
//   CX_OIDC_AUDIENCE  the access tokens' aud (cxhooks' configured audience)
//   CX_OIDC_CLIENTS   JSON list of {"client_id", "client_secret", "scope"}
// Prints "listening on http://127.0.0.1:PORT" once it serves; the issuer is that URL.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';
import { exportJWK, exportPKCS8, generateKeyPair, importJWK } from 'jose';

const env = (name, fallback) => process.env[name] ?? fallback;
const keysFile = env('CX_OIDC_KEYS');
const audience = env('CX_OIDC_AUDIENCE', 'cxhooks');
const clients = JSON.parse(env('CX_OIDC_CLIENTS', '[]'));

let keys = keysFile && existsSync(keysFile) ? JSON.parse(readFileSync(keysFile, 'utf8')) : [];
if (keys.length === 0 || env('CX_OIDC_ROTATE') === '1') {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: 'RS256', use: 'sig' };
  keys = [jwk, ...keys];
}
if (keysFile) {
  writeFileSync(keysFile, JSON.stringify(keys));
  // The signing key as PKCS#8 PEM, for tests that forge tokens with the issuer's own key
  // (expired, for another audience): `${keysFile}.pem`, with its kid in `${keysFile}.kid`.
  writeFileSync(`${keysFile}.pem`, await exportPKCS8(await importJWK(keys[0], 'RS256', { extractable: true })));
  writeFileSync(`${keysFile}.kid`, keys[0].kid);
}

const scopes = [...new Set(clients.flatMap((c) => c.scope.split(' ')))];
const server = (await import('node:http')).createServer();
await new Promise((resolve) => server.listen(Number(env('CX_OIDC_PORT', '0')), '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    scope: c.scope,
  })),
  jwks: { keys },
  scopes,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        audience,
        scope: scopes.join(' '),
        accessTokenFormat: 'jwt',
        accessTokenTTL: 300,
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
});
server.on('request', provider.callback());
console.log(`listening on ${issuer}`);
