// The upstream registry client (see client.ts); import it from here.
export {
  MANIFEST_ACCEPT,
  MAX_MANIFEST_BYTES,
  UpstreamClient,
  type FetchedManifest,
  type ManifestHead,
  type UpstreamDeps,
  type UpstreamSettings,
} from './client.js';
export { UpstreamError, type UpstreamErrorKind } from './errors.js';
