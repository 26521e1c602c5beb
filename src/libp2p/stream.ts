/**
 * A Yamux stream as js-libp2p 3 sees it: an `AbstractStream` whose sends,
 * half-closes and resets become frames of the session engine, and whose reads
 * grant flow-control credit only as the application consumes them.
 */

import { StreamBufferError, StreamMessageEvent, StreamResetError, StreamResetEvent } from '@libp2p/interface'
import { AbstractStream } from '@libp2p/utils'
import { activityClock } from './inactivity.js'
import type { RemoteResetError } from '../protocol/errors.js'
import type { AbortOptions, EventHandler, MessageStreamDirection, MessageStreamEvents, StreamCloseEvent } from '@libp2p/interface'
import type { Logger } from '@libp2p/logger'
import type { SendResult } from '@libp2p/utils'
import type { Uint8ArrayList } from 'uint8arraylist'

/** What a stream needs from its muxer */
export interface StreamChannel {
  /**
   * Queue as much of `data` as the send window and the transport allow, in
   * frames of at most `stream.payloadLimit` payload bytes. When not all
   * could go, the stream gets a 'drain' event later.
   */
  sendStreamData(stream: YamuxStream, data: Uint8Array | Uint8ArrayList): SendResult
  closeWrite(id: number): void
  reset(id: number, code: number): void
  /** The application consumed `bytes` of stream `id`'s data */
  consume(id: number, bytes: number): void
  /** The stream dispatched its 'close' event */
  onStreamClosed(stream: YamuxStream): void
}

export interface YamuxStreamInit {
  id: number
  direction: MessageStreamDirection
  log: Logger
  channel: StreamChannel
  /** Largest payload per Data frame, in bytes */
  maxPayload: number
  maxReadBufferLength: number
  maxWriteBufferLength?: number
  inactivityTimeout: number
}

/** A stream multiplexed by Yamux */
export class YamuxStream extends AbstractStream {
  /** The Yamux stream id (odd: opened by the client; even: by the server) */
  readonly streamId: number
  private readonly channel: StreamChannel
  private readableWaiter: (() => void) | undefined
  private closeError: Error | undefined
  /** `close()` calls waiting for the stream's 'close' event */
  private closeWaiters: Array<(error?: Error) => void> = []
  /** When the last byte was sent or received, for the inactivity timeout */
  lastActivity = activityClock()
  /** `maxMessageSize` while the send queue is being processed */
  private queuePayloadLimit: number | undefined

  constructor (init: YamuxStreamInit) {
    super({
      id: String(init.id),
      direction: init.direction,
      log: init.log,
      maxMessageSize: init.maxPayload,
      maxReadBufferLength: init.maxReadBufferLength,
      maxWriteBufferLength: init.maxWriteBufferLength,
      inactivityTimeout: init.inactivityTimeout
    })
    this.streamId = init.id
    this.channel = init.channel
  }

  /**
   * Our own bookkeeping runs here, before the listeners, instead of costing a
   * listener per stream: resuming the send queue on 'drain', and on 'close'
   * waking a reader and telling the muxer.
   */
  dispatchEvent (event: Event): boolean {
    if (event.type === 'drain' && this.writableNeedsDrain) {
      this.writableNeedsDrain = false
      queueMicrotask(() => {
        try {
          this.processSendQueue()
        } catch (err: any) {
          this.log.error('could not resume sending - %e', err)
        }
      })
    } else if (event.type === 'close') {
      this.closeError = (event as StreamCloseEvent).error
      this.wakeReader()
      this.closeWaiters.forEach(notify => { notify(this.closeError) })
      this.closeWaiters = []
      this.channel.onStreamClosed(this)
    }
    return super.dispatchEvent(event)
  }

  /**
   * The base class's constructor registers a 'drain' listener to resume sending
   * and a 'close' listener for its cached `onDrain()` promise; this class does the
   * first in `dispatchEvent` and replaces `onDrain()`, so those two listeners
   * (about 600 bytes per stream) are not kept.
   */
  addEventListener<K extends keyof MessageStreamEvents>(type: K, listener: EventHandler<MessageStreamEvents[K]> | null, options?: boolean | AddEventListenerOptions): void
  addEventListener (type: string, listener: EventHandler<Event>, options?: boolean | AddEventListenerOptions): void
  addEventListener (type: string, listener: any, options?: boolean | AddEventListenerOptions): void {
    const constructing = this.streamId === undefined
    if (constructing && (type === 'drain' || type === 'close')) {
      return
    }
    super.addEventListener(type, listener, options)
  }

