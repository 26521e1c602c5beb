/**
 * A smoke run of the benchmark code (tiny sizes, one repetition), so it does
 * not rot. Nothing here depends on timing.
 */

import fs from 'node:fs/promises'
import path from 'node:path'
import { expect } from 'aegir/chai'
import { runBenchmarks } from '../benchmarks/run.js'

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
