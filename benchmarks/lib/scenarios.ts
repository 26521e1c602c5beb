/**
 * The scenarios: what is moved, over what, by whom, and how a run turns
 * into a number. Setup and teardown stay outside the measured part.
 */

import { createSession } from './contenders.js'
import { measure, settledHeap } from './measure.js'
import { libp2pSession, noiseSession } from './nodes.js'
import { echo, inParallel, pump, receive, requestResponse, shortStream } from './workloads.js'
import type { ContenderId, Session, Transport } from './contenders.js'
import type { Endpoint, WriteShape } from './endpoint.js'
import type { Resources } from './measure.js'
import type { Sizes } from './options.js'
import type { Progress } from './workloads.js'

/** What a scenario reports for one run */
export interface RunOutput {
  /** units of work done: bytes for throughput scenarios, operations otherwise */
  units: number
  /** the primary number, when it is not simply units per second (the long fat link) */
  value?: number
  /** scenario-specific numbers (heap per idle stream, averages) */
  extra?: Record<string, number>
}

export interface Measured { output: RunOutput, resources: Resources }

/** A contender as one scenario runs it */
export interface Variant {
  /** the row label; several variants of one contender differ by it */
  label: string
  contender: ContenderId
  /** options passed to the muxer factory */
  init?: Record<string, unknown>
  /**
   * Multi-stream transfers: open every stream before the clock starts, so the
   * row shows the muxer's data path without the cost of opening the streams
   */
  openFirst?: boolean
  /** The bare pipe only: how the sender hands over each write (see `WriteShape`) */
  writeShape?: WriteShape
  /**
   * The bare pipe only, in multi-stream scenarios: one sender for each stream
   * the muxers open, all writing into the one pipe at once, so the row shows
   * what that many concurrent senders cost without any muxer
   */
  writerPerStream?: boolean
}

export interface Scenario {
  id: string
  title: string
  /** what the number means, for the README and the table */
  description: string
  /** unit of the primary number (higher is better) */
  unit: string
  /** 'bytes': units are bytes, reported as MB/s and CPU s/GB; 'ops': units are operations, ops/s and CPU µs/op */
  kind: 'bytes' | 'ops'
  /** what an op is, for the CPU column */
  opName?: string
  variants: Variant[]
  /**
   * Full and quick runs measure this scenario this many times the run's
   * repetitions (default 1): a measurement of a few tens of milliseconds is
   * moved by a third by one garbage collection, so its median needs more samples
   */
  repetitionFactor?: number
  /** `warmup`: this is the unmeasured run before a measurement; skip what would disturb the measured one */
  run(variant: Variant, sizes: Sizes, warmup?: boolean): Promise<Measured>
}

const TCP: Transport = { kind: 'tcp' }
const ALL: ContenderId[] = ['ours', 'baseline', 'chainsafe', 'mplex', 'none', 'raw']
const MUXERS: ContenderId[] = ['ours', 'baseline', 'chainsafe', 'mplex']
const plain = (ids: ContenderId[]): Variant[] => ids.map(contender => ({ label: contender, contender }))
/**
 * The bare connection sending each 64 KiB write the two ways a muxer can put a
 * header before it: the header written apart (two socket writes), or header and
 * write copied into one buffer. Whatever a muxer with frames of one write each
 * does, it pays at least one of the two over this transport.
 */
const HEADER_FLOORS: Variant[] = [
  { label: 'none (12-byte head written apart)', contender: 'none', writeShape: 'head apart' },
  { label: 'none (each write copied)', contender: 'none', writeShape: 'copied' }
]
/** The bare pipe written by as many concurrent senders as the muxers have streams */
const SENDERS_FLOOR: Variant = { label: 'none (one sender per stream)', contender: 'none', writerPerStream: true }

/** Register a server handler for every inbound stream and get a promise for when `n` of them have finished */
function serveEach (session: Session, n: number, handle: (end: Endpoint) => Promise<void>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let done = 0
    session.accept((end) => {
      handle(end).then(() => {
        if (++done === n) { resolve() }
      }, reject)
    })
  })
}

async function withSession<T> (open: Promise<Session>, use: (s: Session) => Promise<T>): Promise<T> {
  const session = await open
  try {
    return await use(session)
  } finally {
    // never let a slow teardown hang the run
    await Promise.race([session.close(), new Promise(resolve => setTimeout(resolve, 2_000).unref())])
  }
}

/** How a transfer spreads its volume */
interface Layout {
  /** streams opened (1 = a single pipe) */
  streams: number
  /** concurrent senders per stream, each moving an equal share of it (default 1) */
  senders?: number
  /** open every stream before the clock starts (default false) */
  openFirst?: boolean
}

