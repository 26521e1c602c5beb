/**
 * A scripted raw Yamux peer for hostile-input tests.
 *
 * One end of an in-memory connection is our muxer; the other end is this
 * script, which writes arbitrary bytes or frames (nothing stops it from
 * breaking the protocol) and records and decodes everything our muxer sends
 * back. It decodes with its own parser, not ours, so a bug shared by our
 * encoder and decoder cannot hide.
 *
 * The transport behaves like a socket: the peer's writes arrive
 * asynchronously, in pieces of at most 64 KiB; our muxer's writes are accepted
 * whole, and while the peer does not read, a simulated kernel buffer fills up
 * and the transport reports backpressure (`send()` returns false) until the
 * peer reads again.
 */

import { defaultLogger } from '@libp2p/logger'
import { AbstractMultiaddrConnection } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { Uint8ArrayList } from 'uint8arraylist'
import { yamux } from '../../src/index.js'
import { concat } from '../protocol/harness.js'
import type { YamuxInit } from '../../src/index.js'
import type { YamuxMuxer } from '../../src/libp2p/muxer.js'
import type { YamuxStream } from '../../src/libp2p/stream.js'
import type { AbortOptions, MessageStreamDirection } from '@libp2p/interface'
import type { SendResult } from '@libp2p/utils'

export { concat }

export const TYPE = { Data: 0, WindowUpdate: 1, Ping: 2, GoAway: 3 } as const
export const FLAG = { SYN: 1, ACK: 2, FIN: 4, RST: 8 } as const

/** A frame header as the raw peer writes or reads it; every field may hold any value */
export interface RawHeader {
  version?: number
  type: number
  flags?: number
  streamId?: number
  length?: number
}

/** A frame our muxer sent, as the raw peer decoded it */
export interface RawFrame {
  version: number
  type: number
  flags: number
  streamId: number
  length: number
  /** Data payload (empty for other types, or when bodies are not kept) */
  body: Uint8Array
  /** Position among the frames received, from 0 */
  index: number
}

/** Encode a 12-byte header with no checks at all (our own encoder refuses nothing either, but this one is independent) */
export function header (h: RawHeader): Uint8Array {
  const out = new Uint8Array(12)
  const view = new DataView(out.buffer)
  view.setUint8(0, h.version ?? 0)
  view.setUint8(1, h.type)
  view.setUint16(2, h.flags ?? 0)
  view.setUint32(4, h.streamId ?? 0)
  view.setUint32(8, h.length ?? 0)
  return out
}

/** A whole frame: header (length defaults to the body's) and body */
export function frame (h: RawHeader, body?: Uint8Array): Uint8Array {
  const head = header({ ...h, length: h.length ?? body?.byteLength ?? 0 })
  if (body == null || body.byteLength === 0) {
    return head
  }
  return concat([head, body])
}

/** Describe a frame for assertion messages */
export function describe (f: Pick<RawFrame, 'type' | 'flags' | 'streamId' | 'length'>): string {
  const type = ['Data', 'WindowUpdate', 'Ping', 'GoAway'][f.type] ?? `type${f.type}`
  const flags = Object.entries(FLAG).filter(([, bit]) => (f.flags & bit) !== 0).map(([name]) => name)
  return `${type}${flags.length > 0 ? `[${flags.join('|')}]` : ''}(id=${f.streamId}, len=${f.length})`
}

/** The muxer's end of the in-memory connection */
class RawConnection extends AbstractMultiaddrConnection {
  private readonly peer: RawPeer

  constructor (peer: RawPeer, direction: MessageStreamDirection) {
    super({
      remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/4001'),
      direction,
      log: defaultLogger().forComponent('yamux:test:raw-peer'),
      // the connection itself must never abort for buffered data
      maxReadBufferLength: Infinity,
      inactivityTimeout: 0
    })
    this.peer = peer
  }

  sendData (data: Uint8ArrayList): SendResult {
    return { sentBytes: data.byteLength, canSendMore: this.peer.acceptFromMuxer(data) }
  }

  sendReset (): void {
    this.peer.transportResetByMuxer = true
    this.peer.notify()
  }

