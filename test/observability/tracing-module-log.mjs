// Loaded with `node --import` into a server started by test/observability/tracing.test.ts: appends every
// @opentelemetry/* package the process imports to the file named by BERTH_TEST_MODULE_LOG, so the test sees
// whether the SDK was loaded. The same file is the loader hook (in the hooks thread) and its registration.
import { appendFileSync } from 'node:fs';
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

if (isMainThread) register(import.meta.url);

export async function resolve(specifier, context, next) {
  const file = process.env.BERTH_TEST_MODULE_LOG;
  if (file && specifier.startsWith('@opentelemetry/')) appendFileSync(file, `${process.pid} ${specifier}\n`);
  return next(specifier, context);
}
