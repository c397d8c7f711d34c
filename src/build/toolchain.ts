/**
 * The toolchain id: which compiler and libc a build on this machine uses.
 * It is part of every identity, so a package built with another compiler is
 * another package. BUILDIT_TOOLCHAIN overrides the probe (pinned build hosts, tests).
 */
import { execa } from 'execa';

export async function probeToolchain(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const pinned = env['BUILDIT_TOOLCHAIN'];
  if (pinned) return pinned;
  const run = async (cmd: string, args: string[]): Promise<string | undefined> => {
    try {
      const { stdout } = await execa(cmd, args, {
        env: { LC_ALL: 'C', PATH: env['PATH'] ?? '/usr/bin:/bin' },
        extendEnv: false,
      });
      return stdout.split('\n')[0]?.trim() || undefined;
    } catch {
      return undefined;
    }
  };
  const [cc, machine, libc] = await Promise.all([
    run('cc', ['--version']),
    run('cc', ['-dumpmachine']),
    run('getconf', ['GNU_LIBC_VERSION']),
  ]);
  return `cc=${cc ?? 'none'}; target=${machine ?? 'unknown'}; libc=${libc ?? 'unknown'}`;
}

/** OCI names for this host (SPEC §2.1 defaults for os and arch). */
export function hostTarget(): { os: string; arch: string } {
  const arch: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    ia32: '386',
    arm: 'arm',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
    loong64: 'loong64',
    mips64el: 'mips64le',
  };
  return {
    os: process.platform === 'win32' ? 'windows' : process.platform,
    arch: arch[process.arch] ?? process.arch,
  };
}
