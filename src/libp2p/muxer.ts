/**
 * The js-libp2p 3 muxer: an `AbstractStreamMuxer` that feeds the connection's
 * bytes to the session engine, turns its events into stream events, and
 * writes the frames it produces, batched once per tick.
 */

import { MuxerClosedError } from '@libp2p/interface'
import { AbstractStreamMuxer } from '@libp2p/utils'
import { setMaxListeners } from 'main-event'
import { Uint8ArrayList } from 'uint8arraylist'
import { sessionConfig } from '../config.js'
import { TransportClosedError, TooManyOutboundStreamsError } from '../errors.js'
import { GoAwayCode } from '../protocol/constants.js'
import { SessionClosedError } from '../protocol/errors.js'
import { YamuxSession } from '../protocol/session.js'
import { InactivitySweep } from './inactivity.js'
import { YamuxStream } from './stream.js'
import type { StreamChannel } from './stream.js'
import type { ResolvedOptions } from '../config.js'
import type { RemoteResetError } from '../protocol/errors.js'
import type { SessionEvents } from '../protocol/session.js'
import type { AbortOptions, CreateStreamOptions, MessageStream, MetricGroup } from '@libp2p/interface'
import type { SendResult } from '@libp2p/utils'

/** Protocol id Yamux is negotiated under */
export const YAMUX_PROTOCOL_ID = '/yamux/1.0.0'

/**
 * Streams pause (`send()` returns false) while this many bytes (1 MiB) of
 * frames wait for the next flush, so one tick never hands the transport more
 * than about this much: large batches cost more in garbage collection than
 * they save in writes.
 */
export const FLUSH_HIGH_WATER_MARK = 1024 * 1024

/** What a woken stream with nothing buffered is assumed to write next, in bytes */
const TYPICAL_WRITE = 64 * 1024

/** How long a failing session waits for its Go Away to be written before dropping the transport, in ms */
const GOAWAY_FLUSH_TIMEOUT = 1_000

const clock = { now: () => performance.now() }

const nextTick: (fn: () => void) => void = (globalThis as { process?: { nextTick?(fn: () => void): void } }).process?.nextTick ?? queueMicrotask

/**
 * Run `fn` once the promise jobs of this tick have run (on Node), so a stream
 * opened, written and closed across `await`s leaves in one transport write;
 * elsewhere, as a microtask.
 */
function afterPromiseJobs (fn: () => void): void {
  queueMicrotask(() => { nextTick(fn) })
}

export interface YamuxMuxerInit {
  options: ResolvedOptions
  metrics?: MetricGroup
}

/** A Yamux session over one libp2p connection */
export class YamuxMuxer extends AbstractStreamMuxer<YamuxStream> implements SessionEvents, StreamChannel {
  /** The protocol engine; exposed for inspection (round-trip time, windows, stream states) */
  readonly session: YamuxSession
  private readonly options: ResolvedOptions
  private readonly byId = new Map<number, YamuxStream>()
  private readonly waitingForTransport = new Set<YamuxStream>()
  private readonly inactivity = new InactivitySweep()
  private readonly pendingPings = new Map<number, (result: number | Error) => void>()
  private ackBacklogWaiters: Array<() => void> = []
  private flushScheduled = false
  /** Inside `onData`: output is flushed when it returns, not in a microtask */
  private receiving = false
  private transportSaturated = false
  private keepAliveTimer: ReturnType<typeof setTimeout> | undefined
  private outboundCount = 0

  constructor (maConn: MessageStream, init: YamuxMuxerInit) {
    super(maConn, {
      protocol: YAMUX_PROTOCOL_ID,
      name: 'yamux',
      maxEarlyStreams: init.options.maxEarlyStreams,
      streamOptions: init.options.streamOptions,
      metrics: init.metrics
    })
    this.options = init.options
    const role = maConn.direction === 'outbound' ? 'client' : 'server'
    this.session = new YamuxSession(sessionConfig(init.options, role), this, clock)

    maConn.addEventListener('drain', () => {
      this.transportSaturated = false
      this.flush()
      this.wakeWaitingStreams()
    })
    this.scheduleKeepAlive()
  }

  // --- bytes in and out ---------------------------------------------------------

  onData (data: Uint8Array | Uint8ArrayList): void {
    this.receiving = true
    try {
      if (data instanceof Uint8Array) {
        this.session.receive(data)
      } else {
        for (const buf of data) {
          this.session.receive(buf)
        }
      }
    } finally {
      this.receiving = false
    }
    // what the frames (and the handlers they ran) produced leaves in one write, now
    this.flush()
  }

  /** Engine event: frames wait in the outbox */
  onOutput (): void {
    if (!this.receiving && !this.flushScheduled) {
      this.flushScheduled = true
      afterPromiseJobs(() => {
        this.flushScheduled = false
        this.flush()
      })
    }
  }

