// The replication policy editor: a policy's remote registry, filters and trigger as form fields, turned
// into the REST API's body (POST /replication/policies, PATCH /replication/policies/{id}). The API
// validates everything and names the field at fault; the form shows its message. The password is
// write-only: an edit sends it only when typed (or removed), since the API never returns it.
import { useState } from 'preact/hooks';
import { Alert, TextField, useAction } from './components.js';

export type Direction = 'push' | 'pull';
export type Trigger = 'event' | 'schedule' | 'manual';

export interface Run {
  id: number;
  policyId: number;
  trigger: Trigger;
  status: 'running' | 'succeeded' | 'failed' | 'partial';
  startedAt: string;
  finishedAt: string | null;
  copied: number;
  skipped: number;
  failed: number;
  deleted: number;
  bytes: number;
  error: string | null;
}

export interface Policy {
  id: number;
  name: string;
  direction: Direction;
  remoteUrl: string;
  remoteUsername: string | null;
  hasPassword: boolean;
  repositories: string[];
  excludeRepositories: string[];
  tags: string[];
  excludeTags: string[];
  remotePrefix: string;
  trigger: Trigger;
  interval: string | null;
  replicateDeletes: boolean;
  enabled: boolean;
  running: boolean;
  createdBy: string | null;
  createdAt: string;
  updatedAt: string;
  nextRunAt: string | null;
  lastRun: Run | null;
}

export type PolicyBody = Record<string, unknown>;

interface Form {
  name: string;
  direction: Direction;
  remoteUrl: string;
  remoteUsername: string;
  remotePassword: string;
  removePassword: boolean;
  repositories: string;
  excludeRepositories: string;
  tags: string;
  excludeTags: string;
  remotePrefix: string;
  trigger: Trigger;
  interval: string;
  replicateDeletes: boolean;
  enabled: boolean;
}

const NEW: Form = {
  name: '',
  direction: 'push',
  remoteUrl: '',
  remoteUsername: '',
  remotePassword: '',
  removePassword: false,
  repositories: '**',
  excludeRepositories: '',
  tags: '*',
  excludeTags: '',
  remotePrefix: '',
  trigger: 'event',
  interval: '1h',
  replicateDeletes: false,
  enabled: true,
};

const list = (s: string) =>
  s
    .split(/[\n,]/)
    .map((x) => x.trim())
    .filter(Boolean);

function fromPolicy(p: Policy): Form {
  return {
    name: p.name,
    direction: p.direction,
    remoteUrl: p.remoteUrl,
    remoteUsername: p.remoteUsername ?? '',
    remotePassword: '',
    removePassword: false,
    repositories: p.repositories.join(', '),
    excludeRepositories: p.excludeRepositories.join(', '),
    tags: p.tags.join(', '),
    excludeTags: p.excludeTags.join(', '),
    remotePrefix: p.remotePrefix,
    trigger: p.trigger,
    interval: p.interval ?? '1h',
    replicateDeletes: p.replicateDeletes,
    enabled: p.enabled,
  };
}

function toBody(f: Form, editing: Policy | null): PolicyBody {
  const body: PolicyBody = {
    name: f.name.trim(),
    direction: f.direction,
    remoteUrl: f.remoteUrl.trim(),
    remoteUsername: f.remoteUsername.trim() || null,
    repositories: list(f.repositories),
    excludeRepositories: list(f.excludeRepositories),
    tags: list(f.tags),
    excludeTags: list(f.excludeTags),
    remotePrefix: f.remotePrefix.trim(),
    trigger: f.trigger,
    replicateDeletes: f.replicateDeletes,
    enabled: f.enabled,
  };
  if (f.trigger === 'schedule') body.interval = f.interval.trim();
  if (f.remotePassword) body.remotePassword = f.remotePassword;
  else if (editing?.hasPassword && f.removePassword) body.remotePassword = null;
  return body;
}

