import { expect } from 'aegir/chai'
import { Uint8ArrayList } from 'uint8arraylist'
import { Flag, FrameType, GoAwayCode, HEADER_LENGTH, INITIAL_STREAM_WINDOW, MAX_UINT32 } from '../../src/protocol/constants.js'
import { ProtocolViolationError } from '../../src/protocol/errors.js'
import { addSendCredit, cutShortWrite, MIN_ROUND_TRIP, ReceiveBudget, ReceiveWindow } from '../../src/protocol/flow-control.js'
import { clientWithStream, concat, dataFrame, dataHeader, FakeClock, goAwayFrames, KiB, MiB, parseFrames, pattern, pingFrame, pingFrames, streamFrames, TEST_MAX_PAYLOAD, TestSession, windowUpdate } from './harness.js'
import type { Frame } from './harness.js'

const W = INITIAL_STREAM_WINDOW

describe('protocol/flow-control ReceiveWindow', () => {
  it('grants nothing until half the window is consumed, then exactly the owed credit once', () => {
    const w = new ReceiveWindow(W, 16 * MiB, new ReceiveBudget(64 * MiB), 0)
    expect(w.announceInitial()).to.equal(0)
    expect(w.receive(200 * KiB)).to.equal(true)
    w.consume(W / 2 - 1)
    expect(w.takeGrant(0, undefined)).to.equal(0)
    w.consume(1)
    expect(w.takeGrant(0, undefined)).to.equal(W / 2)
    expect(w.takeGrant(0, undefined)).to.equal(0)
    expect(w.credit).to.equal(W - 200 * KiB + W / 2)
  })

  it('receiving alone never earns a grant', () => {
    const w = new ReceiveWindow(W, 16 * MiB, new ReceiveBudget(64 * MiB), 0)
    w.announceInitial()
    expect(w.receive(W)).to.equal(true)
    expect(w.takeGrant(0, 10)).to.equal(0)
    expect(w.receive(1)).to.equal(false, 'past the window')
  })

  it('announces the part of a larger initial window above 256 KiB', () => {
    const w = new ReceiveWindow(W * 4, 16 * MiB, new ReceiveBudget(64 * MiB), 0)
    expect(w.announceInitial()).to.equal(W * 3)
    expect(w.credit).to.equal(W * 4)
    expect(w.receive(W * 4)).to.equal(true)
  })

  /**
   * Feed `w` half windows at a time, each consumed at once and granted after
   * `msPerHalf(size)` ms, with a 10 ms round trip; returns the time reached
   */
  const run = (w: ReceiveWindow, grants: number, msPerHalf: (size: number) => number, now = 0): number => {
    for (let i = 0; i < grants; i++) {
      const half = w.size / 2
      expect(w.receive(half)).to.equal(true)
      w.consume(half)
      now += msPerHalf(w.size)
      expect(w.takeGrant(now, 10)).to.be.greaterThan(0)
    }
    return now
  }

  it('doubles the window while doubling it doubles the rate (the window limits the sender), up to its cap and the budget', () => {
    // a window-limited sender: one window per round trip, whatever its size
    const perRoundTrip = (): number => 5
    const capped = new ReceiveWindow(W, MiB, new ReceiveBudget(64 * MiB), 0)
    run(capped, 40, perRoundTrip)
    expect(capped.size).to.equal(MiB)

    const budget = new ReceiveBudget(3 * W)
    const tight = new ReceiveWindow(W, 16 * MiB, budget, 0)
    run(tight, 40, perRoundTrip)
    // W, 2W (growth W), 4W (growth 3W): the budget is spent; the initial window is not counted
    expect(tight.size).to.equal(4 * W)
    expect(budget.used).to.equal(3 * W)
    tight.release()
    expect(budget.used).to.equal(0)
  })

  it('stops doubling once doubling no longer raises the rate (something else limits the sender)', () => {
    // 1 MiB consumed per ms whatever the window: half windows come well within two round trips
    const cpuBound = (size: number): number => (size / 2) / MiB
    const w = new ReceiveWindow(W, 16 * MiB, new ReceiveBudget(64 * MiB), 0)
    const now = run(w, 200, cpuBound)
    // the first growth is free, the second needs a measured rate, the third a faster one
    expect(w.size).to.equal(4 * W)
    // the rate falls to a quarter (grants still within two round trips): probe once more, then stop
    run(w, 200, size => (size / 2) / (MiB / 4), now)
    expect(w.size).to.equal(8 * W)
  })

  it('judges growth on the rate averaged over the whole time at a size: a fast stretch or a pause does not grow a window the CPU limits', () => {
    const cpuBound = (size: number): number => (size / 2) / MiB
    const w = new ReceiveWindow(W, 16 * MiB, new ReceiveBudget(64 * MiB), 0)
    let now = run(w, 400, cpuBound)
    expect(w.size).to.equal(4 * W)
    // 40 ms at twice the rate (a backlog read in one go): twice the rate of the last 40 ms, not of the 200 ms at this size
    now = run(w, 160, size => (size / 2) / (2 * MiB), now)
    expect(w.size).to.equal(4 * W)
    // a 30 ms pause (a collection, a busy event loop), then the old rate again: the rate did not halve
    now = run(w, 1, () => 30, now)
    run(w, 200, cpuBound, now)
    expect(w.size).to.equal(4 * W)
  })

  it('does not grow when grants are more than 2 RTT apart, or without an RTT', () => {
    const w = new ReceiveWindow(W, 16 * MiB, new ReceiveBudget(64 * MiB), 0)
    let now = 0
    for (let i = 0; i < 4; i++) {
      now += 21
      w.receive(W / 2)
      w.consume(W / 2)
      expect(w.takeGrant(now, 10)).to.equal(W / 2)
    }
    w.receive(W / 2)
    w.consume(W / 2)
    expect(w.takeGrant(now, undefined)).to.equal(W / 2)
    expect(w.size).to.equal(W)
  })

  it('cutShortWrite: whole frames when one fits, the partial frame held back when none does, never more than half the smallest window kept', () => {
    const P = TEST_MAX_PAYLOAD
    // 3.5 frames of window: three whole frames go, half a frame of window waits
    expect(cutShortWrite(3 * P + P / 2, 0, P)).to.deep.equal({ length: 3 * P, holdBack: false })
    // with 100 bytes held, the first frame needs 100 fewer bytes of the window
    expect(cutShortWrite(2 * P, 100, P)).to.deep.equal({ length: 2 * P - 100, holdBack: false })
    // less than a frame of window: it all goes, held back with the partial frame until credit
    expect(cutShortWrite(5000, 12, P)).to.deep.equal({ length: 5000, holdBack: true })
    // frames of 1 MiB against a 256 KiB window: keeping it back would stall a half-window peer
    expect(cutShortWrite(W, 0, MiB - 12)).to.deep.equal({ length: W, holdBack: false })
    expect(cutShortWrite(W / 2, 0, MiB - 12)).to.deep.equal({ length: W / 2, holdBack: true })
  })

  it('addSendCredit refuses a window past 2^32-1', () => {
    expect(addSendCredit(W, MAX_UINT32 - W)).to.equal(MAX_UINT32)
    expect(addSendCredit(W, MAX_UINT32 - W + 1)).to.equal(undefined)
  })
})

