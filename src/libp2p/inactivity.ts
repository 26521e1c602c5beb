/**
 * Enforces `inactivityTimeout` for every stream of a muxer with one timer,
 * instead of a timer per stream: a stream with no data sent or received for
 * its timeout is aborted with a `TimeoutError` within a tenth of the timeout
 * after it expired.
 */

import { TimeoutError } from '@libp2p/interface'

/** What the sweep needs to know of a stream */
export interface Inactive {
  /** Milliseconds without traffic after which the stream is aborted; 0 or Infinity disables */
  readonly inactivityTimeout: number
  /** {@link activityClock} time of the last byte sent or received */
  readonly lastActivity: number
  abort(err: Error): void
}

/**
 * Whole milliseconds since this module loaded: small integers that V8 stores
 * without allocating, unlike `Date.now()`, since they are taken for every message.
 */
export function activityClock (): number {
  return Math.floor(performance.now() - START)
}

const START = performance.now()

export class InactivitySweep {
  private readonly streams = new Set<Inactive>()
  private timer: ReturnType<typeof setInterval> | undefined
  private period = Infinity

  /** Watch `stream` until {@link InactivitySweep.remove} */
  add (stream: Inactive): void {
    const timeout = stream.inactivityTimeout
    if (!(timeout > 0) || timeout === Infinity) {
      return
    }
    this.streams.add(stream)
    const period = Math.max(1, Math.ceil(timeout / 10))
    if (period < this.period || this.timer == null) {
      this.period = Math.min(period, this.period)
      clearInterval(this.timer)
      this.timer = setInterval(() => { this.sweep() }, this.period)
      this.timer.unref?.()
    }
  }

  /** Stop watching `stream`; the timer stops at its next sweep if nothing is left to watch */
  remove (stream: Inactive): void {
    this.streams.delete(stream)
  }

  /** Stop watching every stream */
  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
    this.period = Infinity
  }

  private sweep (): void {
    const now = activityClock()
    for (const stream of this.streams) {
      if (now - stream.lastActivity >= stream.inactivityTimeout) {
        this.streams.delete(stream)
        stream.abort(new TimeoutError(`stream saw no data sent or received for ${stream.inactivityTimeout} ms`))
      }
    }
    if (this.streams.size === 0) {
      this.stop()
    }
  }
}