  // --- writing ---------------------------------------------------------------

  /**
   * With nothing queued, bytes go straight to the session instead of being
   * copied through the base class's write buffer; whatever the send window
   * does not take is queued there as usual.
   */
  send (data: Uint8Array | Uint8ArrayList): boolean {
    if (this.writeStatus !== 'writable' || this.writeBuffer.byteLength > 0 || this.writableNeedsDrain || this.sendingData) {
      return super.send(data)
    }
    this.lastActivity = activityClock()
    let result: SendResult
    try {
      result = this.channel.sendStreamData(this, data)
    } catch (err: any) {
      this.abort(err)
      throw err
    }
    if (result.sentBytes < data.byteLength) {
      this.writeBuffer.append(data instanceof Uint8Array ? data.subarray(result.sentBytes) : data.sublist(result.sentBytes))
    }
    if (!result.canSendMore) {
      this.writableNeedsDrain = true
      if (this.maxWriteBufferLength != null && this.writeBuffer.byteLength > this.maxWriteBufferLength) {
        this.abort(new StreamBufferError(`write buffer length of ${this.writeBuffer.byteLength} exceeded limit of ${this.maxWriteBufferLength}`))
      }
    }
    return result.canSendMore
  }

  sendData (data: Uint8ArrayList): SendResult {
    this.lastActivity = activityClock()
    return this.channel.sendStreamData(this, data)
  }

  /**
   * The base class hands the send queue to `sendData` in `maxMessageSize`
   * pieces, and the partial last frame of each piece would leave as a short
   * frame. The session frames what it is given itself (at most `payloadLimit`
   * bytes per frame, holding a partial last frame for the next write), so it
   * gets the queue in one piece.
   */
  protected processSendQueue (): boolean {
    const limit = this.maxMessageSize
    this.queuePayloadLimit = limit
    this.maxMessageSize = undefined
    try {
      return super.processSendQueue()
    } finally {
      this.maxMessageSize = limit
      this.queuePayloadLimit = undefined
    }
  }

  /** Largest payload per Data frame, in bytes: `maxMessageSize` (which may be changed on a stream) */
  get payloadLimit (): number | undefined {
    return this.maxMessageSize ?? this.queuePayloadLimit
  }

  /**
   * Graceful half-close. The base class waits for the write queue to empty and
   * drain; a stream aborted or reset meanwhile would leave that wait hanging,
   * so it also ends when the stream closes, rejecting with the stream's error.
   */
  async close (options?: AbortOptions): Promise<void> {
    const mayWait = this.writeBuffer.byteLength > 0 || this.writableNeedsDrain || this.sendingData
    if (this.status !== 'open' || !mayWait) {
      return super.close(options)
    }
    const closing = super.close(options).then((): { error?: Error } => ({}))
    const ended = new Promise<{ error?: Error }>(resolve => {
      this.closeWaiters.push(error => { resolve({ error }) })
    })
    // whichever loses must not surface as an unhandled rejection
    closing.catch(() => {})
    const outcome = await Promise.race([closing, ended])
    if (outcome.error != null) {
      throw outcome.error
    }
  }

  async sendCloseWrite (options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    this.channel.closeWrite(this.streamId)
  }

  async sendCloseRead (options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
  }

  sendReset (err: Error): void {
    const code = (err as { code?: unknown }).code
    this.channel.reset(this.streamId, typeof code === 'number' && Number.isInteger(code) && code >= 0 && code <= 0xffff_ffff ? code : 0)
  }

  sendPause (): void {
    // no wire frame: unread bytes stop earning credit, which stalls the sender
  }

  sendResume (): void {
    this.wakeReader()
  }

  /**
   * Real backpressure for every caller: resolves at the next 'drain' after the
   * stream reported it cannot send more, rejects if the stream closes first
   * (the base class caches one promise forever).
   */
  async onDrain (options?: AbortOptions): Promise<void> {
    if (!this.writableNeedsDrain) {
      return
    }
    options?.signal?.throwIfAborted()
    await new Promise<void>((resolve, reject) => {
      const cleanUp = (): void => {
        this.removeEventListener('drain', onDrain)
        this.removeEventListener('close', onClose)
        options?.signal?.removeEventListener('abort', onAbort)
      }
      const onDrain = (): void => { cleanUp(); resolve() }
      const onClose = (evt: StreamCloseEvent): void => { cleanUp(); reject(evt.error ?? new StreamResetError('stream closed before it drained')) }
      const onAbort = (): void => { cleanUp(); reject(options?.signal?.reason) }
      this.addEventListener('drain', onDrain)
      this.addEventListener('close', onClose)
      options?.signal?.addEventListener('abort', onAbort)
    })
  }

