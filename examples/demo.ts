/* eslint-disable no-console */
/**
 * `npm start`: two js-libp2p 3 nodes on 127.0.0.1 (TCP + noise + libp2p-yamux) move data both ways
 * on several streams at once and report streams, bytes, throughput and round-trip time.
 * Usage: `node dist/examples/demo.js [streams] [MiB each way]` (or DEMO_STREAMS, DEMO_MIB).
 */

import { randomBytes } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { yamux } from '../src/index.js'
import { installPolyfills } from '../test/fixtures/polyfill.js'
import type { YamuxMuxer } from '../src/index.js'
import type { Libp2p, Stream } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'

installPolyfills() // js-libp2p 3 calls Promise.withResolvers, new in Node 22

const STREAMS = Number(process.argv[2] ?? process.env.DEMO_STREAMS ?? 8)
const MIB = Number(process.argv[3] ?? process.env.DEMO_MIB ?? 32)
const PROTOCOL = '/demo/bulk/1.0.0'
const perStream = Math.floor(MIB * 1024 * 1024 / STREAMS)
const chunk = randomBytes(64 * 1024) // never modified, so it can be sent again and again
const moved = { up: 0, down: 0 } // bytes received by the listener (up) and by the dialer (down)

/** yamux(), keeping each connection's muxer in `muxers`: it can ping the Yamux session itself */
function trackedYamux (muxers: YamuxMuxer[]): ReturnType<typeof yamux> {
  const createFactory = yamux()
  return (components) => {
    const factory = createFactory(components)
    const createStreamMuxer = factory.createStreamMuxer.bind(factory)
    factory.createStreamMuxer = (conn) => { const muxer = createStreamMuxer(conn); muxers.push(muxer); return muxer }
    return factory
  }
}

async function createNode (muxers: YamuxMuxer[] = []): Promise<Libp2p<{ ping: Ping }>> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [trackedYamux(muxers)],
    services: { ping: ping() }
  })
}

/** Send `bytes` bytes, waiting whenever send() asks us to, then half-close */
async function sendBytes (stream: Stream, bytes: number): Promise<void> {
  for (let left = bytes; left > 0; left -= chunk.byteLength) {
    if (!stream.send(chunk.subarray(0, Math.min(left, chunk.byteLength)))) {
      await stream.onDrain()
    }
  }
  await stream.close()
}

/** Read the stream to its end, counting bytes into `moved[direction]` */
async function receiveBytes (stream: Stream, direction: 'up' | 'down'): Promise<void> {
  for await (const data of stream) {
    moved[direction] += data.byteLength
  }
}

/** Round trips of the Yamux session itself (ping frames on stream 0), in ms */
async function yamuxRtts (muxer: YamuxMuxer, count: number): Promise<number[]> {
  const rtts: number[] = []
  while (rtts.length < count) { rtts.push(await muxer.ping()) }
  return rtts
}

const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1)
const mbps = (bytes: number, ms: number): string => (bytes / 1e6 / (ms / 1000)).toFixed(1)
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[values.length >> 1] ?? NaN

async function main (): Promise<void> {
  const dialerMuxers: YamuxMuxer[] = []
  const [listener, dialer] = await Promise.all([createNode(), createNode(dialerMuxers)])
  try {
    const served: Array<Promise<unknown>> = [] // the listener's side of each stream
    await listener.handle(PROTOCOL, async (stream) => {
      served.push(Promise.all([receiveBytes(stream, 'up'), sendBytes(stream, perStream)]))
      await served.at(-1)
    }, { maxInboundStreams: STREAMS })

    const address = listener.getMultiaddrs()[0]
    console.log('libp2p-yamux demo: two js-libp2p 3 nodes on loopback, TCP + noise + libp2p-yamux')
    console.log(`  listener  ${address.toString()}`)
    const connection = await dialer.dial(address)
    const muxer = dialerMuxers[0]
    console.log(`  dialer    connected: muxer ${connection.multiplexer}, encryption ${connection.encryption}`)
    console.log(`  round trip, idle: Yamux ping ${median(await yamuxRtts(muxer, 5)).toFixed(2)} ms (median of 5), ` +
      `libp2p ping ${await dialer.services.ping.ping(listener.peerId)} ms (whole ms)`)
    console.log(`  moving ${mib(perStream * STREAMS)} MiB each way on ${STREAMS} streams (${mib(perStream)} MiB per stream and direction)`)

    const start = performance.now()
    const finished = new AbortController()
    const loadRtts: number[] = []
    const sampler = (async () => { // Yamux pings while the data flows: queueing shows up here
      while (!finished.signal.aborted) {
        loadRtts.push(...await yamuxRtts(muxer, 1).catch(() => []))
        await new Promise(resolve => setTimeout(resolve, 100))
      }
    })()
    const progress = setInterval(() => {
      const elapsed = performance.now() - start
      if (elapsed < 1000) { return } // a progress display only for anything over a second
      const line = `  ${(elapsed / 1000).toFixed(1)} s  ↑ ${mib(moved.up)} MiB  ↓ ${mib(moved.down)} MiB  ` +
        `${mbps(moved.up + moved.down, elapsed)} MB/s  streams open: ${connection.streams.length}  ` +
        `rtt: ${loadRtts.at(-1)?.toFixed(1) ?? '-'} ms`
      if (process.stdout.isTTY) { process.stdout.write(`\r${line}\x1b[K`) } else { console.log(line) }
    }, process.stdout.isTTY ? 200 : 1000)

    try {
      await Promise.all(Array.from({ length: STREAMS }, async () => {
        const stream = await connection.newStream(PROTOCOL, { maxOutboundStreams: STREAMS })
        await Promise.all([sendBytes(stream, perStream), receiveBytes(stream, 'down')])
      }))
      await Promise.all(served) // the listener may still be reading the dialer's last bytes
    } finally {
      finished.abort()
      clearInterval(progress)
      if (process.stdout.isTTY) { process.stdout.write('\r\x1b[K') }
    }
    const ms = performance.now() - start
    await sampler
    if (moved.up !== perStream * STREAMS || moved.down !== perStream * STREAMS) {
      throw new Error(`sent ${perStream * STREAMS} bytes each way, but ${moved.up} arrived ↑ and ${moved.down} ↓`)
    }

    console.log(`  done: ${STREAMS} streams, ${mib(moved.up)} MiB ↑ and ${mib(moved.down)} MiB ↓ in ${(ms / 1000).toFixed(2)} s`)
    console.log(`  throughput: ${mbps(moved.up, ms)} MB/s each way, ${mbps(moved.up + moved.down, ms)} MB/s in total`)
    if (loadRtts.length > 0) {
      console.log(`  round trip under load: Yamux ping median ${median(loadRtts).toFixed(1)} ms, ` +
        `max ${Math.max(...loadRtts).toFixed(1)} ms (${loadRtts.length} samples)`)
    }
    console.log(`  round trip after: Yamux ping ${median(await yamuxRtts(muxer, 5)).toFixed(2)} ms`)
  } finally {
    await Promise.all([dialer.stop(), listener.stop()])
  }
  console.log('  both nodes stopped')
}

if (!(Number.isInteger(STREAMS) && STREAMS >= 1 && MIB > 0)) {
  console.error('usage: node dist/examples/demo.js [streams >= 1] [MiB each way > 0]')
  process.exitCode = 2
} else {
  main().catch(err => { console.error('demo failed:', err); process.exitCode = 1 })
}
