/**
 * `npm run bench`: the performance figures buildit promises, measured in one
 * run on this machine, printed as a table and written to bench/results.json.
 * Timed here, never asserted in tests.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BinhostLookup } from '../src/binhost/lookup.ts';
import { openBinhost } from '../src/binhost/open.ts';
import { RemoteBinhost } from '../src/binhost/remote.ts';
import { writeAci } from '../src/image/aci.ts';
import { sharedDeflatePool } from '../src/image/deflate-pool.ts';
import { layerFromFile, packLayer } from '../src/image/layer.ts';
import { writeOciLayout } from '../src/image/oci.ts';
import { RegistryClient } from '../src/registry/client.ts';
import { pushLayout } from '../src/registry/push.ts';
import { parseReference } from '../src/registry/reference.ts';
import { startRegistry } from '../test/helpers/registry.ts';
import { recordPath } from '../src/store/layout.ts';
import { LAYER_MEDIA_TYPE, RECORD_SCHEMA } from '../src/store/record.ts';
import { generateKeyLines, parsePublicKey, parseSecretKey, signRecord } from '../src/trust/keys.ts';
import { startNginx } from '../test/helpers/servers.ts';
import { scanTree } from '../src/image/tree.ts';
import { benchBigImage } from './big-image.ts';
import { buildit, median, record, REPO, rows, seconds, secondsAsync, sh, table } from './measure.ts';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'buildit-bench-'));
const NOOP_RUNS = 7;
const PACK_RUNS = 2;
const PUSH_RUNS = 3;

/** examples/hello: a cold build from an empty store, then no-op rebuilds (the whole process, each). */
function benchHello(): void {
  const env = {
    ...process.env,
    BUILDIT_HOME: path.join(scratch, 'store'),
    XDG_CONFIG_HOME: path.join(scratch, 'cfg'),
  };
  const out = path.join(scratch, 'out');
  // A copy, as the tests build it: a build rewrites its container.lock, and the repository's stays as committed.
  const hello = path.join(scratch, 'repo', 'hello');
  cpSync(path.join(REPO, 'examples/hello'), hello, { recursive: true });
  cpSync(path.join(REPO, 'recipes'), path.join(scratch, 'repo', 'recipes'), { recursive: true });
  writeFileSync(path.join(scratch, 'repo', '.buildit-config.yaml'), 'recipes: [./recipes]\n');
  record(
    'examples/hello cold build (empty store)',
    seconds(() => buildit([hello, '-o', out, '-q'], env)),
    's',
  );
  const noop = Array.from({ length: NOOP_RUNS }, () => seconds(() => buildit([hello, '-o', out, '-q'], env)));
  record(`examples/hello no-op rebuild (median of ${NOOP_RUNS})`, median(noop), 's', {
    target: ['<', 0.5],
    note: `fastest ${Math.min(...noop).toFixed(3)} s; node alone starts in ${nodeStart().toFixed(3)} s`,
  });
}

/** How long `node` takes to start and exit doing nothing: the floor under every buildit run. */
function nodeStart(): number {
  return median(Array.from({ length: 5 }, () => seconds(() => sh(`"${process.execPath}" -e 0`))));
}

