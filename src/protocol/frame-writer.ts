/**
 * Turns what the engine sends into frames in the outbox: control frames at
 * once, Data in frames of at most the maximum payload.
 *
 * A write shorter than a frame is one frame, so small messages keep their
 * boundaries. The partial last frame of a longer write is held until the
 * stream's next write or the next flush, so consecutive large writes fill
 * whole frames instead of each leaving a small tail frame. While the stream's
 * writer is parked (told to wait for the transport or for credit, it will
 * write again) the held bytes also outlive flushes, until that write or until
 * it is unparked.
 *
 * A frame carries at most one large piece of payload by reference; its header
 * and small pieces are copied into the outbox, so a long run of large writes
 * leaves in two transport writes per frame, not three.
 */

import { FrameType } from './constants.js'
import { COPY_LIMIT, Outbox } from './outbox.js'
import type { StreamState } from './stream-state.js'
import type { Uint8ArrayList } from 'uint8arraylist'

export class FrameWriter {
  private readonly outbox = new Outbox()
  private readonly onFirstOutput: () => void
  /** Streams holding the bytes of a partial Data frame */
  private readonly holding = new Set<StreamState>()
  private heldBytes = 0
  /** Part of `heldBytes` parked streams keep across flushes: not pending output */
  private parkedBytes = 0
  /** The Data frame {@link FrameWriter.data} is filling, reused from write to write */
  private readonly building = new FrameInProgress()

  /** @param onFirstOutput - called when output appears after the last {@link FrameWriter.take} */
  constructor (onFirstOutput: () => void) {
    this.onFirstOutput = onFirstOutput
  }

  /** Bytes waiting for the next flush: held ones included, those of parked writers not */
  get byteLength (): number {
    return this.outbox.byteLength + this.heldBytes - this.parkedBytes
  }

  /** Queue a frame without a body */
  control (type: FrameType, flags: number, streamId: number, length: number): void {
    this.announce()
    this.outbox.header(type, flags, streamId, length)
  }

  /**
   * Queue `data` for `stream` in frames of at most `maxPayload` bytes (the
   * window was already charged). A frame takes at most one piece larger than
   * {@link COPY_LIMIT}, so a large held tail goes as a frame of its own.
   *
   * @param stream - the stream writing
   * @param data - the bytes, already charged to the send window
   * @param maxPayload - largest payload per frame, in bytes
   * @param continued - `data` is the rest of a write the send window cut
   * short: like the tail of a longer write, it is held for what follows
   * instead of leaving as a short frame of its own
   */
  data (stream: StreamState, data: Uint8Array | Uint8ArrayList, maxPayload: number, continued = false): void {
    if (stream.heldBytes === 0 && data.byteLength <= maxPayload && !stream.writerParked && !continued) {
      this.frame(stream.id, data)
      return
    }
    const frame = this.building
    frame.streamId = stream.id
    frame.maxPayload = maxPayload
    frame.unplaced = stream.heldBytes + data.byteLength
    // what the stream held is placed first; whatever is left at the end is held again
    const held = stream.held
    this.unhold(stream)
    for (let i = 0; i < held.length; i++) {
      this.place(held[i])
    }
    held.length = 0
    if (data instanceof Uint8Array) {
      this.place(data)
    } else {
      for (const piece of data) {
        this.place(piece)
      }
    }
    if (frame.bytes > 0) {
      this.hold(stream, frame.parts)
      frame.clear()
    } else {
      this.holding.delete(stream)
    }
  }

  /** Add `piece` to the frame being built, emitting the frame each time it is full */
  private place (piece: Uint8Array): void {
    const frame = this.building
    let offset = 0
    while (offset < piece.byteLength) {
      const take = Math.min(piece.byteLength - offset, frame.maxPayload - frame.bytes)
      // a second large piece would make a third transport write: the frame ends before it
      const endsBefore = take > COPY_LIMIT && frame.referenced && frame.bytes + frame.unplaced >= frame.maxPayload
      if (!endsBefore) {
        frame.add(take === piece.byteLength ? piece : piece.subarray(offset, offset + take))
        offset += take
      }
      if (endsBefore || frame.bytes === frame.maxPayload) {
        this.frame(frame.streamId, frame.parts)
        frame.clear()
      }
    }
  }

