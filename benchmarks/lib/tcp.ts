/**
 * TCP loopback plumbing: a connected pair of plain sockets that have already
 * exchanged a negotiation message, as every libp2p connection has before its
 * muxer writes a byte. The `raw` contender uses the sockets as they are; every
 * other contender wraps them in `SocketConnection` from
 * test/fixtures/socket-connection.ts, which writes chunk by chunk like
 * `@libp2p/tcp` does.
 */

import { loopbackSocketPair, socketConnectionPair } from '../../test/fixtures/socket-connection.js'
import type { SocketConnection } from '../../test/fixtures/socket-connection.js'
import type net from 'node:net'

/**
 * The first message of a multistream-select negotiation (its header line,
 * length-prefixed). The dialer sends it and the listener answers with the
 * same before the pipe is handed over.
 */
export const NEGOTIATION = new TextEncoder().encode('\x13/multistream/1.0.0\n')

/**
 * Resolve once `expected` has arrived on `socket`, byte for byte; reject if
 * other bytes, more bytes or the end arrive instead. The listeners are
 * removed again. Nothing else is in flight then: the peer writes its next
 * byte only once a muxer (or scenario) has taken the socket over.
 */
async function expectBytes (socket: net.Socket, expected: Uint8Array): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const got: Buffer[] = []
    let length = 0
    const onData = (buf: Buffer): void => {
      got.push(buf)
      length += buf.byteLength
      if (length < expected.byteLength) {
        return
      }
      cleanUp()
      const received = Buffer.concat(got)
      if (received.equals(expected)) {
        resolve()
      } else {
        reject(new Error(`negotiation: expected ${JSON.stringify(Buffer.from(expected).toString())}, got ${length} bytes ${JSON.stringify(received.toString())}`))
      }
    }
    const onEnd = (): void => {
      cleanUp()
      reject(new Error(`negotiation: the socket ended after ${length} of ${expected.byteLength} bytes`))
    }
    const cleanUp = (): void => {
      socket.off('data', onData)
      socket.off('end', onEnd)
      socket.off('error', onEnd)
    }
    socket.on('data', onData)
    socket.once('end', onEnd)
    socket.once('error', onEnd)
  })
}

/**
 * One negotiation round trip: the dialer writes {@link NEGOTIATION}, the
 * listener checks it and answers with the same, the dialer checks the answer.
 *
 * A connection whose first write is a muxer's burst of megabytes behaves
 * differently from one that began with a small exchange: on Linux the
 * receiver's first round-trip sample then measures microseconds, and the
 * receive buffer can stay at its initial 128 KiB for hundreds of
 * milliseconds (benchmarks/README.md, Method, "Negotiated connections").
 * Real connections always begin with negotiation, so the benchmark's do too.
 */
export async function negotiate (dialer: net.Socket, listener: net.Socket): Promise<void> {
  const heard = expectBytes(listener, NEGOTIATION)
  dialer.write(NEGOTIATION)
  await heard
  const answered = expectBytes(dialer, NEGOTIATION)
  listener.write(NEGOTIATION)
  await answered
}

/** {@link loopbackSocketPair}, negotiated: [dialer, listener] */
export async function negotiatedSocketPair (): Promise<[net.Socket, net.Socket]> {
  const [dialer, listener] = await loopbackSocketPair()
  try {
    await negotiate(dialer, listener)
  } catch (err) {
    dialer.destroy()
    listener.destroy()
    throw err
  }
  return [dialer, listener]
}

/** {@link negotiatedSocketPair} wrapped as libp2p `MessageStream`s: [dialer (outbound), listener (inbound)] */
export async function negotiatedConnectionPair (): Promise<[SocketConnection, SocketConnection]> {
  return socketConnectionPair(await negotiatedSocketPair())
}
