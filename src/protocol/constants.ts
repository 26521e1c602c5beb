/**
 * Wire constants of Yamux: sizes, frame types, flags and Go Away codes.
 */

/** The only protocol version Yamux defines */
export const PROTOCOL_VERSION = 0

/** Size of a frame header in bytes */
export const HEADER_LENGTH = 12

/** Every stream's window in each direction starts at this many bytes (256 KiB) */
export const INITIAL_STREAM_WINDOW = 256 * 1024

/** The largest value a 32-bit header field can hold */
export const MAX_UINT32 = 0xffff_ffff

/** The session itself uses stream id 0 (pings and Go Away) */
export const SESSION_STREAM_ID = 0

/** Frame types, byte 1 of the header */
export enum FrameType {
  /** Stream data; the length is the number of payload bytes that follow */
  Data = 0,
  /** Adds `length` bytes of send credit to a stream */
  WindowUpdate = 1,
  /** Liveness and round-trip measurement; `length` is an opaque value echoed back */
  Ping = 2,
  /** Ends the session; `length` is a {@link GoAwayCode} */
  GoAway = 3
}

/** Flags, bytes 2-3 of the header; several may be set at once */
export enum Flag {
  /** Opens a stream, or asks for a pong */
  SYN = 0x1,
  /** Accepts a stream, or answers a ping */
  ACK = 0x2,
  /** Half-closes the sender's direction of a stream */
  FIN = 0x4,
  /** Resets a stream at once */
  RST = 0x8
}

/** Codes carried by a Go Away frame */
export enum GoAwayCode {
  /** The session ends normally */
  Normal = 0,
  /** The peer broke the protocol */
  ProtocolError = 1,
  /** The sender failed internally */
  InternalError = 2
}
