/**
 * The binhosts of one run: the configured repositories and --discover
 * locations to look things up on (in that order), the repository to publish
 * to with --push, and the keys that decide what is trusted.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { BuilditConfig } from '../config/types.ts';
import { BuilditError, type SourceLocation } from '../errors.ts';
import { parsePublicKey, parseSecretKey, type PublicKey, type SecretKey } from '../trust/keys.ts';
import { fromRepository, parseDiscover, type BinhostSpec } from './location.ts';
import { openBinhost } from './open.ts';
import type { Upload } from './publish.ts';
import { RemoteBinhost } from './remote.ts';
import type { BinhostBackend } from './types.ts';

export interface BinhostOptions {
  discover: readonly string[];
  push: boolean;
  offline: boolean;
  cwd: string;
  env: NodeJS.ProcessEnv;
}

export interface Binhosts {
  lookup: RemoteBinhost[];
  upload?: Upload;
  close(): Promise<void>;
}

export async function openBinhosts(config: BuilditConfig, options: BinhostOptions): Promise<Binhosts> {
  const discover = parseDiscover(options.discover, options.cwd);
  const push = options.push || discover.push;
  if (options.offline && (push || discover.locations.length > 0)) {
    throw new BuilditError(
      'BUILDIT_USAGE_OFFLINE',
      '--offline cannot be combined with --push or --discover',
      {
        hint: '--offline uses the local store only',
      },
    );
  }
  const configDir = config.file ? path.dirname(config.file) : options.cwd;
  const specs: BinhostSpec[] = config.repositories.map((repo, i) =>
    fromRepository(
      repo,
      configDir,
      config.locate(config.repositories.length > 1 ? ['repositories', i] : ['repository']),
    ),
  );
  const signer = config.signingKey
    ? await loadSecretKey(path.resolve(configDir, config.signingKey), config.locate(['signing-key']))
    : undefined;
  const trusted = await loadTrustedKeys(config, configDir);
  if (signer) trusted.push(parsePublicKey(signer.publicLine, { file: config.file ?? '(config)' }));

  const opened: BinhostBackend[] = [];
  const open = (location: Parameters<typeof openBinhost>[0]) => {
    const backend = openBinhost(location, { env: options.env });
    opened.push(backend);
    return backend;
  };
  const lookup = options.offline
    ? []
    : [...specs, ...discover.locations]
        .filter((s) => s.download)
        .map((s) => new RemoteBinhost(s.name, open(s.download!), trusted));

  let upload: Upload | undefined;
  if (push) {
    const target = specs.find((s) => s.upload);
    if (!target) {
      throw new BuilditError(
        'BUILDIT_PUSH_NO_REPOSITORY',
        'push asked for, but no repository has an upload-path',
        {
          location: config.file ? { file: config.file } : { file: '(no .buildit-config.yaml)' },
          hint: 'add a repository: block with upload-type and upload-path to .buildit-config.yaml',
        },
      );
    }
    upload = { name: target.name, backend: open(target.upload!), ...(signer ? { signer } : {}) };
  }
  return {
    lookup,
    ...(upload ? { upload } : {}),
    close: async () => {
      await Promise.all(opened.map((b) => b.close()));
    },
  };
}

async function loadSecretKey(file: string, where: SourceLocation): Promise<SecretKey> {
  return parseSecretKey(await readKeyFile(file, where), { file });
}

/** `trusted-keys:` entries are `NAME:base64` lines or files of such lines (relative to the config). */
async function loadTrustedKeys(config: BuilditConfig, configDir: string): Promise<PublicKey[]> {
  const keys: PublicKey[] = [];
  for (const [i, entry] of config.trustedKeys.entries()) {
    const where = config.locate(['trusted-keys', i]);
    if (/^[A-Za-z0-9][A-Za-z0-9._+-]*:[A-Za-z0-9+/]+=*$/.test(entry.trim())) {
      keys.push(parsePublicKey(entry, where));
      continue;
    }
    const file = path.resolve(configDir, entry);
    for (const line of (await readKeyFile(file, where)).split('\n').filter((l) => l.trim()))
      keys.push(parsePublicKey(line, { file }));
  }
  return keys;
}

async function readKeyFile(file: string, where: SourceLocation): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new BuilditError(
      'BUILDIT_KEY_MISSING',
      `key file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      {
        location: where,
        hint: 'create one with `buildit keygen NAME`; paths are relative to the config file',
      },
    );
  }
}
