// A real OpenID provider for authd's integration tests: panva's oidc-provider
// (OpenID Certified), configured only through its documented options and
// recipes. Started by tests/api/oidc_provider.rs; `npm ci` in this directory first.
//
// Environment:
//   OIDC_PORT     port on 127.0.0.1 (0 or unset: a free one); the issuer is
//                 http://127.0.0.1:<port>
//   OIDC_CLIENTS  JSON array of client metadata (client_id, client_secret,
//                 redirect_uris, token_endpoint_auth_method, ...). A redirect URI
//                 may hold `*` as its port (http://127.0.0.1:*/cb): any port
//                 matches, nothing else may differ (the wildcard recipe, narrowed
//                 to the port).
//   OIDC_ACCOUNTS JSON object {"<login>": {sub?, email?, email_verified?,
//                 given_name?, family_name?, name?}}. The login is the `sub`
//                 (devInteractions signs in with accountId = the login typed), so a
//                 `sub` other than the login is refused. A login that is not
//                 listed signs in with only `sub`.
//   OIDC_CLAIMS_IN_ID_TOKEN=1  the scopes' claims go into the ID token too
//                 (conformIdTokenClaims: false); by default only userinfo has them.
//
// Login is the provider's own devInteractions page (any login, any password);
// consent is granted without a prompt (the skip-consent recipe: every client is
// first-party). PKCE (S256) is required. The signing key is a fresh RSA key with
// a random kid at every start, so a restart on the same port is a key rotation.
// POST /__test/accounts (same JSON shape as OIDC_ACCOUNTS) adds accounts: 204.
//
// When listening it prints one line to stdout,
// {"issuer":"http://127.0.0.1:PORT","port":PORT}, and runs until killed or
// until its stdin ends (so a test that dies leaves no provider behind).
// Everything else the provider prints goes to stderr.

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';

import Provider, { errors } from 'oidc-provider';

// The provider's notices use console.info: keep stdout for the ready line.
console.info = console.error;
console.log = console.error;

function fail(message) {
  console.error(`provider.mjs: ${message}`);
  process.exit(1);
}

function jsonEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  try {
    return JSON.parse(raw);
  } catch (e) {
    return fail(`${name} is not JSON: ${e.message}`);
  }
}

const port = Number(process.env.OIDC_PORT || 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`OIDC_PORT ${process.env.OIDC_PORT} is not a port`);
const clients = jsonEnv('OIDC_CLIENTS', []);
if (!Array.isArray(clients)) fail('OIDC_CLIENTS must be a JSON array');
const claimsInIdToken = process.env.OIDC_CLAIMS_IN_ID_TOKEN === '1';

const accounts = new Map();
function addAccounts(given) {
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    throw new TypeError('accounts must be a JSON object {"<login>": {claims}}');
  }
  for (const [login, claims] of Object.entries(given)) {
    if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) {
      throw new TypeError(`the claims of ${login} must be a JSON object`);
    }
    if (claims.sub !== undefined && claims.sub !== login) {
      throw new TypeError(`the sub of ${login} must be ${login}: the login is the sub`);
    }
    accounts.set(login, claims);
  }
}
try {
  addAccounts(jsonEnv('OIDC_ACCOUNTS', {}));
} catch (e) {
  fail(`OIDC_ACCOUNTS: ${e.message}`);
}

// Redirect URIs with `*` as the port. The wildcard recipe
// (recipes/redirect_uri_wildcards.md) validates them through extraClientMetadata
// and overrides Client.prototype.redirectUriAllowed; a `*` port is not a URL,
// so the validator keeps the pattern in `wildcard_redirect_uris` and leaves a
// parseable stand-in with port 0 (which no redirect_uri may use) in redirect_uris.
const PORT_WILDCARD = /^(https?:\/\/[^/:*]+):\*(\/[^*]*)?$/;
const STAND_IN_PORT = '0';

