// rpm's database: rpmdb.sqlite (rpm >= 4.16: RHEL 9, Fedora, UBI), whose Packages table holds one rpm
// header blob per package, or the Berkeley DB Packages file of older releases (RHEL 7 and 8). The header format (an index of tagged entries over a data store) is parsed
// here; SQLite is read by better-sqlite3 from a temporary copy, as it cannot read from memory.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { berkeleyHashValues } from './berkeley-db.js';
import type { RawPackage } from './raw.js';

export class RpmHeaderError extends Error {}

const TAG = { name: 1000, version: 1001, release: 1002, epoch: 1003, license: 1014, arch: 1022, sourcerpm: 1044 } as const;
const TYPE_INT32 = 4;
const TYPE_STRING = 6;
const TYPE_STRING_ARRAY = 8;
const TYPE_I18NSTRING = 9;
const HEADER_MAGIC = Buffer.from([0x8e, 0xad, 0xe8, 0x01]);

export interface RpmHeader {
  strings: Map<number, string>;
  ints: Map<number, number>;
}

/** Parses one header blob (as rpmdb stores it, or with the 8-byte header magic in front). */
export function parseRpmHeader(blob: Buffer): RpmHeader {
  let b = blob;
  if (b.length >= 8 && b.subarray(0, 4).equals(HEADER_MAGIC)) b = b.subarray(8);
  if (b.length < 8) throw new RpmHeaderError('header shorter than its preamble');
  const il = b.readUInt32BE(0);
  const dl = b.readUInt32BE(4);
  const dataStart = 8 + il * 16;
  if (il < 1 || il > 0xffff || dl > 0x0fffffff || dataStart + dl > b.length)
    throw new RpmHeaderError(`bad header sizes (${il} entries, ${dl} data bytes, blob ${b.length})`);
  const data = b.subarray(dataStart, dataStart + dl);
  const strings = new Map<number, string>();
  const ints = new Map<number, number>();
  const cstring = (off: number) => {
    const end = data.indexOf(0, off);
    if (off < 0 || off >= data.length || end < 0) throw new RpmHeaderError(`string at ${off} runs past the data store`);
    return data.toString('utf8', off, end);
  };
  for (let i = 0; i < il; i++) {
    const e = 8 + i * 16;
    const tag = b.readInt32BE(e);
    const type = b.readUInt32BE(e + 4);
    const offset = b.readInt32BE(e + 8);
    const count = b.readUInt32BE(e + 12);
    if (!Object.values(TAG).includes(tag as never)) continue;
    if (type === TYPE_STRING || type === TYPE_STRING_ARRAY || type === TYPE_I18NSTRING) {
      if (count >= 1) strings.set(tag, cstring(offset));
    } else if (type === TYPE_INT32 && count >= 1) {
      if (offset < 0 || offset + 4 > data.length) throw new RpmHeaderError(`int32 at ${offset} runs past the data store`);
      ints.set(tag, data.readInt32BE(offset));
    }
  }
  return { strings, ints };
}

/** The source package name from SOURCERPM (`openssl-3.0.7-24.el9.src.rpm` -> `openssl`). */
export function sourceRpmName(sourcerpm: string): string | undefined {
  const base = sourcerpm.replace(/\.(no)?src\.rpm$/, '');
  const parts = base.split('-');
  return parts.length >= 3 ? parts.slice(0, -2).join('-') : undefined;
}

export function rpmPackage(h: RpmHeader): RawPackage | null {
  const name = h.strings.get(TAG.name);
  const version = h.strings.get(TAG.version);
  const release = h.strings.get(TAG.release);
  // gpg-pubkey entries are imported keys, not software
  if (!name || !version || name === 'gpg-pubkey') return null;
  const epoch = h.ints.get(TAG.epoch);
  const vr = release ? `${version}-${release}` : version;
  const src = h.strings.get(TAG.sourcerpm);
  const arch = h.strings.get(TAG.arch);
  const license = h.strings.get(TAG.license);
  return {
    type: 'rpm',
    name,
    version: epoch ? `${epoch}:${vr}` : vr,
    ...(epoch ? { epoch } : {}),
    ...(src && sourceRpmName(src) ? { sourceName: sourceRpmName(src) } : {}),
    ...(arch ? { arch } : {}),
    ...(license ? { license } : {}),
  };
}

/** Reads the packages of a Berkeley DB Packages file (rpm before 4.16). */
export function parseRpmBerkeleyDb(bytes: Buffer): RawPackage[] {
  const out: RawPackage[] = [];
  for (const blob of berkeleyHashValues(bytes)) {
    const pkg = rpmPackage(parseRpmHeader(blob));
    if (pkg) out.push(pkg);
  }
  return out;
}

/** Reads the packages of an rpmdb.sqlite file's bytes. */
export async function parseRpmSqlite(bytes: Buffer): Promise<RawPackage[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-rpmdb-'));
  try {
    const file = path.join(dir, 'rpmdb.sqlite');
    await writeFile(file, bytes);
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      const out: RawPackage[] = [];
      for (const row of db.prepare('SELECT blob FROM Packages').iterate() as Iterable<{ blob: Buffer }>) {
        const pkg = rpmPackage(parseRpmHeader(row.blob));
        if (pkg) out.push(pkg);
      }
      return out;
    } finally {
      db.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