/**
 * The layout of a multi-stream transfer of `streams` streams for `variant`: a
 * session without streams moves it over its single pipe, written by one
 * sender, or by one per stream for {@link Variant.writerPerStream}.
 */
function layoutOf (session: Session, variant: Variant, streams: number): Layout {
  if (session.multiStream) {
    return { streams, openFirst: variant.openFirst }
  }
  return { streams: 1, senders: variant.writerPerStream === true ? streams : 1 }
}

/**
 * `streams` streams each moving `total / streams` bytes to the server, in
 * `writeSize` writes. With `openFirst`, the streams are open (and accepted)
 * before the clock starts; otherwise each starts sending as soon as it is open.
 */
async function transfer (session: Session, total: number, writeSize: number, { streams, senders = 1, openFirst = false }: Layout): Promise<Measured> {
  const share = Math.floor(total / streams / senders)
  const per = share * senders
  let accepted = 0
  let allAccepted: () => void = () => {}
  const acceptedAll = new Promise<void>(resolve => { allAccepted = resolve })
  const received = serveEach(session, streams, async end => {
    if (++accepted === streams) { allAccepted() }
    await receive(end, per)
  })
  const ready = openFirst ? await Promise.all(Array.from({ length: streams }, async () => session.open())) : undefined
  if (ready != null) { await acceptedAll }
  let start = 0
  let opened = 0
  let allOpenAt = 0
  let sendersDone = 0
  const { resources } = await measure(async () => {
    start = performance.now()
    const writing = Array.from({ length: streams }, async (_, i) => {
      const end = ready?.[i] ?? await session.open()
      if (++opened === streams) { allOpenAt = performance.now() }
      await Promise.all(Array.from({ length: senders }, async () => {
        await pump(end, share, writeSize)
        sendersDone++
      }))
    })
    await Promise.all([received, ...writing])
  })
  // how long opening the streams took, inside the timed part (they start sending as each opens)
  const opening = streams > 1 && ready == null ? { openMs: allOpenAt - start, openShare: (allOpenAt - start) / resources.wallMs } : undefined
  return { output: { units: per * streams, extra: { ...opening, senders: sendersDone } }, resources }
}

const bulk: Scenario = {
  id: 'bulk',
  title: 'bulk, one stream',
  description: 'one stream moves the bulk volume in 64 KiB writes, the sender honouring backpressure; the receiver counts bytes',
  unit: 'MB/s',
  kind: 'bytes',
  variants: [...plain(ALL), ...HEADER_FLOORS],
  run: async (v, sizes) => withSession(createSession(v.contender, TCP, v.init, v.writeShape), async s =>
    transfer(s, sizes.bulkBytes, sizes.writeSize, { streams: 1 }))
}

const concurrent: Scenario = {
  id: 'concurrent',
  title: 'concurrent streams',
  description: '100 streams move 4 MiB each at the same time; aggregate throughput. `none` and `raw` move the same 400 MiB over their one pipe: the ceiling any muxer over this TCP connection can reach; "one sender per stream" is that pipe written by 100 senders at once',
  unit: 'MB/s',
  kind: 'bytes',
  variants: [...plain(ALL), ...HEADER_FLOORS, SENDERS_FLOOR],
  run: async (v, sizes) => withSession(createSession(v.contender, TCP, v.init, v.writeShape), async s =>
    transfer(s, sizes.concurrentStreams * sizes.concurrentBytes, sizes.writeSize, layoutOf(s, v, sizes.concurrentStreams)))
}

const reqresp: Scenario = {
  id: 'reqresp',
  title: 'request/response',
  description: '1 KiB messages echoed on one stream, one round trip at a time',
  unit: 'round trips/s',
  kind: 'ops',
  opName: 'round trip',
  variants: plain(ALL),
  run: async (v, sizes) => withSession(createSession(v.contender, TCP, v.init), async s => {
    s.accept(echo)
    const end = await s.open()
    const { resources } = await measure(async () => { await requestResponse(end, sizes.rrMessage, sizes.rrRoundTrips) })
    return { output: { units: sizes.rrRoundTrips }, resources }
  })
}

function churn (id: string, title: string, parallel: (sizes: Sizes) => number, description: string): Scenario {
  return {
    id,
    title,
    description,
    unit: 'streams/s',
    kind: 'ops',
    opName: 'stream',
    variants: plain(MUXERS),
    run: async (v, sizes) => withSession(createSession(v.contender, TCP, v.init), async s => {
      s.accept(echo)
      const payload = new Uint8Array(sizes.churnPayload).fill(0x63)
      const { resources } = await measure(async () => {
        await inParallel(sizes.churnStreams, parallel(sizes), async () => { await shortStream(s, payload) })
      })
      return { output: { units: sizes.churnStreams }, resources }
    })
  }
}

