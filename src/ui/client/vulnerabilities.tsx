// Vulnerabilities in the UI: the counts by severity in the tag table, and a manifest's report
// (GET /repositories/{name}/manifests/{digest}/vulnerabilities) with its findings filtered by
// severity, package or id, the SBOM download (…/sbom) and "Scan now" (POST …/scan) for those who
// may. An index's report aggregates its children's.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, download, isNoEndpoint, shortDigest } from './api.js';
import { Alert, LoadError, Spinner, Table, Time, useAction, useLoad } from './components.js';
import { ms } from './signatures.js';

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'unknown'] as const;
export type Severity = (typeof SEVERITIES)[number];
export type ScanStatus = 'scanned' | 'pending' | 'failed' | 'unscanned';
export type Counts = Record<Severity, number>;
/** What a tag listing says of a tag's image. */
export interface VulnerabilitySummary extends Counts {
  status: ScanStatus;
}
export interface Finding {
  id: string;
  aliases?: string[];
  package: string;
  ecosystem?: string;
  installed: string;
  fixed?: string | null;
  severity: Severity;
  score?: number | null;
  summary?: string;
  /** The policy that applies allow-lists it: it never counts. */
  allowListed?: boolean;
}
export interface PolicyVerdict {
  scope: string;
  mode: 'audit' | 'enforce' | 'off';
  severity: string;
  allowlist: string[];
  unscanned: 'allow' | 'deny';
  /** Findings that count against it. */
  violations: number;
  passes: boolean;
}
export interface Report {
  status: ScanStatus;
  counts: Counts;
  findings: Finding[];
  scanner: string | null;
  advisories: string | null;
  scannedAt: number | null;
  error: string | null;
  /** A scan is queued (while an older report is shown). */
  queued: boolean;
  /** The SBOM referrer's digest; undefined when the server does not say. */
  sbom?: string | null;
  policy: PolicyVerdict | null;
}

/** How often a report with a scan in progress is read again. */
const POLL_MS = 1500;
const RANK: Record<string, number> = { critical: 0, high: 1, medium: 2, low: 3, unknown: 4 };
const title = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export function SeverityBadge({ severity, n }: { severity: string; n?: number }) {
  return <span class={`badge sev-${RANK[severity] === undefined ? 'unknown' : severity}`}>{n === undefined ? severity : `${n} ${severity}`}</span>;
}

/** The tag table's cell: non-zero counts, most severe first, or the scan's state. */
export function VulnerabilityCell({ v }: { v: VulnerabilitySummary | undefined }) {
  if (!v) return <span class="muted">—</span>;
  if (v.status === 'pending') return <span class="badge">scanning</span>;
  if (v.status === 'failed') return <span class="badge sev-high">scan failed</span>;
  if (v.status === 'unscanned') return <span class="muted small">not scanned</span>;
  const found = SEVERITIES.filter((s) => v[s] > 0);
  if (found.length === 0) return <span class="badge sig-ok">none found</span>;
  return (
    <span class="chips">
      {found.map((s) => (
        <SeverityBadge key={s} severity={s} n={v[s]} />
      ))}
    </span>
  );
}

const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : 0);

/** The API's report in the page's terms (times in ms, counts present, scanner as text). */
function reportFromApi(raw: Record<string, unknown>): Report {
  const c = (raw.counts ?? raw.summary ?? {}) as Record<string, unknown>;
  const findings = (Array.isArray(raw.findings) ? raw.findings : Array.isArray(raw.vulnerabilities) ? raw.vulnerabilities : []) as Finding[];
  const counts = Object.fromEntries(SEVERITIES.map((s) => [s, num(c[s])])) as Counts;
  if (!raw.counts && !raw.summary) for (const f of findings) counts[(RANK[f.severity] === undefined ? 'unknown' : f.severity) as Severity]++;
  const sc = raw.scanner as { name?: string; version?: string } | string | null | undefined;
  const scanner = !sc ? null : typeof sc === 'string' ? [sc, raw.scannerVersion].filter(Boolean).join(' ') : [sc.name, sc.version].filter(Boolean).join(' ');
  const adv = (raw.advisoryVersion ?? raw.advisories ?? raw.advisoryDb ?? null) as string | null;
  return {
    status: (raw.status as ScanStatus | undefined) ?? (raw.scannedAt ? 'scanned' : 'unscanned'),
    counts,
    findings,
    scanner,
    advisories: typeof adv === 'string' ? adv : null,
    scannedAt: ms(raw.scannedAt as string | number | null | undefined),
    error: typeof raw.error === 'string' ? raw.error : null,
    queued: raw.queued === true,
    ...('sbom' in raw ? { sbom: (raw.sbom as string | null) ?? null } : {}),
    policy: (raw.policy as PolicyVerdict | null | undefined) ?? null,
  };
}

