/**
 * js-libp2p 3 calls `Promise.withResolvers`, which Node.js only ships from
 * version 22. Install a minimal, spec-shaped stand-in when it is missing.
 *
 * Import this module before anything from libp2p.
 */

interface Resolvers<T> {
  promise: Promise<T>
  resolve(value: T | PromiseLike<T>): void
  reject(reason?: unknown): void
}

const ctor = Promise as unknown as { withResolvers?: unknown }

if (typeof ctor.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    enumerable: false,
    value: function withResolvers<T> (): Resolvers<T> {
      let resolve!: Resolvers<T>['resolve']
      let reject!: Resolvers<T>['reject']
      const promise = new Promise<T>((_resolve, _reject) => {
        resolve = _resolve
        reject = _reject
      })
      return { promise, resolve, reject }
    }
  })
}

export {}