/** Create (no `policy`) or edit a policy; `save` sends the body and throws the API's error. */
export function PolicyForm({ policy, save, cancel }: { policy: Policy | null; save: (body: PolicyBody) => Promise<unknown>; cancel?: () => void }) {
  const [f, setF] = useState<Form>(policy ? fromPolicy(policy) : { ...NEW });
  const act = useAction();
  const field = (key: keyof Form) => ({ value: f[key] as string, set: (v: string) => setF({ ...f, [key]: v }) });
  const submit = async (e: Event) => {
    e.preventDefault();
    await act.run(() => save(toBody(f, policy)));
  };
  const push = f.direction === 'push';
  return (
    <form onSubmit={submit}>
      <div class="grid two">
        <TextField id="rp-name" label="Name" hint="lowercase letters, digits, . _ -" required {...field('name')} />
        <div class="field">
          <label for="rp-direction">Direction</label>
          <select
            id="rp-direction"
            value={f.direction}
            onChange={(e) => {
              const direction = e.currentTarget.value as Direction;
              // A pull policy cannot be triggered by pushes here.
              setF({ ...f, direction, trigger: direction === 'pull' && f.trigger === 'event' ? 'schedule' : f.trigger });
            }}
          >
            <option value="push">Push: copy from this registry to the remote one</option>
            <option value="pull">Pull: copy from the remote registry into this one</option>
          </select>
        </div>
      </div>
      <fieldset>
        <legend>Remote registry</legend>
        <TextField id="rp-url" label="URL" hint="scheme, host and port" placeholder="https://registry.example.com" required {...field('remoteUrl')} />
        <div class="grid two">
          <TextField id="rp-user" label="Username" hint="optional" {...field('remoteUsername')} />
          <div class="field">
            <label for="rp-password">
              Password or token <span class="hint">{policy?.hasPassword ? 'a password is stored; leave empty to keep it' : 'optional; stored encrypted'}</span>
            </label>
            <input
              id="rp-password"
              type="password"
              autoComplete="new-password"
              value={f.remotePassword}
              onInput={(e) => setF({ ...f, remotePassword: e.currentTarget.value })}
            />
          </div>
        </div>
        {policy?.hasPassword ? (
          <div class="field">
            <label class="check">
              <input
                type="checkbox"
                checked={f.removePassword}
                disabled={f.remotePassword !== ''}
                onChange={(e) => setF({ ...f, removePassword: e.currentTarget.checked })}
              />{' '}
              Remove the stored password
            </label>
          </div>
        ) : null}
        <TextField
          id="rp-prefix"
          label="Prefix on the remote registry"
          hint={
            push
              ? 'optional: with "dr", app/web here is dr/app/web there'
              : 'optional: with "library", library/alpine there is alpine here (only names under the prefix are copied)'
          }
          {...field('remotePrefix')}
        />
      </fieldset>
      <fieldset>
        <legend>What to copy</legend>
        <div class="grid two">
          <TextField
            id="rp-repos"
            label="Repositories"
            hint="globs over the names in this registry, comma-separated; ** for all"
            required
            {...field('repositories')}
          />
          <TextField id="rp-tags" label="Tags" hint="globs, comma-separated; * for all" {...field('tags')} />
          <TextField id="rp-xrepos" label="Except repositories" hint="optional, comma-separated" {...field('excludeRepositories')} />
          <TextField id="rp-xtags" label="Except tags" hint="optional, comma-separated" {...field('excludeTags')} />
        </div>
        <div class="field">
          <label class="check">
            <input type="checkbox" checked={f.replicateDeletes} onChange={(e) => setF({ ...f, replicateDeletes: e.currentTarget.checked })} /> Replicate deletes
            (tags deleted at the source are deleted at the destination)
          </label>
        </div>
      </fieldset>
      <fieldset>
        <legend>When</legend>
        <div class="grid two">
          <div class="field">
            <label for="rp-trigger">Trigger</label>
            <select id="rp-trigger" value={f.trigger} onChange={(e) => setF({ ...f, trigger: e.currentTarget.value as Trigger })}>
              {push ? <option value="event">On each push and delete</option> : null}
              <option value="schedule">On a schedule</option>
              <option value="manual">Only when run by hand</option>
            </select>
          </div>
          {f.trigger === 'schedule' ? <TextField id="rp-interval" label="Every" hint="e.g. 30m, 1h, 1d" required {...field('interval')} /> : null}
        </div>
        <div class="field">
          <label class="check">
            <input type="checkbox" checked={f.enabled} onChange={(e) => setF({ ...f, enabled: e.currentTarget.checked })} /> Enabled (a disabled policy runs
            only when run by hand)
          </label>
        </div>
      </fieldset>
      <Alert>{act.error}</Alert>
      <div class="row">
        <button type="submit" class="primary" disabled={act.busy}>
          {policy ? 'Save policy' : 'Create policy'}
        </button>
        {cancel ? (
          <button type="button" class="link" onClick={cancel}>
            Cancel
          </button>
        ) : null}
      </div>
    </form>
  );
}
