/**
 * Faults: the transport closes in the middle of transfers in each direction,
 * a peer goes silent, abort during close, close during open, and thousands of
 * streams closing at once. Every stream must end (with an error when its
 * transfer was cut short), nothing may hang, and nothing may escape
 * (test/setup.ts fails a test on any unhandled rejection, uncaught exception
 * or listener-leak warning).
 */

import { multiaddrConnectionPair } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import { yamux } from '../src/index.js'
import { tcpConnectionPair } from './fixtures/socket-connection.js'
import { openFromMuxer, openFromPeer } from './hostile/helpers.js'
import { FLAG, RawPeer, TYPE, sleep, track, waitUntil, within } from './hostile/raw-peer.js'
import type { YamuxInit, YamuxMuxer } from '../src/index.js'
import type { StreamRecord } from './hostile/raw-peer.js'
import type { MessageStream } from '@libp2p/interface'

const KiB = 1024
const MiB = 1024 * KiB

interface Pair {
  client: YamuxMuxer
  server: YamuxMuxer
  clientConn: MessageStream
  serverConn: MessageStream
  /** Streams the server accepted */
  accepted: StreamRecord[]
}

/** Every pair connected by the current test, torn down after it */
const openPairs: Pair[] = []

async function connect (transport: 'tcp' | 'memory', init: YamuxInit = {}): Promise<Pair> {
  const [clientConn, serverConn] = transport === 'tcp' ? await tcpConnectionPair() : multiaddrConnectionPair()
  const options: YamuxInit = { enableKeepAlive: false, maxInboundStreams: 20_000, maxOutboundStreams: 20_000, ...init }
  const client = yamux(options)().createStreamMuxer(clientConn)
  const server = yamux(options)().createStreamMuxer(serverConn)
  const accepted: StreamRecord[] = []
  server.addEventListener('stream', (evt) => { accepted.push(track(evt.detail)) })
  const pair = { client, server, clientConn, serverConn, accepted }
  openPairs.push(pair)
  return pair
}

async function teardown (pair: Pair): Promise<void> {
  for (const muxer of [pair.client, pair.server]) {
    muxer.abort(new Error('test over'))
  }
  for (const conn of [pair.clientConn, pair.serverConn]) {
    if (conn.status === 'open') {
      conn.abort(new Error('test over'))
    }
  }
  await sleep(5)
}

/** A stream writer that keeps sending `total` bytes, respecting backpressure; resolves with what was sent and how it ended */
async function keepWriting (record: StreamRecord, total: number): Promise<{ sent: number, error?: Error }> {
  const chunk = new Uint8Array(16 * KiB).fill(0xab)
  let sent = 0
  try {
    while (sent < total) {
      if (!record.stream.send(chunk)) {
        await record.stream.onDrain()
      }
      sent += chunk.byteLength
    }
    await record.stream.close()
    return { sent }
  } catch (err: any) {
    return { sent, error: err }
  }
}

/** Every record closes within `ms`, each with an error; returns the error names */
async function expectAllEndWithError (records: StreamRecord[], ms = 3000): Promise<string[]> {
  const errors = await within(Promise.all(records.map(async r => r.closed)), ms, `all ${records.length} streams to end`)
  const names = errors.map(e => e?.name ?? 'no error')
  expect(names.filter(n => n === 'no error'), 'streams cut short end with an error').to.deep.equal([])
  return names
}

