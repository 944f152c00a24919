// A small OTLP/HTTP trace receiver for the tracing tests: it takes `POST /v1/traces` with JSON bodies
// (http/json, what @opentelemetry/exporter-trace-otlp-http sends; gzip-encoded too) and decodes the spans.
// Protobuf bodies (http/protobuf) are answered 415 and counted, so a test sees an exporter speaking the wrong
// protocol instead of waiting for spans that never decode.
//
//   const rx = await startOtlpReceiver();     // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=rx.url
//   const spans = await rx.waitFor((all) => all.filter((s) => s.traceId === id), (found) => found.length >= 3);
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export type AttributeValue = string | number | boolean | AttributeValue[] | null;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span */
  parentSpanId: string;
  name: string;
  /** 1 internal, 2 server, 3 client, 4 producer, 5 consumer */
  kind: number;
  attributes: Record<string, AttributeValue>;
  /** 0 unset, 1 ok, 2 error */
  status: number;
  startNs: bigint;
  endNs: bigint;
  /** the resource's attributes (service.name, process.pid, …) */
  resource: Record<string, AttributeValue>;
  scope: string;
}

export interface ReceivedRequest {
  headers: http.IncomingHttpHeaders;
  contentType: string;
  /** spans decoded from the request (none for a body that was refused) */
  spans: number;
}

export interface OtlpReceiver {
  /** http://127.0.0.1:PORT/v1/traces */
  url: string;
  spans: ReceivedSpan[];
  requests: ReceivedRequest[];
  /** Protobuf or otherwise undecodable requests (answered 415 or 400). */
  refused: number;
  /** Polls until `done(select(spans))` holds, then returns the selection; fails after `timeoutMs`. */
  waitFor<T>(select: (all: ReceivedSpan[]) => T, done: (found: T) => boolean, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const requests: ReceivedRequest[] = [];
  let refused = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const contentType = String(req.headers['content-type'] ?? '');
      if (req.method !== 'POST' || req.url?.split('?')[0] !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      if (!contentType.startsWith('application/json')) {
        refused++;
        requests.push({ headers: req.headers, contentType, spans: 0 });
        res.writeHead(415, { 'Content-Type': 'text/plain' }).end('this receiver decodes http/json only');
        return;
      }
      let body = Buffer.concat(chunks);
      try {
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        const decoded = decode(JSON.parse(body.toString('utf8')));
        spans.push(...decoded);
        requests.push({ headers: req.headers, contentType, spans: decoded.length });
      } catch {
        refused++;
        requests.push({ headers: req.headers, contentType, spans: 0 });
        res.writeHead(400).end();
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    spans,
    requests,
    get refused() {
      return refused;
    },
    async waitFor(select, done, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = select(spans);
        if (done(found)) return found;
        if (Date.now() > deadline) {
          const names = spans.map((s) => `${s.name} ${s.traceId}/${s.spanId}<-${s.parentSpanId}`).join('\n  ');
          throw new Error(`OTLP receiver: condition not met within ${timeoutMs} ms; ${spans.length} spans received:\n  ${names}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface JsonKeyValue {
  key: string;
  value: JsonAnyValue;
}
interface JsonAnyValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: JsonAnyValue[] };
}

function value(v: JsonAnyValue | undefined): AttributeValue {
  if (!v) return null;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(value);
  return null;
}

function attributes(list: JsonKeyValue[] | undefined): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of list ?? []) out[kv.key] = value(kv.value);
  return out;
}

/** OTLP JSON (ExportTraceServiceRequest): ids are hex strings, enums numbers, 64-bit integers strings or numbers. */
function decode(body: {
  resourceSpans?: {
    resource?: { attributes?: JsonKeyValue[] };
    scopeSpans?: {
      scope?: { name?: string };
      spans?: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind?: number;
        attributes?: JsonKeyValue[];
        status?: { code?: number };
        startTimeUnixNano: string | number;
        endTimeUnixNano: string | number;
      }[];
    }[];
  }[];
}): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of body.resourceSpans ?? []) {
    const resource = attributes(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        if (!/^[0-9a-f]{32}$/.test(s.traceId) || !/^[0-9a-f]{16}$/.test(s.spanId)) throw new Error('ids are not hex');
        out.push({
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId ?? '',
          name: s.name,
          kind: s.kind ?? 0,
          attributes: attributes(s.attributes),
          status: s.status?.code ?? 0,
          startNs: BigInt(s.startTimeUnixNano),
          endNs: BigInt(s.endTimeUnixNano),
          resource,
          scope: ss.scope?.name ?? '',
        });
      }
    }
  }
  return out;
}
