/**
 * Entry point of the benchmark harness:
 * `node dist/benchmarks/run.js [--quick | --smoke] [--reps N] [--only a,b] [--contenders a,b]`
 *
 * The same file is the worker: the orchestrator forks it with `--worker` and
 * sends it one measurement at a time over IPC. See benchmarks/README.md.
 */

// first: js-libp2p 3 needs Promise.withResolvers, which Node 20 lacks
import './polyfill.js'
import { pathToFileURL } from 'node:url'
import { parseArgs, USAGE } from './lib/options.js'
import { runBenchmarks } from './lib/runner.js'
import { serveJobs } from './lib/worker.js'

export { runBenchmarks }
export type { BenchOptions, Mode, Sizes } from './lib/options.js'
export type { Results } from './lib/runner.js'

async function main (): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  if (args.help) {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  if (args.worker) {
    serveJobs()
    return
  }
  const results = await runBenchmarks(args)
  const failed = results.samples.filter(s => !s.ok).length
  if (failed > 0) {
    process.stderr.write(`${failed} measurement(s) failed; see ${results.files.markdown}\n`)
    process.exitCode = 1
  }
}

const invokedDirectly = process.argv[1] != null && import.meta.url === pathToFileURL(process.argv[1]).href
if (invokedDirectly) {
  main().catch(err => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
    process.exitCode = 1
  })
}
