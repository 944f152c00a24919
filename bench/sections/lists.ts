// 5: tag list and catalog latency at two sizes (N/10 and N) to show whether pages slow down as the registry grows.
import { config, tenth } from '../lib/config.js';
import { percentile } from '../lib/load.js';
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

type Section = 'tags' | 'catalog';
const failed = (res: Results, s: Server, section: Section) => res.errors[s.column as 'berth' | 'reference'][section] !== undefined;

/**
 * Median latency of fn(server) over sequential requests, alternating between the servers request by request so
 * that noise on the shared machine hits both. Stops after `samples` rounds, or after 20 s per server (≥ 5 rounds).
 */
async function interleaved(servers: Server[], res: Results, section: Section, key: string, samples: number, fn: (s: Server) => Promise<void>) {
  const live = () => servers.filter((s) => !failed(res, s, section));
  const times = new Map<Server, number[]>(servers.map((s) => [s, []]));
  for (const s of live()) await res.guard(s, section, () => fn(s)); // warm-up
  const stop = performance.now() + 20_000 * servers.length;
  for (let i = 0; i < samples && (i < 5 || performance.now() < stop); i++) {
    for (const s of i % 2 === 0 ? live() : live().reverse()) {
      await res.guard(s, section, async () => {
        const t = performance.now();
        await fn(s);
        times.get(s)!.push(performance.now() - t);
      });
    }
  }
  for (const s of live()) {
    const list = times.get(s)!;
    res.set(s, key, percentile(list, 50));
    res.detail(s, key, { p50Ms: percentile(list, 50), p99Ms: percentile(list, 99), n: list.length });
  }
}

/** Grows every live server to `n` items with fn(server, i), alternating which server goes first. */
async function populate(
  servers: Server[],
  res: Results,
  section: Section,
  from: number,
  n: number,
  secs: Map<Server, number>,
  fn: (s: Server, i: number) => Promise<void>,
) {
  for (const s of servers) {
    await res.guard(s, section, async () => {
      if (failed(res, s, section)) return;
      console.log(`-- ${section}: ${s.column} growing to ${n}`);
      secs.set(s, (secs.get(s) ?? 0) + (await runPool(n - from, config.concurrency, (i) => fn(s, from + i))));
    });
  }
}

async function forLive(servers: Server[], res: Results, section: Section, fn: (s: Server) => Promise<void>) {
  for (const s of servers) if (!failed(res, s, section)) await res.guard(s, section, () => fn(s));
}

export async function tagsSection(servers: Server[], res: Results, flip: boolean): Promise<void> {
  const total = config.tags;
  const repo = 'bench/tags';
  const images = new Map(servers.map((s) => [s, makeImage()]));
  const secs = new Map<Server, number>();
  await forLive(servers, res, 'tags', (s) => pushImage(s.base, repo, tagName(0), images.get(s)!));
  let have = 1;
  for (const [step, n] of [tenth(total), total].entries()) {
    const order = (step % 2 === 0) !== flip ? servers : [...servers].reverse();
    await populate(order, res, 'tags', have, n, secs, (s, i) => putManifest(s.base, repo, tagName(i), images.get(s)!.manifest));
    have = n;
    const mid = tagName(Math.floor(n / 2));
    const first = `/v2/${repo}/tags/list?n=100`;
    const middle = `/v2/${repo}/tags/list?n=100&last=${mid}`;
    const full = `/v2/${repo}/tags/list`;
    await forLive(servers, res, 'tags', async (s) => {
      await checkPage(s, res, `tags_first_${n}`, first, 'tags');
      await checkPage(s, res, `tags_mid_${n}`, middle, 'tags', mid);
      const all = await getAll(s.base, full, 'tags');
      if (new Set(all.items).size !== n) throw new Error(`full tag list has ${all.items.length} entries (${new Set(all.items).size} distinct), expected ${n}`);
      res.detail(s, `tags_full_${n}_pages`, all.pages);
    });
    // Pages are one request each; the full list follows Link rel="next" if the server paginates without n.
    const page = (url: string) => async (s: Server) => void (await getPage(s.base, url, 'tags'));
    const all = (url: string) => async (s: Server) => void (await getAll(s.base, url, 'tags'));
    await interleaved(order, res, 'tags', `tags_first_${n}`, config.listSamples, page(first));
    await interleaved(order, res, 'tags', `tags_mid_${n}`, config.listSamples, page(middle));
    await interleaved(order, res, 'tags', `tags_full_${n}`, Math.max(5, Math.ceil(config.listSamples / 4)), all(full));
  }
  await forLive(servers, res, 'tags', async (s) => {
    const v = res.values[s.column as 'berth' | 'reference'];
    res.set(s, 'tag_put_rate', (total - 1) / secs.get(s)!);
    res.set(s, 'tags_growth', v[`tags_first_${total}`] / v[`tags_first_${tenth(total)}`]);
  });
}

export async function catalogSection(servers: Server[], res: Results, flip: boolean): Promise<void> {
  const total = config.repos;
  const src = repoName(0);
  const images = new Map(servers.map((s) => [s, makeImage()]));
  const secs = new Map<Server, number>();
  await forLive(servers, res, 'catalog', (s) => pushImage(s.base, src, 'latest', images.get(s)!));
  let have = 1;
  for (const [step, n] of [tenth(total), total].entries()) {
    const order = (step % 2 === 0) !== flip ? servers : [...servers].reverse();
    await populate(order, res, 'catalog', have, n, secs, async (s, i) => {
      const img = images.get(s)!;
      await mountBlob(s.base, repoName(i), src, img.layer);
      await mountBlob(s.base, repoName(i), src, img.config);
      await putManifest(s.base, repoName(i), 'latest', img.manifest);
    });
    have = n;
    const mid = repoName(Math.floor(n / 2));
    const first = '/v2/_catalog?n=100';
    const middle = `/v2/_catalog?n=100&last=${encodeURIComponent(mid)}`;
    await forLive(servers, res, 'catalog', async (s) => {
      await checkPage(s, res, `cat_first_${n}`, first, 'repositories');
      await checkPage(s, res, `cat_mid_${n}`, middle, 'repositories', mid);
    });
    const page = (url: string) => async (s: Server) => void (await getPage(s.base, url, 'repositories'));
    await interleaved(order, res, 'catalog', `cat_first_${n}`, config.listSamples, page(first));
    await interleaved(order, res, 'catalog', `cat_mid_${n}`, config.listSamples, page(middle));
  }
  await forLive(servers, res, 'catalog', async (s) => {
    const v = res.values[s.column as 'berth' | 'reference'];
    res.set(s, 'repo_push_rate', (total - 1) / secs.get(s)!);
    res.set(s, 'cat_growth', v[`cat_mid_${total}`] / v[`cat_mid_${tenth(total)}`]);
  });
  res.note('Repositories for the catalog are created by cross-repository mount of a layer and config (POST ?mount=&from=) plus PUT manifest.');
  res.note('List and catalog latencies alternate between the servers request by request; populating alternates which server goes first.');
}