const NOT_SCANNED: Report = {
  status: 'unscanned',
  counts: { critical: 0, high: 0, medium: 0, low: 0, unknown: 0 },
  findings: [],
  scanner: null,
  advisories: null,
  scannedAt: null,
  error: null,
  queued: false,
  policy: null,
};

async function loadReport(name: string, digest: string): Promise<Report> {
  try {
    return reportFromApi(await api.get<Record<string, unknown>>(`/repositories/${name}/manifests/${digest}/vulnerabilities`));
  } catch (err) {
    // No report yet is a state of the image, not an error.
    if (err instanceof ApiError && err.status === 404 && err.code !== 'NAME_UNKNOWN') return NOT_SCANNED;
    throw err;
  }
}

/** Saves the SBOM through a temporary object URL (the API wants the CSRF header, which a plain link cannot send). */
async function saveSbom(name: string, digest: string): Promise<void> {
  const { blob } = await download(`/repositories/${name}/manifests/${digest}/sbom`);
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = `${name.replaceAll('/', '_')}-${shortDigest(digest)}.cdx.json`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The verdict of the policy that applies to the repository. */
function PolicyLine({ p, ns }: { p: PolicyVerdict | null; ns: string }) {
  const link = <a href={`/ui/n/${ns}/security`}>Security policies of {ns}</a>;
  if (!p || p.mode === 'off') return <p class="small muted">No vulnerability policy applies: pulls are never refused for vulnerabilities. {link}</p>;
  const what = `${p.scope === '*' ? 'The global' : `The ${p.scope}`} policy (${p.mode}, ${p.severity === 'unknown' ? 'any severity' : p.severity === 'critical' ? 'critical' : `${p.severity} and above`})`;
  return (
    <p class="small" data-testid="vuln-verdict">
      {p.passes ? <span class="badge sig-ok">passes</span> : <span class="badge sig-bad">{p.mode === 'enforce' ? 'refused' : 'fails'}</span>} {what}
      {p.passes
        ? ': no finding counts against it.'
        : `: ${p.violations} ${p.violations === 1 ? 'finding counts' : 'findings count'} against it${p.mode === 'enforce' ? ', so pulls are refused.' : ' (audit: recorded, pulls are served).'}`}{' '}
      {link}
    </p>
  );
}

export function VulnerabilitiesSection({ name, digest, canScan }: { name: string; digest: string; canScan: boolean }) {
  const r = useLoad<Report>(() => loadReport(name, digest), [name, digest]);
  const [shown, setShown] = useState<Set<Severity>>(new Set());
  const [q, setQ] = useState('');
  const [fixable, setFixable] = useState(false);
  const scan = useAction();
  const sbom = useAction();
  const [notice, setNotice] = useState('');
  const pending = r.data?.status === 'pending' || r.data?.queued === true;
  useEffect(() => {
    if (!pending) return;
    const t = setTimeout(r.reload, POLL_MS);
    return () => clearTimeout(t);
  }, [pending, r.data]);

  const d = r.data;
  const needle = q.trim().toLowerCase();
  const findings = (d?.findings ?? [])
    .filter((f) => shown.size === 0 || shown.has(f.severity))
    .filter((f) => !fixable || !!f.fixed)
    .filter((f) => !needle || [f.id, f.package, ...(f.aliases ?? [])].some((x) => x.toLowerCase().includes(needle)))
    .sort((a, b) => (RANK[a.severity] ?? 9) - (RANK[b.severity] ?? 9) || (b.score ?? 0) - (a.score ?? 0) || a.package.localeCompare(b.package));
  const toggle = (s: Severity) => {
    const next = new Set(shown);
    if (next.has(s)) next.delete(s);
    else next.add(s);
    setShown(next);
  };
  const total = d ? SEVERITIES.reduce((a, s) => a + d.counts[s], 0) : 0;
  // Scanning is off on this server: nothing to show.
  if (isNoEndpoint(r.error)) return null;

  return (
    <section class="card" aria-labelledby="vulns-h" data-testid="vulnerabilities" id="vulnerabilities">
      <div class="row spread">
        <h2 id="vulns-h">Vulnerabilities {d?.status === 'scanned' ? <span class="badge">{total}</span> : null}</h2>
        <div class="row">
          {d?.sbom === null ? null : (
            <button
              type="button"
              class="small"
              disabled={sbom.busy}
              onClick={() => {
                setNotice('');
                void sbom.run(() => saveSbom(name, digest));
              }}
            >
              Download SBOM
            </button>
          )}
          {canScan ? (
            <button
              type="button"
              class="small primary"
              disabled={scan.busy || pending}
              onClick={async () => {
                setNotice('');
                if (await scan.run(() => api.post(`/repositories/${name}/manifests/${digest}/scan`))) {
                  setNotice('Scan requested.');
                  r.reload();
                }
              }}
            >
              Scan now
            </button>
          ) : null}
        </div>
      </div>
      <Alert>{scan.error || (sbom.error ? `SBOM: ${sbom.error}` : '')}</Alert>
      <Alert kind="ok">{notice}</Alert>
      {r.error ? (
        <LoadError error={r.error} />
      ) : !d ? (
        <Spinner />
      ) : d.status === 'unscanned' ? (
        <p class="muted">Not scanned yet.</p>
      ) : d.status === 'pending' && !d.scannedAt ? (
        <p class="muted" role="status">
          Scanning…
        </p>
      ) : (
        <>
          <p class="small muted">
            {pending ? 'A new scan is queued. ' : ''}
            {d.status === 'failed' ? `The last scan failed${d.error ? `: ${d.error}` : ''}. ` : ''}
            Scanned <Time ms={d.scannedAt} />
            {d.scanner ? ` by ${d.scanner}` : ''}
            {d.advisories ? (
              <>
                {' '}
                with advisories <code>{d.advisories.length > 19 ? d.advisories.slice(0, 19) : d.advisories}</code>
              </>
            ) : null}
            .
          </p>
          <PolicyLine p={d.policy} ns={name.split('/')[0]} />
          {/* biome-ignore lint/a11y/useSemanticElements: a group of toggle buttons, not a form fieldset */}
          <div class="row" role="group" aria-label="Show severities">
            {SEVERITIES.map((s) => (
              <button key={s} type="button" class="small" aria-pressed={shown.has(s) ? 'true' : 'false'} onClick={() => toggle(s)}>
                {title(s)} <span class={`badge sev-${s}`}>{d.counts[s]}</span>
              </button>
            ))}
          </div>
          <div class="row" style={{ margin: '.75rem 0' }}>
            <div class="grow">
              <label class="sr-only" for="vuln-q">
                Package or vulnerability id
              </label>
              <input id="vuln-q" type="search" placeholder="Package or vulnerability id" value={q} onInput={(e) => setQ(e.currentTarget.value)} />
            </div>
            <label class="check">
              <input type="checkbox" checked={fixable} onChange={(e) => setFixable(e.currentTarget.checked)} /> Only with a fix
            </label>
          </div>
          <p class="small muted" role="status">
            {findings.length === d.findings.length ? `${findings.length} findings` : `${findings.length} of ${d.findings.length} findings`}
          </p>
          {findings.length ? (
            <Table columns={['Vulnerability', 'Package', 'Installed', 'Fixed in', 'Severity']}>
              {findings.map((f, i) => (
                <tr key={`${f.id}-${f.package}-${f.installed}-${i}`} data-testid={`finding-${f.id}`}>
                  <td data-label="Vulnerability">
                    <div>
                      <strong class="mono">{f.id}</strong>
                      {f.aliases?.length ? <div class="small muted mono">{f.aliases.join(', ')}</div> : null}
                      {f.summary ? <div class="small">{f.summary}</div> : null}
                    </div>
                  </td>
                  <td data-label="Package">
                    <div>
                      {f.package}
                      {f.ecosystem ? <div class="small muted">{f.ecosystem}</div> : null}
                    </div>
                  </td>
                  <td data-label="Installed" class="mono small">
                    {f.installed}
                  </td>
                  <td data-label="Fixed in" class="mono small">
                    {f.fixed || <span class="muted">no fix</span>}
                  </td>
                  <td data-label="Severity">
                    <span>
                      <SeverityBadge severity={f.severity} />
                      {typeof f.score === 'number' ? <span class="small muted"> {f.score.toFixed(1)}</span> : null}
                      {f.allowListed ? (
                        <span class="badge" title="On the allow-list of the policy that applies: it never counts">
                          allowed
                        </span>
                      ) : null}
                    </span>
                  </td>
                </tr>
              ))}
            </Table>
          ) : (
            <p class="empty">{d.findings.length ? 'No finding matches the filters.' : 'No known vulnerabilities.'}</p>
          )}
        </>
      )}
    </section>
  );
}
