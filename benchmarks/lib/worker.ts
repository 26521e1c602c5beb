/**
 * One measurement: a scenario run by one contender variant, turned into a
 * sample. Runs inside a forked worker process (or inline), never both ends of
 * two measurements at once.
 */

import { WARMUP_RUNS } from './options.js'
import { scenarioById } from './scenarios.js'
import type { Mode, Sizes } from './options.js'

export interface Job {
  scenario: string
  /** variant label (the table row), e.g. 'ours', 'ours (keepalive on)' */
  label: string
  rep: number
  mode: Mode
  sizes: Sizes
  /** run the scenario {@link WARMUP_RUNS} times first, unmeasured (default true) */
  warmup?: boolean
}

export interface Sample {
  scenario: string
  label: string
  contender: string
  rep: number
  ok: boolean
  error?: string
  /** the primary number (higher is better), in the scenario's unit */
  value?: number
  units?: number
  /** of the measured part; for a failed sample, of the whole attempt */
  wallMs?: number
  cpuMs?: number
  /** CPU per unit of work: s/GB for byte scenarios, µs per op otherwise */
  cpuPerUnit?: number
  peakHeapBytes?: number
  peakRssBytes?: number
  extra?: Record<string, number>
}

/** In a worker: fails the running job when contender code throws where nobody can catch it */
let failCurrentJob: ((err: Error) => void) | undefined

export async function runJob (job: Job): Promise<Sample> {
  const scenario = scenarioById(job.scenario)
  const variant = scenario.variants.find(v => v.label === job.label)
  if (variant == null) { throw new Error(`scenario ${job.scenario} has no contender ${job.label}`) }
  const base = { scenario: job.scenario, label: job.label, contender: variant.contender, rep: job.rep }
  const started = performance.now()
  try {
    const crashed = new Promise<never>((resolve, reject) => { failCurrentJob = reject })
    for (let i = 0; job.warmup !== false && i < WARMUP_RUNS; i++) {
      // the same work, unmeasured: compiled code, not V8's compiler, is what gets timed
      await Promise.race([scenario.run(variant, job.sizes, true), crashed])
    }
    const { output, resources } = await Promise.race([scenario.run(variant, job.sizes), crashed])
    const cpuMs = resources.cpuUserMs + resources.cpuSystemMs
    const seconds = resources.wallMs / 1000
    const bytes = scenario.kind === 'bytes'
    return {
      ...base,
      ok: true,
      value: output.value ?? (bytes ? output.units / 1e6 / seconds : output.units / seconds),
      units: output.units,
      wallMs: resources.wallMs,
      cpuMs,
      cpuPerUnit: bytes ? (cpuMs / 1000) / (output.units / 1e9) : cpuMs * 1000 / output.units,
      peakHeapBytes: resources.peakHeapBytes,
      peakRssBytes: resources.peakRssBytes,
      extra: output.extra
    }
  } catch (err) {
    return { ...base, ok: false, error: (err as Error).stack ?? String(err), wallMs: performance.now() - started }
  } finally {
    failCurrentJob = undefined
  }
}

export type ToWorker = { type: 'job', job: Job } | { type: 'exit' }
export type FromWorker = { type: 'ready' } | { type: 'result', sample: Sample }

/** The worker side of the IPC channel: run jobs as they come, one at a time */
export function serveJobs (): void {
  const send = (msg: FromWorker): void => { process.send?.(msg) }
  const crash = (what: string) => (err: unknown): void => {
    const error = err instanceof Error ? err : new Error(String(err))
    error.message = `${what} in contender code: ${error.message}`
    if (failCurrentJob != null) {
      failCurrentJob(error)
    } else {
      process.stderr.write(`worker: ${error.stack ?? error.message} (between measurements, ignored)\n`)
    }
  }
  process.on('uncaughtException', crash('uncaught exception'))
  process.on('unhandledRejection', crash('unhandled rejection'))
  let queue = Promise.resolve()
  process.on('message', (msg: ToWorker) => {
    if (msg.type === 'exit') {
      queue = queue.then(() => {
        process.disconnect()
        // a leftover socket or timer of a contender must not keep the worker alive
        setTimeout(() => process.exit(0), 100).unref()
      })
      return
    }
    queue = queue.then(async () => {
      const sample = await runJob(msg.job)
      send({ type: 'result', sample })
    })
  })
  send({ type: 'ready' })
}
