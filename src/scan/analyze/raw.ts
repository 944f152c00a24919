// A package as a reader finds it, before the image's OS release names its ecosystem and purl.

export type PackageType = 'deb' | 'apk' | 'rpm' | 'npm' | 'pypi' | 'golang';

export interface RawPackage {
  type: PackageType;
  name: string;
  version: string;
  sourceName?: string;
  sourceVersion?: string;
  arch?: string;
  license?: string;
  /** rpm only: the epoch, which `version` (`[epoch:]version-release`) also carries. */
  epoch?: number;
}
