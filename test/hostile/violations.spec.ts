/**
 * Hostile input that breaks the protocol: DESIGN.md §3 answers each with
 * Go Away 1; every stream ends with a `ProtocolViolationError` that says why,
 * the transport is closed, and the process stays up (test/setup.ts fails the
 * test on any escaped error).
 */

import { expect } from 'aegir/chai'
import { expectSessionFailed, openFromMuxer, openFromPeer } from './helpers.js'
import { FLAG, RawPeer, TYPE, header, sleep } from './raw-peer.js'

const KiB = 1024

describe('hostile peer: protocol violations end the session with Go Away 1', () => {
  let peer: RawPeer

  beforeEach(() => {
    peer = new RawPeer()
  })

  afterEach(async () => {
    await peer.close()
  })

  it('bad version', async () => {
    const streams = await openFromPeer(peer, 3)
    peer.write(header({ version: 1, type: TYPE.Ping, flags: FLAG.SYN, streamId: 0, length: 1 }))
    const [err] = await expectSessionFailed(peer, streams, 1, 'ProtocolViolationError')
    expect(err.message).to.match(/version/)
  })

  it('bad version on the very first frame', async () => {
    peer.write(new Uint8Array(12).fill(0xff))
    await expectSessionFailed(peer, [], 1, 'ProtocolViolationError')
  })

  it('unknown frame type', async () => {
    const streams = await openFromPeer(peer, 2)
    peer.write(header({ type: 4, streamId: 1, length: 0 }))
    const [err] = await expectSessionFailed(peer, streams, 1, 'ProtocolViolationError')
    expect(err.message).to.match(/type/)
  })

  it('unknown frame type 0xff with a body-sized length', async () => {
    const streams = await openFromPeer(peer, 1)
    peer.write(header({ type: 0xff, streamId: 1, length: 0xffff_ffff }))
    await expectSessionFailed(peer, streams, 1, 'ProtocolViolationError')
  })

  it('data past the window, rejected from the header before the body arrives', async () => {
    const [stream] = await openFromPeer(peer, 1)
    // header only: the verdict must not wait for 256 KiB + 1 body bytes
    peer.write(header({ type: TYPE.Data, streamId: 1, length: 256 * KiB + 1 }))
    const [err] = await expectSessionFailed(peer, [stream], 1, 'ProtocolViolationError')
    expect(err.message).to.match(/window/)
  })

  it('data past the window across several frames while the application does not read', async () => {
    peer = new RawPeer({ readStreams: false })
    const [stream] = await openFromPeer(peer, 1)
    const chunk = new Uint8Array(100 * KiB)
    peer.send({ type: TYPE.Data, streamId: 1 }, chunk)
    peer.send({ type: TYPE.Data, streamId: 1 }, chunk)
    await peer.flush()
    expect(peer.goAways).to.have.lengthOf(0)
    // 200 KiB of 256 KiB used, nothing consumed, so no credit came back: 100 KiB more is too much
    expect(peer.framesWhere(f => f.type === TYPE.WindowUpdate && f.streamId === 1 && f.length > 0)).to.have.lengthOf(0)
    peer.send({ type: TYPE.Data, streamId: 1 }, chunk)
    await expectSessionFailed(peer, [stream], 1, 'ProtocolViolationError')
  })

  it('window credit overflowing 2^32 - 1', async () => {
    const [stream] = await openFromPeer(peer, 1)
    // 256 KiB + (2^32 - 1) > 2^32 - 1
    peer.send({ type: TYPE.WindowUpdate, streamId: 1, length: 0xffff_ffff })
    const [err] = await expectSessionFailed(peer, [stream], 1, 'ProtocolViolationError')
    expect(err.message).to.match(/overflow/)
  })

  it('window credit overflowing 2^32 - 1 in two updates', async () => {
    const [outbound] = await openFromMuxer(peer, 1)
    const id = outbound.stream.streamId
    peer.send({ type: TYPE.WindowUpdate, streamId: id, length: 0xffff_ffff - 256 * KiB })
    await peer.flush()
    // exactly 2^32 - 1 is still legal
    expect(peer.goAways).to.have.lengthOf(0)
    peer.send({ type: TYPE.WindowUpdate, streamId: id, length: 1 })
    await expectSessionFailed(peer, [outbound], 1, 'ProtocolViolationError')
  })

  it('duplicate SYN for a live stream', async () => {
    const streams = await openFromPeer(peer, 2)
    peer.openStream(1)
    const [err] = await expectSessionFailed(peer, streams, 1, 'ProtocolViolationError')
    expect(err.message).to.match(/duplicate SYN/)
  })

  it('duplicate SYN on a Data frame carrying a body', async () => {
    const streams = await openFromPeer(peer, 1)
    peer.send({ type: TYPE.Data, flags: FLAG.SYN, streamId: 1 }, new Uint8Array(1000))
    await expectSessionFailed(peer, streams, 1, 'ProtocolViolationError')
    expect(streams[0].bytes, 'the body of the offending frame is not delivered').to.equal(0)
  })

  it('SYN with the wrong id parity (even id from a client)', async () => {
    const streams = await openFromPeer(peer, 1)
    peer.openStream(2)
    const [err] = await expectSessionFailed(peer, streams, 1, 'ProtocolViolationError')
    expect(err.message).to.match(/parity/)
  })

  it('SYN with the wrong id parity (odd id from a server)', async () => {
    peer = new RawPeer({ muxerRole: 'client' })
    const streams = await openFromMuxer(peer, 1)
    peer.openStream(3)
    await expectSessionFailed(peer, streams, 1, 'ProtocolViolationError')
  })

  it('SYN for stream id 0', async () => {
    const streams = await openFromPeer(peer, 1)
    peer.send({ type: TYPE.WindowUpdate, flags: FLAG.SYN, streamId: 0, length: 0 })
    await expectSessionFailed(peer, streams, 1, 'ProtocolViolationError')
  })

  it('Data on stream id 0', async () => {
    const streams = await openFromPeer(peer, 1)
    peer.send({ type: TYPE.Data, streamId: 0 }, new Uint8Array(10))
    await expectSessionFailed(peer, streams, 1, 'ProtocolViolationError')
  })

  it('our outbound streams end with the violation too, and createStream fails afterwards', async () => {
    const outbound = await openFromMuxer(peer, 2)
    const inbound = await openFromPeer(peer, 2)
    peer.write(header({ version: 7, type: 0 }))
    await expectSessionFailed(peer, [...outbound, ...inbound], 1, 'ProtocolViolationError')
    await expect(peer.muxer.createStream()).to.eventually.be.rejected()
  })

  it('bytes after the violation are not processed', async () => {
    const streams = await openFromPeer(peer, 1)
    const before = peer.frames.length
    peer.write(header({ version: 9, type: 0 }), header({ type: TYPE.Ping, flags: FLAG.SYN, length: 42 }))
    await expectSessionFailed(peer, streams, 1, 'ProtocolViolationError')
    await sleep(20)
    expect(peer.frames.slice(before).filter(f => f.type === TYPE.Ping), 'no pong after Go Away').to.have.lengthOf(0)
  })
})
