/**
 * Every error this package raises. Each has a distinct `name`, the way
 * js-libp2p tells errors apart.
 */

export { ProtocolViolationError, RemoteGoAwayError, RemoteResetError, StreamIdExhaustedError, SessionClosedError, PingTimeoutError, StreamNotWritableError, AckBacklogFullError } from './protocol/errors.js'

/** An option passed to `yamux()` or the session is invalid; the message names the option */
export class InvalidOptionError extends Error {
  static readonly name = 'InvalidOptionError'
  readonly name = 'InvalidOptionError'
  /** The name of the offending option */
  readonly option: string

  constructor (option: string, message: string) {
    super(`invalid option "${option}": ${message}`)
    this.option = option
  }
}

/** The transport under the session closed while streams were still open */
export class TransportClosedError extends Error {
  static readonly name = 'TransportClosedError'
  readonly name = 'TransportClosedError'
}

/** `createStream` was called while `maxOutboundStreams` streams are open */
export class TooManyOutboundStreamsError extends Error {
  static readonly name = 'TooManyOutboundStreamsError'
  readonly name = 'TooManyOutboundStreamsError'
}
