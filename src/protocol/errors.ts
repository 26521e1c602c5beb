/**
 * Errors raised by the protocol core. Each has a distinct `name` (the js-libp2p
 * convention for telling errors apart) and says what was wrong.
 */

import { GoAwayCode } from './constants.js'

/** The peer broke the Yamux protocol; the session sends Go Away 1 and ends */
export class ProtocolViolationError extends Error {
  static readonly name = 'ProtocolViolationError'
  readonly name = 'ProtocolViolationError'
  /** The Go Away code this violation is answered with */
  readonly goAwayCode = GoAwayCode.ProtocolError
}

/** The remote ended the session with a Go Away whose code is not Normal */
export class RemoteGoAwayError extends Error {
  static readonly name = 'RemoteGoAwayError'
  readonly name = 'RemoteGoAwayError'
  /** The code the remote sent: 1 protocol error, 2 internal error, or any other value */
  readonly code: number

  constructor (code: number) {
    super(`remote sent Go Away with code ${code} (${GoAwayCode[code] ?? 'unknown code'})`)
    this.code = code
  }
}

/** Every stream id of this side's parity has been used; ids are never reused */
export class StreamIdExhaustedError extends Error {
  static readonly name = 'StreamIdExhaustedError'
  readonly name = 'StreamIdExhaustedError'
}

/** The session no longer opens streams: it is closing, closed, or the remote sent Go Away */
export class SessionClosedError extends Error {
  static readonly name = 'SessionClosedError'
  readonly name = 'SessionClosedError'
}

/** A keepalive ping got no answer within the ping timeout: the peer is presumed dead */
export class PingTimeoutError extends Error {
  static readonly name = 'PingTimeoutError'
  readonly name = 'PingTimeoutError'
}

/** The remote reset a stream (RST); `code` is the error code it carried, when it carried one */
export class RemoteResetError extends Error {
  static readonly name = 'RemoteResetError'
  readonly name = 'RemoteResetError'
  /** Error code from the RST frame's length (go-yamux v5 extension), if any */
  readonly code?: number

  constructor (streamId: number, code?: number) {
    super(`stream ${streamId} was reset by the remote${code != null && code !== 0 ? ` with code ${code}` : ''}`)
    this.code = code
  }
}

/** The stream is unknown to the session or its writing half is closed */
export class StreamNotWritableError extends Error {
  static readonly name = 'StreamNotWritableError'
  readonly name = 'StreamNotWritableError'
}

/** 256 outbound streams already await their ACK; wait for the backlog to drain before opening more */
export class AckBacklogFullError extends Error {
  static readonly name = 'AckBacklogFullError'
  readonly name = 'AckBacklogFullError'
}
