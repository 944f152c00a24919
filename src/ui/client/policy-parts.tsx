// Pieces the security policy forms share (trust-policies.tsx, vulnerability-policy.tsx): the
// mode radios, "changed by", the note on a policy from the configuration file, and reading a
// policy that may not be set.
import { ApiError, api, isNoEndpoint } from './api.js';
import { Alert, Time } from './components.js';
import { ms } from './signatures.js';

export type Mode = 'audit' | 'enforce';

export const lines = (s: string) =>
  s
    .split(/[\n,]/)
    .map((x) => x.trim())
    .filter(Boolean);

/**
 * GET a policy; null when none is set (404 "… policy not found"; "namespace not found" stays an
 * error), 'off' when the server does not run the feature (no such endpoint).
 */
export async function loadPolicy<T>(path: string): Promise<T | null | 'off'> {
  try {
    return await api.get<T>(path);
  } catch (err) {
    if (isNoEndpoint(err)) return 'off';
    if (err instanceof ApiError && err.status === 404 && /policy not found/i.test(err.message)) return null;
    throw err;
  }
}

export function ModeField({ id, mode, set, enforceText }: { id: string; mode: Mode; set: (m: Mode) => void; enforceText: string }) {
  return (
    <fieldset>
      <legend>Mode</legend>
      <label class="check">
        <input type="radio" name={`${id}-mode`} value="audit" checked={mode === 'audit'} onChange={() => set('audit')} /> Audit: record verdicts only
      </label>
      <label class="check">
        <input type="radio" name={`${id}-mode`} value="enforce" checked={mode === 'enforce'} onChange={() => set('enforce')} /> Enforce: {enforceText}
      </label>
    </fieldset>
  );
}

export function Changed({ p }: { p: { updatedAt?: number | string | null; updatedBy?: string | null; createdBy?: string | null } | null }) {
  if (!p?.updatedAt) return null;
  const by = p.updatedBy ?? p.createdBy;
  return (
    <p class="small muted">
      Changed <Time ms={ms(p.updatedAt)} />
      {by ? ` by ${by}` : ''}.
    </p>
  );
}

/** A policy from the configuration file: shown, never changed here (the API refuses). */
export function FromConfig({ p, file }: { p: { source?: string; name?: string } | null; file: string }) {
  if (p?.source !== 'config') return null;
  return (
    <Alert kind="info">
      Set in the configuration file ({file}
      {p.name ? `.${p.name}` : ''}): change it there.
    </Alert>
  );
}
