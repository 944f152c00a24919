// Signature trust policies: mode, trusted keys as PEM, a notation trust store with trusted
// identities, keyless Sigstore identities with their trusted root; for a namespace, a repository
// (its settings tab) and the registry (Admin → Security). Everything goes through the REST API
// (…/trust-policy), which validates the material and decides who may change what; the form only
// turns text into lists. A policy from the configuration file is shown read-only.
import { useState } from 'preact/hooks';
import { api } from './api.js';
import { Alert, LoadError, Spinner, TextField, useAction, useLoad } from './components.js';
import { Changed, FromConfig, ModeField, type Mode, lines, loadPolicy } from './policy-parts.js';

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
  scopeKind?: 'global' | 'namespace' | 'repository';
  /** config: set in the configuration file, read-only here. */
  source?: 'api' | 'config';
  /** The configuration file's name for it. */
  name?: string;
  mode: Mode;
  keys: TrustKey[];
  notation?: { trustStore: string[]; identities: string[] } | null;
  keyless?: { trustedRoot?: unknown; identities: KeylessIdentity[] } | null;
  createdBy?: string | null;
  updatedAt?: number | string | null;
}
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

interface KeylessForm {
  subject: string;
  subjectRegExp: string;
  issuer: string;
}

/** One trust policy (GET/PUT/DELETE `path`); read-only unless `canEdit`. */
export function TrustPolicyCard({ path, heading, canEdit, id = 'trust' }: { path: string; heading: string; canEdit: boolean; id?: string }) {
  const [notice, setNotice] = useState('');
  const p = useLoad<TrustPolicy | null | 'off'>(() => loadPolicy<TrustPolicy>(path), [path]);
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
      ) : p.data === 'off' ? (
        <p class="muted">This server does not check signatures.</p>
      ) : (
        <TrustPolicyForm key={JSON.stringify(p.data)} id={id} path={path} policy={p.data} canEdit={canEdit} reload={p.reload} notify={setNotice} />
      )}
      <Alert kind="ok">{notice}</Alert>
    </section>
  );
}

function TrustPolicyForm({
  id,
  path,
  policy,
  canEdit: mayEdit,
  reload,
  notify,
}: {
  id: string;
  path: string;
  policy: TrustPolicy | null;
  canEdit: boolean;
  reload: () => void;
  notify: (message: string) => void;
}) {
  const canEdit = mayEdit && policy?.source !== 'config';
  const [mode, setMode] = useState<Mode>(policy?.mode ?? 'audit');
  const [keys, setKeys] = useState<TrustKey[]>(policy?.keys?.length ? policy.keys : []);
  const [store, setStore] = useState((policy?.notation?.trustStore ?? []).join('\n'));
  const [identities, setIdentities] = useState((policy?.notation?.identities ?? []).join('\n'));
  const [keyless, setKeyless] = useState<KeylessForm[]>(
    (policy?.keyless?.identities ?? []).map((k) => ({ subject: k.subject ?? '', subjectRegExp: k.subjectRegExp ?? '', issuer: k.issuer })),
  );
  const [root, setRoot] = useState(policy?.keyless?.trustedRoot ? JSON.stringify(policy.keyless.trustedRoot, null, 2) : '');
  const act = useAction();
  const f = (x: string) => `${id}-${x}`;

  const submit = async (e: Event) => {
    e.preventDefault();
    notify('');
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
    // Sections left empty are left out (the API checks that what is there is complete).
    const body: TrustPolicy = {
      mode,
      keys: keys.map((k) => ({ name: k.name.trim(), publicKey: k.publicKey.trim() })),
      ...(trustStore.length || identities.trim() ? { notation: { trustStore, identities: lines(identities) } } : {}),
      ...(ids.length || trustedRoot !== undefined ? { keyless: { ...(trustedRoot !== undefined ? { trustedRoot } : {}), identities: ids } } : {}),
    };
    if (await act.run(() => api.put(path, body))) {
      notify('Trust policy saved.');
      reload();
    }
  };
  const remove = async () => {
    notify('');
    if (!confirm('Remove this trust policy? A less specific policy (or none) applies instead.')) return;
    if (await act.run(() => api.del(path))) {
      notify('Policy removed.');
      reload();
    }
  };

  return (
    <form onSubmit={submit}>
      {policy ? <Changed p={policy} /> : <p class="muted">No policy is set here.</p>}
      <FromConfig p={policy} file="trust.policies" />
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
