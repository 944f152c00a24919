// A repository: header (description, star, watch, pulls), and its tabs: the README,
// tags (with signature status and vulnerability counts), one manifest's details with its signatures,
// vulnerability report and referrers, comments, and settings for its
// administrators. Reads go through the REST API and /ui/api, so a repository the
// caller may not see is simply "not found" here too.
import { useState } from 'preact/hooks';
import { api, bytes, count, errorText, registryHost, shortDigest, ui, type Desc, type ManifestReply, type TagsReply } from './api.js';
import {
  Alert,
  CopyButton,
  CopyLine,
  Digest,
  LoadError,
  NeedSignIn,
  Pager,
  PageTitle,
  Spinner,
  Table,
  Time,
  repoPath,
  useAction,
  useLoad,
  useSession,
} from './components.js';
import { RepositorySettings } from './settings.js';
import { SignatureCell, SignaturesSection } from './signatures.js';
import { TagHistoryTab } from './tags.js';
import { VulnerabilitiesSection, VulnerabilityCell } from './vulnerabilities.js';

export interface RepoInfo {
  name: string;
  description: string | null;
  readme: string | null;
  readmeHtml: string;
  starCount: number;
  starred: boolean;
  pullCount: number;
  lastPullAt: number | null;
  lastPushAt: number | null;
  platforms: string[];
  commentsEnabled: boolean;
}
interface RepoRow {
  name: string;
  visibility: 'public' | 'private';
  actions: string[];
}

export function RepositoryPage({ name, sub, search }: { name: string; sub: string; search: URLSearchParams }) {
  const { user } = useSession();
  const info = useLoad<RepoInfo>(() => api.get(`/repositories/${name}/description`), [name, user?.name]);
  const repo = useLoad<RepoRow>(() => api.get(`/repositories/${name}`), [name, user?.name]);
  const isAdmin = !!user && !!repo.data?.actions.includes('delete');

  if (info.error || repo.error) {
    return (
      <div class="card">
        <PageTitle title="Repository not found" />
        <p>{errorText(info.error ?? repo.error)}</p>
        <p class="muted">It does not exist, or you may not see it{user ? '' : ': try signing in'}.</p>
      </div>
    );
  }
  if (!info.data || !repo.data) return <Spinner />;

  const tab = sub === '' ? 'overview' : sub.split('/')[0];
  const tabs: [string, string, string][] = [
    ['overview', 'Overview', repoPath(name)],
    ['tags', 'Tags', repoPath(name, 'tags')],
    ['history', 'History', repoPath(name, 'history')],
    ['comments', 'Comments', repoPath(name, 'comments')],
  ];
  if (isAdmin) tabs.push(['settings', 'Settings', repoPath(name, 'settings')]);

  return (
    <>
      <RepoHeader info={info.data} visibility={repo.data.visibility} onChange={(i) => info.set(i)} />
      <nav class="tabs" aria-label="Repository">
        {tabs.map(([key, label, href]) => (
          <a href={href} key={key} aria-current={tab === key || (key === 'tags' && tab === 'manifests') ? 'page' : undefined}>
            {label}
          </a>
        ))}
      </nav>
      {tab === 'overview' ? <Overview info={info.data} /> : null}
      {tab === 'tags' ? <TagsTab name={name} search={search} /> : null}
      {tab === 'manifests' ? (
        <ManifestView name={name} reference={sub.slice('manifests/'.length)} canScan={!!user && repo.data.actions.includes('push')} />
      ) : null}
      {tab === 'history' ? <TagHistoryTab name={name} canRestore={!!user && repo.data.actions.includes('push')} /> : null}
      {tab === 'comments' ? <Comments name={name} enabled={info.data.commentsEnabled} isAdmin={isAdmin} /> : null}
      {tab === 'settings' ? (
        isAdmin ? (
          <RepositorySettings
            name={name}
            visibility={repo.data.visibility}
            info={info.data}
            onChanged={() => {
              info.reload();
              repo.reload();
            }}
          />
        ) : (
          <Alert>Repository administrators only.</Alert>
        )
      ) : null}
    </>
  );
}

