// The storage decorator (src/storage/traced.ts) with the SDK registered in this process, exporting to the test's
// OTLP receiver: spans under the caller's span, none without one, every method forwarded (the optional ones
// exactly when the inner driver has them), and no call's result (a presigned URL) in any attribute.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { context, trace } from '@opentelemetry/api';
import { tracingSettings } from '../../src/observability/tracing-config.js';
import { startTracing, type Tracing, tracer, tracingEnabled } from '../../src/observability/tracing.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { FilesystemDriver } from '../../src/storage/filesystem.js';
import { traced } from '../../src/storage/traced.js';
import { type OtlpReceiver, startOtlpReceiver } from '../helpers/otlp-receiver.js';
import { tempDir } from '../helpers/shared.js';

describe('traced storage', () => {
  let rx: OtlpReceiver;
  let tracing: Tracing;
  let dir: string;

  before(async () => {
    rx = await startOtlpReceiver();
    process.env.OTEL_BSP_SCHEDULE_DELAY = '50';
    tracing = await startTracing(tracingSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: rx.url }), { version: 'test', warn: () => {} });
    assert.ok(tracingEnabled());
    dir = tempDir('berth-traced-storage-');
  });
  after(async () => {
    await tracing.shutdown();
    await rx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `fn` in a fresh root span; resolves to that span's id and trace id once it is ended. */
  async function inSpan(name: string, fn: () => Promise<void>): Promise<{ traceId: string; spanId: string }> {
    const span = tracer.startSpan(name);
    try {
      await context.with(trace.setSpan(context.active(), span), fn);
    } finally {
      span.end();
    }
    return span.spanContext();
  }

  it('puts a span under the caller’s for each call, listings included, named by method, with the key', async () => {
    const storage = traced(new FilesystemDriver(dir));
    const parent = await inSpan('parent', async () => {
      await storage.put('blobs/sha256/aa/aa00/data', Buffer.from('hello'));
      assert.deepEqual(await storage.stat('blobs/sha256/aa/aa00/data'), { size: 5 });
      const listed: string[] = [];
      for await (const o of storage.list('blobs/')) listed.push(o.key);
      assert.equal(listed.length, 1);
      await assert.rejects(storage.read('blobs/sha256/bb/bb00/data'), { name: 'NotFoundError' });
      await storage.deleteMany!(['blobs/sha256/aa/aa00/data']);
    });
    const spans = await rx.waitFor(
      (all) => all.filter((s) => s.parentSpanId === parent.spanId),
      (found) => found.length === 5,
    );
    assert.deepEqual(
      spans.map((s) => s.name),
      ['storage.put', 'storage.stat', 'storage.list', 'storage.read', 'storage.deleteMany'],
    );
    for (const s of spans) {
      assert.equal(s.traceId, parent.traceId);
      assert.equal(s.attributes['berth.storage.driver'], 'filesystem');
    }
    assert.equal(spans[0].attributes['berth.storage.key'], 'blobs/sha256/aa/aa00/data');
    assert.equal(spans[0].attributes['berth.storage.bytes'], 5);
    assert.equal(spans[2].attributes['berth.storage.items'], 1);
    assert.equal(spans[3].attributes['berth.storage.found'], false);
    assert.notEqual(spans[3].status, 2, 'an absent object is an answer, not an error');
    assert.equal(spans[4].attributes['berth.storage.keys'], 1);
  });

  it('makes no span for a call outside any span', async () => {
    const storage = traced(new FilesystemDriver(dir));
    assert.equal(await storage.stat('blobs/none'), null);
    // A span ended after the call: had the call made one, it would be in the same batch or an earlier one.
    const marker = await inSpan('marker', async () => {});
    await rx.waitFor(
      (all) => all.filter((s) => s.spanId === marker.spanId),
      (found) => found.length === 1,
    );
    assert.equal(rx.spans.filter((s) => s.name === 'storage.stat' && s.parentSpanId === '').length, 0);
  });

  it('forwards exactly the methods the inner driver has, and never records what a call returns', async () => {
    const fsDriver = new FilesystemDriver(dir);
    const wrapped = traced(fsDriver);
    assert.equal(wrapped.name, 'filesystem');
    assert.equal(wrapped.minChunkLength, fsDriver.minChunkLength);
    assert.equal(typeof wrapped.deleteMany, 'function');
    assert.equal('redirectUrl' in wrapped, 'redirectUrl' in fsDriver);

    // A driver with redirects and without deleteMany (and a method the contract may gain later).
    const secretUrl = 'https://bucket.example/blob?X-Amz-Signature=s3cr3t';
    const calls: string[] = [];
    const inner = {
      name: 'fake',
      minChunkLength: 0,
      redirectUrl: async (key: string) => {
        calls.push(key);
        return secretUrl;
      },
      hardLink: async (from: string) => {
        calls.push(from);
        return true;
      },
    } as unknown as StorageDriver;
    const t = traced(inner);
    assert.equal('deleteMany' in t, false);
    assert.equal(t.deleteMany, undefined);
    const parent = await inSpan('redirect', async () => {
      assert.equal(await t.redirectUrl!('blobs/x'), secretUrl);
      assert.equal(await (t as unknown as { hardLink(k: string): Promise<boolean> }).hardLink('blobs/y'), true);
    });
    assert.deepEqual(calls, ['blobs/x', 'blobs/y']);
    const spans = await rx.waitFor(
      (all) => all.filter((s) => s.parentSpanId === parent.spanId),
      (found) => found.length === 2,
    );
    assert.deepEqual(spans.map((s) => s.name).sort(), ['storage.hardLink', 'storage.redirectUrl']);
    assert.ok(!JSON.stringify(spans.map((s) => s.attributes)).includes('s3cr3t'));
  });
});
