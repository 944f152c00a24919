// The Kysely plugin (src/metadata/traced-plugin.ts) on SQLite and PostgreSQL, with the SDK registered in this
// process and exporting to the test's OTLP receiver: a span per query under the caller's span, inside
// transactions too, named by statement kind and table, with no parameter value anywhere; none outside a span.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { context, trace } from '@opentelemetry/api';
import type { MetadataDb } from '../../src/metadata/database.js';
import { openSqlite } from '../../src/metadata/database.js';
import { openPostgres } from '../../src/metadata/postgres.js';
import { TracedPlugin } from '../../src/metadata/traced-plugin.js';
import { tracingSettings } from '../../src/observability/tracing-config.js';
import { startTracing, type Tracing, tracer } from '../../src/observability/tracing.js';
import { type OtlpReceiver, startOtlpReceiver } from '../helpers/otlp-receiver.js';
import { freshSchema, type PgSchema } from '../helpers/postgres.js';
import { tempDir } from '../helpers/shared.js';

const SECRET = 'team/secret-repository-name';

describe('traced database queries', () => {
  let rx: OtlpReceiver;
  let tracing: Tracing;
  let dir: string;
  let schema: PgSchema;

  before(async () => {
    rx = await startOtlpReceiver();
    process.env.OTEL_BSP_SCHEDULE_DELAY = '50';
    tracing = await startTracing(tracingSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: rx.url }), { version: 'test', warn: () => {} });
    dir = tempDir('berth-traced-db-');
    schema = await freshSchema('traces');
  });
  after(async () => {
    await tracing.shutdown();
    await rx.close();
    await schema.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const system of ['sqlite', 'postgresql'] as const) {
    it(`makes a span per query on ${system}, in and out of transactions, without values`, async () => {
      const plugins = [new TracedPlugin(system)];
      const meta: MetadataDb = system === 'sqlite' ? await openSqlite(path.join(dir, 'berth.db'), { plugins }) : await openPostgres(schema.url, 2, { plugins });
      try {
        // Migrations ran at open, outside any span: they made none.
        const parent = tracer.startSpan('caller');
        await context.with(trace.setSpan(context.active(), parent), async () => {
          await meta.db.selectFrom('repositories').select('id').where('name', '=', SECRET).execute();
          await meta.transaction(async (tx) => {
            await tx.selectFrom('repositories').select('id').where('name', '=', SECRET).execute();
          });
        });
        parent.end();
        const { spanId, traceId } = parent.spanContext();
        const spans = await rx.waitFor(
          (all) => all.filter((s) => s.parentSpanId === spanId),
          (found) => found.some((s) => s.name === 'COMMIT'),
        );
        const names = spans.map((s) => s.name);
        assert.equal(names[0], 'SELECT repositories');
        assert.ok(names.includes('COMMIT'), names.join(', '));
        assert.equal(names.filter((n) => n === 'SELECT repositories').length, 2, `the transaction's query too: ${names.join(', ')}`);
        for (const s of spans) {
          assert.equal(s.traceId, traceId);
          assert.equal(s.kind, 3);
          assert.equal(s.attributes['db.system.name'], system);
        }
        assert.equal(spans[0].attributes['db.collection.name'], 'repositories');
        assert.equal(spans[0].attributes['db.operation.name'], 'SELECT');
        assert.ok(!JSON.stringify(rx.spans.map((s) => [s.name, s.attributes])).includes('secret-repository'), 'no parameter value exported');
        assert.equal(rx.spans.filter((s) => s.attributes['db.system.name'] === system && s.parentSpanId === '').length, 0, 'no span without a caller');
      } finally {
        await meta.close();
      }
    });
  }
});
