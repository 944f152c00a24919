// Fastify route constraints for API paths whose repository name holds slashes: `derive` reads the
// route's shape from the URL, and routes of one path then differ by that constraint.
import type { FastifyRequest } from 'fastify';
import { isValidRepositoryName } from '../oci/names.js';
import { invalidRepositoryName, unknownRepository } from './caller.js';
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

const REPOSITORIES = '/api/v1/repositories/';

/**
 * Sub-resources of `/api/v1/repositories/{name}/…`, whose names hold slashes: each shape's pattern
 * captures the name (group 1) and, for some, a second parameter (group 2). Gives the route
 * constraint that tells the shapes apart, and the parser a handler uses (404 for another shape, 400
 * for an invalid name).
 */
export function repositorySubpaths<S extends string>(constraint: string, shapes: readonly (readonly [S, RegExp])[]) {
  const matchShape = (rest: string): { shape: S; name: string; param?: string } | null => {
    for (const [shape, re] of shapes) {
      const m = re.exec(rest);
      if (m) return { shape, name: m[1], param: m[2] };
    }
    return null;
  };
  return {
    strategy: pathStrategy(constraint, (req) => {
      const url = req.url ?? '';
      return url.startsWith(REPOSITORIES) ? matchShape(url.slice(REPOSITORIES.length).split('?')[0])?.shape : undefined;
    }),
    parse(req: FastifyRequest, want: S): { name: string; param?: string } {
      const p = matchShape((req.params as Record<string, string>)['*'] ?? '');
      if (!p || p.shape !== want) throw unknownRepository();
      if (!isValidRepositoryName(p.name)) throw invalidRepositoryName();
      return p;
    },
  };
}
