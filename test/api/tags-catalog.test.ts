// Listing: /v2/<name>/tags/list and /v2/_catalog, with n/last pagination and Link headers.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { api, expectError, pushImage, pushManifest, removeDir, startServer, type TestServer } from '../helpers/api-server.js';

let srv: TestServer;
const REPO = 'list/tags';
// Mixed case, digits, separators: the order must be plain lexical (byte) order.
const TAGS = [
  'latest',
  'Latest',
  'v1.9',
  'v1.10',
  'v2',
  '1',
  '10',
  '2',
  'a-b',
  'a.b',
  'a_b',
  '_under',
  'z',
  'Z9',
  'beta',
  'alpha',
  'rc-1',
  'rc-10',
  'rc-2',
  'x'.repeat(128),
];
const SORTED = [...TAGS].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
const REPOS = ['list/tags', 'cat/a', 'cat/b', 'cat/b/sub', 'cat/c-1', 'cat/c.2', 'cat/c_3', 'cat0', 'cat1/x', 'zzz', 'a', 'cat/a/b/c/d'];

before(async () => {
  srv = await startServer();
  const img = await pushImage(srv.url, REPO);
  for (const tag of TAGS) await pushManifest(srv.url, REPO, img.manifest.bytes, { ref: tag });
  for (const repo of REPOS) if (repo !== REPO) await pushImage(srv.url, repo, { ref: 'latest' });
  // A repository that never got a manifest and one whose only tag was deleted.
  await pushImage(srv.url, 'list/untagged');
  await pushImage(srv.url, 'list/was-tagged', { ref: 'temp' });
  const del = await api(srv.url, '/v2/list/was-tagged/manifests/temp', { method: 'DELETE' });
  assert.equal(del.status, 202);
  await del.arrayBuffer();
});
after(async () => {
  await srv.close();
  removeDir(srv.dir);
});

interface Page<T> {
  body: T;
  link: string | null;
}

