/**
 * The Yamux session engine: bytes in, events and bytes out.
 *
 * It owns the stream table, id allocation, the ACK backlog, flow control,
 * pings, keepalive and Go Away. It does no I/O and keeps no timers: the face
 * feeds it received bytes with {@link YamuxSession.receive}, collects the
 * frames it produces with {@link YamuxSession.takeOutput}, and calls
 * {@link YamuxSession.tick} at {@link YamuxSession.nextTickAt}.
 */

import { Uint8ArrayList } from 'uint8arraylist'
import { Flag, FrameType, GoAwayCode, HEADER_LENGTH, SESSION_STREAM_ID } from './constants.js'
import { FrameDecoder } from './decoder.js'
import { AckBacklogFullError, PingTimeoutError, ProtocolViolationError, RemoteGoAwayError, RemoteResetError, SessionClosedError, StreamIdExhaustedError, StreamNotWritableError } from './errors.js'
import { addSendCredit, ReceiveBudget, ReceiveWindow } from './flow-control.js'
import { hasFlag } from './frame.js'
import { Outbox } from './outbox.js'
import { StreamIdAllocator, StreamState } from './stream-state.js'
import type { FrameSink } from './decoder.js'
import type { FrameHeader } from './frame.js'

/** Most outbound streams that may await their ACK at once (libp2p Yamux spec) */
export const ACK_BACKLOG = 256

/** Most pongs that may wait in the outbox; pings beyond this go unanswered until it drains */
export const MAX_PENDING_PONGS = 64

/** A round-trip time older than this (ms) is measured again when the window may grow */
export const RTT_REFRESH_INTERVAL = 10_000

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

export class YamuxSession implements FrameSink {
  private readonly config: SessionConfig
  private readonly events: SessionEvents
  private readonly clock: Clock
  private readonly decoder: FrameDecoder
  private readonly streams = new Map<number, StreamState>()
  private readonly ids: StreamIdAllocator
  private readonly budget: ReceiveBudget
  private readonly maxPayload: number
  private readonly outbox = new Outbox()
  /** Streams holding the bytes of a partial Data frame until the next flush */
  private readonly holding = new Set<StreamState>()
  private heldBytes = 0
  private readonly pendingPongs = new Set<number>()
  /** Sent time of every ping awaiting its pong, by value */
  private readonly pings = new Map<number, number>()
  private nextPingValue = 1
  private awaitingAck = 0
  private inboundCount = 0
  private lastReceivedAt: number
  private keepAlivePing: number | undefined
  private rttPing: number | undefined
  private rttMeasuredAt = -Infinity
  /** Latest measured round-trip time in ms */
  rtt: number | undefined
  /** We sent Go Away: no new streams either way */
  localGoAway = false
  /** The remote sent Go Away 0: we open no new streams */
  remoteGoAway = false
  /** We are closing: no new streams either way, Go Away not sent yet */
  private refusing = false
  /** The session failed with this error; nothing more is decoded or sent */
  failure: Error | undefined

  constructor (config: SessionConfig, events: SessionEvents, clock: Clock) {
    this.config = config
    this.events = events
    this.clock = clock
    this.decoder = new FrameDecoder(this)
    this.ids = new StreamIdAllocator(config.role, config.firstStreamId)
    this.budget = new ReceiveBudget(config.connectionReceiveBudget)
    this.maxPayload = config.maxFrameSize - HEADER_LENGTH
    this.lastReceivedAt = clock.now()
  }

  /** Number of streams the session tracks (open in at least one direction) */
  get streamCount (): number {
    return this.streams.size
  }

  /** Outbound streams waiting for the peer's ACK */
  get ackBacklog (): number {
    return this.awaitingAck
  }

  /** Bytes waiting in the outbox */
  get pendingOutputBytes (): number {
    return this.outbox.byteLength + this.heldBytes
  }

  /** Bytes all receive windows add up to now */
  get receiveBudgetUsed (): number {
    return this.budget.used
  }

  /** The state of stream `id`, if the session still tracks it */
  stream (id: number): StreamState | undefined {
    return this.streams.get(id)
  }

  /** True while new streams may be opened from this side */
  get canOpenStreams (): boolean {
    return this.failure == null && !this.refusing && !this.localGoAway && !this.remoteGoAway
  }

  /** True when the received bytes ended in the middle of a frame */
  get midFrame (): boolean {
    return this.decoder.midFrame
  }

  // --- input -------------------------------------------------------------

