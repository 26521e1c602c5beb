/**
 * The peer's transport ends at the worst moment: inside a header, inside a
 * Data body, or with a reset. Every stream must end with an error (none
 * hangs), data received before stays readable, and nothing escapes.
 */

import { expect } from 'aegir/chai'
import { openFromMuxer, openFromPeer } from './helpers.js'
import { RawPeer, TYPE, header, within } from './raw-peer.js'
import type { StreamRecord } from './raw-peer.js'

async function expectAllEnded (records: StreamRecord[], names: string[]): Promise<Array<Error | undefined>> {
  const errors = await within(Promise.all(records.map(async r => r.closed)), 2000, 'every stream to end')
  for (const err of errors) {
    expect(err, 'stream ended with an error').to.be.an('error')
    expect(names).to.include(err?.name)
  }
  return errors
}

describe('hostile peer: the transport ends mid-frame', () => {
  let peer: RawPeer

  beforeEach(() => {
    peer = new RawPeer()
  })

  afterEach(async () => {
    await peer.close()
  })

  /** The current test's peer (tests declared in loops must not capture the variable) */
  function thePeer (): RawPeer {
    return peer
  }

  for (const cut of [1, 5, 11]) {
    it(`a header cut off after ${cut} bytes by the end of the stream`, async () => {
      const p = thePeer()
      const inbound = await openFromPeer(p, 2)
      const outbound = await openFromMuxer(p, 1)
      p.write(header({ type: TYPE.Data, streamId: 1, length: 10 }).subarray(0, cut))
      await p.end()
      await expectAllEnded([...inbound, ...outbound], ['TransportClosedError'])
      expect(p.muxer.status).to.equal('closed')
      expect(p.muxer.session.midFrame).to.equal(true)
    })
  }

  it('a header cut off with no stream open closes quietly', async () => {
    peer.write(header({ type: TYPE.Ping, flags: 1, length: 3 }).subarray(0, 7))
    await peer.end()
    await peer.waitFor(() => peer.muxer.status === 'closed', 1000, 'the muxer to close')
  })

  it('a disconnect in the middle of a Data body: the bytes before stay readable, then the stream ends with an error', async () => {
    const [stream, other] = await openFromPeer(peer, 2)
    const body = new Uint8Array(1000).map((_, i) => i & 0xff)
    peer.write(header({ type: TYPE.Data, streamId: 1, length: 1000 }), body.subarray(0, 600))
    await peer.end()
    await expectAllEnded([stream, other], ['TransportClosedError'])
    const received = new Uint8Array(stream.chunks.reduce<number[]>((all, c) => [...all, ...c], []))
    expect(received).to.deep.equal(body.subarray(0, 600))
  })

  it('a disconnect in the middle of a Data body read with for await: the loop ends with an error, never hangs', async () => {
    peer = new RawPeer({ readStreams: false })
    const [record] = await openFromPeer(peer, 1)
    const read = (async () => {
      let bytes = 0
      try {
        for await (const chunk of record.stream) {
          bytes += chunk.byteLength
        }
      } catch (err: any) {
        return { bytes, err }
      }
      return { bytes, err: undefined }
    })()
    peer.write(header({ type: TYPE.Data, streamId: 1, length: 5000 }), new Uint8Array(1234))
    await peer.end()
    const { bytes, err } = await within(read, 2000, 'the read loop to end')
    expect(bytes).to.equal(1234)
    expect(err?.name).to.equal('TransportClosedError')
  })

  it('a transport reset in the middle of a Data body', async () => {
    const inbound = await openFromPeer(peer, 3)
    const outbound = await openFromMuxer(peer, 2)
    peer.write(header({ type: TYPE.Data, streamId: 3, length: 100_000 }), new Uint8Array(50_000))
    await peer.flush()
    peer.reset()
    await expectAllEnded([...inbound, ...outbound], ['TransportClosedError'])
    expect(peer.muxer.status).to.equal('closed')
    await expect(peer.muxer.createStream()).to.eventually.be.rejected()
  })

  it('a pending write is not lost silently: writers see the stream end with an error', async () => {
    const [record] = await openFromPeer(peer, 1)
    // exhaust the send window so a write stays pending
    record.stream.send(new Uint8Array(256 * 1024 + 10_000))
    let drainError: Error | undefined
    const waiting = record.stream.onDrain().catch(err => { drainError = err })
    await peer.end()
    await expectAllEnded([record], ['TransportClosedError'])
    await within(waiting, 1000, 'onDrain() to settle')
    expect(drainError?.name).to.equal('TransportClosedError')
  })
})
