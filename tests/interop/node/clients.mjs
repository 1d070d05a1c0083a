// Drives openid-client 6 and jose 6 against a running issuer, for
// tests/interop/test_node_clients.py. Usage: node clients.mjs FLOW '<json>'.
// Prints one JSON object: what each step got back, or the error it raised
// (as the library surfaced it: name, code, OAuth error, HTTP status).
import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [flow, raw] = process.argv.slice(2);
const input = JSON.parse(raw);
const insecure = { execute: [client.allowInsecureRequests] }; // plain HTTP on loopback

function auth(kind, secret) {
  return kind === 'basic' ? client.ClientSecretBasic(secret) : client.ClientSecretPost(secret);
}

// RFC 8414 discovery with issuer validation: `algorithm: 'oauth2'` fetches
// /.well-known/oauth-authorization-server/<path> and checks `issuer` equals the URL given.
async function discover(secret, method) {
  return client.discovery(new URL(input.issuer), input.client_id, undefined, auth(method, secret), {
    ...insecure,
    algorithm: 'oauth2',
  });
}

function failure(error) {
  return {
    name: error?.name,
    code: error?.code,
    error: error?.error,
    status: error?.status ?? error?.response?.status,
    message: String(error?.message ?? error),
    // WWWAuthenticateChallengeError: the parsed challenges (scheme, parameters).
    challenges: Array.isArray(error?.cause) ? error.cause : undefined,
  };
}

async function step(fn) {
  try {
    return { ok: await fn() };
  } catch (error) {
    const failed = failure(error);
    // A challenge error leaves the body unread: the application can still read it.
    if (error?.response && !error.response.bodyUsed) {
      failed.body = await error.response.json().catch(() => undefined);
    }
    return { failed };
  }
}

const flows = {
  // Discovery, client_credentials (Basic and post), refresh, introspection, revocation.
  async client(out) {
    const config = await discover(input.client_secret, input.method);
    const metadata = config.serverMetadata();
    out.metadata = { issuer: metadata.issuer, token_endpoint: metadata.token_endpoint };
    const tokens = await client.clientCredentialsGrant(config, { scope: input.scope });
    out.client_credentials = { ...tokens };
    if (tokens.refresh_token) {
      const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
      out.refresh = { ...refreshed };
    }
    const access = out.refresh?.access_token ?? tokens.access_token;
    out.introspection = await client.tokenIntrospection(config, access);
    await client.tokenRevocation(config, access);
    out.after_revocation = await client.tokenIntrospection(config, access);
  },

  // The password grant through genericGrantRequest, with the seed's client_secret "-".
  async password(out) {
    const config = await discover(input.client_secret, 'post');
    out.password = await step(async () => ({
      ...(await client.genericGrantRequest(config, 'password', {
        username: input.username,
        password: input.password,
        scope: input.scope,
      })),
    }));
    if (out.password.ok?.refresh_token) {
      out.refresh = await step(async () => ({
        ...(await client.refreshTokenGrant(config, out.password.ok.refresh_token)),
      }));
    }
  },

  // jose: the JWKS from the metadata's jwks_uri, and an RFC 9068 access token checked.
  async jose(out) {
    const config = await discover(input.client_secret, 'basic');
    const { jwks_uri: jwksUri, issuer } = config.serverMetadata();
    const tokens = await client.clientCredentialsGrant(config);
    const jwks = createRemoteJWKSet(new URL(jwksUri));
    const verified = await jwtVerify(tokens.access_token, jwks, {
      issuer,
      audience: input.audience,
      typ: 'at+jwt',
    });
    out.header = verified.protectedHeader;
    out.payload = verified.payload;
    out.wrong_audience = await step(() =>
      jwtVerify(tokens.access_token, jwks, { issuer, audience: 'ApiProxy/nobody', typ: 'at+jwt' }),
    );
  },

  // DPoP (RFC 9449): a bound token from the token endpoint, then an API call through a
  // gateway with openid-client's own proofs; the same token as a Bearer must fail.
  async dpop(out) {
    const config = await discover(input.client_secret, 'basic');
    const keyPair = await client.randomDPoPKeyPair('ES256');
    const DPoP = client.getDPoPHandle(config, keyPair);
    const tokens = await client.clientCredentialsGrant(config, {}, { DPoP });
    out.tokens = { ...tokens };
    out.jkt = await DPoP.calculateThumbprint();
    const resource = new URL(input.resource);
    const answer = await client.fetchProtectedResource(
      config, tokens.access_token, resource, 'GET', undefined, undefined, { DPoP },
    );
    out.resource = answer.status;
    const stolen = await fetch(resource, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    out.as_bearer = stolen.status;
  },

  // Wrong secrets until the issuer locks the client out: what does the library surface?
  async lockout(out) {
    const config = await discover(input.wrong_secret, 'basic');
    out.attempts = [];
    for (let i = 0; i < input.attempts; i += 1) {
      out.attempts.push(await step(() => client.clientCredentialsGrant(config)));
    }
  },
};

const out = {};
try {
  await flows[flow](out);
} catch (error) {
  out.crashed = failure(error);
}
process.stdout.write(JSON.stringify(out));
