// A namespace's retention policies: the list with each policy's last run, a dry run that lists
// what would go and the bytes collection would free, a confirmed "Run now", and (for the
// namespace's administrators) create, edit and delete. Everything goes through the REST API
// (/namespaces/{ns}/retention-policies), so its permission rules and validation apply.
import { useState } from 'preact/hooks';
import { api, bytes, type User } from './api.js';
import { Alert, Digest, LoadError, PageTitle, Spinner, Table, Time, repoPath, useAction, useLoad, useSession } from './components.js';
import { PolicyForm, type Policy, type PolicyBody, type RetentionRule } from './retention-form.js';

export interface RunResult {
  policy: string;
  dryRun: boolean;
  at: string | number;
  tags: { repository: string; tag: string; digest: string; pushedAt: string | number | null; pulledAt: string | number | null }[];
  manifests: { repository: string; digest: string; size: number }[];
  protected: { repository: string; tag: string; rule: string }[];
  kept: number;
  bytes: number;
}

/** The API's times are ISO 8601; <Time> wants milliseconds. */
const ms = (t: string | number | null | undefined) => (t === null || t === undefined ? null : typeof t === 'number' ? t : Date.parse(t));

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * Whether the page offers changes: the namespace's administrators (its user, owners of its
 * organisation, site administrators), as the API's rule says. The API still decides: a refusal
 * shows as an error.
 */
export async function mayManage(user: User | null, ns: string): Promise<boolean> {
  if (!user) return false;
  if (user.admin || user.name === ns) return true;
  const me = await api.get<{ orgs: { name: string; role: string | null }[] }>('/user');
  return me.orgs.some((o) => o.name === ns && o.role === 'owner');
}

function ruleText(r: RetentionRule): string {
  const k = r.keep ?? {};
  const keep = [
    k.forever ? 'all' : '',
    k.latestPushed !== undefined ? `latest ${k.latestPushed} pushed` : '',
    k.latestPulled !== undefined ? `latest ${k.latestPulled} pulled` : '',
    k.pushedWithin ? `pushed within ${k.pushedWithin}` : '',
    k.pulledWithin ? `pulled within ${k.pulledWithin}` : '',
  ].filter(Boolean);
  const except = [...(r.excludeRepositories ?? []).map((x) => `repositories ${x}`), ...(r.excludeTags ?? []).map((x) => `tags ${x}`)];
  return (
    `repositories ${r.repositories}, tags ${r.tags}${except.length ? ` (except ${except.join(', ')})` : ''}: keep ${keep.join(' or ') || 'nothing'}` +
    (r.untagged ? `; untagged after ${r.untagged}` : '')
  );
}

function LastRunCell({ p }: { p: Policy }) {
  const r = p.lastRun;
  if (!r) return <span class="muted">never</span>;
  return (
    <>
      <Time ms={ms(r.at)} />
      <div class="small muted">
        {plural(r.tagsDeleted, 'tag')}, {plural(r.manifestsDeleted, 'image')} deleted, {bytes(r.bytes)}
        {r.protected ? `; ${r.protected} protected` : ''}
      </div>
    </>
  );
}

function Result({ r, ns }: { r: RunResult; ns: string }) {
  return (
    <section class="card" aria-labelledby="result-h" data-testid="run-result">
      <h2 id="result-h">
        {r.dryRun ? 'Dry run' : 'Run'} of {r.policy}
      </h2>
      <p role="status">
        {r.dryRun
          ? `Nothing was deleted. A run would delete ${plural(r.tags.length, 'tag')} and ${plural(r.manifests.length, 'image')} and keep ${plural(r.kept, 'tag')}; garbage collection would then free `
          : `Deleted ${plural(r.tags.length, 'tag')} and ${plural(r.manifests.length, 'image')}, kept ${plural(r.kept, 'tag')}; garbage collection frees `}
        <strong data-testid="run-bytes">{bytes(r.bytes)}</strong> ({r.bytes.toLocaleString()} bytes){r.dryRun ? '.' : ' when it next runs.'}
      </p>
      {r.tags.length ? (
        <Table columns={['Repository', 'Tag', 'Image', 'Pushed', 'Last pulled']}>
          {r.tags.map((t) => (
            <tr key={`${t.repository}:${t.tag}`} data-testid={`tag-${t.repository}:${t.tag}`}>
              <td data-label="Repository">{t.repository}</td>
              <td data-label="Tag">
                <strong>{t.tag}</strong>
              </td>
              <td data-label="Image">
                <Digest digest={t.digest} href={r.dryRun ? repoPath(t.repository, `manifests/${t.digest}`) : undefined} />
              </td>
              <td data-label="Pushed">
                <Time ms={ms(t.pushedAt)} />
              </td>
              <td data-label="Last pulled">
                <Time ms={ms(t.pulledAt)} />
              </td>
            </tr>
          ))}
        </Table>
      ) : null}
      {r.manifests.length ? (
        <>
          <h3 style={{ marginTop: '1rem' }}>Untagged images</h3>
          <Table columns={['Repository', 'Image', 'Size']}>
            {r.manifests.map((m) => (
              <tr key={`${m.repository}@${m.digest}`}>
                <td data-label="Repository">{m.repository}</td>
                <td data-label="Image">
                  <Digest digest={m.digest} />
                </td>
                <td data-label="Size">{bytes(m.size)}</td>
              </tr>
            ))}
          </Table>
        </>
      ) : null}
      {r.protected.length ? (
        <>
          <h3 style={{ marginTop: '1rem' }}>Kept by immutable-tag rules</h3>
          <ul>
            {r.protected.map((x) => (
              <li key={`${x.repository}:${x.tag}`}>
                {x.repository}:{x.tag} (rule <a href={`/ui/n/${ns}/tag-rules`}>{x.rule}</a>)
              </li>
            ))}
          </ul>
        </>
      ) : null}
    </section>
  );
}

