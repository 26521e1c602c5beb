/**
 * Floods and peers that do not read: memory stays bounded (heap measured
 * before and after), the connection stays up, and backpressure reaches the
 * application.
 */

import { expect } from 'aegir/chai'
import { yamux } from '../../src/index.js'
import { tcpConnectionPair } from '../fixtures/socket-connection.js'
import { formatBytes, recordHeap, settledHeap } from './heap.js'
import { expectAlive, expectNoReaction, openFromPeer } from './helpers.js'
import { FLAG, RawPeer, TYPE, frame, header, sleep, within } from './raw-peer.js'

const KiB = 1024
const MiB = 1024 * KiB

/** `count` frames built by `make(i)`, in one buffer */
function frames (count: number, make: (i: number) => Uint8Array): Uint8Array {
  const out = new Uint8Array(count * 12)
  for (let i = 0; i < count; i++) {
    out.set(make(i), i * 12)
  }
  return out
}

describe('hostile peer: floods', function () {
  this.timeout(60_000)
  const peers: RawPeer[] = []

  /** A peer closed after the test, even when the test times out */
  function newPeer (init?: ConstructorParameters<typeof RawPeer>[0]): RawPeer {
    const peer = new RawPeer(init)
    peers.push(peer)
    return peer
  }

  afterEach(async () => {
    await Promise.all(peers.splice(0).map(async p => { await p.close() }))
  })

  it('10,000 SYNs at once: at most maxInboundStreams (1,000) are kept, the rest get RST, the connection stays up', async () => {
    const peer = newPeer({ readStreams: false })
    const count = 10_000
    const before = await settledHeap()
    peer.write(frames(count, i => header({ type: TYPE.WindowUpdate, flags: FLAG.SYN, streamId: 2 * i + 1 })))
    await peer.flush()
    await peer.waitFor(() => peer.framesWhere(f => (f.flags & (FLAG.ACK | FLAG.RST)) !== 0).length >= count, 5000, 'an answer to every SYN')
    const acks = peer.framesWhere(f => f.type === TYPE.WindowUpdate && (f.flags & FLAG.ACK) !== 0)
    const rsts = peer.framesWhere(f => (f.flags & FLAG.RST) !== 0)
    expect(acks).to.have.lengthOf(1000)
    expect(rsts).to.have.lengthOf(count - 1000)
    expect(new Set(rsts.map(f => f.streamId)).size, 'one RST per refused stream').to.equal(count - 1000)
    expect(peer.accepted).to.have.lengthOf(1000)
    expect(peer.muxer.session.streamCount).to.equal(1000)
    expect(peer.muxer.streams).to.have.lengthOf(1000)
    const during = await settledHeap()
    const perStream = (during - before) / 1000
    recordHeap('10,000 SYNs (1,000 streams kept)', before, during, 64 * MiB)
    expect(during - before, `heap with 1,000 streams kept (${formatBytes(perStream)} per stream)`).to.be.lessThan(64 * MiB)
    await expectAlive(peer)

    // a refused stream's data is ignored; a kept stream's data arrives
    peer.send({ type: TYPE.Data, streamId: 2 * 5000 + 1 }, new Uint8Array(10))
    peer.send({ type: TYPE.Data, streamId: 1 }, new Uint8Array(10))
    await peer.flush()
    await expectAlive(peer)
    expect(peer.accepted[0].stream.readBufferLength).to.equal(10)

    // once the peer resets them, the kept streams are released and new ones fit again
    peer.write(frames(1000, i => header({ type: TYPE.WindowUpdate, flags: FLAG.RST, streamId: 2 * i + 1 })))
    await peer.flush()
    await peer.waitFor(() => peer.muxer.streams.length === 0, 2000, 'every stream to be released')
    expect(peer.muxer.session.streamCount).to.equal(0)
    const from = peer.frames.length
    peer.openStream(2 * count + 1)
    await peer.waitForFrame(f => f.streamId === 2 * count + 1 && (f.flags & FLAG.ACK) !== 0, 1000, from)
    peer.send({ type: TYPE.WindowUpdate, flags: FLAG.RST, streamId: 2 * count + 1 })
    await peer.flush()
    peer.accepted.length = 0
    const after = await settledHeap()
    recordHeap('10,000 SYNs, after the streams were reset', before, after, 8 * MiB)
    expect(after - before, 'heap after every stream was released').to.be.lessThan(8 * MiB)
  })

  it('10,000 SYNs with no stream listener: only maxEarlyStreams are held, the connection stays up', async () => {
    const peer = newPeer({ acceptStreams: false })
    const count = 10_000
    peer.write(frames(count, i => header({ type: TYPE.WindowUpdate, flags: FLAG.SYN, streamId: 2 * i + 1 })))
    await peer.flush()
    await peer.waitFor(() => peer.framesWhere(f => (f.flags & FLAG.RST) !== 0).length >= count - 10, 5000, 'RSTs')
    expect(peer.muxer.streams.length).to.be.at.most(10)
    expect(peer.muxer.session.streamCount).to.be.at.most(10)
    await expectAlive(peer)
  })

  it('SYN + RST churn (20,000 streams opened and reset) keeps nothing', async () => {
    const peer = newPeer()
    const rounds = 4
    const perRound = 5_000
    const before = await settledHeap()
    for (let r = 0; r < rounds; r++) {
      const base = r * perRound
      peer.write(frames(perRound * 2, i => {
        const id = 2 * (base + (i >> 1)) + 1
        return header({ type: TYPE.WindowUpdate, flags: i % 2 === 0 ? FLAG.SYN : FLAG.RST, streamId: id })
      }))
      await peer.flush()
      // the peer reads our answers, but does not keep them
      peer.frames.length = 0
      peer.accepted.length = 0
    }
    const after = await settledHeap()
    recordHeap('20,000 SYN+RST', before, after, 8 * MiB)
    expect(peer.muxer.session.streamCount).to.equal(0)
    expect(peer.muxer.streams).to.have.lengthOf(0)
    expect(after - before).to.be.lessThan(8 * MiB)
    await expectAlive(peer)
  })

  it('ping flood from a peer that never reads: memory stays bounded, pings are answered again once it reads', async () => {
    const peer = newPeer()
    await openFromPeer(peer, 1)
    peer.stopReading()
    const count = 1_000_000
    const batch = 10_000
    const before = await settledHeap()
    // what we hold for the peer at its worst moment (the heap's own peak is
    // dominated by the garbage of the frames this test builds, so it depends on GC timing)
    let peakHeld = 0
    for (let sent = 0; sent < count; sent += batch) {
      peer.write(frames(batch, i => header({ type: TYPE.Ping, flags: FLAG.SYN, length: sent + i })))
      await peer.flush()
      peakHeld = Math.max(peakHeld, peer.unreadBytes + peer.conn.writeBufferLength + peer.muxer.session.pendingOutputBytes)
    }
    const after = await settledHeap()
    const held = peer.unreadBytes + peer.conn.writeBufferLength + peer.muxer.session.pendingOutputBytes
    recordHeap(`${count} pings, peer not reading`, before, after, 8 * MiB)
    expect(peer.muxer.session.pendingOutputBytes, 'pongs queued in the session').to.be.at.most(64 * 12)
    expect(peer.conn.writeBufferLength, 'bytes queued in the transport past its backpressure').to.be.at.most(64 * KiB)
    expect(held, `bytes held for the peer (${formatBytes(held)})`).to.be.lessThan(512 * KiB)
    expect(after - before, 'heap growth').to.be.lessThan(8 * MiB)
    expect(peakHeld, `peak bytes held for the peer (${formatBytes(peakHeld)})`).to.be.lessThan(512 * KiB)
    peer.resumeReading()
    await peer.flush()
    await expectAlive(peer, 0xdead)
  })

  it('a peer that never reads while we keep sending: send() returns false and our buffers stay bounded', async () => {
    const peer = newPeer()
    const [record] = await openFromPeer(peer, 1)
    const stream = record.stream
    // a generous window, so only the transport can push back
    peer.send({ type: TYPE.WindowUpdate, streamId: 1, length: 1024 * MiB })
    await peer.flush()
    peer.stopReading()
    const before = await settledHeap()
    const chunk = new Uint8Array(64 * KiB)
    let offered = 0
    let refusedAt = -1
    // write the way an application should: until send() says stop, then wait for 'drain'
    for (let round = 0; round < 50 && refusedAt < 0; round++) {
      for (let i = 0; i < 64; i++) {
        offered += chunk.byteLength
        if (!stream.send(chunk)) {
          refusedAt = offered
          break
        }
      }
      await sleep(1)
    }
    expect(refusedAt, 'send() returned false').to.be.greaterThan(0)
    await sleep(20)
    const held = peer.unreadBytes + peer.conn.writeBufferLength + peer.muxer.session.pendingOutputBytes + stream.writeBufferLength
    const after = await settledHeap()
    recordHeap('non-reading peer, we send until send() is false', before, after, 32 * MiB)
    expect(held, `bytes held for the non-reading peer (${formatBytes(held)}, send() false after ${formatBytes(refusedAt)})`).to.be.lessThan(8 * MiB)
    expect(after - before).to.be.lessThan(32 * MiB)
    expect(stream.status).to.equal('open')

    // a waiting writer resumes once the peer reads
    let drained = false
    const draining = stream.onDrain().then(() => { drained = true })
    await sleep(10)
    expect(drained, 'no drain while the peer does not read').to.equal(false)
    peer.resumeReading()
    await within(draining, 2000, "'drain'")
    await peer.waitFor(() => peer.framesWhere(f => f.type === TYPE.Data && f.streamId === 1).reduce((s, f) => s + f.length, 0) === offered, 3000, 'every byte')
  })

  // Regression: sendStreamData used to answer canSendMore = (send window > 0) without
  // looking at the outbox, so this loop queued the whole peer-granted window (256 MiB
  // here) before send() returned false.
  it('an application that writes in a loop until send() returns false is stopped early, whatever window the peer grants', async () => {
    const peer = newPeer({ keepBodies: false })
    const [record] = await openFromPeer(peer, 1)
    const stream = record.stream
    peer.send({ type: TYPE.WindowUpdate, streamId: 1, length: 0xffff_ffff - 256 * KiB })
    await peer.flush()
    peer.stopReading()
    const chunk = new Uint8Array(64 * KiB)
    let offered = 0
    // the canonical loop: write while send() says more may be written
    while (offered < 256 * MiB) {
      offered += chunk.byteLength
      if (!stream.send(chunk)) {
        break
      }
    }
    const queued = peer.muxer.session.pendingOutputBytes + stream.writeBufferLength
    expect(offered, `send() kept returning true for ${formatBytes(offered)} (${formatBytes(queued)} queued in memory)`).to.be.lessThan(16 * MiB)
  })

  it('tcp: a peer that never reads (socket paused) while we keep sending: send() returns false, our buffers stay bounded', async () => {
    const [ours, theirs] = await tcpConnectionPair()
    const muxer = yamux({ enableKeepAlive: false })().createStreamMuxer(ours)
    try {
      theirs.socket.pause()
      const stream = await muxer.createStream()
      // the peer accepts the stream with a huge window, then never reads again
      theirs.socket.write(frame({ type: TYPE.WindowUpdate, flags: FLAG.ACK, streamId: stream.streamId, length: 1024 * MiB }))
      await within((async () => { while (muxer.session.sendWindow(stream.streamId) <= 256 * KiB) { await sleep(1) } })(), 2000, 'the window update')
      const before = await settledHeap()
      const chunk = new Uint8Array(64 * KiB)
      let offered = 0
      let refused = false
      for (let round = 0; round < 400 && !refused; round++) {
        for (let i = 0; i < 16; i++) {
          offered += chunk.byteLength
          if (!stream.send(chunk)) {
            refused = true
            break
          }
        }
        await sleep(1)
      }
      expect(refused, `send() returned false (after ${formatBytes(offered)})`).to.equal(true)
      await sleep(50)
      // what we hold in user space: the socket's queue, the connection's and the session's buffers, the stream's
      const held = ours.socket.writableLength + ours.writeBufferLength + muxer.session.pendingOutputBytes + stream.writeBufferLength
      const after = await settledHeap()
      recordHeap('tcp: non-reading peer, we send until send() is false', before, after, 32 * MiB)
      expect(held, `bytes held in user space (${formatBytes(held)}; ${formatBytes(offered)} offered)`).to.be.lessThan(8 * MiB)
      expect(after - before).to.be.lessThan(32 * MiB)
      expect(stream.status).to.equal('open')
    } finally {
      muxer.abort(new Error('test over'))
      theirs.abort(new Error('test over'))
    }
  })

  it('a peer that never reads while many streams send: bounded, every writer is told to wait', async () => {
    const peer = newPeer({ keepBodies: false })
    const records = await openFromPeer(peer, 50)
    peer.write(frames(50, i => header({ type: TYPE.WindowUpdate, streamId: 2 * i + 1, length: 64 * MiB })))
    await peer.flush()
    peer.stopReading()
    const chunk = new Uint8Array(16 * KiB)
    const refused = new Set<number>()
    for (let round = 0; round < 200 && refused.size < records.length; round++) {
      for (const { stream } of records) {
        if (!refused.has(stream.streamId) && !stream.send(chunk)) {
          refused.add(stream.streamId)
        }
      }
      await sleep(0)
    }
    expect(refused.size, 'every writer saw send() return false').to.equal(records.length)
    await sleep(20)
    const held = peer.unreadBytes + peer.conn.writeBufferLength + peer.muxer.session.pendingOutputBytes +
      records.reduce((s, r) => s + r.stream.writeBufferLength, 0)
    expect(held, `bytes held (${formatBytes(held)})`).to.be.lessThan(16 * MiB)
    peer.resumeReading()
    await expectAlive(peer)
  })

  // Regression: every refused SYN queues an RST; while the transport is saturated
  // the muxer stops reading once 1 MiB of such replies waits, so a peer that never
  // reads cannot make us hold one byte per byte it sends.
  it('SYN flood beyond maxInboundStreams from a peer that never reads: our refusals do not pile up without bound', async () => {
    const peer = newPeer({ readStreams: false })
    peer.stopReading()
    const count = 1_000_000
    const batch = 10_000
    const before = await settledHeap()
    for (let sent = 0; sent < count; sent += batch) {
      peer.write(frames(batch, i => header({ type: TYPE.WindowUpdate, flags: FLAG.SYN, streamId: 2 * (sent + i) + 1 })))
      await peer.flush()
    }
    const after = await settledHeap()
    const held = peer.unreadBytes + peer.conn.writeBufferLength + peer.muxer.session.pendingOutputBytes
    recordHeap(`${count} SYNs, peer not reading`, before, after, 16 * MiB)
    expect(peer.muxer.session.streamCount).to.equal(1000)
    expect(held, `bytes of RSTs held for a peer that does not read (${formatBytes(held)})`).to.be.lessThan(2 * MiB)
    expect(after - before).to.be.lessThan(16 * MiB)
  })

  it('window update flood on an open stream answers nothing and keeps nothing', async () => {
    const peer = newPeer()
    const [record] = await openFromPeer(peer, 1)
    const from = peer.frames.length
    const before = await settledHeap()
    for (let r = 0; r < 20; r++) {
      // zero-credit updates: no overflow however many arrive
      peer.write(frames(10_000, () => header({ type: TYPE.WindowUpdate, streamId: 1, length: 0 })))
    }
    await peer.flush()
    const after = await settledHeap()
    recordHeap('200,000 empty window updates', before, after, 4 * MiB)
    expect(after - before).to.be.lessThan(4 * MiB)
    await expectAlive(peer)
    expectNoReaction(peer, from, [1])
    expect(record.stream.status).to.equal('open')
  })
})
