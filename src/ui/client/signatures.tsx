// Signature trust in the UI: the badge of a tag's signature status (verified, untrusted,
// unsigned) with who signed it, and a manifest's signatures with each verdict (format, signer,
// status, reason) as GET /repositories/{name}/manifests/{digest}/signatures reports them.
import { api, isNoEndpoint, shortDigest } from './api.js';
import { Digest, LoadError, Spinner, Table, Time, repoPath, useLoad } from './components.js';

export type SignatureStatus = 'verified' | 'untrusted' | 'unsigned';
/** What a tag listing says of a tag's image. */
export interface SignatureSummary {
  status: SignatureStatus;
  signers: string[];
}
export interface SignatureVerdict {
  digest: string;
  format: 'cosign' | 'cosign-bundle' | 'notation' | string;
  status: 'verified' | 'untrusted' | 'invalid' | string;
  signer: string | null;
  reason: string;
  verifiedAt: number | string | null;
}
export interface PolicyRef {
  scope: string;
  scopeKind?: 'global' | 'namespace' | 'repository';
  name?: string;
  source?: 'api' | 'config';
  mode: 'audit' | 'enforce';
}
export interface SignatureReport {
  status: SignatureStatus;
  policy: PolicyRef | null;
  /** The verified index of the repository that lists this manifest, when that is what verifies it. */
  verifiedBy?: string | null;
  signatures: SignatureVerdict[];
}

export const FORMATS: Record<string, string> = { cosign: 'cosign', 'cosign-bundle': 'Sigstore bundle', notation: 'Notation' };
const STATUS_CLASS: Record<string, string> = { verified: 'ok', untrusted: 'bad', invalid: 'bad', unsigned: 'none' };

/** The API's times are ISO 8601 or milliseconds; <Time> wants milliseconds. */
export const ms = (t: string | number | null | undefined) => (t === null || t === undefined ? null : typeof t === 'number' ? t : Date.parse(t));

export function SignatureBadge({ status }: { status: string }) {
  return <span class={`badge sig-${STATUS_CLASS[status] ?? 'none'}`}>{status}</span>;
}

/** cosign's tags for an image's signature, attestations and SBOM: what they are instead of a status. */
const COSIGN_TAG = /^sha256-[0-9a-f]{64}\.(sig|att|sbom)$/;
const COSIGN_KIND: Record<string, string> = { sig: 'cosign signature', att: 'cosign attestation', sbom: 'cosign SBOM' };

/** The tag table's cell: the status, and who signed (for verified and untrusted signatures). */
export function SignatureCell({ sig, tag }: { sig: SignatureSummary | undefined; tag: string }) {
  const cosign = COSIGN_TAG.exec(tag);
  if (cosign) return <span class="badge">{COSIGN_KIND[cosign[1]]}</span>;
  if (!sig) return <span class="muted">—</span>;
  return (
    <div>
      <SignatureBadge status={sig.status} />
      {sig.signers.length ? <div class="small muted">by {sig.signers.join(', ')}</div> : null}
    </div>
  );
}

/** Which policy applies, in words. */
export function policyText(p: PolicyRef): string {
  const kind = p.scopeKind ?? (p.scope === '*' ? 'global' : p.scope.includes('/') ? 'repository' : 'namespace');
  const where = kind === 'global' ? 'the registry' : `${kind} ${p.scope}`;
  return p.source === 'config' && p.name ? `trust policy "${p.name}" (${where}, from the configuration file)` : `the trust policy of ${where}`;
}

export function SignaturesSection({ name, digest }: { name: string; digest: string }) {
  const r = useLoad<SignatureReport>(() => api.get(`/repositories/${name}/manifests/${digest}/signatures`), [name, digest]);
  const ns = name.split('/')[0];
  if (isNoEndpoint(r.error)) return null;
  return (
    <section class="card" aria-labelledby="signatures-h" data-testid="signatures">
      <h2 id="signatures-h">Signatures</h2>
      {r.error ? (
        <LoadError error={r.error} />
      ) : !r.data ? (
        <Spinner />
      ) : (
        <>
          <p>
            <SignatureBadge status={r.data.status} />{' '}
            {r.data.status === 'verified' && r.data.verifiedBy ? (
              <>
                Verified through the signed index <Digest digest={r.data.verifiedBy} href={repoPath(name, `manifests/${r.data.verifiedBy}`)} /> that lists it.
              </>
            ) : r.data.status === 'verified' ? (
              'A signature verifies against a trusted key or identity.'
            ) : r.data.status === 'untrusted' ? (
              'Signed, but no signature verifies against a trusted key or identity.'
            ) : (
              'No signature refers to this manifest.'
            )}
          </p>
          <p class="small muted">
            {r.data.policy ? (
              <>
                Checked against {policyText(r.data.policy)} in <strong>{r.data.policy.mode}</strong> mode
                {r.data.policy.mode === 'enforce' ? ': pulls of an image that is not verified are refused.' : ': verdicts are recorded, pulls are not refused.'}
              </>
            ) : (
              'No trust policy applies: verdicts are recorded without a trusted key, and pulls are never refused for signatures.'
            )}{' '}
            <a href={`/ui/n/${ns}/security`}>Security policies of {ns}</a>
          </p>
          {r.data.signatures.length === 0 ? null : (
            <Table columns={['Format', 'Signer', 'Status', 'Reason', 'Checked', 'Signature']}>
              {r.data.signatures.map((s) => (
                <tr key={`${s.digest}-${s.signer ?? ''}`} data-testid={`signature-${shortDigest(s.digest)}`}>
                  <td data-label="Format">{FORMATS[s.format] ?? s.format}</td>
                  <td data-label="Signer">{s.signer ?? <span class="muted">unknown</span>}</td>
                  <td data-label="Status">
                    <SignatureBadge status={s.status} />
                  </td>
                  <td data-label="Reason" class="small">
                    {s.reason}
                  </td>
                  <td data-label="Checked">
                    <Time ms={ms(s.verifiedAt)} />
                  </td>
                  <td data-label="Signature">
                    <Digest digest={s.digest} href={repoPath(name, `manifests/${s.digest}`)} />
                  </td>
                </tr>
              ))}
            </Table>
          )}
        </>
      )}
    </section>
  );
}
