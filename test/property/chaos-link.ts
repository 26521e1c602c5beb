/**
 * An in-memory connection between two muxers that splits, delays and
 * interleaves bytes at random, as a network might: each direction keeps its
 * bytes in order (like TCP) but hands them over in random slices after random
 * delays (microtask, next macrotask or a short timer), independently of the
 * other direction. It applies backpressure above a random high-water mark and
 * emits 'drain' once the backlog is delivered.
 *
 * All randomness comes from one PRNG, so a run with the same seed makes the
 * same decisions.
 */

import { defaultLogger } from '@libp2p/logger'
import { AbstractMultiaddrConnection } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { Uint8ArrayList } from 'uint8arraylist'
import type { AbortOptions, MessageStreamDirection } from '@libp2p/interface'
import type { SendResult } from '@libp2p/utils'

export class ChaosEnd extends AbstractMultiaddrConnection {
  private readonly link: ChaosLink
  private readonly side: 0 | 1

  constructor (link: ChaosLink, side: 0 | 1, direction: MessageStreamDirection) {
    super({
      remoteAddr: multiaddr(`/ip4/127.0.0.1/tcp/${4000 + side}`),
      direction,
      log: defaultLogger().forComponent(`yamux:test:chaos:${side}`),
      maxReadBufferLength: Infinity,
      inactivityTimeout: 0
    })
    this.link = link
    this.side = side
  }

  sendData (data: Uint8ArrayList): SendResult {
    return { sentBytes: data.byteLength, canSendMore: this.link.enqueue(this.side, data) }
  }

  sendReset (): void {
    this.link.reset(this.side)
  }

  async sendClose (options?: AbortOptions): Promise<void> {
    await this.link.closeFrom(this.side, options)
  }

  sendPause (): void {}
  sendResume (): void {}

  /** Bytes from the other end (internal) */
  receive (bytes: Uint8Array): void {
    if (this.status === 'open' || this.status === 'closing') {
      this.onData(bytes)
    }
  }
}

export interface ChaosOptions {
  /** Largest slice handed over at once (default 16 KiB) */
  maxSlice?: number
  /** Backpressure once this many bytes wait in one direction (default: random, 1 KiB to 256 KiB) */
  highWater?: number
}

export class ChaosLink {
  readonly ends: [ChaosEnd, ChaosEnd]
  private readonly random: () => number
  private readonly queues: [Uint8ArrayList, Uint8ArrayList] = [new Uint8ArrayList(), new Uint8ArrayList()]
  private readonly scheduled: [boolean, boolean] = [false, false]
  private readonly idle: [Array<() => void>, Array<() => void>] = [[], []]
  private readonly maxSlice: number
  private readonly highWater: number
  private broken = false
  /** Bytes delivered in each direction */
  readonly delivered: [number, number] = [0, 0]

  constructor (random: () => number, options: ChaosOptions = {}) {
    this.random = random
    this.maxSlice = options.maxSlice ?? 16 * 1024
    this.highWater = options.highWater ?? Math.floor(1024 + random() * 255 * 1024)
    this.ends = [new ChaosEnd(this, 0, 'outbound'), new ChaosEnd(this, 1, 'inbound')]
  }

  /** Queue bytes from `side`; false when the direction is over its high-water mark */
  enqueue (side: 0 | 1, data: Uint8ArrayList): boolean {
    if (this.broken) {
      return true
    }
    for (const piece of data) {
      // copy, like a socket: the sender may reuse its buffers
      this.queues[side].append(piece.slice())
    }
    this.schedule(side)
    return this.queues[side].byteLength < this.highWater
  }

  private schedule (side: 0 | 1): void {
    if (this.scheduled[side]) {
      return
    }
    this.scheduled[side] = true
    const step = (): void => {
      this.scheduled[side] = false
      this.deliverSome(side)
    }
    const roll = this.random()
    if (roll < 0.3) {
      queueMicrotask(step)
    } else if (roll < 0.8) {
      setImmediate(step)
    } else {
      setTimeout(step, Math.floor(this.random() * 3))
    }
  }

  private deliverSome (side: 0 | 1): void {
    const queue = this.queues[side]
    if (this.broken || queue.byteLength === 0) {
      return
    }
    const size = Math.max(1, Math.min(queue.byteLength, Math.floor(this.random() ** 2 * this.maxSlice) + 1))
    const slice = queue.subarray(0, size)
    queue.consume(size)
    this.delivered[side] += size
    const sender = this.ends[side]
    const receiver = this.ends[side === 0 ? 1 : 0]
    receiver.receive(slice)
    if (queue.byteLength > 0) {
      this.schedule(side)
      return
    }
    this.idle[side].splice(0).forEach(wake => { wake() })
    if (sender.writableNeedsDrain) {
      sender.safeDispatchEvent('drain')
    }
  }

  /** `side` closes: its queued bytes are delivered first, then the other end sees the transport close */
  async closeFrom (side: 0 | 1, options?: AbortOptions): Promise<void> {
    if (this.queues[side].byteLength > 0 && !this.broken) {
      await new Promise<void>((resolve, reject) => {
        this.idle[side].push(resolve)
        options?.signal?.addEventListener('abort', () => { reject(options.signal?.reason) }, { once: true })
      })
    }
    const other = this.ends[side === 0 ? 1 : 0]
    if (other.status === 'open') {
      other.onTransportClosed()
    }
  }

  /** `side` resets: nothing more is delivered either way, the other end sees a reset */
  reset (side: 0 | 1): void {
    this.broken = true
    this.queues.forEach(q => q.consume(q.byteLength))
    this.idle.forEach(waiters => waiters.splice(0).forEach(wake => { wake() }))
    const other = this.ends[side === 0 ? 1 : 0]
    if (other.status === 'open') {
      other.onRemoteReset()
    }
  }

  /** Bytes waiting in each direction */
  get pending (): [number, number] {
    return [this.queues[0].byteLength, this.queues[1].byteLength]
  }
}
