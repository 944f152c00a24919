// The one way a StorageDriver decorator forwards calls (traces, the storage health state): a Proxy, so every
// method of the inner driver is forwarded, the optional ones (deleteMany, redirectUrl, adoptFile, …) exactly
// when the inner driver has them, and a method added to the contract later needs no change in a decorator.
import type { StorageDriver } from './driver.js';

type Method = (...args: unknown[]) => unknown;

/** `inner` with each method replaced by `wrap(name, method)` (made once per method; call it on `inner`). */
export function wrapMethods(inner: StorageDriver, wrap: (name: string, method: Method) => Method): StorageDriver {
  const wrapped = new Map<string, Method>();
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || prop === 'constructor' || typeof prop !== 'string') return value;
      let w = wrapped.get(prop);
      if (!w) {
        w = wrap(prop, value as Method);
        wrapped.set(prop, w);
      }
      return w;
    },
  });
}
