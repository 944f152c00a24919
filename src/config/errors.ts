/**
 * Thrown for any problem with the configuration: unreadable file, bad YAML,
 * unknown keys, invalid values, unmapped environment variables. `message`
 * joins all problems with "; " and always names the offending key or
 * variable; `issues` keeps them separately for callers that want a list.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly issues: readonly string[];

  constructor(issues: string | readonly string[]) {
    const list = typeof issues === 'string' ? [issues] : [...issues];
    super(list.join('; '));
    this.issues = Object.freeze(list);
  }
}
