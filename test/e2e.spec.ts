/**
 * End to end: two js-libp2p 3 nodes on 127.0.0.1 (TCP + noise + our yamux).
 *
 * - 50 concurrent streams of `/test/bulk/1.0.0`, each moving 4 MiB of
 * deterministic pseudo-random data in both directions at once, every byte
 * checked by SHA-256 on both sides;
 * - the libp2p ping service, in both directions;
 * - stopping both nodes leaves no TCP handle and no referenced timer behind.
 */

import { createHash } from 'node:crypto'
import { expect } from 'aegir/chai'
import { pEvent } from 'p-event'
import { yamux } from '../src/index.js'
import { createNodePair, stopAll } from './fixtures/nodes.js'
import type { NodePair } from './fixtures/nodes.js'
import type { Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

const PROTOCOL = '/test/bulk/1.0.0'
const STREAMS = 50
const BYTES_PER_DIRECTION = 4 * 1024 * 1024
/** The dialer's first 4 bytes name the stream's seed; the payload follows */
const HEADER_LENGTH = 4

/** xorshift32: fast, deterministic, good enough to make every stream's bytes unique */
class PseudoRandom {
  private state: number

  constructor (seed: number) {
    this.state = (seed ^ 0x9e3779b9) >>> 0 || 1
    for (let i = 0; i < 8; i++) { this.next() }
  }

  next (): number {
    let x = this.state
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.state = x >>> 0
    return this.state
  }

  /** A fresh buffer (send() may hold on to it, so never reuse one) */
  bytes (length: number): Uint8Array {
    const words = new Uint32Array(Math.ceil(length / 4))
    for (let i = 0; i < words.length; i++) { words[i] = this.next() }
    return new Uint8Array(words.buffer, 0, length)
  }
}

interface Transfer { bytes: number, sha256: string }

/** Send `total` pseudo-random bytes from `seed` in chunks of varying size, honouring backpressure, then half-close */
async function sendPseudoRandom (stream: Stream, seed: number, total: number, header?: Uint8Array): Promise<Transfer> {
  const random = new PseudoRandom(seed)
  const hash = createHash('sha256')
  if (header != null && !stream.send(header)) {
    await stream.onDrain()
  }
  let sent = 0
  while (sent < total) {
    // 1 KiB to 160 KiB: frames get split and coalesced in every way
    const chunk = random.bytes(Math.min(total - sent, 1024 + random.next() % (159 * 1024)))
    hash.update(chunk)
    sent += chunk.byteLength
    if (!stream.send(chunk)) {
      await stream.onDrain()
    }
  }
  await stream.close()
  return { bytes: sent, sha256: hash.digest('hex') }
}

/** Read the stream to its end, hashing everything after the first `skip` bytes (handed to `onHeader`) */
async function receiveAll (stream: Stream, skip = 0, onHeader?: (header: Uint8Array) => void): Promise<Transfer> {
  const hash = createHash('sha256')
  const header = new Uint8Array(skip)
  let headerFilled = 0
  let bytes = 0
  for await (const chunk of stream) {
    for (let buf of buffersOf(chunk)) {
      if (headerFilled < skip) {
        const take = Math.min(skip - headerFilled, buf.byteLength)
        header.set(buf.subarray(0, take), headerFilled)
        headerFilled += take
        buf = buf.subarray(take)
        if (headerFilled === skip) {
          onHeader?.(header)
        }
      }
      hash.update(buf)
      bytes += buf.byteLength
    }
  }
  return { bytes, sha256: hash.digest('hex') }
}

function buffersOf (chunk: Uint8Array | Uint8ArrayList): Iterable<Uint8Array> {
  return chunk instanceof Uint8Array ? [chunk] : chunk
}

/** The listener's seed for its reply on the stream the dialer seeded with `seed` */
function replySeed (seed: number): number {
  return (seed + 0x40000000) >>> 0
}

/** Handles that keep a process alive; TCP ones must all be gone after stop */
function liveResources (): { tcp: number, timers: number, all: string[] } {
  const all = process.getActiveResourcesInfo()
  return {
    tcp: all.filter(name => name.startsWith('TCP')).length,
    timers: all.filter(name => name === 'Timeout').length,
    all
  }
}

describe('end to end: js-libp2p 3 nodes over TCP + noise with our yamux', function () {
  // about 6 s of CPU; wall time grows with the machine's load (10-20 s seen on a busy 2-core box)
  this.timeout(60_000)

  let pair: NodePair
  let baseline: ReturnType<typeof liveResources>
  /** What the listener's handler saw and sent, by the dialer's seed */
  const listenerSide = new Map<number, { received: Transfer, sent: Transfer }>()
  const handlerErrors: Error[] = []
  /** One per inbound stream, settled when the listener's side of it is done */
  const handlerRuns: Array<Promise<void>> = []

  before(async function () {
    // measure where the check will measure: after an await, once mocha has
    // armed its own (referenced) timeout timer for the running hook or test
    await new Promise(resolve => setImmediate(resolve))
    baseline = liveResources()
    pair = await createNodePair({ muxer: yamux() })

    await pair.listener.handle(PROTOCOL, async (stream) => {
      const run = serve(stream)
      handlerRuns.push(run)
      await run
    }, { maxInboundStreams: STREAMS + 14 })

    /** Read the dialer's seed and payload while sending the reply; record both hashes */
    async function serve (stream: Stream): Promise<void> {
      try {
        let sending: Promise<Transfer> | undefined
        let seed = -1
        const received = await receiveAll(stream, HEADER_LENGTH, header => {
          seed = new DataView(header.buffer, header.byteOffset).getUint32(0)
          // reply at once, while the dialer's data is still coming in
          sending = sendPseudoRandom(stream, replySeed(seed), BYTES_PER_DIRECTION)
        })
        if (sending == null) {
          throw new Error('the dialer closed before sending its header')
        }
        listenerSide.set(seed, { received, sent: await sending })
      } catch (err: any) {
        handlerErrors.push(err)
        stream.abort(err)
      }
    }
  })

  after(async function () {
    await stopAll()
  })

  it(`moves ${BYTES_PER_DIRECTION / 1024 / 1024} MiB both ways on each of ${STREAMS} concurrent streams, every byte intact`, async function () {
    const streams = await Promise.all(Array.from({ length: STREAMS }, async () => pair.connection.newStream(PROTOCOL, { maxOutboundStreams: STREAMS + 14 })))

    const results = await Promise.all(streams.map(async (stream, seed) => {
      const header = new Uint8Array(HEADER_LENGTH)
      new DataView(header.buffer).setUint32(0, seed)
      const [sent, received] = await Promise.all([
        sendPseudoRandom(stream, seed, BYTES_PER_DIRECTION, header),
        receiveAll(stream)
      ])
      if (stream.status !== 'closed') {
        await pEvent(stream, 'close')
      }
      return { seed, sent, received }
    }))
    // the dialer is done once the reply ended; the listener may still be reading
    // the dialer's last bytes (every handler has started: each one sent a reply)
    expect(handlerRuns).to.have.lengthOf(STREAMS)
    await Promise.all(handlerRuns)

    expect(handlerErrors).to.deep.equal([])
    expect(listenerSide.size).to.equal(STREAMS)
    const distinct = new Set<string>()
    for (const { seed, sent, received } of results) {
      const listener = listenerSide.get(seed)
      expect(listener, `listener saw stream ${seed}`).to.exist()
      expect(sent.bytes).to.equal(BYTES_PER_DIRECTION)
      expect(listener?.received, `dialer → listener, stream ${seed}`).to.deep.equal(sent)
      expect(listener?.sent.bytes).to.equal(BYTES_PER_DIRECTION)
      expect(received, `listener → dialer, stream ${seed}`).to.deep.equal(listener?.sent)
      distinct.add(sent.sha256).add(received.sha256)
    }
    // every stream and direction carried its own bytes
    expect(distinct.size).to.equal(2 * STREAMS)
    // and every stream is gone from the connection once both sides finished
    expect(pair.connection.streams.filter(s => s.protocol === PROTOCOL)).to.have.lengthOf(0)
  })

  it('the libp2p ping service works in both directions', async function () {
    const byPeerId = await pair.dialer.services.ping.ping(pair.listener.peerId)
    const byAddress = await pair.dialer.services.ping.ping(pair.listener.getMultiaddrs()[0])
    const reverse = await pair.listener.services.ping.ping(pair.dialer.peerId)
    for (const rtt of [byPeerId, byAddress, reverse]) {
      expect(rtt).to.be.a('number')
      expect(rtt).to.be.at.least(0).and.below(5_000)
    }
    // pinging reused the open connection
    expect(pair.dialer.getConnections(pair.listener.peerId)).to.have.lengthOf(1)
  })

  it('stopping both nodes leaves no open handles', async function () {
    await pair.stop()
    let now = liveResources()
    // sockets close asynchronously, and libp2p's address manager arms a 1 s
    // debounce timer while stopping: allow a grace period for both
    for (let waited = 0; waited < 3_000 && (now.tcp > baseline.tcp || now.timers > baseline.timers); waited += 25) {
      await new Promise(resolve => setTimeout(resolve, 25))
      now = liveResources()
    }
    expect(now.tcp, `TCP handles before: ${baseline.all.join(', ')}; after: ${now.all.join(', ')}`).to.be.at.most(baseline.tcp)
    expect(now.timers, `referenced timers before: ${baseline.all.join(', ')}; after: ${now.all.join(', ')}`).to.be.at.most(baseline.timers)
  })
})
