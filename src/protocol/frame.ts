/**
 * The Yamux frame header codec.
 *
 * Every frame starts with a 12-byte big-endian header:
 * version (1) | type (1) | flags (2) | stream id (4) | length (4).
 * Only Data frames carry a body; for the other types `length` is a value
 * (window credit, ping opaque value or Go Away code).
 */

import { Flag, FrameType, HEADER_LENGTH, PROTOCOL_VERSION } from './constants.js'
import { ProtocolViolationError } from './errors.js'

/** A decoded frame header */
export interface FrameHeader {
  /** Frame type; decoded headers always hold a known {@link FrameType} */
  type: FrameType
  /** Bitwise OR of {@link Flag} values */
  flags: number
  /** Stream id, 0 for the session */
  streamId: number
  /** Payload length (Data), credit (Window Update), opaque value (Ping) or code (Go Away) */
  length: number
}

/**
 * Write a header into `target` at `offset` (12 bytes); returns `target`.
 * The values are assumed valid: the engine only builds headers it checked.
 */
export function encodeHeader (header: FrameHeader, target: Uint8Array = new Uint8Array(HEADER_LENGTH), offset = 0): Uint8Array {
  writeHeader(target, offset, header.type, header.flags, header.streamId, header.length)
  return target
}

/** {@link encodeHeader} without a header object, for the hot path */
export function writeHeader (target: Uint8Array, offset: number, type: FrameType, flags: number, streamId: number, length: number): void {
  target[offset] = PROTOCOL_VERSION
  target[offset + 1] = type
  target[offset + 2] = (flags >>> 8) & 0xff
  target[offset + 3] = flags & 0xff
  writeUint32(target, offset + 4, streamId)
  writeUint32(target, offset + 8, length)
}

/**
 * Read the header at `offset` of `source`, which must hold at least 12 bytes from there.
 *
 * @throws {ProtocolViolationError} on an unknown version or frame type
 */
export function decodeHeader (source: Uint8Array, offset = 0): FrameHeader {
  const version = source[offset]
  if (version !== PROTOCOL_VERSION) {
    throw new ProtocolViolationError(`unsupported Yamux version ${version}`)
  }
  const type = source[offset + 1]
  if (type > FrameType.GoAway) {
    throw new ProtocolViolationError(`unknown frame type ${type}`)
  }
  return {
    type,
    flags: (source[offset + 2] << 8) | source[offset + 3],
    streamId: readUint32(source, offset + 4),
    length: readUint32(source, offset + 8)
  }
}

/** True when every bit of `flag` is set in `flags` */
export function hasFlag (flags: number, flag: Flag): boolean {
  return (flags & flag) === flag
}

/** A human-readable form of a header for logs and error messages */
export function describeHeader (header: FrameHeader): string {
  const names = [Flag.SYN, Flag.ACK, Flag.FIN, Flag.RST]
    .filter(flag => hasFlag(header.flags, flag))
    .map(flag => Flag[flag])
  return `${FrameType[header.type] ?? header.type}${names.length > 0 ? `[${names.join('|')}]` : ''} stream=${header.streamId} length=${header.length}`
}

function writeUint32 (target: Uint8Array, offset: number, value: number): void {
  target[offset] = (value >>> 24) & 0xff
  target[offset + 1] = (value >>> 16) & 0xff
  target[offset + 2] = (value >>> 8) & 0xff
  target[offset + 3] = value & 0xff
}

function readUint32 (source: Uint8Array, offset: number): number {
  return ((source[offset] << 24) >>> 0) + (source[offset + 1] << 16) + (source[offset + 2] << 8) + source[offset + 3]
}
