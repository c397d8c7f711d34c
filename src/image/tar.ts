import { Readable } from 'node:stream';

/** Numeric owner; 0 when absent. User and group names are never written (SPEC §6). */
export interface TarOwner {
  uid?: number;
  gid?: number;
}

export type TarEntry = TarOwner &
  (
    | { path: string; type: 'dir'; mode: number }
    | {
        path: string;
        type: 'file';
        mode: number;
        size: number;
        open: () => NodeJS.ReadableStream | Readable;
      }
    | { path: string; type: 'symlink'; mode: number; target: string }
    // target is the path of an earlier file or symlink entry.
    | { path: string; type: 'hardlink'; mode: number; target: string }
  );

export interface TarOptions {
  /** Seconds since the epoch (SOURCE_DATE_EPOCH), written as every entry's mtime. */
  mtime: number;
}

const BLOCK = 512;
const TYPEFLAG = { file: '0', hardlink: '1', symlink: '2', dir: '5', pax: 'x' } as const;
// ustar's 12-byte size field holds 11 octal digits: anything from 8 GiB up needs a PAX size record.
const MAX_OCTAL_11 = 0o77777777777;
// The 8-byte uid and gid fields hold 7 octal digits; larger ids go into PAX records.
const MAX_OCTAL_7 = 0o7777777;
// Linux ids are 32-bit; anything larger is a caller's mistake, not an id.
const MAX_ID = 0xffffffff;

/**
 * Streams a deterministic ustar archive: the same entries and options always give the same bytes.
 * Nothing about the packing host (owner, time, umask, pid) reaches the output, which is why this
 * is ours and not node-tar: that one cannot write uid/gid 0 with the exact mode bits and a fixed
 * PAX header name. File contents are streamed, so memory does not grow with file size.
 */
export function tarStream(
  entries: Iterable<TarEntry> | AsyncIterable<TarEntry>,
  options: TarOptions,
): Readable {
  if (!Number.isInteger(options.mtime) || options.mtime < 0 || options.mtime > MAX_OCTAL_11) {
    throw new Error(`tar: mtime ${options.mtime} is not a whole number of seconds in the ustar range`);
  }
  return Readable.from(coalesce(generate(entries, options.mtime)), { objectMode: false });
}

const BATCH = 64 * 1024;

/**
 * Joins small chunks (512-byte headers, small files, padding) into ~64 KiB ones: every chunk costs
 * a trip through the stream machinery and zlib, and a tree of small files is mostly small chunks
 * (measured: 20,000 ten-byte files gzip'd 2x faster so). Bytes and order are unchanged.
 */
async function* coalesce(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let size = 0;
  for await (const chunk of chunks) {
    if (chunk.length >= BATCH) {
      if (size > 0) yield Buffer.concat(pending, size);
      pending = [];
      size = 0;
      yield chunk;
      continue;
    }
    pending.push(chunk);
    size += chunk.length;
    if (size >= BATCH) {
      yield Buffer.concat(pending, size);
      pending = [];
      size = 0;
    }
  }
  if (size > 0) yield Buffer.concat(pending, size);
}

async function* generate(
  entries: Iterable<TarEntry> | AsyncIterable<TarEntry>,
  mtime: number,
): AsyncGenerator<Buffer> {
  const seen = new Map<string, TarEntry['type']>();
  for await (const entry of entries) {
    const path = checkEntry(entry, seen);
    const size = entry.type === 'file' ? entry.size : 0;
    const target = entry.type === 'symlink' || entry.type === 'hardlink' ? entry.target : '';
    const owner = { uid: entry.uid ?? 0, gid: entry.gid ?? 0 };
    yield* headers(path, entry.type, entry.mode & 0o7777, owner, size, target, mtime);
    if (entry.type === 'file') {
      yield* contents(entry.path, entry.size, entry.open());
    }
  }
  // End of archive: two zero blocks.
  yield Buffer.alloc(2 * BLOCK);
}

/** Rejects entries that would make an ambiguous or unsafe archive; returns the path as written. */
function checkEntry(entry: TarEntry, seen: Map<string, TarEntry['type']>): string {
  const bare = entry.type === 'dir' ? entry.path.replace(/\/+$/, '') : entry.path;
  const parts = bare.split('/');
  if (bare === '' || bare.includes('\0') || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new Error(`tar: invalid entry path ${JSON.stringify(entry.path)}: must be relative and normalized`);
  }
  if (seen.has(bare)) throw new Error(`tar: duplicate entry ${JSON.stringify(bare)}`);
  if (!Number.isInteger(entry.mode) || entry.mode < 0) {
    throw new Error(`tar: ${bare}: invalid mode ${entry.mode}`);
  }
  for (const [name, id] of [
    ['uid', entry.uid],
    ['gid', entry.gid],
  ] as const) {
    if (id !== undefined && (!Number.isInteger(id) || id < 0 || id > MAX_ID)) {
      throw new Error(`tar: ${bare}: invalid ${name} ${id}`);
    }
  }
  if (entry.type === 'file' && (!Number.isSafeInteger(entry.size) || entry.size < 0)) {
    throw new Error(`tar: ${bare}: invalid size ${entry.size}`);
  }
  if (entry.type === 'symlink' && (entry.target === '' || entry.target.includes('\0'))) {
    throw new Error(`tar: ${bare}: invalid symlink target ${JSON.stringify(entry.target)}`);
  }
  if (entry.type === 'hardlink') {
    const kind = seen.get(entry.target);
    // Readers resolve a hardlink against what they already extracted, so the target must come first.
    if (kind !== 'file' && kind !== 'symlink') {
      throw new Error(`tar: ${bare}: hardlink target ${JSON.stringify(entry.target)} is not an earlier file`);
    }
  }
  seen.set(bare, entry.type === 'hardlink' ? 'file' : entry.type);
  return entry.type === 'dir' ? `${bare}/` : bare;
}

