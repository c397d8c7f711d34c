/** The command line (SPEC §3): commander wiring, exit codes, error rendering. */
import { Command, CommanderError, Option } from 'commander';
import { BuilditError } from '../errors.ts';
import type { CliIO, CommonOptions } from './io.ts';
import { Reporter } from './report.ts';
import { BUILDIT_VERSION } from '../version.ts';

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Options every command takes. */
function common(command: Command): Command {
  return command
    .option('--json', 'print one JSON object per line')
    .option('-q, --quiet', 'print only what the command answers')
    .option('--no-color', 'no colors (NO_COLOR is honoured too)')
    .option('--debug', 'show stack traces')
    .option('--config <file>', 'use this .buildit-config.yaml');
}

/** Options of the commands that build (build, push). */
function buildOptions(command: Command): Command {
  return command
    .option('-o, --output <dir>', "where images are written (default: the config's output:, else ./out)")
    .option('--var <key=value>', 'override a variable (repeatable)', collect)
    .option('-j, --jobs <n>', 'parallel jobs within a build (default: number of cores)')
    .option('--sandbox <mode>', 'build sandbox: auto, on or off (bubblewrap)', 'auto')
    .option('--frozen', 'fail if container.lock would change')
    .option(
      '--discover <spec>',
      'binhost locations and options, comma separated (repeatable): --discover=github.com/sysadmin42/containers,push=True',
      collect,
    )
    .option('--push', "publish new packages, the container spec and images to the config's repository")
    .option('--offline', 'use the local store only (binhosts are not consulted)')
    .option('--store <dir>', 'the local store (default $BUILDIT_HOME or ~/.cache/buildit)')
    .option('--insecure-registry <host[:port]>', 'a registry reached over plain http (repeatable)', collect)
    .option('--strict-libs', 'fail when an image needs a shared library that no package in it provides')
    .option(
      '--registry-ca <file>',
      'a CA file for registries, besides the system CAs and NODE_EXTRA_CA_CERTS',
    );
}

/** Run buildit with `argv` (without node and script); returns the exit code. */
export async function run(argv: readonly string[], io: CliIO): Promise<number> {
  let exitCode = 0;
  let reporter = new Reporter(io, { json: argv.includes('--json'), debug: argv.includes('--debug') });
  // Each command's module is loaded when it runs: `buildit <dir>` never loads gc's or verify's.
  const act =
    <A extends unknown[], O extends CommonOptions>(
      load: () => Promise<(...args: [...A, O, CliIO, Reporter]) => Promise<number>>,
    ) =>
    async (...args: unknown[]) => {
      const options = args[args.length - 2] as O;
      reporter = new Reporter(io, options);
      const fn = await load();
      exitCode = await fn(...(args.slice(0, -2) as A), options, io, reporter);
    };

  const program = new Command('buildit')
    .description('Package-centric, source-based, reproducible container image builder')
    .version(BUILDIT_VERSION, '-V, --version')
    .exitOverride()
    .showSuggestionAfterError()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });

  buildOptions(
    common(program.command('build', { isDefault: true }))
      .argument('<dir>', 'container dir (holds container.yaml)')
      .description('build what the store lacks and write the images (the default command: `buildit <dir>`)'),
  ).action(act(async () => (await import('./commands/build.ts')).buildCommand));

  const pushCmd = common(program.command('push'))
    .argument('<dir>', 'container dir (holds container.yaml)')
    .argument(
      '<ref...>',
      'registry references to push the OCI image to, e.g. registry.example.org/team/app:1.0',
    )
    .description("build if needed, then push the container's OCI image to registries");
  buildOptions(pushCmd).action(act(async () => (await import('./commands/build.ts')).pushCommand));

  common(program.command('plan'))
    .argument('<dir>', 'container dir (holds container.yaml)')
    .description(
      'show every package of a container with its identity, and whether it comes from the store or a build',
    )
    .option('--var <key=value>', 'override a variable (repeatable)', collect)
    .option('--discover <spec>', 'binhost locations to look packages up on (repeatable)', collect)
    .option('--offline', 'the local store only')
    .option('--store <dir>', 'the local store (default $BUILDIT_HOME or ~/.cache/buildit)')
    .action(act(async () => (await import('./commands/plan.ts')).planCommand));

  common(program.command('keygen'))
    .argument('<name>', 'the key name (keyId in signatures)')
    .description(
      'write an Ed25519 key pair: <name>.sec (keep secret; signing-key:) and <name>.pub (share; trusted-keys:)',
    )
    .option('--out <dir>', 'where to write the two files (default: the current folder)')
    .action(act(async () => (await import('./commands/keygen.ts')).keygenCommand));

  common(program.command('hash'))
    .argument('<pkg>', 'a package folder (holds pkg.yaml) or an atom such as app-misc/hello-1.0')
    .description("print a package's identity")
    .option('--explain', 'print the pre-image the identity is the sha256 of')
    .addOption(new Option('--target <os/arch>', 'target platform (default: this host)'))
    .action(act(async () => (await import('./commands/hash.ts')).hashCommand));

  common(program.command('verify'))
    .argument('<dir>', 'container dir (holds container.yaml)')
    .description(
      "check the container's packages: with --rebuild, rebuild each from source in a fresh store and compare bytes",
    )
    .option('--rebuild', 'rebuild every package from source and compare it byte for byte')
    .option('--var <key=value>', 'override a variable (repeatable)', collect)
    .option('-j, --jobs <n>', 'parallel jobs (default: number of cores)')
    .option('--sandbox <mode>', 'build sandbox: auto, on or off (bubblewrap)', 'auto')
    .option('--discover <spec>', 'binhosts holding the artifacts to compare with (repeatable)', collect)
    .option('--offline', 'compare with the local store only')
    .option('--store <dir>', 'the local store (default $BUILDIT_HOME or ~/.cache/buildit)')
    .action(act(async () => (await import('./commands/verify.ts')).verifyCommand));

  common(program.command('gc'))
    .description('remove store entries that no container built in the last --keep-days days uses')
    .option('--dry-run', 'list what would be removed, remove nothing')
    .option('--keep-days <n>', 'keep what containers built in the last n days use', '30')
    .option('--store <dir>', 'the local store (default $BUILDIT_HOME or ~/.cache/buildit)')
    .action(act(async () => (await import('./commands/gc.ts')).gcCommand));

  common(program.command('sbom'))
    .argument('<image>', 'an image buildit wrote: an OCI layout folder (.oci) or an .aci file')
    .description("print an image's SPDX 2.3 SBOM (read from inside the image)")
    .action(act(async () => (await import('./commands/sbom.ts')).sbomCommand));

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
      )
        return 0;
      // commander already printed its message; usage errors are exit 2 (SPEC §3).
      if (reporter.json)
        reporter.failure(new BuilditError('BUILDIT_USAGE', error.message.replace(/^error: /, '')));
      return 2;
    }
    return reporter.failure(error);
  }
}

export async function main(): Promise<void> {
  const code = await run(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
  });
  process.exitCode = code;
}