/** `buildit plan` of a synthetic 200-package graph (each package build-depends on up to 3 earlier ones), all in the store. */
function benchPlan(): void {
  const root = path.join(scratch, 'graph');
  const count = 200;
  for (let i = 0; i < count; i++) {
    const deps = [i - 1, i - 7, i - 31].filter((d) => d >= 0).map((d) => `bench/p${d}-1.0`);
    const file = path.join(root, 'recipes/bench', `p${i}`, `p${i}-1.0.yaml`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(
      file,
      `depends: { build: [${deps.join(', ')}] }\nbuild:\n  - mkdir -p "$DESTDIR/usr/share/p${i}"\n`,
    );
  }
  writeFileSync(path.join(root, '.buildit-config.yaml'), 'recipes: [./recipes]\n');
  const steps = Array.from(
    { length: 10 },
    (_, k) => `- package: { type: recipe, atom: bench/p${count - 1 - k}-1.0 }`,
  );
  mkdirSync(path.join(root, 'ctr'), { recursive: true });
  writeFileSync(
    path.join(root, 'ctr/container.yaml'),
    `- vars: { name: graph, version: "1" }\n${steps.join('\n')}\n- image: { type: oci, content: "{}" }\n`,
  );
  const env = {
    ...process.env,
    BUILDIT_HOME: path.join(scratch, 'graph-store'),
    XDG_CONFIG_HOME: path.join(scratch, 'cfg'),
  };
  const plan = () => {
    const r = spawnSync(
      process.execPath,
      [path.join(REPO, 'bin/buildit.js'), 'plan', path.join(root, 'ctr'), '--json'],
      { env, encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`plan failed: ${r.stderr}`);
    return r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  };
  // Put every package in the store (a record file is what the plan looks for).
  for (const e of plan().filter((e) => e['type'] === 'package')) {
    const id = String(e['id']);
    const file = path.join(env.BUILDIT_HOME, 'packages/linux-amd64', id.slice(0, 2), `${id}.json`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, '{}');
  }
  let inStore = 0;
  const time = seconds(() => {
    inStore = plan().filter((e) => e['type'] === 'package' && e['source'] === 'store').length;
  });
  if (inStore !== count) throw new Error(`expected ${count} packages in the store, got ${inStore}`);
  record('plan a 200-package graph, all in the store', time, 's', {
    target: ['<', 1],
    note: 'whole process',
  });
}

/** A 500 MiB tree: half random (incompressible), half text (compressible), 100 files. */
function makeTree(dir: string, mib: number): void {
  const text = Buffer.from('buildit packs deterministic layers; '.repeat(30_000)).subarray(0, 1 << 20);
  for (let i = 0; i < mib / 5; i++) {
    const sub = path.join(dir, `d${i % 10}`);
    mkdirSync(sub, { recursive: true });
    const chunks: Buffer[] = [];
    for (let j = 0; j < 5; j++) chunks.push(i % 2 === 0 ? randomBytes(1 << 20) : text);
    writeFileSync(path.join(sub, `f${i}.bin`), Buffer.concat(chunks));
  }
}

/** Packing a 500 MiB tree into a layer, and that layer into an ACI, against `tar -c | gzip -6`; then the push. */
async function benchPack(): Promise<void> {
  const tree = path.join(scratch, 'tree');
  const mib = 500;
  makeTree(tree, mib);
  const packed = path.join(scratch, 'ours.tar.gz');
  let layer: Awaited<ReturnType<typeof packLayer>> | undefined;
  const ours: number[] = [];
  const gnu: number[] = [];
  const aci: number[] = [];
  for (let i = 0; i < PACK_RUNS; i++) {
    rmSync(packed, { force: true });
    ours.push(
      await secondsAsync(async () => {
        layer = await packLayer(await scanTree(tree, { normalizeModes: false }), { mtime: 0, file: packed });
      }),
    );
    gnu.push(seconds(() => sh(`tar -cf - -C "${tree}" . | gzip -6 > "${scratch}/gnu.tar.gz"`)));
    const blob = layerFromFile(packed, { ...layer!, createdBy: 'bench' });
    const image = {
      layers: [blob],
      manifest: { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'bench' },
    };
    const file = path.join(scratch, 'bench.aci');
    aci.push(await secondsAsync(() => writeAci(file, { ...image, os: 'linux', arch: 'amd64', mtime: 0 })));
  }
  const [o, g, a] = [Math.min(...ours), Math.min(...gnu), Math.min(...aci)];
  const cores = `${sharedDeflatePool().size} deflate workers on ${os.availableParallelism()} cores`;
  record(`pack ${mib} MiB tree into a layer (buildit)`, o, 's', {
    note: `${(mib / o).toFixed(0)} MiB/s; ${cores}`,
  });
  record(`write that layer as an ACI (buildit)`, a, 's', { note: `${(mib / a).toFixed(0)} MiB/s` });
  record(`pack ${mib} MiB tree: tar -c | gzip -6`, g, 's', { note: `${(mib / g).toFixed(0)} MiB/s` });
  record('pack throughput buildit / (tar | gzip -6)', g / o, 'x', {
    target: ['>=', 0.9],
    note: `higher is better; fastest of ${PACK_RUNS} each; ${statSync(packed).size} vs ${statSync(path.join(scratch, 'gnu.tar.gz')).size} bytes`,
  });
  record('ACI write throughput buildit / (tar | gzip -6)', g / a, 'x', { target: ['>=', 0.9] });
  await benchPush(layer!);
}

/** Push a 500 MiB image to docker-registry on loopback: buildit against `skopeo copy` of the same layout (each to its own fresh registry). */
async function benchPush(layer: Awaited<ReturnType<typeof packLayer>>): Promise<void> {
  const layout = path.join(scratch, 'big.oci');
  await writeOciLayout(layout, {
    layers: [layerFromFile(layer.file, { ...layer, createdBy: 'bench' })],
    config: {},
    os: 'linux',
    arch: 'amd64',
    created: 0,
    tag: '1',
  });
  // Fastest of PUSH_RUNS each, every push to a registry of its own (a second push would find the
  // blobs there): one run was at the mercy of writeback from the pack runs before it.
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let i = 0; i < PUSH_RUNS; i++) {
    const [a, b] = [await startRegistry('anonymous'), await startRegistry('anonymous')];
    try {
      const client = new RegistryClient({ registry: a.host, insecure: true, env: process.env });
      const pushOurs = async () => {
        sh('sync'); // the disk's backlog (the pack runs wrote ~1.5 GB) is no one's cost
        ours.push(
          await secondsAsync(() => pushLayout(layout, '1', parseReference(`${a.host}/bench/big:1`), client)),
        );
      };
      const pushTheirs = () => {
        sh('sync');
        theirs.push(
          seconds(() => {
            const r = spawnSync(
              'skopeo',
              ['copy', '--dest-tls-verify=false', `oci:${layout}:1`, `docker://${b.host}/bench/big:1`],
              { encoding: 'utf8' },
            );
            if (r.status !== 0) throw new Error(`skopeo copy failed: ${r.stderr}`);
          }),
        );
      };
      // Turn about: whoever goes second also meets the first one's writeback.
      if (i % 2 === 0) {
        await pushOurs();
        pushTheirs();
      } else {
        pushTheirs();
        await pushOurs();
      }
    } finally {
      await a.stop();
      await b.stop();
    }
  }
  const [o, t] = [Math.min(...ours), Math.min(...theirs)];
  record('push a 500 MiB image to a loopback registry (buildit)', o, 's');
  record('push a 500 MiB image: skopeo copy', t, 's');
  record('push ratio buildit / skopeo', o / t, 'x', {
    target: ['<=', 1.2],
    note: `fastest of ${PUSH_RUNS} each`,
  });
}

/** 200 identities looked up against nginx on loopback (TLS), all at once (bounded) against one by one. */
async function benchLookup(): Promise<void> {
  const root = path.join(scratch, 'binhost');
  const keys = generateKeyLines('bench');
  const secret = parseSecretKey(keys.secret, { file: 'bench' });
  const target = { os: 'linux', arch: 'amd64' };
  const ids: string[] = [];
  for (let i = 0; i < 200; i++) {
    const id = createHash('sha256').update(`bench ${i}`).digest('hex');
    ids.push(id);
    const record = signRecord(
      {
        schema: RECORD_SCHEMA,
        id,
        name: `p${i}`,
        version: '1',
        target,
        preimage: {},
        artifact: { digest: `sha256:${id}`, size: 1, diffId: `sha256:${id}`, mediaType: LAYER_MEDIA_TYPE },
        metadata: {},
        signatures: [],
      },
      secret,
    );
    const file = path.join(root, recordPath(target, id));
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(record));
  }
  const nginx = await startNginx(root);
  const delayed = await latencyProxy(nginx.url, nginx.caFile, 20);
  try {
    const run = async (concurrency: number, url = nginx.url) => {
      const backend = openBinhost({ kind: 'http', url, caFile: nginx.caFile }, { env: process.env });
      const binhost = new RemoteBinhost('bench', backend, [parsePublicKey(keys.public, { file: 'bench' })]);
      const lookup = new BinhostLookup([binhost], { concurrency, warn: (m) => console.error(m) });
      const time = await secondsAsync(async () => {
        const found = await Promise.all(ids.map((id) => lookup.find(target, id)));
        if (found.some((f) => !f)) throw new Error('a lookup missed');
      });
      await backend.close();
      return time;
    };
    const sequential = await run(1);
    const concurrent = await run(32);
    record('200 lookups against nginx, sequential', sequential, 's');
    record('200 lookups against nginx, concurrent', concurrent, 's', { target: ['<', 1] });
    record('lookup speed-up concurrent vs sequential', sequential / concurrent, 'x', {
      note: 'loopback: CPU-bound (~1 ms a lookup), see the 20 ms row',
    });
    const slowSequential = await run(1, delayed.url);
    const slowConcurrent = await run(32, delayed.url);
    record('200 lookups, +20 ms per request, sequential', slowSequential, 's');
    record('200 lookups, +20 ms per request, concurrent', slowConcurrent, 's', { target: ['<', 1] });
    record('lookup speed-up with 20 ms latency', slowSequential / slowConcurrent, 'x', {
      target: ['>=', 10],
      note: 'a loopback proxy adds a WAN-like delay',
    });
  } finally {
    delayed.server.close();
    await nginx.stop();
  }
}

