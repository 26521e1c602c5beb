/**
 * Streaming frame decoder: bytes in any split, frames out in order.
 *
 * A Data body is never reassembled: it is handed on in the pieces it arrived
 * in (views of the input, no copies), and the consumer decides from the header
 * alone, before any body byte is held, whether it wants the body at all.
 */

import { FrameType, HEADER_LENGTH } from './constants.js'
import { decodeHeader } from './frame.js'
import type { FrameHeader } from './frame.js'

/** Receives what the decoder reads, in wire order */
export interface FrameSink {
  /**
   * A whole header has been read. For a Data frame, return `true` to be given
   * its body through {@link FrameSink.onBody}, or `false` to have it skipped as
   * it streams past. The return value is ignored for other frame types.
   */
  onHeader(header: FrameHeader): boolean
  /** The next piece of the current Data frame's body (a view of the input) */
  onBody(header: FrameHeader, piece: Uint8Array): void
  /** The frame is complete: its whole body has been passed on or skipped */
  onFrameEnd(header: FrameHeader): void
}

export class FrameDecoder {
  private readonly sink: FrameSink
  private readonly partialHeader = new Uint8Array(HEADER_LENGTH)
  private partialHeaderLength = 0
  private current: FrameHeader | undefined
  private bodyRemaining = 0
  private wantBody = false
  private stopped = false

  constructor (sink: FrameSink) {
    this.sink = sink
  }

  /** Bytes of an unfinished frame are pending: a header cut short, or a body not yet complete */
  get midFrame (): boolean {
    return this.partialHeaderLength > 0 || this.current != null
  }

  /** Stop decoding; later input is ignored (used once the session has failed) */
  stop (): void {
    this.stopped = true
  }

  /**
   * Decode `chunk`, calling the sink for every header, body piece and frame end it completes.
   *
   * @throws {ProtocolViolationError} when a header has a bad version or type, or whatever the sink throws
   */
  write (chunk: Uint8Array): void {
    let offset = 0
    const end = chunk.byteLength

    while (offset < end && !this.stopped) {
      const current = this.current
      if (current != null) {
        const take = Math.min(this.bodyRemaining, end - offset)
        this.bodyRemaining -= take
        if (this.wantBody) {
          this.sink.onBody(current, chunk.subarray(offset, offset + take))
        }
        offset += take
        if (this.bodyRemaining === 0) {
          this.current = undefined
          this.sink.onFrameEnd(current)
        }
        continue
      }

      let header: FrameHeader
      if (this.partialHeaderLength === 0 && end - offset >= HEADER_LENGTH) {
        header = decodeHeader(chunk, offset)
        offset += HEADER_LENGTH
      } else {
        const take = Math.min(HEADER_LENGTH - this.partialHeaderLength, end - offset)
        this.partialHeader.set(chunk.subarray(offset, offset + take), this.partialHeaderLength)
        this.partialHeaderLength += take
        offset += take
        if (this.partialHeaderLength < HEADER_LENGTH) {
          return
        }
        this.partialHeaderLength = 0
        header = decodeHeader(this.partialHeader)
      }

      this.wantBody = this.sink.onHeader(header)
      if (header.type === FrameType.Data && header.length > 0) {
        this.current = header
        this.bodyRemaining = header.length
      } else {
        this.sink.onFrameEnd(header)
      }
    }
  }
}
