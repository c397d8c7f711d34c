#!/usr/bin/env node
// buildit's executable: the bundled CLI, dist/buildit.js (`npm ci` builds it through `prepare`).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/buildit.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(
    'buildit: dist/ is missing; run `npm ci` (or `npm run build`) in the buildit folder first\n',
  );
  process.exit(2);
}
// --debug prints stack traces: through the bundle's source map, they name src/ files and lines.
if (process.argv.includes('--debug')) process.setSourceMapsEnabled(true);
const { main } = await import(entry.href);
await main();
