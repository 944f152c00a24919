export { ConfigError } from './errors.js';
export { defaultConfig, loadConfig, type LoadConfigOptions } from './load.js';
export type { BerthConfig, DeepPartial, LogFormatter, LogLevel } from './types.js';
export { isIgnoredEnvVar } from './env.js';