  private flush (): void {
    if (this.transportSaturated || this.session.pendingOutputBytes === 0) {
      return
    }
    const output = this.session.takeOutput()
    if (this.maConn.status !== 'open') {
      return
    }
    try {
      if (!this.maConn.send(output.length === 1 ? output[0] : new Uint8ArrayList(...output))) {
        this.transportSaturated = true
        return
      }
    } catch (err: any) {
      this.log.error('transport refused data - %e', err)
      return
    }
    this.wakeWaitingStreams()
  }

  // --- StreamChannel (used by streams) -----------------------------------------------

  /** Stream channel: called by the streams */
  sendStreamData (stream: YamuxStream, data: Uint8Array | Uint8ArrayList): SendResult {
    if (this.outputFull()) {
      this.waitingForTransport.add(stream)
      return { sentBytes: 0, canSendMore: false }
    }
    const sentBytes = this.session.write(stream.streamId, data, stream.maxMessageSize)
    if (sentBytes < data.byteLength) {
      // the window ran out: onStreamWritable wakes the stream when credit arrives
      return { sentBytes, canSendMore: false }
    }
    if (this.outputFull()) {
      this.waitingForTransport.add(stream)
      return { sentBytes, canSendMore: false }
    }
    // a stream that just used up its window exactly is stopped by its next write
    return { sentBytes, canSendMore: true }
  }

  /** The transport is saturated, or enough frames wait for the next flush */
  private outputFull (): boolean {
    return this.transportSaturated || this.session.pendingOutputBytes >= FLUSH_HIGH_WATER_MARK
  }

  /** Stream channel: called by the streams */
  closeWrite (id: number): void {
    this.session.closeWrite(id)
  }

  /** Stream channel: called by the streams */
  reset (id: number, code: number): void {
    this.session.reset(id, code)
  }

  /** Stream channel: called by the streams */
  consume (id: number, bytes: number): void {
    this.session.consume(id, bytes)
  }

  /**
   * Wake waiting streams in the order they started waiting, only as many as
   * the room left before the flush high-water mark is likely to take (a stream
   * woken for nothing would only queue itself again); the rest wait their turn.
   */
  private wakeWaitingStreams (): void {
    let room = FLUSH_HIGH_WATER_MARK - this.session.pendingOutputBytes
    const woken: YamuxStream[] = []
    for (const stream of this.waitingForTransport) {
      if (room <= 0 || this.transportSaturated) {
        break
      }
      woken.push(stream)
      room -= Math.max(stream.writeBufferLength, TYPICAL_WRITE)
    }
    for (const stream of woken) {
      this.waitingForTransport.delete(stream)
    }
    for (const stream of woken) {
      stream.safeDispatchEvent('drain')
    }
    if (this.waitingForTransport.size > 0) {
      // if the woken streams write nothing, no flush follows to wake the rest: do it here
      afterPromiseJobs(() => {
        if (this.session.pendingOutputBytes === 0 && !this.transportSaturated) {
          this.wakeWaitingStreams()
        }
      })
    }
  }

  // --- session events ---------------------------------------------------------------

  /** Engine event (SessionEvents) */
  onInboundStream (id: number): void {
    if (this.listenerCount('stream') === 0 && this.earlyStreams.length >= this.maxEarlyStreams) {
      this.log('refusing stream %d: %d streams already wait for a stream listener', id, this.earlyStreams.length)
      this.session.reset(id)
      return
    }
    const stream = this.newStream(id, 'inbound')
    this.onRemoteStream(stream)
  }

  /** Engine event (SessionEvents) */
  onStreamData (id: number, data: Uint8Array): void {
    const stream = this.byId.get(id)
    if (stream == null) {
      // the application already let go of this stream: keep its window moving
      this.session.consume(id, data.byteLength)
      return
    }
    stream.onData(data)
  }

  /** Engine event (SessionEvents) */
  onStreamRemoteClose (id: number): void {
    this.byId.get(id)?.onRemoteCloseWrite()
  }

  /** Engine event (SessionEvents) */
  onStreamReset (id: number, error: RemoteResetError): void {
    this.byId.get(id)?.onRemoteResetWith(error)
  }

  /** Engine event (SessionEvents) */
  onStreamWritable (id: number): void {
    const stream = this.byId.get(id)
    if (stream == null) {
      return
    }
    if (this.transportSaturated) {
      this.waitingForTransport.add(stream)
    } else {
      stream.safeDispatchEvent('drain')
    }
  }

  /** Engine event (SessionEvents) */
  onAckBacklogAvailable (): void {
    const waiters = this.ackBacklogWaiters
    this.ackBacklogWaiters = []
    waiters.forEach(wake => { wake() })
  }

  /** Engine event (SessionEvents) */
  onPong (value: number, rtt: number): void {
    const resolve = this.pendingPings.get(value)
    if (resolve != null) {
      this.pendingPings.delete(value)
      resolve(rtt)
    }
  }

  /** Engine event (SessionEvents) */
  onRemoteGoAway (): void {
    this.log('remote sent Go Away 0: draining, no new streams')
  }

  /** Engine event (SessionEvents) */
  onSessionError (error: Error): void {
    this.log.error('session failed - %e', error)
    this.stopTimers()
    for (const [value, settle] of this.pendingPings) {
      this.pendingPings.delete(value)
      settle(error)
    }
    this.flush()
    super.abort(error)
    this.closeTransport(error)
  }

