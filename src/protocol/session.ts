/**
 * The Yamux session engine: bytes in, events and bytes out.
 *
 * It owns the stream table, id allocation, the ACK backlog, flow control,
 * pings, keepalive and Go Away. It does no I/O and keeps no timers: the face
 * feeds it received bytes with {@link YamuxSession.receive}, collects the
 * frames it produces with {@link YamuxSession.takeOutput}, and calls
 * {@link YamuxSession.tick} at {@link YamuxSession.nextTickAt}.
 *
 * It is one class, longer than our other files, because every frame handler
 * and operation reads and changes the same state (the stream table, the ACK
 * backlog, Go Away); the parts that stand alone live beside it: the decoder,
 * flow control, ping bookkeeping and the frame writer.
 */

import { Uint8ArrayList } from 'uint8arraylist'
import { Flag, FrameType, GoAwayCode, HEADER_LENGTH, SESSION_STREAM_ID } from './constants.js'
import { FrameDecoder } from './decoder.js'
import { AckBacklogFullError, PingTimeoutError, ProtocolViolationError, RemoteGoAwayError, RemoteResetError, SessionClosedError, StreamIdExhaustedError, StreamNotWritableError } from './errors.js'
import { addSendCredit, cutShortWrite, ReceiveBudget, ReceiveWindow } from './flow-control.js'
import { FrameWriter } from './frame-writer.js'
import { hasFlag } from './frame.js'
import { PingTracker } from './pings.js'
import { StreamIdAllocator, StreamState } from './stream-state.js'
import type { FrameSink } from './decoder.js'
import type { FrameHeader } from './frame.js'
import type { PingPurpose } from './pings.js'
import type { Clock, SessionConfig, SessionEvents } from './session-types.js'

export type { Clock, SessionConfig, SessionEvents }

/** Most outbound streams that may await their ACK at once (libp2p Yamux spec) */
export const ACK_BACKLOG = 256

