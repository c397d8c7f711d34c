/**
 * `npm run bench`: the performance figures buildit promises, measured in one
 * run on this machine, printed as a table and written to bench/results.json.
 * Timed here, never asserted in tests.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BinhostLookup } from '../src/binhost/lookup.ts';
import { openBinhost } from '../src/binhost/open.ts';
import { RemoteBinhost } from '../src/binhost/remote.ts';
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

const REPO = fileURLToPath(new URL('..', import.meta.url));
const scratch = mkdtempSync(path.join(os.tmpdir(), 'buildit-bench-'));
const rows: { name: string; value: number; unit: string; note?: string }[] = [];

function seconds(fn: () => void): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function secondsAsync(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function buildit(args: string[], env: NodeJS.ProcessEnv): void {
  const r = spawnSync(process.execPath, [path.join(REPO, 'bin/buildit.js'), ...args], {
    env,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`buildit ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
}

/** examples/hello: a cold build from an empty store, then a no-op rebuild. */
function benchHello(): void {
  const env = {
    ...process.env,
    BUILDIT_HOME: path.join(scratch, 'store'),
    XDG_CONFIG_HOME: path.join(scratch, 'cfg'),
  };
  const out = path.join(scratch, 'out');
  rows.push({
    name: 'examples/hello cold build (empty store)',
    value: seconds(() => buildit(['examples/hello', '-o', out, '-q'], env)),
    unit: 's',
  });
  rows.push({
    name: 'examples/hello no-op rebuild',
    value: seconds(() => buildit(['examples/hello', '-o', out, '-q'], env)),
    unit: 's',
    note: 'target < 0.5 s (issue 7)',
  });
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
  rows.push({
    name: 'plan a 200-package graph, all in the store',
    value: time,
    unit: 's',
    note: 'target < 1 s (whole process)',
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

async function benchPack(): Promise<void> {
  const tree = path.join(scratch, 'tree');
  makeTree(tree, 500);
  let layer: Awaited<ReturnType<typeof packLayer>> | undefined;
  const ours = await secondsAsync(async () => {
    layer = await packLayer(await scanTree(tree, { normalizeModes: false }), {
      mtime: 0,
      file: path.join(scratch, 'ours.tar.gz'),
    });
  });
  const gnu = seconds(() => {
    const r = spawnSync('sh', ['-c', `tar -cf - -C "${tree}" . | gzip -6 > "${scratch}/gnu.tar.gz"`]);
    if (r.status !== 0) throw new Error('tar | gzip failed');
  });
  rows.push({ name: 'pack 500 MiB tree into a layer (buildit)', value: ours, unit: 's' });
  rows.push({ name: 'pack 500 MiB tree: tar -c | gzip -6', value: gnu, unit: 's' });
  rows.push({
    name: 'pack ratio buildit / (tar | gzip -6)',
    value: ours / gnu,
    unit: 'x',
    note: 'lower is better; 1.0 = same speed',
  });
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
  const [a, b] = [await startRegistry('anonymous'), await startRegistry('anonymous')];
  try {
    const client = new RegistryClient({ registry: a.host, insecure: true, env: process.env });
    const ours = await secondsAsync(() =>
      pushLayout(layout, '1', parseReference(`${a.host}/bench/big:1`), client),
    );
    const theirs = seconds(() => {
      const r = spawnSync(
        'skopeo',
        ['copy', '--dest-tls-verify=false', `oci:${layout}:1`, `docker://${b.host}/bench/big:1`],
        { encoding: 'utf8' },
      );
      if (r.status !== 0) throw new Error(`skopeo copy failed: ${r.stderr}`);
    });
    rows.push({ name: 'push a 500 MiB image to a loopback registry (buildit)', value: ours, unit: 's' });
    rows.push({ name: 'push a 500 MiB image: skopeo copy', value: theirs, unit: 's' });
    rows.push({
      name: 'push ratio buildit / skopeo',
      value: ours / theirs,
      unit: 'x',
      note: 'target <= 1.2',
    });
  } finally {
    await a.stop();
    await b.stop();
  }
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
    rows.push({ name: '200 lookups against nginx, sequential', value: sequential, unit: 's' });
    rows.push({
      name: '200 lookups against nginx, concurrent',
      value: concurrent,
      unit: 's',
      note: 'target < 1 s',
    });
    rows.push({
      name: 'lookup speed-up concurrent vs sequential',
      value: sequential / concurrent,
      unit: 'x',
      note: 'target >= 10; on loopback a lookup is CPU-bound (~1 ms), not latency-bound',
    });
    const slowSequential = await run(1, delayed.url);
    const slowConcurrent = await run(32, delayed.url);
    rows.push({ name: '200 lookups, +20 ms per request, sequential', value: slowSequential, unit: 's' });
    rows.push({
      name: '200 lookups, +20 ms per request, concurrent',
      value: slowConcurrent,
      unit: 's',
      note: 'target < 1 s',
    });
    rows.push({
      name: 'lookup speed-up with 20 ms latency',
      value: slowSequential / slowConcurrent,
      unit: 'x',
      note: 'target >= 10 (a loopback proxy adds a WAN-like delay)',
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
  benchHello();
  benchPlan();
  await benchLookup();
  await benchPack();
  const width = Math.max(...rows.map((r) => r.name.length));
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(width)}  ${r.value.toFixed(3).padStart(9)} ${r.unit.padEnd(2)}${r.note ? `  ${r.note}` : ''}`,
    );
  }
  const file = path.join(REPO, 'bench', 'results.json');
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, rows }, null, 2)}\n`,
  );
  console.log(`\nwritten: ${path.relative(process.cwd(), file)}`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
