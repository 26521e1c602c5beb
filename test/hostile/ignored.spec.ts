/**
 * Hostile input that is legal enough to survive: frames for unknown or closed
 * streams are ignored (no RST, no Go Away, Data bodies skipped unbuffered),
 * repeated FINs and data after FIN do no harm, Go Away codes are reported as
 * typed errors. The connection stays usable afterwards.
 */

import { expect } from 'aegir/chai'
import { currentHeap, recordHeap, settledHeap } from './heap.js'
import { expectAlive, expectNoReaction, openFromMuxer, openFromPeer } from './helpers.js'
import { FLAG, RawPeer, TYPE, header, sleep, within } from './raw-peer.js'

const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB

describe('hostile peer: frames for unknown or closed streams are ignored', () => {
  let peer: RawPeer

  beforeEach(() => {
    peer = new RawPeer()
  })

  afterEach(async () => {
    await peer.close()
  })

  it('small Data frame for an unknown stream', async () => {
    const [stream] = await openFromPeer(peer, 1)
    const from = peer.frames.length
    peer.send({ type: TYPE.Data, streamId: 99 }, new Uint8Array(100).fill(7))
    peer.send({ type: TYPE.Data, streamId: 1 }, new Uint8Array([1, 2, 3]))
    await peer.flush()
    await expectAlive(peer)
    expectNoReaction(peer, from, [99, 1])
    expect(stream.bytes, 'the unknown stream\'s body is skipped exactly').to.equal(3)
    expect(peer.muxer.session.streamCount).to.equal(1)
  })

  it('Data frame with a 1 GiB length for an unknown stream is skipped without allocating', async function () {
    this.timeout(60_000)
    const [stream] = await openFromPeer(peer, 1)
    const from = peer.frames.length
    const length = GiB
    const before = await settledHeap()
    peer.write(header({ type: TYPE.Data, streamId: 1001, length }))
    // stream the whole body past, in socket-sized pieces of one reused buffer
    const piece = new Uint8Array(64 * KiB)
    let sent = 0
    let peakGrowth = 0
    while (sent < length) {
      for (let i = 0; i < 256 && sent < length; i++) {
        peer.write(piece)
        sent += piece.byteLength
      }
      await peer.flush()
      peakGrowth = Math.max(peakGrowth, currentHeap() - before)
    }
    const after = await settledHeap()
    recordHeap('1 GiB Data header for an unknown stream', before, after, 8 * MiB)
    recordHeap('1 GiB Data header for an unknown stream (peak while streaming)', before, before + peakGrowth, 64 * MiB)
    expect(after - before, 'heap growth after skipping 1 GiB').to.be.lessThan(8 * MiB)
    expect(peakGrowth, 'peak heap growth while skipping 1 GiB').to.be.lessThan(64 * MiB)
    // the decoder skipped exactly 1 GiB: the next frame is understood
    peer.send({ type: TYPE.Data, streamId: 1 }, new Uint8Array([42]))
    await expectAlive(peer)
    expectNoReaction(peer, from, [1001, 1])
    await peer.waitFor(() => stream.bytes === 1, 1000, 'the next Data frame')
    expect(stream.chunks[0]).to.deep.equal(new Uint8Array([42]))
  })

  it('a 1 GiB Data header whose body never comes does not allocate either', async () => {
    const before = await settledHeap()
    peer.write(header({ type: TYPE.Data, streamId: 5, length: GiB }))
    peer.write(new Uint8Array(1000))
    await peer.flush()
    const after = await settledHeap()
    recordHeap('1 GiB Data header, no body', before, after, 4 * MiB)
    expect(after - before).to.be.lessThan(4 * MiB)
    expect(peer.goAways).to.have.lengthOf(0)
    expect(peer.muxer.status).to.equal('open')
  })

  it('window update, FIN and RST for an unknown stream', async () => {
    await openFromPeer(peer, 1)
    const from = peer.frames.length
    peer.send({ type: TYPE.WindowUpdate, streamId: 77, length: 1000 })
    peer.send({ type: TYPE.WindowUpdate, flags: FLAG.FIN, streamId: 79, length: 0 })
    peer.send({ type: TYPE.Data, flags: FLAG.FIN, streamId: 81 }, new Uint8Array(10))
    peer.send({ type: TYPE.WindowUpdate, flags: FLAG.RST, streamId: 83, length: 5 })
    peer.send({ type: TYPE.Data, flags: FLAG.RST, streamId: 85, length: 0 })
    peer.send({ type: TYPE.WindowUpdate, flags: FLAG.ACK, streamId: 87, length: 0 })
    // even-parity ids are ours (never opened): still only ignored
    peer.send({ type: TYPE.WindowUpdate, flags: FLAG.ACK | FLAG.FIN, streamId: 1000, length: 0xffff_ffff })
    await peer.flush()
    await expectAlive(peer)
    expectNoReaction(peer, from, [77, 79, 81, 83, 85, 87, 1000])
    expect(peer.frames.slice(from).filter(f => f.type !== TYPE.Ping)).to.deep.equal([])
  })

  it('window update, FIN, RST and Data for a stream that was closed both ways', async () => {
    const [stream] = await openFromPeer(peer, 1)
    await stream.stream.close()
    peer.send({ type: TYPE.WindowUpdate, flags: FLAG.FIN, streamId: 1, length: 0 })
    await within(stream.closed, 1000, 'stream close')
    expect(stream.closeError).to.equal(undefined)
    const from = peer.frames.length
    peer.send({ type: TYPE.WindowUpdate, streamId: 1, length: 100 })
    peer.send({ type: TYPE.WindowUpdate, flags: FLAG.FIN, streamId: 1, length: 0 })
    peer.send({ type: TYPE.Data, streamId: 1 }, new Uint8Array(300 * KiB))
    peer.send({ type: TYPE.WindowUpdate, flags: FLAG.RST, streamId: 1, length: 0 })
    await peer.flush()
    await expectAlive(peer)
    expectNoReaction(peer, from, [1])
    expect(peer.frames.slice(from).filter(f => f.streamId === 1), 'nothing at all for the closed stream').to.deep.equal([])
    expect(stream.bytes).to.equal(0)
  })

  it('frames for a stream we reset', async () => {
    const [stream] = await openFromPeer(peer, 1)
    stream.stream.abort(new Error('go away'))
    await peer.waitForFrame(f => f.streamId === 1 && (f.flags & FLAG.RST) !== 0)
    const from = peer.frames.length
    // the peer had not seen our RST yet: it keeps sending, even past the window
    peer.send({ type: TYPE.Data, streamId: 1 }, new Uint8Array(300 * KiB))
    peer.send({ type: TYPE.WindowUpdate, flags: FLAG.FIN, streamId: 1, length: 0 })
    await peer.flush()
    await expectAlive(peer)
    expectNoReaction(peer, from, [1])
  })

  it('FIN twice', async () => {
    const [stream] = await openFromPeer(peer, 1)
    const from = peer.frames.length
    peer.send({ type: TYPE.Data, flags: FLAG.FIN, streamId: 1 }, new Uint8Array([1, 2]))
    peer.send({ type: TYPE.WindowUpdate, flags: FLAG.FIN, streamId: 1, length: 0 })
    peer.send({ type: TYPE.Data, flags: FLAG.FIN, streamId: 1, length: 0 })
    await peer.flush()
    await expectAlive(peer)
    expectNoReaction(peer, from, [1])
    expect(stream.bytes).to.equal(2)
    expect(stream.stream.remoteWriteStatus).to.equal('closed')
    // our half still works and closes cleanly
    stream.stream.send(new Uint8Array([9]))
    await stream.stream.close()
    const closeError = await within(stream.closed, 1000, 'stream close')
    expect(closeError).to.equal(undefined)
    await peer.waitForFrame(f => f.streamId === 1 && (f.flags & FLAG.FIN) !== 0)
    const data = peer.framesWhere(f => f.type === TYPE.Data && f.streamId === 1)
    expect(data.map(f => [...f.body])).to.deep.equal([[9]])
  })

  it('data after FIN is dropped, not delivered after the end', async () => {
    const [stream] = await openFromPeer(peer, 1)
    const from = peer.frames.length
    let endedAt = -1
    stream.stream.addEventListener('end', () => { endedAt = stream.bytes })
    peer.send({ type: TYPE.Data, flags: FLAG.FIN, streamId: 1 }, new Uint8Array([1, 2, 3]))
    peer.send({ type: TYPE.Data, streamId: 1 }, new Uint8Array([4, 5, 6]))
    peer.send({ type: TYPE.Data, streamId: 1 }, new Uint8Array(300 * KiB))
    await peer.flush()
    await expectAlive(peer)
    expectNoReaction(peer, from, [1])
    await peer.waitFor(() => endedAt >= 0, 1000, "the stream's end")
    expect(stream.bytes, 'only the data before FIN').to.equal(3)
    expect(endedAt, "the FIN frame's data came before 'end'").to.equal(3)
  })

  it('flood of empty Data frames for open and unknown streams', async function () {
    this.timeout(30_000)
    const [stream] = await openFromPeer(peer, 1)
    const from = peer.frames.length
    const count = 200_000
    const empty = header({ type: TYPE.Data, streamId: 1, length: 0 })
    const emptyUnknown = header({ type: TYPE.Data, streamId: 3001, length: 0 })
    const batch = new Uint8Array(12 * 5000)
    for (let i = 0; i < 5000; i++) {
      batch.set(i % 2 === 0 ? empty : emptyUnknown, i * 12)
    }
    const before = await settledHeap()
    for (let sent = 0; sent < count; sent += 5000) {
      peer.write(batch)
      if (sent % 50_000 === 0) {
        await peer.flush()
      }
    }
    await peer.flush()
    const after = await settledHeap()
    recordHeap(`${count} empty Data frames`, before, after, 4 * MiB)
    expect(after - before).to.be.lessThan(4 * MiB)
    await expectAlive(peer)
    expectNoReaction(peer, from, [1, 3001])
    expect(peer.frames.slice(from).filter(f => f.type !== TYPE.Ping), 'no window update or anything else in answer').to.deep.equal([])
    expect(stream.bytes).to.equal(0)
    expect(stream.stream.status).to.equal('open')
  })

  it('unsolicited pongs are ignored', async () => {
    await openFromPeer(peer, 1)
    const from = peer.frames.length
    for (let i = 0; i < 100; i++) {
      peer.send({ type: TYPE.Ping, flags: FLAG.ACK, streamId: 0, length: i * 7919 })
    }
    // a Ping with neither flag, and a Ping with flags on a nonzero stream id
    peer.send({ type: TYPE.Ping, flags: 0, streamId: 0, length: 1 })
    peer.send({ type: TYPE.Ping, flags: FLAG.ACK, streamId: 5, length: 1 })
    await peer.flush()
    await expectAlive(peer)
    expectNoReaction(peer, from, [])
  })
})