  /**
   * Feed received bytes. A protocol violation fails the session (Go Away 1)
   * instead of throwing; an error thrown by an event handler fails it (Go Away 2)
   * and is rethrown.
   */
  receive (chunk: Uint8Array): void {
    if (this.failure != null) {
      return
    }
    this.lastReceivedAt = this.clock.now()
    try {
      this.decoder.write(chunk)
    } catch (err: any) {
      if (err instanceof ProtocolViolationError) {
        this.fail(err, GoAwayCode.ProtocolError)
        return
      }
      // an event handler threw mid-frame: the decoder cannot resynchronise, so end the session
      this.fail(err, GoAwayCode.InternalError)
      throw err
    }
  }

  /** Decoder callback: a whole header was read */
  onHeader (header: FrameHeader): boolean {
    switch (header.type) {
      case FrameType.Ping:
        this.handlePing(header)
        return false
      case FrameType.GoAway:
        this.handleGoAway(header.length)
        return false
      default:
        return this.handleStreamHeader(header)
    }
  }

  /** Decoder callback: a piece of a Data body */
  onBody (header: FrameHeader, piece: Uint8Array): void {
    this.events.onStreamData(header.streamId, piece)
  }

  /** Decoder callback: the frame is complete; FIN and RST take effect after its data */
  onFrameEnd (header: FrameHeader): void {
    if (header.type !== FrameType.Data && header.type !== FrameType.WindowUpdate) {
      return
    }
    const stream = this.streams.get(header.streamId)
    if (stream == null) {
      return
    }
    if (hasFlag(header.flags, Flag.RST)) {
      // a Window Update with RST carries an error code in its length (go-yamux v5)
      const code = header.type === FrameType.WindowUpdate ? header.length : undefined
      this.removeStream(stream)
      this.events.onStreamReset(stream.id, new RemoteResetError(stream.id, code))
      return
    }
    if (hasFlag(header.flags, Flag.FIN) && !stream.remoteClosed) {
      stream.remoteClosed = true
      if (stream.finished) {
        this.removeStream(stream)
      }
      this.events.onStreamRemoteClose(stream.id)
    }
  }

  private handleStreamHeader (header: FrameHeader): boolean {
    const { streamId, flags } = header
    if (streamId === SESSION_STREAM_ID) {
      throw new ProtocolViolationError(`${FrameType[header.type]} frame for stream id 0`)
    }
    let stream = this.streams.get(streamId)

    if (hasFlag(flags, Flag.SYN)) {
      if (stream != null) {
        throw new ProtocolViolationError(`duplicate SYN for open stream ${streamId}`)
      }
      stream = this.openInbound(streamId)
    }
    if (stream == null) {
      // unknown, finished or refused stream: ignore, skipping any body unbuffered
      return false
    }
    if (hasFlag(flags, Flag.FIN) || hasFlag(flags, Flag.RST)) {
      // this frame ends the remote's sending: consuming its data must not earn credit
      stream.remoteEnding = true
    }
    if (hasFlag(flags, Flag.ACK) && stream.outbound && !stream.acknowledged) {
      stream.acknowledged = true
      this.leaveAckBacklog()
    }

    if (header.type === FrameType.WindowUpdate) {
      this.addCredit(stream, header.length)
      return false
    }
    if (header.length === 0) {
      return false
    }
    if (stream.remoteClosed) {
      // data after FIN: the peer said it was done; drop the bytes
      return false
    }
    if (!stream.receiveWindow.receive(header.length)) {
      throw new ProtocolViolationError(`stream ${streamId} received a ${header.length} byte Data frame with only ${stream.receiveWindow.credit} bytes of window left`)
    }
    return true
  }

  private openInbound (id: number): StreamState | undefined {
    const remoteParity = this.config.role === 'client' ? 0 : 1
    if (id % 2 !== remoteParity) {
      throw new ProtocolViolationError(`remote opened stream ${id} with the wrong id parity for a ${this.config.role === 'client' ? 'server' : 'client'}`)
    }
    if (this.refusing || this.localGoAway || this.inboundCount >= this.config.maxInboundStreams) {
      this.queueFrame(FrameType.WindowUpdate, Flag.RST, id, 0)
      return undefined
    }
    const stream = this.createStream(id, false)
    this.inboundCount++
    stream.acknowledged = true
    this.queueFrame(FrameType.WindowUpdate, Flag.ACK, id, stream.receiveWindow.announceInitial())
    this.events.onInboundStream(id)
    return this.streams.get(id)
  }

