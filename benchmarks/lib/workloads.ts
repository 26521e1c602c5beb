/**
 * The building blocks scenarios are made of: send with backpressure, count
 * what arrives, echo, request/response, one short-lived stream.
 */

import type { Session } from './contenders.js'
import type { Endpoint } from './endpoint.js'

/** Send `total` bytes in `writeSize` writes, waiting for 'drain' whenever `send()` says so */
export async function pump (end: Endpoint, total: number, writeSize: number): Promise<void> {
  const chunk = new Uint8Array(writeSize).fill(0x61)
  let sent = 0
  while (sent < total) {
    const n = Math.min(writeSize, total - sent)
    const ok = end.send(n === writeSize ? chunk : chunk.subarray(0, n))
    sent += n
    if (!ok && sent < total) { await end.waitForDrain() }
  }
}

export interface Progress {
  /** performance.now() of each arrival */
  times: number[]
  /** bytes received so far, after each arrival */
  bytes: number[]
}

/** A receiver that sees no byte for this long fails the run instead of hanging */
export const STALL_TIMEOUT_MS = 30_000

/**
 * Resolve once `total` bytes have arrived on `end`; reject if it ends first or
 * stalls. With `progress`, record the arrival curve.
 */
export async function receive (end: Endpoint, total: number, progress?: Progress): Promise<void> {
  let watchdog: ReturnType<typeof setInterval> | undefined
  try {
    await new Promise<void>((resolve, reject) => {
      let got = 0
      let last = performance.now()
      watchdog = setInterval(() => {
        if (performance.now() - last > STALL_TIMEOUT_MS) { reject(new Error(`receiver stalled: no data for ${STALL_TIMEOUT_MS} ms after ${got} of ${total} bytes`)) }
      }, 1_000)
      end.onData((data) => {
        got += data.byteLength
        last = performance.now()
        if (progress != null) {
          progress.times.push(last)
          progress.bytes.push(got)
        }
        if (got >= total) { resolve() }
      })
      end.onEnd(() => {
        if (got < total) { reject(new Error(`pipe ended after ${got} of ${total} bytes`)) }
      })
    })
  } finally {
    clearInterval(watchdog)
  }
}

/** Server side of every echo workload: send back what arrives; close when the client does */
export function echo (end: Endpoint): void {
  end.onData((data) => {
    try {
      end.send(data)
    } catch {
      // the stream was torn down under us; the client side reports the failure
    }
  })
  end.onEnd(() => { end.closeWrite().catch(() => {}) })
}

/** `count` round trips of `size`-byte messages on one pipe, one at a time */
export async function requestResponse (end: Endpoint, size: number, count: number): Promise<void> {
  const msg = new Uint8Array(size).fill(0x62)
  await new Promise<void>((resolve, reject) => {
    let pending = 0
    let left = count
    end.onData((data) => {
      pending += data.byteLength
      while (pending >= size && left > 0) {
        pending -= size
        left--
        if (left === 0) {
          resolve()
          return
        }
        try {
          end.send(msg)
        } catch (err) {
          reject(err)
          return
        }
      }
    })
    end.onEnd(() => {
      if (left > 0) { reject(new Error(`pipe ended with ${left} round trips to go`)) }
    })
    end.send(msg)
  })
}

/** Open a stream, send `payload` bytes, close our write side, read the echo until the end */
export async function shortStream (session: Session, payload: Uint8Array): Promise<void> {
  const end = await session.open()
  const done = new Promise<void>((resolve, reject) => {
    let got = 0
    end.onData((data) => { got += data.byteLength })
    end.onEnd(() => {
      if (got === payload.byteLength) { resolve() } else { reject(new Error(`echo had ${got} of ${payload.byteLength} bytes`)) }
    })
  })
  end.send(payload)
  await end.closeWrite()
  await done
}

/** Run `total` jobs with at most `parallel` in flight */
export async function inParallel (total: number, parallel: number, job: () => Promise<void>): Promise<void> {
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < total) {
      next++
      await job()
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, total) }, lane))
}
