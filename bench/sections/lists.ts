// 5: tag list and catalog latency at two sizes (N/10 and N) to show whether pages slow down as the registry grows.
import { config, tenth } from '../lib/config.js';
import { sampleLatency } from '../lib/load.js';
import { makeImage, mountBlob, pushImage, putManifest, runPool } from '../lib/registry.js';
import type { Results } from '../lib/results.js';
import type { Server } from '../lib/servers.js';

const pad = (i: number) => String(i).padStart(6, '0');
const tagName = (i: number) => `t${pad(i)}`;
const repoName = (i: number) => `cat/r${pad(i)}`;

interface Page {
  items: string[];
  next?: string;
}

async function getPage(base: string, url: string, field: 'tags' | 'repositories'): Promise<Page> {
  const res = await fetch(new URL(url, base));
  if (res.status !== 200) throw new Error(`GET ${url}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
  const body = (await res.json()) as Record<string, string[] | null>;
  const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.headers.get('link') ?? '')?.[1];
  return { items: body[field] ?? [], next };
}

/** Follows Link rel="next" until the end; returns every item. */
async function getAll(base: string, url: string, field: 'tags' | 'repositories'): Promise<{ items: string[]; pages: number }> {
  const items: string[] = [];
  let pages = 0;
  for (let next: string | undefined = url; next; pages++) {
    const p = await getPage(base, next, field);
    items.push(...p.items);
    next = p.next;
  }
  return { items, pages };
}

async function checkPage(s: Server, res: Results, key: string, url: string, field: 'tags' | 'repositories', after?: string) {
  const p = await getPage(s.base, url, field);
  if (p.items.length === 0) throw new Error(`${url} returned no items`);
  if (after !== undefined && p.items.length <= 100 && !(p.items[0] > after)) {
    throw new Error(`${url}: first item ${p.items[0]} does not sort after ${after}`);
  }
  res.detail(s, `${key}_returned`, p.items.length);
  if (p.items.length > 100) res.note(`${s.column} (${s.label}) ignores n=100 on ${url.split('?')[0]}: it returned ${p.items.length} items.`);
}

async function measureTags(s: Server, res: Results, repo: string, n: number) {
  const mid = tagName(Math.floor(n / 2));
  const first = `/v2/${repo}/tags/list?n=100`;
  const middle = `/v2/${repo}/tags/list?n=100&last=${mid}`;
  const full = `/v2/${repo}/tags/list`;
  await checkPage(s, res, `tags_first_${n}`, first, 'tags');
  await checkPage(s, res, `tags_mid_${n}`, middle, 'tags', mid);
  const all = await getAll(s.base, full, 'tags');
  if (new Set(all.items).size !== n) throw new Error(`full tag list has ${all.items.length} entries (${new Set(all.items).size} distinct), expected ${n}`);
  res.detail(s, `tags_full_${n}_pages`, all.pages);
  const samples = config.listSamples;
  for (const [key, url, count] of [
    [`tags_first_${n}`, first, samples],
    [`tags_mid_${n}`, middle, samples],
    [`tags_full_${n}`, full, Math.max(5, Math.ceil(samples / 4))],
  ] as const) {
    const l = await sampleLatency(count, async () => void (await getAll(s.base, url, 'tags')));
    res.set(s, key, l.p50Ms);
    res.detail(s, key, l);
  }
}

export async function tagsSection(servers: Server[], res: Results, flip: boolean): Promise<void> {
  const total = config.tags;
  const steps = [tenth(total), total];
  const repo = 'bench/tags';
  for (const s of flip ? [...servers].reverse() : servers) {
    await res.guard(s, 'tags', async () => {
      const img = makeImage();
      await pushImage(s.base, repo, tagName(0), img);
      let have = 1;
      let secs = 0;
      for (const n of steps) {
        console.log(`-- tags: ${s.column} tagging up to ${n}`);
        const from = have;
        secs += await runPool(n - from, config.concurrency, (i) => putManifest(s.base, repo, tagName(from + i), img.manifest));
        have = n;
        await measureTags(s, res, repo, n);
      }
      res.set(s, 'tag_put_rate', (total - 1) / secs);
      const v = res.values[s.column as 'berth' | 'reference'];
      res.set(s, 'tags_growth', v[`tags_first_${total}`] / v[`tags_first_${tenth(total)}`]);
    });
  }
}

async function measureCatalog(s: Server, res: Results, n: number) {
  const mid = repoName(Math.floor(n / 2));
  const first = '/v2/_catalog?n=100';
  const middle = `/v2/_catalog?n=100&last=${encodeURIComponent(mid)}`;
  await checkPage(s, res, `cat_first_${n}`, first, 'repositories');
  await checkPage(s, res, `cat_mid_${n}`, middle, 'repositories', mid);
  for (const [key, url] of [[`cat_first_${n}`, first], [`cat_mid_${n}`, middle]] as const) {
    const l = await sampleLatency(config.listSamples, async () => void (await getPage(s.base, url, 'repositories')));
    res.set(s, key, l.p50Ms);
    res.detail(s, key, l);
  }
}

export async function catalogSection(servers: Server[], res: Results, flip: boolean): Promise<void> {
  const total = config.repos;
  const steps = [tenth(total), total];
  for (const s of flip ? [...servers].reverse() : servers) {
    await res.guard(s, 'catalog', async () => {
      const img = makeImage();
      const src = repoName(0);
      await pushImage(s.base, src, 'latest', img);
      let have = 1;
      let secs = 0;
      for (const n of steps) {
        console.log(`-- catalog: ${s.column} creating repositories up to ${n}`);
        const from = have;
        secs += await runPool(n - from, config.concurrency, async (i) => {
          const repo = repoName(from + i);
          await mountBlob(s.base, repo, src, img.layer);
          await mountBlob(s.base, repo, src, img.config);
          await putManifest(s.base, repo, 'latest', img.manifest);
        });
        have = n;
        await measureCatalog(s, res, n);
      }
      res.set(s, 'repo_push_rate', (total - 1) / secs);
      const v = res.values[s.column as 'berth' | 'reference'];
      res.set(s, 'cat_growth', v[`cat_mid_${total}`] / v[`cat_mid_${tenth(total)}`]);
    });
  }
  res.note('Repositories for the catalog are created by cross-repository mount of a layer and config (POST ?mount=&from=) plus PUT manifest.');
}
