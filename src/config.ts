/**
 * Options of the muxer and the session, their defaults, and validation that
 * names the bad option.
 */

import { InvalidOptionError } from './errors.js'
import { HEADER_LENGTH, INITIAL_STREAM_WINDOW, MAX_UINT32 } from './protocol/constants.js'
import type { SessionConfig } from './protocol/session.js'
import type { StreamMuxerOptions, StreamOptions } from '@libp2p/interface'

/** Largest frame any peer is known to accept (rust-yamux rejects bigger ones): 1 MiB */
export const MAX_FRAME_SIZE_LIMIT = 1024 * 1024

/** Yamux options, shared by the js-libp2p muxer and the standalone session */
export interface YamuxOptions {
  /**
   * Receive window each stream starts with, in bytes. Values above 256 KiB are
   * announced to the peer with the SYN or ACK.
   *
   * @default 262_144 (256 KiB)
   */
  initialStreamWindowSize?: number
  /**
   * Most a stream's receive window may grow to by auto-tuning, in bytes.
   *
   * @default 16_777_216 (16 MiB)
   */
  maxStreamWindowSize?: number
  /**
   * Most bytes the receive windows of all streams of one connection may grow
   * by, together, beyond their initial windows: auto-tuning stops at this
   * budget. Initial windows come on top (the stream limits bound how many there
   * are), so idle streams never keep a busy one from growing.
   *
   * @default 67_108_864 (64 MiB)
   */
  connectionReceiveBudget?: number
  /**
   * Send a ping when the connection has been idle for `keepAliveInterval`, and
   * close it when the ping is not answered within `pingTimeout`.
   *
   * @default true
   */
  enableKeepAlive?: boolean
  /**
   * Idle time before a keepalive ping, in ms.
   *
   * @default 30_000
   */
  keepAliveInterval?: number
  /**
   * How long a keepalive ping may go unanswered before the connection is closed, in ms.
   *
   * @default 20_000
   */
  pingTimeout?: number
  /**
   * Largest frame sent, header included, in bytes; at most 1 MiB. The default
   * is the most plaintext one Noise message carries, so over Noise each full
   * frame is one encrypted message instead of the tail of one frame, the next
   * header and the start of the next frame.
   *
   * @default 65_519 (65,535, Noise's largest message, less its 16-byte tag)
   */
  maxMessageSize?: number
  /**
   * Most concurrently open streams the remote may open; more are refused with RST
   * and the connection stays up.
   *
   * @default 1_000
   */
  maxInboundStreams?: number
}

/** Options of `yamux()`: the Yamux options and every js-libp2p `StreamMuxerOptions` */
export interface YamuxInit extends YamuxOptions, StreamMuxerOptions<StreamOptions> {
  /**
   * Most concurrently open streams we may open; `createStream` rejects beyond it.
   *
   * @default 1_000
   */
  maxOutboundStreams?: number
  /**
   * Inbound streams held while no 'stream' listener is registered; more are
   * refused with RST (the connection stays up).
   *
   * @default 10
   */
  maxEarlyStreams?: number
}

/** Every option with its default applied */
export interface ResolvedOptions extends Required<YamuxOptions> {
  maxOutboundStreams: number
  maxEarlyStreams: number
  streamOptions: Required<Pick<StreamOptions, 'inactivityTimeout' | 'maxReadBufferLength'>> & StreamOptions
}

/** The defaults, in one place */
export const DEFAULTS = {
  initialStreamWindowSize: INITIAL_STREAM_WINDOW,
  maxStreamWindowSize: 16 * 1024 * 1024,
  connectionReceiveBudget: 64 * 1024 * 1024,
  enableKeepAlive: true,
  keepAliveInterval: 30_000,
  pingTimeout: 20_000,
  maxMessageSize: 65_519,
  maxInboundStreams: 1_000,
  maxOutboundStreams: 1_000,
  maxEarlyStreams: 10,
  inactivityTimeout: 120_000
} as const

