import { expect } from 'aegir/chai'
import fc from 'fast-check'
import { Flag, FrameType, GoAwayCode, MAX_UINT32 } from '../../src/protocol/constants.js'
import { FrameDecoder } from '../../src/protocol/decoder.js'
import { ProtocolViolationError } from '../../src/protocol/errors.js'
import { concat, dataFrame, frame, goAwayFrame, pattern, pingFrame, windowUpdate } from './harness.js'
import type { FrameSink } from '../../src/protocol/decoder.js'
import type { FrameHeader } from '../../src/protocol/frame.js'

/** Records what a decoder passes on; bodies are concatenated per frame */
class RecordingSink implements FrameSink {
  readonly headers: FrameHeader[] = []
  readonly bodies: Uint8Array[][] = []
  readonly ends: FrameHeader[] = []
  /** Data frames whose body we refuse, by stream id */
  readonly skip = new Set<number>()

  onHeader (header: FrameHeader): boolean {
    this.headers.push(header)
    this.bodies.push([])
    return !this.skip.has(header.streamId)
  }

  onBody (header: FrameHeader, piece: Uint8Array): void {
    expect(header).to.equal(this.headers[this.headers.length - 1])
    this.bodies[this.bodies.length - 1].push(piece.slice())
  }

  onFrameEnd (header: FrameHeader): void {
    expect(header).to.equal(this.headers[this.headers.length - 1])
    this.ends.push(header)
  }

  result (): Array<{ header: FrameHeader, body: number[] }> {
    return this.headers.map((header, i) => ({ header, body: [...concat(this.bodies[i])] }))
  }
}

/** Several frames of every type, Data with bodies of varied sizes (one empty) */
function multiFrameBytes (): Uint8Array {
  return concat([
    dataFrame(1, pattern(5, 1), Flag.SYN),
    windowUpdate(1, 4096, Flag.ACK),
    dataFrame(3, pattern(17, 2)),
    pingFrame(0xdeadbeef, Flag.SYN),
    dataFrame(1, new Uint8Array(0), Flag.FIN),
    dataFrame(5, pattern(1, 3), Flag.RST),
    windowUpdate(3, MAX_UINT32, 0),
    pingFrame(42, Flag.ACK),
    dataFrame(3, pattern(30, 4), Flag.FIN),
    goAwayFrame(GoAwayCode.InternalError)
  ])
}

function decodeIn (pieces: Uint8Array[], sink = new RecordingSink()): { sink: RecordingSink, decoder: FrameDecoder } {
  const decoder = new FrameDecoder(sink)
  for (const piece of pieces) {
    decoder.write(piece)
  }
  return { sink, decoder }
}

