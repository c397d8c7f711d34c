/** buildit's own version, from package.json (named in SBOMs as the tool that wrote them). */
import { readFileSync } from 'node:fs';

export const BUILDIT_VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
