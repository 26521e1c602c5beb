/**
 * Resets from the peer, with and without error codes (go-yamux v5 carries a
 * code in the length of a Window Update with RST): the stream ends with
 * `StreamResetError` carrying the code, data received before stays readable,
 * and nothing about a reset may touch the rest of the connection.
 */

import { expect } from 'aegir/chai'
import { expectAlive, expectNoReaction, openFromMuxer, openFromPeer } from './helpers.js'
import { FLAG, RawPeer, TYPE, within } from './raw-peer.js'

describe('hostile peer: resets', () => {
  let peer: RawPeer

  beforeEach(() => {
    peer = new RawPeer()
  })

  afterEach(async () => {
    await peer.close()
  })

  it('RST on a Window Update with a small error code: StreamResetError carries it', async () => {
    const [record] = await openFromMuxer(peer, 1)
    const from = peer.frames.length
    peer.send({ type: TYPE.WindowUpdate, flags: FLAG.RST, streamId: record.stream.streamId, length: 5 })
    const err = await within(record.closed, 1000, 'the reset')
    expect(err?.name).to.equal('StreamResetError')
    expect((err as Error & { code?: number }).code).to.equal(5)
    await expectAlive(peer)
    expectNoReaction(peer, from, [record.stream.streamId])
  })

  // Regression: the length of a Window Update with RST is an error code (go-yamux
  // v5), never credit; a large code must not overflow the send window.
  it('RST on a Window Update with error code 0xffffffff resets only that stream', async () => {
    const [record, other] = await openFromMuxer(peer, 2)
    const from = peer.frames.length
    peer.send({ type: TYPE.WindowUpdate, flags: FLAG.RST, streamId: record.stream.streamId, length: 0xffff_ffff })
    const err = await within(record.closed, 1000, 'the reset')
    expect(err?.name).to.equal('StreamResetError')
    expect((err as Error & { code?: number }).code).to.equal(0xffff_ffff)
    await expectAlive(peer)
    expectNoReaction(peer, from, [record.stream.streamId])
    expect(other.stream.status).to.equal('open')
  })

  it('RST on a Data frame with a body: the body is delivered, then the stream ends with StreamResetError', async () => {
    const [record] = await openFromPeer(peer, 1)
    peer.send({ type: TYPE.Data, flags: FLAG.RST, streamId: 1 }, new Uint8Array([1, 2, 3, 4]))
    const err = await within(record.closed, 1000, 'the reset')
    expect(err?.name).to.equal('StreamResetError')
    expect(record.bytes).to.equal(4)
    await expectAlive(peer)
  })

  it('data received before a RST stays readable by a paused reader', async () => {
    peer = new RawPeer({ readStreams: false })
    const [record] = await openFromPeer(peer, 1)
    peer.send({ type: TYPE.Data, streamId: 1 }, new Uint8Array(1000).fill(9))
    peer.send({ type: TYPE.WindowUpdate, flags: FLAG.RST, streamId: 1, length: 0 })
    await peer.flush()
    const chunks: number[] = []
    let error: Error | undefined
    try {
      for await (const chunk of record.stream) {
        chunks.push(chunk.byteLength)
      }
    } catch (err: any) {
      error = err
    }
    expect(chunks.reduce((a, b) => a + b, 0)).to.equal(1000)
    expect(error?.name).to.equal('StreamResetError')
  })

  it('a RST while our write waits for window credit wakes the writer with an error', async () => {
    const [record] = await openFromPeer(peer, 1)
    record.stream.send(new Uint8Array(256 * 1024 + 1))
    expect(record.stream.writableNeedsDrain).to.equal(true)
    const waiting = record.stream.onDrain()
    peer.send({ type: TYPE.WindowUpdate, flags: FLAG.RST, streamId: 1, length: 0 })
    await expect(within(waiting, 1000, 'onDrain() to settle')).to.eventually.be.rejected()
      .with.property('name', 'StreamResetError')
  })

  it('our abort(err) with a numeric code sends RST carrying it on a Window Update', async () => {
    const [record] = await openFromPeer(peer, 1)
    record.stream.abort(Object.assign(new Error('bye'), { code: 42 }))
    const rst = await peer.waitForFrame(f => f.streamId === 1 && (f.flags & FLAG.RST) !== 0)
    expect(rst.type).to.equal(TYPE.WindowUpdate)
    expect(rst.length).to.equal(42)
    expect(peer.goAways).to.have.lengthOf(0)
  })

  it('RST flood for live streams: every one of 1,000 streams ends with StreamResetError, the connection stays up', async () => {
    const records = await openFromPeer(peer, 1000)
    for (let i = 0; i < 1000; i++) {
      peer.send({ type: TYPE.WindowUpdate, flags: FLAG.RST, streamId: peer.peerId(i), length: i })
    }
    const errors = await within(Promise.all(records.map(async r => r.closed)), 3000, 'every reset')
    expect(errors.every(e => e?.name === 'StreamResetError')).to.equal(true)
    expect(peer.muxer.session.streamCount).to.equal(0)
    await expectAlive(peer)
  })
})
