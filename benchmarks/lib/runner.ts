/**
 * The orchestrator: builds the schedule (every repetition runs every
 * contender of every scenario once, interleaved, the order rotating between
 * repetitions), runs each measurement in a fresh worker process, and hands
 * the samples to the report.
 */

import { fork } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { writeChart } from './chart.js'
import { BASELINE_ENV, CONTENDERS, contenderInfo, unavailableReason } from './contenders.js'
import { gitCommit, machineInfo } from './machine.js'
import { WARMUP_RUNS, defaultReps, sizesFor } from './options.js'
import { writeReports } from './report.js'
import { SCENARIOS } from './scenarios.js'
import { summarise } from './stats.js'
import { runJob } from './worker.js'
import type { ContenderId } from './contenders.js'
import type { MachineInfo } from './machine.js'
import type { BenchOptions, Mode, Sizes } from './options.js'
import type { Scenario } from './scenarios.js'
import type { Summary } from './stats.js'
import type { FromWorker, Job, Sample, ToWorker } from './worker.js'
import type { ChildProcess } from 'node:child_process'

export interface Results {
  mode: Mode
  reps: number
  isolation: 'fresh' | 'shared' | 'inline'
  /** each measurement was preceded by unmeasured runs of the same size */
  warmup: boolean
  /** how many (absent in results from before 2026-11-27, when one run at 1/8 of the volumes preceded each) */
  warmupRuns?: number
  /** where the `baseline` contender came from, when one ran */
  baseline?: { dir: string, commit?: string }
  startedAt: string
  durationMs: number
  machine: MachineInfo
  sizes: Sizes
  /** contenders that could not be loaded, and why */
  skipped: Record<string, string>
  scenarios: Array<Pick<Scenario, 'id' | 'title' | 'description' | 'unit' | 'kind' | 'opName'>>
  samples: Sample[]
  summaries: Summary[]
  /** where the files went */
  files: { json: string, markdown: string, chart: string }
}

const WORKER_ENTRY = fileURLToPath(new URL('../run.js', import.meta.url))
const DEFAULT_OUT = fileURLToPath(new URL('../../../benchmarks/results/', import.meta.url))
const TIMEOUT_MS: Record<Mode, number> = { full: 600_000, quick: 180_000, smoke: 30_000 }

/** A forked worker and a way to ask it for one measurement */
class WorkerProcess {
  private readonly child: ChildProcess
  private readonly ready: Promise<void>
  private pending?: { resolve(s: Sample): void, job: Job }
  private exited = false
  private readonly exit: Promise<number | null>

  constructor () {
    this.child = fork(WORKER_ENTRY, ['--worker'], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.ready = new Promise<void>((resolve, reject) => {
      this.child.once('error', reject)
      this.child.on('message', (msg: FromWorker) => {
        if (msg.type === 'ready') { resolve() }
        if (msg.type === 'result' && this.pending != null) {
          const p = this.pending
          this.pending = undefined
          p.resolve(msg.sample)
        }
      })
    })
    this.exit = new Promise(resolve => {
      this.child.once('exit', (code) => {
        this.exited = true
        if (this.pending != null) {
          const { job, resolve: done } = this.pending
          this.pending = undefined
          done(failed(job, `worker exited with code ${code ?? 'null'} before reporting`))
        }
        resolve(code)
      })
    })
  }

  async run (job: Job, timeoutMs: number): Promise<Sample> {
    await this.ready
    if (this.exited) { return failed(job, 'worker is gone') }
    let timer: ReturnType<typeof setTimeout> | undefined
    const result = new Promise<Sample>(resolve => {
      this.pending = { resolve, job }
      timer = setTimeout(() => {
        this.pending = undefined
        this.child.kill('SIGKILL')
        resolve(failed(job, `timed out after ${timeoutMs} ms`))
      }, timeoutMs)
    })
    this.child.send({ type: 'job', job } satisfies ToWorker)
    try {
      return await result
    } finally {
      clearTimeout(timer)
    }
  }

  async stop (): Promise<void> {
    if (!this.exited) {
      this.child.send({ type: 'exit' } satisfies ToWorker)
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000)
      await this.exit
      clearTimeout(timer)
    }
  }
}

function failed (job: Job, error: string): Sample {
  const scenario = SCENARIOS.find(s => s.id === job.scenario)
  const contender = scenario?.variants.find(v => v.label === job.label)?.contender ?? job.label
  return { scenario: job.scenario, label: job.label, contender, rep: job.rep, ok: false, error }
}

function rotate<T> (list: T[], by: number): T[] {
  if (list.length === 0) { return list }
  const k = by % list.length
  return [...list.slice(k), ...list.slice(0, k)]
}

function formatSample (s: Sample, scenario: Scenario): string {
  if (!s.ok) { return `FAILED: ${(s.error ?? '').split('\n')[0]}` }
  const cpu = scenario.kind === 'bytes' ? `${s.cpuPerUnit?.toFixed(2)} CPU-s/GB` : `${s.cpuPerUnit?.toFixed(1)} CPU-µs/${scenario.opName ?? 'op'}`
  const mib = (n?: number): string => `${((n ?? 0) / 1048576).toFixed(0)} MiB`
  return `${s.value?.toFixed(1)} ${scenario.unit}  ${cpu}  heap ${mib(s.peakHeapBytes)}  rss ${mib(s.peakRssBytes)}`
}

