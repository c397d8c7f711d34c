/** Target platforms, named as OCI names them. */
import { BuilditError, type SourceLocation } from '../errors.ts';
import { didYouMean } from '../util/suggest.ts';

export const OCI_OS = [
  'linux',
  'windows',
  'darwin',
  'freebsd',
  'netbsd',
  'openbsd',
  'solaris',
  'illumos',
  'aix',
];
export const OCI_ARCH = [
  'amd64',
  'arm64',
  'arm',
  '386',
  'ppc64le',
  'ppc64',
  's390x',
  'riscv64',
  'mips64le',
  'mips64',
  'mipsle',
  'mips',
  'loong64',
  'wasm',
];

/** Names other tools use for the same architectures. */
const ARCH_ALIASES: Record<string, string> = {
  x86_64: 'amd64',
  x86: '386',
  i386: '386',
  i686: '386',
  aarch64: 'arm64',
  armv7l: 'arm',
  armhf: 'arm',
  ppc64el: 'ppc64le',
};

export function checkTarget(
  os: string,
  arch: string,
  where: { os: SourceLocation; arch: SourceLocation },
): BuilditError[] {
  const errors: BuilditError[] = [];
  if (!OCI_OS.includes(os)) {
    const guess = didYouMean(os, OCI_OS);
    errors.push(
      new BuilditError('BUILDIT_TARGET_OS', `unknown os "${os}"`, {
        location: where.os,
        hint: `${guess ? `did you mean "${guess}"? ` : ''}OCI os names: ${OCI_OS.join(', ')}`,
      }),
    );
  }
  if (!OCI_ARCH.includes(arch)) {
    const guess = ARCH_ALIASES[arch] ?? didYouMean(arch, OCI_ARCH);
    errors.push(
      new BuilditError('BUILDIT_TARGET_ARCH', `unknown arch "${arch}"`, {
        location: where.arch,
        hint: `${guess ? `did you mean "${guess}"? ` : ''}OCI arch names: ${OCI_ARCH.join(', ')}`,
      }),
    );
  }
  return errors;
}
