import { expect } from 'aegir/chai'
import { Flag, FrameType, GoAwayCode } from '../../src/protocol/constants.js'
import { PingTimeoutError, ProtocolViolationError, RemoteGoAwayError, SessionClosedError } from '../../src/protocol/errors.js'
import { MAX_PENDING_PONGS } from '../../src/protocol/pings.js'
import { clientWithStream, concat, dataFrame, FakeClock, goAwayFrame, goAwayFrames, KiB, link, pair, parseFrames, pattern, pingFrame, pingFrames, streamFrames, TEST_MAX_PAYLOAD, TestSession, windowUpdate } from './harness.js'

describe('protocol/session output batching', () => {
  it('SYN and data written in the same tick leave in one batch, announced by one onOutput', () => {
    const t = new TestSession({ role: 'client', keepAlive: false })
    const id = t.session.openStream()
    t.session.write(id, pattern(100))
    t.session.closeWrite(id)
    expect(t.outputEvents).to.equal(1)
    const frames = t.takeFrames()
    expect(streamFrames(frames).map(f => [f.type, f.flags, f.length])).to.deep.equal([
      [FrameType.WindowUpdate, Flag.SYN, 0],
      [FrameType.Data, 0, 100],
      [FrameType.WindowUpdate, Flag.FIN, 0]
    ])
    expect(t.session.pendingOutputBytes).to.equal(0)
    t.session.ping()
    expect(t.outputEvents).to.equal(2, 'the next frame after takeOutput() announces a new batch')
  })

  it('a parked writer keeps the partial frame of a long write across flushes until it writes again; unparked, it leaves at the next flush', () => {
    const t = new TestSession({ role: 'client', keepAlive: false })
    const id = t.session.openStream()
    t.takeFrames()
    const maxPayload = TEST_MAX_PAYLOAD
    // a 64 KiB write: one full frame, 12 bytes held
    t.session.write(id, pattern(64 * KiB, 1))
    t.session.parkWriter(id)
    expect(t.session.pendingOutputBytes).to.equal(12 + 64 * KiB, 'until the next flush the held bytes are pending output')
    expect(streamFrames(t.takeFrames()).map(f => f.length)).to.deep.equal([maxPayload])
    expect(t.session.pendingOutputBytes).to.equal(0, 'after it, the parked writer\'s are not')
    // the next write merges them: full frames again
    t.session.write(id, pattern(64 * KiB, 2))
    expect(streamFrames(t.takeFrames()).map(f => f.length)).to.deep.equal([maxPayload])
    const events = t.outputEvents
    t.session.unparkWriter(id)
    expect(t.outputEvents).to.equal(events + 1, 'unparking with held bytes announces output')
    expect(t.session.pendingOutputBytes).to.equal(24)
    const frames = streamFrames(t.takeFrames())
    expect(frames.map(f => f.length)).to.deep.equal([24])
    const sent = concat([pattern(64 * KiB, 1), pattern(64 * KiB, 2)])
    expect(frames[0].body).to.deep.equal(sent.subarray(2 * maxPayload))
    // closing the write side sends what a parked writer holds before the FIN
    t.session.write(id, pattern(64 * KiB, 3))
    t.session.parkWriter(id)
    t.takeFrames()
    t.session.closeWrite(id)
    expect(streamFrames(t.takeFrames()).map(f => [f.type, f.length])).to.deep.equal([[FrameType.Data, 12], [FrameType.WindowUpdate, 0]])
  })

  it('a small message taken alone is one chunk, header and body together, however full the buffer was', () => {
    const t = new TestSession({ role: 'client', keepAlive: false })
    const id = t.session.openStream()
    t.session.takeOutput()
    // 1 KiB messages, one per batch, as request/response sends them: each must
    // be a single chunk (one transport write), also where the buffer runs out
    for (let i = 0; i < 100; i++) {
      t.session.write(id, pattern(1024, i))
      const chunks = t.session.takeOutput()
      expect(chunks).to.have.length(1, `message ${i} left as ${chunks.length} chunks`)
      expect(chunks[0].byteLength).to.equal(12 + 1024)
      expect(parseFrames(chunks)[0].body).to.deep.equal(pattern(1024, i))
    }
  })
})

