export { ConfigError } from './errors.js';
export { defaultConfig, loadConfig, type LoadConfigOptions } from './load.js';
export type {
  AccountsConfig,
  BerthConfig,
  MirrorConfig,
  MirrorUpstreamConfig,
  DeepPartial,
  LogFormatter,
  LogLevel,
  S3Config,
  TokenAuthConfig,
} from './types.js';
export { isIgnoredEnvVar } from './env.js';
export { readConfiguredFile, unreadableFile } from './files.js';
