/**
 * One regression test for each defect of today's JavaScript Yamux listed in
 * DESIGN.md section 6, named after it.
 */

import { expect } from 'aegir/chai'
import { pEvent } from 'p-event'
import { Uint8ArrayList } from 'uint8arraylist'
import { resolveOptions, sessionConfig } from '../src/config.js'
import { Flag, FrameType, GoAwayCode, INITIAL_STREAM_WINDOW } from '../src/protocol/constants.js'
import { YamuxSession } from '../src/protocol/session.js'
import { countReceived, DEFAULT_MAX_PAYLOAD, delay, muxerPair, openPair, rawPeerPair, recordFrames } from './fixtures/pair.js'
import type { YamuxStream } from '../src/index.js'

const KiB = 1024
const MiB = 1024 * 1024

/** Send `total` bytes in `chunk`-sized pieces, honouring backpressure through onDrain() */
async function sendAll (stream: YamuxStream, total: number, chunk = 64 * KiB): Promise<void> {
  for (let sent = 0; sent < total; sent += chunk) {
    if (!stream.send(new Uint8Array(Math.min(chunk, total - sent)).fill(sent / chunk & 0xff))) {
      await stream.onDrain()
    }
  }
}

describe('regressions of today\'s JavaScript Yamux (DESIGN.md §6)', () => {
  it('defect 1: an initial window above 256 KiB is advertised, so the peer may use all of it', async () => {
    const pair = muxerPair({}, { initialStreamWindowSize: 2 * MiB })
    const [outbound, inbound] = await openPair(pair)
    inbound.pause()
    // the ACK carried the extra 1.75 MiB: the client may send 2 MiB before any consumption
    await sendAll(outbound, 2 * MiB)
    await delay(50)
    expect(pair.client.session.sendWindow(outbound.streamId)).to.equal(0)
    expect(inbound.status).to.equal('open')
    expect(pair.server.status).to.equal('open')
    expect(inbound.readBufferLength).to.equal(2 * MiB)
    inbound.resume()
    const received = countReceived(inbound)
    await outbound.close()
    expect(await received).to.equal(2 * MiB)
  })

  it('defect 2: credit is granted on consumption, once per half window; a paused reader stalls the sender without abort', async () => {
    const pair = muxerPair()
    const updates = recordFrames(pair.serverConn)
    const [outbound, inbound] = await openPair(pair)
    inbound.pause()
    const sending = sendAll(outbound, 16 * MiB)
    await delay(100)
    // only the initial window arrived, in whole frames (the partial last frame waits
    // for the next credit); the sender waits, nothing was aborted
    expect(inbound.readBufferLength).to.be.within(INITIAL_STREAM_WINDOW - 64 * KiB, INITIAL_STREAM_WINDOW)
    expect(inbound.readBufferLength % DEFAULT_MAX_PAYLOAD).to.equal(0)
    expect(outbound.writableNeedsDrain).to.be.true()
    expect(outbound.status).to.equal('open')
    expect(updates.frames.filter(f => f.type === FrameType.WindowUpdate && f.flags === 0)).to.have.lengthOf(0)
    inbound.resume()
    const received = countReceived(inbound)
    await sending
    await outbound.close()
    expect(await received).to.equal(16 * MiB)
    // 16 MiB in 64 KiB frames is 256 frames; updates come per half window, so far fewer
    const windowUpdates = updates.frames.filter(f => f.type === FrameType.WindowUpdate && f.flags === 0)
    expect(windowUpdates.length).to.be.greaterThan(0).and.at.most(64)
    for (const update of windowUpdates) {
      expect(update.length).to.be.at.least(INITIAL_STREAM_WINDOW / 2)
    }
  })

  it('defect 3: maxMessageSize caps every Data frame, header included, even after windows grow', async () => {
    const pair = muxerPair({ maxMessageSize: 16 * KiB }, { maxMessageSize: 16 * KiB })
    const sent = recordFrames(pair.clientConn)
    const [outbound, inbound] = await openPair(pair)
    const received = countReceived(inbound)
    outbound.send(new Uint8Array(4 * MiB))
    await outbound.close()
    expect(await received).to.equal(4 * MiB)
    const data = sent.frames.filter(f => f.type === FrameType.Data)
    expect(data.length).to.be.at.least(4 * MiB / (16 * KiB))
    expect(Math.max(...data.map(f => f.length + 12))).to.be.at.most(16 * KiB)

    const defaults = muxerPair()
    const sentByDefault = recordFrames(defaults.clientConn)
    const [out2, in2] = await openPair(defaults)
    const received2 = countReceived(in2)
    await sendAll(out2, 32 * MiB, MiB)
    await out2.close()
    expect(await received2).to.equal(32 * MiB)
    expect(Math.max(...sentByDefault.frames.filter(f => f.type === FrameType.Data).map(f => f.length + 12))).to.be.at.most(64 * KiB)
  })

  it('defect 4: a header announcing a huge Data frame is checked before any body is buffered', async () => {
    const { muxer, peer } = rawPeerPair('server')
    peer.send({ type: FrameType.WindowUpdate, flags: Flag.SYN, streamId: 1, length: 0 })
    const stream = (await pEvent<'stream', CustomEvent<YamuxStream>>(muxer, 'stream')).detail
    const closed = pEvent(stream, 'close')
    const heapBefore = process.memoryUsage().heapUsed
    // 1 GiB announced against a 256 KiB window: rejected from the header alone
    peer.send({ type: FrameType.Data, flags: 0, streamId: 1, length: 1024 * MiB }, new Uint8Array(64 * KiB))
    const goAway = await peer.waitForFrame(f => f.type === FrameType.GoAway, 5000)
    expect(goAway.length).to.equal(GoAwayCode.ProtocolError)
    const evt = await closed
    expect(evt).to.have.nested.property('error.name', 'ProtocolViolationError')
    expect(process.memoryUsage().heapUsed - heapBefore).to.be.below(32 * MiB)
  })

  it('defect 5: data carried on the FIN frame is delivered, before the end of the stream', async () => {
    const { muxer, peer } = rawPeerPair('server')
    peer.send({ type: FrameType.WindowUpdate, flags: Flag.SYN, streamId: 1, length: 0 })
    const stream = (await pEvent<'stream', CustomEvent<YamuxStream>>(muxer, 'stream')).detail
    const order: string[] = []
    stream.addEventListener('message', (evt) => { order.push(`message:${new Uint8ArrayList(evt.data).subarray().join(',')}`) })
    stream.addEventListener('remoteCloseWrite', () => { order.push('remoteCloseWrite') })
    const ended = pEvent(stream, 'end')
    peer.send({ type: FrameType.Data, flags: Flag.FIN, streamId: 1, length: 3 }, Uint8Array.from([7, 8, 9]))
    await ended
    expect(order).to.deep.equal(['message:7,8,9', 'remoteCloseWrite'])
  })

  it('defect 6: abort(new Error()) sends Go Away 2 (internal error), not 0', async () => {
    const { muxer, peer } = rawPeerPair('client')
    await muxer.createStream()
    muxer.abort(new Error('application failure'))
    const goAway = await peer.waitForFrame(f => f.type === FrameType.GoAway, 5000)
    expect(goAway.length).to.equal(GoAwayCode.InternalError)
  })

  it('defect 7: a dead peer is detected by keepalive, and RTT is measured with keepalive off', async () => {
    const { muxer, peer } = rawPeerPair('client', { keepAliveInterval: 50, pingTimeout: 100 })
    const stream = await muxer.createStream()
    const closed = pEvent(stream, 'close')
    // the peer never answers: within interval + timeout the connection fails with a clear error
    const evt = await closed
    expect(evt).to.have.nested.property('error.name', 'PingTimeoutError')
    expect(muxer.status).to.equal('closed')
    const goAway = await peer.waitForFrame(f => f.type === FrameType.GoAway, 5000)
    expect(goAway.length).to.equal(GoAwayCode.InternalError)

    const pair = muxerPair({ enableKeepAlive: false }, { enableKeepAlive: false })
    await openPair(pair)
    await delay(20)
    expect(pair.client.session.rtt).to.be.a('number')
    expect(pair.server.session.rtt).to.be.a('number')
  })

  it('defect 8: a late or unsolicited pong is ignored, the connection lives on', async () => {
    const { muxer, peer } = rawPeerPair('server')
    peer.send({ type: FrameType.Ping, flags: Flag.ACK, streamId: 0, length: 123456 })
    peer.send({ type: FrameType.WindowUpdate, flags: Flag.SYN, streamId: 1, length: 0 })
    const stream = (await pEvent<'stream', CustomEvent<YamuxStream>>(muxer, 'stream')).detail
    stream.send(Uint8Array.from([1]))
    const data = await peer.waitForFrame(f => f.type === FrameType.Data && f.streamId === 1, 5000)
    expect([...data.body]).to.deep.equal([1])
    expect(muxer.status).to.equal('open')
    expect(peer.frames.some(f => f.type === FrameType.GoAway)).to.be.false()
  })

  it('defect 9: with 5,000 idle streams, frames find their stream directly and drains wake only waiting streams', async () => {
    const pair = muxerPair({ maxOutboundStreams: 10_000 }, { maxInboundStreams: 10_000 })
    const idle: YamuxStream[] = []
    pair.server.addEventListener('stream', () => {})
    for (let i = 0; i < 5_000; i++) {
      idle.push(await pair.client.createStream())
    }
    let idleDrains = 0
    idle.forEach(stream => { stream.addEventListener('drain', () => { idleDrains++ }) })
    const [outbound, inbound] = await openPair(pair)
    const received = countReceived(inbound)
    await sendAll(outbound, 16 * MiB)
    await outbound.close()
    expect(await received).to.equal(16 * MiB)
    expect(idleDrains).to.equal(0)
    expect(idle.every(stream => stream.status === 'open')).to.be.true()
  })

  it('defect 10: remote Go Away 0 lets open streams finish and refuses new ones', async () => {
    const pair = muxerPair()
    const [outbound, inbound] = await openPair(pair)
    pair.server.session.goAway(GoAwayCode.Normal)
    inbound.send(Uint8Array.from([1]))
    await pEvent(outbound, 'message')
    await expect(pair.client.createStream()).to.eventually.be.rejected.with.property('name', 'MuxerClosedError')
    const received = countReceived(inbound)
    await sendAll(outbound, MiB)
    await outbound.close()
    expect(await received).to.equal(MiB)
    expect(outbound.status).to.equal('open')
  })

  it('defect 11: at most 256 streams await their ACK; createStream waits, honouring its signal; ids run out cleanly', async () => {
    const { muxer, peer } = rawPeerPair('client')
    await Promise.all(Array.from({ length: 256 }, async () => muxer.createStream()))
    const controller = new AbortController()
    const waiting = muxer.createStream({ signal: controller.signal })
    let settled = false
    void waiting.then(() => { settled = true }, () => { settled = true })
    await delay(20)
    expect(settled).to.be.false()
    controller.abort(new Error('gave up'))
    await expect(waiting).to.eventually.be.rejected.with.property('message', 'gave up')
    const next = muxer.createStream()
    peer.send({ type: FrameType.WindowUpdate, flags: Flag.ACK, streamId: 1, length: 0 })
    const stream = await next
    expect(stream.streamId).to.equal(513)

    const options = resolveOptions()
    const session = new YamuxSession({ ...sessionConfig(options, 'client'), firstStreamId: 0xffff_fffd }, {
      onOutput () {}, onInboundStream () {}, onStreamData () {}, onStreamRemoteClose () {}, onStreamReset () {}, onStreamWritable () {}, onAckBacklogAvailable () {}, onPong () {}, onRemoteGoAway () {}, onSessionError () {}
    }, { now: () => 0 })
    expect(session.openStream()).to.equal(0xffff_fffd)
    expect(session.openStream()).to.equal(0xffff_ffff)
    expect(() => session.openStream()).to.throw().with.property('name', 'StreamIdExhaustedError')
  })

  it('defect 12: no window update is sent once both sides have sent FIN', async () => {
    const pair = muxerPair()
    const sent = recordFrames(pair.serverConn)
    const [outbound, inbound] = await openPair(pair)
    inbound.pause()
    await sendAll(outbound, INITIAL_STREAM_WINDOW)
    await outbound.close()
    await inbound.close()
    await delay(20)
    const before = sent.frames.length
    inbound.resume()
    expect(await countReceived(inbound)).to.equal(INITIAL_STREAM_WINDOW)
    await delay(20)
    expect(sent.frames.slice(before).filter(f => f.type === FrameType.WindowUpdate)).to.have.lengthOf(0)
  })

  it('defect 13: close, abort and reset paths racing with traffic never throw unobserved', async () => {
    // the test setup fails this test if anything escapes as an unhandled rejection or uncaught exception
    const pair = muxerPair()
    pair.server.addEventListener('stream', (evt) => {
      const stream = evt.detail as YamuxStream
      stream.addEventListener('message', () => { stream.send(new Uint8Array(1000)) })
    })
    const streams = await Promise.all(Array.from({ length: 20 }, async () => pair.client.createStream()))
    streams.forEach(stream => stream.send(new Uint8Array(100 * KiB)))
    streams[0].abort(new Error('abort while writing'))
    // a close cut short by the abort below rejects with the abort error
    const streamClosing = streams[1].close().catch((err: Error) => err)
    streams[2].send(new Uint8Array(10))
    const closingRead = streams[3].closeRead().catch((err: Error) => err)
    const closing = pair.client.close({ signal: AbortSignal.timeout(50) }).catch(() => {})
    pair.server.abort(new Error('abort during close'))
    await closing
    pair.clientConn.abort(new Error('transport gone'))
    await delay(50)
    expect(pair.client.status).to.equal('closed')
    // every promise settled: nothing hangs
    await Promise.all([streamClosing, closingRead])
  })

  it('defect 15: a small message and its reply take one transport write each', async () => {
    const pair = muxerPair()
    const [outbound, inbound] = await openPair(pair)
    inbound.addEventListener('message', (evt) => { inbound.send(evt.data) })
    await delay(20)
    const clientWrites = recordFrames(pair.clientConn)
    const serverWrites = recordFrames(pair.serverConn)
    for (let i = 0; i < 100; i++) {
      outbound.send(new Uint8Array(KiB))
      await pEvent(outbound, 'message')
    }
    expect(clientWrites.writes).to.be.at.most(101)
    expect(serverWrites.writes).to.be.at.most(101)
  })

  it('defect 16: onDrain() applies backpressure on every call, not just the first', async () => {
    const pair = muxerPair()
    const [outbound, inbound] = await openPair(pair)
    inbound.pause()
    let maxBuffered = 0
    const sending = (async () => {
      for (let i = 0; i < 256; i++) {
        if (!outbound.send(new Uint8Array(64 * KiB))) {
          maxBuffered = Math.max(maxBuffered, outbound.writeBufferLength)
          await outbound.onDrain()
        }
      }
      await outbound.close()
    })()
    // let the reader go in bursts, so the writer drains many times
    for (let i = 0; i < 20; i++) {
      await delay(10)
      inbound.resume()
      await delay(1)
      inbound.pause()
    }
    inbound.resume()
    const received = await countReceived(inbound)
    await sending
    expect(received).to.equal(16 * MiB)
    expect(maxBuffered).to.be.at.most(128 * KiB)
  })
})
