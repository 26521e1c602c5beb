import { expect } from 'aegir/chai'
import { Flag, FrameType, GoAwayCode, INITIAL_STREAM_WINDOW, MAX_UINT32 } from '../../src/protocol/constants.js'
import { AckBacklogFullError, ProtocolViolationError, RemoteResetError, StreamIdExhaustedError, StreamNotWritableError } from '../../src/protocol/errors.js'
import { ACK_BACKLOG } from '../../src/protocol/session.js'
import { StreamIdAllocator } from '../../src/protocol/stream-state.js'
import { clientWithStream, dataFrame, goAwayFrames, KiB, link, pair, pattern, pingFrame, streamFrames, TEST_MAX_PAYLOAD, TestSession, windowUpdate } from './harness.js'

const W = INITIAL_STREAM_WINDOW

describe('protocol/session stream state', () => {
  it('open → local FIN → remote FIN → removed', () => {
    const { t, id } = clientWithStream()
    expect(t.session.streamCount).to.equal(1)
    t.session.closeWrite(id)
    expect(streamFrames(t.takeFrames())).to.deep.equal([{ type: FrameType.WindowUpdate, flags: Flag.FIN, streamId: id, length: 0, body: new Uint8Array(0) }])
    expect(t.session.streamCount).to.equal(1)
    expect(t.session.stream(id)?.localClosed).to.equal(true)
    expect(() => t.session.write(id, new Uint8Array(1))).to.throw(StreamNotWritableError)
    // the remote may still send until its FIN
    t.receive(dataFrame(id, pattern(10)))
    expect(t.received(id)).to.deep.equal(pattern(10))
    t.receive(windowUpdate(id, 0, Flag.FIN))
    expect(t.remoteCloses).to.deep.equal([id])
    expect(t.session.streamCount).to.equal(0)
    expect(t.session.stream(id)).to.equal(undefined)
  })

  it('open → remote FIN → local FIN → removed', () => {
    const { t, id } = clientWithStream()
    t.receive(dataFrame(id, 5, Flag.FIN))
    expect(t.log).to.deep.equal([`data:${id}:5`, `remoteClose:${id}`])
    expect(t.session.streamCount).to.equal(1)
    // we may still write after the remote's FIN
    expect(t.session.write(id, pattern(100))).to.equal(100)
    t.session.closeWrite(id)
    expect(t.session.streamCount).to.equal(0)
    const frames = streamFrames(t.takeFrames())
    expect(frames.map(f => [f.type, f.flags])).to.deep.equal([[FrameType.Data, 0], [FrameType.WindowUpdate, Flag.FIN]])
  })

  it('an inbound stream goes through the same transitions', () => {
    const t = new TestSession({ role: 'server' })
    t.receive(windowUpdate(1, 0, Flag.SYN))
    expect(t.inbound).to.deep.equal([1])
    t.session.closeWrite(1)
    t.receive(dataFrame(1, 3, Flag.FIN))
    expect(t.session.streamCount).to.equal(0)
  })

  it('a second FIN is ignored, locally and from the remote', () => {
    const { t, id } = clientWithStream()
    t.receive(windowUpdate(id, 0, Flag.FIN), windowUpdate(id, 0, Flag.FIN))
    expect(t.remoteCloses).to.deep.equal([id])
    t.session.closeWrite(id)
    t.session.closeWrite(id)
    expect(streamFrames(t.takeFrames())).to.have.length(1)
  })

  it('local RST removes the stream and sends RST with the code on a Window Update', () => {
    const { t, id } = clientWithStream()
    t.session.reset(id, 7)
    expect(t.session.streamCount).to.equal(0)
    expect(streamFrames(t.takeFrames())).to.deep.equal([{ type: FrameType.WindowUpdate, flags: Flag.RST, streamId: id, length: 7, body: new Uint8Array(0) }])
    expect(t.resets).to.deep.equal([])
    t.session.reset(id)
    expect(t.takeFrames()).to.deep.equal([], 'resetting a gone stream sends nothing')
  })

  it('remote RST on a Window Update removes the stream and reports RemoteResetError with its code', () => {
    const { t, id } = clientWithStream()
    t.receive(dataFrame(id, 10))
    t.receive(windowUpdate(id, 42, Flag.RST))
    expect(t.session.streamCount).to.equal(0)
    expect(t.resets).to.have.length(1)
    expect(t.resets[0].id).to.equal(id)
    expect(t.resets[0].error).to.be.instanceOf(RemoteResetError)
    expect(t.resets[0].error.code).to.equal(42)
    expect(t.resets[0].error.message).to.include('42')
    expect(t.takeFrames()).to.deep.equal([])
  })

  it('remote RST on a Data frame or with length 0 carries no code', () => {
    const { t, id } = clientWithStream()
    t.receive(dataFrame(id, 4, Flag.RST))
    expect(t.log).to.deep.equal([`data:${id}:4`, `reset:${id}`])
    expect(t.resets[0].error.code).to.equal(undefined)

    const other = clientWithStream()
    other.t.receive(windowUpdate(other.id, 0, Flag.RST))
    expect(other.t.resets[0].error.code ?? 0).to.equal(0)
    expect(other.t.resets[0].error.message).to.not.include('code')
  })

  it('data + FIN in one frame delivers the data, then the remote close', () => {
    const { t, id } = clientWithStream()
    t.receive(dataFrame(id, pattern(1000, 3), Flag.FIN))
    expect(t.log).to.deep.equal([`data:${id}:1000`, `remoteClose:${id}`])
    expect(t.received(id)).to.deep.equal(pattern(1000, 3))
  })

  it('data + FIN split across many reads still delivers every byte before the remote close', () => {
    const { t, id } = clientWithStream()
    const f = dataFrame(id, pattern(50, 1), Flag.FIN)
    for (let i = 0; i < f.byteLength; i++) {
      t.receive(f.subarray(i, i + 1))
    }
    expect(t.log[t.log.length - 1]).to.equal(`remoteClose:${id}`)
    expect(t.log.slice(0, -1).every(e => e.startsWith('data:'))).to.equal(true)
    expect(t.received(id)).to.deep.equal(pattern(50, 1))
  })

  it('no window update is sent after the remote FIN', () => {
    const { t, id } = clientWithStream()
    t.receive(dataFrame(id, 200 * KiB))
    t.receive(windowUpdate(id, 0, Flag.FIN))
    t.session.consume(id, 200 * KiB)
    expect(t.takeFrames()).to.deep.equal([])
  })

  it('no window update is sent after a remote RST', () => {
    const { t, id } = clientWithStream()
    t.receive(dataFrame(id, 200 * KiB))
    t.receive(windowUpdate(id, 0, Flag.RST))
    t.session.consume(id, 200 * KiB)
    expect(t.takeFrames()).to.deep.equal([])
  })

  it('no window update is sent after a local RST', () => {
    const { t, id } = clientWithStream()
    t.receive(dataFrame(id, 200 * KiB))
    t.session.reset(id)
    t.takeFrames()
    t.session.consume(id, 200 * KiB)
    expect(t.takeFrames()).to.deep.equal([])
  })

  it('window updates continue after our own FIN while the remote still sends', () => {
    const { t, id } = clientWithStream()
    t.session.closeWrite(id)
    t.takeFrames()
    t.receive(dataFrame(id, W / 2))
    t.session.consume(id, W / 2)
    expect(streamFrames(t.takeFrames()).map(f => f.length)).to.deep.equal([W / 2])
  })

  // A Data frame carrying FIN (or RST) delivers its body before the frame ends;
  // a face that consumes during delivery must not earn the remote credit it can
  // no longer use (DESIGN §3, defect 12).
  it('no window update is sent when data + FIN in one frame is consumed during delivery', () => {
    const { t, id } = clientWithStream()
    t.session.closeWrite(id)
    t.takeFrames()
    t.autoConsume = true
    t.receive(dataFrame(id, W / 2, Flag.FIN))
    expect(t.session.streamCount).to.equal(0)
    expect(t.takeFrames()).to.deep.equal([], 'Window Update sent after both sides sent FIN')
  })

  it('no window update is sent when data + RST in one frame is consumed during delivery', () => {
    const { t, id } = clientWithStream()
    t.autoConsume = true
    t.receive(dataFrame(id, W / 2, Flag.RST))
    expect(t.takeFrames()).to.deep.equal([], 'Window Update sent for a stream the remote reset')
  })

  it('frames for unknown streams (Data with body, Window Update, FIN, RST) are ignored with no output', () => {
    const t = new TestSession({ role: 'client' })
    t.receive(
      dataFrame(2, pattern(5000)),
      dataFrame(4, pattern(10), Flag.FIN),
      windowUpdate(6, 1000),
      windowUpdate(8, 0, Flag.FIN),
      windowUpdate(10, 3, Flag.RST),
      dataFrame(12, 20, Flag.RST),
      windowUpdate(14, 0, Flag.ACK),
      dataFrame(99, 70)
    )
    expect(t.takeFrames()).to.deep.equal([])
    expect(t.log).to.deep.equal([])
    expect(t.session.failure).to.equal(undefined)
    expect(t.session.midFrame).to.equal(false)
    // the skipped bodies did not desynchronise the decoder
    t.receive(pingFrame(5, Flag.SYN))
    expect(t.takeFrames().map(f => [f.type, f.flags, f.length])).to.deep.equal([[FrameType.Ping, Flag.ACK, 5]])
  })

  it('frames for finished streams are ignored with no output', () => {
    const { t, id } = clientWithStream()
    t.session.closeWrite(id)
    t.receive(windowUpdate(id, 0, Flag.FIN))
    const reset = t.session.openStream()
    t.session.reset(reset)
    t.takeFrames()
    t.log.length = 0
    for (const closed of [id, reset]) {
      t.receive(dataFrame(closed, 300 * KiB), windowUpdate(closed, 10), windowUpdate(closed, 0, Flag.FIN), windowUpdate(closed, 0, Flag.RST), dataFrame(closed, 3, Flag.FIN | Flag.RST))
    }
    expect(t.takeFrames()).to.deep.equal([])
    expect(t.log).to.deep.equal([])
    expect(t.session.failure).to.equal(undefined)
  })

  it('a duplicate SYN for a live stream is a protocol error (Go Away 1)', () => {
    const t = new TestSession({ role: 'server' })
    t.receive(windowUpdate(1, 0, Flag.SYN))
    t.takeFrames()
    t.receive(dataFrame(1, 10, Flag.SYN))
    expect(t.errors[0]).to.be.instanceOf(ProtocolViolationError)
    expect(t.takeFrames().map(f => [f.type, f.length])).to.deep.equal([[FrameType.GoAway, GoAwayCode.ProtocolError]])
    expect(t.session.streamCount).to.equal(0)
  })

  it('a SYN with the wrong id parity is a protocol error (Go Away 1)', () => {
    const client = new TestSession({ role: 'client' })
    client.receive(windowUpdate(3, 0, Flag.SYN))
    expect(client.errors[0]).to.be.instanceOf(ProtocolViolationError)
    expect(goAwayFrames(client.takeFrames()).map(f => f.length)).to.deep.equal([GoAwayCode.ProtocolError])
    expect(client.inbound).to.deep.equal([])

    const server = new TestSession({ role: 'server' })
    server.receive(dataFrame(2, 5, Flag.SYN))
    expect(server.errors[0]).to.be.instanceOf(ProtocolViolationError)
    expect(goAwayFrames(server.takeFrames()).map(f => f.length)).to.deep.equal([GoAwayCode.ProtocolError])
  })

  it('a SYN for stream 0 is a protocol error (Go Away 1)', () => {
    const t = new TestSession({ role: 'server' })
    t.receive(windowUpdate(0, 0, Flag.SYN))
    expect(t.errors[0]).to.be.instanceOf(ProtocolViolationError)
    expect(goAwayFrames(t.takeFrames()).map(f => f.length)).to.deep.equal([GoAwayCode.ProtocolError])
  })

  it('two linked sessions move data both ways through the window and close cleanly', () => {
    const { a, b } = pair()
    b.autoConsume = true
    const payload = pattern(600 * KiB, 1)
    const id = a.session.openStream()
    let sent = a.session.write(id, payload)
    // whole frames of the window; the rest of it goes with the next credit
    expect(sent).to.equal(W - W % TEST_MAX_PAYLOAD)
    link(a, b)
    expect(b.inbound).to.deep.equal([id])
    expect(a.writable).to.deep.equal([id])
    expect(b.session.write(id, pattern(300, 2))).to.equal(300)
    while (sent < payload.byteLength) {
      const more = a.session.write(id, payload.subarray(sent))
      expect(more).to.be.greaterThan(0)
      sent += more
      link(a, b)
    }
    a.session.closeWrite(id)
    b.session.closeWrite(id)
    link(a, b)
    expect(b.received(id)).to.deep.equal(payload)
    expect(a.received(id)).to.deep.equal(pattern(300, 2))
    expect(a.session.streamCount).to.equal(0)
    expect(b.session.streamCount).to.equal(0)
    expect(a.errors).to.deep.equal([])
    expect(b.errors).to.deep.equal([])
  })
})