describe('protocol/decoder', () => {
  const bytes = multiFrameBytes()
  const reference = decodeIn([bytes]).sink.result()

  it('decodes a multi-frame byte string in one piece', () => {
    expect(reference.map(f => f.header.type)).to.deep.equal([
      FrameType.Data, FrameType.WindowUpdate, FrameType.Data, FrameType.Ping, FrameType.Data,
      FrameType.Data, FrameType.WindowUpdate, FrameType.Ping, FrameType.Data, FrameType.GoAway
    ])
    expect(reference[0].body).to.deep.equal([...pattern(5, 1)])
    expect(reference[2].body).to.deep.equal([...pattern(17, 2)])
    expect(reference[4].body).to.deep.equal([])
    expect(reference[6].header.length).to.equal(MAX_UINT32)
    expect(reference[8].body).to.deep.equal([...pattern(30, 4)])
    expect(reference[9].header.length).to.equal(GoAwayCode.InternalError)
  })

  it('yields the same headers and bodies when split at every split point', () => {
    for (let split = 0; split <= bytes.byteLength; split++) {
      const { sink, decoder } = decodeIn([bytes.subarray(0, split), bytes.subarray(split)])
      expect(sink.result()).to.deep.equal(reference, `split at ${split}`)
      expect(sink.ends).to.have.length(reference.length)
      expect(decoder.midFrame).to.equal(false)
    }
  })

  it('yields the same headers and bodies when split at every pair of split points', () => {
    for (let i = 0; i <= bytes.byteLength; i += 5) {
      for (let j = i; j <= bytes.byteLength; j++) {
        const { sink } = decodeIn([bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)])
        expect(sink.result()).to.deep.equal(reference, `split at ${i} and ${j}`)
      }
    }
  })

  it('yields the same headers and bodies when fed 1-byte pieces', () => {
    const pieces: Uint8Array[] = []
    for (let i = 0; i < bytes.byteLength; i++) {
      pieces.push(bytes.subarray(i, i + 1))
    }
    const { sink, decoder } = decodeIn(pieces)
    expect(sink.result()).to.deep.equal(reference)
    expect(decoder.midFrame).to.equal(false)
  })

  it('passes bodies on as views in the pieces they arrived in, without waiting for the whole body', () => {
    const sink = new RecordingSink()
    const decoder = new FrameDecoder(sink)
    const f = dataFrame(1, pattern(100))
    decoder.write(f.subarray(0, 50))
    expect(sink.bodies[0].map(b => b.byteLength)).to.deep.equal([38])
    expect(sink.ends).to.have.length(0)
    decoder.write(f.subarray(50))
    expect(sink.bodies[0].map(b => b.byteLength)).to.deep.equal([38, 62])
    expect(sink.ends).to.have.length(1)
  })

  it('any random split of random frames decodes the same (property)', () => {
    const frameArb = fc.oneof(
      fc.record({ type: fc.constant(FrameType.Data), flags: fc.integer({ min: 0, max: 15 }), streamId: fc.integer({ min: 1, max: MAX_UINT32 }), body: fc.uint8Array({ maxLength: 40 }) })
        .map(f => frame(f.type, f.flags, f.streamId, f.body.byteLength, f.body)),
      fc.record({ type: fc.constantFrom(FrameType.WindowUpdate, FrameType.Ping, FrameType.GoAway), flags: fc.integer({ min: 0, max: 15 }), streamId: fc.integer({ min: 0, max: MAX_UINT32 }), length: fc.integer({ min: 0, max: MAX_UINT32 }) })
        .map(f => frame(f.type, f.flags, f.streamId, f.length))
    )
    fc.assert(fc.property(fc.array(frameArb, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 10 }), (frames, cuts) => {
      const all = concat(frames)
      const points = [...new Set(cuts.map(c => c % (all.byteLength + 1)))].sort((x, y) => x - y)
      const pieces: Uint8Array[] = []
      let previous = 0
      for (const point of [...points, all.byteLength]) {
        pieces.push(all.subarray(previous, point))
        previous = point
      }
      const whole = decodeIn([all]).sink.result()
      const split = decodeIn(pieces)
      expect(whole).to.have.length(frames.length)
      expect(split.sink.result()).to.deep.equal(whole)
      expect(split.decoder.midFrame).to.equal(false)
    }), { numRuns: 300 })
  })

  it('midFrame is true when input ends inside a header', () => {
    const f = windowUpdate(1, 10)
    for (let cut = 1; cut < f.byteLength; cut++) {
      const { decoder, sink } = decodeIn([f.subarray(0, cut)])
      expect(decoder.midFrame).to.equal(true, `cut at ${cut}`)
      expect(sink.headers).to.have.length(0)
    }
  })

  it('midFrame is true when input ends inside a Data body, false at frame boundaries', () => {
    const f = dataFrame(1, pattern(10))
    const { decoder } = decodeIn([])
    expect(decoder.midFrame).to.equal(false)
    decoder.write(f.subarray(0, 12))
    expect(decoder.midFrame).to.equal(true, 'header read, body pending')
    decoder.write(f.subarray(12, 21))
    expect(decoder.midFrame).to.equal(true, 'one body byte pending')
    decoder.write(f.subarray(21))
    expect(decoder.midFrame).to.equal(false)

    // a skipped body still counts as mid-frame until it has streamed past
    const sink = new RecordingSink()
    sink.skip.add(1)
    const skipping = new FrameDecoder(sink)
    skipping.write(f.subarray(0, 15))
    expect(skipping.midFrame).to.equal(true)
    skipping.write(f.subarray(15))
    expect(skipping.midFrame).to.equal(false)
  })

  it('skips a Data body when onHeader returns false, without passing it on', () => {
    const sink = new RecordingSink()
    sink.skip.add(3)
    const input = concat([
      dataFrame(3, pattern(25, 9)),
      dataFrame(1, pattern(7, 5)),
      dataFrame(3, pattern(1000, 9)),
      pingFrame(1, Flag.SYN)
    ])
    // in 1-byte pieces and in one piece: the skipped bodies never reach onBody
    for (const pieces of [[input], [...input].map((_, i) => input.subarray(i, i + 1))]) {
      const s = new RecordingSink()
      s.skip.add(3)
      decodeIn(pieces, s)
      expect(s.headers.map(h => h.streamId)).to.deep.equal([3, 1, 3, 0])
      expect(s.bodies[0]).to.deep.equal([])
      expect(concat(s.bodies[1])).to.deep.equal(pattern(7, 5))
      expect(s.bodies[2]).to.deep.equal([])
      expect(s.ends).to.have.length(4)
    }
  })

  it('throws ProtocolViolationError for a bad version or type, also when the header arrives in pieces', () => {
    const bad = windowUpdate(1, 1)
    bad[0] = 1
    const { decoder } = decodeIn([])
    decoder.write(bad.subarray(0, 5))
    expect(() => { decoder.write(bad.subarray(5)) }).to.throw(ProtocolViolationError)

    const badType = windowUpdate(1, 1)
    badType[1] = 9
    expect(() => decodeIn([badType])).to.throw(ProtocolViolationError)
  })

  it('ignores input after stop()', () => {
    const sink = new RecordingSink()
    const decoder = new FrameDecoder(sink)
    decoder.write(pingFrame(1, Flag.SYN))
    decoder.stop()
    decoder.write(pingFrame(2, Flag.SYN))
    expect(sink.headers).to.have.length(1)
  })
})