describe('protocol/session window accounting', () => {
  it('sends no window update until half the window is consumed, then exactly one with the owed credit', () => {
    const { t, id } = clientWithStream()
    t.receive(dataFrame(id, 100 * KiB), dataFrame(id, 100 * KiB))
    expect(t.takeFrames()).to.deep.equal([])
    t.session.consume(id, W / 2 - 1)
    expect(t.takeFrames()).to.deep.equal([])
    t.session.consume(id, 1)
    const frames = t.takeFrames()
    expect(frames).to.have.length(1)
    expect(frames[0]).to.include({ type: FrameType.WindowUpdate, flags: 0, streamId: id, length: W / 2 })
    t.session.consume(id, 200 * KiB - W / 2)
    expect(t.takeFrames()).to.deep.equal([], 'less than half owed again')
  })

  it('receiving data alone never produces a window update (credit only on consumption)', () => {
    const { t, id } = clientWithStream()
    for (let i = 0; i < 64; i++) {
      t.receive(dataFrame(id, 4 * KiB))
    }
    expect(t.receivedBytes(id)).to.equal(W)
    expect(t.takeFrames()).to.deep.equal([])
    expect(t.errors).to.deep.equal([])
  })

  it('advertises an initial window above 256 KiB with the SYN of an outbound stream', () => {
    const t = new TestSession({ role: 'client', initialStreamWindow: MiB })
    const id = t.session.openStream()
    const syn = streamFrames(t.takeFrames())
    expect(syn).to.have.length(1)
    expect(syn[0]).to.include({ type: FrameType.WindowUpdate, flags: Flag.SYN, streamId: id, length: MiB - W })
    // the peer may then use the whole window at once
    t.receive(windowUpdate(id, 0, Flag.ACK), dataFrame(id, MiB))
    expect(t.errors).to.deep.equal([])
    expect(t.receivedBytes(id)).to.equal(MiB)
  })

  it('advertises an initial window above 256 KiB with the ACK of an inbound stream', () => {
    const t = new TestSession({ role: 'server', initialStreamWindow: MiB })
    t.receive(windowUpdate(1, 0, Flag.SYN))
    const ack = streamFrames(t.takeFrames())
    expect(ack).to.have.length(1)
    expect(ack[0]).to.include({ type: FrameType.WindowUpdate, flags: Flag.ACK, streamId: 1, length: MiB - W })
    t.receive(dataFrame(1, MiB))
    expect(t.errors).to.deep.equal([])
    expect(t.receivedBytes(1)).to.equal(MiB)
  })

  it('the default 256 KiB window is opened and acknowledged with length 0', () => {
    const t = new TestSession({ role: 'server' })
    t.receive(windowUpdate(1, 0, Flag.SYN))
    expect(streamFrames(t.takeFrames())).to.deep.equal([{ type: FrameType.WindowUpdate, flags: Flag.ACK, streamId: 1, length: 0, body: new Uint8Array(0) }])
  })

  it('data past the window is a protocol error: Go Away 1 and onSessionError(ProtocolViolationError)', () => {
    const { t, id } = clientWithStream()
    t.receive(dataFrame(id, 200 * KiB))
    // the header alone is refused: the body is never buffered
    t.receive(dataHeader(id, W - 200 * KiB + 1))
    expect(t.errors).to.have.length(1)
    expect(t.errors[0]).to.be.instanceOf(ProtocolViolationError)
    const frames = t.takeFrames()
    expect(goAwayFrames(frames).map(f => f.length)).to.deep.equal([GoAwayCode.ProtocolError])
    expect(t.session.streamCount).to.equal(0)
    expect(t.session.receiveBudgetUsed).to.equal(0)
  })

  it('with a larger initial window, data past it is still a protocol error', () => {
    const { t, id } = clientWithStream({ initialStreamWindow: MiB })
    t.receive(dataFrame(id, MiB - 1))
    expect(t.errors).to.deep.equal([])
    t.receive(dataHeader(id, 2))
    expect(t.errors[0]).to.be.instanceOf(ProtocolViolationError)
    expect(goAwayFrames(t.takeFrames()).map(f => f.length)).to.deep.equal([GoAwayCode.ProtocolError])
  })

  it('a single Data header announcing more than the window is refused before its body', () => {
    const { t, id } = clientWithStream()
    t.receive(dataHeader(id, 0xffff_0000))
    expect(t.errors[0]).to.be.instanceOf(ProtocolViolationError)
    expect(t.receivedBytes(id)).to.equal(0)
  })

  it('measures RTT with its own ping on the first stream, even with keepalive off', () => {
    const t = new TestSession({ role: 'client', keepAlive: false })
    t.session.openStream()
    const pings = pingFrames(t.takeFrames())
    expect(pings).to.have.length(1)
    expect(pings[0].flags).to.equal(Flag.SYN)
    t.session.openStream()
    expect(pingFrames(t.takeFrames())).to.have.length(0, 'one RTT ping at a time')

    const server = new TestSession({ role: 'server', keepAlive: false })
    server.receive(windowUpdate(1, 0, Flag.SYN))
    expect(pingFrames(server.takeFrames())).to.have.length(1)
  })

  describe('auto-tuning', () => {
    /** Client with stream 1 and an RTT of `rtt` ms measured from its own ping */
    function tuned (rtt: number, overrides: { maxStreamWindow?: number, connectionReceiveBudget?: number }): { t: TestSession, clock: FakeClock, id: number } {
      const clock = new FakeClock(1000)
      const t = new TestSession({ role: 'client', keepAlive: false, ...overrides }, clock)
      const id = t.session.openStream()
      const ping = pingFrames(t.takeFrames())[0]
      clock.advance(rtt)
      t.receive(pingFrame(ping.length, Flag.ACK), windowUpdate(id, 0, Flag.ACK))
      expect(t.pongs).to.deep.equal([{ value: ping.length, rtt }])
      expect(t.session.rtt).to.equal(rtt)
      return { t, clock, id }
    }

    /** The simulated peer sends half the window, the application consumes it; returns the grant */
    function halfWindowRound (t: TestSession, id: number): number {
      const half = t.session.stream(id)!.receiveWindow.size / 2
      t.receive(dataFrame(id, half))
      t.session.consume(id, half)
      const updates = streamFrames(t.takeFrames())
      expect(updates).to.have.length(1)
      expect(updates[0]).to.include({ type: FrameType.WindowUpdate, streamId: id, flags: 0 })
      return updates[0].length
    }

    /**
     * `rounds` half windows, each after `msPerHalf(window size)` ms; by
     * default one every quarter of the 20 ms that two round trips take: a
     * sender the window limits, whose rate doubles with it
     */
    function halfWindowRounds (t: TestSession, clock: FakeClock, id: number, rounds: number, msPerHalf: (size: number) => number = () => 5): void {
      for (let i = 0; i < rounds; i++) {
        clock.advance(msPerHalf(t.session.stream(id)!.receiveWindow.size))
        halfWindowRound(t, id)
      }
    }

    it('consuming half windows quickly doubles the window up to maxStreamWindow, each doubling once the last one has paid off', () => {
      const { t, clock, id } = tuned(10, { maxStreamWindow: 2 * MiB })
      const sizes: number[] = []
      let peerWindow = W
      for (let i = 0; i < 12; i++) {
        clock.advance(5)
        const before = t.session.stream(id)!.receiveWindow.size
        peerWindow += halfWindowRound(t, id) - before / 2
        sizes.push(t.session.stream(id)!.receiveWindow.size)
        // the grant always brings the peer's window to the full new size
        expect(peerWindow).to.equal(sizes[sizes.length - 1])
      }
      // the first doubling at once; each later one after two round trips show the rate doubled too
      expect(sizes).to.deep.equal([
        512 * KiB, 512 * KiB, 512 * KiB, 512 * KiB,
        MiB, MiB, MiB, MiB,
        2 * MiB, 2 * MiB, 2 * MiB, 2 * MiB
      ])
      expect(t.errors).to.deep.equal([])
    })

    it('a window that doubled without the rate following stops growing', () => {
      const { t, clock, id } = tuned(10, { maxStreamWindow: 16 * MiB })
      // 1 MiB consumed per ms, whatever the window: something else limits the sender
      halfWindowRounds(t, clock, id, 100, size => size / 2 / MiB)
      expect(t.session.stream(id)!.receiveWindow.size).to.equal(4 * W)
    })

    it('window growth stops at the connection receive budget', () => {
      const { t, clock, id } = tuned(10, { maxStreamWindow: 16 * MiB, connectionReceiveBudget: MiB })
      halfWindowRounds(t, clock, id, 10)
      // W, 2W, 4W, then the last W of the budget: growth of MiB in all
      expect(t.session.stream(id)!.receiveWindow.size).to.equal(W + MiB)
      expect(t.session.receiveBudgetUsed).to.equal(MiB)

      // a second stream still gets its initial window, but cannot grow
      const second = t.session.openStream()
      t.receive(windowUpdate(second, 0, Flag.ACK))
      t.takeFrames()
      expect(t.session.receiveBudgetUsed).to.equal(MiB, 'initial windows do not count')
      for (let i = 0; i < 3; i++) {
        clock.advance(1)
        expect(halfWindowRound(t, second)).to.equal(W / 2)
      }
      expect(t.session.stream(second)!.receiveWindow.size).to.equal(W)
    })

    it('idle streams whose initial windows exceed the budget do not keep a busy stream from growing', () => {
      const { t, clock, id } = tuned(10, { maxStreamWindow: 16 * MiB, connectionReceiveBudget: 64 * MiB })
      // 300 idle streams: 75 MiB of initial windows, more than the whole budget
      for (let i = 0; i < 300; i++) {
        const idle = t.session.openStream()
        t.receive(windowUpdate(idle, 0, Flag.ACK), dataFrame(idle, 1))
        t.session.consume(idle, 1)
      }
      t.takeFrames()
      halfWindowRounds(t, clock, id, 13)
      expect(t.session.stream(id)!.receiveWindow.size).to.equal(16 * W)
    })

    it('consuming slowly (more than 2 RTT between grants) does not grow the window', () => {
      const { t, clock, id } = tuned(10, { maxStreamWindow: 16 * MiB })
      for (let i = 0; i < 5; i++) {
        clock.advance(21)
        expect(halfWindowRound(t, id)).to.equal(W / 2)
      }
      expect(t.session.stream(id)!.receiveWindow.size).to.equal(W)
    })

    it('the window does not grow before an RTT is measured', () => {
      const t = new TestSession({ role: 'client', keepAlive: false })
      const id = t.session.openStream()
      t.receive(windowUpdate(id, 0, Flag.ACK))
      t.takeFrames()
      for (let i = 0; i < 3; i++) {
        expect(halfWindowRound(t, id)).to.equal(W / 2)
      }
      expect(t.session.rtt).to.equal(undefined)
      expect(t.session.stream(id)!.receiveWindow.size).to.equal(W)
    })

    it('the budget is released when streams end (FIN both ways, RST, session failure)', () => {
      const { t, clock, id } = tuned(10, { maxStreamWindow: 16 * MiB })
      halfWindowRounds(t, clock, id, 9)
      expect(t.session.receiveBudgetUsed).to.equal(2 * MiB - W)
      const second = t.session.openStream()
      const third = t.session.openStream()
      for (const other of [second, third]) {
        t.receive(windowUpdate(other, 0, Flag.ACK))
        t.takeFrames()
        clock.advance(1)
        halfWindowRound(t, other)
      }
      // each of the two grew once, by W
      expect(t.session.receiveBudgetUsed).to.equal(2 * MiB + W)

      t.session.closeWrite(id)
      t.receive(windowUpdate(id, 0, Flag.FIN))
      expect(t.session.stream(id)).to.equal(undefined)
      expect(t.session.receiveBudgetUsed).to.equal(2 * W)

      t.receive(windowUpdate(second, 0, Flag.RST))
      expect(t.session.receiveBudgetUsed).to.equal(W)

      t.session.reset(third)
      expect(t.session.receiveBudgetUsed).to.equal(0)

      const fourth = t.session.openStream()
      expect(t.session.receiveBudgetUsed).to.equal(0, 'a new stream\'s initial window is not counted')
      t.receive(windowUpdate(fourth, 0, Flag.ACK))
      t.takeFrames()
      clock.advance(1)
      halfWindowRound(t, fourth)
      expect(t.session.receiveBudgetUsed).to.equal(W)
      t.session.abort(new Error('done'))
      expect(t.session.receiveBudgetUsed).to.equal(0)
    })
  })
})

