/**
 * A smoke run of the benchmark code (tiny sizes, one repetition), so it does
 * not rot. Nothing here depends on timing.
 */

import fs from 'node:fs/promises'
import path from 'node:path'
import { expect } from 'aegir/chai'
import { Uint8ArrayList } from 'uint8arraylist'
import { HEADER_BYTES, shapeWrites } from '../benchmarks/lib/endpoint.js'
import { SMOKE_SIZES } from '../benchmarks/lib/options.js'
import { repetitionsOf } from '../benchmarks/lib/runner.js'
import { scenarioById } from '../benchmarks/lib/scenarios.js'
import { byRepetition, moreRepetitions, summarise } from '../benchmarks/lib/stats.js'
import { checkTargets } from '../benchmarks/lib/targets.js'
import { negotiate, negotiatedConnectionPair } from '../benchmarks/lib/tcp.js'
import { runBenchmarks } from '../benchmarks/run.js'
import { loopbackSocketPair } from './fixtures/socket-connection.js'
import type { Chunk, Endpoint } from '../benchmarks/lib/endpoint.js'
import type { Sample } from '../benchmarks/lib/worker.js'
import type { MessageStream } from '@libp2p/interface'

describe('benchmarks (smoke run)', function () {
  this.timeout(120_000)

  it('runs every scenario for every contender and writes the table, JSON and chart', async () => {
    const result = await runBenchmarks({ mode: 'smoke', log: () => {} })
    try {
      const failed = result.samples.filter(sample => !sample.ok)
      expect(failed, JSON.stringify(failed.slice(0, 3))).to.have.lengthOf(0)
      expect(result.samples.some(sample => sample.contender === 'ours')).to.be.true()
      await Promise.all([result.files.json, result.files.markdown, result.files.chart].map(async file => fs.access(file)))
    } finally {
      await fs.rm(path.dirname(result.files.json), { recursive: true, force: true })
    }
  })

  it('runs a baseline build of ours beside ours when given one, and names it in the results', async () => {
    // this checkout as its own baseline: the path is what is under test
    const root = path.resolve(process.cwd())
    const result = await runBenchmarks({ mode: 'smoke', only: ['reqresp'], contenders: ['ours', 'baseline'], baseline: root, log: () => {} })
    try {
      const failed = result.samples.filter(sample => !sample.ok)
      expect(failed, JSON.stringify(failed.slice(0, 3))).to.have.lengthOf(0)
      expect(result.samples.map(sample => sample.contender).sort()).to.deep.equal(['baseline', 'ours'])
      expect(result.baseline?.dir).to.equal(root)
      expect(await fs.readFile(result.files.markdown, 'utf8')).to.include(`Baseline: libp2p-yamux from ${root}`)
    } finally {
      await fs.rm(path.dirname(result.files.json), { recursive: true, force: true })
    }
  })

  it('the bare pipe with one sender per stream moves what the muxers move over their streams', async () => {
    const result = await runBenchmarks({ mode: 'smoke', only: ['concurrent', 'nodes-100'], contenders: ['ours', 'none'], log: () => {} })
    try {
      for (const scenario of ['concurrent', 'nodes-100']) {
        const sample = (label: string): Sample | undefined => result.samples.find(sample => sample.scenario === scenario && sample.label === label && sample.ok)
        const floor = sample('none (one sender per stream)')
        expect(floor?.units, scenario).to.be.a('number').that.equals(sample('ours')?.units)
        expect(floor?.extra?.senders, scenario).to.equal(SMOKE_SIZES[scenario === 'concurrent' ? 'concurrentStreams' : 'nodesStreams'])
        expect(sample('none')?.extra?.senders, scenario).to.equal(1)
      }
    } finally {
      await fs.rm(path.dirname(result.files.json), { recursive: true, force: true })
    }
  })

  it('without --baseline, the baseline contender is neither run nor reported as skipped', async () => {
    const result = await runBenchmarks({ mode: 'smoke', only: ['reqresp'], contenders: ['ours'], log: () => {} })
    try {
      expect(result.samples.every(sample => sample.contender === 'ours')).to.be.true()
      expect(result.skipped).to.not.have.property('baseline')
    } finally {
      await fs.rm(path.dirname(result.files.json), { recursive: true, force: true })
    }
  })
})

