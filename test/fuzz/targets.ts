/**
 * Fuzz targets: the frame decoder, the protocol core's session and the
 * js-libp2p muxer, each driven by generated input (fast-check arbitraries
 * biased towards almost-valid frames on a handful of stream ids, so that the
 * input reaches deep into the state machine rather than failing on the first
 * header).
 *
 * Invariants checked on every input: the decoder throws nothing but
 * `ProtocolViolationError`. `session.receive()` never throws; the session
 * fails only with a typed error (ProtocolViolationError, RemoteGoAwayError,
 * PingTimeoutError), at most once, after which it produces nothing. The
 * session's API throws only its documented typed errors. What the session
 * sends is valid Yamux: version 0, known types, Data frames within the frame
 * size and on streams it knows, stream 0 only for Ping and Go Away, at most
 * one Go Away. Memory stays bounded: streams tracked, receive budget, pending
 * output. The muxer never lets an error escape (the caller watches the process).
 */

import fc from 'fast-check'
import { FrameDecoder } from '../../src/protocol/decoder.js'
import { ProtocolViolationError } from '../../src/protocol/errors.js'
import { YamuxSession } from '../../src/protocol/session.js'
import { RawPeer, concat, frame } from '../hostile/raw-peer.js'
import type { RemoteResetError } from '../../src/protocol/errors.js'
import type { FrameHeader } from '../../src/protocol/frame.js'
import type { SessionConfig, SessionEvents } from '../../src/protocol/session.js'

const u32 = fc.integer({ min: 0, max: 0xffff_ffff })

/** Fields of one frame the peer sends; mostly valid, sometimes not */
export interface FuzzFrame {
  version: number
  type: number
  flags: number
  streamId: number
  length: number
  /** Data body bytes actually written (may be fewer than `length`: the rest is taken from what follows) */
  body: number
  /** Split the frame's bytes here before delivery (0: whole) */
  split: number
}

export const fuzzFrame: fc.Arbitrary<FuzzFrame> = fc.record({
  version: fc.oneof({ weight: 40, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  type: fc.oneof({ weight: 40, arbitrary: fc.integer({ min: 0, max: 3 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  flags: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(0, 1, 2, 4, 8, 3, 5, 6, 12) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
  streamId: fc.oneof({ weight: 12, arbitrary: fc.integer({ min: 0, max: 10 }) }, { weight: 1, arbitrary: u32 }),
  length: fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 200 }) },
    { weight: 3, arbitrary: fc.integer({ min: 0, max: 300_000 }) },
    { weight: 1, arbitrary: u32 }
  ),
  body: fc.nat(),
  split: fc.nat({ max: 40 })
})

export type LocalOp =
  | { op: 'open' }
  | { op: 'write', stream: number, bytes: number }
  | { op: 'closeWrite', stream: number }
  | { op: 'reset', stream: number, code: number }
  | { op: 'consume', stream: number, bytes: number }
  | { op: 'ping' }
  | { op: 'tick', ms: number }
  | { op: 'goAway', code: number }
  | { op: 'refuse' }
  | { op: 'abort' }
  | { op: 'take' }

export const localOp: fc.Arbitrary<LocalOp> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ op: 'open' as const }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('write' as const), stream: fc.nat(12), bytes: fc.integer({ min: 0, max: 300_000 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('closeWrite' as const), stream: fc.nat(12) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('reset' as const), stream: fc.nat(12), code: fc.oneof(fc.constant(0), u32) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('consume' as const), stream: fc.nat(12), bytes: fc.integer({ min: 0, max: 300_000 }) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'ping' as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 40_000 }) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'take' as const }) },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.record({ op: fc.constant('goAway' as const), code: fc.integer({ min: 0, max: 2 }) }),
      fc.constant({ op: 'refuse' as const }),
      fc.constant({ op: 'abort' as const })
    )
  }
)

export type Step = { frame: FuzzFrame } | { local: LocalOp }

export const steps = fc.array(fc.oneof(
  { weight: 3, arbitrary: fuzzFrame.map(f => ({ frame: f })) },
  { weight: 2, arbitrary: localOp.map(l => ({ local: l })) }
), { maxLength: 80, size: 'medium' })

