/**
 * A Yamux session without libp2p, as an it-pipe style duplex: pipe the
 * transport's bytes into `sink` and `source` back into the transport.
 *
 * ```ts
 * const session = new DuplexSession({ role: 'client' })
 * pipe(socketSource, session, socketSink)
 * const stream = await session.openStream()
 * ```
 */

import { resolveOptions, sessionConfig } from '../config.js'
import { TransportClosedError } from '../errors.js'
import { GoAwayCode } from '../protocol/constants.js'
import { SessionClosedError } from '../protocol/errors.js'
import { YamuxSession } from '../protocol/session.js'
import { clock, KeepAliveTimer } from '../shared/keepalive-timer.js'
import { PendingPings } from '../shared/pending-pings.js'
import { SessionStream } from './stream.js'
import type { SessionStreamChannel } from './stream.js'
import type { YamuxOptions } from '../config.js'
import type { RemoteResetError } from '../protocol/errors.js'
import type { SessionEvents } from '../protocol/session.js'
import type { Uint8ArrayList } from 'uint8arraylist'

/** Writers wait while more than this many bytes (1 MiB) of frames wait for the transport */
export const OUTPUT_HIGH_WATER_MARK = 1024 * 1024

/** Options of a {@link DuplexSession} */
export interface DuplexSessionInit extends YamuxOptions {
  /** The client opens odd stream ids, the server even ones; the side that dialed is usually the client */
  role: 'client' | 'server'
}

/** Options of calls that may wait */
export interface WaitOptions {
  signal?: AbortSignal
}

/** A Yamux session over any reliable byte stream */
export class DuplexSession implements SessionEvents, SessionStreamChannel {
  /** The protocol engine (round-trip time, stream states, windows) */
  readonly core: YamuxSession
  /** Resolves when the session has ended, normally or not */
  readonly closed: Promise<void>
  private readonly streams = new Map<number, SessionStream>()
  private readonly accepted: SessionStream[] = []
  private readonly pings: PendingPings
  private readonly waiters = new Set<() => void>()
  private outputWaiter: (() => void) | undefined
  private ended = false
  private endError: Error | undefined
  private resolveClosed!: () => void
  private readonly keepAlive: KeepAliveTimer

  constructor (init: DuplexSessionInit) {
    const { role, ...options } = init
    this.core = new YamuxSession(sessionConfig(resolveOptions(options), role), this, clock)
    this.closed = new Promise(resolve => { this.resolveClosed = resolve })
    this.pings = new PendingPings(this.core)
    this.source = this.produce()
    this.keepAlive = new KeepAliveTimer(this.core)
    this.keepAlive.start()
  }

  /** Frames to write to the transport, pulled at the transport's pace */
  readonly source: AsyncGenerator<Uint8Array>

  /** Consume the transport's bytes; resolves when the transport ends */
  sink = async (source: AsyncIterable<Uint8Array | Uint8ArrayList>): Promise<void> => {
    try {
      for await (const chunk of source) {
        if (this.ended) {
          break
        }
        if (chunk instanceof Uint8Array) {
          this.core.receive(chunk)
        } else {
          for (const piece of chunk) {
            this.core.receive(piece)
          }
        }
      }
      this.end(this.streams.size > 0 ? new TransportClosedError(`the transport ended with ${this.streams.size} streams open`) : undefined)
    } catch (err: any) {
      this.end(err)
    }
  }

  private async * produce (): AsyncGenerator<Uint8Array> {
    while (true) {
      if (this.core.pendingOutputBytes > 0) {
        yield * this.core.takeOutput()
        this.wakeWriters()
        continue
      }
      if (this.ended) {
        return
      }
      await new Promise<void>(resolve => { this.outputWaiter = resolve })
    }
  }

  // --- operations --------------------------------------------------------------

  /** Open a stream; waits while 256 streams await their ACK (the ACK backlog) */
  async openStream (options?: WaitOptions): Promise<SessionStream> {
    while (this.core.canOpenStreams && this.core.ackBacklogFull) {
      await this.waitForChange(options)
    }
    if (this.ended) {
      throw new SessionClosedError(`session ended${this.endError != null ? `: ${this.endError.message}` : ''}`)
    }
    const id = this.core.openStream()
    return this.track(id)
  }

  /** The next stream the remote opened; rejects once the session has ended */
  async acceptStream (options?: WaitOptions): Promise<SessionStream> {
    while (true) {
      const stream = this.accepted.shift()
      if (stream != null) {
        return stream
      }
      if (this.ended || this.core.remoteGoAway) {
        throw new SessionClosedError(this.ended ? 'session ended' : 'remote sent Go Away')
      }
      await this.waitForChange(options)
    }
  }

