/**
 * What the session knows of one stream: its direction, which halves are
 * closed, whether the open handshake finished, and both windows.
 */

import { INITIAL_STREAM_WINDOW } from './constants.js'
import type { ReceiveWindow } from './flow-control.js'

export class StreamState {
  /** Stream id; odd when the client opened it, even when the server did */
  readonly id: number
  /** True when this side opened the stream (sent the SYN) */
  readonly outbound: boolean
  /** Outbound: the peer's ACK arrived. Inbound: our ACK was sent */
  acknowledged = false
  /** We sent FIN: our direction is closed */
  localClosed = false
  /** The peer sent FIN: its direction is closed */
  remoteClosed = false
  /** A frame carrying the peer's FIN or RST is being received: no more credit is owed */
  remoteEnding = false
  /** Bytes we may still send before the peer grants more credit */
  sendWindow = INITIAL_STREAM_WINDOW
  /** A write found the send window empty: say so when credit arrives */
  waitingForCredit = false
  /** Accepted bytes of a partial Data frame, held until the next write or flush */
  held: Uint8Array[] = []
  /** Total length of `held` */
  heldBytes = 0
  /**
   * The writer was told to wait for the transport and will write again: what
   * it holds waits for that write instead of leaving as a short frame at the next flush
   */
  writerParked = false
  /** `held` outlived a flush because the writer is parked; it is not counted as pending output */
  heldParked = false
  /**
   * The last write was cut short by the send window: the next one carries its
   * rest, so however short, it is framed with what follows, not as a message of its own
   */
  writeCutShort = false
  /** The peer's data allowance and our grants */
  readonly receiveWindow: ReceiveWindow

  constructor (id: number, outbound: boolean, receiveWindow: ReceiveWindow) {
    this.id = id
    this.outbound = outbound
    this.receiveWindow = receiveWindow
  }

  /** Both directions closed: the stream is finished */
  get finished (): boolean {
    return this.localClosed && this.remoteClosed
  }

  /** Credit is only worth granting while the peer may still send */
  get wantsCredit (): boolean {
    return !this.remoteClosed && !this.remoteEnding
  }
}

/** Allocates this side's stream ids: odd for the client, even for the server, never reused */
export class StreamIdAllocator {
  private next: number

  /**
   * @param role - which side of the session we are
   * @param first - first id to hand out (for tests); must have the role's parity
   */
  constructor (role: 'client' | 'server', first?: number) {
    this.next = first ?? (role === 'client' ? 1 : 2)
  }

  /** Next id, or `undefined` when every id of our parity below 2^32 has been used */
  take (): number | undefined {
    if (this.next > 0xffff_ffff) {
      return undefined
    }
    const id = this.next
    this.next += 2
    return id
  }
}
