// Files the configuration names (TLS certificates, htpasswd, JWKS, password and key files): one
// that cannot be read stops start-up with a ConfigError naming the key, not a stack trace.
import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';

export function readConfiguredFile(key: string, file: string): Buffer;
export function readConfiguredFile(key: string, file: string, encoding: 'utf8'): string;
export function readConfiguredFile(key: string, file: string, encoding?: 'utf8'): Buffer | string {
  try {
    return encoding ? readFileSync(file, encoding) : readFileSync(file);
  } catch (err) {
    throw unreadableFile(key, file, err);
  }
}

/** "http.tls.key: cannot read /etc/k.pem: no such file or directory" from a failed fs call. */
export function unreadableFile(key: string, file: string, err: unknown): ConfigError {
  // Node's message repeats the code and the path ("ENOENT: no such file or directory, open '/x'").
  const reason = err instanceof Error ? err.message.replace(/^E[A-Z]+: |, \w+ '.*'$/g, '') : String(err);
  return new ConfigError(`${key}: cannot read ${file}: ${reason}`);
}
