/**
 * Where the engine's outgoing frames wait for the transport.
 *
 * Headers and small payloads are written back to back into one buffer, so a
 * tick's worth of small frames leaves in a single transport write; large
 * payloads are passed on as they are, without a copy.
 */

import { HEADER_LENGTH } from './constants.js'
import { writeHeader } from './frame.js'
import type { FrameType } from './constants.js'

/** Payloads up to this many bytes are copied next to their header; larger ones travel by reference */
export const COPY_LIMIT = 4 * 1024

/** Size of each buffer small frames are written into */
const SLAB_SIZE = 16 * 1024

export class Outbox {
  private chunks: Uint8Array[] = []
  private slab = new Uint8Array(SLAB_SIZE)
  /** Start of the part of `slab` not yet handed out as a chunk */
  private sealedTo = 0
  /** Where the next byte goes in `slab` */
  private writeAt = 0
  /** Bytes waiting */
  byteLength = 0

  /**
   * Append a frame header. `copied` bytes of body that follow (the pieces of up
   * to {@link COPY_LIMIT} bytes each) get their room now, so header and copied
   * bytes stay in one chunk and leave in one transport write.
   */
  header (type: FrameType, flags: number, streamId: number, length: number, copied = 0): void {
    this.reserve(HEADER_LENGTH + copied)
    writeHeader(this.slab, this.writeAt, type, flags, streamId, length)
    this.writeAt += HEADER_LENGTH
    this.byteLength += HEADER_LENGTH
  }

  /** Append payload bytes: copied when small, referenced when large */
  bytes (data: Uint8Array): void {
    if (data.byteLength <= COPY_LIMIT) {
      this.reserve(data.byteLength)
      this.slab.set(data, this.writeAt)
      this.writeAt += data.byteLength
    } else {
      this.seal()
      this.chunks.push(data)
    }
    this.byteLength += data.byteLength
  }

  /** Everything appended since the last call, in order */
  take (): Uint8Array[] {
    this.seal()
    const chunks = this.chunks
    this.chunks = []
    this.byteLength = 0
    return chunks
  }

  private reserve (bytes: number): void {
    if (this.writeAt + bytes > this.slab.byteLength) {
      this.seal()
      this.slab = new Uint8Array(Math.max(SLAB_SIZE, bytes))
      this.sealedTo = 0
      this.writeAt = 0
    }
  }

  private seal (): void {
    if (this.writeAt > this.sealedTo) {
      this.chunks.push(this.slab.subarray(this.sealedTo, this.writeAt))
      this.sealedTo = this.writeAt
    }
  }
}
