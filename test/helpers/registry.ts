/**
 * A real OCI distribution registry (docker-registry, distribution v2.8) on loopback for tests, in
 * one of three modes: 'anonymous' (plain HTTP, no auth), 'basic' (TLS + htpasswd) and 'token'
 * (TLS + bearer tokens from a small token issuer started here). Each gets a free port on
 * 127.0.0.1, temporary certificates and storage in its own temp folder; stop() ends it and removes
 * its files. Registries a test forgot to stop are killed when the test process exits.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { testdir } from './testdir.ts';
import { makeCertificates } from './servers.ts';
import { Daemon, freePort, listensOn, POLL_MS, run, running, signal, sleep } from './processes.ts';
import { requireTool } from './tools.ts';

export type RegistryMode = 'anonymous' | 'basic' | 'token';

export interface RegistryServer {
  mode: RegistryMode;
  /** '127.0.0.1:PORT': the registry part of an image reference. */
  host: string;
  /** 'http://127.0.0.1:PORT' (anonymous) or 'https://127.0.0.1:PORT' (basic, token). */
  url: string;
  /** PEM of the temporary CA that signed the server certificate (https modes). */
  caFile?: string;
  /** A folder holding the CA as `ca.crt`, for skopeo/podman `--cert-dir` (https modes). */
  certDir?: string;
  /** 'tester' (basic, token). */
  username?: string;
  /** A random password for `username` (basic, token). */
  password?: string;
  /** Token mode: the issuer's URL ('https://127.0.0.1:PORT/token'). */
  tokenRealm?: string;
  /** Token mode: the `service` the registry expects in tokens. */
  tokenService?: string;
  /** Token mode: requests the issuer received (all, refused ones too); 0 in other modes. */
  readonly tokenRequests: number;
  /** Token mode: tokens the issuer handed out; 0 in other modes. */
  readonly tokensIssued: number;
  /** The registry process. */
  pid: number;
  /** SIGTERM (then SIGKILL), wait for exit, stop the token issuer, remove temp files. Safe to call twice. */
  stop(): Promise<void>;
}

const USERNAME = 'tester';
const TOKEN_ISSUER = 'buildit-test-issuer';
const TOKEN_SERVICE = 'buildit-test-registry';
const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;
const PORT_ATTEMPTS = 5;
const BIND_FAILED = /address already in use|cannot assign requested address|bind:/i;

// ---------------------------------------------------------------------------------------------
// Processes

// ---------------------------------------------------------------------------------------------
// Certificates

const SIGNER_CONFIG = `[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_signer
[dn]
CN = ${TOKEN_ISSUER}
[v3_signer]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
`;

interface Tls {
  ca: string;
  cert: string;
  key: string;
}

/** The token signing key and its self-signed certificate (the registry's rootcertbundle). */
async function makeSigner(dir: string): Promise<{ cert: string; key: string }> {
  const file = (name: string): string => path.join(dir, name);
  writeFileSync(file('signer.cnf'), SIGNER_CONFIG);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-config',
    file('signer.cnf'),
    '-keyout',
    file('signer.key'),
    '-out',
    file('signer.pem'),
  ]);
  return { cert: file('signer.pem'), key: file('signer.key') };
}

// ---------------------------------------------------------------------------------------------
// Token issuer

interface TokenIssuer {
  url: string;
  readonly requests: number;
  readonly issued: number;
  stop(): Promise<void>;
}

/**
 * The issuer's program (plain JavaScript for `node -e`). It runs in its own process so that a test
 * blocking its event loop (spawnSync of skopeo, say) still gets tokens. Configured by the JSON in
 * BUILDIT_TOKEN_ISSUER; prints "listening PORT"; keeps "REQUESTS ISSUED" in the counts file.
 */
