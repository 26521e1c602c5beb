/**
 * Heap measurement for the hostile, soak and fuzz tests.
 *
 * `global.gc` is only there when Node runs with `--expose-gc`; `npm test` does
 * not pass that flag, so we switch it on at run time and fetch `gc` from a
 * fresh context (a documented V8 trick). When even that fails, measurements
 * still run, without a forced collection, and the bounds stay meaningful but
 * generous.
 */

import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

type GcFunction = () => void

let gcFunction: GcFunction | undefined | null = null

function findGc (): GcFunction | undefined {
  if (gcFunction !== null) {
    return gcFunction
  }
  const existing = (globalThis as { gc?: GcFunction }).gc
  if (typeof existing === 'function') {
    gcFunction = existing
    return gcFunction
  }
  try {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as GcFunction | undefined
    gcFunction = typeof gc === 'function' ? gc : undefined
  } catch {
    gcFunction = undefined
  }
  return gcFunction
}

/** True when a full collection can be forced before measuring */
export function canCollect (): boolean {
  return findGc() != null
}

/**
 * Let pending timers and microtasks run, collect garbage when possible, and
 * return the memory in use in bytes: `heapUsed` plus `arrayBuffers` (buffers
 * of frames and payloads live outside the JS heap proper).
 */
export async function settledHeap (): Promise<number> {
  const gc = findGc()
  for (let i = 0; i < 3; i++) {
    await new Promise(resolve => setImmediate(resolve))
    gc?.()
  }
  const usage = process.memoryUsage()
  return usage.heapUsed + usage.arrayBuffers
}

/** The same without waiting or collecting: for peaks sampled during a flood */
export function currentHeap (): number {
  const usage = process.memoryUsage()
  return usage.heapUsed + usage.arrayBuffers
}

/** Bytes as a short human-readable string */
export function formatBytes (bytes: number): string {
  const sign = bytes < 0 ? '-' : ''
  const abs = Math.abs(bytes)
  if (abs >= 1024 * 1024) {
    return `${sign}${(abs / 1024 / 1024).toFixed(1)} MiB`
  }
  if (abs >= 1024) {
    return `${sign}${(abs / 1024).toFixed(1)} KiB`
  }
  return `${sign}${abs} B`
}

/** Heap growth bounds measured by the tests, printed at the end of a run for the closing note */
export const heapReport: Array<{ test: string, growth: number, bound: number }> = []

/** Record a measurement and return the growth in bytes */
export function recordHeap (test: string, before: number, after: number, bound: number): number {
  const growth = after - before
  heapReport.push({ test, growth, bound })
  if (process.env.YAMUX_HEAP_REPORT != null) {
    // eslint-disable-next-line no-console
    console.log(`    heap: ${test}: ${formatBytes(growth)} (bound ${formatBytes(bound)})`)
  }
  return growth
}
