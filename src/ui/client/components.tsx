// Pieces every page uses: navigation, the signed-in user, async loading, alerts,
// copy buttons, digests, times and pagers.
import { createContext, type ComponentChildren } from 'preact';
import { useCallback, useContext, useEffect, useState } from 'preact/hooks';
import { ago, errorText, fullTime, shortDigest, type User } from './api.js';

// ---- navigation (History API; the server answers every /ui/* path with the same page) ----

const listeners = new Set<() => void>();
export function navigate(href: string, replace = false): void {
  if (replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  for (const l of listeners) l();
}
export function useLocation(): { path: string; search: URLSearchParams } {
  const [, setTick] = useState(0);
  useEffect(() => {
    const on = () => setTick((t) => t + 1);
    listeners.add(on);
    addEventListener('popstate', on);
    return () => {
      listeners.delete(on);
      removeEventListener('popstate', on);
    };
  }, []);
  return { path: location.pathname, search: new URLSearchParams(location.search) };
}

export const repoPath = (name: string, rest = '') => `/ui/r/${name}${rest ? `/-/${rest}` : ''}`;

// ---- the signed-in user ----

export interface Session {
  user: User | null;
  setUser: (u: User | null) => void;
}
export const SessionContext = createContext<Session>({ user: null, setUser: () => {} });
export const useSession = () => useContext(SessionContext);

// ---- data loading ----

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
  set: (t: T) => void;
}

/** Runs `load` when `deps` change; `reload()` runs it again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, loading: false }),
      (error) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, n]);
  const reload = useCallback(() => setN((x) => x + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload, set: (data: T) => setState({ data, loading: false }) };
}

/** A button action with busy state and an error message. */
export function useAction(): { busy: boolean; error: string; run: (fn: () => Promise<unknown>) => Promise<boolean>; setError: (e: string) => void } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const run = async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setError('');
    try {
      await fn();
      return true;
    } catch (err) {
      setError(errorText(err));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run, setError };
}

// ---- small components ----

export function Alert({ kind = 'error', children }: { kind?: 'error' | 'ok' | 'info'; children: ComponentChildren }) {
  if (!children) return null;
  return (
    <div class={`alert ${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      {children}
    </div>
  );
}

export function LoadError({ error }: { error: unknown }) {
  return <Alert>{errorText(error)}</Alert>;
}

export function Spinner({ label = 'Loading…' }: { label?: string }) {
  return (
    <p class="muted" role="status">
      {label}
    </p>
  );
}

export function Time({ ms }: { ms: number | null | undefined }) {
  if (!ms) return <span class="muted">never</span>;
  return (
    <time dateTime={new Date(ms).toISOString()} title={fullTime(ms)}>
      {ago(ms)}
    </time>
  );
}

async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain-http registries: no Clipboard API, fall back to a selected textarea.
  const t = document.createElement('textarea');
  t.value = text;
  t.setAttribute('readonly', '');
  t.style.position = 'fixed';
  t.style.opacity = '0';
  document.body.appendChild(t);
  t.select();
  document.execCommand('copy');
  t.remove();
}

export function CopyButton({ text, label = 'Copy', what, class: cls = '' }: { text: string; label?: string; what?: string; class?: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      class={cls}
      aria-label={what ? `Copy ${what}` : label}
      data-copy={text}
      onClick={async () => {
        try {
          await copyText(text);
          setDone(true);
          setTimeout(() => setDone(false), 1500);
        } catch {
          /* nothing to do: the text is on the page */
        }
      }}
    >
      {done ? 'Copied' : label}
      <span class="sr-only" aria-live="polite">
        {done ? 'copied to the clipboard' : ''}
      </span>
    </button>
  );
}

export function CopyLine({ text, what }: { text: string; what: string }) {
  return (
    <div class="copy">
      <code>{text}</code>
      <CopyButton text={text} what={what} />
    </div>
  );
}

export function Digest({ digest, href }: { digest: string; href?: string }) {
  const short = shortDigest(digest);
  return (
    <span class="digest">
      {href ? (
        <a class="mono" href={href} title={digest}>
          {short}
        </a>
      ) : (
        <code title={digest}>{short}</code>
      )}
      <CopyButton text={digest} what={`digest ${short}`} class="small" />
    </span>
  );
}

export function Pager({ page, pages, go }: { page: number; pages: number; go: (p: number) => void }) {
  if (pages <= 1) return null;
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" class="small" disabled={page <= 1} onClick={() => go(page - 1)}>
        Previous
      </button>
      <span class="small muted">
        Page {page} of {pages}
      </span>
      <button type="button" class="small" disabled={page >= pages} onClick={() => go(page + 1)}>
        Next
      </button>
    </nav>
  );
}

/** The page title and its heading, focused after each navigation for screen readers. */
export function PageTitle({ title, children }: { title: string; children?: ComponentChildren }) {
  useEffect(() => {
    document.title = `${title} · Berth`;
  }, [title]);
  return (
    <h1 id="page-title" tabIndex={-1}>
      {children ?? title}
    </h1>
  );
}

export function NeedSignIn({ what }: { what: string }) {
  const next = encodeURIComponent(location.pathname + location.search);
  return (
    <div class="card">
      <p>
        <a href={`/ui/sign-in?next=${next}`}>Sign in</a> to {what}.
      </p>
    </div>
  );
}

/**
 * A table in the pages' style: a header row of `columns` (null entries are left out), a last, unlabelled
 * "Actions" column when `actions`, and the rows. `cards` turns rows into cards on narrow screens.
 */
export function Table({
  columns,
  actions = false,
  cards = true,
  style,
  children,
}: {
  columns: (string | null)[];
  actions?: boolean;
  cards?: boolean;
  style?: Record<string, string>;
  children: ComponentChildren;
}) {
  return (
    <div class="table-wrap" style={style}>
      <table class={cards ? 'cards' : undefined}>
        <thead>
          <tr>
            {columns.map((c) => (c === null ? null : <th scope="col">{c}</th>))}
            {actions ? (
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            ) : null}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

/** A labelled one-line text input (the policy forms). */
export function TextField({
  id,
  label,
  hint,
  value,
  set,
  required,
  placeholder,
}: {
  id: string;
  label: string;
  hint?: string;
  value: string;
  set: (v: string) => void;
  required?: boolean;
  placeholder?: string;
}) {
  return (
    <div class="field">
      <label for={id}>
        {label} {hint ? <span class="hint">{hint}</span> : null}
      </label>
      <input
        id={id}
        type="text"
        required={required}
        autoComplete="off"
        autoCapitalize="none"
        spellcheck={false}
        placeholder={placeholder}
        value={value}
        onInput={(e) => set(e.currentTarget.value)}
      />
    </div>
  );
}
