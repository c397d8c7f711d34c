/**
 * Whose a scratch name is: `<pid>.<host tag>` in the names of tmp/ entries, interrupted atomic
 * writes and moved-aside locks, so that a store shared between hosts (a network filesystem) never
 * has one host sweep another's live scratch. The host tag is the first 8 hex digits of the
 * sha256 of the host name. Names without one (written before it existed) are this host's.
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import { isAlive } from './process.ts';

const HOST_TAG = createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);

/** This process, as a name part. */
export const OWNER = `${process.pid}.${HOST_TAG}`;

/** A regular-expression source matching a name part OWNER wrote: captures the pid, then the host tag. */
export const OWNER_PATTERN = String.raw`(\d+)(?:\.([0-9a-f]{8}))?`;

/**
 * Whether the owner a match of OWNER_PATTERN names is known to be gone: a process of this host that
 * no longer runs. Another host's processes cannot be checked: never gone.
 */
export function ownerGone(pidText: string | undefined, hostTag: string | undefined): boolean {
  const pid = Number(pidText);
  if (!Number.isInteger(pid)) return false;
  if (hostTag !== undefined && hostTag !== HOST_TAG) return false;
  return pid !== process.pid && !isAlive(pid);
}
