// What the REST API and the UI's JSON routes accept as input: JSON bodies (nothing else),
// in valid UTF-8, and no control characters in any string of the body, the query or the
// path. A request that breaks this is refused with 400 INVALID before any handler runs,
// so nothing is changed and nothing unreadable is stored. (The app's root parser never
// reads bodies: blobs and manifests stream through their own handlers.)
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RestError } from '../errors/rest.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Top-level body fields of free text (a README, a comment) that may hold tab, line feed and carriage return. */
    multiline?: readonly string[];
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** C0 controls, DEL and C1 controls. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** The same, less tab, line feed and carriage return. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_IN_TEXT = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

export function prepareRestInput(scope: FastifyInstance, bodyLimit: number): void {
  scope.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (req, raw, done) => {
    let text: string;
    try {
      text = utf8.decode(raw as Buffer);
    } catch {
      return done(new RestError('INVALID', 'the body is not valid UTF-8', { detail: { location: 'body' } }), undefined);
    }
    if (text === '') return done(null, undefined);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return done(new RestError('INVALID', 'the body is not valid JSON', { detail: { location: 'body' } }), undefined);
    }
    const bad = badString(value, '', req.routeOptions.config?.multiline ?? []);
    done(bad ? refusal('body', bad) : null, bad ? undefined : value);
  });
  // Any other body: the API speaks JSON only.
  scope.addContentTypeParser('*', (req, _payload, done) => {
    done(
      new RestError('UNSUPPORTED_MEDIA_TYPE', `the body must be application/json, not ${String(req.headers['content-type'] ?? 'untyped').slice(0, 100)}`),
      undefined,
    );
  });
  scope.addHook('preValidation', async (req: FastifyRequest) => {
    for (const location of ['params', 'querystring'] as const) {
      const bad = badString(location === 'params' ? req.params : req.query, '', []);
      if (bad) throw refusal(location, bad);
    }
  });
}

interface Bad {
  field: string;
  why: string;
}

function refusal(location: string, bad: Bad): RestError {
  return new RestError('INVALID', `${location}${bad.field ? `/${bad.field}` : ''} ${bad.why}`, {
    detail: { location, ...(bad.field ? { field: bad.field } : {}) },
  });
}

/** Half of a UTF-16 surrogate pair without its other half (JSON's \\ud800 escapes can make one). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function flaw(s: string, control: RegExp): string | null {
  if (LONE_SURROGATE.test(s)) return 'is not valid Unicode (a lone surrogate)';
  const m = control.exec(s);
  return m ? `holds a control character (U+${m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')})` : null;
}

/** The first string (value or field name) that is not well-formed or holds a control character. */
function badString(value: unknown, path: string, multiline: readonly string[]): Bad | null {
  if (typeof value === 'string') {
    const why = flaw(value, multiline.includes(path) ? CONTROL_IN_TEXT : CONTROL);
    return why ? { field: path, why } : null;
  }
  if (value === null || typeof value !== 'object') return null;
  const entries: [string, unknown][] = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
  for (const [key, v] of entries) {
    const inKey = Array.isArray(value) ? null : flaw(key, CONTROL);
    if (inKey) return { field: path, why: `has a field name that ${inKey}` };
    const bad = badString(v, path ? `${path}/${key}` : key, multiline);
    if (bad) return bad;
  }
  return null;
}
