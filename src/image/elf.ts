/**
 * A small ELF reader: the shared library a file is (DT_SONAME), the ones it needs (DT_NEEDED) and
 * its interpreter (PT_INTERP), for the image's library check. It reads what the dynamic loader
 * reads and nothing more: the ELF header, the program headers, PT_INTERP, PT_DYNAMIC, and the
 * strings DT_STRTAB points at, found through the PT_LOAD segments. Section headers are not read:
 * the loader ignores them, and a file without program headers (a relocatable object) needs nothing
 * at run time.
 *
 * Threat: the files come from package build outputs and binhost artifacts. Every region is checked
 * against the file's size before it is read, counts and lengths are capped, every loop is bounded
 * by a cap, and the file is read by positional reads, never whole. Content that does not fit gives
 * undefined ("not an ELF we understand"), never an exception; only I/O errors (the file cannot be
 * opened, a read fails) propagate, since they say nothing about the file.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

export interface ElfInfo {
  class: 32 | 64;
  /** e_type */
  type: 'exec' | 'dyn' | 'rel' | 'core' | 'other';
  /** e_machine */
  machine: number;
  /** DT_SONAME */
  soname?: string;
  /** DT_NEEDED in file order */
  needed: string[];
  /** PT_INTERP */
  interpreter?: string;
}

/** Real files have a dozen program headers and a few dozen dynamic entries. */
const MAX_PROGRAM_HEADERS = 256;
const MAX_DYNAMIC_ENTRIES = 4096;
/** Bytes of a name, its NUL excluded. */
const MAX_STRING = 4096;

const MAGIC = 0x7f454c46; // \x7fELF, read big-endian
const TYPES: Record<number, ElfInfo['type']> = { 1: 'rel', 2: 'exec', 3: 'dyn', 4: 'core' };
const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0n;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;
const DT_STRSZ = 10n;
const DT_SONAME = 14n;

/** Reads only the parts it needs via positional reads on an open file (no whole-file read). undefined: not ELF or malformed. */
export async function readElf(file: string): Promise<ElfInfo | undefined> {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused as no regular file).
  const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    return await readElfHandle(handle);
  } finally {
    await handle.close();
  }
}

/** readElf on a file the caller opened (and closes), e.g. with O_NOFOLLOW. */
export async function readElfHandle(handle: FileHandle): Promise<ElfInfo | undefined> {
  const stat = await handle.stat();
  if (!stat.isFile()) return undefined;
  try {
    return await parse(new Source(handle, stat.size));
  } catch (error) {
    if (error instanceof NotElf) return undefined;
    throw error;
  }
}

/** Thrown inside the parser for anything out of bounds, over a cap or inconsistent. */
class NotElf extends Error {}

async function parse(source: Source): Promise<ElfInfo> {
  const ident = await source.bytes(0, 16);
  if (ident.readUInt32BE(0) !== MAGIC) throw new NotElf();
  const [cls, data, version] = [ident[4], ident[5], ident[6]];
  if ((cls !== 1 && cls !== 2) || (data !== 1 && data !== 2) || version !== 1) throw new NotElf();
  const format: Format = { le: data === 1, is64: cls === 2 };
  const is64 = format.is64;
  const view = (buffer: Buffer): Fields => new Fields(buffer, format);

  const header = view(await source.bytes(0, is64 ? 64 : 52));
  const info: ElfInfo = {
    class: is64 ? 64 : 32,
    type: TYPES[header.u16(16)] ?? 'other',
    machine: header.u16(18),
    needed: [],
  };
  const phoff = header.word(is64 ? 32 : 28);
  const phentsize = header.u16(is64 ? 54 : 42);
  const phnum = header.u16(is64 ? 56 : 44);
  if (phnum === 0) return info;
  // 0xffff (PN_XNUM, the real count in a section header) is over the cap as well.
  if (phnum > MAX_PROGRAM_HEADERS || phentsize !== (is64 ? 56 : 32)) throw new NotElf();

  const table = view(await source.bytes(offset(phoff), phnum * phentsize));
  const loads: Segment[] = [];
  let dynamic: Segment | undefined;
  let interp: Segment | undefined;
  for (let at = 0; at < phnum * phentsize; at += phentsize) {
    const segment = {
      offset: table.word(at + (is64 ? 8 : 4)),
      vaddr: table.word(at + (is64 ? 16 : 8)),
      filesz: table.word(at + (is64 ? 32 : 16)),
    };
    const type = table.u32(at);
    if (type === PT_LOAD) loads.push(segment);
    else if (type === PT_DYNAMIC) dynamic ??= segment;
    else if (type === PT_INTERP) interp ??= segment;
  }
  if (interp) info.interpreter = await source.string(offset(interp.offset), offset(interp.filesz));
  if (dynamic) {
    const { soname, needed } = await readDynamic(source, format, dynamic, loads);
    if (soname !== undefined) info.soname = soname;
    info.needed = needed;
  }
  return info;
}

/** Addresses, offsets and sizes as in the file: 32 or 64 bits, unsigned. */
interface Segment {
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
}