describe('protocol/session ACK backlog', () => {
  function fullBacklog (): { t: TestSession, ids: number[] } {
    const t = new TestSession({ role: 'client' })
    const ids: number[] = []
    for (let i = 0; i < ACK_BACKLOG; i++) {
      ids.push(t.session.openStream())
    }
    t.takeFrames()
    expect(t.session.ackBacklog).to.equal(256)
    return { t, ids }
  }

  it('the 257th openStream() without ACKs throws AckBacklogFullError', () => {
    const { t } = fullBacklog()
    expect(() => t.session.openStream()).to.throw(AckBacklogFullError)
    expect(t.session.streamCount).to.equal(256)
    expect(t.takeFrames()).to.deep.equal([])
  })

  it('an ACK frees a slot and fires onAckBacklogAvailable', () => {
    const { t, ids } = fullBacklog()
    t.receive(windowUpdate(ids[10], 0, Flag.ACK))
    expect(t.ackBacklogAvailable).to.equal(1)
    expect(t.session.ackBacklog).to.equal(255)
    const id = t.session.openStream()
    expect(id).to.equal(ids[255] + 2)
    expect(() => t.session.openStream()).to.throw(AckBacklogFullError)
  })

  it('an ACK on a Data frame frees a slot too', () => {
    const { t, ids } = fullBacklog()
    t.receive(dataFrame(ids[0], 3, Flag.ACK))
    expect(t.ackBacklogAvailable).to.equal(1)
    expect(t.received(ids[0])).to.have.length(3)
  })

  it('a remote RST for an unacknowledged stream frees a slot', () => {
    const { t, ids } = fullBacklog()
    t.receive(windowUpdate(ids[3], 0, Flag.RST))
    expect(t.ackBacklogAvailable).to.equal(1)
    expect(t.session.ackBacklog).to.equal(255)
    t.session.openStream()
  })

  it('resetting an unacknowledged stream locally frees a slot', () => {
    const { t, ids } = fullBacklog()
    t.session.reset(ids[100])
    expect(t.ackBacklogAvailable).to.equal(1)
    expect(t.session.ackBacklog).to.equal(255)
    t.session.openStream()
    expect(() => t.session.openStream()).to.throw(AckBacklogFullError)
  })

  it('a second ACK for the same stream does not free another slot', () => {
    const { t, ids } = fullBacklog()
    t.receive(windowUpdate(ids[0], 0, Flag.ACK), windowUpdate(ids[0], 0, Flag.ACK), dataFrame(ids[0], 1, Flag.ACK))
    expect(t.session.ackBacklog).to.equal(255)
    expect(t.ackBacklogAvailable).to.equal(1)
  })
})

