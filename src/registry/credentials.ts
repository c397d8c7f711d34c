/**
 * Where registry credentials come from, first hit wins:
 *  1. BUILDIT_REGISTRY_USERNAME / BUILDIT_REGISTRY_PASSWORD (any registry);
 *  2. Docker's config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`):
 *     `credHelpers[registry]`, then `auths[registry]`, then `credsStore`.
 * The secrets found here travel to auth.ts only; no message repeats them.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { isNotFound } from '../util/fs.ts';
import { RegistryError } from './errors.ts';
import { isDockerHub } from './reference.ts';

export type Credentials =
  | { username: string; password: string }
  /** An OAuth2 refresh token (`docker login` against an identity provider). */
  | { identityToken: string; username?: string };

export interface CredentialsOptions {
  env: NodeJS.ProcessEnv;
  home: string;
  /** Runs `docker-credential-<name> get`; injectable for tests. Default: spawn on env.PATH. */
  runHelper?: HelperRunner;
}

/** stdout of the helper, or undefined when it has nothing for this server. */
export type HelperRunner = (
  name: string,
  serverUrl: string,
  env: NodeJS.ProcessEnv,
) => Promise<string | undefined>;

/** The part of Docker's config.json we read. */
export interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

export type ConfigAnswer = { credentials: Credentials } | { helper: string } | undefined;

/** Docker Hub's key in config.json and what its helpers are asked for. */
export const DOCKER_HUB_SERVER = 'https://index.docker.io/v1/';

export async function findCredentials(
  registry: string,
  options: CredentialsOptions,
): Promise<Credentials | undefined> {
  const fromEnv = credentialsFromEnv(options.env);
  if (fromEnv) return fromEnv;
  const file = dockerConfigPath(options.env, options.home);
  const config = await loadDockerConfig(file);
  if (!config) return undefined;
  const answer = credentialsFromConfig(config, registry, file);
  if (!answer) return undefined;
  if ('credentials' in answer) return answer.credentials;
  const run = options.runHelper ?? spawnHelper;
  const server = isDockerHub(registry) ? DOCKER_HUB_SERVER : registry;
  const out = await run(answer.helper, server, options.env);
  return out === undefined ? undefined : parseHelperOutput(out, answer.helper);
}

export function credentialsFromEnv(env: NodeJS.ProcessEnv): Credentials | undefined {
  const username = env.BUILDIT_REGISTRY_USERNAME;
  const password = env.BUILDIT_REGISTRY_PASSWORD;
  if (!username && !password) return undefined;
  if (!username || !password) {
    throw new RegistryError(
      'BUILDIT_REGISTRY_CREDENTIALS',
      `${username ? 'BUILDIT_REGISTRY_PASSWORD' : 'BUILDIT_REGISTRY_USERNAME'} is not set, but ${username ? 'BUILDIT_REGISTRY_USERNAME' : 'BUILDIT_REGISTRY_PASSWORD'} is`,
      { transient: false, exitCode: 2, hint: 'set both, or neither to use ~/.docker/config.json' },
    );
  }
  return { username, password };
}

export function dockerConfigPath(env: NodeJS.ProcessEnv, home: string): string {
  return env.DOCKER_CONFIG
    ? path.join(env.DOCKER_CONFIG, 'config.json')
    : path.join(home, '.docker', 'config.json');
}

export async function loadDockerConfig(file: string): Promise<DockerConfig | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw new RegistryError(
      'BUILDIT_REGISTRY_CREDENTIALS',
      `cannot read ${file}: ${(error as Error).message}`,
      {
        transient: false,
        exitCode: 2,
        cause: error,
      },
    );
  }
  return parseDockerConfig(text, file);
}

export function parseDockerConfig(text: string, file: string): DockerConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Not the parser's message: it may quote the file's text, secrets included.
    throw new RegistryError('BUILDIT_REGISTRY_CREDENTIALS', `${file} is not valid JSON`, {
      transient: false,
      exitCode: 2,
      hint: 'fix or remove the file, or run docker login again',
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RegistryError('BUILDIT_REGISTRY_CREDENTIALS', `${file} is not a JSON object`, {
      transient: false,
      exitCode: 2,
    });
  }
  return value as DockerConfig;
}

/** `https://index.docker.io/v1/` → `docker.io`; `https://ghcr.io/x` → `ghcr.io`; `Host:5000` → `host:5000`. */
export function normalizeServer(key: string): string {
  const host = key
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .split('/')[0]!
    .toLowerCase();
  return isDockerHub(host) ? 'docker.io' : host;
}