const ISSUER_PROGRAM = String.raw`
const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');
const c = JSON.parse(process.env.BUILDIT_TOKEN_ISSUER);
const privateKey = crypto.createPrivateKey(fs.readFileSync(c.signerKey));
const x5c = [new crypto.X509Certificate(fs.readFileSync(c.signerCert)).raw.toString('base64')];
let requests = 0;
let issued = 0;
const count = () => fs.writeFileSync(c.counts, requests + ' ' + issued);
const b64 = (d) => Buffer.from(d).toString('base64url');
const same = (a, b) => {
  const x = Buffer.from(a), y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
};
// "repository:some/name:pull,push" (the name may hold colons, e.g. a registry port).
const parseScope = (s) => {
  const first = s.indexOf(':'), last = s.lastIndexOf(':');
  if (first < 0 || last === first) return [];
  return [{ type: s.slice(0, first), name: s.slice(first + 1, last), actions: s.slice(last + 1).split(',').filter(Boolean) }];
};
const token = (service, scopes) => {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'RS256', typ: 'JWT', x5c };
  const claims = {
    iss: c.issuer, sub: c.username, aud: service, exp: now + 300, nbf: now - 10, iat: now,
    jti: crypto.randomBytes(16).toString('hex'),
    access: scopes.flatMap((s) => s.split(' ')).flatMap(parseScope),
  };
  const input = b64(JSON.stringify(header)) + '.' + b64(JSON.stringify(claims));
  return input + '.' + b64(crypto.sign('sha256', Buffer.from(input), privateKey));
};
const answer = (res, status, body, headers) => {
  res.writeHead(status, Object.assign({ 'content-type': 'application/json' }, headers || {}));
  res.end(JSON.stringify(body));
  count();
};
const refuse = (res) => answer(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] },
  { 'www-authenticate': 'Basic realm="buildit-test-token"' });
const grant = (res, service, scopes) => {
  const jwt = token(service, scopes);
  issued++;
  answer(res, 200, { token: jwt, access_token: jwt, expires_in: 300, issued_at: new Date().toISOString() });
};
const server = https.createServer({ cert: fs.readFileSync(c.cert), key: fs.readFileSync(c.key) }, (req, res) => {
  requests++;
  const url = new URL(req.url || '/', 'https://127.0.0.1');
  if (url.pathname !== '/token') return answer(res, 404, { errors: [{ code: 'NOT_FOUND' }] });
  if (req.method === 'GET') {
    req.resume();
    const auth = /^Basic\s+(\S+)$/i.exec(req.headers.authorization || '');
    const [user, ...rest] = Buffer.from(auth ? auth[1] : '', 'base64').toString('utf8').split(':');
    if (!auth || user !== c.username || !same(rest.join(':'), c.password)) return refuse(res);
    return grant(res, url.searchParams.get('service') || c.service, url.searchParams.getAll('scope'));
  }
  if (req.method === 'POST') {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      if (form.get('grant_type') !== 'password' || form.get('username') !== c.username || !same(form.get('password') || '', c.password))
        return refuse(res);
      grant(res, form.get('service') || c.service, form.getAll('scope'));
    });
    return;
  }
  answer(res, 405, { errors: [{ code: 'UNSUPPORTED' }] });
});
process.on('SIGTERM', () => { server.close(() => process.exit(0)); server.closeAllConnections(); });
count();
server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
`;

/**
 * An https token issuer on 127.0.0.1 (Docker token auth), in its own node process: GET /token?service=…&scope=…
 * with HTTP Basic auth, or POST /token with an OAuth2 password grant form, answers an RS256 JWT
 * with an `x5c` header holding the signing certificate, granting every requested action to
 * `password`'s owner; 401 for anyone else.
 */