/** A plain-HTTP proxy on loopback that answers `ms` later than nginx: a WAN round trip, without leaving the machine. */
async function latencyProxy(
  upstream: string,
  caFile: string,
  ms: number,
): Promise<{ url: string; server: http.Server }> {
  const agent = new https.Agent({ keepAlive: true, ca: readFileSync(caFile) });
  const server = http.createServer((req, res) => {
    setTimeout(() => {
      const up = https.request(new URL(req.url ?? '/', upstream), { method: req.method, agent }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    }, ms);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server };
}

try {
  // Sections can be picked for a quick look (`node --import tsx bench/bench.ts hello big`);
  // results.json is only written by a full run.
  const only = new Set(process.argv.slice(2));
  const want = (name: string): boolean => only.size === 0 || only.has(name);
  if (want('hello')) benchHello();
  if (want('plan')) benchPlan();
  if (want('lookup')) await benchLookup();
  if (want('pack')) await benchPack();
  if (want('big')) await benchBigImage(scratch);
  console.log(table());
  if (only.size === 0) {
    const file = path.join(REPO, 'bench', 'results.json');
    const result = { date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, rows };
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`\nwritten: ${path.relative(process.cwd(), file)}`);
  }
  const failed = rows.filter((r) => r.pass === false).length;
  if (failed > 0) console.log(`${failed} target(s) missed`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
