// deploy/prometheus/alerts.yaml: valid rules (promtool check), each alert firing on the series that should raise it
// and quiet on the others (promtool's unit tests, alerts.test.yaml), and every berth_* metric the rules name is one a
// real Berth exposes, so a renamed metric cannot leave an alert silently matching nothing.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, startBerth, type RegistryProcess } from '../helpers/berth-process.js';
import { request } from '../helpers/http.js';
import { scrape } from './metrics-helpers.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const RULES_DIR = path.join(ROOT, 'deploy/prometheus');

/** The metric family a series name belongs to (histograms expose _bucket, _sum and _count). */
const familyOf = (name: string) => name.replace(/_(bucket|sum|count)$/, '');
/** Exposed only with the metadata in PostgreSQL (SQLite has no pool); checked against the source instead. */
const POSTGRES_ONLY = ['berth_db_pool_connections', 'berth_db_pool_waiting_requests'];
const METRICS_SOURCE = readFileSync(path.join(ROOT, 'src/observability/metrics-prometheus.ts'), 'utf8');

describe('Prometheus alert rules', () => {
  let promtool: string;
  let reg: RegistryProcess;
  let metricsUrl: string;

  before(async () => {
    // Unpacks Debian's promtool when it is not on PATH; fails (never skips) when it cannot.
    promtool = execFileSync('bash', [path.join(ROOT, 'scripts/promtool.sh')], { encoding: 'utf8' }).trim();
    const debugPort = await freePort();
    reg = await startBerth({
      name: 'alert-rules',
      env: { REGISTRY_HTTP_DEBUG_ADDR: `127.0.0.1:${debugPort}`, REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED: 'true' },
    });
    metricsUrl = `http://127.0.0.1:${debugPort}/metrics`;
  });
  after(() => reg?.dispose());

  it('are valid rules', () => {
    const r = spawnSync(promtool, ['check', 'rules', 'alerts.yaml'], { cwd: RULES_DIR, encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /SUCCESS: \d+ rules found/);
  });

  it('fire on the series that should raise them, and only those (alerts.test.yaml)', () => {
    const r = spawnSync(promtool, ['test', 'rules', 'alerts.test.yaml'], { cwd: RULES_DIR, encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  });

  it('name only metrics and labels that Berth exposes', async () => {
    await request(`${reg.url}/v2/`);
    const m = await scrape(metricsUrl);
    assert.equal(m.status, 200, m.text);
    const exposed = new Set([...m.text.matchAll(/^# TYPE (\S+) /gm)].map((x) => x[1]));
    const rules = readFileSync(path.join(RULES_DIR, 'alerts.yaml'), 'utf8');
    const named = new Set([...rules.matchAll(/\bberth_[a-z_]+/g)].map((x) => familyOf(x[0])));
    assert.ok(named.size >= 10, `only ${named.size} metrics named`);
    const missing = [...named].filter((n) => !exposed.has(n) && !(POSTGRES_ONLY.includes(n) && METRICS_SOURCE.includes(`'${n}'`)));
    assert.deepEqual(missing, [], `alerts.yaml names metrics Berth does not expose: ${missing.join(', ')}`);
    // `job` and `instance` are Prometheus' own target labels: a metric label of that name is renamed exported_job
    // at scrape time, and a rule grouping by it groups by the scrape job instead.
    const labelNames = [...METRICS_SOURCE.matchAll(/labelNames: \[([^\]]*)\]/g)].flatMap((x) => x[1].split(',').map((l) => l.trim().replace(/'/g, '')));
    assert.ok(labelNames.includes('route'), 'label names not found in the source');
    assert.deepEqual(
      labelNames.filter((l) => l === 'job' || l === 'instance'),
      [],
    );
  });
});
