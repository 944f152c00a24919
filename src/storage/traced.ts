// A StorageDriver decorator: a span for each call made while a request's (or job's) span is open. Every method
// of the inner driver is forwarded (wrap-methods.ts). Keys are content-addressed (digests, upload ids), so they go into the span; what a call returns (a
// presigned URL is a credential) never does.
import type { Attributes, Span } from '@opentelemetry/api';
import { childSpan, failed } from '../observability/tracing.js';
import type { StorageDriver } from './driver.js';
import { wrapMethods } from './wrap-methods.js';

/** The driver with spans around its calls. */
export function traced(inner: StorageDriver): StorageDriver {
  return wrapMethods(inner, (method, fn) => traceMethod(inner, method, fn));
}

function traceMethod(target: StorageDriver, method: string, fn: (...args: unknown[]) => unknown): (...args: unknown[]) => unknown {
  return (...args: unknown[]) => {
    const span = childSpan(`storage.${method}`, attributesOf(target.name, method, args));
    if (!span) return fn.apply(target, args);
    let result: unknown;
    try {
      result = fn.apply(target, args);
    } catch (err) {
      failed(span, err);
      span.end();
      throw err;
    }
    if (isPromise(result)) {
      return result.then(
        (v) => {
          span.end();
          return v;
        },
        (err) => {
          end(span, err);
          throw err;
        },
      );
    }
    if (isAsyncIterable(result)) return iterateInSpan(span, result);
    span.end();
    return result;
  };
}

/** Listings: the span lasts until the listing is read to its end (or abandoned). */
async function* iterateInSpan<T>(span: Span, source: AsyncIterable<T>): AsyncGenerator<T> {
  let count = 0;
  try {
    for await (const item of source) {
      count++;
      yield item;
    }
  } catch (err) {
    failed(span, err);
    throw err;
  } finally {
    span.setAttribute('berth.storage.items', count);
    span.end();
  }
}

function end(span: Span, err: unknown): void {
  // Absent objects are an answer, not a failure.
  if ((err as Error)?.name === 'NotFoundError') span.setAttribute('berth.storage.found', false);
  else failed(span, err);
  span.end();
}

function attributesOf(driver: string, method: string, args: unknown[]): Attributes {
  const attrs: Attributes = { 'berth.storage.driver': driver, 'berth.storage.operation': method };
  const [first, second] = args;
  if (method.startsWith('upload')) {
    if (typeof first === 'string') attrs['berth.storage.upload'] = first;
    if (method === 'uploadCommit' && typeof second === 'string') attrs['berth.storage.key'] = second;
    if (method === 'uploadAppend' && typeof second === 'number') attrs['berth.storage.offset'] = second;
  } else if (typeof first === 'string') {
    attrs['berth.storage.key'] = first;
  } else if (Array.isArray(first)) {
    attrs['berth.storage.keys'] = first.length;
  }
  if (method === 'put' && Buffer.isBuffer(second)) attrs['berth.storage.bytes'] = second.length;
  if (method === 'read' && second && typeof second === 'object' && 'start' in second) {
    const r = second as { start: number; end: number };
    attrs['berth.storage.range'] = `${r.start}-${r.end}`;
  }
  return attrs;
}

function isPromise(v: unknown): v is Promise<unknown> {
  return typeof (v as { then?: unknown })?.then === 'function';
}

function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}
