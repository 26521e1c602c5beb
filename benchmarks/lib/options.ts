/**
 * Run modes, workload sizes and command-line parsing.
 */

export type Mode = 'full' | 'quick' | 'smoke'

/** Every size a scenario uses; one set per mode */
export interface Sizes {
  /** bulk: bytes on one stream */
  bulkBytes: number
  /** bytes per `send()` in every throughput scenario */
  writeSize: number
  /** concurrent: number of streams and bytes per stream */
  concurrentStreams: number
  concurrentBytes: number
  /** request/response: message size and round trips */
  rrMessage: number
  rrRoundTrips: number
  /** stream churn: streams in total, payload per stream, parallelism of the parallel form */
  churnStreams: number
  churnPayload: number
  churnParallel: number
  /** full nodes: bytes in total, and the stream count of the multi-stream form */
  nodesBytes: number
  nodesStreams: number
  /** idle streams: idle stream count and bytes moved beside them */
  idleStreams: number
  idleBytes: number
  /** long fat link: bytes, one-way delay (ms), capacity (bytes/s), warm-up excluded from the steady average (ms) */
  linkBytes: number
  linkDelayMs: number
  linkCapacity: number
  linkWarmupMs: number
}

const MiB = 1024 * 1024

export const FULL_SIZES: Sizes = {
  bulkBytes: 256 * MiB,
  writeSize: 64 * 1024,
  concurrentStreams: 100,
  concurrentBytes: 4 * MiB,
  rrMessage: 1024,
  rrRoundTrips: 20_000,
  churnStreams: 5_000,
  churnPayload: 100,
  churnParallel: 50,
  nodesBytes: 256 * MiB,
  nodesStreams: 100,
  idleStreams: 5_000,
  idleBytes: 64 * MiB,
  linkBytes: 128 * MiB,
  linkDelayMs: 25,
  linkCapacity: 100_000_000,
  linkWarmupMs: 2_000
}

/** A first look: volumes divided by 8, the shape of every scenario kept */
export const QUICK_SIZES: Sizes = {
  ...FULL_SIZES,
  bulkBytes: 32 * MiB,
  concurrentBytes: 512 * 1024,
  rrRoundTrips: 2_500,
  churnStreams: 625,
  nodesBytes: 32 * MiB,
  idleBytes: 8 * MiB,
  linkBytes: 16 * MiB
}

/** Keeps the code from rotting: tiny volumes, one repetition, a few seconds */
export const SMOKE_SIZES: Sizes = {
  ...FULL_SIZES,
  bulkBytes: MiB,
  concurrentStreams: 8,
  concurrentBytes: 128 * 1024,
  rrRoundTrips: 100,
  churnStreams: 40,
  churnParallel: 8,
  nodesBytes: MiB,
  nodesStreams: 8,
  idleStreams: 50,
  idleBytes: MiB,
  linkBytes: MiB,
  linkWarmupMs: 100
}

/**
 * Unmeasured runs of the scenario, at the measured sizes, before each
 * measurement in the same worker. V8 keeps compiling for the first transfers
 * of a process (the event and stream code of `@libp2p/utils` and Node is called
 * once per write or drain and tiers up late): after one warm-up run at 1/8 of
 * the volume, the first full bulk transfer cost 1.4–2.0 CPU-s/GB for every
 * contender and the later ones 0.5–0.9, so that warm-up timed compilation. Two
 * full runs were not enough either: in bulk, functions were still being
 * optimised during the 3rd and 4th transfer of ours (19 and 15) and the 3rd
 * of mplex (8); from the 5th on, neither compiled more than a handful.
 */
export const WARMUP_RUNS = 4

const SIZES: Record<Mode, Sizes> = { full: FULL_SIZES, quick: QUICK_SIZES, smoke: SMOKE_SIZES }
const REPS: Record<Mode, number> = { full: 7, quick: 3, smoke: 1 }

export function sizesFor (mode: Mode): Sizes {
  return SIZES[mode]
}

export function defaultReps (mode: Mode): number {
  return REPS[mode]
}

/** Options of `runBenchmarks()` */
export interface BenchOptions {
  mode?: Mode
  /** repetitions; default 7 (full), 3 (quick), 1 (smoke) */
  reps?: number
  /** scenario ids to run; default all */
  only?: string[]
  /** contender ids to run; default all that load */
  contenders?: string[]
  /** where results go; default benchmarks/results (full, quick) or a fresh temp dir (smoke) */
  outDir?: string
  /**
   * `fresh` forks a new process per measurement (default for full and quick);
   * `shared` runs every measurement in one forked worker (default for smoke);
   * `inline` runs them in this process (no isolation at all)
   */
  isolation?: 'fresh' | 'shared' | 'inline'
  /** run each scenario {@link WARMUP_RUNS} times unmeasured before measuring it (default true) */
  warmup?: boolean
  /**
   * another checkout of this repository, already built: its muxer runs as the
   * `baseline` contender beside `ours`, interleaved like every contender, to
   * compare two versions on a noisy machine
   */
  baseline?: string
  /** progress lines; default console.log, pass a no-op to silence */
  log?(line: string): void
}

export interface CliArgs extends BenchOptions {
  worker: boolean
  help: boolean
}

export const USAGE = `usage: node dist/benchmarks/run.js [--quick | --smoke] [--reps N]
       [--only scenario,...] [--contenders id,...] [--out DIR] [--isolation fresh|shared|inline] [--no-warmup] [--baseline DIR]`

export function parseArgs (argv: string[]): CliArgs {
  const args: CliArgs = { worker: false, help: false }
  const list = (v: string | undefined, flag: string): string[] => {
    if (v == null || v === '') { throw new Error(`${flag} needs a comma-separated list`) }
    return v.split(',').map(s => s.trim()).filter(s => s !== '')
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    switch (a) {
      case '--worker': args.worker = true; break
      case '--quick': args.mode = 'quick'; break
      case '--no-warmup': args.warmup = false; break
      case '--baseline': {
        const dir = argv[++i]
        if (dir == null || dir === '') { throw new Error('--baseline needs the directory of another built checkout') }
        args.baseline = dir
        break
      }
      case '--smoke': args.mode = 'smoke'; break
      case '--help': case '-h': args.help = true; break
      case '--reps': {
        const n = Number(argv[++i])
        if (!Number.isInteger(n) || n < 1) { throw new Error('--reps needs a positive integer') }
        args.reps = n
        break
      }
      case '--only': args.only = list(argv[++i], a); break
      case '--contenders': args.contenders = list(argv[++i], a); break
      case '--out': args.outDir = argv[++i]; break
      case '--isolation': {
        const v = argv[++i]
        if (v !== 'fresh' && v !== 'shared' && v !== 'inline') { throw new Error('--isolation is fresh, shared or inline') }
        args.isolation = v
        break
      }
      default: throw new Error(`unknown argument ${a}\n${USAGE}`)
    }
  }
  return args
}
