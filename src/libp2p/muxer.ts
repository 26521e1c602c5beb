/**
 * The js-libp2p 3 muxer: an `AbstractStreamMuxer` that feeds the connection's
 * bytes to the session engine, turns its events into stream events, and
 * writes the frames it produces, batched once per tick.
 */

import { MuxerClosedError } from '@libp2p/interface'
import { AbstractStreamMuxer } from '@libp2p/utils'
import { setMaxListeners } from 'main-event'
import { sessionConfig } from '../config.js'
import { TransportClosedError, TooManyOutboundStreamsError } from '../errors.js'
import { GoAwayCode } from '../protocol/constants.js'
import { SessionClosedError } from '../protocol/errors.js'
import { YamuxSession } from '../protocol/session.js'
import { clock, KeepAliveTimer } from '../shared/keepalive-timer.js'
import { PendingPings } from '../shared/pending-pings.js'
import { InactivitySweep } from './inactivity.js'
import { YamuxStream } from './stream.js'
import { TransportWriter } from './transport-writer.js'
import type { StreamChannel } from './stream.js'
import type { ResolvedOptions } from '../config.js'
import type { RemoteResetError } from '../protocol/errors.js'
import type { SessionEvents } from '../protocol/session.js'
import type { AbortOptions, CreateStreamOptions, MessageStream, MetricGroup } from '@libp2p/interface'
import type { SendResult } from '@libp2p/utils'
import type { Uint8ArrayList } from 'uint8arraylist'

/** Protocol id Yamux is negotiated under */
export const YAMUX_PROTOCOL_ID = '/yamux/1.0.0'

/** How long a failing session waits for its Go Away to be written before dropping the transport, in ms */
const GOAWAY_FLUSH_TIMEOUT = 1_000

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
  private readonly inactivity = new InactivitySweep()
  private readonly pings: PendingPings
  private ackBacklogWaiters: Array<() => void> = []
  private readonly writer: TransportWriter
  private readonly keepAlive: KeepAliveTimer
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
    this.writer = new TransportWriter(this.session, maConn, this.log)
    this.pings = new PendingPings(this.session)
    this.keepAlive = new KeepAliveTimer(this.session)
    this.keepAlive.start()
  }

  // --- bytes in and out ---------------------------------------------------------

  onData (data: Uint8Array | Uint8ArrayList): void {
    this.writer.receive(data)
  }

  /** Engine event: frames wait in the outbox */
  onOutput (): void {
    this.writer.scheduleFlush()
  }

  // --- StreamChannel (used by streams) -----------------------------------------------

  /** Stream channel: called by the streams */
  sendStreamData (stream: YamuxStream, data: Uint8Array | Uint8ArrayList): SendResult {
    return this.writer.send(stream, data)
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
    if (stream != null) {
      this.writer.wake(stream)
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
    this.pings.answered(value, rtt)
  }

  /** Engine event (SessionEvents) */
  onRemoteGoAway (): void {
    this.log('remote sent Go Away 0: draining, no new streams')
  }

  /** Engine event (SessionEvents) */
  onSessionError (error: Error): void {
    this.log.error('session failed - %e', error)
    this.stopTimers()
    this.pings.failAll(error)
    this.onAckBacklogAvailable()
    // streams end with `error` first: writing the Go Away may close a synchronous transport at once
    super.abort(error)
    this.writer.flush()
    this.closeTransport(error)
  }

  // --- streams -------------------------------------------------------------------------

  async onCreateStream (options: CreateStreamOptions): Promise<YamuxStream> {
    if (this.outboundCount >= this.options.maxOutboundStreams) {
      throw new TooManyOutboundStreamsError(`${this.outboundCount} outbound streams are open, the limit (maxOutboundStreams) is ${this.options.maxOutboundStreams}`)
    }
    while (this.session.canOpenStreams && this.session.ackBacklogFull) {
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
      maxPayload: this.session.maxPayload,
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
    this.writer.forget(stream)
    this.inactivity.remove(stream)
    if (stream.direction === 'outbound') {
      this.outboundCount--
    }
  }

  // --- session control ---------------------------------------------------------------

  /** Measure the round-trip time with a ping; resolves with it in ms */
  async ping (options?: AbortOptions): Promise<number> {
    return this.pings.ping(options?.signal)
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
    // createStream calls waiting for the ACK backlog give up now
    this.onAckBacklogAvailable()
    if (options?.signal != null) {
      // every stream's close listens to this one signal
      setMaxListeners(Infinity, options.signal)
    }
    try {
      await super.close(options)
    } finally {
      this.session.goAway(GoAwayCode.Normal)
      this.writer.flush()
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
    this.inactivity.stop()
    if (err == null && this.status !== 'closed' && this.streams.length > 0) {
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

  private stopTimers (): void {
    this.keepAlive.stop()
  }
}
