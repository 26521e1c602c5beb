/**
 * The fuzzer: `npm run fuzz` (`node dist/test/fuzz/run.js [--seconds N]`).
 *
 * Drives the frame decoder, the protocol core's session and the js-libp2p
 * muxer with generated input (long fast-check runs; see targets.ts for the
 * input and the invariants) for N seconds (default 60), shared between the
 * targets, then reports how many inputs each target tried. Exits with 1 on the
 * first failure, printing its seed and path so it can be replayed:
 * `node dist/test/fuzz/run.js --target session --seed S --path P`.
 *
 * Escaped errors (unhandled rejections, uncaught exceptions) and listener-leak
 * warnings count as failures, as does heap growth past a bound.
 */

import fc from 'fast-check'
import { installPolyfills } from '../fixtures/polyfill.js'
import { formatBytes, settledHeap } from '../hostile/heap.js'
import { decoderProperty, muxerProperty, sessionProperty } from './targets.js'

installPolyfills()

interface Args {
  seconds: number
  target?: string
  seed?: number
  path?: string
}

function parseArgs (argv: string[]): Args {
  const args: Args = { seconds: 60 }
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1]
    switch (argv[i]) {
      case '--seconds': args.seconds = Number(value); i++; break
      case '--target': args.target = value; i++; break
      case '--seed': args.seed = Number(value); i++; break
      case '--path': args.path = value; i++; break
      case '--help':
        // eslint-disable-next-line no-console
        console.log('usage: node dist/test/fuzz/run.js [--seconds N] [--target decoder|session|muxer] [--seed S --path P]')
        process.exit(0)
        break
      default:
        throw new Error(`unknown argument ${argv[i]}`)
    }
  }
  if (!(args.seconds > 0)) {
    throw new Error('--seconds must be a positive number')
  }
  return args
}

/** How a run went, per target */
export interface TargetReport {
  name: string
  inputs: number
  failure?: string
}

interface Target {
  name: string
  /** Share of the time budget */
  share: number
  batch: number
  run(params: fc.Parameters<any>): Promise<fc.RunDetails<any>>
}

const sessionStats = { frames: 0, failures: 0 }

const TARGETS: Target[] = [
  { name: 'decoder', share: 0.25, batch: 2000, run: async (p) => fc.check(decoderProperty(), p) },
  { name: 'session', share: 0.5, batch: 500, run: async (p) => fc.check(sessionProperty(sessionStats), p) },
  { name: 'muxer', share: 0.25, batch: 20, run: async (p) => fc.check(muxerProperty(), p) }
]

const escaped: string[] = []

function watchProcess (): () => void {
  const onError = (err: unknown): void => { escaped.push(err instanceof Error ? (err.stack ?? err.message) : String(err)) }
  const onWarning = (warning: Error): void => {
    if (warning.name === 'MaxListenersExceededWarning') {
      escaped.push(`listener leak: ${warning.message}`)
    }
  }
  process.on('unhandledRejection', onError)
  process.on('uncaughtException', onError)
  process.on('warning', onWarning)
  return () => {
    process.off('unhandledRejection', onError)
    process.off('uncaughtException', onError)
    process.off('warning', onWarning)
  }
}

/**
 * Fuzz every target for its share of `seconds`. Returns a report per target;
 * a failure stops that target and carries the seed and path to replay it.
 */
export async function fuzz (seconds: number, options: { targets?: string[], seed?: number, path?: string, heapBound?: number } = {}): Promise<{ reports: TargetReport[], heapGrowth: number }> {
  const unwatch = watchProcess()
  const reports: TargetReport[] = []
  const before = await settledHeap()
  try {
    const targets = TARGETS.filter(t => options.targets == null || options.targets.includes(t.name))
    const totalShare = targets.reduce((n, t) => n + t.share, 0)
    for (const target of targets) {
      const report: TargetReport = { name: target.name, inputs: 0 }
      reports.push(report)
      const deadline = performance.now() + seconds * 1000 * target.share / totalShare
      let seed = options.seed ?? (Date.now() ^ (Math.random() * 0x7fff_ffff)) | 0
      do {
        if (deadline - performance.now() < 20 && report.inputs > 0) {
          break
        }
        const details = await target.run({
          numRuns: options.path != null ? 1 : target.batch,
          seed,
          path: options.path,
          endOnFailure: false,
          interruptAfterTimeLimit: Math.max(1, deadline - performance.now()),
          markInterruptAsFailure: false
        })
        report.inputs += details.numRuns
        await new Promise(resolve => setImmediate(resolve))
        // fast-check reports a batch interrupted before its first run as failed, with no counterexample
        if (details.failed && !(details.interrupted && details.counterexample == null && details.errorInstance == null)) {
          report.failure = `seed ${details.seed}, path "${details.counterexamplePath ?? ''}": ${fc.stringify(details.counterexample)}\n${String(details.errorInstance instanceof Error ? (details.errorInstance.stack ?? details.errorInstance.message) : details.errorInstance)}`
          break
        }
        if (escaped.length > 0) {
          report.failure = `escaped during seed ${seed} (batch of ${target.batch}): ${escaped.splice(0).join('\n')}`
          break
        }
        seed = (seed + 0x9e37_79b9) | 0
      } while (performance.now() < deadline && options.path == null)
    }
  } finally {
    unwatch()
  }
  const after = await settledHeap()
  return { reports, heapGrowth: after - before }
}

async function main (): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const started = performance.now()
  const { reports, heapGrowth } = await fuzz(args.seconds, {
    targets: args.target == null ? undefined : [args.target],
    seed: args.seed,
    path: args.path
  })
  const elapsed = ((performance.now() - started) / 1000).toFixed(1)
  const total = reports.reduce((n, r) => n + r.inputs, 0)
  /* eslint-disable no-console */
  console.log(`fuzzed for ${elapsed} s: ${total.toLocaleString('en')} inputs`)
  for (const r of reports) {
    console.log(`  ${r.name.padEnd(8)} ${r.inputs.toLocaleString('en').padStart(10)} inputs${r.failure == null ? '' : '  FAILED'}`)
  }
  console.log(`  session: ${sessionStats.frames.toLocaleString('en')} frames fed, ${sessionStats.failures.toLocaleString('en')} inputs ended in a protocol violation (Go Away 1)`)
  console.log(`  heap growth over the run: ${formatBytes(heapGrowth)}`)
  const failures = reports.filter(r => r.failure != null)
  for (const r of failures) {
    console.error(`\n${r.name} FAILED (replay: node dist/test/fuzz/run.js --target ${r.name} --seed S --path P)\n${r.failure ?? ''}`)
  }
  if (heapGrowth > 128 * 1024 * 1024) {
    console.error(`heap grew by ${formatBytes(heapGrowth)} over the run`)
    process.exitCode = 1
  }
  if (failures.length > 0) {
    process.exitCode = 1
  }
  /* eslint-enable no-console */
}

// run when executed directly, not when imported by the spec
if (process.argv[1] != null && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main().catch(err => {
    // eslint-disable-next-line no-console
    console.error(err)
    process.exitCode = 1
  })
}
