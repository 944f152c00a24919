// Explore: full-text search over the repositories the caller may see (GET /api/v1/search),
// with filters (namespace, platform, artifact type, starred by me), sorting and pages.
// The state lives in the URL, so a search can be bookmarked or shared.
import { useEffect, useState } from 'preact/hooks';
import { api, count, qs } from './api.js';
import { LoadError, Pager, PageTitle, Spinner, Time, navigate, repoPath, useLoad, useSession } from './components.js';

interface Hit {
  name: string;
  namespace: string;
  visibility: 'public' | 'private';
  description: string | null;
  starCount: number;
  pullCount: number;
  lastPushAt: number | null;
  starred: boolean;
  platforms: string[];
}
interface SearchReply {
  total: number;
  page: number;
  numPages: number;
  results: Hit[];
}

const SORTS = [
  ['relevance', 'Best match'],
  ['stars', 'Most stars'],
  ['pulls', 'Most pulls'],
  ['pushed', 'Recently pushed'],
  ['name', 'Name'],
] as const;

export function ExplorePage({ search }: { search: URLSearchParams }) {
  const { user } = useSession();
  const q = search.get('q') ?? '';
  const namespace = search.get('namespace') ?? '';
  const platform = search.get('platform') ?? '';
  const artifactType = search.get('artifactType') ?? '';
  const starred = search.get('starred') === '1' && !!user;
  const sort = search.get('sort') ?? (q ? 'relevance' : 'pushed');
  const page = Math.max(1, Number(search.get('page') ?? '1') || 1);

  const [form, setForm] = useState({ namespace, platform, artifactType });
  useEffect(() => setForm({ namespace, platform, artifactType }), [namespace, platform, artifactType]);

  const go = (over: Record<string, string | undefined>) => {
    const next = { q, namespace, platform, artifactType, starred: starred ? '1' : '', sort: search.get('sort') ?? '', page: '', ...over };
    const s = qs(next);
    navigate(`/ui/${s ? `?${s}` : ''}`);
  };

  const result = useLoad<SearchReply>(
    () =>
      api.get(
        `/search?${qs({ q, namespace, platform: platform.includes('/') ? platform : '', artifactType, starred: starred ? 'true' : '', sort, n: '20', page: String(page) })}`,
      ),
    [q, namespace, platform, artifactType, starred, sort, page],
  );

  return (
    <>
      <div class="row spread">
        <PageTitle title={q ? `Search: ${q}` : starred ? 'Starred repositories' : 'Explore'} />
      </div>
      <div class="grid filters">
        <aside class="card" aria-labelledby="filters-h">
          <h2 id="filters-h" class="small muted">
            Filters
          </h2>
          <form
            onSubmit={(e) => {
              e.preventDefault();
              go({ namespace: form.namespace.trim(), platform: form.platform.trim(), artifactType: form.artifactType.trim() });
            }}
          >
            <div class="field">
              <label for="f-q">Search</label>
              <input id="f-q" type="search" name="q" value={q} placeholder="name, description, README" onChange={(e) => go({ q: e.currentTarget.value })} />
            </div>
            <div class="field">
              <label for="f-sort">Sort by</label>
              <select id="f-sort" value={sort} onChange={(e) => go({ sort: e.currentTarget.value })}>
                {SORTS.map(([v, l]) => (
                  <option value={v} key={v}>
                    {l}
                  </option>
                ))}
              </select>
            </div>
            <div class="field">
              <label for="f-ns">Namespace</label>
              <input
                id="f-ns"
                type="text"
                value={form.namespace}
                placeholder="e.g. library"
                onInput={(e) => setForm({ ...form, namespace: e.currentTarget.value })}
              />
            </div>
            <div class="field">
              <label for="f-platform">
                Platform <span class="hint">os/arch</span>
              </label>
              <input
                id="f-platform"
                type="text"
                value={form.platform}
                placeholder="linux/arm64"
                onInput={(e) => setForm({ ...form, platform: e.currentTarget.value })}
              />
            </div>
            <div class="field">
              <label for="f-at">Artifact type</label>
              <input
                id="f-at"
                type="text"
                value={form.artifactType}
                placeholder="application/vnd.cncf.helm.config.v1+json"
                onInput={(e) => setForm({ ...form, artifactType: e.currentTarget.value })}
              />
            </div>
            {user ? (
              <div class="field">
                <label class="check">
                  <input type="checkbox" checked={starred} onChange={(e) => go({ starred: e.currentTarget.checked ? '1' : '' })} /> Starred by me
                </label>
              </div>
            ) : null}
            <div class="row">
              <button type="submit" class="primary">
                Apply
              </button>
              <button type="button" onClick={() => navigate('/ui/')}>
                Clear
              </button>
            </div>
          </form>
        </aside>
        <section aria-labelledby="results-h">
          <h2 id="results-h" class="sr-only">
            Results
          </h2>
          {result.error ? <LoadError error={result.error} /> : null}
          {result.loading && !result.data ? <Spinner /> : null}
          {result.data ? (
            <>
              <p class="small muted" role="status">
                {result.data.total === 1 ? '1 repository' : `${result.data.total} repositories`}
              </p>
              {result.data.results.length === 0 ? (
                <div class="card empty">No repositories match.</div>
              ) : (
                <ul class="results">
                  {result.data.results.map((h) => (
                    <li class="card result" key={h.name}>
                      <div class="row spread">
                        <h3 class="grow">
                          <a href={repoPath(h.name)}>{h.name}</a>
                        </h3>
                        <span class={`badge ${h.visibility}`}>{h.visibility}</span>
                      </div>
                      <p class={h.description ? '' : 'muted'}>{h.description || 'No description'}</p>
                      <div class="meta">
                        <span title="stars">
                          {h.starred ? '★' : '☆'} {count(h.starCount)} <span class="sr-only">stars</span>
                        </span>
                        <span>{count(h.pullCount)} pulls</span>
                        <span>
                          pushed <Time ms={h.lastPushAt} />
                        </span>
                        {h.platforms.length ? (
                          <span>{h.platforms.slice(0, 4).join(', ') + (h.platforms.length > 4 ? ` +${h.platforms.length - 4}` : '')}</span>
                        ) : null}
                      </div>
                    </li>
                  ))}
                </ul>
              )}
              <Pager page={page} pages={result.data.numPages} go={(p) => go({ page: String(p) })} />
            </>
          ) : null}
        </section>
      </div>
    </>
  );
}
