// Storage quotas: each signed-in user's usage of their own namespace and their
// organisations' (GET /namespaces/{ns}/quota), and the administrators' page that lists
// every namespace and sets or removes its quota.
import { useState } from 'preact/hooks';
import { AdminTabs } from './admin.js';
import { api, bytes } from './api.js';
import { Alert, LoadError, NeedSignIn, PageTitle, Spinner, Table, useAction, useLoad, useSession } from './components.js';

export interface Usage {
  namespace: string;
  used: number;
  limit: number | null;
  warning: number | null;
  level: 'ok' | 'warning' | 'exceeded';
  source: 'namespace' | 'default' | 'none';
  quota: { limit: number | null; warning: number | null; updatedAt: number; updatedBy: string | null } | null;
}

const LEVEL_TEXT: Record<Usage['level'], string> = { ok: 'within quota', warning: 'above the warning level', exceeded: 'quota reached' };

/** Used of allowed, as text and a meter, with the level as a badge when it is not ok. */
export function UsageMeter({ u }: { u: Usage }) {
  return (
    <div class="usage" data-level={u.level}>
      <div class="row">
        <span>
          <strong>{bytes(u.used)}</strong> used{u.limit !== null ? ` of ${bytes(u.limit)}` : ' (no limit)'}
        </span>
        {u.level !== 'ok' ? <span class={`badge ${u.level === 'exceeded' ? 'private' : 'held'}`}>{LEVEL_TEXT[u.level]}</span> : null}
      </div>
      {u.limit !== null && u.limit > 0 ? (
        <meter min={0} max={u.limit} value={Math.min(u.used, u.limit)} high={u.warning ?? u.limit} optimum={0} aria-label={`Storage used in ${u.namespace}`} />
      ) : null}
      {u.warning !== null ? <div class="small muted">Warning at {bytes(u.warning)}</div> : null}
    </div>
  );
}

export function StoragePage() {
  const { user } = useSession();
  const list = useLoad<Usage[] | null>(async () => {
    if (!user) return null;
    const me = await api.get<{ name: string; orgs: { name: string }[] }>('/user');
    return Promise.all([me.name, ...me.orgs.map((o) => o.name)].map((ns) => api.get<Usage>(`/namespaces/${ns}/quota`)));
  }, [user?.name]);
  if (!user) return <NeedSignIn what="see your storage" />;
  return (
    <>
      <PageTitle title="Storage" />
      <p class="muted">What your namespaces store: every layer, config and manifest their repositories use, each counted once however many images share it.</p>
      {list.error ? <LoadError error={list.error} /> : null}
      {!list.data ? (
        list.error ? null : (
          <Spinner />
        )
      ) : (
        <div class="grid two">
          {list.data.map((u) => (
            <section class="card" key={u.namespace} aria-labelledby={`ns-${u.namespace}`}>
              <h2 id={`ns-${u.namespace}`}>{u.namespace}</h2>
              <UsageMeter u={u} />
              <p class="small">
                <a href={`/ui/n/${u.namespace}/retention`}>Retention policies</a> · <a href={`/ui/n/${u.namespace}/tag-rules`}>Immutable tags</a> ·{' '}
                <a href={`/ui/n/${u.namespace}/security`}>Security policies</a>
              </p>
            </section>
          ))}
        </div>
      )}
    </>
  );
}

const UNITS = { MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 } as const;
type Unit = keyof typeof UNITS;

/** "" → null (none); otherwise whole bytes, or an error text. */
function toBytes(value: string, unit: Unit): number | null | string {
  if (value.trim() === '') return null;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) return 'Sizes are non-negative numbers.';
  return Math.round(n * UNITS[unit]);
}