  async sendClose (options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    this.peer.transportClosedByMuxer = true
    this.peer.notify()
  }

  sendPause (): void {}
  sendResume (): void {}

  /** The peer's bytes arrive */
  deliver (chunk: Uint8Array): void {
    if (this.status !== 'open') {
      return
    }
    this.onData(chunk)
  }
}

export interface RawPeerInit {
  /** Our muxer's role: 'server' (default; the peer is a client and opens odd ids) or 'client' */
  muxerRole?: 'client' | 'server'
  /** Options for our muxer; keepalive is off unless asked for */
  yamux?: YamuxInit
  /** Bytes the simulated kernel buffer holds while the peer does not read (default 256 KiB) */
  socketBuffer?: number
  /** Keep Data bodies of received frames (default true) */
  keepBodies?: boolean
  /** Register a 'stream' listener that collects inbound streams (default true) */
  acceptStreams?: boolean
  /** Read accepted streams (attach a 'message' listener); default true */
  readStreams?: boolean
}

/** What happened to a stream of our muxer, for assertions */
export interface StreamRecord {
  stream: YamuxStream
  chunks: Uint8Array[]
  bytes: number
  ended: boolean
  closeError?: Error
  closed: Promise<Error | undefined>
}

/** Follow a stream: collect its data through 'message' events, note its end and close error */
export function track (stream: YamuxStream, options: { read?: boolean } = {}): StreamRecord {
  let resolveClosed!: (err: Error | undefined) => void
  const record: StreamRecord = {
    stream,
    chunks: [],
    bytes: 0,
    ended: false,
    closed: new Promise(resolve => { resolveClosed = resolve })
  }
  if (options.read ?? true) {
    stream.addEventListener('message', (evt) => {
      const data = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()
      record.chunks.push(data)
      record.bytes += data.byteLength
    })
  }
  stream.addEventListener('end', () => { record.ended = true })
  stream.addEventListener('close', (evt) => {
    record.closeError = evt.error
    resolveClosed(evt.error)
  })
  return record
}

export class RawPeer {
  readonly muxer: YamuxMuxer
  readonly conn: RawConnection
  /** Every frame our muxer sent, decoded, in order */
  readonly frames: RawFrame[] = []
  /** Inbound streams our muxer handed to the application */
  readonly accepted: StreamRecord[] = []
  /** Bytes our muxer wrote that the peer has read */
  bytesRead = 0
  /** Bytes our muxer wrote that sit in the simulated kernel buffer, unread */
  unreadBytes = 0
  /** Most bytes ever unread at once */
  maxUnreadBytes = 0
  /** Our muxer's output could not be parsed (a bug on our side) */
  parseError: string | undefined
  transportClosedByMuxer = false
  transportResetByMuxer = false
  /** The peer closed or reset the transport */
  ended = false

  private readonly socketBuffer: number
  private readonly keepBodies: boolean
  private reading = true
  private readonly unread: Uint8ArrayList = new Uint8ArrayList()
  private readonly inbox = new Uint8ArrayList()
  private readonly outQueue: Uint8Array[] = []
  private delivering = false
  private readonly waiters = new Set<() => void>()
  private readonly idleWaiters: Array<() => void> = []

  constructor (init: RawPeerInit = {}) {
    this.socketBuffer = init.socketBuffer ?? 256 * 1024
    this.keepBodies = init.keepBodies ?? true
    const muxerRole = init.muxerRole ?? 'server'
    this.conn = new RawConnection(this, muxerRole === 'client' ? 'outbound' : 'inbound')
    this.muxer = yamux({ enableKeepAlive: false, ...init.yamux })().createStreamMuxer(this.conn)
    if (init.acceptStreams ?? true) {
      this.muxer.addEventListener('stream', (evt) => {
        this.accepted.push(track(evt.detail, { read: init.readStreams }))
      })
    }
  }

  /** Ids the peer should use to open streams: odd when our muxer is the server */
  get peerParity (): 0 | 1 {
    return this.conn.direction === 'inbound' ? 1 : 0
  }

