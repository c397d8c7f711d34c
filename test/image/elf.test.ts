import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { readElf, type ElfInfo } from '../../src/image/elf.ts';
import { runTool } from '../helpers/tools.ts';
import { testdir } from '../helpers/testdir.ts';

/** e_machine of the files gcc makes here, by process.arch (64-bit hosts). */
const EM: Partial<Record<string, number>> = {
  x64: 62,
  arm64: 183,
  riscv64: 243,
  ppc64: 21,
  s390x: 22,
  loong64: 258,
};
const MACHINE = EM[process.arch];

// Real files from the real toolchain, built once for the whole file.
const dir = testdir({
  'demo.c': '#include <string.h>\nint demo(const char *s) { return (int)strlen(s); }\n',
  'prog.c':
    '#include <stdio.h>\nint demo(const char *s);\nint main(void) { puts("hi"); return demo("x"); }\n',
  'static.c': 'int main(void) { return 0; }\n',
});
const so = join(dir, 'libdemo.so.1.0');
const prog = join(dir, 'prog');
const staticProg = join(dir, 'static');
const object = join(dir, 'static.o');

before(() => {
  assert.ok(MACHINE !== undefined, `no e_machine known for ${process.arch}: add it to EM`);
  const cc = (...args: string[]) => runTool('cc', args, { cwd: dir });
  cc('-shared', '-fPIC', '-Wl,-soname,libdemo.so.1', '-o', so, 'demo.c');
  cc('-fPIE', '-pie', '-o', prog, 'prog.c', so);
  cc('-static', '-o', staticProg, 'static.c');
  cc('-c', '-o', object, 'static.c');
});

test('a shared library: its soname and what it needs', async () => {
  assert.deepEqual(await readElf(so), {
    class: 64,
    type: 'dyn',
    machine: MACHINE,
    soname: 'libdemo.so.1',
    needed: ['libc.so.6'],
  });
});

test('a dynamic program: its needs in file order and its interpreter', async () => {
  const info = await readElf(prog);
  assert.equal(info?.type, 'dyn'); // a PIE
  assert.equal(info?.soname, undefined);
  assert.deepEqual(info?.needed, ['libdemo.so.1', 'libc.so.6']);
  assert.equal(info?.interpreter, readelf(prog).interpreter);
  assert.match(info?.interpreter ?? '', /^\/lib.*\/ld-linux.*\.so\.\d$/);
});

test('a static program and a relocatable object need nothing', async () => {
  assert.deepEqual(await readElf(staticProg), { class: 64, type: 'exec', machine: MACHINE, needed: [] });
  assert.deepEqual(await readElf(object), { class: 64, type: 'rel', machine: MACHINE, needed: [] });
});

test('readelf agrees on the interpreter, the C library and node itself', async () => {
  const libc = runTool('cc', ['-print-file-name=libc.so.6']).stdout.trim();
  for (const file of [readelf(prog).interpreter!, libc, process.execPath]) {
    const info = await readElf(file);
    assert.deepEqual({ soname: info?.soname, needed: info?.needed }, readelf(file).dynamic, file);
  }
});

test('32- and 64-bit, little- and big-endian headers made by hand', async () => {
  const root = testdir();
  for (const is64 of [false, true]) {
    for (const le of [true, false]) {
      const spec = {
        is64,
        le,
        type: 3,
        machine: 0x1234,
        soname: 'libhand.so.2',
        needed: ['libone.so.1', 'libtwo.so.7'],
        interpreter: '/lib/ld-hand.so.1',
      };
      const file = join(root, `hand-${is64 ? 64 : 32}-${le ? 'le' : 'be'}`);
      writeFileSync(file, handmade(spec).bytes);
      const info = await readElf(file);
      assert.deepEqual(info, {
        class: is64 ? 64 : 32,
        type: 'dyn',
        machine: 0x1234,
        soname: 'libhand.so.2',
        needed: ['libone.so.1', 'libtwo.so.7'],
        interpreter: '/lib/ld-hand.so.1',
      } satisfies ElfInfo);
      // The file is a real ELF, not only one that this reader agrees with.
      assert.deepEqual(readelf(file), {
        dynamic: { soname: 'libhand.so.2', needed: ['libone.so.1', 'libtwo.so.7'] },
        interpreter: '/lib/ld-hand.so.1',
      });
    }
  }
});

test('what is not an ELF file, or not one to understand, is undefined', async () => {
  const root = testdir({
    text: 'hello\n',
    empty: '',
    'magic-only': '\x7fELF',
  });
  const random = prng(7);
  writeFileSync(join(root, 'garbage'), Buffer.concat([Buffer.from('\x7fELF', 'latin1'), random.bytes(4096)]));
  mkdirSync(join(root, 'folder'));
  spawnSync('mkfifo', [join(root, 'fifo')]);
  // Class 3, byte order 3, version 2: nothing this reader knows.
  const bytes = handmade({ is64: true, le: true }).bytes;
  for (const [at, value] of [
    [4, 3],
    [5, 3],
    [6, 2],
  ] as const) {
    const copy = Buffer.from(bytes);
    copy[at] = value;
    writeFileSync(join(root, `ident-${at}`), copy);
  }
  for (const name of [
    'text',
    'empty',
    'magic-only',
    'garbage',
    'folder',
    'fifo',
    'ident-4',
    'ident-5',
    'ident-6',
  ]) {
    assert.equal(await readElf(join(root, name)), undefined, name);
  }
  await assert.rejects(readElf(join(root, 'missing')), { code: 'ENOENT' });
});

