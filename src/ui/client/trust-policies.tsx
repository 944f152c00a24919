// Security policies: signature trust policies (mode, trusted keys as PEM, a notation trust store
// with trusted identities, keyless Sigstore identities) and vulnerability policies (severity
// threshold, mode, CVE allow-list), for a namespace (/ui/n/NS/security, its administrators edit),
// a repository (its settings tab) and the whole registry (/ui/admin/security, administrators).
// Everything goes through the REST API (…/trust-policy, …/vulnerability-policy), which validates
// and decides who may change what; the forms only turn text into lists.
import { useState } from 'preact/hooks';
import { ApiError, api } from './api.js';
import { AdminTabs } from './admin.js';
import { Alert, LoadError, NeedSignIn, PageTitle, Spinner, TextField, Time, useAction, useLoad, useSession } from './components.js';
import { mayManage } from './retention.js';
import { ms } from './signatures.js';
import { SEVERITIES } from './vulnerabilities.js';

type Mode = 'audit' | 'enforce';
export interface TrustKey {
  name: string;
  publicKey: string;
}
export interface KeylessIdentity {
  subject?: string;
  subjectRegExp?: string;
  issuer: string;
}
export interface TrustPolicy {
  scope?: string;
  mode: Mode;
  keys: TrustKey[];
  notation?: { trustStore: string[]; identities: string[] } | null;
  keyless?: { trustedRoot?: unknown; identities: KeylessIdentity[] } | null;
  updatedAt?: number | string | null;
  updatedBy?: string | null;
}
export interface VulnerabilityPolicy {
  scope?: string;
  mode: Mode;
  /** The lowest severity that counts: refused (enforce) or recorded (audit). */
  severity: string;
  allowlist: string[];
  /** What an image without a report gets in enforce mode. */
  unscanned: 'allow' | 'deny';
  updatedAt?: number | string | null;
  updatedBy?: string | null;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const lines = (s: string) =>
  s
    .split(/[\n,]/)
    .map((x) => x.trim())
    .filter(Boolean);

/** GET a policy; null when none is set (404). */
async function loadPolicy<T>(path: string): Promise<T | null> {
  try {
    return await api.get<T>(path);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

function ModeField({ id, mode, set, enforceText }: { id: string; mode: Mode; set: (m: Mode) => void; enforceText: string }) {
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

function Changed({ p }: { p: { updatedAt?: number | string | null; updatedBy?: string | null } | null }) {
  if (!p?.updatedAt) return null;
  return (
    <p class="small muted">
      Changed <Time ms={ms(p.updatedAt)} />
      {p.updatedBy ? ` by ${p.updatedBy}` : ''}.
    </p>
  );
}

interface KeylessForm {
  subject: string;
  subjectRegExp: string;
  issuer: string;
}

/** One trust policy (GET/PUT/DELETE `path`); read-only unless `canEdit`. */
export function TrustPolicyCard({ path, heading, canEdit, id = 'trust' }: { path: string; heading: string; canEdit: boolean; id?: string }) {
  const p = useLoad<TrustPolicy | null>(() => loadPolicy<TrustPolicy>(path), [path]);
  return (
    <section class="card" aria-labelledby={`${id}-h`} data-testid={`${id}-policy`}>
      <h2 id={`${id}-h`}>{heading}</h2>
      <p class="small muted">
        Which signatures an image needs. In enforce mode, pulls of an image without a verified signature are refused with a message naming this policy;
        signatures themselves are always served. The most specific policy applies: a repository's, then its namespace's, then the global one.
      </p>
      {p.error ? (
        <LoadError error={p.error} />
      ) : p.data === undefined ? (
        <Spinner />
      ) : (
        <TrustPolicyForm key={JSON.stringify(p.data)} id={id} path={path} policy={p.data} canEdit={canEdit} reload={p.reload} />
      )}
    </section>
  );
}

function TrustPolicyForm({
  id,
  path,
  policy,
  canEdit,
  reload,
}: {
  id: string;
  path: string;
  policy: TrustPolicy | null;
  canEdit: boolean;
  reload: () => void;
}) {
  const [mode, setMode] = useState<Mode>(policy?.mode ?? 'audit');
  const [keys, setKeys] = useState<TrustKey[]>(policy?.keys?.length ? policy.keys : []);
  const [store, setStore] = useState((policy?.notation?.trustStore ?? []).join('\n'));
  const [identities, setIdentities] = useState((policy?.notation?.identities ?? []).join('\n'));
  const [keyless, setKeyless] = useState<KeylessForm[]>(
    (policy?.keyless?.identities ?? []).map((k) => ({ subject: k.subject ?? '', subjectRegExp: k.subjectRegExp ?? '', issuer: k.issuer })),
  );
  const [root, setRoot] = useState(policy?.keyless?.trustedRoot ? JSON.stringify(policy.keyless.trustedRoot, null, 2) : '');
  const act = useAction();
  const [notice, setNotice] = useState('');
  const f = (x: string) => `${id}-${x}`;

  const submit = async (e: Event) => {
    e.preventDefault();
    setNotice('');
    const trustStore = store.match(PEM_CERT) ?? [];
    if (store.trim() && trustStore.length === 0) return act.setError('The notation trust store takes PEM certificates (-----BEGIN CERTIFICATE-----).');
    let trustedRoot: unknown;
    if (root.trim()) {
      try {
        trustedRoot = JSON.parse(root);
      } catch {
        return act.setError('The keyless trusted root is not JSON (a Sigstore trusted_root.json).');
      }
    }
    const ids = keyless
      .filter((k) => k.subject.trim() || k.subjectRegExp.trim() || k.issuer.trim())
      .map((k) => ({
        ...(k.subject.trim() ? { subject: k.subject.trim() } : {}),
        ...(k.subjectRegExp.trim() ? { subjectRegExp: k.subjectRegExp.trim() } : {}),
        issuer: k.issuer.trim(),
      }));
    const body: TrustPolicy = {
      mode,
      keys: keys.map((k) => ({ name: k.name.trim(), publicKey: k.publicKey.trim() })),
      notation: trustStore.length || identities.trim() ? { trustStore, identities: lines(identities) } : null,
      keyless: ids.length || trustedRoot !== undefined ? { ...(trustedRoot !== undefined ? { trustedRoot } : {}), identities: ids } : null,
    };
    if (await act.run(() => api.put(path, body))) {
      setNotice('Trust policy saved.');
      reload();
    }
  };
  const remove = async () => {
    setNotice('');
    if (!confirm('Remove this trust policy? A less specific policy (or none) applies instead.')) return;
    if (await act.run(() => api.del(path))) reload();
  };

  return (
    <form onSubmit={submit}>
      {policy ? <Changed p={policy} /> : <p class="muted">No policy is set here.</p>}
      <fieldset disabled={!canEdit} style={{ border: 'none', padding: 0, margin: 0 }}>
        <ModeField id={id} mode={mode} set={setMode} enforceText="refuse pulls of unsigned or untrusted images" />
        <fieldset>
          <legend>Trusted keys</legend>
          <p class="small muted">Public keys (PEM: ECDSA P-256, Ed25519 or RSA) whose cosign or Sigstore bundle signatures are trusted.</p>
          {keys.length === 0 ? <p class="small muted">No keys.</p> : null}
          {keys.map((k, i) => (
            <div key={i} class="field">
              <TextField
                id={f(`key${i}-name`)}
                label={`Key ${i + 1} name`}
                value={k.name}
                set={(v) => setKeys(keys.map((x, j) => (j === i ? { ...x, name: v } : x)))}
                required
              />
              <label for={f(`key${i}-pem`)}>
                Key {i + 1} public key <span class="hint">PEM</span>
              </label>
              <textarea
                id={f(`key${i}-pem`)}
                class="pem"
                required
                spellcheck={false}
                placeholder="-----BEGIN PUBLIC KEY-----"
                value={k.publicKey}
                onInput={(e) => setKeys(keys.map((x, j) => (j === i ? { ...x, publicKey: e.currentTarget.value } : x)))}
              />
              <button type="button" class="small" onClick={() => setKeys(keys.filter((_, j) => j !== i))}>
                Remove key {i + 1}
              </button>
            </div>
          ))}
          <button type="button" class="small" onClick={() => setKeys([...keys, { name: '', publicKey: '' }])}>
            Add a key
          </button>
        </fieldset>
        <fieldset>
          <legend>Notation</legend>
          <div class="field">
            <label for={f('store')}>
              Trust store <span class="hint">CA certificates, PEM, one or more</span>
            </label>
            <textarea
              id={f('store')}
              class="pem"
              spellcheck={false}
              placeholder="-----BEGIN CERTIFICATE-----"
              value={store}
              onInput={(e) => setStore(e.currentTarget.value)}
            />
          </div>
          <div class="field">
            <label for={f('identities')}>
              Trusted identities <span class="hint">one per line, e.g. x509.subject: C=US, O=Acme, CN=signer; * for any</span>
            </label>
            <textarea id={f('identities')} spellcheck={false} value={identities} onInput={(e) => setIdentities(e.currentTarget.value)} />
          </div>
        </fieldset>
        <fieldset>
          <legend>Keyless (Sigstore)</legend>
          <p class="small muted">Certificates from Fulcio, checked offline against the trusted root, with the signer's identity and its OIDC issuer.</p>
          {keyless.map((k, i) => (
            <fieldset key={i}>
              <legend>Identity {i + 1}</legend>
              <div class="grid two">
                <TextField
                  id={f(`kl${i}-subject`)}
                  label="Subject"
                  hint="e.g. a workflow URL or email"
                  value={k.subject}
                  set={(v) => setKeyless(keyless.map((x, j) => (j === i ? { ...x, subject: v } : x)))}
                />
                <TextField
                  id={f(`kl${i}-regexp`)}
                  label="Subject pattern"
                  hint="regular expression, instead of a subject"
                  value={k.subjectRegExp}
                  set={(v) => setKeyless(keyless.map((x, j) => (j === i ? { ...x, subjectRegExp: v } : x)))}
                />
              </div>
              <TextField
                id={f(`kl${i}-issuer`)}
                label="Issuer"
                hint="e.g. https://token.actions.githubusercontent.com"
                value={k.issuer}
                required
                set={(v) => setKeyless(keyless.map((x, j) => (j === i ? { ...x, issuer: v } : x)))}
              />
              <button type="button" class="small" onClick={() => setKeyless(keyless.filter((_, j) => j !== i))}>
                Remove identity {i + 1}
              </button>
            </fieldset>
          ))}
          <button type="button" class="small" onClick={() => setKeyless([...keyless, { subject: '', subjectRegExp: '', issuer: '' }])}>
            Add an identity
          </button>
          <div class="field" style={{ marginTop: '.85rem' }}>
            <label for={f('root')}>
              Trusted root <span class="hint">Sigstore trusted_root.json (Fulcio CAs, Rekor keys), needed with identities</span>
            </label>
            <textarea id={f('root')} class="pem" spellcheck={false} value={root} onInput={(e) => setRoot(e.currentTarget.value)} />
          </div>
        </fieldset>
      </fieldset>
      <Alert>{act.error}</Alert>
      <Alert kind="ok">{notice}</Alert>
      {canEdit ? (
        <div class="row">
          <button type="submit" class="primary" disabled={act.busy}>
            Save trust policy
          </button>
          {policy ? (
            <button type="button" class="danger" disabled={act.busy} onClick={remove}>
              Remove trust policy
            </button>
          ) : null}
        </div>
      ) : null}
    </form>
  );
}

/** One vulnerability policy (GET/PUT/DELETE `path`); read-only unless `canEdit`. */
export function VulnerabilityPolicyCard({
  path,
  heading,
  canEdit,
  id = 'vuln',
  note,
}: {
  path: string;
  heading: string;
  canEdit: boolean;
  id?: string;
  note?: string;
}) {
  const p = useLoad<VulnerabilityPolicy | null>(() => loadPolicy<VulnerabilityPolicy>(path), [path]);
  return (
    <section class="card" aria-labelledby={`${id}-h`} data-testid={`${id}-policy`}>
      <h2 id={`${id}-h`}>{heading}</h2>
      <p class="small muted">
        Which vulnerabilities an image may have. In enforce mode, pulls of an image with a finding at or above the threshold are refused, unless the finding's
        id is on the allow-list.
      </p>
      {note ? <p class="small">{note}</p> : null}
      {p.error ? (
        <LoadError error={p.error} />
      ) : p.data === undefined ? (
        <Spinner />
      ) : (
        <VulnerabilityPolicyForm key={JSON.stringify(p.data)} id={id} path={path} policy={p.data} canEdit={canEdit} reload={p.reload} />
      )}
    </section>
  );
}

function VulnerabilityPolicyForm({
  id,
  path,
  policy,
  canEdit,
  reload,
}: {
  id: string;
  path: string;
  policy: VulnerabilityPolicy | null;
  canEdit: boolean;
  reload: () => void;
}) {
  const [mode, setMode] = useState<Mode>(policy?.mode ?? 'audit');
  const [severity, setSeverity] = useState(policy?.severity ?? 'critical');
  const [unscanned, setUnscanned] = useState(policy?.unscanned ?? 'allow');
  const [allow, setAllow] = useState((policy?.allowlist ?? []).join('\n'));
  const act = useAction();
  const [notice, setNotice] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    setNotice('');
    if (await act.run(() => api.put(path, { mode, severity, unscanned, allowlist: lines(allow) }))) {
      setNotice('Vulnerability policy saved.');
      reload();
    }
  };
  const remove = async () => {
    setNotice('');
    if (!confirm('Remove this vulnerability policy? A less specific policy (or none) applies instead.')) return;
    if (await act.run(() => api.del(path))) reload();
  };
  return (
    <form onSubmit={submit}>
      {policy ? <Changed p={policy} /> : <p class="muted">No policy is set here.</p>}
      <fieldset disabled={!canEdit} style={{ border: 'none', padding: 0, margin: 0 }}>
        <ModeField id={id} mode={mode} set={setMode} enforceText="refuse pulls of images at or above the threshold" />
        <div class="field">
          <label for={`${id}-threshold`}>Threshold</label>
          <select id={`${id}-threshold`} value={severity} onChange={(e) => setSeverity(e.currentTarget.value)}>
            {SEVERITIES.map((s) => (
              <option key={s} value={s}>
                {s === 'critical' ? 'critical' : s === 'unknown' ? 'any severity' : `${s} and above`}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for={`${id}-unscanned`}>Images not scanned yet</label>
          <select id={`${id}-unscanned`} value={unscanned} onChange={(e) => setUnscanned(e.currentTarget.value as 'allow' | 'deny')}>
            <option value="allow">served</option>
            <option value="deny">refused in enforce mode</option>
          </select>
        </div>
        <div class="field">
          <label for={`${id}-allow`}>
            Allowed vulnerabilities <span class="hint">ids (CVE, GHSA, OSV), one per line; never refused</span>
          </label>
          <textarea id={`${id}-allow`} spellcheck={false} placeholder="CVE-2024-0001" value={allow} onInput={(e) => setAllow(e.currentTarget.value)} />
        </div>
      </fieldset>
      <Alert>{act.error}</Alert>
      <Alert kind="ok">{notice}</Alert>
      {canEdit ? (
        <div class="row">
          <button type="submit" class="primary" disabled={act.busy}>
            Save vulnerability policy
          </button>
          {policy ? (
            <button type="button" class="danger" disabled={act.busy} onClick={remove}>
              Remove vulnerability policy
            </button>
          ) : null}
        </div>
      ) : null}
    </form>
  );
}

/** /ui/n/NS/security: the namespace's trust and vulnerability policies. */
export function NamespaceSecurityPage({ ns }: { ns: string }) {
  const { user } = useSession();
  const manage = useLoad<boolean>(() => mayManage(user, ns), [ns, user?.name]);
  if (!user) return <NeedSignIn what={`see the security policies of ${ns}`} />;
  if (manage.data === undefined && !manage.error) return <Spinner />;
  const canEdit = manage.data === true;
  return (
    <div class="stack">
      <section class="card" aria-labelledby="page-title">
        <PageTitle title={`Security policies of ${ns}`} />
        <p class="small muted">
          {canEdit ? 'As an administrator of the namespace you can change them.' : 'Only administrators of the namespace can change them.'} They apply to every
          repository of {ns} without a policy of its own (a repository's settings set one). <a href={`/ui/n/${ns}/retention`}>Retention policies</a> ·{' '}
          <a href={`/ui/n/${ns}/tag-rules`}>Immutable tags</a>
        </p>
      </section>
      <TrustPolicyCard path={`/namespaces/${ns}/trust-policy`} heading="Signature trust policy" canEdit={canEdit} />
      <VulnerabilityPolicyCard path={`/namespaces/${ns}/vulnerability-policy`} heading="Vulnerability policy" canEdit={canEdit} />
    </div>
  );
}

/** /ui/admin/security: the global policies, for administrators. */
export function AdminSecurityPage() {
  const { user } = useSession();
  if (!user) return <NeedSignIn what="administer Berth" />;
  if (!user.admin) return <Alert>Administrators only.</Alert>;
  return (
    <>
      <PageTitle title="Administration" />
      <AdminTabs current="security" />
      <div class="stack">
        <TrustPolicyCard path="/trust-policy" heading="Global signature trust policy" canEdit />
        <VulnerabilityPolicyCard
          path="/vulnerability-policy"
          heading="Global vulnerability policy"
          canEdit={false}
          note="Set in the configuration file (scanning.policy); namespace policies may only tighten it and add to its allow-list."
        />
      </div>
    </>
  );
}
