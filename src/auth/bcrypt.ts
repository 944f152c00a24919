// bcrypt, a native addon, loaded on first use: a registry without accounts or an htpasswd file never loads it.
type Bcrypt = typeof import('bcrypt');

let loading: Promise<Bcrypt> | undefined;

function bcrypt(): Promise<Bcrypt> {
  loading ??= import('bcrypt').then((m) => (m as unknown as { default: Bcrypt }).default);
  return loading;
}

export async function bcryptHash(data: string, rounds: number): Promise<string> {
  return (await bcrypt()).hash(data, rounds);
}

/** bcrypt's own comparison: constant-time. */
export async function bcryptCompare(data: string, hash: string): Promise<boolean> {
  return (await bcrypt()).compare(data, hash);
}