describe('protocol/session pings', () => {
  it('answers a SYN ping with an ACK carrying the same value', () => {
    const t = new TestSession({ role: 'server' })
    t.receive(pingFrame(0xcafe_babe, Flag.SYN))
    expect(t.takeFrames()).to.deep.equal([{ type: FrameType.Ping, flags: Flag.ACK, streamId: 0, length: 0xcafe_babe, body: new Uint8Array(0) }])
    expect(t.outputEvents).to.equal(1)
  })

  it('ignores an unsolicited pong: no output, no event, no error', () => {
    const t = new TestSession({ role: 'client' })
    t.receive(pingFrame(77, Flag.ACK))
    expect(t.takeFrames()).to.deep.equal([])
    expect(t.log).to.deep.equal([])
    expect(t.session.failure).to.equal(undefined)
  })

  it('ping() then the matching pong reports onPong(value, rtt) from the fake clock; a late duplicate is ignored', () => {
    const clock = new FakeClock(5000)
    const t = new TestSession({ role: 'client' }, clock)
    const value = t.session.ping()
    expect(t.takeFrames()).to.deep.equal([{ type: FrameType.Ping, flags: Flag.SYN, streamId: 0, length: value, body: new Uint8Array(0) }])
    clock.advance(37)
    t.receive(pingFrame(value + 1000, Flag.ACK))
    expect(t.pongs).to.deep.equal([], 'a pong for another value does not match')
    t.receive(pingFrame(value, Flag.ACK))
    expect(t.pongs).to.deep.equal([{ value, rtt: 37 }])
    expect(t.session.rtt).to.equal(37)
    clock.advance(100)
    t.receive(pingFrame(value, Flag.ACK))
    expect(t.pongs).to.have.length(1)
    expect(t.errors).to.deep.equal([])
  })

  it('concurrent pings are matched by value', () => {
    const clock = new FakeClock()
    const t = new TestSession({ role: 'client' }, clock)
    const first = t.session.ping()
    clock.advance(10)
    const second = t.session.ping()
    expect(second).to.not.equal(first)
    clock.advance(5)
    t.receive(pingFrame(second, Flag.ACK), pingFrame(first, Flag.ACK))
    expect(t.pongs).to.deep.equal([{ value: second, rtt: 5 }, { value: first, rtt: 15 }])
  })

  it('a cancelled ping\'s pong is ignored', () => {
    const t = new TestSession({ role: 'client' })
    const value = t.session.ping()
    t.session.cancelPing(value)
    t.receive(pingFrame(value, Flag.ACK))
    expect(t.pongs).to.deep.equal([])
  })

  it('a flood of 10,000 pings without takeOutput() queues at most MAX_PENDING_PONGS pongs', () => {
    const t = new TestSession({ role: 'server' })
    const flood: Uint8Array[] = []
    for (let i = 0; i < 10_000; i++) {
      flood.push(pingFrame(i + 1, Flag.SYN))
    }
    t.receive(concat(flood))
    expect(t.session.pendingOutputBytes).to.be.at.most(MAX_PENDING_PONGS * 12)
    const pongs = t.takeFrames()
    expect(pongs).to.have.length(MAX_PENDING_PONGS)
    expect(pongs.every(f => f.type === FrameType.Ping && f.flags === Flag.ACK)).to.equal(true)
    // once the outbox drained, pings are answered again
    t.receive(pingFrame(123_456, Flag.SYN))
    expect(t.takeFrames().map(f => f.length)).to.deep.equal([123_456])
  })

  it('repeated pings with one value queue one pong', () => {
    const t = new TestSession({ role: 'server' })
    for (let i = 0; i < 100; i++) {
      t.receive(pingFrame(9, Flag.SYN))
    }
    expect(t.takeFrames()).to.have.length(1)
  })

  it('ping() after the session failed throws SessionClosedError', () => {
    const t = new TestSession({ role: 'client' })
    t.session.abort(new Error('x'))
    expect(() => t.session.ping()).to.throw(SessionClosedError)
  })
})

