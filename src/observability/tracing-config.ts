// Tracing settings from the standard OTEL_* variables (the OpenTelemetry SDK environment specification), checked
// at start-up: a value Berth cannot honour is a configuration error naming the variable, not a silent default.
// Pure: no SDK module is loaded here (src/observability/tracing.ts loads the SDK only when this says "on").
import { ConfigError } from '../config/errors.js';

export type TracesExporter = 'otlp' | 'console';

export type SamplerSetting =
  | { kind: 'always_on' | 'always_off' | 'parentbased_always_on' | 'parentbased_always_off' }
  | { kind: 'traceidratio' | 'parentbased_traceidratio'; ratio: number };

export interface TracingSettings {
  exporters: TracesExporter[];
  /** Where OTLP/HTTP (http/json) spans are POSTed: the full URL, `/v1/traces` included. */
  endpoint: string;
  sampler: SamplerSetting;
  /** OTEL_SERVICE_NAME, else `berth` (OTEL_RESOURCE_ATTRIBUTES' service.name wins over the default only). */
  serviceName: string;
  /** key=value pairs of OTEL_RESOURCE_ATTRIBUTES. */
  resource: Record<string, string>;
}

const DEFAULT_ENDPOINT = 'http://localhost:4318';
const SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'];

type Env = Record<string, string | undefined>;

/**
 * The tracing settings, or null when tracing is off: it is on when OTEL_TRACES_EXPORTER names an exporter or an
 * OTLP endpoint is set, unless OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none. Throws ConfigError naming
 * every bad variable.
 */
export function tracingSettings(env: Env): TracingSettings | null {
  const problems: string[] = [];
  const value = (name: string) => {
    const v = env[name]?.trim();
    return v ? v : undefined;
  };
  const disabled = value('OTEL_SDK_DISABLED');
  if (disabled !== undefined && !/^(true|false)$/i.test(disabled)) problems.push(`OTEL_SDK_DISABLED must be true or false, not "${disabled}"`);
  const exporters = parseExporters(value('OTEL_TRACES_EXPORTER'), problems);
  const tracesEndpoint = value('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const endpoint = value('OTEL_EXPORTER_OTLP_ENDPOINT');
  const url = tracesEndpoint ?? (endpoint ? `${endpoint.replace(/\/+$/, '')}/v1/traces` : `${DEFAULT_ENDPOINT}/v1/traces`);
  for (const [name, v] of [
    ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', tracesEndpoint],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', endpoint],
  ] as const) {
    if (v !== undefined && !/^https?:$/.test(safeProtocol(v))) problems.push(`${name} must be an http:// or https:// URL, not "${maskUserinfo(v)}"`);
  }
  // @opentelemetry/exporter-trace-otlp-http speaks http/json only; http/protobuf and grpc need other exporters.
  for (const name of ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL']) {
    const p = value(name);
    if (p !== undefined && p !== 'http/json') {
      problems.push(`${name}=${p} is not supported: Berth exports traces over OTLP/HTTP with JSON bodies (http/json)`);
    }
  }
  for (const name of ['OTEL_EXPORTER_OTLP_TRACES_HEADERS', 'OTEL_EXPORTER_OTLP_HEADERS']) {
    const h = value(name);
    // The value may hold credentials: the message never repeats it.
    if (h !== undefined && parsePairs(h) === null) problems.push(`${name} must be key=value pairs separated by commas`);
  }
  const sampler = parseSampler(value('OTEL_TRACES_SAMPLER'), value('OTEL_TRACES_SAMPLER_ARG'), problems);
  const resourceText = value('OTEL_RESOURCE_ATTRIBUTES');
  const resource = resourceText === undefined ? {} : parsePairs(resourceText);
  if (resource === null) problems.push('OTEL_RESOURCE_ATTRIBUTES must be key=value pairs separated by commas (values percent-encoded)');
  if (problems.length > 0) throw new ConfigError(problems);

  if (disabled?.toLowerCase() === 'true') return null;
  const configured = exporters ?? (tracesEndpoint || endpoint ? ['otlp' as const] : []);
  if (configured.length === 0) return null;
  return {
    exporters: configured,
    endpoint: url,
    sampler,
    serviceName: value('OTEL_SERVICE_NAME') ?? resource?.['service.name'] ?? 'berth',
    resource: resource ?? {},
  };
}

/** One line for the start-up log: no headers (they hold credentials), no URL credentials. */
export function describeTracing(s: TracingSettings | null): string {
  if (!s) return 'off';
  const sampler = 'ratio' in s.sampler ? `${s.sampler.kind} ${s.sampler.ratio}` : s.sampler.kind;
  const to = s.exporters.map((e) => (e === 'otlp' ? `OTLP/HTTP ${maskUserinfo(s.endpoint)}` : 'console')).join(' and ');
  return `${to} as ${s.serviceName}, sampler ${sampler}`;
}

function parseExporters(v: string | undefined, problems: string[]): TracesExporter[] | null {
  if (v === undefined) return null;
  const names = v
    .split(',')
    .map((x) => x.trim().toLowerCase())
    .filter(Boolean);
  if (names.includes('none')) return [];
  const out: TracesExporter[] = [];
  for (const n of names) {
    if (n === 'otlp' || n === 'console') {
      if (!out.includes(n)) out.push(n);
    } else {
      problems.push(`OTEL_TRACES_EXPORTER=${n} is not supported: use otlp (OTLP/HTTP), console or none`);
    }
  }
  return out;
}

function parseSampler(v: string | undefined, arg: string | undefined, problems: string[]): SamplerSetting {
  const kind = (v ?? 'parentbased_always_on').toLowerCase();
  if (!SAMPLERS.includes(kind)) {
    problems.push(`OTEL_TRACES_SAMPLER=${v} is not supported: use one of ${SAMPLERS.join(', ')}`);
    return { kind: 'parentbased_always_on' };
  }
  if (kind === 'traceidratio' || kind === 'parentbased_traceidratio') {
    const ratio = arg === undefined ? 1 : Number(arg);
    if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
      problems.push(`OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1 for ${kind}, not "${arg}"`);
      return { kind, ratio: 1 };
    }
    return { kind, ratio };
  }
  return { kind } as SamplerSetting;
}

/** `k1=v1,k2=v2` with percent-encoded values (W3C Baggage style, as OTEL_RESOURCE_ATTRIBUTES and OTLP headers use). */
export function parsePairs(text: string): Record<string, string> | null {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) return null;
    const key = part.slice(0, eq).trim();
    if (key === '') return null;
    try {
      out[key] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return null;
    }
  }
  return out;
}

function safeProtocol(url: string): string {
  try {
    return new URL(url).protocol;
  } catch {
    return '';
  }
}

/** The URL without its user info (an OTLP endpoint's user name can be an API key, unlike a database user's). */
function maskUserinfo(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = '***';
      u.password = '';
    }
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}
