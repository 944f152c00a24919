// The OTEL_* settings (src/observability/tracing-config.ts) and the route templates spans are named by.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { describeQuery } from '../../src/metadata/traced-plugin.js';
import { describeTracing, tracingSettings } from '../../src/observability/tracing-config.js';
import { routeTemplate } from '../../src/observability/tracing-http.js';
import { Kysely, SqliteDialect } from 'kysely';
import SQLite from 'better-sqlite3';

const refused = (env: Record<string, string>, message: RegExp) =>
  assert.throws(
    () => tracingSettings(env),
    (err: unknown) => err instanceof ConfigError && message.test(err.message),
  );

describe('OTEL_* settings', () => {
  it('are off without OTEL_* variables, with OTEL_SDK_DISABLED=true, and with OTEL_TRACES_EXPORTER=none', () => {
    assert.equal(tracingSettings({}), null);
    assert.equal(tracingSettings({ OTEL_SERVICE_NAME: 'x', OTEL_TRACES_SAMPLER: 'always_on' }), null, 'settings alone turn nothing on');
    assert.equal(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'TRUE' }), null);
    assert.equal(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }), null);
    assert.equal(tracingSettings({ OTEL_TRACES_EXPORTER: '', OTEL_EXPORTER_OTLP_ENDPOINT: ' ' }), null, 'empty is unset');
  });

  it('turn on with OTEL_TRACES_EXPORTER=otlp (default endpoint) or with an endpoint alone', () => {
    const plain = tracingSettings({ OTEL_TRACES_EXPORTER: 'otlp' });
    assert.deepEqual(plain, {
      exporters: ['otlp'],
      endpoint: 'http://localhost:4318/v1/traces',
      sampler: { kind: 'parentbased_always_on' },
      serviceName: 'berth',
      resource: {},
    });
    assert.equal(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://c.example:4318/' })?.endpoint, 'https://c.example:4318/v1/traces');
    assert.equal(
      tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b:4318/custom' })?.endpoint,
      'http://b:4318/custom',
      'the signal-specific URL is used as it is',
    );
    assert.deepEqual(tracingSettings({ OTEL_TRACES_EXPORTER: 'otlp,console' })?.exporters, ['otlp', 'console']);
  });

  it('name the service from OTEL_SERVICE_NAME, else OTEL_RESOURCE_ATTRIBUTES, else berth', () => {
    const base = { OTEL_TRACES_EXPORTER: 'otlp' };
    assert.equal(tracingSettings({ ...base, OTEL_RESOURCE_ATTRIBUTES: 'service.name=reg,team=a%20b' })?.serviceName, 'reg');
    assert.deepEqual(tracingSettings({ ...base, OTEL_RESOURCE_ATTRIBUTES: 'service.name=reg,team=a%20b' })?.resource, { 'service.name': 'reg', team: 'a b' });
    assert.equal(tracingSettings({ ...base, OTEL_RESOURCE_ATTRIBUTES: 'service.name=reg', OTEL_SERVICE_NAME: 'edge' })?.serviceName, 'edge');
  });

  it('read the sampler and its ratio', () => {
    const base = { OTEL_TRACES_EXPORTER: 'otlp' };
    assert.deepEqual(tracingSettings({ ...base, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' })?.sampler, {
      kind: 'parentbased_traceidratio',
      ratio: 0.25,
    });
    assert.deepEqual(tracingSettings({ ...base, OTEL_TRACES_SAMPLER: 'traceidratio' })?.sampler, { kind: 'traceidratio', ratio: 1 });
    assert.deepEqual(tracingSettings({ ...base, OTEL_TRACES_SAMPLER: 'always_off' })?.sampler, { kind: 'always_off' });
  });

  it('refuse what they cannot honour, naming the variable, even while tracing is off', () => {
    refused({ OTEL_TRACES_EXPORTER: 'jaeger' }, /OTEL_TRACES_EXPORTER=jaeger is not supported/);
    refused(
      { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' },
      /OTEL_EXPORTER_OTLP_PROTOCOL=http\/protobuf is not supported.*http\/json/,
    );
    refused({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' }, /OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc/);
    refused({ OTEL_TRACES_SAMPLER: 'jaeger_remote' }, /OTEL_TRACES_SAMPLER=jaeger_remote is not supported/);
    refused({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: 'half' }, /OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1/);
    refused({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, /OTEL_EXPORTER_OTLP_ENDPOINT must be an http/);
    refused({ OTEL_SDK_DISABLED: 'yes' }, /OTEL_SDK_DISABLED must be true or false/);
    refused({ OTEL_RESOURCE_ATTRIBUTES: 'novalue' }, /OTEL_RESOURCE_ATTRIBUTES must be key=value/);
    // Headers hold credentials: the message names the variable, never the value.
    assert.throws(
      () => tracingSettings({ OTEL_EXPORTER_OTLP_HEADERS: 'Authorization Bearer s3cret' }),
      (err: unknown) => err instanceof ConfigError && /OTEL_EXPORTER_OTLP_HEADERS/.test(err.message) && !err.message.includes('s3cret'),
    );
    // Every problem at once.
    assert.throws(
      () => tracingSettings({ OTEL_TRACES_EXPORTER: 'zipkin', OTEL_TRACES_SAMPLER: 'x' }),
      (err: unknown) => err instanceof ConfigError && err.issues.length === 2,
    );
  });

  it('describe themselves for the start-up log without credentials', () => {
    const s = tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://user:pw@c.example:4318', OTEL_EXPORTER_OTLP_HEADERS: 'api-key=s3cret' });
    const line = describeTracing(s);
    assert.match(line, /^OTLP\/HTTP https:\/\/\*\*\*@c\.example:4318\/v1\/traces as berth, sampler parentbased_always_on$/);
    assert.ok(!line.includes('pw') && !line.includes('s3cret'));
    assert.equal(describeTracing(null), 'off');
  });
});

describe('span names', () => {
  it('use the distribution spec’s route templates for /v2 paths, never the raw path', () => {
    const t = (path: string) => routeTemplate(`/v2/${path}`, '/v2/*');
    assert.equal(t('a/b/manifests/latest'), '/v2/{name}/manifests/{reference}');
    assert.equal(t('a/blobs/sha256:00'), '/v2/{name}/blobs/{digest}');
    assert.equal(t('a/blobs/uploads/'), '/v2/{name}/blobs/uploads/');
    assert.equal(t('a/blobs/uploads/3f0c?_state=x'), '/v2/{name}/blobs/uploads/{uuid}');
    assert.equal(t('a/tags/list'), '/v2/{name}/tags/list');
    assert.equal(t('a/referrers/sha256:00'), '/v2/{name}/referrers/{digest}');
    assert.equal(t('_catalog?n=10'), '/v2/_catalog');
    assert.equal(routeTemplate('/v2/x/y/manifests/v1?ns=docker.io', '/v2/*'), '/v2/{name}/manifests/{reference}');
    assert.equal(routeTemplate('/v2/nothing', '/v2/*'), undefined);
    assert.equal(routeTemplate('/api/v1/repositories/a', '/api/v1/repositories/*'), '/api/v1/repositories/*');
  });

  it('name database spans by statement kind and table only', () => {
    const db = new Kysely<{ tags: { name: string; repository_id: number } }>({ dialect: new SqliteDialect({ database: new SQLite(':memory:') }) });
    try {
      const op = (q: { toOperationNode(): unknown }) => describeQuery(q.toOperationNode() as never);
      assert.deepEqual(op(db.selectFrom('tags').selectAll().where('name', '=', 'secret-tag')), { operation: 'SELECT', table: 'tags' });
      assert.deepEqual(op(db.selectFrom('tags as t').select('t.name')), { operation: 'SELECT', table: 'tags' });
      assert.deepEqual(op(db.insertInto('tags').values({ name: 'v', repository_id: 1 })), { operation: 'INSERT', table: 'tags' });
      assert.deepEqual(op(db.updateTable('tags').set({ name: 'w' })), { operation: 'UPDATE', table: 'tags' });
      assert.deepEqual(op(db.deleteFrom('tags').where('name', '=', 'v')), { operation: 'DELETE', table: 'tags' });
      assert.deepEqual(op(db.schema.createTable('x').addColumn('a', 'text')), { operation: 'CREATE TABLE' });
    } finally {
      void db.destroy();
    }
  });
});