async function startTokenIssuer(
  dir: string,
  tls: Tls,
  signer: { cert: string; key: string },
  password: string,
): Promise<TokenIssuer> {
  const counts = path.join(dir, 'issuer.counts');
  const config = {
    cert: tls.cert,
    key: tls.key,
    signerCert: signer.cert,
    signerKey: signer.key,
    username: USERNAME,
    password,
    issuer: TOKEN_ISSUER,
    service: TOKEN_SERVICE,
    counts,
  };
  const daemon = new Daemon(
    process.execPath,
    ['-e', ISSUER_PROGRAM],
    path.join(dir, 'issuer.log'),
    cleanEnv({
      BUILDIT_TOKEN_ISSUER: JSON.stringify(config),
    }),
  );
  const killNow = (): void => daemon.kill();
  running.add(killNow);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let port: number | undefined;
  while (port === undefined && daemon.running && Date.now() < deadline) {
    const found = /^listening (\d+)$/m.exec(daemon.log());
    if (found) port = Number(found[1]);
    else await sleep(POLL_MS);
  }
  if (port === undefined || !daemon.running) {
    killNow();
    await daemon.waitExit(STOP_TIMEOUT_MS);
    running.delete(killNow);
    throw new Error(
      `token issuer did not start (${daemon.running ? 'timeout' : 'exited'}):\n${daemon.log()}`,
    );
  }
  const read = (): number[] => {
    try {
      return readFileSync(counts, 'utf8').split(' ').map(Number);
    } catch {
      return [0, 0];
    }
  };
  let stopping: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    if (daemon.running) {
      signal(daemon.pid, 'SIGTERM');
      if (!(await daemon.waitExit(STOP_TIMEOUT_MS))) {
        killNow();
        await daemon.waitExit(STOP_TIMEOUT_MS);
      }
    }
    running.delete(killNow);
  };
  return {
    url: `https://127.0.0.1:${port}/token`,
    get requests(): number {
      return read()[0] ?? 0;
    },
    get issued(): number {
      return read()[1] ?? 0;
    },
    stop: () => (stopping ??= stop()),
  };
}

// ---------------------------------------------------------------------------------------------
// Registry

/** A YAML scalar: JSON strings are valid YAML double-quoted strings. */
const q = (value: string): string => JSON.stringify(value);

function registryConfig(
  port: number,
  dir: string,
  tls: Tls | undefined,
  auth: string[],
  readonly: boolean,
): string {
  return [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${q(path.join(dir, 'storage'))}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    ...(readonly ? ['    readonly:', '      enabled: true'] : []),
    'http:',
    `  addr: ${q(`127.0.0.1:${port}`)}`,
    `  secret: ${q(randomBytes(16).toString('hex'))}`,
    ...(tls ? ['  tls:', `    certificate: ${q(tls.cert)}`, `    key: ${q(tls.key)}`] : []),
    ...auth,
    '',
  ].join('\n');
}