describe('protocol/session stream ids', () => {
  it('a client near 2^32 hands out the last odd ids, then throws StreamIdExhaustedError', () => {
    const t = new TestSession({ role: 'client', firstStreamId: MAX_UINT32 - 2 })
    expect(t.session.openStream()).to.equal(MAX_UINT32 - 2)
    expect(t.session.openStream()).to.equal(MAX_UINT32)
    expect(() => t.session.openStream()).to.throw(StreamIdExhaustedError)
    const synIds = streamFrames(t.takeFrames()).map(f => f.streamId)
    expect(synIds).to.deep.equal([MAX_UINT32 - 2, MAX_UINT32])
    // ids are never reused, even once every stream is gone
    t.session.reset(MAX_UINT32 - 2)
    t.session.reset(MAX_UINT32)
    expect(t.session.streamCount).to.equal(0)
    expect(() => t.session.openStream()).to.throw(StreamIdExhaustedError)
    expect(t.session.failure).to.equal(undefined, 'the session itself stays up')
  })

  it('a server near 2^32 hands out the last even id, then throws StreamIdExhaustedError', () => {
    const t = new TestSession({ role: 'server', firstStreamId: MAX_UINT32 - 1 })
    expect(t.session.openStream()).to.equal(MAX_UINT32 - 1)
    expect(() => t.session.openStream()).to.throw(StreamIdExhaustedError)
  })

  it('StreamIdAllocator: odd ids for the client, even for the server, never reused, undefined when exhausted', () => {
    const client = new StreamIdAllocator('client')
    expect([client.take(), client.take(), client.take()]).to.deep.equal([1, 3, 5])
    const server = new StreamIdAllocator('server')
    expect([server.take(), server.take(), server.take()]).to.deep.equal([2, 4, 6])

    const top = new StreamIdAllocator('client', MAX_UINT32 - 4)
    expect([top.take(), top.take(), top.take(), top.take(), top.take()]).to.deep.equal([MAX_UINT32 - 4, MAX_UINT32 - 2, MAX_UINT32, undefined, undefined])
    const topServer = new StreamIdAllocator('server', MAX_UINT32 - 3)
    expect([topServer.take(), topServer.take(), topServer.take()]).to.deep.equal([MAX_UINT32 - 3, MAX_UINT32 - 1, undefined])
  })
})

