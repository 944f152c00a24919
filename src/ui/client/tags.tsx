// Tags over time: a repository's tag history (who moved which tag from what to what) with a
// Restore button for those who may push, and a namespace's immutable-tag rules, which its
// administrators manage here. Everything goes through the REST API, so its rules apply.
import { useState } from 'preact/hooks';
import { api, type HistoryEntry, type ImmutableRule } from './api.js';
import { Alert, Digest, LoadError, PageTitle, Spinner, Table, Time, repoPath, useAction, useLoad, useSession } from './components.js';

const ACTIONS: Record<HistoryEntry['action'], string> = { push: 'pushed', delete: 'deleted', restore: 'restored' };

/** The digest a restore from this entry goes back to: what the tag pointed at after it (before it, for a delete). */
const targetOf = (e: HistoryEntry) => (e.action === 'delete' ? e.previousDigest : e.digest);

export function TagHistoryTab({ name, canRestore }: { name: string; canRestore: boolean }) {
  const [tag, setTag] = useState('');
  const [filter, setFilter] = useState('');
  const history = useLoad<{ entries: HistoryEntry[]; next?: number }>(
    () => api.get(`/repositories/${name}/tag-history?n=100${filter ? `&tag=${encodeURIComponent(filter)}` : ''}`),
    [name, filter],
  );
  const act = useAction();
  const [notice, setNotice] = useState('');
  const ns = name.split('/')[0];
  const restore = async (e: HistoryEntry) => {
    const digest = targetOf(e)!;
    setNotice('');
    if (!confirm(`Point ${e.tag} at ${digest}?`)) return;
    if (await act.run(() => api.post(`/repositories/${name}/tags/${encodeURIComponent(e.tag)}/restore`, { digest }))) {
      setNotice(`${e.tag} restored to ${digest}.`);
      history.reload();
    }
  };
  return (
    <section class="card" aria-labelledby="history-h">
      <h2 id="history-h">Tag history</h2>
      <p class="small muted">
        Every push that created or moved a tag, every delete and every restore. A tag can be restored to an earlier image while that image is still stored.{' '}
        <a href={`/ui/n/${ns}/tag-rules`}>Immutable tags of {ns}</a> · <a href={`/ui/n/${ns}/retention`}>Retention policies of {ns}</a> ·{' '}
        <a href={`/ui/n/${ns}/security`}>Security policies of {ns}</a>
      </p>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          setFilter(tag.trim());
        }}
      >
        <label class="sr-only" for="history-tag">
          Tag
        </label>
        <input id="history-tag" type="search" placeholder="Only this tag" value={tag} onInput={(e) => setTag(e.currentTarget.value)} />
        <button type="submit">Filter</button>
      </form>
      <Alert>{act.error}</Alert>
      <Alert kind="ok">{notice}</Alert>
      {history.error ? (
        <LoadError error={history.error} />
      ) : !history.data ? (
        <Spinner />
      ) : history.data.entries.length === 0 ? (
        <p class="empty">No tag changes{filter ? ` for ${filter}` : ''}.</p>
      ) : (
        <Table columns={['Tag', 'Change', 'From', 'To', 'By', 'When']} actions={canRestore}>
          {history.data.entries.map((e) => (
            <tr key={e.id} data-testid={`history-${e.id}`}>
              <td data-label="Tag">
                <strong>{e.tag}</strong>
              </td>
              <td data-label="Change">{ACTIONS[e.action]}</td>
              <td data-label="From">{e.previousDigest ? <Digest digest={e.previousDigest} href={repoPath(name, `manifests/${e.previousDigest}`)} /> : '—'}</td>
              <td data-label="To">{e.digest ? <Digest digest={e.digest} href={repoPath(name, `manifests/${e.digest}`)} /> : '—'}</td>
              <td data-label="By">{e.actor ?? <span class="muted">anonymous</span>}</td>
              <td data-label="When">
                <Time ms={e.at} />
              </td>
              {canRestore ? (
                <td>
                  {e.restorable ? (
                    <button type="button" class="small" disabled={act.busy} onClick={() => restore(e)} aria-label={`Restore ${e.tag} to ${targetOf(e)}`}>
                      Restore
                    </button>
                  ) : null}
                </td>
              ) : null}
            </tr>
          ))}
        </Table>
      )}
    </section>
  );
}

const lines = (s: string) =>
  s
    .split(/[\n,]/)
    .map((x) => x.trim())
    .filter(Boolean);