/** The bytes of a fuzz frame, in one or two pieces */
export function frameBytes (f: FuzzFrame): Uint8Array[] {
  const bodyLength = f.type === 0 ? Math.min(f.length, f.body % 70_000) : 0
  const bytes = frame({ version: f.version, type: f.type, flags: f.flags, streamId: f.streamId, length: f.length }, new Uint8Array(bodyLength))
  if (f.split === 0 || f.split >= bytes.byteLength) {
    return [bytes]
  }
  return [bytes.subarray(0, f.split), bytes.subarray(f.split)]
}

// --- decoder --------------------------------------------------------------------

/** Random bytes, or frames with mutations, split anywhere */
export const decoderInput = fc.oneof(
  fc.uint8Array({ maxLength: 2000 }),
  fc.array(fuzzFrame, { maxLength: 30 }).map(frames => frames.flatMap(frameBytes)).chain(pieces =>
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }).map(flips => {
      // flip a few bytes anywhere
      const whole = concat(pieces)
      const total = whole.byteLength
      for (const [at, value] of flips) {
        if (total > 0) {
          whole[at % total] = value
        }
      }
      return whole
    })
  )
).chain(bytes => fc.array(fc.nat({ max: Math.max(0, bytes.byteLength) }), { maxLength: 8 }).map(cuts => ({ bytes, cuts })))

export function decoderProperty (): fc.IPropertyWithHooks<[{ bytes: Uint8Array, cuts: number[] }]> {
  return fc.property(decoderInput, ({ bytes, cuts }) => {
    let bodyBytes = 0
    let headers = 0
    const decoder = new FrameDecoder({
      onHeader (header: FrameHeader) {
        headers++
        if (header.type > 3) {
          throw new Error(`decoder passed on an unknown type ${header.type}`)
        }
        return header.streamId % 2 === 0
      },
      onBody (_header: FrameHeader, piece: Uint8Array) { bodyBytes += piece.byteLength },
      onFrameEnd () {}
    })
    const points = [...new Set(cuts)].sort((a, b) => a - b)
    let start = 0
    try {
      for (const cut of [...points, bytes.byteLength]) {
        decoder.write(bytes.subarray(start, cut))
        start = cut
      }
    } catch (err) {
      if (!(err instanceof ProtocolViolationError)) {
        throw err
      }
    }
    if (bodyBytes > bytes.byteLength || headers * 12 > bytes.byteLength) {
      throw new Error('decoder reported more bytes than it was given')
    }
  })
}

// --- session -----------------------------------------------------------------------

/** The error a fuzz input's local `abort` op uses */
class FuzzAbortError extends Error {
  readonly name = 'FuzzAbortError'
}

const FAILURE_NAMES = new Set(['ProtocolViolationError', 'RemoteGoAwayError', 'PingTimeoutError', 'FuzzAbortError'])
const API_ERRORS = new Set(['SessionClosedError', 'StreamNotWritableError', 'AckBacklogFullError', 'StreamIdExhaustedError'])

class Events implements SessionEvents {
  failures: Error[] = []
  inbound = new Set<number>()
  onOutput (): void {}
  onInboundStream (id: number): void { this.inbound.add(id) }
  onStreamData (): void {}
  onStreamRemoteClose (): void {}
  onStreamReset (_id: number, _error: RemoteResetError): void {}
  onStreamWritable (): void {}
  onAckBacklogAvailable (): void {}
  onPong (): void {}
  onRemoteGoAway (): void {}
  onSessionError (error: Error): void { this.failures.push(error) }
}

/** Check what the session sent: valid frames only, at most one Go Away */
class OutputChecker {
  private readonly maxPayload: number
  private readonly known: (id: number) => boolean
  private pending = new Uint8Array(0)
  goAways = 0
  bytes = 0

  constructor (maxFrameSize: number, known: (id: number) => boolean) {
    this.maxPayload = maxFrameSize - 12
    this.known = known
  }