/** The Data frames in `output`, each with the number of output chunks its header and body span */
function dataFramesWithPieces (output: Uint8Array[]): Array<{ frame: Frame, pieces: number }> {
  const starts = new Set<number>()
  let at = 0
  for (const chunk of output) {
    starts.add(at)
    at += chunk.byteLength
  }
  const result: Array<{ frame: Frame, pieces: number }> = []
  let offset = 0
  for (const frame of parseFrames(output)) {
    const end = offset + HEADER_LENGTH + (frame.type === FrameType.Data ? frame.length : 0)
    if (frame.type === FrameType.Data) {
      let pieces = 1
      for (let byte = offset + 1; byte < end; byte++) {
        if (starts.has(byte)) { pieces++ }
      }
      result.push({ frame, pieces })
    }
    offset = end
  }
  return result
}

describe('protocol/session send side', () => {
  it('write() never exceeds the send window and splits into frames of at most maxFrameSize, header included', () => {
    const maxFrameSize = 16 * KiB + 7
    const { t, id } = clientWithStream({ maxFrameSize })
    const maxPayload = maxFrameSize - HEADER_LENGTH
    const payload = pattern(MiB)
    // cut short by the window, the write takes whole frames only and keeps the rest of the window
    const taken = t.session.write(id, payload)
    expect(taken).to.equal(W - W % maxPayload)
    expect(t.session.sendWindow(id)).to.equal(W % maxPayload)
    const frames = t.takeFrames()
    expect(frames.every(f => f.type === FrameType.Data && f.streamId === id && f.flags === 0)).to.equal(true)
    for (const f of frames) {
      expect(HEADER_LENGTH + f.length).to.be.at.most(maxFrameSize)
      expect(f.body.byteLength).to.equal(f.length)
    }
    expect(frames.every(f => f.length === maxPayload)).to.equal(true, 'only full frames')
    expect(concat(frames.map(f => f.body))).to.deep.equal(payload.subarray(0, taken))

    // less than a frame of window left: a write takes what fits, held back as a
    // partial frame until credit arrives, when it leaves with what follows
    expect(t.session.write(id, payload.subarray(taken))).to.equal(W % maxPayload)
    expect(t.session.sendWindow(id)).to.equal(0)
    expect(t.takeFrames()).to.deep.equal([])
    expect(t.session.write(id, payload.subarray(W))).to.equal(0)
    expect(t.takeFrames()).to.deep.equal([])
    t.receive(windowUpdate(id, maxPayload))
    expect(t.writable).to.deep.equal([id])
    // held + credit make one whole frame; the rest of the credit waits for more
    const fill = maxPayload - W % maxPayload
    expect(t.session.write(id, payload.subarray(W))).to.equal(fill)
    const next = t.takeFrames()
    expect(next.map(f => f.length)).to.deep.equal([maxPayload])
    expect(concat(next.map(f => f.body))).to.deep.equal(payload.subarray(taken, W + fill))
  })

  it('a partial frame held back for credit leaves when credit arrives, even if the writer writes nothing more', () => {
    const { t, id } = clientWithStream()
    expect(t.session.write(id, pattern(W - 100))).to.equal(W - 100)
    t.takeFrames()
    // 100 bytes of window left, 1000 offered: the 100 wait for credit
    expect(t.session.write(id, pattern(1000, 7))).to.equal(100)
    expect(t.takeFrames()).to.deep.equal([])
    t.receive(windowUpdate(id, W / 2))
    expect(t.outputEvents).to.be.greaterThan(0)
    const frames = streamFrames(t.takeFrames())
    expect(frames.map(f => f.length)).to.deep.equal([100])
    expect(frames[0].body).to.deep.equal(pattern(1000, 7).subarray(0, 100))
  })

  it('a write cut short by the window leaves no short frame behind: the rest of the window goes with the next credit', () => {
    const { t, id } = clientWithStream()
    const maxPayload = TEST_MAX_PAYLOAD
    // 64 KiB writes as a sender honouring backpressure makes them
    const chunk = pattern(64 * KiB, 5)
    let sent = 0
    while (t.session.write(id, chunk) === chunk.byteLength) {
      sent += chunk.byteLength
    }
    const lengths: number[] = streamFrames(t.takeFrames()).map(f => f.length)
    // the window ran out 48 bytes into a frame: those bytes wait for the next credit
    expect(t.session.sendWindow(id)).to.equal(0)
    expect(t.session.pendingOutputBytes).to.equal(0)
    t.receive(windowUpdate(id, W / 2))
    expect(t.writable).to.deep.equal([id])
    while (t.session.write(id, chunk) === chunk.byteLength) {
      sent += chunk.byteLength
    }
    lengths.push(...streamFrames(t.takeFrames()).map(f => f.length))
    expect(lengths.every(length => length === maxPayload)).to.equal(true, `frame lengths ${lengths.join(', ')}`)
    // the writer stops: at the next credit whatever it still holds leaves
    t.receive(windowUpdate(id, W / 2))
    const rest = streamFrames(t.takeFrames())
    expect(rest).to.have.length(1)
    expect(lengths.reduce((a, b) => a + b, 0) + rest[0].length).to.equal(sent)
  })

  it('the rest of a write cut short by the window is framed with what follows, not as a short frame of its own', () => {
    const { t, id } = clientWithStream()
    const maxPayload = TEST_MAX_PAYLOAD
    const write = pattern(W + 300, 9)
    // whole frames only: the window's last W % maxPayload bytes wait for credit
    const taken = t.session.write(id, write)
    expect(taken).to.equal(W - W % maxPayload)
    t.takeFrames()
    t.receive(windowUpdate(id, W / 2))
    // the sender hands over the rest of its write (shorter than a frame), then its next write
    const rest = write.subarray(taken)
    const next = pattern(64 * KiB, 10)
    expect(t.session.write(id, rest)).to.equal(rest.byteLength)
    expect(t.session.write(id, next)).to.equal(next.byteLength)
    const frames = streamFrames(t.takeFrames())
    expect(frames.map(f => f.length)).to.deep.equal([maxPayload, rest.byteLength + next.byteLength - maxPayload])
    expect(concat(frames.map(f => f.body))).to.deep.equal(concat([rest, next]))
  })

  it('write() accepts a Uint8ArrayList and frames it across its pieces', () => {
    const { t, id } = clientWithStream({ maxFrameSize: 1000 + HEADER_LENGTH })
    const list = new Uint8ArrayList(pattern(700, 1), pattern(900, 2), pattern(10, 3))
    expect(t.session.write(id, list)).to.equal(1610)
    const frames = t.takeFrames()
    expect(frames.map(f => f.length)).to.deep.equal([1000, 610])
    expect(concat(frames.map(f => f.body))).to.deep.equal(list.subarray())
  })

  it('a long run of 64 KiB writes leaves every frame in at most two output chunks, however large the held tail grows', () => {
    const { t, id } = clientWithStream()
    const maxPayload = TEST_MAX_PAYLOAD
    // each 64 KiB write leaves 12 more bytes held for the next frame; after about
    // 340 writes that tail is too large to copy next to its header
    const writes = 400
    const written: Uint8Array[] = []
    const received: Uint8Array[] = []
    const lengths: number[] = []
    let worstPieces = 0
    t.session.parkWriter(id)
    for (let i = 0; i < writes; i++) {
      const chunk = pattern(64 * KiB, i)
      written.push(chunk)
      t.receive(windowUpdate(id, chunk.byteLength))
      expect(t.session.write(id, chunk)).to.equal(chunk.byteLength)
      for (const { frame, pieces } of dataFramesWithPieces(t.session.takeOutput())) {
        worstPieces = Math.max(worstPieces, pieces)
        lengths.push(frame.length)
        received.push(frame.body)
      }
    }
    t.session.unparkWriter(id)
    received.push(...streamFrames(t.takeFrames()).map(f => f.body))
    expect(worstPieces).to.equal(2)
    expect(concat(received)).to.deep.equal(concat(written))
    // frames stay full except where a large held tail had to go alone (about once in 340 writes)
    expect(lengths.filter(length => length !== maxPayload).length).to.be.at.most(2)
  })

  it('onStreamWritable fires when credit arrives after the window ran out', () => {
    const { t, id } = clientWithStream()
    expect(t.session.write(id, new Uint8Array(W - 10))).to.equal(W - 10)
    t.receive(windowUpdate(id, 5))
    expect(t.writable).to.deep.equal([], 'the window never ran out')
    expect(t.session.write(id, new Uint8Array(100))).to.equal(15)
    expect(t.writable).to.deep.equal([])
    t.takeFrames()

    t.receive(windowUpdate(id, 4096))
    expect(t.writable).to.deep.equal([id])
    expect(t.session.sendWindow(id)).to.equal(4096)
    t.receive(windowUpdate(id, 4096))
    expect(t.writable).to.deep.equal([id], 'only once per exhaustion')
    expect(t.session.write(id, new Uint8Array(10_000))).to.equal(8192)
  })

  it('credit overflow past 2^32-1 is a protocol error (Go Away 1)', () => {
    const { t, id } = clientWithStream()
    t.receive(windowUpdate(id, MAX_UINT32 - W))
    expect(t.errors).to.deep.equal([])
    expect(t.session.sendWindow(id)).to.equal(MAX_UINT32)
    t.receive(windowUpdate(id, 1))
    expect(t.errors).to.have.length(1)
    expect(t.errors[0]).to.be.instanceOf(ProtocolViolationError)
    expect(goAwayFrames(t.takeFrames()).map(f => f.length)).to.deep.equal([GoAwayCode.ProtocolError])
  })

  it('credit overflow in one Window Update is a protocol error too', () => {
    const { t, id } = clientWithStream()
    t.receive(windowUpdate(id, MAX_UINT32))
    expect(t.errors[0]).to.be.instanceOf(ProtocolViolationError)
    expect(goAwayFrames(t.takeFrames()).map(f => f.length)).to.deep.equal([GoAwayCode.ProtocolError])
  })
})

describe('auto-tuning on a sub-millisecond link', () => {
  it('a measured RTT below MIN_ROUND_TRIP counts as MIN_ROUND_TRIP, so a fast reader still grows its window', () => {
    const budget = new ReceiveBudget(64 * 1024 * 1024)
    const window = new ReceiveWindow(256 * 1024, 16 * 1024 * 1024, budget, 0)
    let now = 0
    for (let i = 0; i < 6; i++) {
      const half = window.size / 2
      expect(window.receive(half)).to.be.true()
      window.consume(half)
      now += MIN_ROUND_TRIP
      window.takeGrant(now, 0.05)
    }
    expect(window.size).to.be.greaterThan(256 * 1024)
  })
})
