/**
 * StreamMuxerOptions and StreamOptions that the `@libp2p/utils` base classes
 * declare but do not enforce.
 */

import { expect } from 'aegir/chai'
import { pEvent } from 'p-event'
import { delay, muxerPair } from './fixtures/pair.js'
import type { StreamCloseEvent } from '@libp2p/interface'

describe('stream options the base classes do not enforce', () => {
  it('inactivityTimeout: a stream with no traffic for that long is aborted with TimeoutError; a busy one is not', async () => {
    const pair = muxerPair({ streamOptions: { inactivityTimeout: 200 } })
    pair.server.addEventListener('stream', () => {})
    const idle = await pair.client.createStream()
    const busy = await pair.client.createStream()
    const closed = pEvent<'close', StreamCloseEvent>(idle, 'close')
    const keepBusy = setInterval(() => { busy.send(new Uint8Array(1)) }, 20)
    try {
      const evt = await closed
      expect(evt.error).to.have.property('name', 'TimeoutError')
      expect(busy.status).to.equal('open')
    } finally {
      clearInterval(keepBusy)
    }
  })

  it('inactivityTimeout set per stream by createStream options', async () => {
    const pair = muxerPair()
    pair.server.addEventListener('stream', () => {})
    const stream = await pair.client.createStream({ inactivityTimeout: 100 })
    const evt = await pEvent<'close', StreamCloseEvent>(stream, 'close')
    expect(evt.error).to.have.property('name', 'TimeoutError')
  })

  it('inactivityTimeout 0 disables it', async () => {
    const pair = muxerPair({ streamOptions: { inactivityTimeout: 0 } })
    pair.server.addEventListener('stream', () => {})
    const stream = await pair.client.createStream()
    await delay(150)
    expect(stream.status).to.equal('open')
  })

  it('maxOutboundStreams: createStream rejects with TooManyOutboundStreamsError beyond it, and works again once one closes', async () => {
    const pair = muxerPair({ maxOutboundStreams: 2 })
    pair.server.addEventListener('stream', (evt) => { void evt.detail.close() })
    const first = await pair.client.createStream()
    await pair.client.createStream()
    await expect(pair.client.createStream()).to.eventually.be.rejected.with.property('name', 'TooManyOutboundStreamsError')
    first.abort(new Error('done with it'))
    const third = await pair.client.createStream()
    expect(third.status).to.equal('open')
  })
})