async function getJson<T>(p: string): Promise<Page<T>> {
  const res = await api(srv.url, p);
  const text = await res.text();
  assert.equal(res.status, 200, `${p}: ${text}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return { body: JSON.parse(text) as T, link: res.headers.get('link') };
}

/** The next-page URL (path + query) from a Link header, resolved against the server. */
function nextFromLink(link: string): string {
  const m = /^<([^>]+)>;\s*rel="?next"?$/.exec(link.trim());
  assert.ok(m, `malformed Link header ${JSON.stringify(link)}`);
  const u = new URL(m[1], srv.url);
  assert.equal(u.origin, srv.url, 'Link stays on this registry');
  return u.pathname + u.search;
}

/** Follows Link headers from `first` to the end; returns every page's items. */
async function followPages(first: string, items: (body: never) => string[] | null, max = 100): Promise<string[][]> {
  const pages: string[][] = [];
  let next: string | null = first;
  while (next) {
    assert.ok(pages.length < max, 'too many pages: the Link chain does not end');
    const page: Page<never> = await getJson<never>(next);
    pages.push(items(page.body) ?? []);
    next = page.link ? nextFromLink(page.link) : null;
  }
  return pages;
}

const tagItems = (b: { tags: string[] | null }) => b.tags;
const repoItems = (b: { repositories: string[] | null }) => b.repositories;

describe('tags list', () => {
  it('lists every tag, sorted, with the repository name and no Link', async () => {
    const { body, link } = await getJson<{ name: string; tags: string[] }>(`/v2/${REPO}/tags/list`);
    assert.equal(body.name, REPO);
    assert.deepEqual(body.tags, SORTED);
    assert.equal(link, null);
  });

  it('n limits the page and Link leads through all tags in order', async () => {
    for (const n of [1, 3, 7, TAGS.length - 1]) {
      const pages = await followPages(`/v2/${REPO}/tags/list?n=${n}`, tagItems as never);
      for (const p of pages) assert.ok(p.length <= n, `page of ${p.length} > n=${n}`);
      assert.ok(
        pages.slice(0, -1).every((p) => p.length === n),
        `every page but the last is full (n=${n})`,
      );
      assert.deepEqual(pages.flat(), SORTED, `n=${n}`);
    }
  });

  it('the first page with n has a Link with n and last', async () => {
    const { body, link } = await getJson<{ tags: string[] }>(`/v2/${REPO}/tags/list?n=4`);
    assert.deepEqual(body.tags, SORTED.slice(0, 4));
    assert.ok(link, 'Link header on a partial page');
    const next = new URL(nextFromLink(link), srv.url);
    assert.equal(next.pathname, `/v2/${REPO}/tags/list`);
    assert.equal(next.searchParams.get('n'), '4');
    assert.equal(next.searchParams.get('last'), SORTED[3]);
  });

  it('n equal to or above the number of tags returns everything', async () => {
    for (const n of [TAGS.length, TAGS.length + 1, 1000]) {
      const pages = await followPages(`/v2/${REPO}/tags/list?n=${n}`, tagItems as never);
      assert.deepEqual(pages.flat(), SORTED, `n=${n}`);
      assert.deepEqual(pages[0], SORTED, `n=${n}: all on the first page`);
    }
  });

  it('last returns the tags after it (with and without n)', async () => {
    const { body } = await getJson<{ tags: string[] }>(`/v2/${REPO}/tags/list?last=${encodeURIComponent(SORTED[5])}`);
    assert.deepEqual(body.tags, SORTED.slice(6));
    const two = await getJson<{ tags: string[] }>(`/v2/${REPO}/tags/list?n=2&last=${encodeURIComponent(SORTED[5])}`);
    assert.deepEqual(two.body.tags, SORTED.slice(6, 8));
    // `last` need not be an existing tag: lexical position counts.
    const between = await getJson<{ tags: string[] }>(`/v2/${REPO}/tags/list?last=b`);
    assert.deepEqual(
      between.body.tags,
      SORTED.filter((t) => t > 'b'),
    );
    const end = await getJson<{ tags: string[] | null }>(`/v2/${REPO}/tags/list?last=${encodeURIComponent(SORTED[SORTED.length - 1])}`);
    assert.deepEqual(end.body.tags ?? [], []);
    assert.equal(end.link, null);
  });

  it('n=0 returns an empty list and no Link', async () => {
    const { body, link } = await getJson<{ name: string; tags: string[] | null }>(`/v2/${REPO}/tags/list?n=0`);
    assert.equal(body.name, REPO);
    assert.deepEqual(body.tags ?? [], []);
    assert.equal(link, null);
  });

  it('an invalid n answers 400 PAGINATION_NUMBER_INVALID', async () => {
    for (const n of ['abc', '-1', '1.5', '1e3', '0x10']) {
      await expectError(await api(srv.url, `/v2/${REPO}/tags/list?n=${encodeURIComponent(n)}`), 400, 'PAGINATION_NUMBER_INVALID', `n=${n}`);
    }
  });

  it('an unknown repository answers 404 NAME_UNKNOWN', async () => {
    await expectError(await api(srv.url, '/v2/no/such/repo/tags/list'), 404, 'NAME_UNKNOWN');
    await expectError(await api(srv.url, '/v2/list/tags/sub/tags/list'), 404, 'NAME_UNKNOWN');
  });

  it('a repository with manifests but no tags lists no tags', async () => {
    for (const repo of ['list/untagged', 'list/was-tagged']) {
      const { body } = await getJson<{ name: string; tags: string[] | null }>(`/v2/${repo}/tags/list`);
      assert.equal(body.name, repo);
      assert.deepEqual(body.tags ?? [], [], repo);
    }
  });
});

describe('catalog', () => {
  const ALL = [...REPOS, 'list/untagged', 'list/was-tagged'].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

  it('lists every repository, sorted', async () => {
    const { body, link } = await getJson<{ repositories: string[] }>('/v2/_catalog');
    assert.deepEqual(body.repositories, ALL);
    assert.equal(link, null);
  });

  it('n pages through all repositories via Link', async () => {
    for (const n of [1, 2, 5, ALL.length - 1, ALL.length, ALL.length + 3]) {
      const pages = await followPages(`/v2/_catalog?n=${n}`, repoItems as never);
      for (const p of pages) assert.ok(p.length <= n);
      assert.ok(
        pages.slice(0, -1).every((p) => p.length === n),
        `every page but the last is full (n=${n})`,
      );
      assert.deepEqual(pages.flat(), ALL, `n=${n}`);
    }
  });

  it('the Link of a partial page carries n and last', async () => {
    const { body, link } = await getJson<{ repositories: string[] }>('/v2/_catalog?n=3');
    assert.deepEqual(body.repositories, ALL.slice(0, 3));
    assert.ok(link);
    const next = new URL(nextFromLink(link), srv.url);
    assert.equal(next.pathname, '/v2/_catalog');
    assert.equal(next.searchParams.get('n'), '3');
    assert.equal(next.searchParams.get('last'), ALL[2]);
  });

  it('last returns the repositories after it', async () => {
    const { body } = await getJson<{ repositories: string[] }>(`/v2/_catalog?last=${encodeURIComponent('cat/b')}`);
    assert.deepEqual(
      body.repositories,
      ALL.filter((r) => r > 'cat/b'),
    );
  });

  it('n=0 returns an empty list and no Link', async () => {
    const { body, link } = await getJson<{ repositories: string[] | null }>('/v2/_catalog?n=0');
    assert.deepEqual(body.repositories ?? [], []);
    assert.equal(link, null);
  });

  it('an invalid n answers 400 PAGINATION_NUMBER_INVALID', async () => {
    for (const n of ['x', '-5', '2.5']) {
      await expectError(await api(srv.url, `/v2/_catalog?n=${n}`), 400, 'PAGINATION_NUMBER_INVALID', `n=${n}`);
    }
  });

  it('only GET is allowed on the catalog', async () => {
    await expectError(await api(srv.url, '/v2/_catalog', { method: 'DELETE' }), 405, 'UNSUPPORTED');
  });

  it('an empty registry has an empty catalog', async () => {
    const empty = await startServer();
    try {
      const res = await api(empty.url, '/v2/_catalog');
      assert.equal(res.status, 200);
      const body = (await res.json()) as { repositories: string[] | null };
      assert.deepEqual(body.repositories ?? [], []);
    } finally {
      await empty.close();
      removeDir(empty.dir);
    }
  });
});