export class YamuxSession implements FrameSink {
  private readonly config: SessionConfig
  private readonly events: SessionEvents
  private readonly clock: Clock
  private readonly decoder: FrameDecoder
  private readonly streams = new Map<number, StreamState>()
  private readonly ids: StreamIdAllocator
  private readonly budget: ReceiveBudget
  /** Largest Data payload per frame we send, in bytes: the configured frame size less its header */
  readonly maxPayload: number
  private readonly output: FrameWriter
  private readonly pings = new PingTracker()
  private awaitingAck = 0
  private inboundCount = 0
  private lastReceivedAt: number
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
    this.output = new FrameWriter(() => { this.events.onOutput() })
  }

  /** Latest measured round-trip time in ms */
  get rtt (): number | undefined {
    return this.pings.rtt
  }

  /** Number of streams the session tracks (open in at least one direction) */
  get streamCount (): number {
    return this.streams.size
  }

  /** Outbound streams waiting for the peer's ACK */
  get ackBacklog (): number {
    return this.awaitingAck
  }

  /** {@link ACK_BACKLOG} outbound streams await their ACK: `openStream()` would throw */
  get ackBacklogFull (): boolean {
    return this.awaitingAck >= ACK_BACKLOG
  }

  /** Bytes waiting in the outbox */
  get pendingOutputBytes (): number {
    return this.output.byteLength
  }

  /** Bytes the receive windows have grown by beyond their initial size, together */
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
      // with RST the length is an error code (go-yamux v5), not credit
      if (!hasFlag(flags, Flag.RST)) {
        this.addCredit(stream, header.length)
      }
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
      this.output.control(FrameType.WindowUpdate, Flag.RST, id, 0)
      return undefined
    }
    const stream = this.createStream(id, false)
    this.inboundCount++
    stream.acknowledged = true
    this.output.control(FrameType.WindowUpdate, Flag.ACK, id, stream.receiveWindow.announceInitial())
    this.events.onInboundStream(id)
    return this.streams.get(id)
  }

  private addCredit (stream: StreamState, credit: number): void {
    const window = addSendCredit(stream.sendWindow, credit)
    if (window === undefined) {
      throw new ProtocolViolationError(`window update of ${credit} bytes overflows the send window of stream ${stream.id} (${stream.sendWindow} bytes)`)
    }
    stream.sendWindow = window
    if (stream.waitingForCredit && credit > 0) {
      stream.waitingForCredit = false
      this.output.unpark(stream)
      this.events.onStreamWritable(stream.id)
    }
  }

  private handlePing (header: FrameHeader): void {
    const value = header.length
    if (hasFlag(header.flags, Flag.SYN)) {
      if (this.pings.owePong(value)) {
        this.output.control(FrameType.Ping, Flag.ACK, SESSION_STREAM_ID, value)
      }
      return
    }
    if (hasFlag(header.flags, Flag.ACK)) {
      const rtt = this.pings.answer(value, this.clock.now())
      if (rtt !== undefined) {
        this.events.onPong(value, rtt)
      }
    }
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
    this.output.control(FrameType.WindowUpdate, Flag.SYN, id, stream.receiveWindow.announceInitial())
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
   * exhausted (or what is left of it is less than a frame and is kept for the
   * next credit). Then `onStreamWritable` fires when credit arrives.
   * @throws {StreamNotWritableError} when the stream is unknown or its writing half is closed
   */
  write (id: number, data: Uint8ArrayList | Uint8Array, payloadLimit = this.maxPayload): number {
    const stream = this.writableStream(id)
    const maxPayload = Math.max(1, Math.min(this.maxPayload, payloadLimit))
    let length = Math.min(data.byteLength, stream.sendWindow)
    const continuesCutWrite = stream.writeCutShort
    stream.writeCutShort = length < data.byteLength
    if (length < data.byteLength) {
      stream.waitingForCredit = true
      const cut = cutShortWrite(length, stream.heldBytes, maxPayload)
      length = cut.length
      if (cut.holdBack) {
        this.output.park(stream)
      }
    }
    stream.sendWindow -= length
    if (stream.sendWindow === 0) {
      stream.waitingForCredit = true
    }
    if (length === 0) {
      return 0
    }

    if (length < data.byteLength) {
      // a view of what fits; Uint8ArrayList.subarray() would copy it
      data = data instanceof Uint8Array ? data.subarray(0, length) : data.sublist(0, length)
    }
    this.output.data(stream, data, maxPayload, continuesCutWrite)
    return length
  }

  /**
   * The writer of stream `id` was told to wait for the transport and will
   * write again: the partial frame it holds waits for that write instead of
   * leaving as a short frame at the next {@link YamuxSession.takeOutput}.
   */
  parkWriter (id: number): void {
    const stream = this.streams.get(id)
    if (stream != null) {
      this.output.park(stream)
    }
  }

  /** The writer of stream `id` may write again: unless it does first, what it holds leaves with the next output */
  unparkWriter (id: number): void {
    const stream = this.streams.get(id)
    if (stream != null) {
      this.output.unpark(stream)
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
    this.output.release(stream)
    this.output.control(FrameType.WindowUpdate, Flag.FIN, id, 0)
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
    this.output.control(FrameType.WindowUpdate, Flag.RST, id, code)
  }

  /** The application consumed `bytes` of stream `id`'s data: grant credit once half the window is owed */
  consume (id: number, bytes: number): void {
    const stream = this.streams.get(id)
    if (stream == null) {
      return
    }
    const window = stream.receiveWindow
    window.consume(bytes)
    if (!window.grantDue || !stream.wantsCredit || this.failure != null) {
      return
    }
    const grant = window.takeGrant(this.clock.now(), this.rtt)
    if (grant > 0) {
      this.output.control(FrameType.WindowUpdate, 0, id, grant)
      this.measureRtt()
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
    this.measureRtt()
    return stream
  }

  private removeStream (stream: StreamState): void {
    if (!this.streams.delete(stream.id)) {
      return
    }
    this.output.drop(stream)
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
  ping (purpose: PingPurpose = 'user'): number {
    if (this.failure != null) {
      throw new SessionClosedError(`session failed: ${this.failure.message}`)
    }
    const value = this.pings.start(this.clock.now(), purpose)
    this.output.control(FrameType.Ping, Flag.SYN, SESSION_STREAM_ID, value)
    return value
  }

  /** Forget ping `value` (its caller gave up waiting) */
  cancelPing (value: number): void {
    this.pings.cancel(value)
  }

  /** Measure the round-trip time with a ping of our own when it is unknown or stale */
  private measureRtt (): void {
    if (this.failure == null && this.pings.wantsRttSample(this.clock.now())) {
      this.ping('rtt')
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
    this.output.control(FrameType.GoAway, 0, SESSION_STREAM_ID, code)
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
      this.output.control(FrameType.GoAway, 0, SESSION_STREAM_ID, code)
    }
    this.failure = error
    this.decoder.stop()
    for (const stream of this.streams.values()) {
      stream.receiveWindow.release()
    }
    this.streams.clear()
    this.output.dropAll()
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
    const sentAt = this.pings.keepAliveSentAt
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
    const sentAt = this.pings.keepAliveSentAt
    if (sentAt != null) {
      if (now - sentAt >= this.config.pingTimeout) {
        this.fail(new PingTimeoutError(`keepalive ping unanswered after ${this.config.pingTimeout} ms: peer presumed dead`), GoAwayCode.InternalError)
      }
      return
    }
    if (now - this.lastReceivedAt >= this.config.keepAliveInterval) {
      this.ping('keepalive')
    }
  }

  // --- output --------------------------------------------------------------

  /**
   * Take every byte produced since the last call, in wire order: small frames
   * back to back in shared buffers, large payloads as their own chunks.
   */
  takeOutput (): Uint8Array[] {
    this.pings.pongsSent()
    return this.output.take()
  }
}
