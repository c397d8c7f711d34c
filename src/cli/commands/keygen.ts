/** `buildit keygen <name> [--out dir]`: an Ed25519 key pair in Nix's text format. */
import { open } from 'node:fs/promises';
import path from 'node:path';
import { BuilditError } from '../../errors.ts';
import { generateKeyLines, isValidKeyName } from '../../trust/keys.ts';
import type { CliIO, CommonOptions } from '../io.ts';
import type { Reporter } from '../report.ts';

export interface KeygenOptions extends CommonOptions {
  out?: string;
}

export async function keygenCommand(
  name: string,
  options: KeygenOptions,
  io: CliIO,
  report: Reporter,
): Promise<number> {
  if (!isValidKeyName(name)) {
    throw new BuilditError('BUILDIT_USAGE_KEYNAME', `"${name}" is not a key name`, {
      hint: 'letters, digits, ".", "_", "+" and "-", e.g. buildit keygen mysuperbinhost-1',
    });
  }
  const dir = path.resolve(io.cwd, options.out ?? '.');
  const lines = generateKeyLines(name);
  const secret = path.join(dir, `${name}.sec`);
  const pub = path.join(dir, `${name}.pub`);
  // Never overwrite a key: a lost secret key cannot be recovered, a replaced one breaks every trust-keys entry.
  await write(secret, `${lines.secret}\n`, 0o600);
  await write(pub, `${lines.public}\n`, 0o644);
  report.event({ type: 'key', name, secret, public: pub, publicKey: lines.public });
  report.line(`secret key: ${secret} (keep it private; signing-key: in .buildit-config.yaml)`);
  report.line(`public key: ${pub} (give it to builders that should trust you; trusted-keys:)`);
  report.answer(lines.public);
  return 0;
}

async function write(file: string, text: string, mode: number): Promise<void> {
  let handle;
  try {
    handle = await open(file, 'wx', mode);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new BuilditError(
      code === 'EEXIST' ? 'BUILDIT_KEY_EXISTS' : 'BUILDIT_KEY_WRITE',
      `cannot write ${file}: ${code ?? String(error)}`,
      {
        hint:
          code === 'EEXIST'
            ? 'keys are never overwritten: pick another name or --out folder'
            : 'check the --out folder',
      },
    );
  }
  try {
    await handle.writeFile(text);
  } finally {
    await handle.close();
  }
}
