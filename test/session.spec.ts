import { createHash, randomBytes } from 'node:crypto'
import { expect } from 'aegir/chai'
import { DuplexSession, GoAwayCode } from '../src/session/index.js'
import { socketDuplex, socketPair } from './fixtures/duplex.js'
import type { SessionStream } from '../src/session/index.js'
import type net from 'node:net'

async function connectedSessions (init: { enableKeepAlive?: boolean } = {}): Promise<{ client: DuplexSession, server: DuplexSession, sockets: net.Socket[] }> {
  const sockets = await socketPair()
  const client = new DuplexSession({ role: 'client', ...init })
  const server = new DuplexSession({ role: 'server', ...init })
  for (const [session, socket] of [[client, sockets[0]], [server, sockets[1]]] as const) {
    const duplex = socketDuplex(socket)
    void session.sink(duplex.source)
    void duplex.sink(session.source)
  }
  return { client, server, sockets }
}

async function readAll (stream: SessionStream): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of stream) {
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

async function echo (stream: SessionStream): Promise<void> {
  for await (const chunk of stream) {
    await stream.write(chunk)
  }
  await stream.shutdown('write')
}

function sha256 (data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

describe('standalone duplex session', () => {
  let sockets: net.Socket[] = []

  afterEach(() => {
    sockets.forEach(socket => socket.destroy())
    sockets = []
  })

  it('opens, accepts and echoes 4 MiB on each of 8 streams, every byte intact', async () => {
    const pair = await connectedSessions()
    sockets = pair.sockets
    void (async () => {
      while (true) {
        const stream = await pair.server.acceptStream().catch(() => undefined)
        if (stream == null) { return }
        void echo(stream)
      }
    })()

    await Promise.all(Array.from({ length: 8 }, async () => {
      const stream = await pair.client.openStream()
      const data = randomBytes(4 * 1024 * 1024)
      const received = readAll(stream)
      for (let offset = 0; offset < data.length; offset += 100_000) {
        await stream.write(data.subarray(offset, offset + 100_000))
      }
      await stream.shutdown('write')
      expect(sha256(await received)).to.equal(sha256(data))
    }))
    await pair.client.close()
  })

  it('half-close: the reader sees end of stream while the other direction still flows', async () => {
    const pair = await connectedSessions()
    sockets = pair.sockets
    const accepted = pair.server.acceptStream()
    const stream = await pair.client.openStream()
    await stream.write(Uint8Array.from([1, 2, 3]))
    await stream.shutdown('write')
    const remote = await accepted
    expect([...await readAll(remote)]).to.deep.equal([1, 2, 3])
    await remote.write(Uint8Array.from([4, 5]))
    await remote.close()
    expect([...await readAll(stream)]).to.deep.equal([4, 5])
    await expect(stream.write(Uint8Array.from([6]))).to.eventually.be.rejected.with.property('name', 'StreamNotWritableError')
  })

  it('a reset reaches the other side as RemoteResetError with its code, after the data sent before it', async () => {
    const pair = await connectedSessions()
    sockets = pair.sockets
    const accepted = pair.server.acceptStream()
    const stream = await pair.client.openStream()
    await stream.write(Uint8Array.from([9, 9]))
    const remote = await accepted
    expect([...(await remote.read()) ?? []]).to.deep.equal([9, 9])
    stream.reset(42)
    const err = await remote.read().then(() => undefined, (err: Error) => err)
    expect(err).to.have.property('name', 'RemoteResetError')
    expect(err).to.have.property('code', 42)
  })

  it('pings both ways and reports a round-trip time', async () => {
    const pair = await connectedSessions()
    sockets = pair.sockets
    const [a, b] = await Promise.all([pair.client.ping(), pair.server.ping()])
    expect(a).to.be.a('number').that.is.at.least(0)
    expect(b).to.be.a('number').that.is.at.least(0)
  })

  it('after the remote sends Go Away 0, no new streams open but open ones finish', async () => {
    const pair = await connectedSessions()
    sockets = pair.sockets
    const accepted = pair.server.acceptStream()
    const stream = await pair.client.openStream()
    await stream.write(Uint8Array.from([1]))
    const remote = await accepted
    pair.server.goAway(GoAwayCode.Normal)
    await expect(remote.read()).to.eventually.deep.equal(Uint8Array.from([1]))
    // the Go Away reaches the client before the next write's reply
    await remote.write(Uint8Array.from([2]))
    expect([...(await stream.read()) ?? []]).to.deep.equal([2])
    await expect(pair.client.openStream()).to.eventually.be.rejected.with.property('name', 'SessionClosedError')
    await stream.write(Uint8Array.from([3]))
    await stream.shutdown('write')
    expect([...await readAll(remote)]).to.deep.equal([3])
  })

  it('graceful close delivers everything written before it', async () => {
    const pair = await connectedSessions()
    sockets = pair.sockets
    const accepted = pair.server.acceptStream()
    const stream = await pair.client.openStream()
    const data = randomBytes(1024 * 1024)
    const writing = stream.write(data)
    const remote = await accepted
    const received = readAll(remote)
    await writing
    await pair.client.close()
    expect(sha256(await received)).to.equal(sha256(data))
    await pair.client.closed
  })
})