test('a truncated library reads as itself or as nothing, never as something else', async () => {
  const whole = readFileSync(so);
  const expected = await readElf(so);
  const file = join(testdir(), 'cut.so');
  let undefinedSeen = 0;
  for (let length = 0; length < whole.length; length += 61) {
    writeFileSync(file, whole.subarray(0, length));
    const info = await readElf(file);
    if (info === undefined) undefinedSeen++;
    else assert.deepEqual(info, expected, `cut at ${length}`);
  }
  assert.ok(undefinedSeen > 10);
});

test('damaged copies never throw, and every answer is well formed', async () => {
  const whole = readFileSync(so);
  const random = prng(42);
  const file = join(testdir(), 'damaged.so');
  for (let round = 0; round < 400; round++) {
    const copy = Buffer.from(whole);
    for (let flips = 1 + random.below(8); flips > 0; flips--) {
      // Half the damage goes to the headers, where it matters most.
      const at = random.below(2) === 0 ? random.below(1024) : random.below(copy.length);
      copy[at] = random.below(256);
    }
    writeFileSync(file, copy);
    const info = await readElf(file);
    if (info === undefined) continue;
    assert.ok(
      info.needed.every((name) => typeof name === 'string' && name.length > 0 && name.length <= 4096),
    );
  }
});

test('hostile headers: every count, offset and length is bounded', async () => {
  const root = testdir();
  const cases: [string, Buffer, ElfInfo | undefined][] = [];
  const base = { is64: true, le: true, needed: ['libx.so.1'] };

  const xnum = handmade(base);
  xnum.write.u16(56, 0xffff); // e_phnum: PN_XNUM
  cases.push(['phnum 0xffff', xnum.bytes, undefined]);

  const far = handmade(base);
  far.write.word(32, 2n ** 63n); // e_phoff far past any file
  cases.push(['phoff 2^63', far.bytes, undefined]);

  const unmapped = handmade({ ...base, strtabAddress: 0x7000_0000n });
  cases.push(['DT_STRTAB outside every PT_LOAD', unmapped.bytes, undefined]);

  const short = handmade({ ...base, strsz: 3 });
  cases.push(['DT_NEEDED past DT_STRSZ', short.bytes, undefined]);

  const longest = 'l'.repeat(4096);
  cases.push([
    'a name of 4096 bytes',
    handmade({ ...base, needed: [longest] }).bytes,
    { class: 64, type: 'dyn', machine: 62, needed: [longest] },
  ]);
  cases.push(['a name of 4097 bytes', handmade({ ...base, needed: ['l'.repeat(4097)] }).bytes, undefined]);

  const many = Array.from({ length: 4000 }, (_, i) => `lib${i}.so`);
  const manyInfo = { class: 64, type: 'dyn', machine: 62, needed: many } as const;
  cases.push(['4000 dynamic entries', handmade({ ...base, needed: many }).bytes, manyInfo]);
  const tooMany = Array.from({ length: 5000 }, (_, i) => `lib${i}.so`);
  cases.push(['5000 dynamic entries', handmade({ ...base, needed: tooMany }).bytes, undefined]);

  const invalid = handmade({ ...base, needed: ['lib\xff.so'] });
  cases.push(['a name that is not UTF-8', invalid.bytes, undefined]);

  for (const [what, bytes, expected] of cases) {
    const file = join(root, what.replace(/\W+/g, '-'));
    writeFileSync(file, bytes);
    assert.deepEqual(await readElf(file), expected, what);
  }
});

/** The shared libraries and interpreter as binutils' readelf sees them. */
function readelf(file: string): {
  dynamic: { soname: string | undefined; needed: string[] };
  interpreter?: string;
} {
  const r = spawnSync('readelf', ['-d', '-l', '-W', file], { encoding: 'utf8' });
  if (r.error) assert.fail(`readelf failed to start: run \`apt-get install binutils\` (${r.error.message})`);
  const out = r.stdout;
  const interpreter = /Requesting program interpreter: (.*)\]/.exec(out)?.[1];
  const dynamic = {
    soname: /\(SONAME\)\s+Library soname: \[(.*)\]/.exec(out)?.[1],
    needed: [...out.matchAll(/\(NEEDED\)\s+Shared library: \[(.*)\]/g)].map((m) => m[1]!),
  };
  return interpreter === undefined ? { dynamic } : { dynamic, interpreter };
}

interface Handmade {
  is64: boolean;
  le: boolean;
  /** e_type, 3 (ET_DYN) unless given. */
  type?: number;
  machine?: number;
  soname?: string;
  needed?: string[];
  interpreter?: string;
  /** DT_STRTAB's value instead of the string table's address. */
  strtabAddress?: bigint;
  /** DT_STRSZ's value instead of the string table's size. */
  strsz?: number;
}