/** The status GET /v2/ answers on `port`, or undefined when nothing (valid) answers. */
function probe(port: number, ca: Buffer | undefined): Promise<number | undefined> {
  return new Promise((resolve) => {
    const options = { host: '127.0.0.1', port, path: '/v2/', agent: false as const, timeout: 3000 };
    const onResponse = (res: http.IncomingMessage): void => {
      res.resume();
      resolve(res.headers['docker-distribution-api-version'] === undefined ? undefined : res.statusCode);
    };
    const req = ca ? https.get({ ...options, ca }, onResponse) : http.get(options, onResponse);
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

/** A docker-registry on 127.0.0.1 in `mode` (see RegistryServer). */
/** `readonly`: the registry refuses every write with its own error (for tests of a registry saying no). */
export async function startRegistry(
  mode: RegistryMode,
  options: { readonly?: boolean } = {},
): Promise<RegistryServer> {
  requireTool('docker-registry');
  const dir = testdir();
  let issuer: TokenIssuer | undefined;
  try {
    mkdirSync(path.join(dir, 'storage'));
    const secure = mode !== 'anonymous';
    const tls = secure ? await makeCertificates(dir) : undefined;
    const ca = tls ? readFileSync(tls.ca) : undefined;
    let certDir: string | undefined;
    if (tls) {
      certDir = path.join(dir, 'certs.d');
      mkdirSync(certDir);
      copyFileSync(tls.ca, path.join(certDir, 'ca.crt'));
    }
    const password = secure ? randomBytes(18).toString('base64url') : undefined;

    let auth: string[] = [];
    if (mode === 'basic' && password !== undefined) {
      const htpasswd = path.join(dir, 'htpasswd');
      writeFileSync(htpasswd, (await run('htpasswd', ['-Bbn', USERNAME, password])).trim() + '\n');
      auth = ['auth:', '  htpasswd:', '    realm: buildit-test', `    path: ${q(htpasswd)}`];
    } else if (mode === 'token' && tls && password !== undefined) {
      const signer = await makeSigner(dir);
      issuer = await startTokenIssuer(dir, tls, signer, password);
      auth = [
        'auth:',
        '  token:',
        `    realm: ${q(issuer.url)}`,
        `    service: ${q(TOKEN_SERVICE)}`,
        `    issuer: ${q(TOKEN_ISSUER)}`,
        `    rootcertbundle: ${q(signer.cert)}`,
      ];
    }

    const config = path.join(dir, 'config.yml');
    const readyStatus = secure ? 401 : 200;
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      writeFileSync(config, registryConfig(port, dir, tls, auth, options.readonly ?? false));
      const args = ['serve', config];
      const daemon = new Daemon('docker-registry', args, path.join(dir, 'registry.log'), cleanEnv());
      const killNow = (): void => daemon.kill();
      running.add(killNow);

      const deadline = Date.now() + READY_TIMEOUT_MS;
      let outcome: 'ready' | 'exited' | 'timeout' = 'timeout';
      let last: number | undefined;
      while (Date.now() < deadline) {
        if (!daemon.running) {
          outcome = 'exited';
          break;
        }
        last = await probe(port, ca);
        if (last === readyStatus && listensOn(daemon.pid, port)) {
          outcome = daemon.running ? 'ready' : 'exited';
          break;
        }
        await sleep(POLL_MS);
      }
      if (outcome !== 'ready') {
        killNow();
        await daemon.waitExit(STOP_TIMEOUT_MS);
        running.delete(killNow);
        const log = daemon.log();
        if (outcome === 'exited' && BIND_FAILED.test(log) && attempt < PORT_ATTEMPTS) continue;
        throw new Error(
          `docker-registry (${mode}) did not start on 127.0.0.1:${port} (${outcome}${
            last === undefined ? '' : `, GET /v2/ answered ${last}`
          } after ${READY_TIMEOUT_MS / 1000} s): docker-registry ${args.join(' ')}\n${log}`,
        );
      }

      const pid = daemon.pid;
      let stopping: Promise<void> | undefined;
      const stop = async (): Promise<void> => {
        if (daemon.running) {
          signal(pid, 'SIGTERM');
          if (!(await daemon.waitExit(STOP_TIMEOUT_MS))) {
            killNow();
            await daemon.waitExit(STOP_TIMEOUT_MS);
          }
        }
        signal(-pid, 'SIGKILL'); // anything left in its process group
        running.delete(killNow);
        await issuer?.stop();
        rmSync(dir, { recursive: true, force: true });
      };

      const host = `127.0.0.1:${port}`;
      const tokenIssuer = issuer;
      return {
        mode,
        host,
        url: `${secure ? 'https' : 'http'}://${host}`,
        ...(tls ? { caFile: tls.ca, certDir } : {}),
        ...(password !== undefined ? { username: USERNAME, password } : {}),
        ...(tokenIssuer ? { tokenRealm: tokenIssuer.url, tokenService: TOKEN_SERVICE } : {}),
        get tokenRequests(): number {
          return tokenIssuer?.requests ?? 0;
        },
        get tokensIssued(): number {
          return tokenIssuer?.issued ?? 0;
        },
        pid,
        stop: () => (stopping ??= stop()),
      };
    }
  } catch (error) {
    await issuer?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** The environment for our daemons: REGISTRY_* variables override the config file, so none of the caller's may leak in. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_'))),
    ...extra,
  };
}

export { processAlive } from './processes.ts';
