// Traces (docs/observability.md#traces): spans through @opentelemetry/api only. Until startTracing() registers
// the SDK (src/observability/tracing-sdk.ts, imported only then), every call here is the API's no-op, and the
// helpers below return before creating anything: a registry without OTEL_* settings loads no SDK module.
import { type Attributes, context, propagation, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace, TraceFlags, type Context } from '@opentelemetry/api';
import type { TracingSettings } from './tracing-config.js';

export const tracer = trace.getTracer('berth');

let enabled = false;

/** True once the SDK is registered in this process. */
export function tracingEnabled(): boolean {
  return enabled;
}

export interface Tracing {
  /** Exports the spans still queued and stops; resolves within `timeoutMs` whatever the collector does. */
  shutdown(timeoutMs?: number): Promise<void>;
}

const OFF: Tracing = { shutdown: async () => {} };

/** Registers the SDK when settings are given (tracing on), else does nothing and loads nothing. */
export async function startTracing(settings: TracingSettings | null, opts: { version: string; warn: (msg: string) => void }): Promise<Tracing> {
  if (!settings) return OFF;
  const { startSdk } = await import('./tracing-sdk.js');
  const sdk = startSdk(settings, opts);
  enabled = true;
  return {
    async shutdown(timeoutMs = 5000) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([sdk.shutdown().catch(() => {}), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
      clearTimeout(timer);
    },
  };
}

/**
 * The context new spans hang from: the active one while its span is still open (or not sampled, so children
 * stay unsampled), else the root. Node carries a context into timers and callbacks made during a request, so
 * work that outlives its request would otherwise land in a trace that already ended.
 */
function parentContext(): Context {
  const active = context.active();
  const span = trace.getSpan(active);
  if (!span) return ROOT_CONTEXT;
  if (span.isRecording() || (span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return active;
  return ROOT_CONTEXT;
}

/** A span under the current request's (or job's) span, or null when there is none open: database and storage calls. */
export function childSpan(name: string, attributes: Attributes, kind: SpanKind = SpanKind.INTERNAL): Span | null {
  if (!enabled) return null;
  const parent = trace.getSpan(context.active());
  if (!parent?.isRecording()) return null;
  return tracer.startSpan(name, { kind, attributes }, context.active());
}

/**
 * A client span for an outbound request, under the current span when one is open, else a root of its own, and
 * the W3C trace context (`traceparent`, `tracestate`) of it added to `headers`. Null when tracing is off.
 * `root`: always a trace of its own (background deliveries).
 */
export function outboundSpan(name: string, attributes: Attributes, headers: Record<string, string | string[] | number>, root = false): Span | null {
  if (!enabled) return null;
  const parent = root ? ROOT_CONTEXT : parentContext();
  const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, parent);
  propagation.inject(trace.setSpan(parent, span), headers);
  return span;
}

/** Runs `fn` in a root span of its own (a background job's run), or just runs it when tracing is off. */
export function inRootSpan<T>(name: string, attributes: Attributes, fn: () => Promise<T>): Promise<T> {
  if (!enabled) return fn();
  const span = tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes }, ROOT_CONTEXT);
  return context.with(trace.setSpan(ROOT_CONTEXT, span), async () => {
    try {
      return await fn();
    } catch (err) {
      failed(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Marks a span as failed with the error's type and message (messages name causes, never secrets). */
export function failed(span: Span, err: unknown): void {
  const e = err instanceof Error ? err : new Error(String(err));
  const code = (e as Error & { code?: unknown }).code;
  span.setAttribute('error.type', typeof code === 'string' && code ? code : e.name);
  span.setStatus({ code: SpanStatusCode.ERROR, message: e.message.slice(0, 300) });
}

export { SpanKind, SpanStatusCode };
