/**
 * Shared steps of the hostile-peer tests.
 */

import { expect } from 'aegir/chai'
import { FLAG, TYPE, track, within } from './raw-peer.js'
import type { RawPeer, StreamRecord } from './raw-peer.js'

/** The peer opens `count` streams (SYN + a few bytes each) and waits until our muxer handed them all to the application */
export async function openFromPeer (peer: RawPeer, count: number, first = 0): Promise<StreamRecord[]> {
  const before = peer.accepted.length
  for (let i = 0; i < count; i++) {
    peer.openStream(peer.peerId(first + i))
  }
  await peer.flush()
  await peer.waitFor(() => peer.accepted.length >= before + count, 2000, `${count} accepted streams`)
  return peer.accepted.slice(before, before + count)
}

/** Our muxer opens `count` streams; the peer ACKs each */
export async function openFromMuxer (peer: RawPeer, count: number): Promise<StreamRecord[]> {
  const records: StreamRecord[] = []
  for (let i = 0; i < count; i++) {
    const stream = await peer.muxer.createStream()
    records.push(track(stream))
    const syn = await peer.waitForFrame(f => f.streamId === stream.streamId && (f.flags & FLAG.SYN) !== 0)
    peer.send({ type: TYPE.WindowUpdate, flags: FLAG.ACK, streamId: syn.streamId, length: 0 })
  }
  await peer.flush()
  return records
}

/** The connection still works: a ping from the peer is answered with the same value */
export async function expectAlive (peer: RawPeer, value = 0x5eed): Promise<void> {
  const from = peer.frames.length
  peer.send({ type: TYPE.Ping, flags: FLAG.SYN, streamId: 0, length: value })
  await peer.waitForFrame(f => f.type === TYPE.Ping && (f.flags & FLAG.ACK) !== 0 && f.length === value, 3000, from)
  expect(peer.muxer.status).to.equal('open')
  expect(peer.goAways, 'no Go Away').to.have.lengthOf(0)
}

/**
 * Our muxer answered with exactly one Go Away carrying `code`, every stream
 * ended with an error named `errorName`, and the transport was closed.
 */
export async function expectSessionFailed (peer: RawPeer, records: StreamRecord[], code: number, errorName: string): Promise<Error[]> {
  const goAway = await peer.waitForFrame(f => f.type === TYPE.GoAway)
  expect(goAway.streamId, 'Go Away on stream 0').to.equal(0)
  expect(goAway.length, `Go Away code (${peer.summary()})`).to.equal(code)
  const errors = await within(Promise.all(records.map(async r => r.closed)), 2000, 'every stream to close')
  for (const err of errors) {
    expect(err, 'stream closed with an error').to.be.an('error')
    expect(err?.name).to.equal(errorName)
  }
  await peer.waitForTransportEnd()
  expect(peer.muxer.status).to.equal('closed')
  expect(peer.goAways, 'exactly one Go Away').to.have.lengthOf(1)
  expect(peer.parseError).to.equal(undefined)
  return errors as Error[]
}

/** No Go Away, no RST for the given ids */
export function expectNoReaction (peer: RawPeer, from: number, ids: number[]): void {
  const reactions = peer.frames.slice(from).filter(f => f.type === TYPE.GoAway || (ids.includes(f.streamId) && (f.flags & FLAG.RST) !== 0))
  expect(reactions.map(f => `${f.type}/${f.flags}/${f.streamId}`), 'no Go Away, no RST').to.deep.equal([])
}