export function RetentionPage({ ns }: { ns: string }) {
  const { user } = useSession();
  const list = useLoad<{ policies: Policy[] }>(() => api.get(`/namespaces/${ns}/retention-policies`), [ns, user?.name]);
  const manage = useLoad<boolean>(() => mayManage(user, ns), [ns, user?.name]);
  const canManage = manage.data === true;
  // null: no form; '': a new policy; otherwise the name of the policy being edited.
  const [editing, setEditing] = useState<string | null>(null);
  const [result, setResult] = useState<RunResult | null>(null);
  const [notice, setNotice] = useState('');
  const act = useAction();
  const base = `/namespaces/${ns}/retention-policies`;
  const path = (name: string) => `${base}/${encodeURIComponent(name)}`;

  const run = async (p: Policy, dryRun: boolean) => {
    setNotice('');
    if (!dryRun && !confirm(`Run ${p.name} now? The tags and images it selects are deleted (a dry run shows which).`)) return;
    let out: RunResult | undefined;
    if (await act.run(async () => (out = await api.post<RunResult>(`${path(p.name)}/run`, { dryRun })))) {
      setResult(out ?? null);
      if (!dryRun) list.reload();
    }
  };
  const remove = async (p: Policy) => {
    setNotice('');
    if (!confirm(`Delete the retention policy ${p.name}? Nothing it deleted comes back; it just stops running.`)) return;
    if (await act.run(() => api.del(path(p.name)))) {
      setNotice(`Policy ${p.name} deleted.`);
      setResult(null);
      list.reload();
    }
  };
  const save = async (body: PolicyBody) => {
    if (editing) await api.put(path(editing), body);
    else await api.post(base, body);
    setNotice(`Policy ${body.name} ${editing ? 'saved' : 'created'}.`);
    setEditing(null);
    list.reload();
  };
  const current = editing ? list.data?.policies.find((p) => p.name === editing) : undefined;

  return (
    <div class="stack">
      <section class="card" aria-labelledby="page-title">
        <PageTitle title={`Retention policies of ${ns}`} />
        <p class="small muted">
          A policy deletes the tags its rules select but no rule keeps (keep wins), and untagged images older than a rule says. Tags that immutable-tag rules
          protect, and signatures and other referrers of images that stay, are never deleted. Enabled policies run on the server's schedule; garbage collection
          then frees the bytes. <a href={`/ui/n/${ns}/tag-rules`}>Immutable tags of {ns}</a>
        </p>
        <Alert>{act.error}</Alert>
        <Alert kind="ok">{notice}</Alert>
        {list.error ? (
          <LoadError error={list.error} />
        ) : !list.data ? (
          <Spinner />
        ) : list.data.policies.length === 0 ? (
          <p class="empty">No retention policies: nothing is deleted automatically.</p>
        ) : (
          <Table columns={['Policy', 'Rules', 'Last run']} actions>
            {list.data.policies.map((p) => (
              <tr key={p.name} data-testid={`policy-${p.name}`}>
                <td data-label="Policy">
                  <strong>{p.name}</strong> {p.enabled ? null : <span class="badge held">disabled</span>}
                  <div class="small mono">{p.repository ?? `every repository of ${ns}`}</div>
                  <div class="small muted">
                    {p.createdBy ? `created by ${p.createdBy}, ` : ''}changed <Time ms={ms(p.updatedAt)} />
                  </div>
                </td>
                <td data-label="Rules">
                  <ul class="small mono" style={{ margin: 0, paddingLeft: '1rem' }}>
                    {p.rules.map((r, i) => (
                      <li key={i}>{ruleText(r)}</li>
                    ))}
                  </ul>
                </td>
                <td data-label="Last run">
                  <LastRunCell p={p} />
                </td>
                <td>
                  <div class="row">
                    <button type="button" class="small" disabled={act.busy} onClick={() => run(p, true)} aria-label={`Dry run ${p.name}`}>
                      Dry run
                    </button>
                    {canManage ? (
                      <>
                        <button type="button" class="small" disabled={act.busy} onClick={() => run(p, false)} aria-label={`Run ${p.name} now`}>
                          Run now
                        </button>
                        <button type="button" class="small" onClick={() => setEditing(p.name)} aria-label={`Edit ${p.name}`}>
                          Edit
                        </button>
                        <button type="button" class="small danger" disabled={act.busy} onClick={() => remove(p)} aria-label={`Delete ${p.name}`}>
                          Delete
                        </button>
                      </>
                    ) : null}
                  </div>
                </td>
              </tr>
            ))}
          </Table>
        )}
        {list.data && canManage && editing === null ? (
          <div class="row" style={{ marginTop: '1rem' }}>
            <button type="button" class="primary" onClick={() => setEditing('')}>
              New policy
            </button>
          </div>
        ) : null}
      </section>
      {result ? <Result r={result} ns={ns} /> : null}
      {canManage && editing !== null && (editing === '' || current) ? (
        <section class="card" aria-labelledby="policy-h">
          <h2 id="policy-h">{editing ? `Edit ${editing}` : 'New retention policy'}</h2>
          <PolicyForm key={editing} ns={ns} policy={current ?? null} save={save} cancel={() => setEditing(null)} />
        </section>
      ) : null}
    </div>
  );
}