/**
 * A minimal loadable ELF, as a linker would lay it out: the header, the program headers (PT_INTERP,
 * one PT_LOAD mapping the whole file at 0x10000, PT_DYNAMIC), the interpreter, the string table
 * and the dynamic table. No sections: the loader needs none.
 */
function handmade(spec: Handmade): { bytes: Buffer; write: Writer } {
  const { is64 } = spec;
  const base = 0x10000n;
  const [ehsize, phentsize, dynent] = is64 ? [64, 56, 16] : [52, 32, 8];
  const interp = spec.interpreter === undefined ? undefined : Buffer.from(`${spec.interpreter}\0`, 'latin1');
  const phnum = interp ? 3 : 2;
  const names = [...(spec.needed ?? []), ...(spec.soname === undefined ? [] : [spec.soname])];
  const index = new Map<string, number>();
  let strings = Buffer.from([0]);
  for (const name of names) {
    index.set(name, strings.length);
    strings = Buffer.concat([strings, Buffer.from(`${name}\0`, 'latin1')]);
  }
  const dynamic: [bigint, bigint][] = (spec.needed ?? []).map((n) => [1n, BigInt(index.get(n)!)]);
  if (spec.soname !== undefined) dynamic.push([14n, BigInt(index.get(spec.soname)!)]);
  const interpAt = ehsize + phnum * phentsize;
  const strAt = interpAt + (interp?.length ?? 0);
  const dynAt = Math.ceil((strAt + strings.length) / 8) * 8;
  dynamic.push(
    [5n, spec.strtabAddress ?? base + BigInt(strAt)],
    [10n, BigInt(spec.strsz ?? strings.length)],
    [0n, 0n],
  );
  const size = dynAt + dynamic.length * dynent;

  const bytes = Buffer.alloc(size);
  const w = writer(bytes, spec);
  bytes.write('\x7fELF', 0, 'latin1');
  bytes[4] = is64 ? 2 : 1;
  bytes[5] = spec.le ? 1 : 2;
  bytes[6] = 1;
  w.u16(16, spec.type ?? 3);
  w.u16(18, spec.machine ?? 62);
  w.u32(20, 1);
  w.word(is64 ? 32 : 28, BigInt(ehsize)); // e_phoff
  w.u16(is64 ? 52 : 40, ehsize);
  w.u16(is64 ? 54 : 42, phentsize);
  w.u16(is64 ? 56 : 44, phnum);
  w.u16(is64 ? 58 : 46, is64 ? 64 : 40); // e_shentsize; e_shnum stays 0

  const segments: [number, number, number][] = []; // p_type, offset, size
  if (interp) segments.push([3, interpAt, interp.length]);
  segments.push([1, 0, size], [2, dynAt, dynamic.length * dynent]);
  for (const [i, [type, offset, filesz]] of segments.entries()) {
    const at = ehsize + i * phentsize;
    w.u32(at, type);
    w.u32(at + (is64 ? 4 : 24), type === 1 ? 5 : 4); // p_flags: R+X for the load, R otherwise
    w.word(at + (is64 ? 8 : 4), BigInt(offset));
    w.word(at + (is64 ? 16 : 8), base + BigInt(offset)); // p_vaddr
    w.word(at + (is64 ? 24 : 12), base + BigInt(offset)); // p_paddr
    w.word(at + (is64 ? 32 : 16), BigInt(filesz));
    w.word(at + (is64 ? 40 : 20), BigInt(filesz)); // p_memsz
    w.word(at + (is64 ? 48 : 28), type === 1 ? 0x1000n : 8n); // p_align
  }
  interp?.copy(bytes, interpAt);
  strings.copy(bytes, strAt);
  for (const [i, [tag, value]] of dynamic.entries()) {
    w.word(dynAt + i * dynent, tag);
    w.word(dynAt + i * dynent + dynent / 2, value);
  }
  return { bytes, write: w };
}

interface Writer {
  u16(at: number, value: number): void;
  u32(at: number, value: number): void;
  /** 4 or 8 bytes by class. */
  word(at: number, value: bigint): void;
}

function writer(bytes: Buffer, { is64, le }: { is64: boolean; le: boolean }): Writer {
  return {
    u16: (at, value) => void (le ? bytes.writeUInt16LE(value, at) : bytes.writeUInt16BE(value, at)),
    u32: (at, value) => void (le ? bytes.writeUInt32LE(value, at) : bytes.writeUInt32BE(value, at)),
    word: (at, value) => {
      if (!is64) void (le ? bytes.writeUInt32LE(Number(value), at) : bytes.writeUInt32BE(Number(value), at));
      else void (le ? bytes.writeBigUInt64LE(value, at) : bytes.writeBigUInt64BE(value, at));
    },
  };
}

/** A seeded generator (mulberry32): the damage is the same on every run. */
function prng(seed: number): { below(n: number): number; bytes(n: number): Buffer } {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const below = (n: number): number => Math.floor(next() * n);
  return { below, bytes: (n) => Buffer.from(Array.from({ length: n }, () => below(256))) };
}
