/**
 * The `StreamMuxerFactory` libp2p asks for a muxer per upgraded connection.
 */

import { serviceCapabilities } from '@libp2p/interface'
import { YamuxMuxer, YAMUX_PROTOCOL_ID } from './muxer.js'
import type { ResolvedOptions } from '../config.js'
import type { ComponentLogger, Logger, MessageStream, MetricGroup, Metrics, StreamMuxerFactory } from '@libp2p/interface'

/** The libp2p components the factory uses; all optional */
export interface YamuxComponents {
  /** Where the factory logs; each muxer logs through its connection's logger */
  logger?: ComponentLogger
  /** Stream open/close/reset counters are registered here when present */
  metrics?: Metrics
}

/** Creates a {@link YamuxMuxer} for each connection; outbound connections get the client role (odd ids) */
export class YamuxFactory implements StreamMuxerFactory<YamuxMuxer> {
  readonly protocol = YAMUX_PROTOCOL_ID
  readonly [Symbol.toStringTag] = 'libp2p-yamux'
  readonly [serviceCapabilities]: string[] = ['@libp2p/stream-multiplexing']
  private readonly options: ResolvedOptions
  private readonly log?: Logger
  private readonly metrics?: MetricGroup

  constructor (options: ResolvedOptions, components: YamuxComponents = {}) {
    this.options = options
    this.log = components.logger?.forComponent('libp2p:yamux')
    this.metrics = components.metrics?.registerMetricGroup('libp2p_yamux_streams_total', {
      label: 'event',
      help: 'Yamux streams opened, ended, reset and aborted, by direction'
    })
  }

  createStreamMuxer (maConn: MessageStream): YamuxMuxer {
    this.log?.trace('creating yamux muxer for a %s connection', maConn.direction)
    return new YamuxMuxer(maConn, { options: this.options, metrics: this.metrics })
  }
}