function RepoHeader({ info, visibility, onChange }: { info: RepoInfo; visibility: string; onChange: (i: RepoInfo) => void }) {
  const { user } = useSession();
  const star = useAction();
  const watch = useLoad<{ watching: boolean } | null>(
    () => (user ? api.get<{ watching: boolean }>(`/repositories/${info.name}/watch`).catch(() => null) : Promise.resolve(null)),
    [info.name, user?.name],
  );
  const watchAction = useAction();
  const pull = useLoad(() => ui.pull(info.name), [info.name, info.lastPushAt, user?.name]);
  const toggleStar = () =>
    star.run(async () => {
      type Starred = { starred: boolean; starCount: number };
      const r = await (info.starred ? api.del<Starred>(`/repositories/${info.name}/star`) : api.put<Starred>(`/repositories/${info.name}/star`));
      onChange({ ...info, starred: r.starred, starCount: r.starCount });
    });
  const toggleWatch = () =>
    watchAction.run(async () => {
      if (watch.data?.watching) await api.del(`/repositories/${info.name}/watch`);
      else await api.put(`/repositories/${info.name}/watch`);
      watch.reload();
    });
  return (
    <section class="card" aria-labelledby="page-title">
      <div class="repo-head">
        <div class="grow">
          <div class="row">
            <PageTitle title={info.name} />
            <span class={`badge ${visibility}`}>{visibility}</span>
          </div>
          <p class={info.description ? '' : 'muted'}>{info.description || 'No description'}</p>
          <div class="stats">
            <span class="stat">
              <strong>{count(info.pullCount)}</strong> pulls
            </span>
            <span class="stat">
              pushed <Time ms={info.lastPushAt} />
            </span>
            <span class="stat">
              pulled <Time ms={info.lastPullAt} />
            </span>
          </div>
        </div>
        <div class="row">
          <button
            type="button"
            aria-pressed={info.starred ? 'true' : 'false'}
            disabled={!user || star.busy}
            title={user ? undefined : 'Sign in to star'}
            onClick={toggleStar}
            data-testid="star"
          >
            <span aria-hidden="true">{info.starred ? '★' : '☆'}</span> {info.starred ? 'Starred' : 'Star'}
            {/* a generic span cannot carry aria-label: the count is read from the hidden text instead */}
            <span class="badge">
              <span aria-hidden="true">{count(info.starCount)}</span>
              <span class="sr-only">{info.starCount} stars</span>
            </span>
          </button>
          {user && watch.data ? (
            <button type="button" aria-pressed={watch.data.watching ? 'true' : 'false'} disabled={watchAction.busy} onClick={toggleWatch}>
              {watch.data.watching ? 'Watching' : 'Watch'}
            </button>
          ) : null}
        </div>
      </div>
      <Alert>{star.error || watchAction.error}</Alert>
      {pull.data?.reference ? (
        <CopyLine text={`docker pull ${registryHost()}/${info.name}${pull.data.reference}`} what="pull command" />
      ) : pull.data ? (
        <p class="muted">
          Nothing to pull yet: push with{' '}
          <code>
            docker push {registryHost()}/{info.name}:TAG
          </code>
          .
        </p>
      ) : null}
    </section>
  );
}

function Overview({ info }: { info: RepoInfo }) {
  return (
    <div class="grid two">
      <article class="card readme" aria-label="README">
        {info.readmeHtml ? <div dangerouslySetInnerHTML={{ __html: info.readmeHtml }} /> : <p class="muted">This repository has no README yet.</p>}
      </article>
      <aside class="card">
        <h2>About</h2>
        <dl class="kv">
          <dt>Platforms</dt>
          <dd>
            {info.platforms.length ? (
              <span class="chips">
                {info.platforms.map((p) => (
                  <span class="badge" key={p}>
                    {p}
                  </span>
                ))}
              </span>
            ) : (
              '—'
            )}
          </dd>
          <dt>Pulls</dt>
          <dd>{info.pullCount}</dd>
          <dt>Stars</dt>
          <dd>{info.starCount}</dd>
          <dt>Last push</dt>
          <dd>
            <Time ms={info.lastPushAt} />
          </dd>
        </dl>
      </aside>
    </div>
  );
}

