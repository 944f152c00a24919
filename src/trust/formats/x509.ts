// X.509 chains as the Notary Project signature specification requires them, and its trusted
// identities (`x509.subject: C=US, ST=WA, O=Acme`). Pure: no I/O.
import { X509Certificate } from 'node:crypto';
import { sigstoreLibs } from './sigstore.js';
import { TrustMaterialError } from './types.js';

/** Parses PEM (one certificate) or DER; throws TrustMaterialError. */
export function parseCertificate(input: string | Buffer, what = 'certificate'): X509Certificate {
  try {
    return new X509Certificate(input);
  } catch (err) {
    throw new TrustMaterialError(`${what}: not an X.509 certificate (${(err as Error).message})`);
  }
}

/** A subject in the form notation's trust policies use: `C=US, ST=WA, O=Acme, CN=signer`. */
export function subjectString(cert: X509Certificate): string {
  return subjectAttributes(cert)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

function subjectAttributes(cert: X509Certificate): [string, string][] {
  return cert.subject
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const i = line.indexOf('=');
      return [line.slice(0, i).toUpperCase(), line.slice(i + 1)] as [string, string];
    });
}

/** Parses `x509.subject: C=US, ST=WA, O=Acme` (commas, semicolons and backslashes escaped with `\`). */
export function parseIdentity(identity: string): Map<string, string> | '*' {
  const text = identity.trim();
  if (text === '*') return '*';
  const m = /^x509\.subject:\s*(.*)$/.exec(text);
  if (!m) throw new TrustMaterialError(`trusted identity "${identity}": expected "x509.subject: C=..., ST=..., O=..." or "*"`);
  const rdns: string[] = [];
  let cur = '';
  for (let i = 0; i < m[1].length; i++) {
    const c = m[1][i];
    if (c === '\\' && i + 1 < m[1].length) {
      i++;
      cur += m[1][i];
    } else if (c === ',') {
      rdns.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  rdns.push(cur);
  const out = new Map<string, string>();
  for (const rdn of rdns) {
    const i = rdn.indexOf('=');
    if (i <= 0) throw new TrustMaterialError(`trusted identity "${identity}": "${rdn.trim()}" is not an attribute=value pair`);
    const key = rdn.slice(0, i).trim().toUpperCase();
    if (out.has(key)) throw new TrustMaterialError(`trusted identity "${identity}": ${key} appears twice`);
    out.set(key, rdn.slice(i + 1).trim());
  }
  for (const required of ['C', 'ST', 'O']) {
    if (!out.has(required)) throw new TrustMaterialError(`trusted identity "${identity}": the Notary Project requires C, ST and O`);
  }
  return out;
}

/** Whether every attribute the identity names has that value in the certificate's subject. */
export function identityMatches(identity: Map<string, string> | '*', cert: X509Certificate): boolean {
  if (identity === '*') return true;
  const subject = new Map(subjectAttributes(cert));
  return [...identity].every(([k, v]) => subject.get(k) === v);
}

const FORBIDDEN_SIGNING_EKUS = new Map([
  ['2.5.29.37.0', 'anyExtendedKeyUsage'],
  ['1.3.6.1.5.5.7.3.1', 'serverAuth'],
  ['1.3.6.1.5.5.7.3.2', 'clientAuth'],
  ['1.3.6.1.5.5.7.3.4', 'emailProtection'],
  ['1.3.6.1.5.5.7.3.8', 'timeStamping'],
]);

/**
 * The certificate requirements of the Notary Project signature specification, for an ordered
 * chain (leaf first, root last): why the chain is unacceptable, or null.
 */
export function chainProblem(chain: X509Certificate[]): string | null {
  if (chain.length === 0) return 'the signature carries no certificate';
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i].checkIssued(chain[i + 1]) || !chain[i].verify(chain[i + 1].publicKey)) {
      return `certificate ${i} (${subjectString(chain[i])}) was not issued by the next one in the chain`;
    }
  }
  const root = chain[chain.length - 1];
  // A root alone is the signing certificate too (leaf rules, no keyCertSign), so OpenSSL's checkIssued does not apply.
  if (root.subject !== root.issuer || !root.verify(root.publicKey)) return 'the certificate chain does not end in a self-signed root';
  for (const [i, cert] of chain.entries()) {
    const asn1 = sigstoreLibs().core.X509Certificate.parse(Buffer.from(cert.raw));
    if (/sha1/i.test(asn1.signatureAlgorithm)) return `certificate ${i} is signed with SHA-1`;
    const leaf = i === 0;
    const bc = asn1.extBasicConstraints;
    const ku = asn1.extKeyUsage;
    if (leaf) {
      if (bc?.isCA && chain.length > 1) return 'the signing certificate is a CA';
      if (!ku?.critical || !ku.digitalSignature) return 'the signing certificate lacks a critical digitalSignature key usage';
      if (chain.length > 1 && (ku.keyCertSign || ku.crlSign)) return 'the signing certificate may sign certificates';
      for (const eku of cert.keyUsage ?? []) {
        const bad = FORBIDDEN_SIGNING_EKUS.get(eku);
        if (bad) return `the signing certificate's extended key usage includes ${bad}`;
      }
    } else {
      if (!bc?.critical || !bc.isCA) return `certificate ${i} (${subjectString(cert)}) is not a CA (critical basicConstraints CA:TRUE)`;
      if (!ku?.critical || !ku.keyCertSign) return `certificate ${i} (${subjectString(cert)}) lacks a critical keyCertSign key usage`;
      const pathLen = bc.pathLenConstraint;
      if (pathLen !== undefined && pathLen < BigInt(i - 1)) return `certificate ${i} (${subjectString(cert)}) allows a shorter chain`;
    }
    const key = cert.publicKey;
    const bits = key.asymmetricKeyType === 'rsa' ? (key.asymmetricKeyDetails?.modulusLength ?? 0) : 0;
    if (key.asymmetricKeyType === 'rsa' && bits < 2048) return `certificate ${i} has an RSA key shorter than 2048 bits`;
  }
  return null;
}

/** The first certificate of the chain that is not valid at `now`, described; or null. */
export function validityProblem(chain: X509Certificate[], now: number): string | null {
  for (const cert of chain) {
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    if (now < from) return `the certificate ${subjectString(cert)} is not valid before ${new Date(from).toISOString()}`;
    if (now > to) return `the certificate ${subjectString(cert)} expired on ${new Date(to).toISOString()}`;
  }
  return null;
}