/** DT_NEEDED and DT_SONAME of the dynamic table, their names read from DT_STRTAB. */
async function readDynamic(
  source: Source,
  format: Format,
  dynamic: Segment,
  loads: readonly Segment[],
): Promise<{ soname?: string; needed: string[] }> {
  const size = format.is64 ? 16 : 8;
  const entries = dynamic.filesz / BigInt(size);
  const capped = entries > BigInt(MAX_DYNAMIC_ENTRIES);
  const count = capped ? MAX_DYNAMIC_ENTRIES : Number(entries);
  const table = new Fields(await source.bytes(offset(dynamic.offset), count * size), format);
  const needed: bigint[] = [];
  let soname: bigint | undefined;
  let strtab: bigint | undefined;
  let strsz: bigint | undefined;
  let terminated = false;
  for (let at = 0; at < count * size && !terminated; at += size) {
    const tag = table.tag(at);
    const value = table.word(at + size / 2);
    if (tag === DT_NULL) terminated = true;
    else if (tag === DT_NEEDED) needed.push(value);
    else if (tag === DT_SONAME) soname ??= value;
    else if (tag === DT_STRTAB) strtab ??= value;
    else if (tag === DT_STRSZ) strsz ??= value;
  }
  // Past the cap without its end: a table this long is no real file's.
  if (!terminated && capped) throw new NotElf();
  if (needed.length === 0 && soname === undefined) return { needed: [] };
  if (strtab === undefined) throw new NotElf();

  const strings = stringTable(strtab, strsz, loads);
  const name = (index: bigint): Promise<string> => {
    if (index >= strings.size) throw new NotElf();
    return source.string(offset(strings.offset + index), offset(strings.size - index));
  };
  const result: { soname?: string; needed: string[] } = { needed: [] };
  for (const index of needed) result.needed.push(await name(index));
  if (soname !== undefined) result.soname = await name(soname);
  return result;
}

/** Where DT_STRTAB's address lies in the file: the PT_LOAD segment that maps it, up to DT_STRSZ. */
function stringTable(
  address: bigint,
  strsz: bigint | undefined,
  loads: readonly Segment[],
): { offset: bigint; size: bigint } {
  for (const load of loads) {
    if (address < load.vaddr || address - load.vaddr >= load.filesz) continue;
    const into = address - load.vaddr;
    const rest = load.filesz - into;
    return { offset: load.offset + into, size: strsz !== undefined && strsz < rest ? strsz : rest };
  }
  throw new NotElf();
}

/** A file position or length as a number; anything past 2^53 is past the end of any file. */
function offset(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new NotElf();
  return Number(value);
}

/** EI_DATA and EI_CLASS: the byte order and the width of addresses, offsets and sizes. */
interface Format {
  le: boolean;
  is64: boolean;
}

/** Fixed-size fields of a header or table, in the file's format. */
class Fields {
  private readonly le: boolean;
  private readonly is64: boolean;

  constructor(
    private readonly buffer: Buffer,
    format: Format,
  ) {
    this.le = format.le;
    this.is64 = format.is64;
  }

  u16(at: number): number {
    return this.le ? this.buffer.readUInt16LE(at) : this.buffer.readUInt16BE(at);
  }

  u32(at: number): number {
    return this.le ? this.buffer.readUInt32LE(at) : this.buffer.readUInt32BE(at);
  }

  /** Elf32_Addr/Off/Word or Elf64_Addr/Off/Xword. */
  word(at: number): bigint {
    if (!this.is64) return BigInt(this.u32(at));
    return this.le ? this.buffer.readBigUInt64LE(at) : this.buffer.readBigUInt64BE(at);
  }

  /** d_tag: Elf32_Sword or Elf64_Sxword. */
  tag(at: number): bigint {
    if (!this.is64) return BigInt(this.le ? this.buffer.readInt32LE(at) : this.buffer.readInt32BE(at));
    return this.le ? this.buffer.readBigInt64LE(at) : this.buffer.readBigInt64BE(at);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The open file, read only inside its size. */
class Source {
  constructor(
    private readonly handle: FileHandle,
    private readonly size: number,
  ) {}

  /** Exactly `length` bytes at `at`; callers keep `length` small (the caps above). */
  async bytes(at: number, length: number): Promise<Buffer> {
    if (at < 0 || length < 0 || at + length > this.size) throw new NotElf();
    const buffer = Buffer.alloc(length);
    for (let done = 0; done < length;) {
      const { bytesRead } = await this.handle.read(buffer, done, length - done, at + done);
      if (bytesRead === 0) throw new NotElf(); // shrank since stat: not a file to trust either
      done += bytesRead;
    }
    return buffer;
  }

  /** A NUL-terminated, non-empty UTF-8 name starting at `at`, its NUL within `room` bytes. */
  async string(at: number, room: number): Promise<string> {
    const length = Math.min(room, MAX_STRING + 1, this.size - at);
    const bytes = await this.bytes(at, length);
    const end = bytes.indexOf(0);
    if (end <= 0) throw new NotElf();
    try {
      return utf8.decode(bytes.subarray(0, end));
    } catch {
      throw new NotElf();
    }
  }
}
