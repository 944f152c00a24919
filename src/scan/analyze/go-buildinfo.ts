// Go build information embedded in binaries (Go 1.18+): a 16-byte-aligned `\xff Go buildinf:` header whose
// flags say the Go version and module information follow inline as two varint-prefixed strings. The binary
// is streamed past once; only the bytes after the header are kept. Older binaries (pointer format) are
// recognised but not read.
import type { RawPackage } from './raw.js';

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const HEADER = 32;
const FLAG_INLINE = 0x2;
/** Module information of real binaries is a few KiB; this bounds what a hostile file can make us hold. */
const MAX_CAPTURE = 1 << 20;
const ELF = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

export interface GoBuildInfo {
  goVersion: string;
  path?: string;
  main?: { path: string; version: string };
  deps: { path: string; version: string }[];
}

function uvarint(b: Buffer, pos: number): [number, number] | null {
  let x = 0;
  let shift = 0;
  for (let i = pos; i < b.length && i < pos + 10; i++) {
    const c = b[i];
    x += (c & 0x7f) * 2 ** shift;
    if (c < 0x80) return [x, i + 1];
    shift += 7;
  }
  return null;
}

/** Parses a buildinfo blob starting at the magic: the info, 'more' if it needs more bytes, or null. */
export function parseBuildInfoBlob(b: Buffer): GoBuildInfo | 'more' | null {
  if (b.length < HEADER) return 'more';
  if (!b.subarray(0, MAGIC.length).equals(MAGIC)) return null;
  const ptrSize = b[14];
  const flags = b[15];
  if ((ptrSize !== 4 && ptrSize !== 8) || !(flags & FLAG_INLINE)) return null;
  const v = uvarint(b, HEADER);
  if (!v) return b.length - HEADER < 10 ? 'more' : null;
  if (v[1] + v[0] > b.length) return 'more';
  const goVersion = b.toString('utf8', v[1], v[1] + v[0]);
  const m = uvarint(b, v[1] + v[0]);
  if (!m) return 'more';
  if (m[1] + m[0] > b.length) return m[0] > MAX_CAPTURE ? null : 'more';
  let mod = b.toString('latin1', m[1], m[1] + m[0]);
  // the module string is framed by 16 bytes of sentinel on each side
  if (mod.length >= 33 && mod[mod.length - 17] === '\n') mod = mod.slice(16, -16);
  return { goVersion, ...parseModInfo(Buffer.from(mod, 'latin1').toString('utf8')) };
}

export function parseModInfo(text: string): Omit<GoBuildInfo, 'goVersion'> {
  const out: Omit<GoBuildInfo, 'goVersion'> = { deps: [] };
  let last: { path: string; version: string } | undefined;
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    if (f[0] === 'path' && f[1]) out.path = f[1];
    else if (f[0] === 'mod' && f[1]) out.main = last = { path: f[1], version: f[2] ?? '' };
    else if (f[0] === 'dep' && f[1]) {
      last = { path: f[1], version: f[2] ?? '' };
      out.deps.push(last);
    } else if (f[0] === '=>' && last && f[1]) {
      // a replacement by a module (with a version) is what was compiled; a local directory keeps the original
      if (f[2]) {
        last.path = f[1];
        last.version = f[2];
      }
    }
  }
  return out;
}

/** Go's toolchain version as a module version: `go1.21.3` -> `v1.21.3`, `go1.21rc2` -> `v1.21.0-rc.2`. */
export function stdlibVersion(goVersion: string): string | null {
  const m = /^go(\d+)\.(\d+)(?:\.(\d+))?(?:(rc|beta)(\d+))?(?:\s|$|\+|-)/.exec(goVersion.trim());
  if (!m) return null;
  return `v${m[1]}.${m[2]}.${m[3] ?? '0'}${m[4] ? `-${m[4]}.${m[5]}` : ''}`;
}

export function goPackages(info: GoBuildInfo): RawPackage[] {
  const out: RawPackage[] = [];
  const std = stdlibVersion(info.goVersion);
  if (std) out.push({ type: 'golang', name: 'stdlib', version: std });
  if (info.main?.version && info.main.version !== '(devel)') out.push({ type: 'golang', name: info.main.path, version: info.main.version });
  for (const d of info.deps) if (d.version) out.push({ type: 'golang', name: d.path, version: d.version });
  return out;
}

/**
 * Streams an executable's bytes once and returns its build information, or null if it is not an ELF
 * Go binary with inline build information. Reads `body` to the end either way.
 */
const KEEP = MAGIC.length - 1;

/** Index of the magic at a 16-byte aligned file offset (`base` is the offset of buf[0]), or -1. */
function alignedMagic(buf: Buffer, base: number): number {
  let at = buf.indexOf(MAGIC);
  while (at >= 0 && (base + at) % 16 !== 0) at = buf.indexOf(MAGIC, at + 1);
  return at;
}

export async function scanGoBinary(body: AsyncIterable<Buffer>): Promise<GoBuildInfo | null> {
  let offset = 0; // file offset of carry[0]
  let carry = Buffer.alloc(0);
  let captured: Buffer | null = null;
  let result: GoBuildInfo | null = null;
  let done = false;
  let first = true;
  for await (const chunk of body) {
    if (done) continue;
    if (first) {
      first = false;
      if (chunk.length < 4 || !chunk.subarray(0, 4).equals(ELF)) {
        done = true;
        continue;
      }
    }
    if (captured) {
      captured = Buffer.concat([captured, chunk]);
    } else {
      // the magic may straddle chunks: look in the kept tail joined to this chunk's head, then in the chunk
      const base = offset + carry.length; // file offset of chunk[0]
      const edge = carry.length ? alignedMagic(Buffer.concat([carry, chunk.subarray(0, KEEP)]), offset) : -1;
      const inside = edge < 0 ? alignedMagic(chunk, base) : -1;
      if (edge >= 0) captured = Buffer.concat([carry.subarray(edge), chunk]);
      else if (inside >= 0) captured = Buffer.from(chunk.subarray(inside));
      else {
        // copy only the tail: the chunk itself is not kept
        const joined = chunk.length >= KEEP ? chunk : Buffer.concat([carry, chunk]);
        const keep = Math.min(joined.length, KEEP);
        carry = Buffer.from(joined.subarray(joined.length - keep));
        offset = base + chunk.length - keep;
        continue;
      }
    }
    const parsed = parseBuildInfoBlob(captured);
    if (parsed === 'more' && captured.length < MAX_CAPTURE) continue;
    result = parsed === 'more' ? null : parsed;
    done = true;
    captured = null;
  }
  if (!done && captured) {
    const parsed = parseBuildInfoBlob(captured);
    result = parsed === 'more' ? null : parsed;
  }
  return result;
}