  private addCredit (stream: StreamState, credit: number): void {
    const window = addSendCredit(stream.sendWindow, credit)
    if (window === undefined) {
      throw new ProtocolViolationError(`window update of ${credit} bytes overflows the send window of stream ${stream.id} (${stream.sendWindow} bytes)`)
    }
    stream.sendWindow = window
    if (stream.waitingForCredit && window > 0) {
      stream.waitingForCredit = false
      this.events.onStreamWritable(stream.id)
    }
  }

  private handlePing (header: FrameHeader): void {
    const value = header.length
    if (hasFlag(header.flags, Flag.SYN)) {
      if (this.pendingPongs.has(value) || this.pendingPongs.size >= MAX_PENDING_PONGS) {
        return
      }
      this.pendingPongs.add(value)
      this.queueFrame(FrameType.Ping, Flag.ACK, SESSION_STREAM_ID, value)
      return
    }
    if (!hasFlag(header.flags, Flag.ACK)) {
      return
    }
    const ping = this.pings.get(value)
    if (ping === undefined) {
      // a late or unsolicited pong is harmless
      return
    }
    this.pings.delete(value)
    const now = this.clock.now()
    const rtt = now - ping
    this.rtt = rtt
    this.rttMeasuredAt = now
    if (value === this.keepAlivePing) {
      this.keepAlivePing = undefined
    }
    if (value === this.rttPing) {
      this.rttPing = undefined
    }
    this.events.onPong(value, rtt)
  }

  private handleGoAway (code: number): void {
    if (code === GoAwayCode.Normal) {
      if (!this.remoteGoAway) {
        this.remoteGoAway = true
        this.events.onRemoteGoAway()
      }
      return
    }
    this.fail(new RemoteGoAwayError(code))
  }

  // --- streams -------------------------------------------------------------

  /**
   * Open a stream: SYN goes out now as a Window Update carrying any extra initial window.
   *
   * @throws {SessionClosedError} after Go Away or failure
   * @throws {AckBacklogFullError} when 256 streams already await their ACK
   * @throws {StreamIdExhaustedError} when no stream id is left
   */
  openStream (): number {
    if (!this.canOpenStreams) {
      throw new SessionClosedError(this.whyClosed())
    }
    if (this.awaitingAck >= ACK_BACKLOG) {
      throw new AckBacklogFullError(`${ACK_BACKLOG} streams already await their ACK`)
    }
    const id = this.ids.take()
    if (id === undefined) {
      throw new StreamIdExhaustedError('every stream id has been used; open a new connection')
    }
    const stream = this.createStream(id, true)
    this.awaitingAck++
    this.queueFrame(FrameType.WindowUpdate, Flag.SYN, id, stream.receiveWindow.announceInitial())
    return id
  }

  private whyClosed (): string {
    if (this.failure != null) {
      return `session failed: ${this.failure.message}`
    }
    if (this.remoteGoAway) {
      return 'remote sent Go Away, no new streams may be opened'
    }
    return 'session is closing, no new streams may be opened'
  }

  /**
   * Send up to `data.byteLength` bytes on stream `id` as Data frames of at most
   * the configured frame size (or `payloadLimit` payload bytes when smaller),
   * limited by the send window.
   *
   * @returns how many bytes were taken; fewer than offered means the window is
   * exhausted. Once it is, `onStreamWritable` fires when credit arrives.
   * @throws {StreamNotWritableError} when the stream is unknown or its writing half is closed
   */
  write (id: number, data: Uint8ArrayList | Uint8Array, payloadLimit = this.maxPayload): number {
    const stream = this.writableStream(id)
    const length = Math.min(data.byteLength, stream.sendWindow)
    const maxPayload = Math.max(1, Math.min(this.maxPayload, payloadLimit))
    stream.sendWindow -= length
    if (stream.sendWindow === 0) {
      stream.waitingForCredit = true
    }
    if (length === 0) {
      return 0
    }

    // a write shorter than a frame is one frame, so small messages keep their
    // boundaries; the partial last frame of a longer write is held until the
    // next write or the flush, so consecutive large writes share full frames
    // instead of each leaving a small tail frame
    const accepted = length === data.byteLength ? data : data.subarray(0, length)
    if (stream.heldBytes === 0 && length <= maxPayload) {
      this.queueData(id, accepted)
      return length
    }
    const pending = new Uint8ArrayList(...stream.held, accepted)
    this.releaseHeld(stream)
    let offset = 0
    while (pending.byteLength - offset >= maxPayload) {
      this.queueData(id, pending.sublist(offset, offset + maxPayload))
      offset += maxPayload
    }
    if (offset < pending.byteLength) {
      this.hold(stream, pending.sublist(offset))
    }
    return length
  }

