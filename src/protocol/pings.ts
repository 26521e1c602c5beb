/**
 * Ping bookkeeping: our pings awaiting their pong, the round-trip time they
 * measure, the keepalive and RTT pings among them, and the pongs we owe.
 */

/** Most pongs that may wait in the outbox; pings beyond this go unanswered until it drains */
export const MAX_PENDING_PONGS = 64

/** A round-trip time older than this (ms) is measured again when a window may grow */
export const RTT_REFRESH_INTERVAL = 10_000

/** Why a ping was sent */
export type PingPurpose = 'user' | 'rtt' | 'keepalive'

export class PingTracker {
  /** Latest measured round-trip time in ms */
  rtt: number | undefined
  private measuredAt = -Infinity
  /** Sent time of every ping awaiting its pong, by value */
  private readonly sent = new Map<number, number>()
  private nextValue = 1
  private keepAliveValue: number | undefined
  private rttValue: number | undefined
  /** Values of pings we answered since the outbox was last taken */
  private readonly owed = new Set<number>()

  /** Record a new ping sent at `now`; returns the opaque value to send */
  start (now: number, purpose: PingPurpose): number {
    const value = this.nextValue
    this.nextValue = value >= 0xffff_ffff ? 1 : value + 1
    this.sent.set(value, now)
    if (purpose === 'keepalive') {
      this.keepAliveValue = value
    } else if (purpose === 'rtt') {
      this.rttValue = value
    }
    return value
  }

  /** Forget ping `value` (its caller gave up waiting) */
  cancel (value: number): void {
    this.sent.delete(value)
  }

  /**
   * A pong with `value` arrived at `now`.
   *
   * @returns the round-trip time, or undefined for a pong nobody asked for (harmless)
   */
  answer (value: number, now: number): number | undefined {
    const sentAt = this.sent.get(value)
    if (sentAt === undefined) {
      return undefined
    }
    this.sent.delete(value)
    this.rtt = now - sentAt
    this.measuredAt = now
    if (value === this.keepAliveValue) {
      this.keepAliveValue = undefined
    }
    if (value === this.rttValue) {
      this.rttValue = undefined
    }
    return this.rtt
  }

  /** Whether to answer a ping with `value` now: once per value, and at most {@link MAX_PENDING_PONGS} until the outbox is taken */
  owePong (value: number): boolean {
    if (this.owed.has(value) || this.owed.size >= MAX_PENDING_PONGS) {
      return false
    }
    this.owed.add(value)
    return true
  }

  /** The outbox was taken: the pongs owed have left */
  pongsSent (): void {
    // clear() allocates a new table even when empty; this runs on every flush
    if (this.owed.size > 0) {
      this.owed.clear()
    }
  }

  /** No RTT ping is outstanding and the last measurement is missing or older than {@link RTT_REFRESH_INTERVAL} */
  wantsRttSample (now: number): boolean {
    return this.rttValue === undefined && (this.rtt === undefined || now - this.measuredAt > RTT_REFRESH_INTERVAL)
  }

  /** When the outstanding keepalive ping was sent, if one is */
  get keepAliveSentAt (): number | undefined {
    return this.keepAliveValue === undefined ? undefined : this.sent.get(this.keepAliveValue)
  }

  /** Forget every ping (the session ended) */
  clear (): void {
    this.sent.clear()
    this.keepAliveValue = undefined
    this.rttValue = undefined
  }
}
