/**
 * TCP loopback plumbing for the `raw` contender: a connected pair of plain
 * sockets. Every other contender runs over `SocketConnection` from
 * test/fixtures/socket-connection.ts, which writes chunk by chunk like
 * `@libp2p/tcp` does.
 */

import net from 'node:net'

/** Two connected sockets on 127.0.0.1: [dialer, listener]. Nagle is off, as in `@libp2p/tcp` */
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
  return [dialer, listener]
}
