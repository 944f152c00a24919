// A strict parser for multipart/byteranges bodies (RFC 9110 §14.6), for the range tests.
import assert from 'node:assert/strict';

export interface BytePart {
  headers: Record<string, string>;
  start: number;
  end: number;
  total: number;
  body: Buffer;
}

/** Splits `body` on `boundary`; every part must carry a Content-Range whose length matches its body. */
export function parseByteranges(contentType: string, body: Buffer): BytePart[] {
  const m = /^multipart\/byteranges;\s*boundary=("?)([^";]+)\1\s*$/i.exec(contentType);
  assert.ok(m, `not multipart/byteranges: ${contentType}`);
  const boundary = m[2];
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: BytePart[] = [];
  let pos = body.indexOf(delimiter);
  assert.ok(pos >= 0, 'no opening boundary');
  for (;;) {
    pos += delimiter.length;
    if (body.subarray(pos, pos + 2).toString() === '--') break; // closing delimiter
    assert.equal(body.subarray(pos, pos + 2).toString(), '\r\n', 'CRLF after boundary');
    pos += 2;
    const headEnd = body.indexOf('\r\n\r\n', pos);
    assert.ok(headEnd > 0, 'part headers not terminated');
    const headers: Record<string, string> = {};
    for (const line of body.subarray(pos, headEnd).toString('latin1').split('\r\n')) {
      const i = line.indexOf(':');
      assert.ok(i > 0, `bad part header line ${JSON.stringify(line)}`);
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const cr = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(headers['content-range'] ?? '');
    assert.ok(cr, `part without a valid Content-Range: ${JSON.stringify(headers)}`);
    const start = Number(cr[1]);
    const end = Number(cr[2]);
    const dataStart = headEnd + 4;
    const dataEnd = dataStart + (end - start + 1);
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), dataStart);
    assert.equal(next, dataEnd, 'part body length must equal its Content-Range length');
    parts.push({ headers, start, end, total: Number(cr[3]), body: body.subarray(dataStart, dataEnd) });
    pos = next + 2;
  }
  return parts;
}