export function QuotasPage() {
  const { user } = useSession();
  const list = useLoad<{ namespaces: Usage[] } | null>(() => (user?.admin ? api.get('/quotas?n=1000') : Promise.resolve(null)), [user?.name]);
  const [form, setForm] = useState({ namespace: '', limit: '', warning: '', unit: 'GiB' as Unit });
  const [done, setDone] = useState('');
  const act = useAction();
  if (!user) return <NeedSignIn what="administer Berth" />;
  if (!user.admin) return <Alert>Administrators only.</Alert>;
  const remove = async (ns: string) => {
    setDone('');
    if (await act.run(() => api.del(`/namespaces/${ns}/quota`))) list.reload();
  };
  return (
    <>
      <PageTitle title="Administration" />
      <AdminTabs current="quotas" />
      <div class="grid two">
        <section class="card" aria-labelledby="quotas-h">
          <h2 id="quotas-h">Namespaces</h2>
          <Alert>{act.error}</Alert>
          {list.error ? <LoadError error={list.error} /> : null}
          {!list.data ? (
            list.error ? null : (
              <Spinner />
            )
          ) : list.data.namespaces.length === 0 ? (
            <p class="empty">No namespace stores anything yet.</p>
          ) : (
            <Table columns={['Namespace', 'Usage', 'Quota']} actions>
              {list.data.namespaces.map((u) => (
                <tr key={u.namespace}>
                  <td data-label="Namespace">
                    <strong>{u.namespace}</strong>
                  </td>
                  <td data-label="Usage">
                    <UsageMeter u={u} />
                  </td>
                  <td data-label="Quota">{u.source === 'namespace' ? 'own' : u.source === 'default' ? 'default' : 'none'}</td>
                  <td>
                    {u.quota ? (
                      <button type="button" class="small" disabled={act.busy} onClick={() => remove(u.namespace)}>
                        Remove quota <span class="sr-only">of {u.namespace}</span>
                      </button>
                    ) : null}
                  </td>
                </tr>
              ))}
            </Table>
          )}
        </section>
        <section class="card" aria-labelledby="set-quota-h">
          <h2 id="set-quota-h">Set a quota</h2>
          <p class="small muted">
            A push that would take the namespace over its limit is refused; crossing the warning level sends a quota.warning webhook event.
          </p>
          <form
            onSubmit={async (e) => {
              e.preventDefault();
              setDone('');
              const limit = toBytes(form.limit, form.unit);
              const warning = toBytes(form.warning, form.unit);
              if (typeof limit === 'string' || typeof warning === 'string') {
                act.setError(typeof limit === 'string' ? limit : String(warning));
                return;
              }
              const ns = form.namespace.trim();
              const ok = await act.run(() => api.put(`/namespaces/${encodeURIComponent(ns)}/quota`, { limit, warning }));
              if (ok) {
                setDone(`The quota of ${ns} was set.`);
                list.reload();
              }
            }}
          >
            <div class="field">
              <label for="q-ns">Namespace</label>
              <input
                id="q-ns"
                type="text"
                required
                autoComplete="off"
                autoCapitalize="none"
                value={form.namespace}
                onInput={(e) => setForm({ ...form, namespace: e.currentTarget.value })}
              />
            </div>
            <div class="field">
              <label for="q-unit">Unit</label>
              <select id="q-unit" value={form.unit} onChange={(e) => setForm({ ...form, unit: e.currentTarget.value as Unit })}>
                {Object.keys(UNITS).map((u) => (
                  <option key={u} value={u}>
                    {u}
                  </option>
                ))}
              </select>
            </div>
            <div class="field">
              <label for="q-limit">
                Limit <span class="hint">empty: no limit</span>
              </label>
              <input id="q-limit" type="number" min="0" step="any" value={form.limit} onInput={(e) => setForm({ ...form, limit: e.currentTarget.value })} />
            </div>
            <div class="field">
              <label for="q-warning">
                Warning level <span class="hint">empty: the server's percentage of the limit</span>
              </label>
              <input
                id="q-warning"
                type="number"
                min="0"
                step="any"
                value={form.warning}
                onInput={(e) => setForm({ ...form, warning: e.currentTarget.value })}
              />
            </div>
            <Alert kind="ok">{done}</Alert>
            <button type="submit" class="primary" disabled={act.busy}>
              Set quota
            </button>
          </form>
        </section>
      </div>
    </>
  );
}
