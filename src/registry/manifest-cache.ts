// A bounded in-process cache of manifest bodies. Manifests are content-addressed
// and immutable, so a stale entry is impossible and losing the cache is harmless.
export class ManifestCache {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get(digest: string): Buffer | undefined {
    const body = this.entries.get(digest);
    if (body) {
      // Refresh recency: Map iterates in insertion order, so the first key is the least recent.
      this.entries.delete(digest);
      this.entries.set(digest, body);
    }
    return body;
  }

  set(digest: string, body: Buffer): void {
    if (body.length > this.maxBytes / 4 || this.entries.has(digest)) return;
    this.entries.set(digest, body);
    this.bytes += body.length;
    for (const [key, value] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(key);
      this.bytes -= value.length;
    }
  }
}