  /** The `n`th stream id (from 0) the peer may open with the right parity */
  peerId (n: number): number {
    return this.peerParity === 1 ? 2 * n + 1 : 2 * n + 2
  }

  // --- writing -----------------------------------------------------------------

  /** Write raw bytes to our muxer; they arrive asynchronously in pieces of at most 64 KiB */
  write (...chunks: Uint8Array[]): void {
    for (const chunk of chunks) {
      for (let offset = 0; offset < chunk.byteLength; offset += 65536) {
        this.outQueue.push(chunk.subarray(offset, Math.min(chunk.byteLength, offset + 65536)))
      }
    }
    this.scheduleDelivery()
  }

  /** Write one frame */
  send (h: RawHeader, body?: Uint8Array): void {
    this.write(frame(h, body))
  }

  /** Resolves when every byte written so far has been handed to our muxer and its reactions had a chance to run */
  async flush (): Promise<void> {
    if (this.delivering || this.outQueue.length > 0) {
      await new Promise<void>(resolve => { this.idleWaiters.push(resolve) })
    }
    // let the muxer's microtask flush and any follow-up run
    await new Promise(resolve => setImmediate(resolve))
    await new Promise(resolve => setImmediate(resolve))
  }

  /** Bytes written but not yet handed to our muxer */
  get pendingWriteBytes (): number {
    return this.outQueue.reduce((sum, c) => sum + c.byteLength, 0)
  }

  private scheduleDelivery (): void {
    if (this.delivering) {
      return
    }
    this.delivering = true
    const step = (): void => {
      const chunk = this.outQueue.shift()
      if (chunk == null || this.ended) {
        this.outQueue.length = 0
        this.delivering = false
        this.idleWaiters.splice(0).forEach(wake => { wake() })
        return
      }
      this.conn.deliver(chunk)
      setImmediate(step)
    }
    setImmediate(step)
  }

  /** The peer closes the transport (like a TCP FIN); our muxer sees it after pending writes arrive */
  async end (): Promise<void> {
    await this.flush()
    this.ended = true
    this.conn.onTransportClosed()
  }

  /** The peer resets the transport at once (like a TCP RST); unsent writes are lost */
  reset (): void {
    this.ended = true
    this.outQueue.length = 0
    this.conn.onRemoteReset()
  }

  // --- reading -----------------------------------------------------------------

  /** Stop reading: our muxer's writes pile up in the kernel buffer, then the transport reports backpressure */
  stopReading (): void {
    this.reading = false
  }

  /** Read again: everything buffered is decoded and the transport drains */
  resumeReading (): void {
    this.reading = true
    const pending = this.unread.subarray()
    this.unread.consume(this.unread.byteLength)
    this.unreadBytes = 0
    if (pending.byteLength > 0) {
      this.read(pending)
    }
    if (this.conn.writableNeedsDrain) {
      this.conn.safeDispatchEvent('drain')
    }
  }

  /** Our muxer's transport hands over bytes; returns whether it may send more (internal) */
  acceptFromMuxer (data: Uint8ArrayList): boolean {
    if (this.reading) {
      for (const piece of data) {
        this.read(piece)
      }
      return true
    }
    for (const piece of data) {
      // copy: a socket copies into the kernel, and the muxer may reuse its buffers
      this.unread.append(piece.slice())
    }
    this.unreadBytes = this.unread.byteLength
    this.maxUnreadBytes = Math.max(this.maxUnreadBytes, this.unreadBytes)
    return this.unreadBytes < this.socketBuffer
  }

  private read (bytes: Uint8Array): void {
    this.bytesRead += bytes.byteLength
    this.inbox.append(bytes)
    while (this.parseError == null && this.inbox.byteLength >= 12) {
      const head = this.inbox.subarray(0, 12)
      const view = new DataView(head.buffer, head.byteOffset, 12)
      const version = view.getUint8(0)
      const type = view.getUint8(1)
      const flags = view.getUint16(2)
      const streamId = view.getUint32(4)
      const length = view.getUint32(8)
      if (version !== 0 || type > 3) {
        this.parseError = `our muxer sent a bad header: version ${version} type ${type}`
        break
      }
      const bodyLength = type === TYPE.Data ? length : 0
      if (this.inbox.byteLength < 12 + bodyLength) {
        break
      }
      const body = bodyLength > 0 && this.keepBodies ? this.inbox.subarray(12, 12 + bodyLength) : new Uint8Array(0)
      this.inbox.consume(12 + bodyLength)
      this.frames.push({ version, type, flags, streamId, length, body, index: this.frames.length })
    }
    this.notify()
  }