function* headers(
  path: string,
  type: TarEntry['type'],
  mode: number,
  owner: { uid: number; gid: number },
  size: number,
  target: string,
  mtime: number,
): Generator<Buffer> {
  const pathBytes = Buffer.from(path, 'utf8');
  const targetBytes = Buffer.from(target, 'utf8');
  const split = splitUstarName(pathBytes);
  const records: [string, string][] = [];
  if (!split) records.push(['path', path]);
  if (targetBytes.length > 100 || !isAscii(targetBytes)) records.push(['linkpath', target]);
  if (size > MAX_OCTAL_11) records.push(['size', String(size)]);
  if (owner.uid > MAX_OCTAL_7) records.push(['uid', String(owner.uid)]);
  if (owner.gid > MAX_OCTAL_7) records.push(['gid', String(owner.gid)]);

  if (records.length > 0) {
    const body = Buffer.from(records.map(([k, v]) => paxRecord(k, v)).join(''), 'utf8');
    const pax = { uid: 0, gid: 0, size: body.length, type: 'x', link: '', mtime };
    yield header({ name: paxName(path), prefix: '', mode, ...pax });
    yield body;
    yield padding(body.length);
  }
  // Pre-PAX readers still get the best approximation we can give; PAX readers override it.
  const { name, prefix } = split ?? { name: pathBytes.subarray(0, 100).toString('latin1'), prefix: '' };
  const link = targetBytes.subarray(0, 100).toString('latin1');
  const uid = Math.min(owner.uid, MAX_OCTAL_7);
  const gid = Math.min(owner.gid, MAX_OCTAL_7);
  yield header({ name, prefix, mode, uid, gid, size, type: TYPEFLAG[type], link, mtime });
}

/** ustar keeps up to 155 bytes of folder in `prefix` and 100 bytes in `name`; null when it can't fit. */
function splitUstarName(bytes: Buffer): { name: string; prefix: string } | null {
  if (!isAscii(bytes)) return null;
  const text = bytes.toString('latin1');
  if (bytes.length <= 100) return { name: text, prefix: '' };
  // A folder's trailing slash stays in `name`; search slashes before it.
  for (let i = text.lastIndexOf('/', text.length - 2); i > 0; i = text.lastIndexOf('/', i - 1)) {
    if (text.length - i - 1 > 100) break;
    if (i <= 155) return { name: text.slice(i + 1), prefix: text.slice(0, i) };
  }
  return null;
}

/** A fixed name (GNU tar would put its pid in it), ASCII so that every reader can show it. */
function paxName(path: string): string {
  const base = path.replace(/\/$/, '').split('/').pop() ?? '';
  return `PaxHeader/${base.replace(/[^\x20-\x7e]/g, '_')}`.slice(0, 100);
}

/** "<len> <key>=<value>\n", where len counts its own digits. */
function paxRecord(key: string, value: string): string {
  const rest = Buffer.byteLength(` ${key}=${value}\n`, 'utf8');
  let len = rest + String(rest).length;
  if (String(len).length !== String(rest).length) len = rest + String(len).length;
  return `${len} ${key}=${value}\n`;
}

interface HeaderFields {
  name: string; // latin1: one char per byte
  prefix: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  type: string;
  link: string;
  mtime: number;
}

function header(h: HeaderFields): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(h.name, 0, 100, 'latin1');
  octal(b, 100, 8, h.mode);
  octal(b, 108, 8, h.uid);
  octal(b, 116, 8, h.gid);
  if (h.size > MAX_OCTAL_11) base256(b, 124, 12, h.size);
  else octal(b, 124, 12, h.size);
  octal(b, 136, 12, h.mtime);
  b.write(h.type, 156, 1, 'latin1');
  b.write(h.link, 157, 100, 'latin1');
  b.write('ustar\0' + '00', 257, 8, 'latin1');
  // uname and gname stay empty so that no host user name leaks in.
  octal(b, 329, 8, 0); // devmajor
  octal(b, 337, 8, 0); // devminor
  b.write(h.prefix, 345, 155, 'latin1');
  b.fill(0x20, 148, 156); // the checksum is summed with its own field as spaces
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return b;
}

function octal(b: Buffer, offset: number, width: number, value: number): void {
  b.write(value.toString(8).padStart(width - 1, '0') + '\0', offset, width, 'latin1');
}

/** GNU base-256 numbers, so pre-PAX readers still see a huge size right. */
function base256(b: Buffer, offset: number, width: number, value: number): void {
  for (let i = offset + width - 1, v = value; i > offset; i--, v = Math.floor(v / 256)) b[i] = v % 256;
  b[offset] = 0x80;
}

function isAscii(bytes: Buffer): boolean {
  return bytes.every((c) => c < 0x80);
}

function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** The file's bytes, failing if it does not hold exactly `size` (it changed while we packed). */
async function* contents(
  path: string,
  size: number,
  stream: NodeJS.ReadableStream | Readable,
): AsyncGenerator<Buffer> {
  let written = 0;
  for await (const chunk of stream) {
    if (typeof chunk === 'string') throw new Error(`tar: ${path}: open() must give bytes, not text`);
    written += chunk.length;
    if (written > size) throw changed(path, size, 'more');
    yield chunk;
  }
  if (written !== size) throw changed(path, size, `only ${written}`);
  yield padding(size);
}

function changed(path: string, size: number, got: string): Error {
  return new Error(
    `tar: ${path}: expected ${size} bytes but read ${got} (did the file change while packing?)`,
  );
}