function TagsTab({ name, search }: { name: string; search: URLSearchParams }) {
  const [page, setPage] = useState(Math.max(1, Number(search.get('page') ?? '1') || 1));
  const tags = useLoad<TagsReply>(() => ui.tags(name, page), [name, page]);
  if (tags.error) return <LoadError error={tags.error} />;
  if (!tags.data) return <Spinner />;
  const host = registryHost();
  // The columns appear when the server checks signatures / scans (the listing then has the fields).
  const sigs = tags.data.tags.some((t) => t.signature);
  const vulns = tags.data.tags.some((t) => t.vulnerabilities);
  return (
    <section class="card" aria-labelledby="tags-h">
      <h2 id="tags-h">
        Tags <span class="badge">{tags.data.total}</span>
      </h2>
      {tags.data.tags.length === 0 ? (
        <p class="empty">
          No tags yet. Push one with{' '}
          <code>
            docker push {host}/{name}:TAG
          </code>
          .
        </p>
      ) : (
        <Table columns={['Tag', 'Size', 'Platforms', 'Digest', sigs ? 'Signature' : null, vulns ? 'Vulnerabilities' : null, 'Pushed', 'Pull']}>
          {tags.data.tags.map((t) => (
            <tr key={t.name} data-testid={`tag-${t.name}`}>
              <td data-label="Tag">
                <a href={repoPath(name, `manifests/${t.name}`)}>
                  <strong>{t.name}</strong>
                </a>
                {t.immutableRule ? (
                  <span class="badge" title={`Immutable: rule ${t.immutableRule} of ${name.split('/')[0]}`}>
                    immutable
                  </span>
                ) : null}
                {t.artifactType ? <div class="small muted">{t.artifactType}</div> : null}
              </td>
              <td data-label="Size">{bytes(t.size)}</td>
              <td data-label="Platforms">
                {t.platforms.length ? (
                  <span class="chips">
                    {t.platforms.map((p) => (
                      <span class="badge" key={p}>
                        {p}
                      </span>
                    ))}
                  </span>
                ) : (
                  <span class="muted">—</span>
                )}
              </td>
              <td data-label="Digest">
                <Digest digest={t.digest} href={repoPath(name, `manifests/${t.digest}`)} />
              </td>
              {sigs ? (
                <td data-label="Signature">
                  <SignatureCell sig={t.signature} tag={t.name} />
                </td>
              ) : null}
              {vulns ? (
                <td data-label="Vulnerabilities">
                  <VulnerabilityCell v={t.vulnerabilities} />
                </td>
              ) : null}
              <td data-label="Pushed">
                <Time ms={t.pushedAt} />
              </td>
              <td data-label="Pull">
                <CopyButton class="small" text={`docker pull ${host}/${name}:${t.name}`} label="Copy pull" what={`pull command for ${t.name}`} />
              </td>
            </tr>
          ))}
        </Table>
      )}
      <Pager page={page} pages={Math.ceil(tags.data.total / tags.data.pageSize)} go={setPage} />
    </section>
  );
}

const KNOWN_ARTIFACTS: Record<string, string> = {
  'application/vnd.dev.cosign.artifact.sig.v1+json': 'cosign signature',
  'application/vnd.dev.sigstore.bundle.v0.3+json': 'sigstore bundle',
  'application/vnd.cncf.notary.signature': 'Notary signature',
  'application/spdx+json': 'SPDX SBOM',
  'application/vnd.cyclonedx+json': 'CycloneDX SBOM',
  'application/vnd.in-toto+json': 'in-toto attestation',
};
const artifactLabel = (t: string | null) => (t ? (KNOWN_ARTIFACTS[t] ?? t) : 'artifact');

function DescRows({ rows, name, kind }: { rows: Desc[]; name: string; kind: 'layer' | 'child' }) {
  return (
    <Table columns={['#', kind === 'child' ? 'Platform' : null, 'Media type', 'Size', 'Digest']}>
      {rows.map((d, i) => (
        <tr key={`${d.digest}-${i}`}>
          <td data-label="#">{i + 1}</td>
          {kind === 'child' ? <td data-label="Platform">{d.platform ?? (d.artifactType ? artifactLabel(d.artifactType) : '—')}</td> : null}
          <td data-label="Media type" class="small mono">
            {d.mediaType ?? '—'}
          </td>
          <td data-label="Size">{bytes(d.size)}</td>
          <td data-label="Digest">
            {d.digest ? <Digest digest={d.digest} href={kind === 'child' ? repoPath(name, `manifests/${d.digest}`) : undefined} /> : '—'}
          </td>
        </tr>
      ))}
    </Table>
  );
}

function Annotations({ a }: { a: Record<string, string> | null }) {
  if (!a || Object.keys(a).length === 0) return null;
  return (
    <dl class="kv small">
      {Object.entries(a).map(([k, v]) => (
        <>
          <dt class="mono">{k}</dt>
          <dd>{v}</dd>
        </>
      ))}
    </dl>
  );
}

