/**
 * The part of the current Data frame's body that has arrived and was not
 * handed on yet: the session hands a body on as one piece when its frame ends
 * (or each 64 KiB), instead of one event per transport read.
 *
 * A body that arrived in several pieces goes on as a `Uint8ArrayList` of views
 * of the received bytes. Known cost: with thousands of streams open, V8
 * allocates those lists in the old generation (their allocation site is the one
 * every stream's long-lived read and write buffers came from), so they are
 * only freed by mark-compacts: beside 5,000 idle streams a 256 MiB transfer
 * measured 4 mark-compacts instead of 1 (1 with `--no-allocation-site-pretenuring`).
 */

import { Uint8ArrayList } from 'uint8arraylist'

export class PendingBody {
  /** Stream the pieces belong to */
  streamId = 0
  /** Bytes waiting */
  byteLength = 0
  private readonly pieces: Uint8Array[] = []

  /** A piece of stream `streamId`'s body (a view of received bytes) */
  add (streamId: number, piece: Uint8Array): void {
    this.streamId = streamId
    this.pieces.push(piece)
    this.byteLength += piece.byteLength
  }

  /** Everything waiting, in order, as one piece or a list; nothing waits afterwards */
  take (): Uint8Array | Uint8ArrayList {
    const data = this.pieces.length === 1 ? this.pieces[0] : new Uint8ArrayList(...this.pieces)
    this.pieces.length = 0
    this.byteLength = 0
    return data
  }
}
