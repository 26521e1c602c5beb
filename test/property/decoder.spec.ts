/**
 * The streaming decoder yields the same frames, in the same order, however
 * the byte stream is split; it agrees with an independent reference parser;
 * and on bad input it fails with a `ProtocolViolationError` at the same frame
 * for every split.
 */

import { expect } from 'aegir/chai'
import fc from 'fast-check'
import { FrameDecoder } from '../../src/protocol/decoder.js'
import { ProtocolViolationError } from '../../src/protocol/errors.js'
import { concat, frame } from '../hostile/raw-peer.js'
import { fcParams } from './replay.js'
import type { FrameHeader } from '../../src/protocol/frame.js'

interface Decoded {
  type: number
  flags: number
  streamId: number
  length: number
  body: number[]
  complete: boolean
}

interface Outcome {
  frames: Decoded[]
  error?: string
}

/** Decode `chunks`; Data bodies are wanted for streams with `streamId % 3 !== 0`, skipped otherwise */
function decode (chunks: Uint8Array[]): Outcome {
  const frames: Decoded[] = []
  let current: Decoded | undefined
  const decoder = new FrameDecoder({
    onHeader (header: FrameHeader) {
      current = { ...header, body: [], complete: false }
      frames.push(current)
      return header.streamId % 3 !== 0
    },
    onBody (header: FrameHeader, piece: Uint8Array) {
      expect(current, 'onBody without a header').to.not.equal(undefined)
      expect(header.streamId).to.equal(current?.streamId)
      current?.body.push(...piece)
    },
    onFrameEnd (header: FrameHeader) {
      expect(header.streamId).to.equal(current?.streamId)
      if (current != null) {
        current.complete = true
      }
    }
  })
  try {
    for (const chunk of chunks) {
      decoder.write(chunk)
    }
  } catch (err: any) {
    if (!(err instanceof ProtocolViolationError)) {
      throw err
    }
    return { frames, error: err.message }
  }
  return { frames }
}

/** The same, by an independent parser working on the whole buffer */
function reference (bytes: Uint8Array): Outcome {
  const frames: Decoded[] = []
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let offset = 0
  while (bytes.byteLength - offset >= 12) {
    const version = view.getUint8(offset)
    const type = view.getUint8(offset + 1)
    if (version !== 0 || type > 3) {
      return { frames, error: 'bad header' }
    }
    const f: Decoded = { type, flags: view.getUint16(offset + 2), streamId: view.getUint32(offset + 4), length: view.getUint32(offset + 8), body: [], complete: false }
    frames.push(f)
    offset += 12
    const bodyLength = type === 0 ? f.length : 0
    const available = Math.min(bodyLength, bytes.byteLength - offset)
    if (f.streamId % 3 !== 0) {
      f.body.push(...bytes.subarray(offset, offset + available))
    }
    offset += available
    f.complete = available === bodyLength
  }
  return { frames }
}

/** Split `bytes` at the given cut points */
function split (bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map(c => c % (bytes.byteLength + 1)))].sort((a, b) => a - b)
  const chunks: Uint8Array[] = []
  let start = 0
  for (const p of [...points, bytes.byteLength]) {
    chunks.push(bytes.subarray(start, p))
    start = p
  }
  return chunks
}

const u32 = fc.integer({ min: 0, max: 0xffff_ffff })

const frameArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.record({ flags: fc.integer({ min: 0, max: 0xffff }), streamId: u32, body: fc.uint8Array({ maxLength: 200 }) })
    .map(({ flags, streamId, body }) => frame({ type: 0, flags, streamId }, body)),
  fc.record({ type: fc.integer({ min: 1, max: 3 }), flags: fc.integer({ min: 0, max: 0xffff }), streamId: u32, length: u32 })
    .map(h => frame(h))
)

/** A stream of valid frames, optionally followed by a bad header and more frames */
const streamArb = fc.record({
  frames: fc.array(frameArb, { maxLength: 30 }),
  bad: fc.option(fc.oneof(
    fc.record({ version: fc.integer({ min: 1, max: 255 }), type: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ version: fc.constant(0), type: fc.integer({ min: 4, max: 255 }) })
  ).map(h => h == null ? undefined : frame({ ...h, streamId: 1, length: 5 }))),
  tail: fc.array(frameArb, { maxLength: 5 }),
  truncate: fc.nat()
}).map(({ frames, bad, tail, truncate }) => {
  const bytes = concat(bad == null ? frames : [...frames, bad, ...tail])
  // sometimes cut the stream short, anywhere
  return truncate % 4 === 0 ? bytes.subarray(0, truncate % (bytes.byteLength + 1)) : bytes
})

describe('property: frame decoder', function () {
  this.timeout(60_000)

  it('yields the same frames for every way of splitting the byte stream', () => {
    fc.assert(fc.property(streamArb, fc.array(fc.nat(), { maxLength: 40 }), (bytes, cuts) => {
      const whole = decode([bytes])
      const pieces = decode(split(bytes, cuts))
      expect(pieces).to.deep.equal(whole)
    }), fcParams(300))
  })

  it('byte by byte gives the same frames as all at once', () => {
    fc.assert(fc.property(streamArb, (bytes) => {
      const bytewise = decode([...bytes].map(b => new Uint8Array([b])))
      expect(bytewise).to.deep.equal(decode([bytes]))
    }), fcParams(100))
  })

  it('agrees with an independent reference parser, and fails only with ProtocolViolationError', () => {
    fc.assert(fc.property(streamArb, fc.array(fc.nat(), { maxLength: 10 }), (bytes, cuts) => {
      const ours = decode(split(bytes, cuts))
      const theirs = reference(bytes)
      expect(ours.frames).to.deep.equal(theirs.frames)
      expect(ours.error != null).to.equal(theirs.error != null)
    }), fcParams(300))
  })

  it('random garbage never throws anything but ProtocolViolationError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 500 }), fc.array(fc.nat(), { maxLength: 10 }), (bytes, cuts) => {
      // decode() rethrows anything that is not a ProtocolViolationError
      const ours = decode(split(bytes, cuts))
      expect(ours.frames).to.deep.equal(reference(bytes).frames)
    }), fcParams(300))
  })
})
