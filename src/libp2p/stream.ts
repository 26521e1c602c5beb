/**
 * A Yamux stream as js-libp2p 3 sees it: an `AbstractStream` whose sends,
 * half-closes and resets become frames of the session engine, and whose reads
 * grant flow-control credit only as the application consumes them.
 */

import { StreamBufferError, StreamMessageEvent, StreamResetError, StreamResetEvent, TimeoutError } from '@libp2p/interface'
import { AbstractStream } from '@libp2p/utils'
import type { RemoteResetError } from '../protocol/errors.js'
import type { AbortOptions, MessageStreamDirection, StreamCloseEvent } from '@libp2p/interface'
import type { Logger } from '@libp2p/logger'
import type { SendResult } from '@libp2p/utils'
import type { Uint8ArrayList } from 'uint8arraylist'

/** What a stream needs from its muxer */
export interface StreamChannel {
  /**
   * Queue as much of `data` as the send window and the transport allow, in
   * frames of at most `stream.maxMessageSize` payload bytes. When not all
   * could go, the stream gets a 'drain' event later.
   */
  sendStreamData(stream: YamuxStream, data: Uint8Array | Uint8ArrayList): SendResult
  closeWrite(id: number): void
  reset(id: number, code: number): void
  /** The application consumed `bytes` of stream `id`'s data */
  consume(id: number, bytes: number): void
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
  private lastActivity = Date.now()
  private inactivityTimer: ReturnType<typeof setTimeout> | undefined

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

    this.addEventListener('close', (evt: StreamCloseEvent) => {
      this.closeError = evt.error
      clearTimeout(this.inactivityTimer)
      this.inactivityTimer = undefined
      this.wakeReader()
    })
    this.armInactivityTimer()
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
    this.lastActivity = Date.now()
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
    this.lastActivity = Date.now()
    return this.channel.sendStreamData(this, data)
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
    this.lastActivity = Date.now()
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

  private armInactivityTimer (): void {
    const timeout = this.inactivityTimeout
    if (!(timeout > 0) || timeout === Infinity) {
      return
    }
    const check = (): void => {
      this.inactivityTimer = undefined
      if (this.status !== 'open') {
        return
      }
      const idle = Date.now() - this.lastActivity
      if (idle >= timeout) {
        this.abort(new TimeoutError(`stream ${this.streamId} saw no data sent or received for ${timeout} ms`))
        return
      }
      this.inactivityTimer = setTimeout(check, timeout - idle)
      this.inactivityTimer.unref?.()
    }
    this.inactivityTimer = setTimeout(check, timeout)
    this.inactivityTimer.unref?.()
  }
}
