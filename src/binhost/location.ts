/**
 * Binhost locations as users write them (SPEC §2.4), in the config's
 * `repository:` blocks and in `--discover=<locations and options>`.
 */
import path from 'node:path';
import { BuilditError, type SourceLocation } from '../errors.ts';
import type { RepositoryConfig } from '../config/schema/config.ts';
import { redactUrl } from '../util/redact.ts';
import type { Location } from './types.ts';

/** A configured or discovered binhost: where to read it, where to write it. */
export interface BinhostSpec {
  name: string;
  download?: Location;
  upload?: Location;
}

/**
 * `host[:port]/path` means https://host[:port]/path; full https://, http:// and
 * file:// URLs and sftp:// locations are taken as written. Plain http only
 * where the location says so (`http://…`, or download-type: http).
 */
export function parseDownload(
  text: string,
  options: { type?: 'https' | 'http' | 'file'; base: string; caFile?: string; where: SourceLocation },
): Location {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1]?.toLowerCase();
  const withCa = (l: Extract<Location, { kind: 'http' }>) =>
    options.caFile ? { ...l, caFile: options.caFile } : l;
  if (scheme === undefined) {
    if (options.type === 'file') return { kind: 'file', root: path.resolve(options.base, text) };
    return withCa({ kind: 'http', url: asBase(`${options.type ?? 'https'}://${text}`, options.where) });
  }
  if (scheme === 'https' || scheme === 'http')
    return withCa({ kind: 'http', url: asBase(text, options.where) });
  if (scheme === 'file') return { kind: 'file', root: fileUrlPath(text, options.where) };
  if (scheme === 'sftp' || scheme === 'ssh') return parseSftpUrl(text, options.where);
  throw new BuilditError('BUILDIT_BINHOST_LOCATION', `unsupported binhost location ${redactUrl(text)}`, {
    location: options.where,
    hint: 'use host/path (HTTPS), https://, http://, file:// or sftp://user@host:port/path',
  });
}

/** `[user@]host[:port]/path` (relative to the SFTP login folder; `//path` is absolute) or sftp://user@host:port/abs/path. */
export function parseUpload(
  text: string,
  options: { type?: 'ssh' | 'sftp' | 'file'; base: string; where: SourceLocation },
): Location {
  if (options.type === 'file' || /^file:\/\//i.test(text)) {
    return {
      kind: 'file',
      root: /^file:\/\//i.test(text) ? fileUrlPath(text, options.where) : path.resolve(options.base, text),
    };
  }
  if (/^(sftp|ssh):\/\//i.test(text)) return parseSftpUrl(text, options.where);
  const m = /^(?:([^@/]+)@)?([^/:]+)(?::(\d+))?(\/.*)?$/.exec(text);
  if (!m || !m[4] || m[4] === '/') {
    throw new BuilditError(
      'BUILDIT_BINHOST_LOCATION',
      `upload-path ${text}: expected [user@]host[:port]/path`,
      {
        location: options.where,
        hint: 'e.g. containers@mysuperbinhost.org/containers, or //srv/binhost for an absolute path',
      },
    );
  }
  const absolute = m[4].startsWith('//');
  return {
    kind: 'sftp',
    host: m[2]!,
    port: m[3] ? Number(m[3]) : 22,
    ...(m[1] ? { user: decodeURIComponent(m[1]) } : {}),
    path: absolute ? m[4].slice(1) : m[4].slice(1),
    absolute,
  };
}

function parseSftpUrl(text: string, where: SourceLocation): Location {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new BuilditError('BUILDIT_BINHOST_LOCATION', `bad sftp location ${redactUrl(text)}`, {
      location: where,
      hint: 'sftp://user@host:port/absolute/path',
    });
  }
  return {
    kind: 'sftp',
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 22,
    ...(url.username ? { user: decodeURIComponent(url.username) } : {}),
    path: decodeURIComponent(url.pathname) || '/',
    absolute: true,
  };
}