  private hold (stream: StreamState, data: Uint8Array | Uint8ArrayList): void {
    if (this.heldBytes === 0 && this.outbox.byteLength === 0) {
      this.events.onOutput()
    }
    if (data instanceof Uint8Array) {
      stream.held.push(data)
    } else {
      for (const piece of data) {
        stream.held.push(piece)
      }
    }
    stream.heldBytes += data.byteLength
    this.heldBytes += data.byteLength
    this.holding.add(stream)
  }

  /** Forget what `stream` holds (it was framed, or the stream is gone) */
  private releaseHeld (stream: StreamState): void {
    this.heldBytes -= stream.heldBytes
    stream.held = []
    stream.heldBytes = 0
    this.holding.delete(stream)
  }

  /** Send what `stream` holds as one Data frame */
  private frameHeld (stream: StreamState): void {
    if (stream.heldBytes > 0) {
      const held = new Uint8ArrayList(...stream.held)
      this.releaseHeld(stream)
      this.queueData(stream.id, held)
    }
  }

  private queueData (id: number, payload: Uint8ArrayList | Uint8Array): void {
    this.queueFrame(FrameType.Data, 0, id, payload.byteLength)
    if (payload instanceof Uint8Array) {
      this.outbox.bytes(payload)
      return
    }
    for (const piece of payload) {
      this.outbox.bytes(piece)
    }
  }

  /** Send window of stream `id` in bytes, 0 if unknown */
  sendWindow (id: number): number {
    return this.streams.get(id)?.sendWindow ?? 0
  }

  /** Close our direction of stream `id` (FIN on a Window Update). Ignored when already closed */
  closeWrite (id: number): void {
    const stream = this.streams.get(id)
    if (stream == null || stream.localClosed) {
      return
    }
    stream.localClosed = true
    this.frameHeld(stream)
    this.queueFrame(FrameType.WindowUpdate, Flag.FIN, id, 0)
    if (stream.finished) {
      this.removeStream(stream)
    }
  }

  /** Reset stream `id` (RST on a Window Update, with `code` in its length). Ignored when unknown */
  reset (id: number, code = 0): void {
    const stream = this.streams.get(id)
    if (stream == null) {
      return
    }
    this.removeStream(stream)
    this.queueFrame(FrameType.WindowUpdate, Flag.RST, id, code)
  }

  /** The application consumed `bytes` of stream `id`'s data: grant credit once half the window is owed */
  consume (id: number, bytes: number): void {
    const stream = this.streams.get(id)
    if (stream == null) {
      return
    }
    const window = stream.receiveWindow
    window.consume(bytes)
    if (!stream.wantsCredit || this.failure != null) {
      return
    }
    const now = this.clock.now()
    const grant = window.takeGrant(now, this.rtt)
    if (grant > 0) {
      this.queueFrame(FrameType.WindowUpdate, 0, id, grant)
      if (now - this.rttMeasuredAt > RTT_REFRESH_INTERVAL) {
        this.measureRtt()
      }
    }
  }

  private writableStream (id: number): StreamState {
    const stream = this.streams.get(id)
    if (stream == null || stream.localClosed || this.failure != null) {
      throw new StreamNotWritableError(`stream ${id} is ${stream == null ? 'closed or unknown' : 'closed for writing'}`)
    }
    return stream
  }

  private createStream (id: number, outbound: boolean): StreamState {
    const now = this.clock.now()
    const window = new ReceiveWindow(this.config.initialStreamWindow, this.config.maxStreamWindow, this.budget, now)
    const stream = new StreamState(id, outbound, window)
    this.streams.set(id, stream)
    if (this.rtt === undefined && this.rttPing === undefined) {
      this.measureRtt()
    }
    return stream
  }

  private removeStream (stream: StreamState): void {
    if (!this.streams.delete(stream.id)) {
      return
    }
    this.releaseHeld(stream)
    stream.receiveWindow.release()
    if (!stream.outbound) {
      this.inboundCount--
    } else if (!stream.acknowledged) {
      this.leaveAckBacklog()
    }
  }

