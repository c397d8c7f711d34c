/**
 * A 1 GiB image: 20 packages of 50 MiB of random bytes each (incompressible, as binaries nearly
 * are once gzip'd), built once, then assembled from the store with the output folder removed.
 * The OCI layout against `cp` of the same 20 blobs (issue 7: ≤ 1.5x), and the peak RSS of writing
 * it as OCI and ACI (issue 7: < 200 MB).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { builditTimed, median, record, seconds, sh, type TimedLine } from './measure.ts';

const PACKAGES = 20;
const MIB_EACH = 50;
const RUNS = 3;

export async function benchBigImage(scratch: string): Promise<void> {
  const root = path.join(scratch, 'big');
  writeContainers(root);
  const env = {
    ...process.env,
    BUILDIT_HOME: path.join(root, 'store'),
    XDG_CONFIG_HOME: path.join(root, 'cfg'),
    BENCH_SCRATCH: scratch,
  };
  const build = async (container: string, out = path.join(root, 'out')) => {
    rmSync(out, { recursive: true, force: true });
    return builditTimed([path.join(root, container), '-o', out], env);
  };

  const cold = await build('oci');
  record(`${PACKAGES} x ${MIB_EACH} MiB packages: cold build (OCI)`, cold.seconds, 's', {
    note: 'each: head -c 50M /dev/urandom, packed into a layer',
  });

  const whole: number[] = [];
  const assembly: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const run = await build('oci');
    if (run.lines.some((l) => l.event['type'] === 'package' && l.event['source'] !== 'store')) {
      throw new Error('big image: a package did not come from the store');
    }
    whole.push(run.seconds);
    assembly.push(imageDone(run.lines, 'oci') - lastPackage(run.lines));
  }

  const blobs = artifactBlobs(path.join(root, 'store'));
  const cp = copyBlobs(blobs, path.join(root, 'cp'));
  const gib = (PACKAGES * MIB_EACH) / 1024;
  record(
    `OCI from ${PACKAGES} stored packages (${gib.toFixed(2)} GiB): assembly phase`,
    median(assembly),
    's',
    {
      note: 'last package found → image written (--json lines as they arrive)',
    },
  );
  record(`OCI from ${PACKAGES} stored packages: whole command`, median(whole), 's');
  record(`cp of the same ${PACKAGES} blobs into an empty folder`, cp, 's');
  record('OCI assembly phase / cp', median(assembly) / cp, 'x', {
    target: ['<=', 1.5],
    note: 'layers are store blobs: hardlinked when on the same filesystem',
  });
  record('OCI whole command / cp', median(whole) / cp, 'x', { target: ['<=', 1.5] });

  // The output on another filesystem (tmpfs): no hard links, every layer copied (copy_file_range,
  // as cp does); against cp onto the same tmpfs.
  if (existsSync('/dev/shm')) {
    const shm = mkdtempSync('/dev/shm/buildit-bench-');
    try {
      const elsewhere: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const run = await build('oci', path.join(shm, 'out'));
        elsewhere.push(imageDone(run.lines, 'oci') - lastPackage(run.lines));
      }
      rmSync(path.join(shm, 'out'), { recursive: true, force: true });
      const cpShm = copyBlobs(blobs, path.join(shm, 'cp'));
      record('OCI assembly phase, output on tmpfs (copied)', median(elsewhere), 's');
      record('cp of the same blobs onto tmpfs', cpShm, 's');
      record('OCI assembly phase on tmpfs / cp', median(elsewhere) / cpShm, 'x', {
        target: ['<=', 1.5],
        note: 'another filesystem: every layer copied by the kernel, its size checked',
      });
    } finally {
      rmSync(shm, { recursive: true, force: true });
    }
  }

  const both = await build('aci');
  const aciPhase = imageDone(both.lines, 'aci') - imageDone(both.lines, 'oci');
  record(`OCI + ACI of the ${gib.toFixed(2)} GiB image: whole command`, both.seconds, 's');
  record(`ACI of the ${gib.toFixed(2)} GiB image: assembly phase`, aciPhase, 's', {
    note: `${((PACKAGES * MIB_EACH) / aciPhase).toFixed(0)} MiB/s: every layer gunzip'd, merged, re-deflated`,
  });
  record(`peak RSS writing the ${gib.toFixed(2)} GiB image as OCI + ACI`, both.maxRssKiB / 1024, 'MiB', {
    target: ['<', 200],
    note: 'GNU time %M of the buildit process (its deflate workers included)',
  });
  rmSync(root, { recursive: true, force: true });
}

/** A recipe repository of PACKAGES packages; `oci/` makes an OCI image of them all, `aci/` OCI and ACI. */
function writeContainers(root: string): void {
  for (let i = 0; i < PACKAGES; i++) {
    const file = path.join(root, 'recipes/bench', `blob${i}`, `blob${i}-1.0.yaml`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(
      file,
      [
        'build:',
        `  - mkdir -p "$DESTDIR/usr/share/blob${i}"`,
        `  - head -c ${MIB_EACH}M /dev/urandom > "$DESTDIR/usr/share/blob${i}/data"`,
        '',
      ].join('\n'),
    );
  }
  writeFileSync(path.join(root, '.buildit-config.yaml'), 'recipes: [./recipes]\n');
  const steps = [
    '- vars: { name: big, version: "1" }',
    ...Array.from({ length: PACKAGES }, (_, i) => `- package: { type: recipe, atom: bench/blob${i}-1.0 }`),
    '- image: { type: oci, content: "{}" }',
  ];
  const aci = `- image: { type: aci, content: '{"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "big"}' }`;
  for (const [dir, lines] of [
    ['oci', steps],
    ['aci', [...steps, aci]],
  ] as const) {
    mkdirSync(path.join(root, dir), { recursive: true });
    writeFileSync(path.join(root, dir, 'container.yaml'), `${lines.join('\n')}\n`);
  }
}

/** Median seconds of `cp`-ing `blobs` into an empty `dest`, RUNS times; `dest` is removed after. */
function copyBlobs(blobs: readonly string[], dest: string): number {
  const copies: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    rmSync(dest, { recursive: true, force: true });
    mkdirSync(dest);
    copies.push(seconds(() => sh(`cp ${blobs.map((b) => `'${b}'`).join(' ')} '${dest}'`)));
  }
  rmSync(dest, { recursive: true, force: true });
  return median(copies);
}

/** The store's package artifacts: every blob of more than 1 MiB. */
function artifactBlobs(store: string): string[] {
  const dir = path.join(store, 'blobs', 'sha256');
  const blobs = readdirSync(dir).flatMap((sub) =>
    readdirSync(path.join(dir, sub)).map((name) => path.join(dir, sub, name)),
  );
  const big = blobs.filter((b) => statSync(b).size > 1 << 20);
  if (big.length !== PACKAGES)
    throw new Error(`expected ${PACKAGES} artifacts in the store, found ${big.length}`);
  return big;
}

function lastPackage(lines: readonly TimedLine[]): number {
  const at = lines.filter((l) => l.event['type'] === 'package').map((l) => l.at);
  if (at.length !== PACKAGES) throw new Error(`expected ${PACKAGES} package lines, got ${at.length}`);
  return Math.max(...at);
}

function imageDone(lines: readonly TimedLine[], format: 'oci' | 'aci'): number {
  const line = lines.find((l) => l.event['type'] === 'image' && l.event['format'] === format);
  if (!line) throw new Error(`no ${format} image line`);
  return line.at;
}
