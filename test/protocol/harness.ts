/**
 * Shared helpers for the protocol core's unit tests: a fake clock, frame
 * builders, a decoder for produced output, a `TestSession` that records every
 * event, and `link()` to connect two sessions in memory.
 */

import { resolveOptions, sessionConfig } from '../../src/config.js'
import { Flag, FrameType, HEADER_LENGTH } from '../../src/protocol/constants.js'
import { decodeHeader, encodeHeader } from '../../src/protocol/frame.js'
import { YamuxSession } from '../../src/protocol/session.js'
import type { RemoteResetError } from '../../src/protocol/errors.js'
import type { FrameHeader } from '../../src/protocol/frame.js'
import type { Clock, SessionConfig, SessionEvents } from '../../src/protocol/session.js'

export const KiB = 1024
export const MiB = 1024 * 1024

/** A clock that only moves when told to */
export class FakeClock implements Clock {
  t: number

  constructor (start = 0) {
    this.t = start
  }

  now (): number {
    return this.t
  }

  advance (ms: number): void {
    this.t += ms
  }
}

/** A decoded frame: its header and, for Data frames, its body */
export interface Frame extends FrameHeader {
  body: Uint8Array
}

// --- frame builders ----------------------------------------------------------

/** Encode one frame: header plus optional body (the header length is taken from `length`) */
export function frame (type: FrameType, flags: number, streamId: number, length: number, body?: Uint8Array): Uint8Array {
  const header = encodeHeader({ type, flags, streamId, length })
  if (body == null) {
    return header
  }
  return concat([header, body])
}

/** A Data frame carrying `body` (or `body` zero bytes when a number) */
export function dataFrame (streamId: number, body: Uint8Array | number, flags = 0): Uint8Array {
  const bytes = typeof body === 'number' ? new Uint8Array(body) : body
  return frame(FrameType.Data, flags, streamId, bytes.byteLength, bytes)
}

/** A Data frame header only, announcing `length` body bytes */
export function dataHeader (streamId: number, length: number, flags = 0): Uint8Array {
  return frame(FrameType.Data, flags, streamId, length)
}

export function windowUpdate (streamId: number, length: number, flags = 0): Uint8Array {
  return frame(FrameType.WindowUpdate, flags, streamId, length)
}

export function pingFrame (value: number, flags: number): Uint8Array {
  return frame(FrameType.Ping, flags, 0, value)
}

export function goAwayFrame (code: number): Uint8Array {
  return frame(FrameType.GoAway, 0, 0, code)
}

/** Bytes with a recognisable pattern */
export function pattern (length: number, seed = 0): Uint8Array {
  const bytes = new Uint8Array(length)
  for (let i = 0; i < length; i++) {
    bytes[i] = (i * 31 + seed) & 0xff
  }
  return bytes
}

export function concat (chunks: Uint8Array[]): Uint8Array {
  let length = 0
  for (const chunk of chunks) {
    length += chunk.byteLength
  }
  const out = new Uint8Array(length)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out
}

/** Parse a complete byte string of frames (throws on a truncated one) */
export function parseFrames (chunks: Uint8Array[] | Uint8Array): Frame[] {
  const bytes = chunks instanceof Uint8Array ? chunks : concat(chunks)
  const frames: Frame[] = []
  let offset = 0
  while (offset < bytes.byteLength) {
    if (bytes.byteLength - offset < HEADER_LENGTH) {
      throw new Error(`truncated header at offset ${offset}`)
    }
    const header = decodeHeader(bytes, offset)
    offset += HEADER_LENGTH
    let body = new Uint8Array(0)
    if (header.type === FrameType.Data) {
      if (bytes.byteLength - offset < header.length) {
        throw new Error(`truncated body at offset ${offset}`)
      }
      body = bytes.slice(offset, offset + header.length)
      offset += header.length
    }
    frames.push({ ...header, body })
  }
  return frames
}

// --- sessions ----------------------------------------------------------------

export type TestConfig = Partial<SessionConfig> & { role: 'client' | 'server' }

/** A full session config from the package defaults, with `overrides` applied */
export function testConfig (overrides: TestConfig): SessionConfig {
  return { ...sessionConfig(resolveOptions(), overrides.role), maxFrameSize: TEST_FRAME_SIZE, ...overrides }
}

/** Engine tests use 64 KiB frames (header included): the geometry their numbers are worked out for */
export const TEST_FRAME_SIZE = 64 * 1024

/** Largest Data payload of a {@link TEST_FRAME_SIZE} frame, in bytes */
export const TEST_MAX_PAYLOAD = TEST_FRAME_SIZE - HEADER_LENGTH

/** A `YamuxSession` with every event recorded */
export class TestSession implements SessionEvents {
  readonly session: YamuxSession
  readonly clock: FakeClock
  readonly config: SessionConfig
  /** Every event in order, as short strings (`data:1:5`, `remoteClose:1`, ...) */
  readonly log: string[] = []
  outputEvents = 0
  readonly inbound: number[] = []
  readonly data = new Map<number, Uint8Array[]>()
  readonly remoteCloses: number[] = []
  readonly resets: Array<{ id: number, error: RemoteResetError }> = []
  readonly writable: number[] = []
  ackBacklogAvailable = 0
  readonly pongs: Array<{ value: number, rtt: number }> = []
  remoteGoAways = 0
  readonly errors: Error[] = []
  /** Consume every data piece as soon as it is delivered, inside `onStreamData` */
  autoConsume = false

