#!/usr/bin/env node
// Entry point of the `vigil` command. The TypeScript sources compile to dist/ (npm run build,
// which `npm install` runs through the prepare script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/src/app/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  console.error('vigil: dist/ is missing; run `npm run build` (or `npm install`) first');
  process.exit(2);
}
const { main } = await import(cli.href);
process.exitCode = await main(process.argv.slice(2));
