/**
 * Random programs of operations on both ends of a connection (open, write
 * random sizes, pause and resume, half-close, reset, ping) over a link that
 * splits, delays and interleaves bytes at random (chaos-link.ts).
 *
 * Invariants: every byte written to a stream that was not reset arrives
 * intact and in order, and on a reset stream what arrived is a prefix of what
 * was written. Both ends finish in matching states: no stream hangs, a stream
 * nobody reset closes cleanly on both sides, a reset stream ends with an error
 * on the side that did not reset it (unless that side had already finished),
 * and neither muxer keeps any stream afterwards. Every ping is answered.
 * Nothing is thrown unobserved.
 */

import { expect } from 'aegir/chai'
import fc from 'fast-check'
import { yamux } from '../../src/index.js'
import { ChaosLink } from './chaos-link.js'
import { fcParams, prng } from './replay.js'
import type { YamuxMuxer } from '../../src/libp2p/muxer.js'
import type { YamuxStream } from '../../src/libp2p/stream.js'

type Side = 0 | 1

type Op =
  | { op: 'open', side: Side }
  | { op: 'write', side: Side, stream: number, size: number }
  | { op: 'pause', side: Side, stream: number }
  | { op: 'resume', side: Side, stream: number }
  | { op: 'closeWrite', side: Side, stream: number }
  | { op: 'reset', side: Side, stream: number }
  | { op: 'ping', side: Side }
  | { op: 'wait', ticks: number }

/** The byte at `offset` of what `side` writes on stream `id` */
function patternByte (id: number, side: Side, offset: number): number {
  return (id * 7 + side * 101 + offset * 13 + (offset >>> 8)) & 0xff
}

function patternChunk (id: number, side: Side, offset: number, size: number): Uint8Array {
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i++) {
    out[i] = patternByte(id, side, offset + i)
  }
  return out
}

/** One end of one stream */
class End {
  readonly stream: YamuxStream
  readonly side: Side
  readonly id: number
  /** Bytes handed to send() */
  written = 0
  /** Bytes received and checked against the pattern */
  received = 0
  corrupt: string | undefined
  closeError: Error | undefined
  closed = false
  closedPromise: Promise<void>
  private readonly queue: Array<number | 'close'> = []
  private pumping = false
  unexpected: string[] = []

  constructor (stream: YamuxStream, side: Side) {
    this.stream = stream
    this.side = side
    this.id = stream.streamId
    const peerSide: Side = side === 0 ? 1 : 0
    stream.addEventListener('message', (evt) => {
      const data = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()
      for (let i = 0; i < data.byteLength; i++) {
        if (this.corrupt == null && data[i] !== patternByte(this.id, peerSide, this.received + i)) {
          this.corrupt = `stream ${this.id} side ${side}: byte ${this.received + i} is ${data[i]}, expected ${patternByte(this.id, peerSide, this.received + i)}`
        }
      }
      this.received += data.byteLength
    })
    this.closedPromise = new Promise(resolve => {
      stream.addEventListener('close', (evt) => {
        this.closed = true
        this.closeError = evt.error
        resolve()
      })
    })
  }

  /** Queue a write or a half-close behind earlier ones; a writer waits for 'drain' when send() says so */
  enqueue (item: number | 'close'): void {
    this.queue.push(item)
    if (!this.pumping) {
      this.pumping = true
      void this.pump()
    }
  }

  get idle (): boolean {
    return !this.pumping && this.queue.length === 0
  }

  /** Runs until the queue is empty; `pumping` is cleared in the same tick as the last check of the queue */
  private async pump (): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const item = this.queue.shift() as number | 'close'
        const s = this.stream
        if (s.status !== 'open' || s.writeStatus !== 'writable') {
          // the stream was reset or closed meanwhile: what is left cannot go
          this.queue.length = 0
          return
        }
        try {
          if (item === 'close') {
            await s.close()
            continue
          }
          const ok = s.send(patternChunk(this.id, this.side, this.written, item))
          this.written += item
          if (!ok) {
            await s.onDrain()
          }
        } catch (err: any) {
          if (s.status === 'open') {
            this.unexpected.push(`stream ${this.id} side ${this.side}: ${err.name}: ${err.message}`)
          }
          this.queue.length = 0
          return
        }
      }
    } finally {
      this.pumping = false
    }
  }
}

interface StreamPair {
  id: number
  ends: [End | undefined, End | undefined]
  resetBy: Set<Side>
}