const churnSeq = churn('churn-seq', 'stream churn, one at a time', () => 1,
  'open a stream, send 100 bytes, close the write side, read the echo until the end; 5,000 streams one after another')
const churnPar = churn('churn-par', 'stream churn, 50 at a time', sizes => sizes.churnParallel,
  'the same short streams, 50 in flight at any time')

function nodes (id: string, title: string, streams: (sizes: Sizes) => number, description: string, extraVariants: Variant[] = []): Scenario {
  return {
    id,
    title,
    description,
    unit: 'MB/s',
    kind: 'bytes',
    variants: [...plain(['ours', 'baseline', 'chainsafe', 'mplex', 'none']), ...extraVariants],
    run: async (v, sizes) => {
      const session = v.contender === 'none' ? noiseSession() : libp2pSession(v.contender)
      return withSession(session, async s => transfer(s, sizes.nodesBytes, sizes.writeSize, layoutOf(s, v, streams(sizes))))
    }
  }
}

const nodes1 = nodes('nodes-1', 'full nodes, one stream', () => 1,
  'two js-libp2p 3 nodes (TCP, Noise, the muxer) on 127.0.0.1 move the volume on one stream; `none` is the same TCP transport and Noise with no muxer')
/** The muxers again with their 100 streams opened before the clock starts: their data path alone */
const OPENED_FIRST: Variant[] = (['ours', 'chainsafe', 'mplex'] as const).map(contender => ({ label: `${contender} (streams opened first)`, contender, openFirst: true }))

const nodes100 = nodes('nodes-100', 'full nodes, 100 streams', sizes => sizes.nodesStreams,
  'the same nodes move the volume on 100 streams at once; `none` moves it over its single encrypted pipe. The rows marked "streams opened first" open the 100 streams (through libp2p: protocol negotiation, peer store) before the clock starts; "one sender per stream" is the bare pipe written by 100 senders at once', [...OPENED_FIRST, SENDERS_FLOOR])

/**
 * One stream moving `idleBytes`; with `idle`, next to that many open, idle
 * streams. The timed transfer is the connection's second: the first, untimed,
 * lets the garbage collector move the stream objects just made out of the
 * young generation, which otherwise happens inside whichever transfer comes
 * first and measures opening streams, not keeping them open. Heap per idle
 * stream is measured after the transfer, between full GCs with the idle
 * streams open and after they are gone: a forced GC leaves V8 marking the heap
 * over and over for the next seconds of work, so none may precede a timed
 * transfer in the same process (the warm-up run skips it).
 */
async function idleRun (v: Variant, sizes: Sizes, idle: number, warmup = false): Promise<Measured> {
  return withSession(createSession(v.contender, TCP, v.init), async s => {
    let confirmed = 0
    let allIdle: () => void = () => {}
    const idleReady = new Promise<void>(resolve => { allIdle = resolve })
    let idleServers: Endpoint[] = []
    const transferStreams: Array<(end: Endpoint) => void> = []
    const nextTransferStream = async (): Promise<Endpoint> => new Promise<Endpoint>(resolve => { transferStreams.push(resolve) })
    let seen = 0
    s.accept(end => {
      if (seen++ < idle) {
        idleServers.push(end)
        end.onData(() => {
          if (++confirmed === idle) { allIdle() }
        })
      } else {
        transferStreams.shift()?.(end)
      }
    })
    let idleClients: Endpoint[] = []
    for (let i = 0; i < idle; i++) {
      const end = await s.open()
      end.send(new Uint8Array(1))
      idleClients.push(end)
    }
    if (idle > 0) { await idleReady }
    const transfer = async (): Promise<void> => {
      const received = nextTransferStream().then(async server => { await receive(server, sizes.idleBytes) })
      const end = await s.open()
      await Promise.all([pump(end, sizes.idleBytes, sizes.writeSize), received])
    }
    await transfer()
    const { resources } = await measure(transfer)
    const extra: Record<string, number> = { idleStreams: idle }
    if (idle > 0 && !warmup) {
      const withIdle = settledHeap()
      for (const end of [...idleClients, ...idleServers]) { end.abort() }
      idleClients = []
      idleServers = []
      // let both muxers see the resets and let go of the streams
      await new Promise(resolve => setTimeout(resolve, 200))
      extra.heapPerIdleStream = (withIdle - settledHeap()) / idle
    }
    return { output: { units: sizes.idleBytes, extra }, resources }
  })
}