function asBase(text: string, where: SourceLocation): string {
  try {
    const url = new URL(text);
    if (!url.pathname.endsWith('/')) url.pathname += '/';
    return url.toString();
  } catch {
    throw new BuilditError('BUILDIT_BINHOST_LOCATION', `bad binhost URL ${redactUrl(text)}`, {
      location: where,
      hint: 'e.g. https://binhost.example.org/containers',
    });
  }
}

function fileUrlPath(text: string, where: SourceLocation): string {
  try {
    return decodeURIComponent(new URL(text).pathname);
  } catch {
    throw new BuilditError('BUILDIT_BINHOST_LOCATION', `bad file URL ${text}`, {
      location: where,
      hint: 'file:///absolute/path',
    });
  }
}

/** A `repository:` block of the config. */
export function fromRepository(
  repo: RepositoryConfig,
  configDir: string,
  where: SourceLocation,
): BinhostSpec {
  const resolve = (file: string | undefined) =>
    file ? path.resolve(configDir, file.replace(/^~(?=\/)/, process.env['HOME'] ?? '~')) : undefined;
  const caFile = resolve(repo['ca-file']);
  const identityFile = resolve(repo['identity-file']);
  const knownHosts = resolve(repo['known-hosts']);
  const upload = repo['upload-path']
    ? parseUpload(repo['upload-path'], {
        ...(repo['upload-type'] ? { type: repo['upload-type'] } : {}),
        base: configDir,
        where,
      })
    : undefined;
  const download = repo['download-path']
    ? parseDownload(repo['download-path'], {
        ...(repo['download-type'] ? { type: repo['download-type'] } : {}),
        base: configDir,
        ...(caFile ? { caFile } : {}),
        where,
      })
    : undefined;
  const withSsh = (l: Location | undefined): Location | undefined =>
    l?.kind === 'sftp'
      ? { ...l, ...(identityFile ? { identityFile } : {}), ...(knownHosts ? { knownHosts } : {}) }
      : l;
  return {
    name: repo.name,
    ...(download ? { download: withSsh(download)! } : {}),
    ...(upload ? { upload: withSsh(upload)! } : {}),
  };
}

export interface DiscoverSpec {
  locations: BinhostSpec[];
  push: boolean;
}

const DISCOVER_OPTIONS = ['push', 'ca-file'] as const;

/**
 * The seed's `--discover=github.com/sysadmin42/containers,push=True`: comma
 * separated locations and `key=value` options; booleans in any case.
 */
export function parseDiscover(specs: readonly string[], cwd: string): DiscoverSpec {
  const where = { file: '(--discover)' };
  const locations: string[] = [];
  let push = false;
  let caFile: string | undefined;
  for (const spec of specs) {
    for (const part of spec
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)) {
      // A location never starts with `word=` (no scheme or host has "="): such a part is an option.
      const option = /^([a-z][a-z-]*)=(.*)$/i.exec(part);
      if (!option) {
        locations.push(part);
        continue;
      }
      const key = option[1]!.toLowerCase();
      const value = option[2]!;
      if (key === 'push') push = parseBoolean(value, where);
      else if (key === 'ca-file') caFile = path.resolve(cwd, value);
      else {
        throw new BuilditError('BUILDIT_USAGE_DISCOVER', `--discover: unknown option "${option[1]!}"`, {
          hint: `options: ${DISCOVER_OPTIONS.join(', ')}; locations are host/path or URLs`,
        });
      }
    }
  }
  return {
    push,
    locations: locations.map((text) => ({
      name: redactUrl(text),
      download: parseDownload(text, { base: cwd, ...(caFile ? { caFile } : {}), where }),
    })),
  };
}

function parseBoolean(value: string, where: SourceLocation): boolean {
  const v = value.toLowerCase();
  if (['true', 'yes', '1', 'on'].includes(v)) return true;
  if (['false', 'no', '0', 'off'].includes(v)) return false;
  throw new BuilditError('BUILDIT_USAGE_DISCOVER', `--discover: "${value}" is not a boolean`, {
    location: where,
    hint: 'push=True or push=False',
  });
}
