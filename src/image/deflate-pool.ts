/**
 * Worker threads that raw-deflate chunks, so that one gzip stream (a layer, an ACI) uses every
 * core. Only the scheduling is parallel: a task's output depends on its input and options alone,
 * and runs exactly as `deflateRawSync` would in this thread (see gzip.ts for the chunking).
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { deflateRawSync, type ZlibOptions } from 'node:zlib';

export interface DeflateTask {
  /** The bytes to compress. When they fill their own ArrayBuffer it is moved to the worker: do not reuse it. */
  input: Buffer;
  /** The 32 KiB that came before `input`, for back-references across the chunk boundary. */
  dictionary?: Buffer;
  options: ZlibOptions;
}

/** `deflateRawSync` in this thread: the same bytes a worker gives, for small inputs and for tests. */
export function deflateHere(task: DeflateTask): Buffer {
  return deflateRawSync(task.input, {
    ...task.options,
    ...(task.dictionary ? { dictionary: task.dictionary } : {}),
  });
}

// Plain JavaScript, evaluated: the worker loads the same way from dist/ and under tsx in tests,
// and without tsx's loader (execArgv is emptied), which would add 100 ms to its start.
//
// V8 frees a dead buffer only when it collects garbage, and it collects for buffers only once
// ~64 MB more of them were allocated. Each task leaves ~2 MiB behind (its input, zlib's output
// pieces), so each worker kept up to 64 MB of dead buffers resident: writing a 1 GiB ACI peaked
// at 232 MB, 179 MB with a young-generation collection before each task. That costs ~0.25 ms
// against ~25 ms of deflating (a full collection, 3.8 ms, cost 19%). The flag only gives
// contexts made after it a \`gc\`.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { deflateRawSync } = require('node:zlib');
require('node:v8').setFlagsFromString('--expose-gc');
const collect = require('node:vm').runInNewContext('gc');
parentPort.on('message', ({ input, dictionary, options }) => {
  collect({ type: 'minor' }); // the previous task's buffers
  try {
    const out = deflateRawSync(input, dictionary ? { ...options, dictionary } : options);
    const own = out.byteOffset === 0 && out.byteLength === out.buffer.byteLength ? out : Uint8Array.prototype.slice.call(out);
    parentPort.postMessage({ out: own }, [own.buffer]);
  } catch (error) {
    parentPort.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
});
`;

interface Pending {
  resolve: (out: Buffer) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  /** Tasks sent to this worker, answered in order. */
  pending: Pending[];
}

/**
 * Up to `size` workers, started on first use and kept: they hold the event loop open only while
 * they have work, so an idle pool never delays exit. A worker that dies fails its own tasks and is
 * replaced by the next task that needs one.
 */
export class DeflatePool {
  readonly size: number;
  #slots: Slot[] = [];

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`deflate pool: size must be ≥ 1, got ${size}`);
    this.size = size;
  }

  run(task: DeflateTask): Promise<Buffer> {
    const slot = this.#pick();
    return new Promise<Buffer>((resolve, reject) => {
      slot.pending.push({ resolve, reject });
      if (slot.pending.length === 1) slot.worker.ref();
      // Moved rather than copied when the bytes own their ArrayBuffer (not Node's pool, not a view).
      const whole = task.input.byteOffset === 0 && task.input.byteLength === task.input.buffer.byteLength;
      const input = whole ? task.input : new Uint8Array(task.input);
      const { dictionary, options } = task;
      slot.worker.postMessage({ input, dictionary, options }, [input.buffer as ArrayBuffer]);
    });
  }

  /** Stops every worker; tasks still running fail. */
  async close(): Promise<void> {
    await Promise.all(this.#slots.splice(0).map((slot) => slot.worker.terminate()));
  }

  /** The least busy worker, or a new one while some are still to start. */
  #pick(): Slot {
    let best: Slot | undefined;
    for (const slot of this.#slots) if (!best || slot.pending.length < best.pending.length) best = slot;
    if (best && (best.pending.length === 0 || this.#slots.length >= this.size)) return best;
    return this.#start();
  }

  #start(): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], env: {} });
    const slot: Slot = { worker, pending: [] };
    const fail = (error: Error): void => {
      this.#slots = this.#slots.filter((s) => s !== slot);
      for (const p of slot.pending.splice(0)) p.reject(error);
    };
    worker.on('message', (message: { out?: Uint8Array; error?: string }) => {
      const next = slot.pending.shift();
      if (slot.pending.length === 0) worker.unref();
      if (message.out)
        next?.resolve(Buffer.from(message.out.buffer, message.out.byteOffset, message.out.byteLength));
      else next?.reject(new Error(`deflate: ${message.error ?? 'the worker gave no output'}`));
    });
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`deflate: a worker stopped (exit code ${code})`)));
    worker.unref();
    this.#slots.push(slot);
    return slot;
  }
}

let shared: DeflatePool | undefined;

/** The process's pool: one worker per core the process may use. */
export function sharedDeflatePool(): DeflatePool {
  shared ??= new DeflatePool(Math.max(1, os.availableParallelism()));
  return shared;
}
