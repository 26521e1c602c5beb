/**
 * @packageDocumentation
 *
 * The Yamux protocol core: frame codec, streaming decoder, flow control and
 * the session engine. No I/O, no timers and no libp2p: bytes in, events and
 * bytes out. The faces in `src/libp2p` and `src/session` drive it.
 */

export * from './constants.js'
export * from './errors.js'
export { encodeHeader, decodeHeader, hasFlag, describeHeader } from './frame.js'
export type { FrameHeader } from './frame.js'
export { FrameDecoder } from './decoder.js'
export type { FrameSink } from './decoder.js'
export { ReceiveBudget, ReceiveWindow, addSendCredit } from './flow-control.js'
export { StreamState, StreamIdAllocator } from './stream-state.js'
export { YamuxSession, ACK_BACKLOG } from './session.js'
export { PingTracker, MAX_PENDING_PONGS, RTT_REFRESH_INTERVAL } from './pings.js'
export type { PingPurpose } from './pings.js'
export { FrameWriter } from './frame-writer.js'
export { Outbox, COPY_LIMIT } from './outbox.js'
export type { Clock, SessionConfig, SessionEvents } from './session.js'
