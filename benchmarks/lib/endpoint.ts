/**
 * One shape for every contender's byte pipe, so a scenario is written once:
 * a muxed stream, a bare `MessageStream` (the "no muxer" baseline) and a raw
 * `net.Socket` all become an `Endpoint`. The adapters are one call deep and use
 * the events directly (no async iterators), so they measure the pipe, not the glue.
 */

import { Uint8ArrayList } from 'uint8arraylist'
import type { MessageStream } from '@libp2p/interface'
import type net from 'node:net'

export type Chunk = Uint8Array | Uint8ArrayList

export interface Endpoint {
  /** queue bytes; false means wait for `waitForDrain()` before sending more */
  send(data: Chunk): boolean
  /** resolves at the next 'drain' (or when the pipe closes) */
  waitForDrain(): Promise<void>
  /** every chunk received */
  onData(fn: (data: Chunk) => void): void
  /** the remote finished sending (or the pipe closed) */
  onEnd(fn: () => void): void
  /** half-close: we send no more */
  closeWrite(): Promise<void>
  /** tear down at once */
  abort(): void
}

/** How long a sender waits for 'drain' before the run fails with a diagnosis instead of hanging */
export const DRAIN_TIMEOUT_MS = 30_000

type Drainable = Pick<MessageStream, 'addEventListener' | 'removeEventListener' | 'writableNeedsDrain' | 'writeBufferLength' | 'status'>

/**
 * Await the next 'drain' or 'close' event. `onDrain()` of `@libp2p/utils` 7 is not
 * used: its promise is cached after the first drain and never renewed (defect 16).
 * A drain that never comes fails the run after `timeoutMs`, saying what the stream looked like.
 */
export async function waitForDrain (stream: Drainable, timeoutMs = DRAIN_TIMEOUT_MS): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer)
      stream.removeEventListener('drain', done)
      stream.removeEventListener('close', done)
      resolve()
    }
    const timer = setTimeout(() => {
      stream.removeEventListener('drain', done)
      stream.removeEventListener('close', done)
      reject(new Error(`send() returned false but no 'drain' (or 'close') followed within ${timeoutMs} ms; ` +
        `now writableNeedsDrain=${String(stream.writableNeedsDrain)}, writeBufferLength=${stream.writeBufferLength}, status=${stream.status}`))
    }, timeoutMs)
    stream.addEventListener('drain', done)
    stream.addEventListener('close', done)
  })
}

/** `fn`, called at most once however often the result is */
function once (fn: () => void): () => void {
  let called = false
  return () => {
    if (!called) {
      called = true
      fn()
    }
  }
}

/** A muxed stream or a bare connection */
export function messageStreamEndpoint (stream: MessageStream, close?: () => Promise<void>): Endpoint {
  return {
    send: (data) => stream.send(data),
    waitForDrain: async () => { await waitForDrain(stream) },
    onData: (fn) => { stream.addEventListener('message', (evt) => { fn(evt.data) }) },
    onEnd: (fn) => {
      const end = once(fn)
      stream.addEventListener('end', end)
      stream.addEventListener('close', end)
    },
    closeWrite: close ?? (async () => { await stream.close() }),
    abort: () => { stream.abort(new Error('benchmark teardown')) }
  }
}

/**
 * How a bare pipe's sender hands over each write, to price the two ways a
 * muxer can put a header before a write it is given, over a connection that
 * writes chunk by chunk (as `@libp2p/tcp` does): `'head apart'` sends the
 * first {@link HEADER_BYTES} bytes and the rest as two chunks in one `send()`
 * (a header written apart from a write it does not copy: two socket writes);
 * `'copied'` sends a copy in freshly allocated memory (header and write joined
 * in one buffer: one socket write, one copy). The bytes sent are the same.
 */
export type WriteShape = 'head apart' | 'copied'

/** A Yamux header's length: the head `'head apart'` writes on its own, in bytes */
export const HEADER_BYTES = 12

/** `end`, every chunk it sends given `shape` */
export function shapeWrites (end: Endpoint, shape: WriteShape): Endpoint {
  const reshape = (data: Uint8Array): Chunk => {
    if (shape === 'copied') {
      const copy = Buffer.allocUnsafe(data.byteLength)
      copy.set(data)
      return copy
    }
    return new Uint8ArrayList(data.subarray(0, HEADER_BYTES), data.subarray(HEADER_BYTES))
  }
  return {
    ...end,
    send: (data) => end.send(data instanceof Uint8Array && data.byteLength > HEADER_BYTES ? reshape(data) : data)
  }
}

/** A raw socket */
export function socketEndpoint (socket: net.Socket): Endpoint {
  return {
    send: (data) => {
      if (data instanceof Uint8Array) { return socket.write(data) }
      let ok = true
      for (const buf of data) { ok = socket.write(buf) }
      return ok
    },
    waitForDrain: async () => {
      await new Promise<void>(resolve => {
        const done = (): void => {
          socket.off('drain', done)
          socket.off('close', done)
          resolve()
        }
        socket.on('drain', done)
        socket.on('close', done)
      })
    },
    onData: (fn) => { socket.on('data', fn) },
    onEnd: (fn) => {
      const end = once(fn)
      socket.once('end', end)
      socket.once('close', end)
    },
    closeWrite: async () => {
      await new Promise<void>(resolve => socket.end(resolve))
    },
    abort: () => { socket.destroy() }
  }
}