/** One end of a stream somebody reset: the resetting side is done, the other ended with StreamResetError or had finished */
function checkResetEnd (pair: StreamPair, end: End): void {
  const where = `stream ${pair.id} side ${end.side}`
  if (pair.resetBy.has(end.side)) {
    expect(end.stream.status, `${where} reset it`).to.be.oneOf(['aborted', 'reset', 'closed'])
  } else if (end.closeError != null) {
    expect(end.closeError.name, where).to.equal('StreamResetError')
  }
}

async function runProgram (ops: Op[], seed: number): Promise<void> {
  const random = prng(seed)
  const link = new ChaosLink(random)
  const muxers: [YamuxMuxer, YamuxMuxer] = [
    yamux({ enableKeepAlive: false, maxMessageSize: 1024 + Math.floor(random() * 64 * 1024) })().createStreamMuxer(link.ends[0]),
    yamux({ enableKeepAlive: false })().createStreamMuxer(link.ends[1])
  ]
  const escaped: unknown[] = []
  const onEscape = (err: unknown): void => { escaped.push(err) }
  process.on('unhandledRejection', onEscape)
  process.on('uncaughtException', onEscape)

  const pairs: StreamPair[] = []
  const byId = new Map<number, StreamPair>()
  const pairFor = (id: number): StreamPair => {
    let pair = byId.get(id)
    if (pair == null) {
      pair = { id, ends: [undefined, undefined], resetBy: new Set() }
      byId.set(id, pair)
      pairs.push(pair)
    }
    return pair
  }
  for (const side of [0, 1] as const) {
    muxers[side].addEventListener('stream', (evt) => {
      pairFor(evt.detail.streamId).ends[side] = new End(evt.detail, side)
    })
  }
  const pings: Array<Promise<number>> = []
  const opening: Array<Promise<void>> = []

  const endOf = (side: Side, index: number): End | undefined => {
    const ends = pairs.map(p => p.ends[side]).filter((e): e is End => e != null)
    return ends.length === 0 ? undefined : ends[index % ends.length]
  }

  try {
    for (const op of ops) {
      switch (op.op) {
        case 'open':
          opening.push(muxers[op.side].createStream().then(stream => {
            pairFor(stream.streamId).ends[op.side] = new End(stream, op.side)
          }))
          break
        case 'write':
          endOf(op.side, op.stream)?.enqueue(op.size)
          break
        case 'closeWrite':
          endOf(op.side, op.stream)?.enqueue('close')
          break
        case 'pause': {
          const end = endOf(op.side, op.stream)
          if (end != null && end.stream.readStatus === 'readable') {
            end.stream.pause()
          }
          break
        }
        case 'resume': {
          const end = endOf(op.side, op.stream)
          if (end != null && end.stream.readStatus === 'paused') {
            end.stream.resume()
          }
          break
        }
        case 'reset': {
          const end = endOf(op.side, op.stream)
          if (end != null && end.stream.status === 'open') {
            pairFor(end.id).resetBy.add(op.side)
            end.stream.abort(new Error('reset by the program'))
          }
          break
        }
        case 'ping':
          pings.push(muxers[op.side].ping())
          break
        case 'wait':
          for (let i = 0; i < op.ticks; i++) {
            await new Promise(resolve => setImmediate(resolve))
          }
          break
        default:
          break
      }
    }
    await Promise.all(opening)

    // wind down: every reader reads, every writer finishes and half-closes
    const deadline = Date.now() + 10_000
    let allEnds: End[] = []
    while (true) {
      allEnds = pairs.flatMap(p => p.ends.filter((e): e is End => e != null))
      for (const end of allEnds) {
        if (end.stream.readStatus === 'paused') {
          end.stream.resume()
        }
        if (end.idle && end.stream.status === 'open' && end.stream.writeStatus === 'writable') {
          end.enqueue('close')
        }
      }
      // a stream reset before the other side heard of it may exist on one side only,
      // but only once the link is idle is it certain that nothing more will come
      const linkIdle = link.pending[0] === 0 && link.pending[1] === 0
      const everyPairKnown = pairs.every(p => (p.ends[0] != null && p.ends[1] != null) || (p.resetBy.size > 0 && linkIdle))
      if (allEnds.every(e => e.closed) && everyPairKnown && linkIdle) {
        break
      }
      if (Date.now() > deadline) {
        const open = allEnds.filter(e => !e.closed).map(e => `stream ${e.id} side ${e.side}: status ${e.stream.status} read ${e.stream.readStatus} write ${e.stream.writeStatus} remoteWrite ${e.stream.remoteWriteStatus} written ${e.written} received ${e.received} buffered ${e.stream.writeBufferLength}`)
        const unpaired = pairs.filter(p => p.ends[0] == null || p.ends[1] == null).map(p => `stream ${p.id} known only to side ${p.ends[0] == null ? 1 : 0}`)
        throw new Error(`streams hang after 10 s (link pending ${link.pending.join('/')}):\n${[...open, ...unpaired].join('\n')}`)
      }
      await new Promise(resolve => setTimeout(resolve, 1))
    }

    const rtts = await Promise.race([
      Promise.all(pings),
      new Promise<never>((_resolve, reject) => setTimeout(() => { reject(new Error('a ping was not answered within 5 s')) }, 5000))
    ])
    expect(rtts.every(rtt => typeof rtt === 'number' && rtt >= 0)).to.equal(true)

    for (const pair of pairs) {
      const [a, b] = pair.ends
      for (const end of [a, b]) {
        expect(end?.corrupt).to.equal(undefined)
        expect(end?.unexpected ?? []).to.deep.equal([])
      }
      if (a == null || b == null) {
        // the stream was reset before the other side heard of it: it may never have been accepted
        expect(pair.resetBy.size, `stream ${pair.id} exists on one side only`).to.be.greaterThan(0)
        continue
      }
      const where = `stream ${pair.id}`
      // what arrived is always a prefix of what was written
      expect(b.received, `${where}: 0→1 bytes`).to.be.at.most(a.written)
      expect(a.received, `${where}: 1→0 bytes`).to.be.at.most(b.written)
      if (pair.resetBy.size === 0) {
        expect(b.received, `${where}: every byte 0→1 arrived`).to.equal(a.written)
        expect(a.received, `${where}: every byte 1→0 arrived`).to.equal(b.written)
        expect(a.closeError, `${where} side 0 closed cleanly`).to.equal(undefined)
        expect(b.closeError, `${where} side 1 closed cleanly`).to.equal(undefined)
        expect(a.stream.status).to.equal('closed')
        expect(b.stream.status).to.equal('closed')
      } else {
        [a, b].forEach(end => { checkResetEnd(pair, end) })
      }
    }
    for (const side of [0, 1] as const) {
      expect(muxers[side].streams, `muxer ${side} keeps no stream`).to.have.lengthOf(0)
      expect(muxers[side].session.streamCount, `session ${side} keeps no stream`).to.equal(0)
      expect(muxers[side].status).to.equal('open')
    }
    if (process.env.YAMUX_PROGRAM_STATS != null) {
      // eslint-disable-next-line no-console
      console.log(`    ${ops.length} ops, ${pairs.length} streams (${pairs.filter(p => p.resetBy.size > 0).length} reset), ${link.delivered.join('/')} bytes delivered, ${pings.length} pings`)
    }
    await Promise.all(muxers.map(async m => { await m.close() }))
    await new Promise(resolve => setImmediate(resolve))
    expect(escaped.map(String), 'nothing thrown unobserved').to.deep.equal([])
  } finally {
    process.off('unhandledRejection', onEscape)
    process.off('uncaughtException', onEscape)
    for (const m of muxers) {
      if (m.status !== 'closed') {
        m.abort(new Error('run over'))
      }
    }
  }
}

const side = fc.constantFrom<Side>(0, 1)
const index = fc.nat({ max: 7 })
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: side.map(s => ({ op: 'open' as const, side: s })) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('write' as const), side, stream: index, size: fc.oneof(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 70_000 }), fc.integer({ min: 1, max: 600_000 })) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('pause' as const), side, stream: index }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('resume' as const), side, stream: index }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('closeWrite' as const), side, stream: index }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('reset' as const), side, stream: index }) },
  { weight: 1, arbitrary: side.map(s => ({ op: 'ping' as const, side: s })) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('wait' as const), ticks: fc.integer({ min: 1, max: 20 }) }) }
)

describe('property: random programs over a chaotic link', function () {
  this.timeout(120_000)

  it('every byte arrives intact and in order, both ends finish in matching states, nothing escapes', async () => {
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 60, size: 'max' }), fc.integer(), async (ops, seed) => {
      await runProgram(ops, seed)
    }), fcParams(100))
  })
})
