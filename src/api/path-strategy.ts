// Fastify route constraints for API paths whose repository name holds slashes: `derive` reads the
// route's shape from the URL, and routes of one path then differ by that constraint.
export function pathStrategy(name: string, derive: (req: { url?: string; method?: string }) => string | undefined, mustMatchWhenDerived = true) {
  return {
    name,
    storage() {
      const handlers = new Map<string, unknown>();
      return { get: (k: string) => (handlers.get(k) ?? null) as never, set: (k: string, v: unknown) => void handlers.set(k, v) };
    },
    deriveConstraint: derive,
    mustMatchWhenDerived,
  };
}
