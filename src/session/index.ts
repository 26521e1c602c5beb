/**
 * @packageDocumentation
 *
 * Yamux without libp2p: a session over any reliable byte stream (a socket, a
 * WebSocket, an it-pipe duplex) with open, accept, ping, Go Away and close, and
 * streams that read, write, half-close and reset.
 */

export { DuplexSession, OUTPUT_HIGH_WATER_MARK } from './session.js'
export type { DuplexSessionInit, WaitOptions } from './session.js'
export { SessionStream } from './stream.js'
export type { ShutdownMode } from './stream.js'
export { GoAwayCode } from '../protocol/constants.js'
export * from '../errors.js'
