// Administrators' replication page (/ui/admin/replication): the policies with their remote
// registry, filters, trigger and last run; create, edit and delete them; "Run now"; and a policy's
// run history, refreshed while a run is in progress. Everything goes through the REST API
// (/replication/policies), so its permission rule and validation apply.
import { useEffect, useState } from 'preact/hooks';
import { api, bytes } from './api.js';
import { AdminTabs } from './admin.js';
import { Alert, LoadError, NeedSignIn, PageTitle, Spinner, Table, Time, useAction, useLoad, useSession } from './components.js';
import { PolicyForm, type Policy, type PolicyBody, type Run } from './replication-form.js';

const BASE = '/replication/policies';
/** How often a history with a run in progress is read again. */
const POLL_MS = 2000;

const ms = (t: string | null | undefined) => (t ? Date.parse(t) : null);

function StatusBadge({ status }: { status: Run['status'] }) {
  const cls = status === 'succeeded' ? 'public' : status === 'running' ? '' : 'private';
  return <span class={`badge ${cls}`}>{status}</span>;
}

function counts(r: Run): string {
  return `${r.copied} copied, ${r.skipped} skipped${r.deleted ? `, ${r.deleted} deleted` : ''}${r.failed ? `, ${r.failed} failed` : ''}, ${bytes(r.bytes)}`;
}

function triggerText(p: Policy): string {
  if (p.trigger === 'event') return 'on each push';
  if (p.trigger === 'schedule') return `every ${p.interval}`;
  return 'by hand';
}

function LastRun({ r }: { r: Run | null }) {
  if (!r) return <span class="muted">never</span>;
  // One element: on a phone the table's cells are grids of label and content.
  return (
    <div>
      <StatusBadge status={r.status} /> <Time ms={ms(r.startedAt)} />
      <div class="small muted">{counts(r)}</div>
      {r.error ? <div class="small">{r.error}</div> : null}
    </div>
  );
}

function History({ policy, runs, reload }: { policy: Policy; runs: { data?: { runs: Run[] } | null; error: unknown }; reload: () => void }) {
  return (
    <section class="card" aria-labelledby="history-h" data-testid="run-history">
      <div class="row" style={{ justifyContent: 'space-between' }}>
        <h2 id="history-h">Runs of {policy.name}</h2>
        <button type="button" class="small" onClick={reload}>
          Refresh
        </button>
      </div>
      {runs.error ? (
        <LoadError error={runs.error} />
      ) : !runs.data ? (
        <Spinner />
      ) : runs.data.runs.length === 0 ? (
        <p class="empty">No runs yet.</p>
      ) : (
        <Table columns={['Started', 'Trigger', 'Status', 'Copied', 'Skipped', 'Deleted', 'Failed', 'Bytes', 'Finished']}>
          {runs.data.runs.map((r) => (
            <tr key={r.id} data-testid={`run-${r.id}`}>
              <td data-label="Started">
                <Time ms={ms(r.startedAt)} />
              </td>
              <td data-label="Trigger">{r.trigger}</td>
              <td data-label="Status">
                <div>
                  <StatusBadge status={r.status} />
                  {r.error ? <div class="small">{r.error}</div> : null}
                </div>
              </td>
              <td data-label="Copied">{r.copied}</td>
              <td data-label="Skipped">{r.skipped}</td>
              <td data-label="Deleted">{r.deleted}</td>
              <td data-label="Failed">{r.failed}</td>
              <td data-label="Bytes">{bytes(r.bytes)}</td>
              <td data-label="Finished">{r.finishedAt ? <Time ms={ms(r.finishedAt)} /> : <span class="muted">running</span>}</td>
            </tr>
          ))}
        </Table>
      )}
    </section>
  );
}

