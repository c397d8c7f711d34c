/**
 * Patches applied to an unpacked source tree with GNU patch, in order.
 *
 * Threat: a remote patch is untrusted until pinned, and even a pinned one
 * can name `../../etc/profile`. Every file name it would touch (---/+++,
 * `diff --git`, `Index:`, git renames and copies) is checked before patch
 * runs, and so are the targets of symlinks a git patch would create. Rejects
 * go to a scratch file outside the tree; they are quoted in the hint.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { BuilditError, type SourceLocation } from '../errors.ts';
import { isNotFound } from '../util/fs.ts';

export interface PatchToApply {
  file: string;
  /** -p: leading path components dropped from the names in the patch. */
  strip: number;
  /** Names the patch in messages (a path, a redacted URL). */
  label: string;
  location?: SourceLocation;
}

const REJECT_LINES = 12;

export async function applyPatches(srcDir: string, patches: readonly PatchToApply[]): Promise<void> {
  for (const patch of patches) {
    await checkPatchNames(patch);
    await runPatch(srcDir, patch);
  }
}

/** GNU patch's -p: drop the shortest prefix holding `n` slashes (a run of slashes counts once). */
export function stripName(name: string, n: number): string | undefined {
  let rest = name;
  for (let i = 0; i < n; i++) {
    const slash = rest.indexOf('/');
    if (slash === -1) return undefined; // too few components: patch cannot use this name
    rest = rest.slice(slash + 1).replace(/^\/+/, '');
  }
  return rest;
}

/** Refuses (BUILDIT_PATCH_UNSAFE) a patch that names a file outside the tree. Streamed: patches may be large. */
export async function checkPatchNames(patch: PatchToApply): Promise<void> {
  const refuse = (what: string): BuilditError =>
    new BuilditError('BUILDIT_PATCH_UNSAFE', `patch ${patch.label} ${what}, outside the source folder`, {
      exitCode: 1,
      ...(patch.location ? { location: patch.location } : {}),
      hint: 'a patch may only change files inside the unpacked source tree',
    });
  const escapes = (name: string): boolean => name.startsWith('/') || name.split('/').includes('..');
  const checkName = (raw: string, strip: number): void => {
    if (/^\/dev\/null(\s|$)/.test(raw)) return; // file creation and deletion
    const name = stripName(raw, strip);
    if (name !== undefined && escapes(name)) throw refuse(`names ${JSON.stringify(raw)}`);
  };

  let hunk: { old: number; new: number } | undefined;
  let gitFile: string | undefined; // the file of the current `diff --git` section
  let symlinkSection = false; // it creates a symlink: its added line is the target
  const lines = createInterface({ input: createReadStream(patch.file), crlfDelay: Infinity });
  try {
    for await (const raw of lines) {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (hunk) {
        // Inside a unified hunk, "--- x" is a removed line "-- x", not a file name.
        const tag = line[0] ?? ' ';
        if (tag === ' ' || tag === '-' || tag === '+' || tag === '\\') {
          if (tag === '+' && symlinkSection && gitFile !== undefined) {
            const target = line.slice(1);
            const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(gitFile), target));
            if (target.startsWith('/') || resolved === '..' || resolved.startsWith('../')) {
              throw refuse(`makes ${gitFile} a symlink to ${JSON.stringify(target)}`);
            }
          }
          if (tag !== '+' && tag !== '\\') hunk.old--;
          if (tag !== '-' && tag !== '\\') hunk.new--;
          if (hunk.old <= 0 && hunk.new <= 0) hunk = undefined;
          continue;
        }
        hunk = undefined;
      }
      const range = /^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@/.exec(line);
      if (range) {
        hunk = { old: Number(range[1] ?? 1), new: Number(range[2] ?? 1) };
        if (hunk.old <= 0 && hunk.new <= 0) hunk = undefined;
        continue;
      }
      if (line.startsWith('diff --git ')) {
        // Names may hold spaces: check every word; a false alarm needs a name with " x/../".
        const words = line.slice('diff --git '.length).split(' ');
        for (const word of words) checkName(unquote(word), patch.strip);
        gitFile = stripName(unquote(words[words.length - 1] ?? ''), patch.strip);
        symlinkSection = false;
        continue;
      }
      if (/^(new file mode|new mode) 120000/.test(line)) {
        symlinkSection = true;
        continue;
      }
      // Context-diff hunk ranges, not names.
      if (/^(\*\*\* \d+(,\d+)? \*\*\*\*|--- \d+(,\d+)? ----|\*{15})$/.test(line)) continue;
      const named = /^(?:---|\+\+\+|\*\*\*) (.*)$/.exec(line) ?? /^Index: (.*)$/.exec(line);
      if (named) {
        checkName(unquote(named[1]!.split('\t')[0]!), patch.strip);
        continue;
      }
      // git renames and copies name files without the a/ b/ prefix; whether or
      // not patch strips them, neither form may lead out.
      const moved = /^(?:rename|copy) (?:from|to) (.*)$/.exec(line);
      if (moved) {
        const name = unquote(moved[1]!);
        if (escapes(name)) throw refuse(`names ${JSON.stringify(name)}`);
        checkName(name, patch.strip);
      }
    }
  } catch (error) {
    if (!isNotFound(error)) throw error;
    throw new BuilditError('BUILDIT_PATCH_MISSING', `patch ${patch.label} is missing`, {
      exitCode: 2,
      ...(patch.location ? { location: patch.location } : {}),
    });
  } finally {
    lines.close();
  }
}