  constructor (overrides: TestConfig, clock = new FakeClock()) {
    this.clock = clock
    this.config = testConfig(overrides)
    this.session = new YamuxSession(this.config, this, clock)
  }

  onOutput (): void {
    this.outputEvents++
  }

  onInboundStream (id: number): void {
    this.log.push(`inbound:${id}`)
    this.inbound.push(id)
  }

  onStreamData (id: number, data: Uint8Array): void {
    this.log.push(`data:${id}:${data.byteLength}`)
    let list = this.data.get(id)
    if (list == null) {
      list = []
      this.data.set(id, list)
    }
    list.push(data.slice())
    if (this.autoConsume) {
      this.session.consume(id, data.byteLength)
    }
  }

  onStreamRemoteClose (id: number): void {
    this.log.push(`remoteClose:${id}`)
    this.remoteCloses.push(id)
  }

  onStreamReset (id: number, error: RemoteResetError): void {
    this.log.push(`reset:${id}`)
    this.resets.push({ id, error })
  }

  onStreamWritable (id: number): void {
    this.log.push(`writable:${id}`)
    this.writable.push(id)
  }

  onAckBacklogAvailable (): void {
    this.log.push('ackBacklogAvailable')
    this.ackBacklogAvailable++
  }

  onPong (value: number, rtt: number): void {
    this.log.push(`pong:${value}:${rtt}`)
    this.pongs.push({ value, rtt })
  }

  onRemoteGoAway (): void {
    this.log.push('remoteGoAway')
    this.remoteGoAways++
  }

  onSessionError (error: Error): void {
    this.log.push(`error:${error.name}`)
    this.errors.push(error)
  }

  /** Feed each chunk to the session in turn */
  receive (...chunks: Uint8Array[]): void {
    for (const chunk of chunks) {
      this.session.receive(chunk)
    }
  }

  /** Take the produced output and parse it into frames */
  takeFrames (): Frame[] {
    return parseFrames(this.session.takeOutput())
  }

  /** Every byte delivered for stream `id`, concatenated */
  received (id: number): Uint8Array {
    return concat(this.data.get(id) ?? [])
  }

  /** Count of bytes delivered for stream `id` */
  receivedBytes (id: number): number {
    return (this.data.get(id) ?? []).reduce((sum, piece) => sum + piece.byteLength, 0)
  }
}

/** Frames that travelled between two linked sessions */
export interface LinkTrace {
  aToB: Frame[]
  bToA: Frame[]
}

/**
 * Pump the output of each session into the other until both are quiet.
 * Returns the frames that went each way.
 */
export function link (a: TestSession, b: TestSession, maxRounds = 10_000): LinkTrace {
  const trace: LinkTrace = { aToB: [], bToA: [] }
  for (let round = 0; round < maxRounds; round++) {
    const fromA = concat(a.session.takeOutput())
    const fromB = concat(b.session.takeOutput())
    if (fromA.byteLength === 0 && fromB.byteLength === 0) {
      return trace
    }
    if (fromA.byteLength > 0) {
      trace.aToB.push(...parseFrames(fromA))
      b.session.receive(fromA)
    }
    if (fromB.byteLength > 0) {
      trace.bToA.push(...parseFrames(fromB))
      a.session.receive(fromB)
    }
  }
  throw new Error('link did not go quiet')
}

/** A client/server pair on one fake clock */
export function pair (client: Partial<SessionConfig> = {}, server: Partial<SessionConfig> = {}): { clock: FakeClock, a: TestSession, b: TestSession } {
  const clock = new FakeClock()
  const a = new TestSession({ ...client, role: 'client' }, clock)
  const b = new TestSession({ ...server, role: 'server' }, clock)
  return { clock, a, b }
}

/** Short description of a frame for assertion messages */
export function show (f: FrameHeader): string {
  return `${FrameType[f.type]} flags=${f.flags} id=${f.streamId} len=${f.length}`
}

/** Only the frames that belong to streams (Data and Window Update), dropping pings and Go Away */
export function streamFrames (frames: Frame[]): Frame[] {
  return frames.filter(f => f.type === FrameType.Data || f.type === FrameType.WindowUpdate)
}

/** Only the Ping frames */
export function pingFrames (frames: Frame[]): Frame[] {
  return frames.filter(f => f.type === FrameType.Ping)
}

/** Only the Go Away frames */
export function goAwayFrames (frames: Frame[]): Frame[] {
  return frames.filter(f => f.type === FrameType.GoAway)
}

/**
 * A client that opened stream 1 (SYN sent, RTT ping sent) and got its ACK
 * from the simulated server; its output has been taken.
 */
export function clientWithStream (overrides: Partial<SessionConfig> = {}, clock = new FakeClock()): { t: TestSession, id: number } {
  const t = new TestSession({ ...overrides, role: 'client' }, clock)
  const id = t.session.openStream()
  t.receive(windowUpdate(id, 0, Flag.ACK))
  t.session.takeOutput()
  return { t, id }
}
