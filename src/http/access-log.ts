// One line per request on stdout (log.level info or lower, unless log.accesslog.disabled), as
// registry:2 writes: the JSON line pino writes at info level, built here and written in batches
// (at most FLUSH_MS late, and at exit). Through request.log with a write per line it cost a third
// of a cached pull's CPU; the application's own lines still go through pino, one write each.
import type { FastifyInstance } from 'fastify';
import pino from 'pino';

/** A line waits at most this long for others to share its write. */
export const FLUSH_MS = 200;
/** Bytes that make a write at once. */
const BATCH_BYTES = 8 * 1024;

export interface AccessLogOptions {
  /** log.fields: in every line, as pino's `base`. */
  fields: Record<string, unknown>;
  /** Where lines go (tests); stdout, flushed at exit, by default. */
  out?: { write(line: string): unknown; flush(): unknown };
}

export function registerAccessLog(app: FastifyInstance, opts: AccessLogOptions): void {
  // Lines at info: none when log.level is above it.
  if (!(app.log as pino.Logger).isLevelEnabled('info')) return;
  const out = opts.out ?? pino.destination({ dest: 1, sync: false, minLength: BATCH_BYTES });
  // `"level":30,"time":` … then the configured fields, as pino orders them.
  const fields = JSON.stringify(opts.fields).slice(1, -1);
  const afterTime = fields ? `,${fields},"reqId":` : ',"reqId":';
  let waiting = false;
  const timer = setInterval(() => {
    if (!waiting) return;
    waiting = false;
    out.flush();
  }, FLUSH_MS);
  timer.unref();
  app.addHook('onResponse', (request, reply, done) => {
    const url = request.url;
    const q = url.indexOf('?');
    const user = request.user === undefined ? '' : `,"user":${JSON.stringify(request.user)}`;
    out.write(
      `{"level":30,"time":${Date.now()}${afterTime}${JSON.stringify(request.id)},"method":${JSON.stringify(request.method)},"url":${JSON.stringify(q < 0 ? url : url.slice(0, q))},"status":${reply.statusCode},"ms":${Math.round(reply.elapsedTime)}${user},"msg":"request"}\n`,
    );
    waiting = true;
    done();
  });
  app.addHook('onClose', (_app, done) => {
    clearInterval(timer);
    if (waiting) out.flush();
    done();
  });
}
