/**
 * Look identities up on every binhost at once (bounded), the first verified
 * hit in binhost order winning; answers remembered for the run. A binhost
 * that fails (after the backend's retries) is reported once and skipped:
 * the build falls back to building locally.
 */
import type { Target } from '../recipe/types.ts';
import type { PackageRecord } from '../store/record.ts';
import { limiter } from '../util/limit.ts';
import type { RemoteBinhost } from './remote.ts';
import { BinhostError } from './types.ts';

export interface Found {
  binhost: RemoteBinhost;
  record: PackageRecord;
}

export class BinhostLookup {
  private readonly binhosts: readonly RemoteBinhost[];
  private readonly warn: (message: string) => void;
  private readonly limit: ReturnType<typeof limiter>;
  private readonly down = new Set<RemoteBinhost>();
  private readonly answers = new Map<string, Promise<Found | undefined>>();

  constructor(
    binhosts: readonly RemoteBinhost[],
    options: { concurrency?: number; warn: (message: string) => void },
  ) {
    this.binhosts = binhosts;
    this.warn = options.warn;
    this.limit = limiter(options.concurrency ?? 32);
  }

  /** The binhosts still up, in priority order. */
  get binhostList(): RemoteBinhost[] {
    return this.binhosts.filter((b) => !this.down.has(b));
  }

  find(target: Target, id: string): Promise<Found | undefined> {
    const key = `${target.os}/${target.arch}/${id}`;
    let answer = this.answers.get(key);
    if (!answer) {
      answer = this.ask(target, id);
      this.answers.set(key, answer);
    }
    return answer;
  }

  /** Forget a hit that turned out bad (its artifact did not verify). */
  forget(target: Target, id: string): void {
    this.answers.set(`${target.os}/${target.arch}/${id}`, Promise.resolve(undefined));
  }

  private async ask(target: Target, id: string): Promise<Found | undefined> {
    const answers = await Promise.all(
      this.binhosts.map((binhost) =>
        this.limit(async () => {
          if (this.down.has(binhost)) return undefined;
          try {
            return await binhost.findRecord(target, id);
          } catch (error) {
            if (!(error instanceof BinhostError)) throw error;
            this.markDown(binhost, error);
            return undefined;
          }
        }),
      ),
    );
    for (const [i, answer] of answers.entries()) {
      const binhost = this.binhosts[i]!;
      if (answer?.kind === 'hit') return { binhost, record: answer.record };
      if (answer?.kind === 'rejected')
        this.warn(`binhost '${binhost.name}': ignoring ${id}: ${answer.reason}`);
    }
    return undefined;
  }

  markDown(binhost: RemoteBinhost, error: BinhostError): void {
    if (this.down.has(binhost)) return;
    this.down.add(binhost);
    this.warn(
      `binhost '${binhost.name}' is unavailable (${error.message}); building locally what only it has`,
    );
  }
}