  check (chunks: Uint8Array[]): void {
    for (const chunk of chunks) {
      this.bytes += chunk.byteLength
      const joined = new Uint8Array(this.pending.byteLength + chunk.byteLength)
      joined.set(this.pending)
      joined.set(chunk, this.pending.byteLength)
      let offset = 0
      while (joined.byteLength - offset >= 12) {
        const view = new DataView(joined.buffer, joined.byteOffset + offset, 12)
        const version = view.getUint8(0)
        const type = view.getUint8(1)
        const streamId = view.getUint32(4)
        const length = view.getUint32(8)
        if (version !== 0 || type > 3) {
          throw new Error(`session sent a bad header: version ${version}, type ${type}`)
        }
        if ((type === 2 || type === 3) !== (streamId === 0)) {
          throw new Error(`session sent type ${type} on stream ${streamId}`)
        }
        if (type === 3 && ++this.goAways > 1) {
          throw new Error('session sent more than one Go Away')
        }
        const body = type === 0 ? length : 0
        if (type === 0 && length > this.maxPayload) {
          throw new Error(`session sent a ${length} byte Data frame, more than the frame size allows`)
        }
        if (type === 0 && length > 0 && !this.known(streamId)) {
          throw new Error(`session sent data on stream ${streamId} it never opened or accepted`)
        }
        if (joined.byteLength - offset - 12 < body) {
          break
        }
        offset += 12 + body
      }
      this.pending = joined.slice(offset)
    }
  }
}

export interface SessionRun {
  frames: number
  violations: number
}

export function sessionConfig (role: 'client' | 'server', small: boolean): SessionConfig {
  return {
    role,
    initialStreamWindow: small ? 256 * 1024 : 1024 * 1024,
    maxStreamWindow: 16 * 1024 * 1024,
    connectionReceiveBudget: small ? 256 * 1024 * 4 : 64 * 1024 * 1024,
    maxFrameSize: small ? 1024 : 64 * 1024,
    maxInboundStreams: small ? 3 : 1000,
    keepAlive: true,
    keepAliveInterval: 10_000,
    pingTimeout: 5_000
  }
}

/** Drive one session with `input`; throws when an invariant breaks */
export function runSession (role: 'client' | 'server', small: boolean, input: Step[]): SessionRun {
  let now = 0
  const clock = { now: () => now }
  const config = sessionConfig(role, small)
  const events = new Events()
  const session = new YamuxSession(config, events, clock)
  const opened: number[] = []
  const known = (id: number): boolean => opened.includes(id) || events.inbound.has(id)
  const output = new OutputChecker(config.maxFrameSize, known)
  const ids = (): number[] => [...new Set([...opened, ...events.inbound, 1, 2, 3, 4])]
  const pick = (n: number): number => { const all = ids(); return all[n % all.length] }
  const payload = new Uint8Array(300_000)
  let frames = 0
  let received = 0

  const api = (what: string, fn: () => void): void => {
    try {
      fn()
    } catch (err: any) {
      if (!API_ERRORS.has(err?.name)) {
        throw new Error(`${what} threw ${err?.name}: ${err?.message}`)
      }
    }
  }

  for (const step of input) {
    if ('frame' in step) {
      for (const piece of frameBytes(step.frame)) {
        received += piece.byteLength
        // receive() must never throw
        session.receive(piece)
      }
      frames++
    } else {
      const l = step.local
      switch (l.op) {
        case 'open': api('openStream', () => { opened.push(session.openStream()) }); break
        case 'write': api('write', () => { session.write(pick(l.stream), payload.subarray(0, l.bytes)) }); break
        case 'closeWrite': api('closeWrite', () => { session.closeWrite(pick(l.stream)) }); break
        case 'reset': api('reset', () => { session.reset(pick(l.stream), l.code) }); break
        case 'consume': api('consume', () => { session.consume(pick(l.stream), l.bytes) }); break
        case 'ping': api('ping', () => { session.ping() }); break
        case 'tick': now += l.ms; api('tick', () => { session.tick() }); break
        case 'goAway': api('goAway', () => { session.goAway(l.code) }); break
        case 'refuse': session.refuseNewStreams(); break
        case 'abort': session.abort(new FuzzAbortError('local abort')); break
        case 'take': output.check(session.takeOutput()); break
        default: break
      }
    }
    // bounded state, whatever the input
    if (session.streamCount > config.maxInboundStreams + opened.length) {
      throw new Error(`session tracks ${session.streamCount} streams`)
    }
    if (session.receiveBudgetUsed > config.connectionReceiveBudget + session.streamCount * config.initialStreamWindow) {
      throw new Error(`receive budget ${session.receiveBudgetUsed} over its limit`)
    }
    // pending output: pongs, ACK/RSTs (12 bytes per 12 received at most), writes and window updates
    if (session.pendingOutputBytes > 64 * 12 + received + opened.length * 12 + 40 * 300_100 + 64 * 1024) {
      throw new Error(`pending output ${session.pendingOutputBytes} bytes after ${received} received`)
    }
  }
  output.check(session.takeOutput())
  if (events.failures.length > 1) {
    throw new Error(`onSessionError fired ${events.failures.length} times`)
  }
  for (const failure of events.failures) {
    if (!FAILURE_NAMES.has(failure.name)) {
      throw new Error(`session failed with an untyped error ${failure.name}: ${failure.message}`)
    }
  }
  if (session.failure != null) {
    // a failed session is quiet: nothing but possibly its Go Away, already taken
    session.receive(new Uint8Array(12))
    api('ping after failure', () => { session.ping() })
    if (session.pendingOutputBytes !== 0) {
      throw new Error('a failed session still produced output')
    }
    if (session.streamCount !== 0) {
      throw new Error('a failed session still tracks streams')
    }
  }
  return { frames, violations: events.failures.filter(f => f.name === 'ProtocolViolationError').length }
}