describe('hostile peer: Go Away', () => {
  let peer: RawPeer

  beforeEach(() => {
    peer = new RawPeer()
  })

  afterEach(async () => {
    await peer.close()
  })

  /** The current test's peer (tests declared in loops must not capture the variable) */
  function thePeer (): RawPeer {
    return peer
  }

  for (const code of [1, 2, 3, 0x7fff_ffff, 0xffff_ffff]) {
    it(`Go Away with code ${code}: every stream ends with RemoteGoAwayError carrying it`, async () => {
      const p = thePeer()
      const outbound = await openFromMuxer(p, 2)
      const inbound = await openFromPeer(p, 2)
      p.send({ type: TYPE.GoAway, streamId: 0, length: code })
      const errors = await within(Promise.all([...outbound, ...inbound].map(async r => r.closed)), 2000, 'streams to close')
      for (const err of errors) {
        expect(err?.name).to.equal('RemoteGoAwayError')
        expect((err as Error & { code: number }).code).to.equal(code)
        expect(err?.message).to.match(/remote/)
      }
      await p.waitForTransportEnd()
      expect(p.muxer.status).to.equal('closed')
      // we do not answer a Go Away with a Go Away 1
      expect(p.goAways.filter(f => f.length !== 0 && f.length !== 2)).to.have.lengthOf(0)
    })
  }

  it('Go Away 0 twice and then new SYNs: streams keep running, the new streams are handled, nothing fails', async () => {
    const [outbound] = await openFromMuxer(peer, 1)
    const [inbound] = await openFromPeer(peer, 1)
    peer.send({ type: TYPE.GoAway, streamId: 0, length: 0 })
    peer.send({ type: TYPE.GoAway, streamId: 0, length: 0 })
    await peer.flush()
    await expect(peer.muxer.createStream()).to.eventually.be.rejected()
      .with.property('name', 'MuxerClosedError')
    const from = peer.frames.length
    peer.openStream(3)
    peer.openStream(5)
    peer.send({ type: TYPE.Data, streamId: 3 }, new Uint8Array([1]))
    await peer.flush()
    // each new stream is either accepted (ACK) or refused (RST); never a Go Away 1
    const answers = peer.frames.slice(from).filter(f => (f.streamId === 3 || f.streamId === 5) && (f.flags & (FLAG.ACK | FLAG.RST)) !== 0)
    expect(answers.map(f => f.streamId).sort()).to.deep.equal([3, 5])
    await expectAlive(peer)
    // streams open before the Go Away still work both ways
    outbound.stream.send(new Uint8Array([7]))
    await peer.waitForFrame(f => f.type === TYPE.Data && f.streamId === outbound.stream.streamId)
    peer.send({ type: TYPE.Data, streamId: 1 }, new Uint8Array([8]))
    await peer.waitFor(() => inbound.bytes === 1, 1000, 'data on the old stream')
    expect(outbound.stream.status).to.equal('open')
  })

  it('after our Go Away (local close), new SYNs are refused with RST and the connection is not torn down by them', async () => {
    const [inbound] = await openFromPeer(peer, 1)
    const closing = peer.muxer.close()
    await sleep(5)
    const from = peer.frames.length
    peer.openStream(3)
    peer.openStream(5)
    await peer.waitForFrame(f => f.streamId === 5 && (f.flags & FLAG.RST) !== 0, 2000, from)
    expect(peer.framesWhere(f => f.streamId === 3 && (f.flags & FLAG.ACK) !== 0)).to.have.lengthOf(0)
    expect(peer.goAways.filter(f => f.length !== 0)).to.have.lengthOf(0)
    // the open stream finishes gracefully, then Go Away 0
    peer.send({ type: TYPE.WindowUpdate, flags: FLAG.FIN, streamId: 1, length: 0 })
    await within(closing, 2000, 'close()')
    expect(inbound.closeError).to.equal(undefined)
    const goAway = await peer.waitForFrame(f => f.type === TYPE.GoAway)
    expect(goAway.length).to.equal(0)
  })
})
