// The OpenTelemetry SDK, set up from the OTEL_* settings: loaded by startTracing() (tracing.ts) only when tracing
// is on. Spans are batched and POSTed as OTLP/HTTP JSON; the exporter reads OTEL_EXPORTER_OTLP_(TRACES_)HEADERS,
// _TIMEOUT and _COMPRESSION itself. The AsyncLocalStorage context manager carries the request's span into its work.
import { hostname } from 'node:os';
import { diag, DiagLogLevel } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  type Sampler,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { SamplerSetting, TracingSettings } from './tracing-config.js';

/** Export failures (a collector that is down) are reported at most this often. */
const WARN_EVERY_MS = 60_000;

export function startSdk(s: TracingSettings, opts: { version: string; warn: (msg: string) => void }): { shutdown(): Promise<void> } {
  let lastWarn = 0;
  const report = (...args: unknown[]) => {
    const now = Date.now();
    if (now - lastWarn < WARN_EVERY_MS) return;
    lastWarn = now;
    opts.warn(args.map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
  };
  const quiet = () => {};
  diag.setLogger({ error: report, warn: report, info: quiet, debug: quiet, verbose: quiet }, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });

  const processors: SpanProcessor[] = s.exporters.map((e) =>
    e === 'otlp' ? new BatchSpanProcessor(new OTLPTraceExporter({ url: s.endpoint })) : new BatchSpanProcessor(new ConsoleSpanExporter()),
  );
  const provider = new NodeTracerProvider({
    resource: defaultResource().merge(
      resourceFromAttributes({
        ...s.resource,
        'service.name': s.serviceName,
        'service.version': opts.version,
        'host.name': s.resource['host.name'] ?? hostname(),
        'process.pid': process.pid,
      }),
    ),
    sampler: samplerOf(s.sampler),
    spanProcessors: processors,
  });
  // W3C trace context in and out (traceparent, tracestate); no baggage is read or sent.
  provider.register({ propagator: new W3CTraceContextPropagator() });
  return { shutdown: () => provider.shutdown() };
}

function samplerOf(s: SamplerSetting): Sampler {
  switch (s.kind) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(s.ratio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(s.ratio) });
  }
}
