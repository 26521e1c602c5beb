/**
 * Pings a face sent on behalf of its callers, each waiting for its pong, an
 * abort signal, or the end of the session.
 */

import type { YamuxSession } from '../protocol/session.js'

export class PendingPings {
  private readonly session: YamuxSession
  private readonly waiting = new Map<number, (result: number | Error) => void>()

  constructor (session: YamuxSession) {
    this.session = session
  }

  /** Send a ping; resolves with the round-trip time in ms, rejects on abort or when the session ends */
  async ping (signal?: AbortSignal): Promise<number> {
    signal?.throwIfAborted()
    const value = this.session.ping()
    return new Promise<number>((resolve, reject) => {
      const onAbort = (): void => {
        this.waiting.delete(value)
        this.session.cancelPing(value)
        reject(signal?.reason)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.waiting.set(value, result => {
        signal?.removeEventListener('abort', onAbort)
        if (result instanceof Error) {
          reject(result)
        } else {
          resolve(result)
        }
      })
    })
  }

  /** The pong for `value` arrived after `rtt` ms */
  answered (value: number, rtt: number): void {
    this.settle(value, rtt)
  }

  /** The session ended: every waiting ping fails with `error` */
  failAll (error: Error): void {
    for (const value of [...this.waiting.keys()]) {
      this.settle(value, error)
    }
  }

  private settle (value: number, result: number | Error): void {
    const settle = this.waiting.get(value)
    this.waiting.delete(value)
    settle?.(result)
  }
}