describe('protocol/session keepalive', () => {
  const config = { role: 'client' as const, keepAlive: true, keepAliveInterval: 1000, pingTimeout: 500 }

  it('nextTickAt() is lastReceived + interval; tick() at that time sends one ping', () => {
    const clock = new FakeClock(100)
    const t = new TestSession(config, clock)
    expect(t.session.nextTickAt()).to.equal(1100)
    clock.t = 1099
    t.session.tick()
    expect(t.takeFrames()).to.deep.equal([])
    clock.t = 1100
    t.session.tick()
    const pings = t.takeFrames()
    expect(pings).to.have.length(1)
    expect(pings[0]).to.include({ type: FrameType.Ping, flags: Flag.SYN, streamId: 0 })
    // while it is outstanding, the next tick is its deadline and no second ping goes out
    expect(t.session.nextTickAt()).to.equal(1600)
    clock.t = 1300
    t.session.tick()
    expect(t.takeFrames()).to.deep.equal([])
  })

  it('no pong within pingTimeout: tick() fails the session with PingTimeoutError and Go Away 2', () => {
    const clock = new FakeClock()
    const t = new TestSession(config, clock)
    const id = t.session.openStream()
    t.takeFrames()
    clock.t = 1000
    t.session.tick()
    t.takeFrames()
    clock.t = 1499
    t.session.tick()
    expect(t.errors).to.deep.equal([])
    clock.t = 1500
    t.session.tick()
    expect(t.errors).to.have.length(1)
    expect(t.errors[0]).to.be.instanceOf(PingTimeoutError)
    expect(t.takeFrames().map(f => [f.type, f.length])).to.deep.equal([[FrameType.GoAway, GoAwayCode.InternalError]])
    expect(t.session.stream(id)).to.equal(undefined)
    expect(t.session.nextTickAt()).to.equal(undefined)
    expect(t.session.canOpenStreams).to.equal(false)
  })

  it('the pong clears the deadline and the next ping waits for another idle interval', () => {
    const clock = new FakeClock()
    const t = new TestSession(config, clock)
    clock.t = 1000
    t.session.tick()
    const [ping] = t.takeFrames()
    clock.t = 1200
    t.receive(pingFrame(ping.length, Flag.ACK))
    expect(t.pongs).to.deep.equal([{ value: ping.length, rtt: 200 }])
    expect(t.session.nextTickAt()).to.equal(2200)
    clock.t = 1600
    t.session.tick()
    expect(t.errors).to.deep.equal([])
    expect(t.takeFrames()).to.deep.equal([])
  })

  it('receiving anything postpones the keepalive ping', () => {
    const clock = new FakeClock()
    const t = new TestSession(config, clock)
    clock.t = 600
    t.receive(windowUpdate(99, 0))
    expect(t.session.nextTickAt()).to.equal(1600)
    clock.t = 1000
    t.session.tick()
    expect(t.takeFrames()).to.deep.equal([])
    clock.t = 1600
    t.session.tick()
    expect(pingFrames(t.takeFrames())).to.have.length(1)
  })

  it('with keepAlive off, nextTickAt() is undefined and tick() does nothing', () => {
    const clock = new FakeClock()
    const t = new TestSession({ ...config, keepAlive: false }, clock)
    expect(t.session.nextTickAt()).to.equal(undefined)
    clock.t = 1_000_000
    t.session.tick()
    expect(t.takeFrames()).to.deep.equal([])
    expect(t.errors).to.deep.equal([])
  })
})

