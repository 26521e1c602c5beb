/**
 * Resource accounting around the measured part of a run: wall time, CPU time
 * of this process (user + system), and peak heap used and RSS sampled every 20 ms.
 */

export interface Resources {
  wallMs: number
  cpuUserMs: number
  cpuSystemMs: number
  peakHeapBytes: number
  peakRssBytes: number
  /** heap used when the measured part started */
  startHeapBytes: number
}

const SAMPLE_EVERY_MS = 20

/** Run a full garbage collection if node was started with --expose-gc */
export function collectGarbage (): boolean {
  const gc = (globalThis as { gc?(): void }).gc
  if (typeof gc !== 'function') { return false }
  gc()
  gc()
  return true
}

/** Heap used after a full GC (or as is, without --expose-gc) */
export function settledHeap (): number {
  collectGarbage()
  return process.memoryUsage().heapUsed
}

/**
 * Measure `work`. No garbage collection is forced first: after a forced full
 * GC, V8 keeps starting incremental marking every few dozen milliseconds for
 * the next gigabytes of a transfer (measured on bulk: 10 to 14 mark-compacts
 * per 256 MiB instead of 0 or 1, and about twice the CPU per GB), which a
 * running node never sees. Each measurement runs in a fresh process instead.
 */
export async function measure<T> (work: () => Promise<T>): Promise<{ result: T, resources: Resources }> {
  const first = process.memoryUsage()
  let peakHeap = first.heapUsed
  let peakRss = first.rss
  const sample = (): void => {
    const m = process.memoryUsage()
    if (m.heapUsed > peakHeap) { peakHeap = m.heapUsed }
    if (m.rss > peakRss) { peakRss = m.rss }
  }
  const timer = setInterval(sample, SAMPLE_EVERY_MS)
  timer.unref()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  try {
    const result = await work()
    const wallMs = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)
    sample()
    return {
      result,
      resources: {
        wallMs,
        cpuUserMs: cpu.user / 1000,
        cpuSystemMs: cpu.system / 1000,
        peakHeapBytes: peakHeap,
        peakRssBytes: peakRss,
        startHeapBytes: first.heapUsed
      }
    }
  } finally {
    clearInterval(timer)
  }
}
