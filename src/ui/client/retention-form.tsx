// The retention policy editor: a policy's name, scope and rules as form fields, turned into
// the REST API's body (POST/PUT /namespaces/{ns}/retention-policies). The API validates
// everything; the form only turns text into numbers and lists so its message can be shown.
import { useState } from 'preact/hooks';
import { Alert, TextField, useAction } from './components.js';

export interface Keep {
  latestPushed?: number;
  latestPulled?: number;
  pushedWithin?: string;
  pulledWithin?: string;
  forever?: boolean;
}
export interface RetentionRule {
  repositories: string;
  excludeRepositories: string[];
  tags: string;
  excludeTags: string[];
  keep: Keep;
  untagged?: string | null;
}
export interface LastRun {
  at: string | number;
  dryRun: boolean;
  tagsDeleted: number;
  manifestsDeleted: number;
  bytes: number;
  protected: number;
}
export interface Policy {
  name: string;
  namespace: string;
  repository: string | null;
  enabled: boolean;
  rules: RetentionRule[];
  createdBy: string | null;
  createdAt: string | number;
  updatedAt: string | number;
  lastRun: LastRun | null;
}
export interface PolicyBody {
  name: string;
  repository: string | null;
  enabled: boolean;
  rules: RetentionRule[];
}

interface RuleForm {
  repositories: string;
  tags: string;
  excludeRepositories: string;
  excludeTags: string;
  latestPushed: string;
  latestPulled: string;
  pushedWithin: string;
  pulledWithin: string;
  forever: boolean;
  untagged: string;
}

/** What most registries start with: the ten newest pushes of every tag, untagged images for a week. */
const NEW_RULE: RuleForm = {
  repositories: '**',
  tags: '*',
  excludeRepositories: '',
  excludeTags: '',
  latestPushed: '10',
  latestPulled: '',
  pushedWithin: '',
  pulledWithin: '',
  forever: false,
  untagged: '7d',
};
const MAX_RULES = 20;

const list = (s: string) =>
  s
    .split(/[\n,]/)
    .map((x) => x.trim())
    .filter(Boolean);

function fromRule(r: RetentionRule): RuleForm {
  const k = r.keep ?? {};
  return {
    repositories: r.repositories,
    tags: r.tags,
    excludeRepositories: (r.excludeRepositories ?? []).join(', '),
    excludeTags: (r.excludeTags ?? []).join(', '),
    latestPushed: k.latestPushed === undefined ? '' : String(k.latestPushed),
    latestPulled: k.latestPulled === undefined ? '' : String(k.latestPulled),
    pushedWithin: k.pushedWithin ?? '',
    pulledWithin: k.pulledWithin ?? '',
    forever: !!k.forever,
    untagged: r.untagged ?? '',
  };
}

/** The API's rule, or the text of what is wrong with the fields (counts must be whole numbers). */
function toRule(f: RuleForm, n: number): RetentionRule | string {
  const keep: Keep = {};
  for (const key of ['latestPushed', 'latestPulled'] as const) {
    const v = f[key].trim();
    if (!v) continue;
    if (!/^\d+$/.test(v)) return `Rule ${n}: "${key === 'latestPushed' ? 'latest pushed' : 'latest pulled'}" is a whole number of tags.`;
    keep[key] = Number(v);
  }
  if (f.pushedWithin.trim()) keep.pushedWithin = f.pushedWithin.trim();
  if (f.pulledWithin.trim()) keep.pulledWithin = f.pulledWithin.trim();
  if (f.forever) keep.forever = true;
  const rule: RetentionRule = {
    repositories: f.repositories.trim() || '**',
    excludeRepositories: list(f.excludeRepositories),
    tags: f.tags.trim() || '*',
    excludeTags: list(f.excludeTags),
    keep,
  };
  if (f.untagged.trim()) rule.untagged = f.untagged.trim();
  return rule;
}

