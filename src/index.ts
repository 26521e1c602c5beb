/**
 * @packageDocumentation
 *
 * A Yamux stream multiplexer for js-libp2p 3: exact on the wire, bounded in
 * memory against any peer, and fast.
 *
 * @example
 *
 * ```typescript
 * import { createLibp2p } from 'libp2p'
 * import { yamux } from 'libp2p-yamux'
 *
 * const node = await createLibp2p({
 *   // ...transports and connection encrypters
 *   streamMuxers: [yamux()]
 * })
 * ```
 */

import { resolveOptions } from './config.js'
import { YamuxFactory } from './libp2p/factory.js'
import type { YamuxInit } from './config.js'
import type { YamuxComponents } from './libp2p/factory.js'

export { DEFAULTS } from './config.js'
export type { YamuxInit, YamuxOptions } from './config.js'
export * from './errors.js'
export { GoAwayCode } from './protocol/constants.js'
export { YamuxFactory } from './libp2p/factory.js'
export type { YamuxComponents } from './libp2p/factory.js'
export { YamuxMuxer, YAMUX_PROTOCOL_ID } from './libp2p/muxer.js'
export { YamuxStream } from './libp2p/stream.js'

/**
 * Create the Yamux muxer for `createLibp2p({ streamMuxers: [yamux()] })`.
 * Options are checked here, so a bad one throws at once.
 *
 * @throws {InvalidOptionError} naming the first invalid option
 */
export function yamux (init: YamuxInit = {}): (components?: YamuxComponents) => YamuxFactory {
  const options = resolveOptions(init)
  return (components) => new YamuxFactory(options, components)
}
