/**
 * fast-check parameters shared by the property tests.
 *
 * A failing property prints its `seed` and `path`. Replay one with
 * `FC_SEED=<seed> FC_PATH=<path> npx mocha ... dist/test/property/<file>.spec.js -g '<test>'`;
 * `FC_RUNS=<n>` overrides the number of runs (keep it modest in `npm test`);
 * `FC_NO_SHRINK=1` reports the first failure without shrinking it.
 */

import type { Parameters } from 'fast-check'

export function fcParams<T> (numRuns: number, extra: Parameters<T> = {}): Parameters<T> {
  const params: Parameters<T> = { numRuns: Number(process.env.FC_RUNS ?? numRuns), ...extra }
  if (process.env.FC_NO_SHRINK != null) {
    // report the first failure as found, without shrinking it
    params.endOnFailure = true
  }
  if (process.env.FC_SEED != null) {
    params.seed = Number(process.env.FC_SEED)
    if (process.env.FC_PATH != null) {
      params.path = process.env.FC_PATH
    }
  }
  return params
}

/** A small deterministic PRNG (mulberry32): random decisions inside a run follow from a generated seed, so a run replays */
export function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
