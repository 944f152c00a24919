// dpkg's database: var/lib/dpkg/status (RFC 822-style paragraphs) and the one-file-per-package
// var/lib/dpkg/status.d/* that distroless images write instead.
import type { RawPackage } from './raw.js';

/** The paragraphs of a Debian control file, field names lowercased, continuation lines folded in. */
export function controlParagraphs(text: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  let cur: Record<string, string> = {};
  let last = '';
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (Object.keys(cur).length) out.push(cur);
      cur = {};
      last = '';
      continue;
    }
    if ((line[0] === ' ' || line[0] === '\t') && last) {
      cur[last] += `\n${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon).trim().toLowerCase();
    cur[last] = line.slice(colon + 1).trim();
  }
  if (Object.keys(cur).length) out.push(cur);
  return out;
}

export function parseDpkgStatus(text: string): RawPackage[] {
  const out: RawPackage[] = [];
  for (const p of controlParagraphs(text)) {
    if (!p.package || !p.version) continue;
    // "install ok installed"; status.d files may carry no Status at all
    if (p.status && p.status.split(/\s+/).pop() !== 'installed') continue;
    const src = /^(\S+)(?:\s+\((\S+)\))?/.exec(p.source ?? '');
    out.push({
      type: 'deb',
      name: p.package,
      version: p.version,
      sourceName: src?.[1] ?? p.package,
      sourceVersion: src?.[2] ?? p.version,
      ...(p.architecture ? { arch: p.architecture } : {}),
    });
  }
  return out;
}