  /** The muxer-wide drain is handled by the muxer, which wakes only the streams that wait */
  onMuxerDrain (): void {}

  /** The muxer-wide saturation is reported per stream through `sendData` */
  onMuxerNeedsDrain (): void {}

  // --- reading ---------------------------------------------------------------

  onData (data: Uint8Array | Uint8ArrayList): void {
    this.lastActivity = activityClock()
    if (this.readStatus === 'closing' || this.readStatus === 'closed') {
      // we stopped reading: keep the sender flowing and drop the bytes
      this.channel.consume(this.streamId, data.byteLength)
      return
    }
    if (this.readStatus === 'readable' && this.readBuffer.byteLength === 0 && data.byteLength > 0 && this.listenerCount('message') > 0) {
      // nothing queued and someone listening: deliver without the read buffer
      this.dispatchEvent(new StreamMessageEvent(data))
      this.channel.consume(this.streamId, data.byteLength)
      return
    }
    super.onData(data)
    this.wakeReader()
  }

  async closeRead (options?: AbortOptions): Promise<void> {
    const unread = this.readBuffer.byteLength
    await super.closeRead(options)
    this.channel.consume(this.streamId, unread)
  }

  /** Every byte leaving the read buffer counts as consumed and may earn the sender credit */
  protected dispatchReadBuffer (): void {
    const before = this.readBuffer.byteLength
    try {
      super.dispatchReadBuffer()
    } finally {
      const consumed = before - this.readBuffer.byteLength
      if (consumed > 0) {
        this.channel.consume(this.streamId, consumed)
      }
    }
  }

  /**
   * Pull-based reading: a chunk earns the sender credit only when the loop asks
   * for it, so a slow `for await` stalls the sender instead of queueing without bound.
   */
  async * [Symbol.asyncIterator] (): AsyncGenerator<Uint8Array | Uint8ArrayList> {
    while (true) {
      if (this.readBuffer.byteLength > 0 && this.readStatus === 'readable') {
        // one chunk per frame body (or part of one), as the sender framed it
        const chunk: Uint8Array = this.readBuffer[Symbol.iterator]().next().value
        this.readBuffer.consume(chunk.byteLength)
        this.channel.consume(this.streamId, chunk.byteLength)
        this.endReadableIfDrained()
        yield chunk
        continue
      }
      if (this.readBuffer.byteLength === 0) {
        if (this.closeError != null) {
          throw this.closeError
        }
        if (this.remoteWriteStatus === 'closed' || this.readStatus === 'closed' || this.readStatus === 'closing' || this.status !== 'open') {
          this.endReadableIfDrained()
          return
        }
      }
      await new Promise<void>(resolve => { this.readableWaiter = resolve })
    }
  }

  private endReadableIfDrained (): void {
    if (this.readBuffer.byteLength === 0 && this.remoteWriteStatus === 'closed' && this.readStatus !== 'closed') {
      this.readStatus = 'closed'
      this.maybeDispatchEnd()
    }
  }

  private wakeReader (): void {
    const waiter = this.readableWaiter
    if (waiter != null) {
      this.readableWaiter = undefined
      waiter()
    }
  }

  // --- events from the session -------------------------------------------------

  /** The remote closed its writing half (FIN) */
  onRemoteCloseWrite (): void {
    super.onRemoteCloseWrite()
    this.wakeReader()
  }

  /** The remote reset the stream: it ends with `StreamResetError` carrying the remote's code; unread data stays readable */
  onRemoteResetWith (cause: RemoteResetError): void {
    if (this.status !== 'open') {
      return
    }
    const error = Object.assign(new StreamResetError(cause.message), { code: cause.code })
    this.status = 'reset'
    this.writeStatus = 'closed'
    this.remoteWriteStatus = 'closed'
    this.remoteReadStatus = 'closed'
    this.timeline.close = Date.now()
    if (this.readBuffer.byteLength === 0) {
      this.readStatus = 'closed'
      this.maybeDispatchEnd()
    }
    this.dispatchEvent(new StreamResetEvent(error))
  }
}
