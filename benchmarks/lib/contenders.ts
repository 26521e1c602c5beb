/**
 * The contenders: which muxer (or none) carries the bytes, and how a
 * connected `Session` is built for each over TCP loopback or the simulated link.
 */

import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { defaultLogger } from '@libp2p/logger'
import { messageStreamEndpoint, shapeWrites, socketEndpoint } from './endpoint.js'
import { linkPair } from './link.js'
import { negotiatedConnectionPair, negotiatedSocketPair } from './tcp.js'
import type { Endpoint, WriteShape } from './endpoint.js'
import type { LinkOptions } from './link.js'
import type { ComponentLogger, MessageStream, StreamMuxer, StreamMuxerFactory } from '@libp2p/interface'

export type ContenderId = 'ours' | 'baseline' | 'chainsafe' | 'mplex' | 'none' | 'raw'
export type ContenderKind = 'muxer' | 'bare' | 'raw'

export interface ContenderInfo {
  id: ContenderId
  kind: ContenderKind
  description: string
}

export const CONTENDERS: ContenderInfo[] = [
  { id: 'ours', kind: 'muxer', description: 'libp2p-yamux (this repository)' },
  { id: 'baseline', kind: 'muxer', description: 'libp2p-yamux built in another checkout (--baseline DIR), measured beside ours to compare two versions' },
  { id: 'chainsafe', kind: 'muxer', description: '@chainsafe/libp2p-yamux 8, js-libp2p 3\'s default muxer' },
  { id: 'mplex', kind: 'muxer', description: '@libp2p/mplex, disconnectThreshold: Infinity' },
  { id: 'none', kind: 'bare', description: 'no muxer: the libp2p MessageStream (connection) alone' },
  { id: 'raw', kind: 'raw', description: 'a plain net.Socket' }
]

export function contenderInfo (id: ContenderId): ContenderInfo {
  const info = CONTENDERS.find(c => c.id === id)
  if (info == null) { throw new Error(`unknown contender ${id}`) }
  return info
}

/** `yamux(init)(components)`, `mplex(init)(components)`: the factory shape all three share */
export type MuxerModule = (init?: Record<string, unknown>) => (components: { logger: ComponentLogger }) => StreamMuxerFactory

/**
 * Where `ours` is loaded from, relative to this compiled file
 * (dist/benchmarks/lib/contenders.js → dist/src/index.js). A variable keeps
 * TypeScript from requiring the module at compile time, so the harness builds
 * and runs before (or without) our muxer.
 */
const OURS_MODULE = '../../src/index.js'

/** Environment variable naming the checkout `baseline` is loaded from (set by `--baseline`, inherited by workers) */
export const BASELINE_ENV = 'YAMUX_BENCH_BASELINE'

async function loadYamux (specifier: string, what: string): Promise<MuxerModule> {
  const mod: { yamux?: MuxerModule } = await import(specifier)
  if (typeof mod.yamux !== 'function') { throw new Error(`${what} does not export yamux()`) }
  return mod.yamux
}

export async function loadMuxer (id: ContenderId): Promise<MuxerModule> {
  switch (id) {
    case 'ours': return loadYamux(OURS_MODULE, OURS_MODULE)
    case 'baseline': {
      const dir = process.env[BASELINE_ENV]
      if (dir == null || dir === '') { throw new Error('no --baseline DIR given') }
      const entry = path.join(dir, 'dist', 'src', 'index.js')
      return loadYamux(pathToFileURL(entry).href, `${entry} (build that checkout first)`)
    }
    case 'chainsafe': return (await import('@chainsafe/libp2p-yamux')).yamux as unknown as MuxerModule
    case 'mplex': return (await import('@libp2p/mplex')).mplex as unknown as MuxerModule
    default: throw new Error(`${id} is not a muxer`)
  }
}