describe('protocol/session Go Away', () => {
  it('goAway() sends Go Away 0 once; no new streams either way afterwards', () => {
    const t = new TestSession({ role: 'client' })
    t.session.goAway()
    t.session.goAway()
    expect(t.takeFrames()).to.deep.equal([{ type: FrameType.GoAway, flags: 0, streamId: 0, length: GoAwayCode.Normal, body: new Uint8Array(0) }])
    expect(t.session.canOpenStreams).to.equal(false)
    expect(() => t.session.openStream()).to.throw(SessionClosedError)
    t.receive(windowUpdate(2, 0, Flag.SYN))
    expect(streamFrames(t.takeFrames()).map(f => [f.streamId, f.flags])).to.deep.equal([[2, Flag.RST]])
    expect(t.errors).to.deep.equal([])
  })

  it('abort(new Error()) sends Go Away 2', () => {
    const { t, id } = clientWithStream()
    const error = new Error('boom')
    t.session.abort(error)
    expect(t.takeFrames().map(f => [f.type, f.length])).to.deep.equal([[FrameType.GoAway, GoAwayCode.InternalError]])
    expect(t.errors).to.deep.equal([error])
    expect(t.session.stream(id)).to.equal(undefined)
    t.session.abort(new Error('again'))
    expect(t.takeFrames()).to.deep.equal([])
    expect(t.errors).to.have.length(1)
  })

  it('abort(new ProtocolViolationError()) sends Go Away 1', () => {
    const t = new TestSession({ role: 'client' })
    t.session.abort(new ProtocolViolationError('bad peer'))
    expect(t.takeFrames().map(f => [f.type, f.length])).to.deep.equal([[FrameType.GoAway, GoAwayCode.ProtocolError]])
  })

  it('a protocol violation from the peer sends Go Away 1 and stops decoding', () => {
    const t = new TestSession({ role: 'client' })
    const bad = pingFrame(1, Flag.SYN)
    bad[0] = 1
    t.receive(concat([bad, pingFrame(2, Flag.SYN)]))
    expect(t.errors[0]).to.be.instanceOf(ProtocolViolationError)
    expect(t.takeFrames().map(f => [f.type, f.length])).to.deep.equal([[FrameType.GoAway, GoAwayCode.ProtocolError]])
    t.receive(pingFrame(3, Flag.SYN))
    expect(t.takeFrames()).to.deep.equal([])
  })

  it('an unknown frame type from the peer sends Go Away 1', () => {
    const t = new TestSession({ role: 'client' })
    const bad = windowUpdate(1, 0)
    bad[1] = 4
    t.receive(bad)
    expect(t.errors[0]).to.be.instanceOf(ProtocolViolationError)
    expect(goAwayFrames(t.takeFrames()).map(f => f.length)).to.deep.equal([GoAwayCode.ProtocolError])
  })

  it('remote Go Away 0: onRemoteGoAway, no new streams, existing streams still move data to completion', () => {
    const { a, b } = pair()
    a.autoConsume = true
    b.autoConsume = true
    const id = a.session.openStream()
    a.session.write(id, pattern(10 * KiB, 1))
    link(a, b)
    b.session.goAway()
    link(a, b)
    expect(a.remoteGoAways).to.equal(1)
    expect(a.session.canOpenStreams).to.equal(false)
    expect(() => a.session.openStream()).to.throw(SessionClosedError)
    expect(a.errors).to.deep.equal([])

    // the open stream keeps working in both directions, including flow control
    const big = pattern(700 * KiB, 2)
    let sent = 0
    for (let round = 0; sent < big.byteLength && round < 100; round++) {
      sent += a.session.write(id, big.subarray(sent))
      link(a, b)
    }
    expect(b.session.write(id, pattern(5, 3))).to.equal(5)
    a.session.closeWrite(id)
    b.session.closeWrite(id)
    link(a, b)
    expect(b.received(id)).to.deep.equal(concat([pattern(10 * KiB, 1), big]))
    expect(a.received(id)).to.deep.equal(pattern(5, 3))
    expect(a.session.streamCount).to.equal(0)
    expect(b.session.streamCount).to.equal(0)
    expect(a.errors).to.deep.equal([])
    expect(b.errors).to.deep.equal([])
    // a second Go Away 0 is not reported again
    a.receive(goAwayFrame(GoAwayCode.Normal))
    expect(a.remoteGoAways).to.equal(1)
  })

  for (const code of [GoAwayCode.ProtocolError, GoAwayCode.InternalError, 7]) {
    it(`remote Go Away ${code}: onSessionError with RemoteGoAwayError code ${code}, no Go Away sent back`, () => {
      const { t, id } = clientWithStream()
      t.receive(concat([goAwayFrame(code), dataFrame(id, 10)]))
      expect(t.errors).to.have.length(1)
      const error = t.errors[0] as RemoteGoAwayError
      expect(error).to.be.instanceOf(RemoteGoAwayError)
      expect(error.code).to.equal(code)
      expect(error.message).to.include(String(code))
      expect(t.takeFrames()).to.deep.equal([])
      expect(t.session.streamCount).to.equal(0)
      expect(t.received(id)).to.have.length(0, 'nothing is decoded after the Go Away')
      expect(t.session.canOpenStreams).to.equal(false)
    })
  }

  it('after refuseNewStreams() inbound SYNs get RST and openStream() throws', () => {
    const t = new TestSession({ role: 'server' })
    t.receive(windowUpdate(1, 0, Flag.SYN))
    t.takeFrames()
    t.session.refuseNewStreams()
    expect(t.session.canOpenStreams).to.equal(false)
    expect(() => t.session.openStream()).to.throw(SessionClosedError)
    t.receive(dataFrame(3, 10, Flag.SYN))
    expect(t.takeFrames()).to.deep.equal([{ type: FrameType.WindowUpdate, flags: Flag.RST, streamId: 3, length: 0, body: new Uint8Array(0) }])
    expect(t.inbound).to.deep.equal([1])
    // the stream opened before keeps working
    t.receive(dataFrame(1, 4))
    expect(t.received(1)).to.have.length(4)
    expect(t.session.failure).to.equal(undefined)
    expect(goAwayFrames(t.takeFrames())).to.deep.equal([], 'refusing does not tell the peer yet')
  })
})