  /** Wake everyone waiting for a frame or a transport event (internal) */
  notify (): void {
    for (const wake of [...this.waiters]) {
      wake()
    }
  }

  // --- waiting -----------------------------------------------------------------

  /** Resolves when `condition()` holds (checked on every frame or transport event), rejects after `timeout` ms */
  async waitFor (condition: () => boolean, timeout = 2000, what = 'condition'): Promise<void> {
    if (condition()) {
      return
    }
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (condition()) {
          clearTimeout(timer)
          clearInterval(poll)
          this.waiters.delete(check)
          resolve()
        }
      }
      const timer = setTimeout(() => {
        clearInterval(poll)
        this.waiters.delete(check)
        reject(new Error(`timed out after ${timeout} ms waiting for ${what}; frames received: ${this.summary()}`))
      }, timeout)
      // state changes that produce no frame (stream events) are caught by polling
      const poll = setInterval(check, 5)
      this.waiters.add(check)
    })
  }

  /** Resolves with the first frame (from index `from`) that matches, rejects after `timeout` ms */
  async waitForFrame (predicate: (f: RawFrame) => boolean, timeout = 2000, from = 0): Promise<RawFrame> {
    let found: RawFrame | undefined
    await this.waitFor(() => {
      found = this.frames.slice(from).find(predicate)
      return found != null
    }, timeout, 'a matching frame')
    return found as RawFrame
  }

  /** Resolves when our muxer closed or reset the transport */
  async waitForTransportEnd (timeout = 2000): Promise<void> {
    await this.waitFor(() => this.transportClosedByMuxer || this.transportResetByMuxer || this.conn.status !== 'open', timeout, 'the transport to end')
  }

  /** Frames matching `predicate` */
  framesWhere (predicate: (f: RawFrame) => boolean): RawFrame[] {
    return this.frames.filter(predicate)
  }

  /** Go Away frames our muxer sent */
  get goAways (): RawFrame[] {
    return this.framesWhere(f => f.type === TYPE.GoAway)
  }

  /** A short list of the frames received, for failure messages */
  summary (limit = 20): string {
    const shown = this.frames.slice(-limit).map(describe).join(', ')
    return `${this.frames.length} frames${this.frames.length > limit ? ` (last ${limit})` : ''}: ${shown}${this.parseError != null ? `; PARSE ERROR: ${this.parseError}` : ''}`
  }

  /** Open a stream from the peer's side: SYN on a Window Update; returns the id */
  openStream (id: number, flagsExtra = 0): number {
    this.send({ type: TYPE.WindowUpdate, flags: FLAG.SYN | flagsExtra, streamId: id, length: 0 })
    return id
  }

  /** Tear down: abort our muxer and end the transport, swallowing whatever they report */
  async close (): Promise<void> {
    try {
      this.muxer.abort(new Error('test over'))
    } catch {
      // a test may have left the muxer in any state; teardown must not fail
    }
    this.ended = true
    this.outQueue.length = 0
    if (this.conn.status === 'open') {
      this.conn.abort(new Error('test over'))
    }
    await new Promise(resolve => setImmediate(resolve))
  }
}

/** Resolves after `ms` milliseconds */
export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/** Resolves once `condition()` holds (polled every millisecond), rejects after `ms` */
export async function waitUntil (condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms
  while (!condition()) {
    if (performance.now() > deadline) {
      throw new Error(`${what} did not happen within ${ms} ms`)
    }
    await sleep(1)
  }
}

/** Resolve with `promise`'s value, or reject when it takes more than `ms` */
export async function within<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => { reject(new Error(`${what} did not happen within ${ms} ms`)) }, ms)
      })
    ])
  } finally {
    clearTimeout(timer)
  }
}