describe('protocol/session inbound stream limit', () => {
  it('beyond maxInboundStreams the new SYN gets RST and the session stays up', () => {
    const t = new TestSession({ role: 'client', maxInboundStreams: 2 })
    t.receive(windowUpdate(2, 0, Flag.SYN), windowUpdate(4, 0, Flag.SYN))
    expect(t.inbound).to.deep.equal([2, 4])
    t.takeFrames()

    t.receive(dataFrame(6, pattern(100), Flag.SYN))
    expect(streamFrames(t.takeFrames())).to.deep.equal([{ type: FrameType.WindowUpdate, flags: Flag.RST, streamId: 6, length: 0, body: new Uint8Array(0) }])
    expect(t.inbound).to.deep.equal([2, 4])
    expect(t.received(6)).to.have.length(0, 'the refused body is skipped')
    expect(t.session.failure).to.equal(undefined)
    expect(t.errors).to.deep.equal([])
    expect(t.session.streamCount).to.equal(2)

    // later frames for the refused stream are ignored
    t.receive(dataFrame(6, 10), windowUpdate(6, 0, Flag.FIN))
    expect(t.takeFrames()).to.deep.equal([])

    // outbound streams do not count against the inbound limit
    t.session.openStream()
    t.takeFrames()

    // once one ends, a new inbound stream is accepted again
    t.session.reset(2)
    t.takeFrames()
    t.receive(windowUpdate(8, 0, Flag.SYN))
    expect(t.inbound).to.deep.equal([2, 4, 8])
    expect(streamFrames(t.takeFrames()).map(f => f.flags)).to.deep.equal([Flag.ACK])
  })
})
