/**
 * A simulated long fat link: two `MultiaddrConnection`s joined in memory by a
 * pipe with a one-way propagation delay and a capacity (serialisation delay
 * per byte, FIFO), that behaves like a socket: `send()` reports "full" once
 * more than `bufferBytes` wait to be serialised, and 'drain' fires when the
 * backlog has fallen to a quarter of that.
 */

import { defaultLogger } from '@libp2p/logger'
import { AbstractMultiaddrConnection } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import type { AbortOptions, MessageStreamDirection } from '@libp2p/interface'
import type { SendResult } from '@libp2p/utils'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface LinkOptions {
  /** one-way propagation delay in ms (the round trip is twice this) */
  delayMs: number
  /** bytes per second, in each direction */
  capacity: number
  /** unserialised bytes above which `send()` reports the link full (default 512 KiB) */
  bufferBytes?: number
  /** largest piece delivered at once, like a TCP receive (default 64 KiB) */
  segmentBytes?: number
}

interface InFlight {
  /** arrival time (performance.now() ms) */
  at: number
  /** the bytes, or null for the end-of-stream marker */
  data: Uint8Array | null
}

/** One direction of the link: a serialiser followed by a delay line */
class Pipe {
  private readonly opts: Required<LinkOptions>
  private readonly onArrive: (data: Uint8Array | null) => void
  private readonly queue: InFlight[] = []
  private head = 0
  /** when the serialiser finishes the last byte handed to it */
  private busyUntil = 0
  private timer?: ReturnType<typeof setTimeout>
  private drainTimer?: ReturnType<typeof setTimeout>
  private stopped = false
  /** the receiving end paused reading: arrivals wait in the pipe and count against the sender's buffer */
  private paused = false

  constructor (opts: Required<LinkOptions>, onArrive: (data: Uint8Array | null) => void) {
    this.opts = opts
    this.onArrive = onArrive
  }

  /** bytes handed over but not yet serialised onto the wire, plus arrivals a paused reader has not taken */
  backlog (now: number = performance.now()): number {
    let bytes = Math.max(0, this.busyUntil - now) * this.opts.capacity / 1000
    if (this.paused) {
      for (let i = this.head; i < this.queue.length && this.queue[i].at <= now; i++) { bytes += this.queue[i].data?.byteLength ?? 0 }
    }
    return bytes
  }

  /** queue bytes (copied: callers may reuse their buffers, as with a socket); true while below the buffer limit */
  write (bufs: Iterable<Uint8Array>, total: number): boolean {
    const now = performance.now()
    const copy = new Uint8Array(total)
    let offset = 0
    for (const b of bufs) {
      copy.set(b, offset)
      offset += b.byteLength
    }
    for (let start = 0; start < total; start += this.opts.segmentBytes) {
      const seg = copy.subarray(start, Math.min(total, start + this.opts.segmentBytes))
      this.busyUntil = Math.max(now, this.busyUntil) + seg.byteLength * 1000 / this.opts.capacity
      this.push({ at: this.busyUntil + this.opts.delayMs, data: seg })
    }
    return this.backlog(now) < this.opts.bufferBytes
  }

  /** the end-of-stream marker travels behind the data */
  end (): void {
    this.push({ at: Math.max(performance.now(), this.busyUntil) + this.opts.delayMs, data: null })
  }

  /**
   * call `fn` once the backlog has fallen to a quarter of the buffer; never
   * synchronously, since the caller (`sendData`) has yet to report the link full,
   * and a 'drain' fired before that would be lost (a GC pause during `write()` can
   * make the backlog look drained already)
   */
  whenDrained (fn: () => void): void {
    if (this.drainTimer != null) { return }
    const check = (): void => {
      this.drainTimer = undefined
      if (this.stopped) { return }
      const excess = this.backlog() - this.opts.bufferBytes / 4
      if (excess > 0) {
        this.drainTimer = setTimeout(check, Math.max(1, excess * 1000 / this.opts.capacity))
        return
      }
      fn()
    }
    this.drainTimer = setTimeout(check, 0)
  }

  pause (): void {
    this.paused = true
    clearTimeout(this.timer)
    this.timer = undefined
  }

  resume (): void {
    if (!this.paused) { return }
    this.paused = false
    this.deliver()
  }

  stop (): void {
    this.stopped = true
    clearTimeout(this.timer)
    clearTimeout(this.drainTimer)
    this.queue.length = 0
    this.head = 0
  }

  private push (item: InFlight): void {
    if (this.stopped) { return }
    this.queue.push(item)
    if (this.timer == null) { this.schedule() }
  }

  private schedule (): void {
    if (this.stopped || this.paused || this.head >= this.queue.length) {
      this.timer = undefined
      return
    }
    const wait = this.queue[this.head].at - performance.now()
    this.timer = setTimeout(this.deliver, Math.max(0, wait))
  }

  private readonly deliver = (): void => {
    const now = performance.now() + 0.5
    while (!this.stopped && !this.paused && this.head < this.queue.length && this.queue[this.head].at <= now) {
      const item = this.queue[this.head++]
      this.onArrive(item.data)
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head)
      this.head = 0
    }
    this.schedule()
  }
}

/** One end of the simulated link */
export class LinkConnection extends AbstractMultiaddrConnection {
  peer?: LinkConnection
  private readonly out: Pipe
  /** resolves once the peer has received our end-of-stream marker, or we closed */
  private readonly endDelivered: Promise<void>
  private markEndDelivered!: () => void

  constructor (direction: MessageStreamDirection, opts: Required<LinkOptions>) {
    super({
      remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/1'),
      direction,
      log: defaultLogger().forComponent(`bench:link:${direction}`),
      inactivityTimeout: 0
    })
    this.endDelivered = new Promise<void>(resolve => { this.markEndDelivered = resolve })
    this.out = new Pipe(opts, (data) => {
      const peer = this.peer
      if (peer == null) { return }
      if (data != null) {
        peer.onData(data)
      } else {
        this.markEndDelivered()
        peer.onTransportClosed()
      }
    })
    this.addEventListener('close', () => {
      this.out.stop()
      this.markEndDelivered()
    })
  }

  sendData (data: Uint8ArrayList): SendResult {
    const canSendMore = this.out.write(data, data.byteLength)
    if (!canSendMore) { this.out.whenDrained(() => { this.safeDispatchEvent('drain') }) }
    return { sentBytes: data.byteLength, canSendMore }
  }

  /** like a socket: the end travels behind the data, and closing completes when the peer has it */
  async sendClose (options?: AbortOptions): Promise<void> {
    this.out.end()
    await this.endDelivered
    options?.signal?.throwIfAborted()
  }

  sendReset (): void {
    this.out.stop()
    const peer = this.peer
    if (peer != null) { setTimeout(() => { peer.abort(new Error('link reset by peer')) }, 0) }
  }

  /** like a socket: a paused reader stops taking data off the link, and the sender's buffer fills */
  sendPause (): void {
    this.peer?.out.pause()
  }

  sendResume (): void {
    this.peer?.out.resume()
  }
}

/** Two connected link ends: [outbound, inbound] */
export function linkPair (options: LinkOptions): [LinkConnection, LinkConnection] {
  const opts: Required<LinkOptions> = {
    bufferBytes: 512 * 1024,
    segmentBytes: 64 * 1024,
    ...options
  }
  const a = new LinkConnection('outbound', opts)
  const b = new LinkConnection('inbound', opts)
  a.peer = b
  b.peer = a
  return [a, b]
}
