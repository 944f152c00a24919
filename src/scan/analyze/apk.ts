// apk's database: lib/apk/db/installed, one paragraph per package of one-letter keys
// (P name, V version, A arch, o origin = the source package Alpine's advisories name, L license).
import type { RawPackage } from './raw.js';

export function parseApkInstalled(text: string): RawPackage[] {
  const out: RawPackage[] = [];
  let cur: Record<string, string> = {};
  const flush = () => {
    if (cur.P && cur.V) {
      out.push({
        type: 'apk',
        name: cur.P,
        version: cur.V,
        sourceName: cur.o || cur.P,
        sourceVersion: cur.V,
        ...(cur.A ? { arch: cur.A } : {}),
        ...(cur.L ? { license: cur.L } : {}),
      });
    }
    cur = {};
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      flush();
      continue;
    }
    if (line[1] !== ':') continue;
    const key = line[0];
    // F/R/Z/a/M repeat per file; only the package's own fields matter here
    if (!(key in cur)) cur[key] = line.slice(2).trim();
  }
  flush();
  return out;
}