/** Options every run of a muxer gets: no stream-count limit gets in the way of the workloads */
export function baseMuxerInit (id: ContenderId): Record<string, unknown> {
  switch (id) {
    case 'mplex': return { disconnectThreshold: Infinity }
    default: return { maxInboundStreams: 100_000, maxOutboundStreams: 100_000 }
  }
}

export async function muxerFactory (id: ContenderId, init: Record<string, unknown> = {}): Promise<StreamMuxerFactory> {
  const mod = await loadMuxer(id)
  return mod({ ...baseMuxerInit(id), ...init })({ logger: defaultLogger() })
}

/** Can the contender be loaded here? null when yes, otherwise why not */
export async function unavailableReason (id: ContenderId): Promise<string | null> {
  if (contenderInfo(id).kind !== 'muxer') { return null }
  try {
    await loadMuxer(id)
    return null
  } catch (err) {
    return (err as Error).message
  }
}

/** A connected pair of peers as a scenario sees them */
export interface Session {
  /** false for `none` and `raw`: one pipe only */
  multiStream: boolean
  /** open an outbound stream; without a muxer, hands out the client end once */
  open(): Promise<Endpoint>
  /** handle every inbound stream; without a muxer, called once with the server end */
  accept(fn: (end: Endpoint) => void): void
  /** the muxers, for scenarios that look inside (stream counts) */
  muxers?: [StreamMuxer, StreamMuxer]
  /** tear everything down */
  close(): void | Promise<void>
}

export type Transport = { kind: 'tcp' } | { kind: 'link', link: LinkOptions }

async function connectionPair (transport: Transport): Promise<[MessageStream, MessageStream]> {
  return transport.kind === 'tcp' ? negotiatedConnectionPair() : linkPair(transport.link)
}

/** A session over one pipe (no muxer): `open()` once, and the server end is accepted at once */
export function singlePipeSession (client: Endpoint, server: Endpoint, teardown: () => void): Session {
  let opened = false
  return {
    multiStream: false,
    open: async () => {
      if (opened) { throw new Error('this contender has a single pipe') }
      opened = true
      return client
    },
    accept: (fn) => { fn(server) },
    close: teardown
  }
}

/**
 * A connected pair of peers for contender `id`.
 *
 * @param id - the contender
 * @param transport - TCP loopback or the simulated link
 * @param muxerInit - options for the muxer factory (muxers only)
 * @param writeShape - bare pipe only: how the client hands over each write (see {@link WriteShape})
 */
export async function createSession (id: ContenderId, transport: Transport, muxerInit: Record<string, unknown> = {}, writeShape?: WriteShape): Promise<Session> {
  const kind = contenderInfo(id).kind
  if (kind === 'raw') {
    if (transport.kind !== 'tcp') { throw new Error('raw sockets exist only over TCP') }
    const [a, b] = await negotiatedSocketPair()
    return singlePipeSession(socketEndpoint(a), socketEndpoint(b), () => {
      a.destroy()
      b.destroy()
    })
  }
  const [a, b] = await connectionPair(transport)
  const teardownConns = (): void => {
    a.abort(new Error('benchmark teardown'))
    b.abort(new Error('benchmark teardown'))
  }
  if (kind === 'bare') {
    const client = messageStreamEndpoint(a)
    return singlePipeSession(writeShape == null ? client : shapeWrites(client, writeShape), messageStreamEndpoint(b), teardownConns)
  }
  const factory = await muxerFactory(id, muxerInit)
  const client = factory.createStreamMuxer(a)
  const server = factory.createStreamMuxer(b)
  return {
    multiStream: true,
    muxers: [client, server],
    open: async () => messageStreamEndpoint(await client.createStream()),
    accept: (fn) => {
      server.addEventListener('stream', (evt) => { fn(messageStreamEndpoint(evt.detail)) })
    },
    close: () => {
      client.abort(new Error('benchmark teardown'))
      server.abort(new Error('benchmark teardown'))
      teardownConns()
    }
  }
}