function ManifestView({ name, reference, canScan }: { name: string; reference: string; canScan: boolean }) {
  const m = useLoad<ManifestReply>(() => ui.manifest(name, reference), [name, reference]);
  if (m.error) return <LoadError error={m.error} />;
  if (!m.data) return <Spinner />;
  const d = m.data;
  const host = registryHost();
  const pullRef = reference.includes(':') ? `@${d.digest}` : `:${reference}`;
  return (
    <div class="stack">
      <section class="card" aria-labelledby="manifest-h">
        <h2 id="manifest-h">{reference.includes(':') ? `Manifest ${shortDigest(d.digest)}` : `Tag ${reference}`}</h2>
        <dl class="kv">
          <dt>Digest</dt>
          <dd>
            <Digest digest={d.digest} />
          </dd>
          <dt>Media type</dt>
          <dd class="mono small">{d.mediaType}</dd>
          {d.artifactType ? (
            <>
              <dt>Artifact type</dt>
              <dd class="mono small">{d.artifactType}</dd>
            </>
          ) : null}
          <dt>Size</dt>
          <dd>
            {bytes(d.totalSize)} <span class="muted small">(manifest {bytes(d.size)})</span>
          </dd>
          <dt>Tags</dt>
          <dd>
            {d.tags.length ? (
              <span class="chips">
                {d.tags.map((t) => (
                  <span class="badge" key={t}>
                    {t}
                  </span>
                ))}
              </span>
            ) : (
              '—'
            )}
          </dd>
          <dt>Platforms</dt>
          <dd>{d.platforms.length ? d.platforms.join(', ') : '—'}</dd>
          <dt>Pushed</dt>
          <dd>
            <Time ms={d.pushedAt} />
          </dd>
          {d.subject ? (
            <>
              <dt>Refers to</dt>
              <dd>
                <Digest digest={d.subject} href={repoPath(name, `manifests/${d.subject}`)} />
              </dd>
            </>
          ) : null}
        </dl>
        <div class="field" style={{ marginTop: '1rem' }}>
          <CopyLine text={`docker pull ${host}/${name}${pullRef}`} what="pull command" />
        </div>
        <Annotations a={d.annotations} />
      </section>

      {d.subject ? null : (
        <>
          <SignaturesSection name={name} digest={d.digest} />
          <VulnerabilitiesSection name={name} digest={d.digest} canScan={canScan} />
        </>
      )}

      {d.children.length ? (
        <section class="card" aria-labelledby="children-h">
          <h2 id="children-h">Platforms in this index</h2>
          <DescRows rows={d.children} name={name} kind="child" />
        </section>
      ) : null}

      {d.config || d.layers.length ? (
        <section class="card" aria-labelledby="layers-h">
          <h2 id="layers-h">Layers</h2>
          {d.config ? (
            <p class="small">
              Config: <span class="mono">{d.config.mediaType}</span> · {bytes(d.config.size)} · {d.config.digest ? <Digest digest={d.config.digest} /> : null}
            </p>
          ) : null}
          {d.layers.length ? <DescRows rows={d.layers} name={name} kind="layer" /> : <p class="muted">No layers.</p>}
        </section>
      ) : null}

      <section class="card" aria-labelledby="referrers-h">
        <h2 id="referrers-h">
          Referrers <span class="badge">{d.referrers.length}</span>
        </h2>
        <p class="small muted">Signatures, SBOMs and attestations that refer to this manifest.</p>
        {d.referrers.length === 0 ? (
          <p class="muted">None.</p>
        ) : (
          <ul class="results">
            {d.referrers.map((r) => (
              <li key={r.digest} class="row">
                <span class="badge">{artifactLabel(r.artifactType)}</span>
                <Digest digest={r.digest} href={repoPath(name, `manifests/${r.digest}`)} />
                <span class="small muted">{bytes(r.size)}</span>
                <Annotations a={r.annotations} />
              </li>
            ))}
          </ul>
        )}
      </section>

      {d.raw ? (
        <details class="card">
          <summary>Raw manifest</summary>
          <pre>{pretty(d.raw)}</pre>
        </details>
      ) : null}
    </div>
  );
}

function pretty(raw: string): string {
  try {
    return JSON.stringify(JSON.parse(raw), null, 2);
  } catch {
    return raw;
  }
}

// ---- comments ----

interface Comment {
  id: number;
  author: string;
  body: string;
  html: string;
  status: 'visible' | 'held' | 'rejected';
  createdAt: number;
  editedAt: number | null;
}

