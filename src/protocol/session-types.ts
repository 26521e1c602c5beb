/**
 * What the session engine is given (configuration and a clock) and what it
 * tells its face (events).
 */

import type { RemoteResetError } from './errors.js'

/** Source of the current time in milliseconds; injected so the engine stays deterministic */
export interface Clock {
  now(): number
}

/** Everything the engine needs to know; `src/config.ts` fills in the defaults */
export interface SessionConfig {
  /** The client opens odd stream ids, the server even ones */
  role: 'client' | 'server'
  /** Receive window each stream starts with, in bytes (at least 256 KiB) */
  initialStreamWindow: number
  /** Most a stream's receive window may grow to, in bytes */
  maxStreamWindow: number
  /** Most bytes all receive windows of the session may add up to */
  connectionReceiveBudget: number
  /** Largest frame we send, header included, in bytes */
  maxFrameSize: number
  /** Most concurrently open inbound streams; more are refused with RST */
  maxInboundStreams: number
  /** Send keepalive pings when the connection is idle */
  keepAlive: boolean
  /** Idle time before a keepalive ping, in ms */
  keepAliveInterval: number
  /** Time a keepalive ping may go unanswered before the session fails, in ms */
  pingTimeout: number
  /** First id this side allocates (tests only); defaults to 1 for the client, 2 for the server */
  firstStreamId?: number
}

/** What the engine tells its face */
export interface SessionEvents {
  /** The outbox went from empty to non-empty: call `takeOutput()` soon (once per tick batches frames) */
  onOutput(): void
  /**
   * The remote opened stream `id` and our ACK is queued: hand the stream to the
   * application now. To refuse it after all, call `reset(id)`.
   */
  onInboundStream(id: number): void
  /** Payload for stream `id`, in order; a view of received bytes */
  onStreamData(id: number, data: Uint8Array): void
  /** The remote closed its direction of stream `id` (FIN), after any data in the same frame */
  onStreamRemoteClose(id: number): void
  /** The remote reset or refused stream `id` */
  onStreamReset(id: number, error: RemoteResetError): void
  /** Stream `id` had an exhausted send window and received credit */
  onStreamWritable(id: number): void
  /** An outbound stream left the ACK backlog, so `openStream()` may succeed again */
  onAckBacklogAvailable(): void
  /** The answer to ping `value` arrived after `rtt` ms */
  onPong(value: number, rtt: number): void
  /** The remote sent Go Away 0: no new streams, open ones run to completion */
  onRemoteGoAway(): void
  /** The session failed (protocol violation, remote Go Away with an error code, ping timeout); every stream is gone */
  onSessionError(error: Error): void
}