/** Pure: what config.json says for `registry` — credentials, a helper to ask, or nothing. */
export function credentialsFromConfig(config: DockerConfig, registry: string, file: string): ConfigAnswer {
  const wanted = normalizeServer(registry);
  const helper = entryFor(config.credHelpers, wanted);
  if (typeof helper === 'string' && helper !== '') return { helper };
  const auth = entryFor(config.auths, wanted);
  if (auth && typeof auth === 'object') {
    const credentials = fromAuthEntry(auth, wanted, file);
    if (credentials) return { credentials };
  }
  if (typeof config.credsStore === 'string' && config.credsStore !== '') return { helper: config.credsStore };
  return undefined;
}

function entryFor<T>(map: Record<string, T> | undefined, wanted: string): T | undefined {
  if (!map || typeof map !== 'object') return undefined;
  if (Object.hasOwn(map, wanted)) return map[wanted];
  for (const [key, value] of Object.entries(map)) if (normalizeServer(key) === wanted) return value;
  return undefined;
}

function fromAuthEntry(
  entry: NonNullable<DockerConfig['auths']>[string],
  registry: string,
  file: string,
): Credentials | undefined {
  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') {
    const username = typeof entry.username === 'string' && entry.username ? entry.username : undefined;
    return { identityToken: entry.identitytoken, ...(username ? { username } : {}) };
  }
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) {
      throw new RegistryError(
        'BUILDIT_REGISTRY_CREDENTIALS',
        `${file}: auths["${registry}"].auth is not base64 of user:password`,
        { transient: false, exitCode: 2, hint: `run docker login ${registry} again` },
      );
    }
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string' && entry.username) {
    return { username: entry.username, password: entry.password };
  }
  return undefined;
}

/** A helper's `{ "ServerURL", "Username", "Secret" }`; Username `<token>` means Secret is an identity token. */
export function parseHelperOutput(out: string, helper: string): Credentials | undefined {
  let value: { Username?: unknown; Secret?: unknown };
  try {
    value = JSON.parse(out) as typeof value;
  } catch {
    throw new RegistryError(
      'BUILDIT_REGISTRY_CREDENTIALS',
      `docker-credential-${helper} get printed something that is not JSON`,
      { transient: false, hint: `run docker-credential-${helper} list to check the helper` },
    );
  }
  if (typeof value.Secret !== 'string' || value.Secret === '') return undefined;
  const username = typeof value.Username === 'string' ? value.Username : '';
  if (username === '<token>' || username === '') return { identityToken: value.Secret };
  return { username, password: value.Secret };
}

const HELPER_TIMEOUT_MS = 30_000;

/** Spawns `docker-credential-<name> get` on env.PATH, the server on stdin. */
export const spawnHelper: HelperRunner = (name, serverUrl, env) => {
  const command = `docker-credential-${name}`;
  if (!/^[A-Za-z0-9._-]+$/.test(name)) {
    return Promise.reject(
      new RegistryError(
        'BUILDIT_REGISTRY_CREDENTIALS',
        `credential helper name ${JSON.stringify(name)} is invalid`,
        {
          transient: false,
          exitCode: 2,
        },
      ),
    );
  }
  return new Promise((resolve, reject) => {
    const child = spawn(command, ['get'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    // Not spawn's `timeout`: its timer outlives a helper that failed to start (ENOENT).
    const timer = setTimeout(() => child.kill('SIGKILL'), HELPER_TIMEOUT_MS);
    timer.unref();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {}); // a helper that exits without reading stdin
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new RegistryError(
          'BUILDIT_REGISTRY_CREDENTIALS',
          error.code === 'ENOENT'
            ? `the credential helper ${command} is not on PATH`
            : `cannot run ${command}: ${error.message}`,
          {
            transient: false,
            cause: error,
            hint: `install ${command}, or remove "${name}" from credHelpers/credsStore in ~/.docker/config.json`,
          },
        ),
      );
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      // The helper's own error text (never its stdout, which would hold the secret).
      const stderr = Buffer.concat(err).toString('utf8').trim().split('\n')[0]?.slice(0, 200) ?? '';
      if (code === 0) return resolve(stdout);
      // docker-credential-helpers' "credentials not found in native keychain" (printed on stdout).
      if (/credentials not found/i.test(stdout) || /credentials not found/i.test(stderr))
        return resolve(undefined);
      reject(
        new RegistryError(
          'BUILDIT_REGISTRY_CREDENTIALS',
          `${command} get failed (${signal ?? `exit ${code}`})${stderr ? `: ${stderr}` : ''}`,
          { transient: false, hint: `check the helper: echo ${serverUrl} | ${command} get` },
        ),
      );
    });
    child.stdin.end(serverUrl);
  });
};
