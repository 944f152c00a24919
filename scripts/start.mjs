#!/usr/bin/env node
// `npm start`: the build check (scripts/build.mjs --if-stale: a few milliseconds when dist is fresh) and then
// `berth serve` with the arguments given (`npm start -- --config FILE`), in this one Node process: a separate
// check script would cost a second Node start before every server start.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildIfStale } from './build.mjs';

buildIfStale();
const main = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'main.js');
// As if started as `node dist/main.js serve ARGS`.
process.argv = [process.argv[0], main, 'serve', ...process.argv.slice(2)];
await import(pathToFileURL(main).href);
