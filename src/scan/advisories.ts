// The advisory data of the built-in scanner, in OSV format, from where the operator keeps it: a
// directory (OSV JSON files and zip archives such as OSV's all.zip, in any sub-directory) or a
// URL (a zip, or one JSON file holding an advisory or an array of them). A URL is fetched
// through the outbound rules (no internal address unless scanning.allow names it), streamed and
// unzipped as it arrives; an unchanged answer (ETag) is not read again. A reload that fails keeps
// the data loaded before.
import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Unzip, UnzipInflate } from 'fflate';
import { loadOsv, type AdvisoryDb } from './analyze/index.js';
import { describe, discard, keepAliveAgents, send, type TransportOptions } from '../upstream/transport.js';
import { UpstreamError, kindOfStatus } from '../upstream/errors.js';
import type { OutboundGuard } from '../net/outbound-connect.js';

export interface AdvisorySettings {
  directory: string;
  url: string;
  timeoutMs: number;
}

/** The most one advisory file may hold (OSV entries are a few KiB). */
const MAX_ENTRY_BYTES = 16 * 1024 * 1024;

type Entry = { path: string; bytes: Buffer };

/** The no-data version: nothing configured. */
export const NO_ADVISORIES = 'none';

export class AdvisorySource {
  private db: AdvisoryDb | null = null;
  private etag: string | null = null;
  private readonly transport: TransportOptions;

  constructor(
    private readonly settings: AdvisorySettings,
    guard: OutboundGuard | null,
  ) {
    this.transport = { timeoutMs: settings.timeoutMs, bodyIdleMs: settings.timeoutMs, agents: keepAliveAgents(guard), userAgent: 'berth-scanner' };
  }

  get configured(): boolean {
    return this.settings.directory !== '' || this.settings.url !== '';
  }

  /** The data loaded last (null before the first load, or when nothing is configured). */
  current(): AdvisoryDb | null {
    return this.db;
  }

  /** Loads the data again; resolves with its version. A failure keeps what was loaded and rejects. */
  async reload(): Promise<string> {
    if (!this.configured) return NO_ADVISORIES;
    if (this.settings.directory) this.db = await loadOsv(directoryEntries(this.settings.directory));
    else await this.fetch(new URL(this.settings.url));
    return this.db?.version ?? NO_ADVISORIES;
  }

  private async fetch(url: URL): Promise<void> {
    const what = describe('GET', url);
    const res = await send(this.transport, { method: 'GET', url, headers: this.etag && this.db ? { 'If-None-Match': this.etag } : {} });
    if (res.statusCode === 304 && this.db) return discard(res);
    if (res.statusCode !== 200) {
      discard(res);
      throw new UpstreamError(kindOfStatus(res.statusCode ?? 500), `${what}: answered ${res.statusCode}`, { status: res.statusCode });
    }
    const type = String(res.headers['content-type'] ?? '');
    const zip = url.pathname.endsWith('.zip') || type.includes('zip');
    const entries = zip ? zipEntries(res, url.pathname) : jsonEntries(res, url.pathname);
    this.db = await loadOsv(entries);
    this.etag = typeof res.headers.etag === 'string' ? res.headers.etag : null;
  }
}

/** Every .json file and every entry of every .zip below `dir`, in a stable order. */
async function* directoryEntries(dir: string): AsyncGenerator<Entry> {
  const names = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((d) => d.isFile())
    .map((d) => path.join(d.parentPath ?? (d as unknown as { path: string }).path, d.name))
    .sort();
  for (const file of names) {
    const rel = path.relative(dir, file);
    if (file.endsWith('.json')) yield { path: rel, bytes: await readFile(file) };
    else if (file.endsWith('.zip')) yield* zipEntries(createReadStream(file), rel);
  }
}

async function* jsonEntries(body: Readable, name: string): AsyncGenerator<Entry> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body) {
    size += (c as Buffer).length;
    if (size > MAX_ENTRY_BYTES * 8) throw new UpstreamError('invalid', `${name}: a JSON advisory file over ${MAX_ENTRY_BYTES * 8} bytes; serve a zip`);
    chunks.push(c as Buffer);
  }
  yield { path: path.basename(name) || 'advisories.json', bytes: Buffer.concat(chunks) };
}

/** The JSON entries of a zip, unzipped as its bytes stream in (each entry in memory, one at a time). */
async function* zipEntries(body: Readable, name: string): AsyncGenerator<Entry> {
  const ready: Entry[] = [];
  let failure: Error | null = null;
  const unzip = new Unzip((file) => {
    if (!file.name.endsWith('.json')) return;
    const parts: Uint8Array[] = [];
    let size = 0;
    file.ondata = (err, data, final) => {
      if (err) {
        failure = new Error(`${name}: ${file.name}: ${err.message}`);
        return;
      }
      size += data.length;
      if (size > MAX_ENTRY_BYTES) {
        failure = new Error(`${name}: ${file.name} is over ${MAX_ENTRY_BYTES} bytes`);
        file.terminate();
        return;
      }
      parts.push(data);
      if (final) ready.push({ path: `${name}/${file.name}`, bytes: Buffer.concat(parts) });
    };
    file.start();
  });
  unzip.register(UnzipInflate);
  for await (const chunk of body) {
    unzip.push(chunk as Uint8Array, false);
    if (failure) throw failure;
    while (ready.length) yield ready.shift()!;
  }
  unzip.push(new Uint8Array(0), true);
  if (failure) throw failure;
  while (ready.length) yield ready.shift()!;
}