  private leaveAckBacklog (): void {
    this.awaitingAck--
    if (this.awaitingAck === ACK_BACKLOG - 1) {
      this.events.onAckBacklogAvailable()
    }
  }

  // --- session -------------------------------------------------------------

  /**
   * Send a ping; its pong is reported through `onPong` with the same value.
   *
   * @throws {SessionClosedError} once the session has failed
   */
  ping (): number {
    if (this.failure != null) {
      throw new SessionClosedError(`session failed: ${this.failure.message}`)
    }
    const value = this.nextPingValue
    this.nextPingValue = this.nextPingValue >= 0xffff_ffff ? 1 : this.nextPingValue + 1
    this.pings.set(value, this.clock.now())
    this.queueFrame(FrameType.Ping, Flag.SYN, SESSION_STREAM_ID, value)
    return value
  }

  /** Forget ping `value` (its caller gave up waiting) */
  cancelPing (value: number): void {
    this.pings.delete(value)
  }

  private measureRtt (): void {
    if (this.rttPing === undefined && this.failure == null) {
      this.rttPing = this.ping()
    }
  }

  /** Stop opening and accepting streams (inbound SYNs get RST) without telling the peer yet */
  refuseNewStreams (): void {
    this.refusing = true
  }

  /**
   * Send Go Away with `code`: no new streams from either side afterwards.
   * Streams already open are untouched; the face decides when to send this.
   */
  goAway (code: GoAwayCode = GoAwayCode.Normal): void {
    if (this.localGoAway || this.failure != null) {
      return
    }
    this.localGoAway = true
    this.queueFrame(FrameType.GoAway, 0, SESSION_STREAM_ID, code)
  }

  /**
   * End the session because of `error`: Go Away `code` is sent when given
   * (unless one was sent already), every stream is dropped, and `onSessionError` fires.
   */
  fail (error: Error, code?: GoAwayCode): void {
    if (this.failure != null) {
      return
    }
    if (code !== undefined && !this.localGoAway) {
      this.localGoAway = true
      this.queueFrame(FrameType.GoAway, 0, SESSION_STREAM_ID, code)
    }
    this.failure = error
    this.decoder.stop()
    for (const stream of this.streams.values()) {
      stream.receiveWindow.release()
    }
    this.streams.clear()
    this.holding.clear()
    this.heldBytes = 0
    this.pings.clear()
    this.events.onSessionError(error)
  }

  /** Local abort: Go Away 1 when `error` is a protocol violation, 2 otherwise */
  abort (error: Error): void {
    this.fail(error, error instanceof ProtocolViolationError ? GoAwayCode.ProtocolError : GoAwayCode.InternalError)
  }

  /** When `tick()` should next run (ms on the injected clock), or undefined when no timer is needed */
  nextTickAt (): number | undefined {
    if (!this.config.keepAlive || this.failure != null) {
      return undefined
    }
    const sentAt = this.keepAlivePing === undefined ? undefined : this.pings.get(this.keepAlivePing)
    return sentAt != null
      ? sentAt + this.config.pingTimeout
      : this.lastReceivedAt + this.config.keepAliveInterval
  }

  /** Keepalive: ping after an idle interval; fail the session when a ping stays unanswered past the timeout */
  tick (): void {
    if (!this.config.keepAlive || this.failure != null) {
      return
    }
    const now = this.clock.now()
    const sentAt = this.keepAlivePing === undefined ? undefined : this.pings.get(this.keepAlivePing)
    if (sentAt != null) {
      if (now - sentAt >= this.config.pingTimeout) {
        this.fail(new PingTimeoutError(`keepalive ping unanswered after ${this.config.pingTimeout} ms: peer presumed dead`), GoAwayCode.InternalError)
      }
      return
    }
    if (now - this.lastReceivedAt >= this.config.keepAliveInterval) {
      this.keepAlivePing = this.ping()
    }
  }

  // --- output --------------------------------------------------------------

  /**
   * Take every byte produced since the last call, in wire order: small frames
   * back to back in shared buffers, large payloads as their own chunks.
   */
  takeOutput (): Uint8Array[] {
    for (const stream of this.holding) {
      this.frameHeld(stream)
    }
    this.pendingPongs.clear()
    return this.outbox.take()
  }

  private queueFrame (type: FrameType, flags: number, streamId: number, length: number): void {
    const wasEmpty = this.outbox.byteLength === 0
    this.outbox.header({ type, flags, streamId, length })
    if (wasEmpty) {
      this.events.onOutput()
    }
  }
}
