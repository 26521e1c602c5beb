/**
 * A stream of the standalone session: read until end of stream, write and
 * writev that resolve once the bytes are accepted, shutdown of either half,
 * reset, and an idempotent close.
 */

import { StreamNotWritableError } from '../protocol/errors.js'
import type { Uint8ArrayList } from 'uint8arraylist'

/** What a stream needs from its session */
export interface SessionStreamChannel {
  /** Queue bytes within the send window; returns how many were taken */
  write(id: number, data: Uint8Array): number
  /** Resolves when the stream may write again (credit arrived, output drained) or the session ended */
  writable(id: number): Promise<void>
  closeWrite(id: number): void
  reset(id: number, code: number): void
  consume(id: number, bytes: number): void
}

/** Which half of a stream to shut down */
export type ShutdownMode = 'read' | 'write' | 'read_write'

/** A Yamux stream used without libp2p */
export class SessionStream implements AsyncIterable<Uint8Array> {
  /** The Yamux stream id */
  readonly id: number
  private readonly channel: SessionStreamChannel
  private readonly received: Uint8Array[] = []
  private remoteEnded = false
  private readShut = false
  private writeShut = false
  private error: Error | undefined
  private waiter: (() => void) | undefined

  constructor (id: number, channel: SessionStreamChannel) {
    this.id = id
    this.channel = channel
  }

  /**
   * The next bytes, or `null` at end of stream. Bytes received before a reset
   * are still returned; after them the reset error is thrown.
   */
  async read (): Promise<Uint8Array | null> {
    while (true) {
      if (this.readShut) {
        return null
      }
      const chunk = this.received.shift()
      if (chunk != null) {
        this.channel.consume(this.id, chunk.byteLength)
        return chunk
      }
      if (this.error != null) {
        throw this.error
      }
      if (this.remoteEnded) {
        return null
      }
      await new Promise<void>(resolve => { this.waiter = resolve })
    }
  }

  /**
   * Write `data`; resolves once all of it has been accepted (within the send
   * window), so awaiting each write applies backpressure.
   *
   * @throws {StreamNotWritableError} after shutdown('write'), close or reset
   */
  async write (data: Uint8Array | Uint8ArrayList): Promise<void> {
    let offset = 0
    const bytes = data instanceof Uint8Array ? data : data.subarray()
    while (true) {
      this.assertWritable()
      offset += this.channel.write(this.id, bytes.subarray(offset))
      if (offset >= bytes.byteLength) {
        return
      }
      await this.channel.writable(this.id)
    }
  }

  /** Write several buffers in order; resolves once all are accepted */
  async writev (buffers: Iterable<Uint8Array>): Promise<void> {
    for (const buffer of buffers) {
      await this.write(buffer)
    }
  }

  /** Stop reading (`read`), writing (`write`, sends FIN) or both */
  async shutdown (mode: ShutdownMode): Promise<void> {
    if (mode !== 'write' && !this.readShut) {
      this.readShut = true
      const unread = this.received.reduce((total, chunk) => total + chunk.byteLength, 0)
      this.received.length = 0
      this.channel.consume(this.id, unread)
      this.wake()
    }
    if (mode !== 'read' && !this.writeShut) {
      this.writeShut = true
      this.channel.closeWrite(this.id)
    }
  }

  /** Reset the stream (RST carrying `code`); pending and later reads fail */
  reset (code = 0): void {
    if (this.error == null) {
      this.error = new StreamNotWritableError(`stream ${this.id} was reset locally`)
      this.writeShut = true
      this.channel.reset(this.id, code)
      this.wake()
    }
  }

  /** Shut down both halves; calling it again does nothing */
  async close (): Promise<void> {
    await this.shutdown('read_write')
  }

  async * [Symbol.asyncIterator] (): AsyncGenerator<Uint8Array> {
    while (true) {
      const chunk = await this.read()
      if (chunk == null) {
        return
      }
      yield chunk
    }
  }

  /** Data arrived from the session */
  onData (data: Uint8Array): void {
    if (this.readShut) {
      this.channel.consume(this.id, data.byteLength)
      return
    }
    this.received.push(data)
    this.wake()
  }

  /** The remote sent FIN */
  onRemoteEnd (): void {
    this.remoteEnded = true
    this.wake()
  }

  /** The stream ended with an error (remote reset, session failure) */
  onError (error: Error): void {
    if (this.error == null) {
      this.error = error
      this.writeShut = true
      this.wake()
    }
  }

  private assertWritable (): void {
    if (this.error != null) {
      throw this.error
    }
    if (this.writeShut) {
      throw new StreamNotWritableError(`stream ${this.id} is shut down for writing`)
    }
  }

  private wake (): void {
    const waiter = this.waiter
    this.waiter = undefined
    waiter?.()
  }
}
