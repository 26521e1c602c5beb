import { expect } from 'aegir/chai'
import { Flag, FrameType, HEADER_LENGTH, MAX_UINT32 } from '../../src/protocol/constants.js'
import { ProtocolViolationError } from '../../src/protocol/errors.js'
import { decodeHeader, describeHeader, encodeHeader, hasFlag } from '../../src/protocol/frame.js'
import type { FrameHeader } from '../../src/protocol/frame.js'

const TYPES = [FrameType.Data, FrameType.WindowUpdate, FrameType.Ping, FrameType.GoAway]

describe('protocol/frame codec', () => {
  it('round-trips every frame type with every combination of SYN, ACK, FIN and RST', () => {
    let count = 0
    for (const type of TYPES) {
      for (let flags = 0; flags <= 0xf; flags++) {
        const header: FrameHeader = { type, flags, streamId: 7 + flags, length: 1000 * type + flags }
        const bytes = encodeHeader(header)
        expect(bytes.byteLength).to.equal(HEADER_LENGTH)
        expect(bytes[0]).to.equal(0, 'version byte')
        expect(bytes[1]).to.equal(type, 'type byte')
        expect(decodeHeader(bytes)).to.deep.equal(header)
        count++
      }
    }
    expect(count).to.equal(64)
  })

  it('lays the header out big-endian: version, type, flags, stream id, length', () => {
    const bytes = encodeHeader({ type: FrameType.WindowUpdate, flags: Flag.SYN | Flag.FIN, streamId: 0x01020304, length: 0x0a0b0c0d })
    expect([...bytes]).to.deep.equal([0, 1, 0, 5, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d])
  })

  it('round-trips uint32 fields at 0 and 2^32-1', () => {
    for (const streamId of [0, 1, MAX_UINT32 - 1, MAX_UINT32]) {
      for (const length of [0, 1, 0x8000_0000, MAX_UINT32]) {
        const header: FrameHeader = { type: FrameType.Data, flags: 0, streamId, length }
        const decoded = decodeHeader(encodeHeader(header))
        expect(decoded).to.deep.equal(header)
        expect(decoded.streamId).to.be.at.least(0)
        expect(decoded.length).to.be.at.least(0)
      }
    }
  })

  it('round-trips all 16 flag bits', () => {
    const header: FrameHeader = { type: FrameType.Ping, flags: 0xffff, streamId: 0, length: 5 }
    expect(decodeHeader(encodeHeader(header))).to.deep.equal(header)
  })

  it('encodes into a target buffer at an offset and decodes from one', () => {
    const target = new Uint8Array(40).fill(0xee)
    const header: FrameHeader = { type: FrameType.GoAway, flags: 0, streamId: 0, length: 2 }
    encodeHeader(header, target, 20)
    expect(target[19]).to.equal(0xee)
    expect(target[32]).to.equal(0xee)
    expect(decodeHeader(target, 20)).to.deep.equal(header)
  })

  it('rejects a bad version with ProtocolViolationError', () => {
    for (const version of [1, 2, 0x80, 0xff]) {
      const bytes = encodeHeader({ type: FrameType.Data, flags: 0, streamId: 1, length: 0 })
      bytes[0] = version
      expect(() => decodeHeader(bytes)).to.throw(ProtocolViolationError, /version/)
    }
  })

  it('rejects an unknown frame type with ProtocolViolationError', () => {
    for (const type of [4, 5, 0x7f, 0xff]) {
      const bytes = encodeHeader({ type: FrameType.Data, flags: 0, streamId: 1, length: 0 })
      bytes[1] = type
      expect(() => decodeHeader(bytes)).to.throw(ProtocolViolationError, /type/)
    }
  })

  it('hasFlag tests single flags and describeHeader names them', () => {
    expect(hasFlag(Flag.SYN | Flag.RST, Flag.RST)).to.equal(true)
    expect(hasFlag(Flag.SYN | Flag.RST, Flag.ACK)).to.equal(false)
    expect(describeHeader({ type: FrameType.WindowUpdate, flags: Flag.SYN | Flag.RST, streamId: 3, length: 9 }))
      .to.equal('WindowUpdate[SYN|RST] stream=3 length=9')
  })
})
