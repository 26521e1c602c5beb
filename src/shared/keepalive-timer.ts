/**
 * The one timer a session needs: it runs the engine's `tick()` (keepalive
 * pings, ping timeout) at the time the engine asks for, until stopped.
 */

import type { Clock, YamuxSession } from '../protocol/session.js'

/** The faces' clock: milliseconds with sub-millisecond precision */
export const clock: Clock = { now: () => performance.now() }

export class KeepAliveTimer {
  private readonly session: YamuxSession
  private timer: ReturnType<typeof setTimeout> | undefined
  private stopped = false

  constructor (session: YamuxSession) {
    this.session = session
  }

  /** Arm the timer for the engine's next tick, if it wants one (unref'd: it never keeps a process alive) */
  start (): void {
    clearTimeout(this.timer)
    const at = this.session.nextTickAt()
    if (at === undefined || this.stopped) {
      return
    }
    this.timer = setTimeout(() => {
      this.session.tick()
      this.start()
    }, Math.max(0, at - clock.now()))
    this.timer.unref?.()
  }

  /** Stop for good */
  stop (): void {
    this.stopped = true
    clearTimeout(this.timer)
    this.timer = undefined
  }
}
