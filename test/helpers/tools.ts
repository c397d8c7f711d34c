/** System tools the tests run: a missing one fails the test with the command that installs it. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const PACKAGES: Record<string, string> = {
  actool: 'appc-spec',
  'oci-image-tool': 'oci-image-tool',
  umoci: 'umoci',
  skopeo: 'skopeo',
  podman: 'podman runc',
  bwrap: 'bubblewrap',
  patch: 'patch',
  cc: 'gcc libc6-dev',
  tar: 'tar',
  zstd: 'zstd',
  xz: 'xz-utils',
  bzip2: 'bzip2',
  sshd: 'openssh-server',
  ssh: 'openssh-client',
  sftp: 'openssh-client',
  'ssh-keygen': 'openssh-client',
  'ssh-keyscan': 'openssh-client',
  nginx: 'nginx',
  openssl: 'openssl',
  unshare: 'util-linux',
  pgrep: 'procps',
  'docker-registry': 'docker-registry',
  htpasswd: 'apache2-utils',
};

export function requireTool(name: string): void {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).status === 0;
  if (!found) {
    assert.fail(
      `${name} is not installed: run \`apt-get install ${PACKAGES[name] ?? name}\` (or bash scripts/install-system-deps.sh)`,
    );
  }
}

/** Run a tool; fail the test with its output when it fails (with how to install it when it is missing). */
export function runTool(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): { stdout: string; stderr: string } {
  requireTool(cmd);
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 300_000, ...options });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

/** A tool's stdout. */
export function tool(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): string {
  return runTool(cmd, args, options).stdout;
}

/** The one way podman runs an OCI layout on this kind of machine (DEVELOPERS.md). */
export function podmanRun(
  layout: string,
  tag: string,
  command: string[] = [],
  options: { entrypoint?: string } = {},
): string {
  // podman names the image after the path, and image names must be lowercase:
  // temp folders have capitals, so go through a lowercase symlink.
  const link = path.join(os.tmpdir(), `buildit-podman-${randomBytes(6).toString('hex')}`);
  symlinkSync(layout, link);
  try {
    return podman(link, tag, command, options.entrypoint);
  } finally {
    rmSync(link, { force: true });
  }
}

function podman(layout: string, tag: string, command: string[], entrypoint: string | undefined): string {
  return tool('podman', [
    '--storage-driver=vfs',
    '--cgroup-manager=cgroupfs',
    '--runtime=runc',
    'run',
    '--rm',
    '--network=none',
    '--ulimit',
    'nofile=1024:1024',
    '--ulimit',
    'nproc=1000:1000',
    ...(entrypoint ? ['--entrypoint', entrypoint] : []),
    `oci:${layout}:${tag}`,
    ...command,
  ]);
}