/**
 * The idle rows time one 64 MiB transfer (about 50 ms): one scavenge or
 * timer more or less inside it moves a repetition by a tenth or more, so they
 * get three times the repetitions; each costs a few seconds
 */
const IDLE_REPETITION_FACTOR = 3

const idleAlone: Scenario = {
  id: 'idle-alone',
  title: 'idle streams: transfer alone',
  description: 'the reference for `idle`: the same one-stream transfer, the second on its connection, with no other stream open',
  unit: 'MB/s',
  kind: 'bytes',
  variants: plain(MUXERS),
  repetitionFactor: IDLE_REPETITION_FACTOR,
  run: async (v, sizes) => idleRun(v, sizes, 0)
}

const idle: Scenario = {
  id: 'idle',
  title: 'idle streams: transfer beside 5,000',
  description: 'one stream moves 64 MiB while 5,000 idle streams (each used once for 1 byte) stay open, timed on the connection\'s second such transfer (the first, untimed, lets the new stream objects age); heap per idle stream = (heap with them open − heap once they are reset and gone) / 5,000, each after full GCs once the transfer is done, both ends counted',
  unit: 'MB/s',
  kind: 'bytes',
  variants: plain(MUXERS),
  repetitionFactor: IDLE_REPETITION_FACTOR,
  run: async (v, sizes, warmup) => idleRun(v, sizes, sizes.idleStreams, warmup)
}

const link: Scenario = {
  id: 'link',
  title: 'long fat link',
  description: 'one stream moves 128 MiB over an in-memory link of 50 ms round trip and 100 MB/s; the number is the throughput averaged after the first 2 s (or over the second half of the bytes, whichever window is longer); `ours` runs with keepalive off, and once more with it on',
  unit: 'MB/s',
  kind: 'bytes',
  variants: [
    { label: 'ours', contender: 'ours', init: { enableKeepAlive: false } },
    { label: 'ours (keepalive on)', contender: 'ours', init: { enableKeepAlive: true } },
    { label: 'baseline', contender: 'baseline', init: { enableKeepAlive: false } },
    ...plain(['chainsafe', 'mplex', 'none'])
  ],
  run: async (v, sizes) => {
    const transport: Transport = { kind: 'link', link: { delayMs: sizes.linkDelayMs, capacity: sizes.linkCapacity } }
    return withSession(createSession(v.contender, transport, v.init), async s => {
      const total = sizes.linkBytes
      const progress: Progress = { times: [], bytes: [] }
      const received = new Promise<void>((resolve, reject) => {
        s.accept(end => { receive(end, total, progress).then(resolve, reject) })
      })
      let start = 0
      const { resources } = await measure(async () => {
        start = performance.now()
        const end = await s.open()
        await Promise.all([pump(end, total, sizes.writeSize), received])
      })
      const steady = steadyThroughput(progress, start, sizes.linkWarmupMs, total)
      const capacityMBps = sizes.linkCapacity / 1e6
      return {
        output: {
          units: total,
          value: steady.mbps,
          extra: {
            capacityMBps,
            ofCapacity: steady.mbps / capacityMBps,
            overallMBps: total / 1e6 / (resources.wallMs / 1000),
            windowStartMs: steady.windowStartMs
          }
        },
        resources
      }
    })
  }
}

/**
 * Throughput after the ramp-up: from `warmupMs` after the start, or from the
 * moment half the bytes had arrived if that comes first (a fast transfer can
 * finish before the warm-up is over), to the last byte.
 */
export function steadyThroughput (p: Progress, start: number, warmupMs: number, total: number): { mbps: number, windowStartMs: number } {
  const last = p.times.length - 1
  if (last < 1) { return { mbps: 0, windowStartMs: 0 } }
  let i = p.bytes.findIndex(b => b >= total / 2)
  const j = p.times.findIndex(t => t - start >= warmupMs)
  if (j !== -1 && j < i) { i = j }
  if (i <= 0 || i >= last) { i = 0 }
  const bytes = p.bytes[last] - p.bytes[i]
  const ms = p.times[last] - p.times[i]
  return { mbps: ms > 0 ? bytes / 1e6 / (ms / 1000) : 0, windowStartMs: p.times[i] - start }
}

export const SCENARIOS: Scenario[] = [bulk, concurrent, reqresp, churnSeq, churnPar, nodes1, nodes100, idleAlone, idle, link]

export function scenarioById (id: string): Scenario {
  const s = SCENARIOS.find(sc => sc.id === id)
  if (s == null) { throw new Error(`unknown scenario ${id} (known: ${SCENARIOS.map(sc => sc.id).join(', ')})`) }
  return s
}
