/**
 * Merge the frames of one flush into few, large buffers, so a tick's worth of
 * small frames leaves in one transport write instead of one write per header
 * and payload.
 */

import { Uint8ArrayList } from 'uint8arraylist'
import { allocUnsafe } from 'uint8arrays/alloc'

/** Buffers are merged up to this many bytes: one full default frame (64 KiB) plus slack for small frames */
export const COALESCE_LIMIT = 64 * 1024 + 1024

/** Group `pieces` in order into buffers of at most {@link COALESCE_LIMIT} bytes; larger pieces pass alone */
export function coalesce (pieces: Uint8Array[]): Uint8ArrayList {
  const output = new Uint8ArrayList()
  let runStart = 0
  let runBytes = 0
  for (let i = 0; i < pieces.length; i++) {
    const size = pieces[i].byteLength
    if (runBytes + size > COALESCE_LIMIT && i > runStart) {
      output.append(merge(pieces, runStart, i, runBytes))
      runStart = i
      runBytes = 0
    }
    runBytes += size
  }
  if (pieces.length > runStart) {
    output.append(merge(pieces, runStart, pieces.length, runBytes))
  }
  return output
}

function merge (pieces: Uint8Array[], start: number, end: number, bytes: number): Uint8Array {
  if (end - start === 1) {
    return pieces[start]
  }
  const merged = allocUnsafe(bytes)
  let offset = 0
  for (let i = start; i < end; i++) {
    merged.set(pieces[i], offset)
    offset += pieces[i].byteLength
  }
  return merged
}
