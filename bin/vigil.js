#!/usr/bin/env -S node --max-semi-space-size=32
// Entry point of the `vigil` command. The TypeScript sources compile to dist/ (npm run build,
// which `npm install` runs through the prepare script).
// --max-semi-space-size=32 (MiB): a larger young generation; ingest allocates many short-lived
// objects per request, and this measured ~20% more samples/s (bench/RESULTS.md). `npm start`
// passes the same flag; with plain `node bin/vigil.js` add it yourself or via NODE_OPTIONS.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/src/app/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  console.error('vigil: dist/ is missing; run `npm run build` (or `npm install`) first');
  process.exit(2);
}
const { main } = await import(cli.href);
process.exitCode = await main(process.argv.slice(2));
