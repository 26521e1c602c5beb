/**
 * Per-stream flow control: what we may send, what the peer may send, and
 * when and how much credit to grant it.
 *
 * Credit is granted only for bytes the application has consumed, once at
 * least half the window is owed, so a slow reader stalls the sender instead
 * of growing our buffers. The window grows (auto-tuning) while it is used up
 * faster than about two round trips and each doubling has raised the rate it
 * is used at (averaged over the whole time at each size), within a per-stream
 * cap and a budget for growth shared by every stream of the connection.
 */

import { INITIAL_STREAM_WINDOW, MAX_UINT32 } from './constants.js'

/**
 * Round-trip times below this (ms) count as this much when deciding growth: a
 * ping on an idle connection misses the few milliseconds a busy event loop adds
 * to every window update's round trip.
 */
export const MIN_ROUND_TRIP = 2

/**
 * After the window grew, it grows again only once data is consumed at least
 * this many times faster at the new size than it was at the old one, each
 * rate averaged over the whole time at its size. Where the window limits the
 * sender, doubling it nearly doubles the rate; on one host, where the CPU
 * does, short measurements vary by half either way, and a lower bar lets that
 * noise grow the window to its cap.
 */
export const GROWTH_PAYOFF = 1.5

/**
 * The receive memory all streams of one session may be granted together
 * beyond their initial windows, in bytes. Initial windows are not counted:
 * every stream gets one (the stream limits bound how many there are), so idle
 * streams never keep a busy one from growing.
 */
export class ReceiveBudget {
  /** Most bytes the windows of all streams may grow by, together */
  readonly limit: number
  /** Bytes of growth currently held by receive windows */
  used = 0

  constructor (limit: number) {
    this.limit = limit
  }

  /** Take up to `bytes` for window growth; returns how many were taken */
  takeUpTo (bytes: number): number {
    const granted = Math.max(0, Math.min(bytes, this.limit - this.used))
    this.used += granted
    return granted
  }

  /** Give back `bytes` of growth (the stream ended) */
  release (bytes: number): void {
    this.used = Math.max(0, this.used - bytes)
  }
}

/** The receiving side of one stream's window */
export class ReceiveWindow {
  /** Current window size in bytes: the most we hold for this stream (in flight plus unread) */
  size: number
  /** Most the window may grow to, in bytes */
  readonly maxSize: number
  /** The size it started with, in bytes: growth beyond it comes from the budget */
  private readonly initialSize: number
  /** Bytes the peer may still send before it needs more credit */
  credit = INITIAL_STREAM_WINDOW
  /** Bytes received but not yet consumed by the application */
  unconsumed = 0
  private readonly budget: ReceiveBudget
  private lastGrantAt: number
  /** When the window took its current size */
  private sizedAt: number
  /** Bytes granted back (consumed by the application) since the window took its current size */
  private consumedAtSize = 0
  /**
   * Bytes per ms consumed since the window took its current size; undefined
   * until that spans two round trips and a whole window
   */
  private rateAtSize: number | undefined
  /**
   * {@link ReceiveWindow.rateAtSize} at the size before the last growth (0 if
   * none was measured); undefined before any growth, or once the rate has
   * halved since, when the next growth needs no payoff
   */
  private rateBeforeGrowth: number | undefined

  constructor (initialSize: number, maxSize: number, budget: ReceiveBudget, now: number) {
    this.size = initialSize
    this.initialSize = initialSize
    this.maxSize = Math.max(maxSize, initialSize)
    this.budget = budget
    this.lastGrantAt = now
    this.sizedAt = now
  }

  /** Bytes consumed by the application for which no credit has been granted yet */
  get owed (): number {
    return this.size - this.credit - this.unconsumed
  }

  /**
   * The credit to announce with SYN or ACK: how much our initial window
   * exceeds the 256 KiB the peer assumes. Counts as granted.
   */
  announceInitial (): number {
    const extra = this.size - this.credit
    this.credit = this.size
    return extra
  }

  /** A Data frame of `length` bytes was announced; false when it exceeds the peer's credit */
  receive (length: number): boolean {
    if (length > this.credit) {
      return false
    }
    this.credit -= length
    this.unconsumed += length
    return true
  }