describe('protocol/session robustness', () => {
  it('frames split across reads at every point give the same events as one read', () => {
    const build = (): Uint8Array => concat([
      windowUpdate(2, 1000, Flag.SYN),
      dataFrame(2, pattern(40, 1)),
      pingFrame(5, Flag.SYN),
      dataFrame(2, pattern(9, 2), Flag.FIN),
      windowUpdate(4, 0, Flag.SYN | Flag.RST)
    ])
    const bytes = build()
    const reference = new TestSession({ role: 'client' })
    reference.receive(bytes)
    const refFrames = reference.takeFrames()
    for (let split = 0; split <= bytes.byteLength; split++) {
      const t = new TestSession({ role: 'client' })
      t.receive(bytes.subarray(0, split), bytes.subarray(split))
      expect(t.log.filter(e => !e.startsWith('data:'))).to.deep.equal(reference.log.filter(e => !e.startsWith('data:')), `split at ${split}`)
      expect(t.received(2)).to.deep.equal(reference.received(2))
      expect(t.takeFrames()).to.deep.equal(refFrames)
      expect(t.session.midFrame).to.equal(false)
    }
    expect(reference.log).to.include.members(['inbound:2', 'remoteClose:2', 'inbound:4', 'reset:4'])
  })

  // An event handler that throws mid-frame leaves the decoder unable to
  // resynchronise: the session must fail rather than misparse later input
  // (DESIGN §6, defect 13).
  it('an exception thrown by an event handler fails the session instead of desynchronising the decoder', () => {
    const { t, id } = clientWithStream()
    const record = t.onStreamData.bind(t)
    let throwOnce = true
    t.onStreamData = (streamId, data) => {
      record(streamId, data)
      if (throwOnce) {
        throwOnce = false
        throw new Error('handler bug')
      }
    }
    const ping = pingFrame(77, Flag.SYN)
    expect(() => { t.receive(concat([dataFrame(id, 10), ping.subarray(0, 6)])) }).to.throw('handler bug')
    t.receive(concat([ping.subarray(6), pingFrame(78, Flag.SYN)]))
    const frames = t.takeFrames()
    const answered = frames.filter(f => f.type === FrameType.Ping).map(f => f.length)
    const failed = t.session.failure != null && goAwayFrames(frames).length === 1
    expect(failed || answered.join() === '77,78').to.equal(true, 'input after the exception was silently misparsed')
  })
})
