// The values of a Berkeley DB hash database, as rpm < 4.16 keeps its Packages file (RHEL/CentOS 7 and 8,
// Amazon Linux 2): pages of a fixed size; hash pages hold key/value items, small values inline (H_KEYDATA)
// and large ones in chains of overflow pages (H_OFFPAGE). Page layout per libdb's db_page.h.

export class BerkeleyDbError extends Error {}

const HASH_MAGIC = 0x061561;
const PAGE_HEADER = 26;
const P_HASH_UNSORTED = 2;
const P_OVERFLOW = 7;
const P_HASH = 13;
const H_KEYDATA = 1;
const H_OFFPAGE = 3;
const PAGE_SIZES = new Set([512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]);

export function isBerkeleyHash(b: Buffer): boolean {
  return b.length >= 16 && (b.readUInt32LE(12) === HASH_MAGIC || b.readUInt32BE(12) === HASH_MAGIC);
}

/** Every value of the database, in page order. Throws BerkeleyDbError on a file that is not one. */
export function berkeleyHashValues(b: Buffer): Buffer[] {
  if (!isBerkeleyHash(b)) throw new BerkeleyDbError('not a Berkeley DB hash database');
  const le = b.readUInt32LE(12) === HASH_MAGIC;
  const u16 = (off: number) => (le ? b.readUInt16LE(off) : b.readUInt16BE(off));
  const u32 = (off: number) => (le ? b.readUInt32LE(off) : b.readUInt32BE(off));
  const pageSize = u32(20);
  if (!PAGE_SIZES.has(pageSize)) throw new BerkeleyDbError(`unexpected page size ${pageSize}`);
  if (b[24] !== 0) throw new BerkeleyDbError('encrypted database');
  const lastPage = u32(32);
  if ((lastPage + 1) * pageSize > b.length) throw new BerkeleyDbError(`truncated: ${lastPage + 1} pages of ${pageSize} bytes in ${b.length}`);

  const overflow = (first: number, length: number): Buffer => {
    const parts: Buffer[] = [];
    let have = 0;
    const seen = new Set<number>();
    for (let page = first; page !== 0 && have < length; ) {
      if (page > lastPage || seen.has(page)) throw new BerkeleyDbError(`bad overflow chain at page ${page}`);
      seen.add(page);
      const start = page * pageSize;
      if (b[start + 25] !== P_OVERFLOW) throw new BerkeleyDbError(`page ${page} is not an overflow page`);
      const used = Math.min(u16(start + 22), pageSize - PAGE_HEADER); // OV_LEN: bytes of data on this page
      parts.push(b.subarray(start + PAGE_HEADER, start + PAGE_HEADER + used));
      have += used;
      page = u32(start + 16);
    }
    if (have < length) throw new BerkeleyDbError(`overflow item shorter (${have}) than its length ${length}`);
    return Buffer.concat(parts).subarray(0, length);
  };

  const out: Buffer[] = [];
  for (let page = 1; page <= lastPage; page++) {
    const start = page * pageSize;
    const type = b[start + 25];
    if (type !== P_HASH && type !== P_HASH_UNSORTED) continue;
    const entries = u16(start + 20);
    if (entries % 2 !== 0 || PAGE_HEADER + entries * 2 > pageSize) throw new BerkeleyDbError(`page ${page}: bad item count ${entries}`);
    // items are key, value, key, value...; each index entry is the item's offset in the page, and an
    // item ends where the one before it (in index order) begins
    for (let i = 1; i < entries; i += 2) {
      const off = u16(start + PAGE_HEADER + i * 2);
      const end = u16(start + PAGE_HEADER + (i - 1) * 2);
      if (off < PAGE_HEADER || off >= pageSize || end > pageSize || end <= off) throw new BerkeleyDbError(`page ${page}: bad item offset`);
      const item = start + off;
      if (b[item] === H_KEYDATA) out.push(b.subarray(item + 1, start + end));
      else if (b[item] === H_OFFPAGE) out.push(overflow(u32(item + 4), u32(item + 8)));
    }
  }
  return out;
}
