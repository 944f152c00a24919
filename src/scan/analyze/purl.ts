// Package URLs (https://github.com/package-url/purl-spec) for the packages the analyser finds.
import purl from 'packageurl-js';
import type { OsRelease } from './os-release.js';
import { purlNamespace } from './os-release.js';
import type { RawPackage } from './raw.js';
import { normalizePypiName } from './versions/pep440.js';

const { PackageURL } = purl;

export function purlOf(p: RawPackage, os: OsRelease | undefined): string {
  const q: Record<string, string> = {};
  if (p.arch) q.arch = p.arch;
  switch (p.type) {
    case 'deb':
    case 'apk':
    case 'rpm': {
      let version = p.version;
      if (p.type === 'rpm' && p.epoch) {
        q.epoch = String(p.epoch);
        version = version.slice(version.indexOf(':') + 1);
      }
      if (os?.version) q.distro = `${os.id}-${os.version}`;
      return new PackageURL(p.type, purlNamespace(p.type, os), p.name, version, Object.keys(q).length ? q : undefined, undefined).toString();
    }
    case 'npm': {
      const slash = p.name.startsWith('@') ? p.name.indexOf('/') : -1;
      const ns = slash > 0 ? p.name.slice(0, slash) : undefined;
      return new PackageURL('npm', ns, slash > 0 ? p.name.slice(slash + 1) : p.name, p.version, undefined, undefined).toString();
    }
    case 'pypi':
      return new PackageURL('pypi', undefined, normalizePypiName(p.name), p.version, undefined, undefined).toString();
    case 'golang': {
      const slash = p.name.lastIndexOf('/');
      const ns = slash > 0 ? p.name.slice(0, slash) : undefined;
      return new PackageURL('golang', ns, slash > 0 ? p.name.slice(slash + 1) : p.name, p.version, undefined, undefined).toString();
    }
  }
}

/** The purl of an image: `pkg:oci/<last name segment>@sha256:...?repository_url=<name>`. */
export function imagePurl(name: string, digest: string): string {
  const last = name.slice(name.lastIndexOf('/') + 1) || name;
  return new PackageURL('oci', undefined, last, digest, { repository_url: name }, undefined).toString();
}
