/**
 * TCP loopback plumbing: a connected pair of plain sockets that have already
 * exchanged a negotiation message, as every libp2p connection has before its
 * muxer writes a byte. The `raw` contender uses the sockets as they are; every
 * other contender wraps them in `SocketConnection` from
 * test/fixtures/socket-connection.ts, which writes chunk by chunk like
 * `@libp2p/tcp` does.
 */

import net from 'node:net'
import { SocketConnection } from '../../test/fixtures/socket-connection.js'

/**
 * The first message of a multistream-select negotiation (its header line,
 * length-prefixed). The dialer sends it and the listener answers with the
 * same before the pipe is handed over.
 */
export const NEGOTIATION = new TextEncoder().encode('\x13/multistream/1.0.0\n')

/**
 * Resolve once `bytes` bytes have arrived on `socket`; the listeners are
 * removed again. Nothing else is in flight then: the peer writes its next
 * byte only once a muxer (or scenario) has taken the socket over.
 */
async function readExactly (socket: net.Socket, bytes: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let got = 0
    const onData = (buf: Buffer): void => {
      got += buf.byteLength
      if (got > bytes) {
        cleanUp()
        reject(new Error(`negotiation: ${got} bytes arrived, ${bytes} expected`))
      } else if (got === bytes) {
        cleanUp()
        resolve()
      }
    }
    const onEnd = (): void => {
      cleanUp()
      reject(new Error(`negotiation: the socket ended after ${got} of ${bytes} bytes`))
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
 * listener reads it and answers with the same, the dialer reads the answer.
 *
 * A connection whose first write is a muxer's burst of megabytes behaves
 * differently from one that began with a small exchange: on Linux the
 * receiver's first round-trip sample then measures microseconds, and the
 * receive buffer can stay at its initial 128 KiB for hundreds of
 * milliseconds (benchmarks/README.md, Method, "Negotiated connections").
 * Real connections always begin with negotiation, so the benchmark's do too.
 */
export async function negotiate (dialer: net.Socket, listener: net.Socket): Promise<void> {
  const heard = readExactly(listener, NEGOTIATION.byteLength)
  dialer.write(NEGOTIATION)
  await heard
  const answered = readExactly(dialer, NEGOTIATION.byteLength)
  listener.write(NEGOTIATION)
  await answered
}

/** Two connected sockets on 127.0.0.1, negotiated: [dialer, listener]. Nagle is off, as in `@libp2p/tcp` */
export async function tcpSocketPair (): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer({ noDelay: true })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => { resolve() })
  })
  const address = server.address() as net.AddressInfo
  const accepted = new Promise<net.Socket>(resolve => server.once('connection', resolve))
  const dialer = net.connect({ host: '127.0.0.1', port: address.port, noDelay: true })
  await new Promise<void>((resolve, reject) => {
    dialer.once('connect', resolve)
    dialer.once('error', reject)
  })
  const listener = await accepted
  listener.setNoDelay(true)
  server.close()
  try {
    await negotiate(dialer, listener)
  } catch (err) {
    dialer.destroy()
    listener.destroy()
    throw err
  }
  return [dialer, listener]
}

/** A negotiated pair of loopback TCP connections as libp2p `MessageStream`s: [dialer (outbound), listener (inbound)] */
export async function tcpConnectionPair (): Promise<[SocketConnection, SocketConnection]> {
  const [dialer, listener] = await tcpSocketPair()
  return [
    new SocketConnection({ socket: dialer, direction: 'outbound' }),
    new SocketConnection({ socket: listener, direction: 'inbound' })
  ]
}
