/**
 * Soak, bounded in time: 100,000 stream open / write / close cycles (with an
 * echo from the other side) over one connection, many at a time. Afterwards
 * the heap must return close to its baseline, both muxers must hold no
 * stream, and no listener-leak warning may appear (test/setup.ts fails the
 * run on one too; this test also counts them itself).
 */

import { multiaddrConnectionPair } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import { yamux } from '../src/index.js'
import { tcpConnectionPair } from './fixtures/socket-connection.js'
import { formatBytes, recordHeap, settledHeap } from './hostile/heap.js'
import type { YamuxMuxer } from '../src/index.js'
import type { YamuxStream } from '../src/libp2p/stream.js'
import type { MessageStream } from '@libp2p/interface'

const CYCLES = Number(process.env.YAMUX_SOAK_CYCLES ?? 100_000)
const CONCURRENCY = 256
const MiB = 1024 * 1024

/** The server side: echo every stream's data, close when the client has */
function serveEcho (muxer: YamuxMuxer): void {
  muxer.addEventListener('stream', (evt) => {
    const stream = evt.detail
    stream.addEventListener('message', (msg) => {
      if (stream.writeStatus === 'writable') {
        stream.send(msg.data)
      }
    })
    stream.addEventListener('remoteCloseWrite', () => {
      void stream.close().catch(() => {})
    })
  })
}

/** One cycle: open, write, half-close, read the echo to the end, check it */
async function cycle (muxer: YamuxMuxer, n: number, size: number): Promise<void> {
  const stream: YamuxStream = await muxer.createStream()
  const payload = new Uint8Array(size + (n % 64)).fill(n & 0xff)
  let received = 0
  let wrong = false
  const closed = new Promise<Error | undefined>(resolve => {
    stream.addEventListener('close', (evt) => { resolve(evt.error) })
  })
  stream.addEventListener('message', (evt) => {
    for (const byte of evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()) {
      wrong ||= byte !== (n & 0xff)
    }
    received += evt.data.byteLength
  })
  if (!stream.send(payload)) {
    await stream.onDrain()
  }
  await stream.close()
  const error = await closed
  if (error != null || wrong || received !== payload.byteLength) {
    throw new Error(`cycle ${n}: error ${error?.name ?? 'none'}, echo ${received}/${payload.byteLength} bytes${wrong ? ', corrupt' : ''}`)
  }
}

async function run (muxer: YamuxMuxer, from: number, count: number, size = 64, concurrency = CONCURRENCY): Promise<void> {
  let next = from
  const end = from + count
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < end) {
      await cycle(muxer, next++, size)
    }
  }))
}

describe('soak', function () {
  // a budget for slow machines; it takes ~10-30 s here
  this.timeout(120_000)
  const conns: MessageStream[] = []
  const muxers: YamuxMuxer[] = []

  afterEach(() => {
    muxers.splice(0).forEach(m => { m.abort(new Error('soak over')) })
    conns.splice(0).forEach(c => { if (c.status === 'open') { c.abort(new Error('soak over')) } })
  })

  const variants = [
    { transport: 'tcp', cycles: CYCLES, size: 64, concurrency: CONCURRENCY },
    { transport: 'memory', cycles: Math.floor(CYCLES / 10), size: 64, concurrency: CONCURRENCY },
    // past the 256 KiB window: every stream needs window updates both ways
    { transport: 'tcp', cycles: Math.floor(CYCLES / 50), size: 300 * 1024, concurrency: 32 }
  ] as const
  for (const { transport, cycles, size, concurrency } of variants) {
    it(`${transport}: ${cycles.toLocaleString('en')} stream open/write/close cycles of ${formatBytes(size)}; the heap returns near its baseline, no listener leak`, async () => {
      const warnings: string[] = []
      const onWarning = (warning: Error): void => { warnings.push(`${warning.name}: ${warning.message}`) }
      process.on('warning', onWarning)
      try {
        const [clientConn, serverConn] = transport === 'tcp' ? await tcpConnectionPair() : multiaddrConnectionPair()
        conns.push(clientConn, serverConn)
        const client = yamux({ enableKeepAlive: false })().createStreamMuxer(clientConn)
        const server = yamux({ enableKeepAlive: false })().createStreamMuxer(serverConn)
        muxers.push(client, server)
        serveEcho(server)

        // warm up, then take the baseline
        await run(client, 0, Math.min(2000, Math.ceil(cycles / 10)), size, concurrency)
        const baseline = await settledHeap()
        const started = performance.now()
        await run(client, 2000, cycles, size, concurrency)
        const seconds = (performance.now() - started) / 1000
        await new Promise(resolve => setTimeout(resolve, 50))
        const after = await settledHeap()
        const growth = recordHeap(`soak ${transport} ${cycles} cycles of ${formatBytes(size)} (${Math.round(cycles / seconds)}/s)`, baseline, after, 16 * MiB)

        expect(client.streams, 'client keeps no stream').to.have.lengthOf(0)
        expect(server.streams, 'server keeps no stream').to.have.lengthOf(0)
        expect(client.session.streamCount).to.equal(0)
        expect(server.session.streamCount).to.equal(0)
        expect(client.session.receiveBudgetUsed).to.equal(0)
        expect(server.session.receiveBudgetUsed).to.equal(0)
        expect(growth, `heap growth after ${cycles} cycles: ${formatBytes(growth)}`).to.be.lessThan(16 * MiB)
        expect(warnings, 'no warnings (listener leaks)').to.deep.equal([])
        expect(client.status).to.equal('open')
      } finally {
        process.off('warning', onWarning)
      }
    })
  }
})