  /** Ping the remote; resolves with the round-trip time in ms */
  async ping (options?: WaitOptions): Promise<number> {
    return this.pings.ping(options?.signal)
  }

  /** Send Go Away (default Normal): neither side opens new streams; open ones continue */
  goAway (code: GoAwayCode = GoAwayCode.Normal): void {
    this.core.goAway(code)
  }

  /**
   * Graceful close: no new streams, every stream's writes are finished with
   * FIN, then Go Away 0 and the session ends. Bounded by `options.signal`.
   */
  async close (options?: WaitOptions): Promise<void> {
    this.core.refuseNewStreams()
    for (const stream of this.streams.values()) {
      await stream.shutdown('write')
    }
    while (this.core.pendingOutputBytes > 0 && !this.ended) {
      await this.waitForChange(options)
    }
    this.core.goAway(GoAwayCode.Normal)
    this.end()
  }

  /** End at once: Go Away 2 (1 for a protocol violation), every stream fails with `err` */
  abort (err: Error): void {
    this.core.abort(err)
  }

  // --- SessionStreamChannel ----------------------------------------------------------

  /** Stream channel: called by the streams */
  write (id: number, data: Uint8Array): number {
    if (this.core.pendingOutputBytes > OUTPUT_HIGH_WATER_MARK) {
      return 0
    }
    return this.core.write(id, data)
  }

  /** Stream channel: called by the streams */
  async writable (): Promise<void> {
    await this.waitForChange()
  }

  /** Stream channel: called by the streams */
  closeWrite (id: number): void {
    this.core.closeWrite(id)
  }

  /** Stream channel: called by the streams */
  reset (id: number, code: number): void {
    this.core.reset(id, code)
    this.streams.delete(id)
  }

  /** Stream channel: called by the streams */
  consume (id: number, bytes: number): void {
    this.core.consume(id, bytes)
  }

  // --- SessionEvents -------------------------------------------------------------

  /** Engine event (SessionEvents) */
  onOutput (): void {
    const waiter = this.outputWaiter
    this.outputWaiter = undefined
    waiter?.()
  }

  /** Engine event (SessionEvents) */
  onInboundStream (id: number): void {
    this.accepted.push(this.track(id))
    this.wakeWriters()
  }

  /** Engine event (SessionEvents) */
  onStreamData (id: number, data: Uint8Array): void {
    const stream = this.streams.get(id)
    if (stream == null) {
      this.core.consume(id, data.byteLength)
      return
    }
    stream.onData(data)
  }

  /** Engine event (SessionEvents) */
  onStreamRemoteClose (id: number): void {
    this.streams.get(id)?.onRemoteEnd()
    this.forgetIfFinished(id)
  }

  /** Engine event (SessionEvents) */
  onStreamReset (id: number, error: RemoteResetError): void {
    this.streams.get(id)?.onError(error)
    this.streams.delete(id)
  }

  /** Engine event (SessionEvents) */
  onStreamWritable (): void {
    this.wakeWriters()
  }

  /** Engine event (SessionEvents) */
  onAckBacklogAvailable (): void {
    this.wakeWriters()
  }

  /** Engine event (SessionEvents) */
  onPong (value: number, rtt: number): void {
    this.pings.answered(value, rtt)
  }

  /** Engine event (SessionEvents) */
  onRemoteGoAway (): void {
    this.wakeWriters()
  }

  /** Engine event (SessionEvents) */
  onSessionError (error: Error): void {
    this.end(error)
  }

  // --- internals --------------------------------------------------------------------

  private track (id: number): SessionStream {
    const stream = new SessionStream(id, this)
    this.streams.set(id, stream)
    return stream
  }

  private forgetIfFinished (id: number): void {
    if (this.core.stream(id) == null) {
      this.streams.delete(id)
    }
  }

  private end (error?: Error): void {
    if (this.ended) {
      return
    }
    this.ended = true
    this.endError = error
    this.keepAlive.stop()
    const failure = error ?? new SessionClosedError('session closed')
    for (const stream of this.streams.values()) {
      stream.onError(failure)
    }
    this.streams.clear()
    this.pings.failAll(failure)
    this.wakeWriters()
    this.onOutput()
    this.resolveClosed()
  }

  private async waitForChange (options?: WaitOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.waiters.delete(wake)
        reject(options?.signal?.reason)
      }
      const wake = (): void => {
        options?.signal?.removeEventListener('abort', onAbort)
        resolve()
      }
      this.waiters.add(wake)
      options?.signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  private wakeWriters (): void {
    const waiters = [...this.waiters]
    this.waiters.clear()
    waiters.forEach(wake => { wake() })
  }
}
