/**
 * Interoperability with `@chainsafe/libp2p-yamux` 8, the muxer js-libp2p 3
 * ships with, raw over a TCP socket, in both roles.
 */

import { createHash } from 'node:crypto'
import { yamux as chainsafeYamux } from '@chainsafe/libp2p-yamux'
import { defaultLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { yamux } from '../../src/index.js'
import { Flag, FrameType } from '../../src/protocol/constants.js'
import { recordFrames } from '../fixtures/pair.js'
import { tcpConnectionPair } from '../fixtures/socket-connection.js'
import type { Stream, StreamMuxer } from '@libp2p/interface'

const MiB = 1024 * 1024

/** Deterministic bytes for stream `index` */
function pattern (index: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length)
  let state = (index + 1) * 2654435761 >>> 0
  for (let i = 0; i < length; i++) {
    state = (state * 1103515245 + 12345) >>> 0
    bytes[i] = state >>> 24
  }
  return bytes
}

function sha256 (chunks: Array<Uint8Array | { subarray(): Uint8Array }>): string {
  const hash = createHash('sha256')
  chunks.forEach(chunk => hash.update(chunk instanceof Uint8Array ? chunk : chunk.subarray()))
  return hash.digest('hex')
}

async function sendAll (stream: Stream, data: Uint8Array, chunk = 64 * 1024): Promise<void> {
  for (let offset = 0; offset < data.byteLength; offset += chunk) {
    if (!stream.send(data.subarray(offset, offset + chunk))) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = (): void => { stream.removeEventListener('close', onClose); resolve() }
        const onClose = (): void => { stream.removeEventListener('drain', onDrain); reject(new Error('closed while waiting for drain')) }
        stream.addEventListener('drain', onDrain, { once: true })
        stream.addEventListener('close', onClose, { once: true })
      })
    }
  }
  await stream.close()
}

/** Echo every inbound stream of `muxer` */
function echoInbound (muxer: StreamMuxer): void {
  muxer.addEventListener('stream', (evt) => {
    const stream = evt.detail
    void (async () => {
      const chunks: Uint8Array[] = []
      for await (const chunk of stream) {
        chunks.push(chunk instanceof Uint8Array ? chunk : chunk.subarray())
      }
      const all = Buffer.concat(chunks)
      await sendAll(stream, all)
    })().catch(err => { stream.abort(err) })
  })
}

async function exchange (client: StreamMuxer, streams: number, size: number): Promise<void> {
  await Promise.all(Array.from({ length: streams }, async (_, index) => {
    const stream = await client.createStream()
    const data = pattern(index, size)
    const received: Uint8Array[] = []
    const reading = (async () => {
      for await (const chunk of stream) {
        received.push(chunk instanceof Uint8Array ? chunk : chunk.subarray())
      }
    })()
    await sendAll(stream, data)
    await reading
    expect(sha256(received)).to.equal(sha256([data]), `stream ${index} echo differs`)
  }))
}

const components = { logger: defaultLogger() }
const ours = yamux({ initialStreamWindowSize: 4 * MiB })
const theirs = chainsafeYamux()

for (const [name, clientFactory, serverFactory] of [
  ['ours as client, @chainsafe/libp2p-yamux as server', ours, theirs],
  ['@chainsafe/libp2p-yamux as client, ours as server', theirs, ours]
] as const) {
  describe(`interop over TCP: ${name}`, function () {
    this.timeout(60_000)

    it('50 streams move 1 MiB each way, every byte verified; their large frames and extra window updates cause no error', async () => {
      const [clientConn, serverConn] = await tcpConnectionPair()
      const theirSide = clientFactory === theirs ? clientConn : serverConn
      const theirFrames = recordFrames(theirSide)
      const client: StreamMuxer = clientFactory(components).createStreamMuxer(clientConn)
      const server: StreamMuxer = serverFactory(components).createStreamMuxer(serverConn)
      echoInbound(server)

      await exchange(client, 50, MiB)

      // the misbehaviours were exercised: frames far above 64 KiB, and window updates after its FIN
      const data = theirFrames.frames.filter(f => f.type === FrameType.Data)
      expect(Math.max(...data.map(f => f.length))).to.be.greaterThan(64 * 1024)
      const finSent = new Set<number>()
      let updatesAfterFin = 0
      for (const frame of theirFrames.frames) {
        if ((frame.flags & Flag.FIN) !== 0) {
          finSent.add(frame.streamId)
        } else if (frame.type === FrameType.WindowUpdate && finSent.has(frame.streamId)) {
          updatesAfterFin++
        }
      }
      if (theirSide === clientConn) {
        // as client it sends FIN first, then receives the echo and credits every frame of it
        expect(updatesAfterFin).to.be.greaterThan(0)
      }

      expect(client.status).to.equal('open')
      expect(server.status).to.equal('open')
      await client.close()
      await server.close()
      await clientConn.close()
      await serverConn.close()
    })
  })
}