export function ReplicationPage() {
  const { user } = useSession();
  const list = useLoad<{ policies: Policy[] } | null>(() => (user?.admin ? api.get(BASE) : Promise.resolve(null)), [user?.name]);
  // null: no form; 0: a new policy; otherwise the id of the policy being edited.
  const [editing, setEditing] = useState<number | null>(null);
  const [shown, setShown] = useState<number | null>(null);
  const [notice, setNotice] = useState('');
  const act = useAction();
  const runs = useLoad<{ runs: Run[] } | null>(() => (shown ? api.get(`${BASE}/${shown}/runs?n=20`) : Promise.resolve(null)), [shown]);
  // While a run is in progress, its counts and then its outcome are read again every POLL_MS.
  const running = !!runs.data?.runs.some((r) => r.status === 'running') || !!list.data?.policies.some((p) => p.running || p.lastRun?.status === 'running');
  useEffect(() => {
    if (!running) return;
    const t = setTimeout(() => {
      runs.reload();
      list.reload();
    }, POLL_MS);
    return () => clearTimeout(t);
  }, [running, runs.data, list.data]);

  if (!user) return <NeedSignIn what="administer Berth" />;
  if (!user.admin) return <Alert>Administrators only.</Alert>;

  const policies = list.data?.policies ?? [];
  const current = editing ? policies.find((p) => p.id === editing) : undefined;
  const history = shown ? policies.find((p) => p.id === shown) : undefined;

  const runNow = async (p: Policy) => {
    setNotice('');
    let run: Run | undefined;
    if (await act.run(async () => (run = await api.post<Run>(`${BASE}/${p.id}/run`)))) {
      setNotice(`Run of ${p.name} started${run ? ` at ${new Date(Date.parse(run.startedAt)).toLocaleTimeString()}` : ''}; its history below follows it.`);
      setShown(p.id);
      runs.reload();
      list.reload();
    }
  };
  const remove = async (p: Policy) => {
    setNotice('');
    if (!confirm(`Delete the replication policy ${p.name} and its run history? What it copied stays where it is.`)) return;
    if (await act.run(() => api.del(`${BASE}/${p.id}`))) {
      setNotice(`Policy ${p.name} deleted.`);
      if (shown === p.id) setShown(null);
      if (editing === p.id) setEditing(null);
      list.reload();
    }
  };
  const save = async (body: PolicyBody) => {
    if (editing) await api.patch(`${BASE}/${editing}`, body);
    else await api.post(BASE, body);
    setNotice(`Policy ${String(body.name)} ${editing ? 'saved' : 'created'}.`);
    setEditing(null);
    list.reload();
  };

  return (
    <>
      <PageTitle title="Administration" />
      <AdminTabs current="replication" />
      <div class="stack">
        <section class="card" aria-labelledby="replication-h">
          <h2 id="replication-h">Replication policies</h2>
          <p class="small muted">
            A push policy copies repositories of this registry to another one, on each push or on a schedule; a pull policy copies from another registry into
            this one on a schedule. Blobs the destination has are skipped, so a second run copies only what changed. Any OCI registry can be the other end.
          </p>
          <Alert>{act.error}</Alert>
          <Alert kind="ok">{notice}</Alert>
          {list.error ? (
            <LoadError error={list.error} />
          ) : !list.data ? (
            <Spinner />
          ) : policies.length === 0 ? (
            <p class="empty">No replication policies.</p>
          ) : (
            <Table columns={['Policy', 'Copies', 'When', 'Last run']} actions>
              {policies.map((p) => (
                <tr key={p.id} data-testid={`policy-${p.name}`}>
                  <td data-label="Policy">
                    <div>
                      <strong>{p.name}</strong> {p.enabled ? null : <span class="badge held">disabled</span>}{' '}
                      {p.running ? <span class="badge">running</span> : null}
                      <div class="small mono" style={{ overflowWrap: 'break-word' }}>
                        {p.direction === 'push' ? 'to' : 'from'} {p.remoteUrl}
                        {p.remotePrefix ? ` (prefix ${p.remotePrefix})` : ''}
                      </div>
                      <div class="small muted">
                        {p.remoteUsername ? `as ${p.remoteUsername}${p.hasPassword ? ' with a stored password' : ''}` : 'anonymous'}
                      </div>
                    </div>
                  </td>
                  <td data-label="Copies">
                    <div>
                      <div class="small mono" style={{ overflowWrap: 'break-word' }}>
                        {p.repositories.join(', ')}
                        {p.excludeRepositories.length ? ` except ${p.excludeRepositories.join(', ')}` : ''}
                      </div>
                      <div class="small mono" style={{ overflowWrap: 'break-word' }}>
                        tags {p.tags.join(', ')}
                        {p.excludeTags.length ? ` except ${p.excludeTags.join(', ')}` : ''}
                      </div>
                      {p.replicateDeletes ? <div class="small muted">deletes too</div> : null}
                    </div>
                  </td>
                  <td data-label="When">
                    <div>
                      {triggerText(p)}
                      {p.nextRunAt && p.enabled ? (
                        <div class="small muted">
                          next <Time ms={ms(p.nextRunAt)} />
                        </div>
                      ) : null}
                    </div>
                  </td>
                  <td data-label="Last run">
                    <LastRun r={p.lastRun} />
                  </td>
                  <td>
                    <div class="row">
                      <button type="button" class="small" disabled={act.busy} onClick={() => runNow(p)} aria-label={`Run ${p.name} now`}>
                        Run now
                      </button>
                      <button type="button" class="small" onClick={() => setShown(p.id)} aria-label={`History of ${p.name}`}>
                        History
                      </button>
                      <button type="button" class="small" onClick={() => setEditing(p.id)} aria-label={`Edit ${p.name}`}>
                        Edit
                      </button>
                      <button type="button" class="small danger" disabled={act.busy} onClick={() => remove(p)} aria-label={`Delete ${p.name}`}>
                        Delete
                      </button>
                    </div>
                  </td>
                </tr>
              ))}
            </Table>
          )}
          {list.data && editing === null ? (
            <div class="row" style={{ marginTop: '1rem' }}>
              <button type="button" class="primary" onClick={() => setEditing(0)}>
                New policy
              </button>
            </div>
          ) : null}
        </section>
        {editing !== null && (editing === 0 || current) ? (
          <section class="card" aria-labelledby="policy-h">
            <h2 id="policy-h">{current ? `Edit ${current.name}` : 'New replication policy'}</h2>
            <PolicyForm key={editing} policy={current ?? null} save={save} cancel={() => setEditing(null)} />
          </section>
        ) : null}
        {history ? <History policy={history} runs={runs} reload={runs.reload} /> : null}
      </div>
    </>
  );
}
