/**
 * How writes become Data frames on the wire: whole frames while a stream
 * streams, message boundaries for short writes, and nothing held back when a
 * write ends exactly at the edge of the send window.
 */

import { expect } from 'aegir/chai'
import { pEvent } from 'p-event'
import { FrameType, INITIAL_STREAM_WINDOW } from '../src/protocol/constants.js'
import { countReceived, DEFAULT_MAX_PAYLOAD, delay, muxerPair, openPair, recordFrames } from './fixtures/pair.js'

const KiB = 1024

describe('framing', () => {
  it('64 KiB writes on 20 streams at once, waiting for the transport and for credit, leave in whole frames', async () => {
    const pair = muxerPair()
    const sent = recordFrames(pair.clientConn)
    const total = 1024 * KiB
    const counts: Array<Promise<number>> = []
    pair.server.addEventListener('stream', (evt) => { counts.push(countReceived(evt.detail)) })
    await Promise.all(Array.from({ length: 20 }, async () => {
      const stream = await pair.client.createStream()
      for (let offset = 0; offset < total; offset += 64 * KiB) {
        if (!stream.send(new Uint8Array(64 * KiB))) {
          await stream.onDrain()
        }
      }
      await stream.close()
    }))
    expect(await Promise.all(counts)).to.deep.equal(new Array(20).fill(total))
    const byStream = new Map<number, number[]>()
    for (const frame of sent.frames.filter(f => f.type === FrameType.Data)) {
      byStream.set(frame.streamId, [...(byStream.get(frame.streamId) ?? []), frame.length])
    }
    for (const [id, lengths] of byStream) {
      // 1 MiB is 16 whole frames and a few hundred bytes: only the last frame is short
      expect(lengths.slice(0, -1).every(length => length === DEFAULT_MAX_PAYLOAD)).to.equal(true, `stream ${id}: ${lengths.join(', ')}`)
      expect(lengths).to.have.length(Math.ceil(total / DEFAULT_MAX_PAYLOAD))
    }
  })

  it('a write made while a flush\'s worth of frames waits is taken whole; the stream waits for one drain, then writes on', async () => {
    const pair = muxerPair()
    const counts: Array<Promise<number>> = []
    pair.server.addEventListener('stream', (evt) => { counts.push(countReceived(evt.detail)) })
    const streams = await Promise.all(Array.from({ length: 5 }, async () => pair.client.createStream()))
    // four streams fill their 256 KiB windows in one tick: 1 MiB of frames waits for the flush
    const filled = streams.slice(0, 4).map(stream => stream.send(new Uint8Array(INITIAL_STREAM_WINDOW)))
    expect(filled).to.deep.equal([true, true, true, false])
    const late = streams[4]
    let drains = 0
    late.addEventListener('drain', () => { drains++ })
    expect(late.send(new Uint8Array(64 * KiB))).to.equal(false)
    // taken by the session, not left in the stream's buffer for a retry
    expect(late.writeBufferLength).to.equal(0)
    await pEvent(late, 'drain')
    expect(drains).to.equal(1)
    late.send(new Uint8Array(64 * KiB))
    await Promise.all(streams.map(async stream => { await stream.close() }))
    expect(await Promise.all(counts)).to.deep.equal([...new Array(4).fill(INITIAL_STREAM_WINDOW), 128 * KiB])
  })

  it('short writes keep their boundaries: each is its own frame', async () => {
    const pair = muxerPair()
    const sent = recordFrames(pair.clientConn)
    const [outbound, inbound] = await openPair(pair)
    const messages: number[] = []
    inbound.addEventListener('message', (evt) => { messages.push(evt.data.byteLength) })
    outbound.send(new Uint8Array(100))
    outbound.send(new Uint8Array(200))
    outbound.send(new Uint8Array(300))
    await delay(20)
    expect(messages).to.deep.equal([100, 200, 300])
    expect(sent.frames.filter(f => f.type === FrameType.Data).map(f => f.length)).to.deep.equal([100, 200, 300])
  })

  it('a write that uses up the send window exactly arrives whole, without waiting for credit', async () => {
    const pair = muxerPair()
    const [outbound, inbound] = await openPair(pair)
    inbound.pause()
    outbound.send(new Uint8Array(INITIAL_STREAM_WINDOW).fill(7))
    await delay(50)
    expect(inbound.readBufferLength).to.equal(INITIAL_STREAM_WINDOW)
    inbound.resume()
    const count = countReceived(inbound)
    await outbound.close()
    expect(await count).to.equal(INITIAL_STREAM_WINDOW)
  })

  it('a write cut short by the window sends whole frames, keeps less than a frame back, and sends the rest after credit', async () => {
    const pair = muxerPair()
    const [outbound, inbound] = await openPair(pair)
    inbound.pause()
    const total = INITIAL_STREAM_WINDOW + 44 * KiB
    outbound.send(new Uint8Array(total).fill(9))
    await delay(50)
    const wholeFrames = Math.floor(INITIAL_STREAM_WINDOW / DEFAULT_MAX_PAYLOAD) * DEFAULT_MAX_PAYLOAD
    expect(inbound.readBufferLength).to.equal(wholeFrames)
    inbound.resume()
    const count = countReceived(inbound)
    await outbound.close()
    expect(await count).to.equal(total)
  })
})