export function TagRulesPage({ ns }: { ns: string }) {
  const { user } = useSession();
  const list = useLoad<{ rules: ImmutableRule[] }>(() => api.get(`/namespaces/${ns}/immutable-tag-rules`), [ns, user?.name]);
  const empty = { name: '', repositories: '**', tags: '', excludeRepositories: '', excludeTags: '' };
  const [form, setForm] = useState(empty);
  const act = useAction();
  return (
    <div class="stack">
      <section class="card" aria-labelledby="page-title">
        <PageTitle title={`Immutable tags of ${ns}`} />
        <p class="small muted">
          A tag that a rule matches cannot be moved to another image or deleted, and neither can the image it points at. Pushing the same image again is fine.
          Patterns are globs: <code>v*</code>, <code>{'{latest,stable}'}</code>, <code>release-[0-9]*</code>; repositories are named below the namespace,{' '}
          <code>**</code> for all. Retention policies never delete a tag a rule protects: <a href={`/ui/n/${ns}/retention`}>retention policies of {ns}</a>.
        </p>
        {list.error ? (
          <LoadError error={list.error} />
        ) : !list.data ? (
          <Spinner />
        ) : list.data.rules.length === 0 ? (
          <p class="empty">No rules: every tag can be moved and deleted.</p>
        ) : (
          <Table columns={['Rule', 'Repositories', 'Tags', 'Except', 'Added']} actions>
            {list.data.rules.map((r) => (
              <tr key={r.name} data-testid={`rule-${r.name}`}>
                <td data-label="Rule">
                  <strong>{r.name}</strong>
                </td>
                <td data-label="Repositories" class="mono">
                  {r.repositories}
                </td>
                <td data-label="Tags" class="mono">
                  {r.tags}
                </td>
                <td data-label="Except" class="mono small">
                  {[...r.excludeRepositories.map((x) => `repositories ${x}`), ...r.excludeTags.map((x) => `tags ${x}`)].join('; ') || '—'}
                </td>
                <td data-label="Added">
                  <Time ms={r.createdAt} /> {r.createdBy ? `by ${r.createdBy}` : ''}
                </td>
                <td>
                  <button
                    type="button"
                    class="small danger"
                    disabled={act.busy}
                    onClick={async () => {
                      if (
                        confirm(`Remove the rule ${r.name}? Its tags can then be moved and deleted.`) &&
                        (await act.run(() => api.del(`/namespaces/${ns}/immutable-tag-rules/${r.name}`)))
                      )
                        list.reload();
                    }}
                  >
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </Table>
        )}
        <Alert>{act.error}</Alert>
      </section>
      {list.data ? (
        <section class="card" aria-labelledby="rule-h">
          <h2 id="rule-h">Add a rule</h2>
          <form
            onSubmit={async (e) => {
              e.preventDefault();
              const ok = await act.run(() =>
                api.post(`/namespaces/${ns}/immutable-tag-rules`, {
                  name: form.name.trim(),
                  repositories: form.repositories.trim() || '**',
                  tags: form.tags.trim(),
                  excludeRepositories: lines(form.excludeRepositories),
                  excludeTags: lines(form.excludeTags),
                }),
              );
              if (ok) {
                setForm(empty);
                list.reload();
              }
            }}
          >
            <div class="field">
              <label for="rule-name">Name</label>
              <input id="rule-name" required maxLength={64} value={form.name} onInput={(e) => setForm({ ...form, name: e.currentTarget.value })} />
            </div>
            <div class="field">
              <label for="rule-repos">Repositories</label>
              <input id="rule-repos" value={form.repositories} onInput={(e) => setForm({ ...form, repositories: e.currentTarget.value })} />
            </div>
            <div class="field">
              <label for="rule-tags">Tags</label>
              <input id="rule-tags" required placeholder="v*" value={form.tags} onInput={(e) => setForm({ ...form, tags: e.currentTarget.value })} />
            </div>
            <div class="field">
              <label for="rule-xtags">
                Except tags <span class="hint">optional, comma-separated, e.g. *-dev</span>
              </label>
              <input id="rule-xtags" value={form.excludeTags} onInput={(e) => setForm({ ...form, excludeTags: e.currentTarget.value })} />
            </div>
            <div class="field">
              <label for="rule-xrepos">
                Except repositories <span class="hint">optional, comma-separated</span>
              </label>
              <input id="rule-xrepos" value={form.excludeRepositories} onInput={(e) => setForm({ ...form, excludeRepositories: e.currentTarget.value })} />
            </div>
            <button type="submit" class="primary" disabled={act.busy}>
              Add rule
            </button>
          </form>
        </section>
      ) : null}
    </div>
  );
}
