/**
 * Interoperability with `@chainsafe/libp2p-yamux` 8 inside real js-libp2p 3
 * nodes (TCP + noise): one node muxes with ours, the other with theirs, and
 * each dials the other. A custom echo protocol carries 50 concurrent streams
 * of 1 MiB each way; every byte is checked by SHA-256 on both sides.
 */

import { createHash } from 'node:crypto'
import { yamux as chainsafeYamux } from '@chainsafe/libp2p-yamux'
import { expect } from 'aegir/chai'
import { yamux } from '../../src/index.js'
import { createNodePair } from '../fixtures/nodes.js'
import { buffersOf, readAll, sha256 } from '../fixtures/read.js'
import type { YamuxMuxer } from '../../src/index.js'
import type { MuxerFactoryFn, NodePair } from '../fixtures/nodes.js'
import type { Received } from '../fixtures/read.js'
import type { Stream, StreamMuxer, StreamMuxerFactory } from '@libp2p/interface'

const PROTOCOL = '/test/echo/1.0.0'
const STREAMS = 50
const SIZE = 1024 * 1024
const STREAM_LIMITS = { maxInboundStreams: STREAMS + 14, maxOutboundStreams: STREAMS + 14 }

/** Deterministic bytes for stream `index` (xorshift32) */
function pattern (index: number, length: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(length / 4))
  let x = (Math.imul(index + 1, 0x9E3779B9) >>> 0) || 1
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5; x >>>= 0
    words[i] = x
  }
  return new Uint8Array(words.buffer, 0, length)
}

async function sendAll (stream: Stream, data: Uint8Array, chunk = 64 * 1024): Promise<void> {
  for (let offset = 0; offset < data.byteLength; offset += chunk) {
    if (!stream.send(data.subarray(offset, offset + chunk))) {
      await stream.onDrain()
    }
  }
  await stream.close()
}

/** A muxer factory function that records the muxers it creates */
function recording (factory: MuxerFactoryFn, muxers: StreamMuxer[]): MuxerFactoryFn {
  return (components: any): StreamMuxerFactory => {
    const muxerFactory = factory(components)
    const create = muxerFactory.createStreamMuxer.bind(muxerFactory)
    muxerFactory.createStreamMuxer = (maConn) => {
      const muxer = create(maConn)
      muxers.push(muxer)
      return muxer
    }
    return muxerFactory
  }
}

/** Errors that end streams, from their 'close' events */
function watchStreamErrors (stream: Stream, errors: string[], side: string): void {
  stream.addEventListener('close', (evt) => {
    if (evt.error != null) {
      errors.push(`${side} stream ${stream.id}: ${evt.error.name}: ${evt.error.message}`)
    }
  })
}

for (const oursDials of [true, false]) {
  const name = oursDials
    ? 'ours dials a node with @chainsafe/libp2p-yamux'
    : 'a node with @chainsafe/libp2p-yamux dials ours'

  describe(`interop in js-libp2p 3 nodes (TCP + noise): ${name}`, function () {
    this.timeout(60_000)

    let pair: NodePair | undefined

    afterEach(async function () {
      await pair?.stop()
      pair = undefined
    })

    it(`${STREAMS} streams of a custom echo protocol move 1 MiB each way, every byte verified by hash, no errors on either side`, async function () {
      const oursCreated: StreamMuxer[] = []
      const theirsCreated: StreamMuxer[] = []
      const ours = recording(yamux(), oursCreated)
      const theirs = recording(chainsafeYamux(), theirsCreated)
      pair = await createNodePair({ muxer: oursDials ? ours : theirs, listenerMuxer: oursDials ? theirs : ours })
      const { dialer, listener, connection } = pair

      // each node muxes with its own implementation, one connection each (the
      // listener's upgrade may finish just after the dialer's)
      const deadline = Date.now() + 10_000
      while ((oursCreated.length === 0 || theirsCreated.length === 0) && Date.now() < deadline) {
        await new Promise(resolve => setTimeout(resolve, 5))
      }
      expect(oursCreated).to.have.lengthOf(1)
      expect(theirsCreated).to.have.lengthOf(1)
      const ourMuxer = oursCreated[0] as YamuxMuxer
      expect(ourMuxer.session, 'ours is our YamuxMuxer').to.exist()
      expect(theirsCreated[0]).to.not.equal(ourMuxer)
      expect(connection.multiplexer).to.equal('/yamux/1.0.0')

      const errors: string[] = []
      for (const node of [dialer, listener]) {
        node.addEventListener('connection:close', () => { errors.push(`a connection of ${node === dialer ? 'the dialer' : 'the listener'} closed`) })
      }
      /** What the listener's handler received on each stream, by the stream's index */
      const listenerReceived = new Map<number, Received>()
      const handlers: Array<Promise<void>> = []

      await listener.handle(PROTOCOL, async (stream) => {
        watchStreamErrors(stream, errors, 'listener')
        const run = (async () => {
          // the first byte names the stream's index; echo everything, hash what came
          const hash = createHash('sha256')
          let bytes = 0
          let index = -1
          for await (const chunk of stream) {
            for (const buf of buffersOf(chunk)) {
              if (index === -1 && buf.byteLength > 0) {
                index = buf[0]
              }
              hash.update(buf)
              bytes += buf.byteLength
            }
            if (!stream.send(chunk)) {
              await stream.onDrain()
            }
          }
          await stream.close()
          listenerReceived.set(index, { bytes, sha256: hash.digest('hex') })
        })()
        handlers.push(run.catch(err => {
          errors.push(`listener handler: ${err.name}: ${err.message}`)
          stream.abort(err)
        }))
        await run.catch(() => {})
      }, STREAM_LIMITS)

      const start = performance.now()
      const results = await Promise.all(Array.from({ length: STREAMS }, async (_, index) => {
        const stream = await connection.newStream(PROTOCOL, STREAM_LIMITS)
        watchStreamErrors(stream, errors, 'dialer')
        const data = pattern(index, SIZE)
        data[0] = index
        const [received] = await Promise.all([readAll(stream), sendAll(stream, data)])
        return { index, sent: sha256(data), received }
      }))
      const ms = performance.now() - start
      await Promise.all(handlers)
      // eslint-disable-next-line no-console
      console.log(`      ${STREAMS} × 1 MiB echo (${oursDials ? 'ours dials' : 'theirs dials'}): ${ms.toFixed(0)} ms, ${(STREAMS * SIZE / 1024 / 1024 / (ms / 1000)).toFixed(1)} MiB/s each way`)

      expect(errors).to.deep.equal([])
      expect(handlers).to.have.lengthOf(STREAMS)
      const distinct = new Set<string>()
      for (const { index, sent, received } of results) {
        // dialer → listener
        expect(listenerReceived.get(index), `listener, stream ${index}`).to.deep.equal({ bytes: SIZE, sha256: sent })
        // listener → dialer
        expect(received, `dialer, stream ${index}`).to.deep.equal({ bytes: SIZE, sha256: sent })
        distinct.add(sent)
      }
      expect(distinct.size).to.equal(STREAMS)

      // the connection is still up on both sides, each with its own muxer
      expect(connection.status).to.equal('open')
      expect(listener.getConnections(dialer.peerId).map(c => c.status)).to.deep.equal(['open'])
      expect(ourMuxer.status).to.equal('open')
      expect(theirsCreated[0].status).to.equal('open')
      // and it still works: libp2p's ping protocol over it
      expect(await dialer.services.ping.ping(listener.peerId)).to.be.a('number')
      expect(errors).to.deep.equal([])
    })
  })
}