  /** Send what `stream` holds now (before its FIN) */
  release (stream: StreamState): void {
    if (stream.heldBytes > 0) {
      // uncounted first, so the frame announces itself as output when the held bytes were parked
      this.unhold(stream)
      this.frame(stream.id, stream.held)
      this.drop(stream)
    }
  }

  /** The writer of `stream` will write again: what it holds may wait for that write */
  park (stream: StreamState): void {
    stream.writerParked = true
  }

  /** The writer of `stream` may write now: if it does not, what it holds leaves with the next flush */
  unpark (stream: StreamState): void {
    stream.writerParked = false
    if (stream.heldParked) {
      this.announce()
      this.parkedBytes -= stream.heldBytes
      stream.heldParked = false
    }
  }

  /** Forget what `stream` holds (it was reset or has gone) */
  drop (stream: StreamState): void {
    this.unhold(stream)
    stream.held.length = 0
    this.holding.delete(stream)
  }

  /** Stop counting what `stream` holds as held (its pieces are about to be framed or forgotten) */
  private unhold (stream: StreamState): void {
    if (stream.heldParked) {
      this.parkedBytes -= stream.heldBytes
      stream.heldParked = false
    }
    this.heldBytes -= stream.heldBytes
    stream.heldBytes = 0
  }

  /** Forget everything held (the session failed) */
  dropAll (): void {
    for (const stream of this.holding) {
      this.drop(stream)
    }
  }

  /** Every byte queued since the last call in wire order, held frames included except those of parked writers */
  take (): Uint8Array[] {
    for (const stream of this.holding) {
      if (!stream.writerParked) {
        this.release(stream)
      } else if (!stream.heldParked) {
        stream.heldParked = true
        this.parkedBytes += stream.heldBytes
      }
    }
    return this.outbox.take()
  }

  private frame (streamId: number, payload: Uint8Array | Uint8ArrayList | Uint8Array[]): void {
    this.announce()
    if (payload instanceof Uint8Array) {
      const length = payload.byteLength
      this.outbox.header(FrameType.Data, 0, streamId, length, length <= COPY_LIMIT ? length : 0)
      this.outbox.bytes(payload)
      return
    }
    const pieces = Array.isArray(payload) ? payload : [...payload]
    let length = 0
    let copied = 0
    for (let i = 0; i < pieces.length; i++) {
      length += pieces[i].byteLength
      if (pieces[i].byteLength <= COPY_LIMIT) {
        copied += pieces[i].byteLength
      }
    }
    this.outbox.header(FrameType.Data, 0, streamId, length, copied)
    for (let i = 0; i < pieces.length; i++) {
      this.outbox.bytes(pieces[i])
    }
  }

  private hold (stream: StreamState, parts: Uint8Array[]): void {
    this.announce()
    for (let i = 0; i < parts.length; i++) {
      stream.held.push(parts[i])
      stream.heldBytes += parts[i].byteLength
      this.heldBytes += parts[i].byteLength
    }
    this.holding.add(stream)
  }

  private announce (): void {
    if (this.byteLength === 0) {
      this.onFirstOutput()
    }
  }
}

/** The pieces of one Data frame while a write is cut into frames */
class FrameInProgress {
  streamId = 0
  maxPayload = 0
  /** Bytes of the write (and of what the stream held) not yet placed in a frame */
  unplaced = 0
  readonly parts: Uint8Array[] = []
  /** Total length of `parts` */
  bytes = 0
  /** One of `parts` is larger than {@link COPY_LIMIT} (it travels by reference) */
  referenced = false

  add (part: Uint8Array): void {
    this.parts.push(part)
    this.bytes += part.byteLength
    this.unplaced -= part.byteLength
    this.referenced = this.referenced || part.byteLength > COPY_LIMIT
  }

  clear (): void {
    this.parts.length = 0
    this.bytes = 0
    this.referenced = false
  }
}