/**
 * Apply defaults and check every option.
 *
 * @throws {InvalidOptionError} naming the first invalid option
 */
export function resolveOptions (init: YamuxInit = {}): ResolvedOptions {
  const initialStreamWindowSize = integer(init, 'initialStreamWindowSize', DEFAULTS.initialStreamWindowSize, INITIAL_STREAM_WINDOW, MAX_UINT32)
  const maxStreamWindowSize = integer(init, 'maxStreamWindowSize', Math.max(DEFAULTS.maxStreamWindowSize, initialStreamWindowSize), initialStreamWindowSize, MAX_UINT32)
  const streamOptions = init.streamOptions ?? {}
  const maxReadBufferLength = integer(streamOptions, 'maxReadBufferLength', maxStreamWindowSize, initialStreamWindowSize, Number.MAX_SAFE_INTEGER, 'streamOptions.')
  const inactivityTimeout = integer(streamOptions, 'inactivityTimeout', DEFAULTS.inactivityTimeout, 0, Infinity, 'streamOptions.')
  if (streamOptions.maxWriteBufferLength != null) {
    integer(streamOptions, 'maxWriteBufferLength', 0, 0, Infinity, 'streamOptions.')
  }
  const enableKeepAlive = init.enableKeepAlive ?? DEFAULTS.enableKeepAlive
  if (typeof enableKeepAlive !== 'boolean') {
    throw new InvalidOptionError('enableKeepAlive', `expected a boolean, got ${typeof enableKeepAlive}`)
  }

  return {
    initialStreamWindowSize,
    // a stream never gets more credit than it is willing to buffer
    maxStreamWindowSize: Math.min(maxStreamWindowSize, maxReadBufferLength),
    connectionReceiveBudget: integer(init, 'connectionReceiveBudget', DEFAULTS.connectionReceiveBudget, INITIAL_STREAM_WINDOW, Number.MAX_SAFE_INTEGER),
    enableKeepAlive,
    keepAliveInterval: integer(init, 'keepAliveInterval', DEFAULTS.keepAliveInterval, 1, 2 ** 31 - 1),
    pingTimeout: integer(init, 'pingTimeout', DEFAULTS.pingTimeout, 1, 2 ** 31 - 1),
    maxMessageSize: integer(init, 'maxMessageSize', DEFAULTS.maxMessageSize, HEADER_LENGTH + 1, MAX_FRAME_SIZE_LIMIT),
    maxInboundStreams: integer(init, 'maxInboundStreams', DEFAULTS.maxInboundStreams, 0, Infinity),
    maxOutboundStreams: integer(init, 'maxOutboundStreams', DEFAULTS.maxOutboundStreams, 0, Infinity),
    maxEarlyStreams: integer(init, 'maxEarlyStreams', DEFAULTS.maxEarlyStreams, 0, Infinity),
    streamOptions: { ...streamOptions, maxReadBufferLength, inactivityTimeout }
  }
}

/** The engine's configuration for one connection */
export function sessionConfig (options: ResolvedOptions, role: 'client' | 'server'): SessionConfig {
  return {
    role,
    initialStreamWindow: options.initialStreamWindowSize,
    maxStreamWindow: options.maxStreamWindowSize,
    connectionReceiveBudget: options.connectionReceiveBudget,
    maxFrameSize: options.maxMessageSize,
    maxInboundStreams: options.maxInboundStreams,
    keepAlive: options.enableKeepAlive,
    keepAliveInterval: options.keepAliveInterval,
    pingTimeout: options.pingTimeout
  }
}

function integer (source: object, name: string, fallback: number, min: number, max: number, prefix = ''): number {
  const value: unknown = (source as Record<string, unknown>)[name] ?? fallback
  const valid = typeof value === 'number' && (Number.isInteger(value) || value === Infinity) && value >= min && value <= max
  if (!valid) {
    throw new InvalidOptionError(`${prefix}${name}`, `expected ${max === Infinity ? `a number of at least ${min}` : `an integer from ${min} to ${max}`}, got ${String(value)}`)
  }
  return value
}