function selectScenarios (only?: string[]): Scenario[] {
  if (only == null) { return SCENARIOS }
  return only.map(id => {
    const s = SCENARIOS.find(sc => sc.id === id)
    if (s == null) { throw new Error(`unknown scenario ${id} (known: ${SCENARIOS.map(sc => sc.id).join(', ')})`) }
    return s
  })
}

/** The contenders asked for that load here; the others go into `skipped` with the reason */
async function selectContenders (ids: string[] | undefined, withBaseline: boolean, skipped: Record<string, string>, log: (line: string) => void): Promise<Set<ContenderId>> {
  // `baseline` runs only when asked for: by --baseline, or by name
  const all = CONTENDERS.map(c => c.id).filter(id => id !== 'baseline' || withBaseline)
  const wanted = new Set<ContenderId>((ids ?? all).map(id => contenderInfo(id as ContenderId).id))
  for (const id of wanted) {
    const why = await unavailableReason(id)
    if (why != null) {
      skipped[id] = why
      wanted.delete(id)
      log(`skipping contender ${id}: ${why}`)
    }
  }
  return wanted
}

/** How many repetitions `scenario` gets in a run of `reps` (its `repetitionFactor` applies to full and quick runs) */
export function repetitionsOf (scenario: Scenario, reps: number, mode: Mode): number {
  return mode === 'smoke' ? reps : reps * (scenario.repetitionFactor ?? 1)
}

/**
 * Every repetition runs every wanted variant of every scenario once, while the
 * scenario has repetitions left; the order rotates per repetition
 */
function buildSchedule (scenarios: Scenario[], wanted: Set<ContenderId>, reps: number, mode: Mode, sizes: Sizes, warmup: boolean): Job[] {
  const schedule: Job[] = []
  const rounds = Math.max(...scenarios.map(s => repetitionsOf(s, reps, mode)))
  for (let rep = 0; rep < rounds; rep++) {
    for (const scenario of scenarios) {
      if (rep >= repetitionsOf(scenario, reps, mode)) { continue }
      const variants = scenario.variants.filter(v => wanted.has(v.contender))
      for (const v of rotate(variants, rep)) { schedule.push({ scenario: scenario.id, label: v.label, rep, mode, sizes, warmup }) }
    }
  }
  return schedule
}

async function runSchedule (schedule: Job[], isolation: Results['isolation'], timeoutMs: number, onSample: (s: Sample, i: number) => void): Promise<Sample[]> {
  const samples: Sample[] = []
  let shared: WorkerProcess | undefined
  try {
    for (const [i, job] of schedule.entries()) {
      let sample: Sample
      if (isolation === 'inline') {
        sample = await runJob(job)
      } else if (isolation === 'shared') {
        shared ??= new WorkerProcess()
        sample = await shared.run(job, timeoutMs)
      } else {
        const worker = new WorkerProcess()
        try {
          sample = await worker.run(job, timeoutMs)
        } finally {
          await worker.stop()
        }
      }
      samples.push(sample)
      onSample(sample, i)
    }
  } finally {
    await shared?.stop()
  }
  return samples
}

export async function runBenchmarks (options: BenchOptions = {}): Promise<Results> {
  const mode = options.mode ?? 'full'
  const reps = options.reps ?? defaultReps(mode)
  const isolation = options.isolation ?? (mode === 'smoke' ? 'shared' : 'fresh')
  const log = options.log ?? ((line: string) => { process.stdout.write(`${line}\n`) })
  const sizes = sizesFor(mode)
  const outDir = options.outDir ?? (mode === 'smoke' ? mkdtempSync(path.join(os.tmpdir(), 'yamux-bench-')) : DEFAULT_OUT)
  const started = Date.now()

  const scenarios = selectScenarios(options.only)
  const skipped: Record<string, string> = {}
  if (options.baseline != null) {
    // forked workers inherit it
    process.env[BASELINE_ENV] = path.resolve(options.baseline)
  }
  const wanted = await selectContenders(options.contenders, options.baseline != null, skipped, log)
  const warmup = options.warmup ?? true
  const schedule = buildSchedule(scenarios, wanted, reps, mode, sizes, warmup)
  log(`${mode} run: ${schedule.length} measurements, ${reps} repetition(s), isolation ${isolation}${warmup ? '' : ', no warm-up'}`)

  const samples = await runSchedule(schedule, isolation, TIMEOUT_MS[mode], (sample, i) => {
    const job = schedule[i]
    const scenario = scenarios.find(s => s.id === job.scenario) as Scenario
    log(`[${i + 1}/${schedule.length}] rep ${job.rep + 1} ${job.scenario.padEnd(11)} ${job.label.padEnd(20)} ${formatSample(sample, scenario)}`)
  })

  const summaries = summarise(scenarios, samples)
  const results: Results = {
    mode,
    reps,
    isolation,
    warmup,
    warmupRuns: warmup ? WARMUP_RUNS : 0,
    baseline: options.baseline != null ? { dir: path.resolve(options.baseline), commit: gitCommit(path.resolve(options.baseline)) } : undefined,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    machine: machineInfo(),
    sizes,
    skipped,
    scenarios: scenarios.map(({ id, title, description, unit, kind, opName }) => ({ id, title, description, unit, kind, opName })),
    samples,
    summaries,
    files: {
      json: path.join(outDir, 'results.json'),
      markdown: path.join(outDir, 'results.md'),
      chart: path.join(outDir, 'ratios.svg')
    }
  }
  writeReports(results)
  writeChart(results)
  log(`wrote ${results.files.markdown}, ${results.files.json} and ${results.files.chart}`)
  return results
}