describe('benchmark targets', () => {
  it('are decided on the ratio of medians, and counted per repetition', () => {
    const sample = (label: string, rep: number, value: number): Sample => ({ scenario: 'reqresp', label, contender: label, rep, ok: true, value })
    // ours ÷ chainsafe per repetition: 2.5, 1.5, 2.2; ratio of medians 2.2 / 1 = 2.2
    const samples = [sample('ours', 0, 2.5), sample('chainsafe', 0, 1), sample('ours', 1, 1.5), sample('chainsafe', 1, 1), sample('ours', 2, 2.2), sample('chainsafe', 2, 1)]
    const summaries = summarise([{ id: 'reqresp', variants: [{ label: 'ours', contender: 'ours' }, { label: 'chainsafe', contender: 'chainsafe' }] }], samples)
    const check = checkTargets(summaries, 'ours', byRepetition(summaries, samples)).find(t => t.target === 'round trips/s ≥ 2.0 × chainsafe')
    expect(check?.measured).to.equal(2.2)
    expect(check?.pass).to.be.true()
    expect(check?.perRepetition).to.deep.equal([2.5, 1.5, 2.2])
    expect(check?.heldIn).to.equal(2)
  })

  it('count every repetition of a scenario measured more often than the others', () => {
    const sample = (scenario: string, rep: number, value: number): Sample => ({ scenario, label: 'ours', contender: 'ours', rep, ok: true, value })
    // beside idle streams ÷ alone per repetition: 0.8, 1.0, 0.95, 1.2; reqresp had one repetition
    const idle = [0.8, 1.0, 0.95, 1.2].flatMap((ratio, rep) => [sample('idle', rep, ratio * 100), sample('idle-alone', rep, 100)])
    const samples = [...idle, sample('reqresp', 0, 1)]
    const shapes = ['idle', 'idle-alone', 'reqresp'].map(id => ({ id, variants: [{ label: 'ours', contender: 'ours' }] }))
    const summaries = summarise(shapes, samples)
    const check = checkTargets(summaries, 'ours', byRepetition(summaries, samples)).find(t => t.target === 'MB/s ≥ 0.9 × the same transfer alone')
    expect(check?.perRepetition).to.deep.equal([0.8, 1.0, 0.95, 1.2])
    expect(check?.heldIn).to.equal(3)
    // the caption of the table and the chart names them
    expect(moreRepetitions(samples, 1)).to.equal(' (idle and idle-alone: 4)')
  })
})

describe('benchmark schedule', () => {
  it('gives the idle scenarios three times the repetitions in full and quick runs, and no more in a smoke run', () => {
    for (const id of ['idle', 'idle-alone']) {
      const scenario = scenarioById(id)
      expect(repetitionsOf(scenario, 7, 'full'), id).to.equal(21)
      expect(repetitionsOf(scenario, 3, 'quick'), id).to.equal(9)
      expect(repetitionsOf(scenario, 1, 'smoke'), id).to.equal(1)
    }
    expect(repetitionsOf(scenarioById('bulk'), 7, 'full')).to.equal(7)
  })
})

describe('benchmark write shapes (the header floors)', () => {
  const write = Uint8Array.from({ length: 1000 }, (_, i) => i % 251)
  const recorder = (): { end: Endpoint, sent: Chunk[] } => {
    const sent: Chunk[] = []
    const end = { send: (data: Chunk) => { sent.push(data); return true } } as unknown as Endpoint
    return { end, sent }
  }
  const bytesOf = (chunk: Chunk): Uint8Array => chunk instanceof Uint8Array ? chunk : chunk.subarray()

  it('head apart: one send of two chunks, the header\'s bytes and the rest, the bytes unchanged', () => {
    const { end, sent } = recorder()
    expect(shapeWrites(end, 'head apart').send(write)).to.be.true()
    expect(sent).to.have.lengthOf(1)
    const chunk = sent[0]
    expect(chunk).to.not.be.an.instanceOf(Uint8Array)
    expect([...(chunk as Exclude<Chunk, Uint8Array>)].map(part => part.byteLength)).to.deep.equal([HEADER_BYTES, write.byteLength - HEADER_BYTES])
    expect(bytesOf(chunk)).to.deep.equal(write)
  })

  it('copied: one send of a copy in other memory, the bytes unchanged', () => {
    const { end, sent } = recorder()
    shapeWrites(end, 'copied').send(write)
    expect(sent).to.have.lengthOf(1)
    const copy = sent[0] as Uint8Array
    expect(copy.buffer).to.not.equal(write.buffer)
    expect(new Uint8Array(copy)).to.deep.equal(write)
  })
})

describe('benchmark TCP connections', () => {
  it('carry every byte written after the negotiation both ways, intact and in order', async () => {
    const [dialer, listener] = await negotiatedConnectionPair()
    try {
      const payload = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7) % 256)
      const collect = async (conn: MessageStream): Promise<Uint8Array> => new Promise(resolve => {
        const got = new Uint8ArrayList()
        conn.addEventListener('message', evt => {
          got.append(evt.data)
          if (got.byteLength >= payload.byteLength) { resolve(got.subarray()) }
        })
      })
      const atListener = collect(listener)
      const atDialer = collect(dialer)
      dialer.send(payload)
      listener.send(payload)
      expect(await atListener).to.deep.equal(payload)
      expect(await atDialer).to.deep.equal(payload)
    } finally {
      dialer.abort(new Error('test over'))
      listener.abort(new Error('test over'))
    }
  })

  it('fail the negotiation, naming what arrived, when the peer answers with other bytes', async () => {
    const [a, b] = await loopbackSocketPair()
    try {
      const negotiating = negotiate(a, b)
      b.write(new TextEncoder().encode('\x13/multistream/9.9.9\n'))
      await expect(negotiating).to.eventually.be.rejectedWith(/negotiation: expected .*got \d+ bytes .*9\.9\.9/)
    } finally {
      a.destroy()
      b.destroy()
    }
  })
})