function Comments({ name, enabled, isAdmin }: { name: string; enabled: boolean; isAdmin: boolean }) {
  const { user } = useSession();
  const list = useLoad<{ enabled: boolean; comments: Comment[] }>(() => api.get(`/repositories/${name}/comments?n=100`), [name, user?.name]);
  const [text, setText] = useState('');
  const post = useAction();
  const [notice, setNotice] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    const ok = await post.run(async () => {
      const c: Comment = await api.post(`/repositories/${name}/comments`, { body: text });
      setNotice(c.status === 'held' ? 'Thanks! Your comment is waiting for a moderator.' : 'Comment posted.');
    });
    if (ok) {
      setText('');
      list.reload();
    }
  };
  return (
    <section class="card" aria-labelledby="comments-h">
      <h2 id="comments-h">Comments</h2>
      {list.error ? <LoadError error={list.error} /> : null}
      {list.data ? (
        list.data.comments.length ? (
          <ol class="results" aria-label="Comments" style={{ gap: 0 }}>
            {list.data.comments.map((c) => (
              <CommentItem key={c.id} c={c} name={name} canDelete={!!user && (user.name === c.author || isAdmin || user.admin)} onChange={list.reload} />
            ))}
          </ol>
        ) : (
          <p class="muted">No comments yet.</p>
        )
      ) : (
        <Spinner />
      )}
      <Alert kind="ok">{notice}</Alert>
      {!enabled ? (
        <p class="muted">Comments are turned off for this repository.</p>
      ) : user ? (
        <form onSubmit={submit}>
          <div class="field">
            <label for="new-comment">Add a comment</label>
            <textarea
              id="new-comment"
              value={text}
              maxLength={4000}
              required
              onInput={(e) => setText(e.currentTarget.value)}
              placeholder="Markdown is supported."
            />
          </div>
          <Alert>{post.error}</Alert>
          <button type="submit" class="primary" disabled={post.busy || text.trim() === ''}>
            Post comment
          </button>
        </form>
      ) : (
        <NeedSignIn what="comment" />
      )}
    </section>
  );
}

function CommentItem({ c, name, canDelete, onChange }: { c: Comment; name: string; canDelete: boolean; onChange: () => void }) {
  const { user } = useSession();
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(c.body);
  const act = useAction();
  const [reported, setReported] = useState(false);
  const mine = user?.name === c.author;
  return (
    <li class="comment" id={`comment-${c.id}`}>
      <div class="row small muted">
        <strong class="grow" style={{ color: 'var(--text)' }}>
          {c.author}
        </strong>
        <Time ms={c.createdAt} />
        {c.editedAt ? <span>(edited)</span> : null}
        {c.status !== 'visible' ? <span class="badge held">{c.status === 'held' ? 'awaiting moderation' : c.status}</span> : null}
      </div>
      {editing ? (
        <form
          onSubmit={async (e) => {
            e.preventDefault();
            if (await act.run(() => api.patch(`/repositories/${name}/comments/${c.id}`, { body: text }))) {
              setEditing(false);
              onChange();
            }
          }}
        >
          <label class="sr-only" for={`edit-${c.id}`}>
            Edit comment
          </label>
          <textarea id={`edit-${c.id}`} value={text} maxLength={4000} onInput={(e) => setText(e.currentTarget.value)} />
          <div class="row" style={{ marginTop: '.5rem' }}>
            <button type="submit" class="primary small" disabled={act.busy}>
              Save
            </button>
            <button type="button" class="small" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <div class="body" dangerouslySetInnerHTML={{ __html: c.html }} />
      )}
      <Alert>{act.error}</Alert>
      {user && !editing ? (
        <div class="row" style={{ marginTop: '.35rem' }}>
          {mine && c.status !== 'rejected' ? (
            <button type="button" class="small" onClick={() => setEditing(true)}>
              Edit
            </button>
          ) : null}
          {canDelete ? (
            <button
              type="button"
              class="small danger"
              disabled={act.busy}
              onClick={async () => {
                if (confirm('Delete this comment?') && (await act.run(() => api.del(`/repositories/${name}/comments/${c.id}`)))) onChange();
              }}
            >
              Delete
            </button>
          ) : null}
          {!mine && c.status === 'visible' ? (
            <button
              type="button"
              class="small"
              disabled={act.busy || reported}
              onClick={async () => {
                const reason = prompt('Why should a moderator look at this comment? (optional)');
                if (reason === null) return;
                if (await act.run(() => api.post(`/repositories/${name}/comments/${c.id}/report`, reason.trim() ? { reason: reason.trim() } : {})))
                  setReported(true);
              }}
            >
              {reported ? 'Reported' : 'Report'}
            </button>
          ) : null}
        </div>
      ) : null}
    </li>
  );
}