export function sessionProperty (stats: { frames: number, failures: number } = { frames: 0, failures: 0 }): fc.IPropertyWithHooks<[('client' | 'server'), boolean, Step[]]> {
  return fc.property(fc.constantFrom<'client' | 'server'>('client', 'server'), fc.boolean(), steps, (role, small, input) => {
    const result = runSession(role, small, input)
    stats.frames += result.frames
    stats.failures += result.violations
  })
}

// --- muxer (async) -----------------------------------------------------------------

/** Drive a js-libp2p muxer through a raw peer; the caller watches for escaped errors */
export async function runMuxer (role: 'client' | 'server', input: Step[]): Promise<void> {
  const peer = new RawPeer({ muxerRole: role, keepBodies: false, yamux: { maxInboundStreams: 4, maxMessageSize: 2048 } })
  const streams: Array<Awaited<ReturnType<typeof peer.muxer.createStream>>> = []
  try {
    for (const step of input) {
      if ('frame' in step) {
        peer.write(...frameBytes(step.frame))
        continue
      }
      const l = step.local
      const pickStream = (n: number): typeof streams[number] | undefined => streams[n % Math.max(1, streams.length)]
      try {
        switch (l.op) {
          case 'open': streams.push(await peer.muxer.createStream()); break
          case 'write': pickStream(l.stream)?.send(new Uint8Array(Math.min(l.bytes, 100_000))); break
          case 'closeWrite': void pickStream(l.stream)?.close().catch(() => {}); break
          case 'reset': pickStream(l.stream)?.abort(Object.assign(new Error('fuzz reset'), { code: l.code })); break
          case 'ping': void peer.muxer.ping({ signal: AbortSignal.timeout(50) }).catch(() => {}); break
          case 'take': await peer.flush(); break
          case 'abort': peer.muxer.abort(new Error('fuzz abort')); break
          case 'refuse': void peer.muxer.close({ signal: AbortSignal.timeout(50) }).catch(() => {}); break
          default: break
        }
      } catch (err: any) {
        // the application API may refuse (closed muxer, closed stream): with a named error only
        if (typeof err?.name !== 'string' || err.name === 'Error' || err.name === 'TypeError') {
          throw err
        }
      }
      for (const s of peer.accepted.splice(0)) {
        streams.push(s.stream)
      }
    }
    await peer.flush()
    if (peer.parseError != null) {
      throw new Error(peer.parseError)
    }
  } finally {
    await peer.close()
  }
}

export function muxerProperty (): fc.IAsyncPropertyWithHooks<[('client' | 'server'), Step[]]> {
  return fc.asyncProperty(fc.constantFrom<'client' | 'server'>('client', 'server'), steps, async (role, input) => {
    await runMuxer(role, input)
  })
}