function wildcardValidator(ctx, key, value, metadata) {
  if (key === 'redirect_uris') {
    if (!Array.isArray(value)) return; // the schema's own checks report it
    const wildcards = new Set(metadata.wildcard_redirect_uris || []);
    metadata.redirect_uris = value.map((uri) => {
      if (typeof uri !== 'string' || !uri.includes('*')) return uri;
      const m = PORT_WILDCARD.exec(uri);
      if (!m) {
        throw new errors.InvalidClientMetadata('redirect_uris may hold a wildcard only as the whole port (http://host:*/path)');
      }
      wildcards.add(uri);
      return `${m[1]}:${STAND_IN_PORT}${m[2] || ''}`;
    });
    metadata.wildcard_redirect_uris = [...wildcards];
  } else if (key === 'wildcard_redirect_uris' && value !== undefined) {
    if (!Array.isArray(value) || !value.every((uri) => typeof uri === 'string' && PORT_WILDCARD.test(uri))) {
      throw new errors.InvalidClientMetadata('wildcard_redirect_uris must be redirect URIs with * as the port');
    }
  }
}

function wildcardMatches(redirectUri, pattern) {
  const parsed = URL.parse(redirectUri);
  if (!parsed || parsed.port === '' || parsed.port === STAND_IN_PORT) return false;
  return pattern.replace('*', parsed.port) === redirectUri;
}

// First-party clients only: grant what is asked without a consent prompt
// (recipes/skip_consent.md).
async function loadExistingGrant(ctx) {
  const { provider, client, session, account } = ctx.oidc;
  const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
  let grant = grantId ? await provider.Grant.find(grantId) : undefined;
  if (!grant || grant.accountId !== account.accountId) {
    grant = new provider.Grant({ clientId: client.clientId, accountId: account.accountId });
  }
  const scope = [...ctx.oidc.requestParamOIDCScopes].join(' ');
  if (scope) grant.addOIDCScope(scope);
  const claims = [...ctx.oidc.requestParamClaims];
  if (claims.length) grant.addOIDCClaims(claims);
  // keep the grant's expiry with the session's, as the recipe does
  if (session.accountId && grant.exp !== session.exp) grant.exp = session.exp;
  await grant.save();
  return grant;
}

async function findAccount(ctx, id) {
  return {
    accountId: id,
    async claims() {
      return { ...accounts.get(id), sub: id };
    },
  };
}

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: randomUUID(),
  alg: 'RS256',
  use: 'sig',
};

// Listen first: with OIDC_PORT=0 the issuer is known only once bound.
let handler = (_req, res) => {
  res.statusCode = 503;
  res.end();
};
const server = createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/__test/accounts') {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      try {
        addAccounts(JSON.parse(body));
        res.statusCode = 204;
        res.end();
      } catch (e) {
        res.statusCode = 400;
        res.setHeader('content-type', 'text/plain');
        res.end(`${e.message}\n`);
      }
    });
    return;
  }
  handler(req, res);
});
server.on('error', (e) => fail(`cannot listen on 127.0.0.1:${port}: ${e.code || e.message}`));

server.listen(port, '127.0.0.1', () => {
  const bound = server.address().port;
  const issuer = `http://127.0.0.1:${bound}`;

  const provider = new Provider(issuer, {
    clients,
    findAccount,
    loadExistingGrant,
    jwks: { keys: [signingKey] },
    claims: {
      acr: null,
      sid: null,
      auth_time: null,
      iss: null,
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name'],
    },
    conformIdTokenClaims: !claimsInIdToken,
    pkce: { required: () => true },
    // every authorization request names its redirect_uri (the wildcard's
    // stand-in must never be picked for it)
    allowOmittingSingleRegisteredRedirectUri: false,
    extraClientMetadata: {
      properties: ['redirect_uris', 'wildcard_redirect_uris'],
      validator: wildcardValidator,
    },
    features: {
      devInteractions: { enabled: true },
    },
  });

  const { redirectUriAllowed } = provider.Client.prototype;
  provider.Client.prototype.redirectUriAllowed = function portWildcardRedirectUriAllowed(redirectUri) {
    if (URL.parse(redirectUri)?.port === STAND_IN_PORT) return false;
    if (redirectUriAllowed.call(this, redirectUri)) return true;
    return (this.wildcard_redirect_uris || []).some((pattern) => wildcardMatches(redirectUri, pattern));
  };

  provider.on('server_error', (_ctx, e) => console.error('provider server_error:', e));

  handler = provider.callback();
  process.stdout.write(`${JSON.stringify({ issuer, port: bound })}\n`);
});

// Exit when whoever started us goes away (stdin closes) or asks (SIGTERM).
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
