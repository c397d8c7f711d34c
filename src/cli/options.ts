/** Option values several commands parse the same way. */
import os from 'node:os';
import type { SandboxMode } from '../build/sandbox.ts';
import { BuilditError } from '../errors.ts';

export function parseSandbox(value: string | undefined): SandboxMode {
  const mode = value ?? 'auto';
  if (mode === 'auto' || mode === 'on' || mode === 'off') return mode;
  throw new BuilditError('BUILDIT_USAGE_SANDBOX', `--sandbox ${mode}: expected auto, on or off`, {
    hint: 'e.g. --sandbox on',
  });
}

export function parseJobs(value: string | undefined): number {
  if (value === undefined) return os.availableParallelism();
  const jobs = Number(value);
  if (Number.isInteger(jobs) && jobs >= 1) return jobs;
  throw new BuilditError('BUILDIT_USAGE_JOBS', `--jobs ${value}: expected a whole number >= 1`, {
    hint: 'e.g. -j2',
  });
}