  /** The application consumed `bytes` of received data */
  consume (bytes: number): void {
    this.unconsumed = Math.max(0, this.unconsumed - bytes)
  }

  /** At least half the window is owed: {@link ReceiveWindow.takeGrant} grants now */
  get grantDue (): boolean {
    return this.owed >= this.size / 2
  }

  /**
   * The credit to grant now: 0 until at least half the window is owed. Before
   * granting, the window doubles (within the cap and the budget) when the last
   * half window was used in less than two round trips and the last doubling
   * paid off ({@link GROWTH_PAYOFF}).
   *
   * @param now - current time in ms
   * @param rtt - latest measured round-trip time in ms, if any
   */
  takeGrant (now: number, rtt: number | undefined): number {
    if (!this.grantDue) {
      return 0
    }
    const roundTrip = Math.max(rtt ?? 0, MIN_ROUND_TRIP)
    this.consumedAtSize += this.owed
    if (now - this.sizedAt >= 2 * roundTrip && this.consumedAtSize >= this.size) {
      this.rateAtSize = this.consumedAtSize / (now - this.sizedAt)
      if (this.rateBeforeGrowth !== undefined && this.rateAtSize < this.rateBeforeGrowth / 2) {
        // the rate halved since the last growth: conditions changed, so probe afresh
        this.rateBeforeGrowth = undefined
      }
    }
    if (rtt != null && this.size < this.maxSize && now - this.lastGrantAt < 2 * roundTrip && this.growthPays()) {
      const before = this.size
      this.size += this.budget.takeUpTo(Math.min(this.size, this.maxSize - this.size))
      if (this.size > before) {
        this.rateBeforeGrowth = this.rateAtSize ?? 0
        this.rateAtSize = undefined
        this.sizedAt = now
        this.consumedAtSize = 0
      }
    }
    const grant = this.owed
    this.credit += grant
    this.lastGrantAt = now
    return grant
  }

  /**
   * The last growth paid off: data is consumed at least
   * {@link GROWTH_PAYOFF} times faster since. Where the window limits the
   * sender, doubling it doubles that rate; where something else does (the
   * CPU, with both peers on one host), it does not, and growing further
   * would only queue more bytes in the transport.
   */
  private growthPays (): boolean {
    if (this.rateBeforeGrowth === undefined) {
      return true
    }
    return this.rateAtSize !== undefined && this.rateAtSize >= GROWTH_PAYOFF * this.rateBeforeGrowth
  }

  /** The stream ended: give its growth back to the budget */
  release (): void {
    this.budget.release(this.size - this.initialSize)
  }
}

/** What a write larger than the send window sends now */
export interface CutShortWrite {
  /** Bytes to send now, out of the window */
  length: number
  /** The partial frame (the bytes held for the stream plus `length`) waits for the next credit */
  holdBack: boolean
}

/**
 * A write cut short by the send window sends no short frame now and another
 * after the next credit: when a whole frame fits, only whole frames go and the
 * rest of the window waits for the credit; otherwise the partial frame does.
 * The peer misses those bytes until then, never more than half the smallest
 * window, so a peer that grants once half its window is consumed grants
 * without them; past that bound the write takes the whole window as usual.
 *
 * @param window - the send window, in bytes (less than the write)
 * @param held - bytes of a partial frame the stream already holds
 * @param maxPayload - largest payload per Data frame, in bytes
 */
export function cutShortWrite (window: number, held: number, maxPayload: number): CutShortWrite {
  const framed = held + window
  const kept = framed % maxPayload
  if (kept > INITIAL_STREAM_WINDOW / 2) {
    return { length: window, holdBack: false }
  }
  return framed >= maxPayload ? { length: window - kept, holdBack: false } : { length: window, holdBack: true }
}

/**
 * Add window credit from the peer to a send window.
 *
 * @returns the new window, or `undefined` when it would pass 2^32 - 1 (a protocol violation)
 */
export function addSendCredit (window: number, credit: number): number | undefined {
  const total = window + credit
  return total > MAX_UINT32 ? undefined : total
}
