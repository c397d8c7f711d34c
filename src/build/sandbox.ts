/**
 * The build sandbox (SPEC §2.3, `--sandbox auto|on|off`): bubblewrap with the
 * host's files read-only, only the build's own folders writable, and no
 * network, so a build can neither fetch undeclared inputs nor write outside
 * its work dir. Sources are fetched and verified before a build starts.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { BuilditError } from '../errors.ts';
import { SYSTEM_PATH } from './env.ts';

export type SandboxMode = 'auto' | 'on' | 'off';

export type Sandbox = { kind: 'bwrap'; bwrap: string } | { kind: 'none'; reason: string };

export interface SandboxLayout {
  /** The working folder of the command inside the sandbox. */
  cwd: string;
  /** Folders bound read-write (absolute); everything else is read-only. */
  writable: string[];
  /**
   * Folders under /tmp or /run that the build must see (dependency trees,
   * say): those two are fresh tmpfs in the sandbox, the rest of / is visible.
   */
  readonly?: string[];
}

const INSTALL_HINT =
  'install bubblewrap (apt-get install bubblewrap), or build without a sandbox: --sandbox off';

/**
 * Which sandbox builds run in. `auto` uses bubblewrap when it is on PATH and a
 * trial run with the same options as a build works (user namespaces may be
 * off, or a container may forbid mounting /proc), and runs unsandboxed
 * otherwise, saying why; `on` makes either problem an error.
 */
export async function resolveSandbox(
  mode: SandboxMode,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Sandbox> {
  if (mode === 'off') return { kind: 'none', reason: 'the sandbox is off (--sandbox off)' };

  const bwrap = await findExecutable('bwrap', env['PATH']);
  if (bwrap === undefined) {
    if (mode === 'on') {
      throw new BuilditError(
        'BUILDIT_SANDBOX_UNAVAILABLE',
        '--sandbox on: bubblewrap (bwrap) is not on PATH',
        {
          hint: INSTALL_HINT,
          exitCode: 2,
        },
      );
    }
    return { kind: 'none', reason: 'bubblewrap (bwrap) is not on PATH' };
  }

  const sandbox: Sandbox = { kind: 'bwrap', bwrap };
  const [file, ...args] = sandboxArgv(sandbox, { cwd: '/', writable: [] }, ['true']);
  const { execa } = await import('execa');
  const trial = await execa(file!, args, {
    env: { PATH: SYSTEM_PATH },
    extendEnv: false,
    stdin: 'ignore',
    reject: false,
    timeout: 30_000,
  });
  if (!trial.failed) return sandbox;

  const said = String(trial.stderr).trim() || trial.shortMessage;
  if (mode === 'on') {
    throw new BuilditError(
      'BUILDIT_SANDBOX_UNAVAILABLE',
      `--sandbox on: bubblewrap (${bwrap}) does not work here`,
      {
        hint:
          `bwrap said: ${said}\n` +
          'it needs user namespaces (or to run as root) and may not mount /proc inside some containers; ' +
          INSTALL_HINT,
        exitCode: 2,
      },
    );
  }
  return { kind: 'none', reason: `bubblewrap (${bwrap}) does not work here: ${said}` };
}

/**
 * The sandbox, resolved on first use: a run that builds nothing (every package in the store or on
 * a binhost) then never starts the trial bwrap, and a `--sandbox on` that cannot work fails only
 * when a build needs it.
 */
export function lazySandbox(mode: SandboxMode, env: NodeJS.ProcessEnv = process.env): () => Promise<Sandbox> {
  let resolved: Promise<Sandbox> | undefined;
  return () => (resolved ??= resolveSandbox(mode, env));
}

/** The argv that runs `command` in the sandbox: the executable first. */
export function sandboxArgv(sandbox: Sandbox, layout: SandboxLayout, command: string[]): string[] {
  if (sandbox.kind === 'none') return [...command];
  // prettier-ignore
  return [
    sandbox.bwrap,
    '--ro-bind', '/', '/',
    '--dev', '/dev',
    '--proc', '/proc',
    '--tmpfs', '/tmp',
    '--tmpfs', '/run',
    ...(layout.readonly ?? []).flatMap((dir) => ['--ro-bind', dir, dir]),
    ...layout.writable.flatMap((dir) => ['--bind', dir, dir]),
    '--unshare-net',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--hostname', 'buildit',
    // Run as root, bwrap would leave the build every capability, enough to
    // remount / read-write; unprivileged it has none anyway.
    '--cap-drop', 'ALL',
    '--die-with-parent',
    // setsid: the build cannot push keystrokes into our terminal (TIOCSTI).
    '--new-session',
    '--chdir', layout.cwd,
    '--',
    ...command,
  ];
}

/** The first executable file called `name` in the PATH list, if any. */
export async function findExecutable(
  name: string,
  pathList: string | undefined,
): Promise<string | undefined> {
  for (const dir of (pathList ?? '').split(path.delimiter)) {
    if (!path.isAbsolute(dir)) continue; // a relative entry would depend on our cwd
    const file = path.join(dir, name);
    try {
      await access(file, constants.X_OK);
      if ((await stat(file)).isFile()) return file;
    } catch {
      // not here: keep looking
    }
  }
  return undefined;
}
