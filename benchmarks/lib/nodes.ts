/**
 * Full js-libp2p 3 nodes (TCP + Noise + the contender's muxer) on 127.0.0.1,
 * and their "no muxer" twin: the same `@libp2p/tcp` transport and Noise
 * encryption, with the encrypted connection used directly as the one pipe.
 */

import { noise } from '@chainsafe/libp2p-noise'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { baseMuxerInit, loadMuxer, singlePipeSession } from './contenders.js'
import { messageStreamEndpoint } from './endpoint.js'
import type { ContenderId, Session } from './contenders.js'
import type { Endpoint } from './endpoint.js'
import type { MessageStream, MultiaddrConnection, Upgrader } from '@libp2p/interface'

export const BENCH_PROTOCOL = '/libp2p-yamux-bench/1.0.0'
const STREAM_LIMIT = 10_000

/** Two libp2p nodes, connected, with a handler for the benchmark protocol */
export async function libp2pSession (id: ContenderId): Promise<Session> {
  const muxer = (await loadMuxer(id))(baseMuxerInit(id))
  const makeNode = async (): Promise<Awaited<ReturnType<typeof createLibp2p>>> => createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [muxer],
    connectionMonitor: { enabled: false }
  })
  const [client, server] = await Promise.all([makeNode(), makeNode()])
  let acceptFn: ((end: Endpoint) => void) | undefined
  let warmedUp: (() => void) | undefined
  const limits = { maxInboundStreams: STREAM_LIMIT, maxOutboundStreams: STREAM_LIMIT }
  await server.handle(BENCH_PROTOCOL, (stream) => {
    if (warmedUp != null) {
      warmedUp()
      warmedUp = undefined
      stream.addEventListener('message', () => {})
      return
    }
    if (acceptFn == null) { throw new Error('no accept handler') }
    acceptFn(messageStreamEndpoint(stream))
  }, limits)
  const target = server.getMultiaddrs()[0]
  // connect (TCP, Noise, muxer negotiation) before anything is measured, and
  // make sure the server side of the connection is ready too: until it is,
  // its muxer has no 'stream' listener and refuses more than 10 early streams
  const ready = new Promise<void>(resolve => { warmedUp = resolve })
  const warm = await client.dialProtocol(target, BENCH_PROTOCOL, limits)
  await ready
  warm.abort(new Error('warm-up done'))
  return {
    multiStream: true,
    open: async () => messageStreamEndpoint(await client.dialProtocol(target, BENCH_PROTOCOL, limits)),
    accept: (fn) => { acceptFn = fn },
    close: async () => {
      // abort first: a graceful stop would wait on every half-finished stream
      for (const conn of [...client.getConnections(), ...server.getConnections()]) { conn.abort(new Error('benchmark teardown')) }
      await Promise.all([client.stop(), server.stop()]).catch(() => {})
    }
  }
}

/**
 * The "no muxer" twin: `@libp2p/tcp` dials and listens, an upgrader that only
 * captures the raw connections hands them to Noise, and the encrypted
 * `MessageStream` pair is the single pipe.
 */
export async function noiseSession (): Promise<Session> {
  const logger = defaultLogger()
  const inbound: { resolve?(c: MultiaddrConnection): void } = {}
  const inboundConn = new Promise<MultiaddrConnection>(resolve => { inbound.resolve = resolve })
  const capture = {
    upgradeInbound: async (maConn: MultiaddrConnection) => { inbound.resolve?.(maConn) },
    upgradeOutbound: async (maConn: MultiaddrConnection) => maConn,
    getStreamMuxers: () => new Map()
  } as unknown as Upgrader
  const transport = tcp()({ logger })
  const listener = transport.createListener({ upgrader: capture })
  await listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))
  const target = listener.getAddrs()[0]
  const outboundConn = await transport.dial(target, { upgrader: capture, signal: AbortSignal.timeout(10_000) }) as unknown as MultiaddrConnection
  const encrypter = async (): Promise<ReturnType<ReturnType<typeof noise>>> => noise()({
    peerId: undefined as never,
    privateKey: await generateKeyPair('Ed25519'),
    logger,
    upgrader: capture
  })
  const [clientEnc, serverEnc] = await Promise.all([encrypter(), encrypter()])
  const opts = { skipStreamMuxerNegotiation: true, signal: AbortSignal.timeout(10_000) }
  const [secClient, secServer] = await Promise.all([
    clientEnc.secureOutbound(outboundConn, opts),
    inboundConn.then(async conn => serverEnc.secureInbound(conn, opts))
  ])
  const a: MessageStream = secClient.connection
  const b: MessageStream = secServer.connection
  const rawServer = await inboundConn
  return singlePipeSession(messageStreamEndpoint(a), messageStreamEndpoint(b), () => {
    a.abort(new Error('benchmark teardown'))
    b.abort(new Error('benchmark teardown'))
    outboundConn.abort(new Error('benchmark teardown'))
    rawServer.abort(new Error('benchmark teardown'))
    void listener.close().catch(() => {})
  })
}
