// What the command line prints when a command fails. A user's mistake (a bad config, a file
// that cannot be read, a port or database that cannot be reached, a refused value) becomes
// one line that names what is wrong; anything else is a bug and keeps its stack.
import { getSystemErrorMap } from 'node:util';
import { ConfigError } from '../config/index.js';
import { DependencyUnavailableError } from '../errors/unavailable.js';

/** A mistake the command line reports as it is (wrong arguments, wrong auth mode, unknown user). */
export class UsageError extends Error {}

/** One line describing a user's mistake, or null when `err` looks like a bug. */
export function userErrorLine(err: unknown): string | null {
  if (err instanceof ConfigError) return `configuration error: ${err.message}`;
  if (!(err instanceof Error)) return null;
  if (err instanceof UsageError || err.name === 'KeySealError') return oneLine(err.message);
  // Refusals from the services (name taken, password too short): OCI or REST errors with a 4xx status.
  const status = (err as { status?: unknown }).status;
  if (typeof status === 'number' && status >= 400 && status < 500) return oneLine(err.message);
  // Node joins the failures of each address it tried (::1 and 127.0.0.1) into one.
  if (err instanceof AggregateError && err.errors[0] instanceof Error) return userErrorLine(err.errors[0]);
  // The metadata layer's outage error: the line is the one of the failure it wraps (a refused connection…).
  if (err instanceof DependencyUnavailableError) return userErrorLine(err.cause) ?? oneLine(err.message);
  return systemError(err) ?? databaseError(err);
}

/** Runs `fn`; a user's mistake in it is reported as "<what>: <line>", anything else passes unchanged. */
export async function inContext<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const line = err instanceof ConfigError ? null : userErrorLine(err);
    throw line === null ? err : new UsageError(`${what}: ${line}`);
  }
}

type SystemError = Error & { code?: string; errno?: number; syscall?: string; path?: string; address?: string; port?: number; hostname?: string };

/** Errors the operating system reports (a missing file, a port in use, a refused connection). */
function systemError(err: SystemError): string | null {
  if (typeof err.code !== 'string' || !/^E[A-Z0-9]+$/.test(err.code) || typeof err.syscall !== 'string') return null;
  const reason = (typeof err.errno === 'number' && getSystemErrorMap().get(err.errno)?.[1]) || err.code;
  const where = err.address !== undefined ? `${err.address}${err.port !== undefined ? `:${err.port}` : ''}` : '';
  switch (err.syscall) {
    case 'listen':
    case 'bind':
      return `cannot listen on ${where}: ${reason} (${err.code})`;
    case 'connect':
      return `cannot connect to ${where}: ${reason} (${err.code})`;
    case 'getaddrinfo':
      return `cannot resolve host ${err.hostname ?? ''}: ${err.code}`;
  }
  if (err.path !== undefined) return `cannot ${err.syscall} ${err.path}: ${reason} (${err.code})`;
  return oneLine(err.message);
}

/** PostgreSQL refusing the connection (credentials, database name, limits) and SQLite unable to open its file. */
function databaseError(err: Error & { code?: unknown; severity?: unknown }): string | null {
  const code = typeof err.code === 'string' ? err.code : '';
  // SQLSTATE classes: 08 connection, 28 authorization, 3D no such database, 53 resources, 57 shutdown; 42501 privilege.
  if (typeof err.severity === 'string' && (/^(08|28|3D|53|57)/.test(code) || code === '42501')) return oneLine(err.message);
  if (err.name === 'SqliteError' && /^SQLITE_(CANTOPEN|NOTADB|READONLY|PERM|FULL|IOERR|CORRUPT|AUTH)/.test(code)) return `${oneLine(err.message)} (${code})`;
  return null;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}