function RuleFields({ n, f, set, remove }: { n: number; f: RuleForm; set: (f: RuleForm) => void; remove?: () => void }) {
  const id = (x: string) => `rule${n}-${x}`;
  const field = (key: keyof Omit<RuleForm, 'forever'>) => ({ value: f[key], set: (v: string) => set({ ...f, [key]: v }) });
  return (
    <fieldset>
      <legend>Rule {n}</legend>
      <div class="grid two">
        <TextField id={id('repos')} label="Repositories" hint="glob below the namespace, ** for all" {...field('repositories')} />
        <TextField id={id('tags')} label="Tags" hint="glob, * for all" {...field('tags')} />
        <TextField id={id('xrepos')} label="Except repositories" hint="optional, comma-separated" {...field('excludeRepositories')} />
        <TextField id={id('xtags')} label="Except tags" hint="optional, comma-separated" {...field('excludeTags')} />
      </div>
      <p class="small muted">Keep, of the tags this rule selects in each repository (a tag any rule keeps stays):</p>
      <div class="grid two">
        <div class="field">
          <label for={id('pushed')}>
            Latest pushed <span class="hint">how many</span>
          </label>
          <input id={id('pushed')} type="number" min="1" step="1" value={f.latestPushed} onInput={(e) => set({ ...f, latestPushed: e.currentTarget.value })} />
        </div>
        <div class="field">
          <label for={id('pulled')}>
            Latest pulled <span class="hint">how many</span>
          </label>
          <input id={id('pulled')} type="number" min="1" step="1" value={f.latestPulled} onInput={(e) => set({ ...f, latestPulled: e.currentTarget.value })} />
        </div>
        <TextField id={id('pushedwithin')} label="Pushed within" hint="e.g. 30d" {...field('pushedWithin')} />
        <TextField id={id('pulledwithin')} label="Pulled within" hint="e.g. 14d" {...field('pulledWithin')} />
      </div>
      <div class="field">
        <label class="check">
          <input type="checkbox" checked={f.forever} onChange={(e) => set({ ...f, forever: e.currentTarget.checked })} /> Keep every selected tag forever
        </label>
      </div>
      <TextField id={id('untagged')} label="Delete untagged images after" hint="empty: leave them to garbage collection's settings" {...field('untagged')} />
      {remove ? (
        <button type="button" class="small" onClick={remove}>
          Remove rule {n}
        </button>
      ) : null}
    </fieldset>
  );
}

/** Create (no `policy`) or edit a policy; `save` sends the body and throws the API's error. */
export function PolicyForm({
  ns,
  policy,
  save,
  cancel,
}: {
  ns: string;
  policy: Policy | null;
  save: (body: PolicyBody) => Promise<unknown>;
  cancel?: () => void;
}) {
  const [name, setName] = useState(policy?.name ?? '');
  const [repository, setRepository] = useState(policy?.repository ?? '');
  const [enabled, setEnabled] = useState(policy?.enabled ?? true);
  const [rules, setRules] = useState<RuleForm[]>(policy ? policy.rules.map(fromRule) : [{ ...NEW_RULE }]);
  const act = useAction();
  const submit = async (e: Event) => {
    e.preventDefault();
    const built = rules.map((r, i) => toRule(r, i + 1));
    const bad = built.find((r): r is string => typeof r === 'string');
    if (bad) return act.setError(bad);
    const repo = repository.trim();
    await act.run(() => save({ name: name.trim(), repository: repo || null, enabled, rules: built as RetentionRule[] }));
  };
  return (
    <form onSubmit={submit}>
      <div class="grid two">
        <div class="field">
          <label for="policy-name">
            Name <span class="hint">letters, digits, . _ -</span>
          </label>
          <input id="policy-name" type="text" required maxLength={64} autoComplete="off" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="policy-repo">
            Only the repository{' '}
            <span class="hint">
              optional, e.g. {ns}/app; empty: every repository of {ns}
            </span>
          </label>
          <input
            id="policy-repo"
            type="text"
            autoComplete="off"
            autoCapitalize="none"
            placeholder={`${ns}/…`}
            value={repository}
            onInput={(e) => setRepository(e.currentTarget.value)}
          />
        </div>
      </div>
      <div class="field">
        <label class="check">
          <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.currentTarget.checked)} /> Enabled (runs on the schedule)
        </label>
      </div>
      {rules.map((r, i) => (
        <RuleFields
          key={i}
          n={i + 1}
          f={r}
          set={(f) => setRules(rules.map((x, j) => (j === i ? f : x)))}
          remove={rules.length > 1 ? () => setRules(rules.filter((_, j) => j !== i)) : undefined}
        />
      ))}
      <Alert>{act.error}</Alert>
      <div class="row">
        <button type="submit" class="primary" disabled={act.busy}>
          {policy ? 'Save policy' : 'Create policy'}
        </button>
        {rules.length < MAX_RULES ? (
          <button type="button" onClick={() => setRules([...rules, { ...NEW_RULE }])}>
            Add a rule
          </button>
        ) : null}
        {cancel ? (
          <button type="button" class="link" onClick={cancel}>
            Cancel
          </button>
        ) : null}
      </div>
    </form>
  );
}
