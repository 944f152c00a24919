// /etc/os-release (or /usr/lib/os-release): which distribution and release the image is, which picks the
// OSV ecosystem its OS packages are matched in.

export interface OsRelease {
  id: string;
  version: string;
  name?: string;
  idLike: string[];
}

export function parseOsRelease(text: string): OsRelease | null {
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2].trim();
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1).replace(/\\(["$`\\])/g, '$1');
    fields[m[1]] = v;
  }
  if (!fields.ID) return null;
  return {
    id: fields.ID.toLowerCase(),
    version: fields.VERSION_ID ?? '',
    ...(fields.PRETTY_NAME || fields.NAME ? { name: fields.PRETTY_NAME || fields.NAME } : {}),
    idLike: (fields.ID_LIKE ?? '').toLowerCase().split(/\s+/).filter(Boolean),
  };
}

export type OsFamily = 'deb' | 'apk' | 'rpm';

/** The OSV ecosystem for an OS package of `family` in an image of `os` (`Debian:12`, `Alpine:v3.19`, ...). */
export function osEcosystem(family: OsFamily, os: OsRelease | undefined): string {
  const id = os?.id ?? '';
  const major = (os?.version ?? '').split('.')[0];
  if (family === 'deb') {
    if (id === 'ubuntu') return os?.version ? `Ubuntu:${os.version}` : 'Ubuntu';
    return id === 'debian' && major ? `Debian:${major}` : 'Debian';
  }
  if (family === 'apk') {
    if (id === 'wolfi') return 'Wolfi';
    if (id === 'chainguard') return 'Chainguard';
    const m = /^(\d+)\.(\d+)/.exec(os?.version ?? '');
    return id === 'alpine' && m ? `Alpine:v${m[1]}.${m[2]}` : 'Alpine';
  }
  const rpm: Record<string, string> = { rhel: 'Red Hat', centos: 'Red Hat', rocky: 'Rocky Linux', almalinux: 'AlmaLinux', openeuler: 'openEuler' };
  const base = rpm[id] ?? (id.startsWith('opensuse') ? 'openSUSE' : id === 'sles' ? 'SUSE' : 'Red Hat');
  return major && base !== 'openSUSE' && base !== 'SUSE' && rpm[id] ? `${base}:${major}` : base;
}

/** The purl namespace of an OS package (`pkg:deb/debian/...`). */
export function purlNamespace(family: OsFamily, os: OsRelease | undefined): string {
  const id = os?.id;
  if (family === 'deb') return id === 'ubuntu' ? 'ubuntu' : 'debian';
  if (family === 'apk') return id && id !== 'alpine' ? id : 'alpine';
  if (!id || id === 'rhel') return 'redhat';
  return id;
}