describe('faults', function () {
  this.timeout(30_000)

  afterEach(async () => {
    await Promise.all(openPairs.splice(0).map(teardown))
  })

  for (const transport of ['tcp', 'memory'] as const) {
    for (const who of ['client', 'server'] as const) {
      it(`${transport}: the ${who}'s transport closes in the middle of transfers both ways; every stream ends with an error, none hangs`, async () => {
        const pair = await connect(transport)
        const { client, server, accepted } = pair
        const outbound: StreamRecord[] = []
        for (let i = 0; i < 20; i++) {
          outbound.push(track(await client.createStream()))
        }
        await waitUntil(() => accepted.length >= 20, 2000, 'accepting')
        // big transfers both ways, far from finished when the transport goes
        const writers = [
          ...outbound.map(async r => keepWriting(r, 64 * MiB)),
          ...accepted.map(async r => keepWriting(r, 64 * MiB))
        ]
        const received = (records: StreamRecord[]): number => records.reduce((n, r) => n + r.bytes, 0)
        await waitUntil(() => received(accepted) >= MiB && received(outbound) >= MiB, 5000, 'transfers to get going')
        const conn = who === 'client' ? pair.clientConn : pair.serverConn
        conn.abort(new Error(`the ${who}'s transport failed`))
        const names = await expectAllEndWithError([...outbound, ...accepted])
        expect([...new Set(names)], 'every stream says the transport closed').to.deep.equal(['TransportClosedError'])
        const results = await within(Promise.all(writers), 3000, 'every writer to give up')
        expect(results.every(r => r.error != null), 'no writer believes it finished').to.equal(true)
        expect(client.streams).to.have.lengthOf(0)
        expect(server.streams).to.have.lengthOf(0)
        await waitUntil(() => client.status === 'closed' && server.status === 'closed', 2000, 'both muxers to close')
      })
    }

    it(`${transport}: the transport ends gracefully (FIN) in the middle of transfers; every stream ends with an error`, async () => {
      const pair = await connect(transport)
      const { client, accepted } = pair
      const outbound = [track(await client.createStream()), track(await client.createStream())]
      outbound.forEach(r => { void keepWriting(r, 64 * MiB) })
      await waitUntil(() => accepted.reduce((n, r) => n + r.bytes, 0) >= 512 * KiB, 5000, 'transfers to get going')
      await pair.serverConn.close({ signal: AbortSignal.timeout(1000) }).catch(() => {})
      const names = await expectAllEndWithError([...outbound, ...accepted])
      expect([...new Set(names)]).to.deep.equal(['TransportClosedError'])
    })

    it(`${transport}: for-await readers end with an error when the transport goes, they do not hang`, async () => {
      const pair = await connect(transport)
      const { client, accepted } = pair
      const outbound = await client.createStream()
      outbound.send(new Uint8Array(1000))
      await waitUntil(() => accepted.length >= 1, 2000, 'accepting')
      const reading = (async () => {
        let chunks = 0
        try {
          for await (const chunk of outbound) {
            chunks += chunk.byteLength > 0 ? 1 : 0
          }
        } catch (err: any) {
          return { chunks, err: err as Error }
        }
        return { chunks, err: undefined }
      })()
      await sleep(10)
      pair.clientConn.abort(new Error('gone'))
      const { chunks, err } = await within(reading, 2000, 'the read loop to end')
      expect(chunks, 'the server never wrote').to.equal(0)
      expect(err?.name).to.equal('TransportClosedError')
    })
  }

  describe('a peer goes silent', () => {
    let peer: RawPeer | undefined

    afterEach(async () => {
      await peer?.close()
      peer = undefined
    })

    it('keepalive closes the connection within keepAliveInterval + pingTimeout, streams end with PingTimeoutError', async () => {
      const keepAliveInterval = 200
      const pingTimeout = 300
      peer = new RawPeer({ yamux: { enableKeepAlive: true, keepAliveInterval, pingTimeout } })
      const streams = [...await openFromPeer(peer, 2), ...await openFromMuxer(peer, 1)]
      // the peer answers nothing from now on
      const silentSince = performance.now()
      await peer.waitForTransportEnd(keepAliveInterval + pingTimeout + 1000)
      const elapsed = performance.now() - silentSince
      expect(elapsed, 'closed within interval + timeout (+ slack)').to.be.lessThan(keepAliveInterval + pingTimeout + 200)
      expect(elapsed, 'not before the ping could time out').to.be.at.least(pingTimeout - 20)
      const ping = peer.framesWhere(f => f.type === TYPE.Ping && (f.flags & FLAG.SYN) !== 0)
      expect(ping.length, 'a keepalive ping was sent').to.be.greaterThan(0)
      const goAway = peer.goAways
      expect(goAway.map(f => f.length), 'Go Away 2 (internal error)').to.deep.equal([2])
      const errors = await within(Promise.all(streams.map(async r => r.closed)), 1000, 'streams to end')
      for (const err of errors) {
        expect(err?.name).to.equal('PingTimeoutError')
      }
      expect(peer.muxer.status).to.equal('closed')
    })

    it('a peer that answers keepalive pings keeps the connection through many intervals', async () => {
      peer = new RawPeer({ yamux: { enableKeepAlive: true, keepAliveInterval: 50, pingTimeout: 100 } })
      const [stream] = await openFromPeer(peer, 1)
      const p = peer
      let answered = 0
      const answer = setInterval(() => {
        for (const f of p.framesWhere(f => f.type === TYPE.Ping && (f.flags & FLAG.SYN) !== 0).slice(answered)) {
          p.send({ type: TYPE.Ping, flags: FLAG.ACK, streamId: 0, length: f.length })
          answered++
        }
      }, 10)
      try {
        await sleep(600)
      } finally {
        clearInterval(answer)
      }
      expect(answered, 'several keepalive pings').to.be.greaterThan(2)
      expect(peer.goAways).to.have.lengthOf(0)
      expect(stream.stream.status).to.equal('open')
      expect(peer.muxer.status).to.equal('open')
    })

    it('a silent peer is detected even while we keep sending to it', async () => {
      peer = new RawPeer({ yamux: { enableKeepAlive: true, keepAliveInterval: 200, pingTimeout: 300 } })
      const [record] = await openFromPeer(peer, 1)
      const sending = setInterval(() => {
        if (record.stream.status === 'open' && record.stream.writeStatus === 'writable') {
          record.stream.send(new Uint8Array(100))
        }
      }, 20)
      try {
        await peer.waitForTransportEnd(200 + 300 + 1000)
      } finally {
        clearInterval(sending)
      }
      expect((await record.closed)?.name).to.equal('PingTimeoutError')
    })
  })

  describe('abort during close, close during open', () => {
    let peer: RawPeer | undefined

    afterEach(async () => {
      await peer?.close()
      peer = undefined
    })

    // Regression: @libp2p/utils' AbstractStream.close() waits for 'drain' after
    // 'idle'; an abort meanwhile fires 'close' first, so that wait never ended.
    // YamuxStream.close() also ends when the stream closes.
    it('abort during a graceful close that waits for window credit: close() settles, streams end with the abort error, Go Away 2', async () => {
      peer = new RawPeer()
      const [record] = await openFromPeer(peer, 1)
      // more than the window: close() must wait for credit the peer never grants
      record.stream.send(new Uint8Array(256 * KiB + 100 * KiB))
      const closing = peer.muxer.close().then(() => undefined, (err: Error) => err)
      await sleep(20)
      expect(peer.muxer.status).to.equal('closing')
      peer.muxer.abort(new Error('impatient'))
      await within(closing, 1000, 'close() to settle after abort()')
      const err = await within(record.closed, 1000, 'the stream to end')
      expect(err?.message).to.equal('impatient')
      const goAway = await peer.waitForFrame(f => f.type === TYPE.GoAway)
      expect(goAway.length, 'Go Away 2, not 0').to.equal(2)
      expect(peer.goAways).to.have.lengthOf(1)
      await peer.waitForTransportEnd()
    })

    it('stream.close() waiting for window credit settles when the stream is aborted', async () => {
      peer = new RawPeer()
      const [record] = await openFromPeer(peer, 1)
      record.stream.send(new Uint8Array(256 * KiB + 100 * KiB))
      const closing = record.stream.close().then(() => undefined, (err: Error) => err)
      await sleep(10)
      record.stream.abort(new Error('never mind'))
      await within(closing, 1000, 'stream.close() to settle after abort()')
    })

    // Regression: a transport dying during muxer.close() must end streams that
    // had not finished with TransportClosedError, not cleanly.
    it('muxer.close() waiting for window credit settles when the transport dies, and the cut-short stream ends with an error', async () => {
      peer = new RawPeer()
      const [record] = await openFromPeer(peer, 1)
      record.stream.send(new Uint8Array(256 * KiB + 100 * KiB))
      const closing = peer.muxer.close().then(() => undefined, (err: Error) => err)
      await sleep(10)
      peer.reset()
      await within(closing, 1000, 'muxer.close() to settle after the transport reset')
      expect((await record.closed)?.name).to.equal('TransportClosedError')
    })

    it('close() bounded by an abort signal gives up and still sends Go Away', async () => {
      peer = new RawPeer()
      const [record] = await openFromPeer(peer, 1)
      record.stream.send(new Uint8Array(300 * KiB))
      await expect(peer.muxer.close({ signal: AbortSignal.timeout(50) })).to.eventually.be.rejected()
      await peer.waitForFrame(f => f.type === TYPE.GoAway)
    })

    it('close() in the same tick as createStream(): the stream is either refused or closed cleanly, close() resolves', async () => {
      peer = new RawPeer({ muxerRole: 'client' })
      const opening = peer.muxer.createStream().then(s => track(s), (err: Error) => err)
      const closing = peer.muxer.close()
      const p = peer
      // the peer ACKs and FINs whatever SYN it sees
      const serve = setInterval(() => {
        for (const f of p.framesWhere(f => (f.flags & FLAG.SYN) !== 0)) {
          p.send({ type: TYPE.WindowUpdate, flags: FLAG.ACK | FLAG.FIN, streamId: f.streamId, length: 0 })
        }
        p.frames.splice(0)
      }, 5)
      try {
        await within(closing, 2000, 'close()')
        const result = await within(opening, 1000, 'createStream()')
        if (result instanceof Error) {
          expect(result.name).to.be.oneOf(['MuxerClosedError', 'SessionClosedError'])
        } else {
          await within(result.closed, 1000, 'the stream to close')
        }
      } finally {
        clearInterval(serve)
      }
    })

    it('close() while the remote has not ACKed our new streams: close() resolves, no stream hangs', async () => {
      peer = new RawPeer({ muxerRole: 'client' })
      const records = [track(await peer.muxer.createStream()), track(await peer.muxer.createStream())]
      records[0].stream.send(new Uint8Array(10))
      const closing = peer.muxer.close()
      await peer.waitForFrame(f => f.streamId === records[1].stream.streamId && (f.flags & FLAG.FIN) !== 0)
      // the peer finally answers: ACK and FIN
      for (const r of records) {
        peer.send({ type: TYPE.WindowUpdate, flags: FLAG.ACK | FLAG.FIN, streamId: r.stream.streamId, length: 0 })
      }
      await within(closing, 2000, 'close()')
      await within(Promise.all(records.map(async r => r.closed)), 1000, 'streams to close')
      expect((await peer.waitForFrame(f => f.type === TYPE.GoAway)).length).to.equal(0)
    })

    // Regression: createStream() calls waiting for the ACK backlog are woken by
    // close(), abort() and session failure, and then reject.
    it('close() while createStream() waits for the ACK backlog: the waiting createStream() rejects', async () => {
      peer = new RawPeer({ muxerRole: 'client' })
      for (let i = 0; i < 256; i++) {
        await peer.muxer.createStream()
      }
      const waiting = peer.muxer.createStream().then(() => 'opened', (err: Error) => err.name)
      await sleep(10)
      void peer.muxer.close().catch(() => {})
      expect(await within(waiting, 1000, 'the waiting createStream() to settle')).to.not.equal('opened')
    })

    it('abort() while createStream() waits for the ACK backlog: the waiting createStream() rejects', async () => {
      peer = new RawPeer({ muxerRole: 'client' })
      for (let i = 0; i < 256; i++) {
        await peer.muxer.createStream()
      }
      const waiting = peer.muxer.createStream().then(() => 'opened', (err: Error) => err.name)
      await sleep(10)
      peer.muxer.abort(new Error('bye'))
      expect(await within(waiting, 1000, 'the waiting createStream() to settle')).to.not.equal('opened')
    })

    it('createStream() waiting for the ACK backlog honours its abort signal', async () => {
      peer = new RawPeer({ muxerRole: 'client' })
      for (let i = 0; i < 256; i++) {
        await peer.muxer.createStream()
      }
      const controller = new AbortController()
      const waiting = peer.muxer.createStream({ signal: controller.signal })
      await sleep(10)
      controller.abort(new Error('gave up'))
      await expect(within(waiting, 1000, 'createStream() to reject')).to.eventually.be.rejected().with.property('message', 'gave up')
    })
  })

  describe('thousands of streams closing at once', () => {
    for (const transport of ['memory', 'tcp'] as const) {
      it(`${transport}: 5,000 streams closed at the same moment from both sides all close cleanly`, async () => {
        const pair = await connect(transport)
        const { client, server, accepted } = pair
        const count = 5000
        const outbound: StreamRecord[] = []
        for (let i = 0; i < count; i++) {
          const record = track(await client.createStream())
          record.stream.send(new Uint8Array([i & 0xff, 1, 2, 3]))
          outbound.push(record)
        }
        await waitUntil(() => accepted.length >= count, 10_000, 'accepting 5,000 streams')
        accepted.forEach(r => r.stream.send(new Uint8Array([9])))
        await Promise.all([...outbound, ...accepted].map(async r => { await r.stream.close() }))
        const errors = await within(Promise.all([...outbound, ...accepted].map(async r => r.closed)), 10_000, 'every stream to close')
        expect(errors.filter(e => e != null).map(e => e?.name)).to.deep.equal([])
        expect(outbound.every(r => r.bytes === 1)).to.equal(true)
        expect(accepted.every(r => r.bytes === 4)).to.equal(true)
        expect(client.streams).to.have.lengthOf(0)
        expect(server.streams).to.have.lengthOf(0)
        expect(client.session.streamCount).to.equal(0)
        expect(server.session.streamCount).to.equal(0)
      })
    }

    it('memory: muxer.close() with 5,000 open streams closes them all and resolves', async () => {
      const pair = await connect('memory')
      const { client, accepted } = pair
      const outbound: StreamRecord[] = []
      for (let i = 0; i < 5000; i++) {
        outbound.push(track(await client.createStream()))
      }
      await waitUntil(() => accepted.length >= 5000, 10_000, 'accepting')
      // the server closes its halves as soon as ours arrive
      accepted.forEach(r => { r.stream.addEventListener('remoteCloseWrite', () => { void r.stream.close() }) })
      await within(client.close(), 10_000, 'close() with 5,000 streams')
      const errors = await within(Promise.all(outbound.map(async r => r.closed)), 10_000, 'every stream to close')
      expect(errors.filter(e => e != null)).to.deep.equal([])
    })

    it('memory: muxer.abort() with 5,000 open streams ends them all on both sides', async () => {
      const pair = await connect('memory')
      const { client, accepted } = pair
      const outbound: StreamRecord[] = []
      for (let i = 0; i < 5000; i++) {
        outbound.push(track(await client.createStream()))
      }
      await waitUntil(() => accepted.length >= 5000, 10_000, 'accepting')
      client.abort(new Error('everything must go'))
      await expectAllEndWithError([...outbound, ...accepted], 10_000)
    })

    // Regression: onSessionError aborts the streams with the error before it
    // writes the Go Away, which may close a synchronous transport at once.
    it('memory: muxer.abort(err) ends our streams with err itself, the peer\'s with RemoteGoAwayError code 2', async () => {
      const pair = await connect('memory')
      const { client, accepted } = pair
      const outbound: StreamRecord[] = []
      for (let i = 0; i < 10; i++) {
        outbound.push(track(await client.createStream()))
      }
      await waitUntil(() => accepted.length >= 10, 2000, 'accepting')
      client.abort(new Error('everything must go'))
      await expectAllEndWithError([...outbound, ...accepted])
      expect(outbound.map(r => r.closeError?.message)).to.deep.equal(outbound.map(() => 'everything must go'))
      for (const r of accepted) {
        expect(r.closeError?.name).to.equal('RemoteGoAwayError')
        expect((r.closeError as Error & { code?: number }).code).to.equal(2)
      }
    })

    it('memory: the transport dies under 5,000 open streams: all end with an error', async () => {
      const pair = await connect('memory')
      const { client, accepted } = pair
      const outbound: StreamRecord[] = []
      for (let i = 0; i < 5000; i++) {
        outbound.push(track(await client.createStream()))
      }
      await waitUntil(() => accepted.length >= 5000, 10_000, 'accepting')
      pair.serverConn.abort(new Error('gone'))
      const names = await expectAllEndWithError([...outbound, ...accepted], 10_000)
      expect([...new Set(names)]).to.deep.equal(['TransportClosedError'])
    })
  })
})
