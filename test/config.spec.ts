import { expect } from 'aegir/chai'
import { resolveOptions } from '../src/config.js'
import { DEFAULTS, yamux } from '../src/index.js'
import type { YamuxInit } from '../src/index.js'

describe('options', () => {
  const invalid: Array<[string, YamuxInit]> = [
    ['maxMessageSize', { maxMessageSize: 12 }],
    ['maxMessageSize', { maxMessageSize: 2 * 1024 * 1024 }],
    ['initialStreamWindowSize', { initialStreamWindowSize: 1000 }],
    ['maxStreamWindowSize', { initialStreamWindowSize: 1024 * 1024, maxStreamWindowSize: 512 * 1024 }],
    ['maxStreamWindowSize', { maxStreamWindowSize: 1.5 }],
    ['connectionReceiveBudget', { connectionReceiveBudget: -1 }],
    ['enableKeepAlive', { enableKeepAlive: 'yes' as unknown as boolean }],
    ['keepAliveInterval', { keepAliveInterval: 0 }],
    ['pingTimeout', { pingTimeout: Number.NaN }],
    ['maxInboundStreams', { maxInboundStreams: -1 }],
    ['maxOutboundStreams', { maxOutboundStreams: 1.5 }],
    ['maxEarlyStreams', { maxEarlyStreams: -2 }],
    ['streamOptions.maxReadBufferLength', { streamOptions: { maxReadBufferLength: 1000 } }],
    ['streamOptions.inactivityTimeout', { streamOptions: { inactivityTimeout: -5 } }],
    ['streamOptions.maxWriteBufferLength', { streamOptions: { maxWriteBufferLength: -1 } }]
  ]

  for (const [option, init] of invalid) {
    it(`yamux() throws InvalidOptionError naming ${option} for ${JSON.stringify(init)}`, () => {
      expect(() => yamux(init)).to.throw().that.satisfies((err: Error & { option?: string }) => {
        return err.name === 'InvalidOptionError' && err.option === option && err.message.includes(option)
      })
    })
  }

  it('applies the documented defaults', () => {
    const options = resolveOptions()
    expect(options.initialStreamWindowSize).to.equal(DEFAULTS.initialStreamWindowSize)
    expect(options.maxStreamWindowSize).to.equal(DEFAULTS.maxStreamWindowSize)
    expect(options.maxMessageSize).to.equal(65_519)
    expect(options.enableKeepAlive).to.be.true()
    expect(options.streamOptions.inactivityTimeout).to.equal(120_000)
    // a stream never gets more credit than it is willing to buffer
    expect(options.streamOptions.maxReadBufferLength).to.equal(options.maxStreamWindowSize)
  })

  it('a smaller read buffer caps the stream window', () => {
    const options = resolveOptions({ streamOptions: { maxReadBufferLength: 1024 * 1024 } })
    expect(options.maxStreamWindowSize).to.equal(1024 * 1024)
  })

  it('the factory declares the protocol and the stream-multiplexing capability', () => {
    const factory = yamux()()
    expect(factory.protocol).to.equal('/yamux/1.0.0')
    const capabilities = (factory as unknown as Record<symbol, string[]>)[Symbol.for('@libp2p/service-capabilities')]
    expect(capabilities).to.include('@libp2p/stream-multiplexing')
  })
})