/** A C-quoted name as git writes it ("a/x\ty"), else the text itself. */
function unquote(name: string): string {
  const text = name.trim();
  if (!(text.length >= 2 && text.startsWith('"') && text.endsWith('"'))) return text;
  const escapes: Record<string, string> = { n: '\n', t: '\t', '"': '"', '\\': '\\', a: '\x07', b: '\b' };
  const bytes: number[] = [];
  const body = text.slice(1, -1);
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      bytes.push(...Buffer.from(c, 'utf8'));
      continue;
    }
    const octal = /^[0-7]{3}/.exec(body.slice(i + 1));
    if (octal) {
      bytes.push(parseInt(octal[0], 8));
      i += 3;
    } else {
      const next = body[++i] ?? '';
      bytes.push(...Buffer.from(escapes[next] ?? next, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

async function runPatch(srcDir: string, patch: PatchToApply): Promise<void> {
  // Rejects go outside the tree, so none is left in it and none is packed into an artifact.
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'buildit-patch-'));
  const rejects = path.join(scratch, 'rejects');
  try {
    const { execa } = await import('execa');
    const result = await execa(
      'patch',
      [
        `-p${patch.strip}`,
        '--batch',
        '--forward',
        '--no-backup-if-mismatch',
        `--reject-file=${rejects}`,
        '-i',
        path.resolve(patch.file),
      ],
      {
        cwd: srcDir,
        env: { LC_ALL: 'C', PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
        extendEnv: false,
        stdin: 'ignore',
        all: true,
        reject: false,
      },
    );
    if (result.exitCode === 0) return;
    if (result.exitCode === undefined) {
      throw new BuilditError('BUILDIT_PATCH_TOOL', `cannot run GNU patch: ${result.shortMessage}`, {
        exitCode: 1,
        hint: 'install it, e.g. apt-get install patch',
      });
    }
    const report = readPatchOutput(String(result.all ?? ''));
    const rejected = await readFile(rejects, 'utf8').catch(() => '');
    const hint = [...report.lines];
    if (rejected) {
      const head = rejected.trimEnd().split('\n').slice(0, REJECT_LINES);
      hint.push('rejected:', ...head.map((l) => `  ${l}`));
    }
    const reversed = report.reversed.length > 0 && report.failed.length === 0;
    throw new BuilditError(
      'BUILDIT_PATCH_APPLY',
      `patch ${patch.label} does not apply${reversed ? ': it is reversed or already applied' : ''}`,
      {
        exitCode: 1,
        ...(patch.location ? { location: patch.location } : {}),
        hint: hint.join('\n'),
      },
    );
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

export interface PatchReport {
  failed: { file: string; hunk: number; line: number }[];
  reversed: string[];
  /** Human lines for the hint, most telling first. */
  lines: string[];
}

/** What GNU patch (LC_ALL=C) said went wrong, file by file. */
export function readPatchOutput(output: string): PatchReport {
  const report: PatchReport = { failed: [], reversed: [], lines: [] };
  let file = '?';
  const all = output.split('\n');
  for (const [i, line] of all.entries()) {
    const patching = /^(?:patching|checking) (?:file|symbolic link) (.*)$/.exec(line);
    if (patching) {
      file = patching[1]!.replace(/^'(.*)'$/, '$1');
      continue;
    }
    const hunk = /^Hunk #(\d+) FAILED at (\d+)/.exec(line);
    if (hunk) {
      report.failed.push({ file, hunk: Number(hunk[1]), line: Number(hunk[2]) });
      report.lines.push(`${file}: hunk #${hunk[1]} FAILED at line ${hunk[2]}`);
      continue;
    }
    if (line.startsWith('Reversed (or previously applied) patch detected')) {
      report.reversed.push(file);
      report.lines.push(`${file}: reversed (or previously applied) patch detected`);
      continue;
    }
    const summary = /^(\d+ out of \d+ hunks? (?:FAILED|ignored))/.exec(line);
    if (summary) {
      report.lines.push(`${file}: ${summary[1]}`);
      continue;
    }
    if (line.startsWith("can't find file to patch")) {
      const names = all
        .slice(i + 1, i + 12)
        .filter((l) => /^\|(---|\+\+\+) /.test(l))
        .map((l) => l.slice(5).split('\t')[0]);
      report.lines.push(`no file to patch for ${names.join(' / ') || '?'}: is the strip (-p) right?`);
      continue;
    }
    if (/^patch: \*\*\*\* /.test(line) || /refusing to patch|dangerous file name/i.test(line)) {
      report.lines.push(line.replace(/^patch: \*\*\*\* /, ''));
    }
  }
  if (report.lines.length === 0) {
    report.lines.push(
      ...all
        .filter((l) => l.trim() !== '')
        .slice(-5)
        .map((l) => `patch: ${l}`),
    );
  }
  return report;
}

/** How much of a patch is searched for its mail header. */
const HEADER_BYTES = 16 * 1024;

/**
 * The author a patch names in its mail header (`git format-patch`'s `From: Name <mail>`), read
 * before the first diff line; undefined for a bare diff.
 */
export async function patchAuthor(file: string): Promise<string | undefined> {
  const handle = await open(file, 'r');
  let text: string;
  try {
    const buffer = Buffer.alloc(HEADER_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, HEADER_BYTES, 0);
    text = buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
  for (const line of text.split('\n')) {
    if (/^(---|\+\+\+|diff |Index: |@@ )/.test(line)) break;
    const from = /^From: (.+)$/.exec(line.replace(/\r$/, ''));
    if (from?.[1]) return from[1].trim().slice(0, 200);
  }
  return undefined;
}