  // --- streams -------------------------------------------------------------------------

  async onCreateStream (options: CreateStreamOptions): Promise<YamuxStream> {
    if (this.outboundCount >= this.options.maxOutboundStreams) {
      throw new TooManyOutboundStreamsError(`${this.outboundCount} outbound streams are open, the limit (maxOutboundStreams) is ${this.options.maxOutboundStreams}`)
    }
    while (this.session.canOpenStreams && this.session.ackBacklog >= 256) {
      options.signal?.throwIfAborted()
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => { reject(options.signal?.reason) }
        options.signal?.addEventListener('abort', onAbort, { once: true })
        this.ackBacklogWaiters.push(() => {
          options.signal?.removeEventListener('abort', onAbort)
          resolve()
        })
      })
    }
    let id: number
    try {
      id = this.session.openStream()
    } catch (err: any) {
      if (err instanceof SessionClosedError) {
        throw new MuxerClosedError(err.message)
      }
      throw err
    }
    const stream = this.newStream(id, 'outbound', options)
    this.outboundCount++
    return stream
  }

  private newStream (id: number, direction: 'inbound' | 'outbound', options: CreateStreamOptions = {}): YamuxStream {
    const streamOptions = { ...this.options.streamOptions, ...options }
    const stream = new YamuxStream({
      id,
      direction,
      // a scoped logger per stream costs time and memory; only pay for it when logging is on
      log: this.log.enabled ? this.log.newScope(`${direction}:${id}`) : this.log,
      channel: this,
      maxPayload: this.options.maxMessageSize - 12,
      maxReadBufferLength: streamOptions.maxReadBufferLength,
      maxWriteBufferLength: streamOptions.maxWriteBufferLength,
      inactivityTimeout: streamOptions.inactivityTimeout
    })
    this.byId.set(id, stream)
    this.inactivity.add(stream)
    return stream
  }

  /** Stream channel: the stream dispatched 'close' */
  onStreamClosed (stream: YamuxStream): void {
    if (this.byId.get(stream.streamId) !== stream) {
      return
    }
    this.byId.delete(stream.streamId)
    this.waitingForTransport.delete(stream)
    this.inactivity.remove(stream)
    if (stream.direction === 'outbound') {
      this.outboundCount--
    }
  }

  // --- session control ---------------------------------------------------------------

  /** Measure the round-trip time with a ping; resolves with it in ms */
  async ping (options?: AbortOptions): Promise<number> {
    options?.signal?.throwIfAborted()
    const value = this.session.ping()
    return new Promise<number>((resolve, reject) => {
      const onAbort = (): void => {
        this.pendingPings.delete(value)
        this.session.cancelPing(value)
        reject(options?.signal?.reason)
      }
      options?.signal?.addEventListener('abort', onAbort, { once: true })
      this.pendingPings.set(value, result => {
        options?.signal?.removeEventListener('abort', onAbort)
        if (result instanceof Error) {
          reject(result)
        } else {
          resolve(result)
        }
      })
    })
  }

  /**
   * Graceful close: no new streams, every stream finishes sending what it was
   * given, then Go Away 0. Bounded by `options.signal`.
   */
  async close (options?: AbortOptions): Promise<void> {
    if (this.status !== 'open') {
      return
    }
    this.session.refuseNewStreams()
    if (options?.signal != null) {
      // every stream's close listens to this one signal
      setMaxListeners(Infinity, options.signal)
    }
    try {
      await super.close(options)
    } finally {
      this.session.goAway(GoAwayCode.Normal)
      this.flush()
      this.stopTimers()
    }
  }

  /** Go Away 2 (1 for a protocol violation), every stream aborted, the transport closed */
  abort (err: Error): void {
    if (this.status === 'closed') {
      return
    }
    this.stopTimers()
    this.session.abort(err)
  }

  /** The transport closed: streams still open end with an error unless we were closing anyway */
  onTransportClosed (err?: Error): void {
    this.stopTimers()
    if (err == null && this.status === 'open' && this.streams.length > 0) {
      err = new TransportClosedError(`the connection closed with ${this.streams.length} streams still open`)
    }
    super.onTransportClosed(err)
  }

  private closeTransport (error: Error): void {
    if (this.maConn.status !== 'open') {
      return
    }
    this.maConn.close({ signal: AbortSignal.timeout(GOAWAY_FLUSH_TIMEOUT) })
      .catch(() => { this.maConn.abort(error) })
  }

  private scheduleKeepAlive (): void {
    clearTimeout(this.keepAliveTimer)
    const at = this.session.nextTickAt()
    if (at === undefined) {
      return
    }
    this.keepAliveTimer = setTimeout(() => {
      this.session.tick()
      this.scheduleKeepAlive()
    }, Math.max(0, at - clock.now()))
    this.keepAliveTimer.unref?.()
  }

  private stopTimers (): void {
    clearTimeout(this.keepAliveTimer)
    this.keepAliveTimer = undefined
  }
}
