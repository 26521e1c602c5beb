/**
 * A short fuzz run for `npm test` (about 5 s): the same targets and
 * invariants as `npm run fuzz` (see targets.ts and run.ts), with counts of the
 * inputs tried, and a bound on heap growth over the run.
 */

import { expect } from 'aegir/chai'
import { formatBytes, recordHeap } from '../hostile/heap.js'
import { fuzz } from './run.js'

const SECONDS = Number(process.env.YAMUX_FUZZ_SECONDS ?? 5)
const MiB = 1024 * 1024

describe('fuzz (short run)', function () {
  this.timeout(SECONDS * 1000 + 60_000)

  it(`decoder, session and muxer survive ${SECONDS} s of generated input`, async () => {
    const { reports, heapGrowth } = await fuzz(SECONDS)
    const summary = reports.map(r => `${r.name}: ${r.inputs} inputs`).join(', ')
    recordHeap(`fuzz ${SECONDS} s (${summary})`, 0, heapGrowth, 64 * MiB)
    for (const r of reports) {
      expect(r.failure, `${r.name} failed`).to.equal(undefined)
    }
    const byName = Object.fromEntries(reports.map(r => [r.name, r.inputs]))
    // inputs tried: enough to mean something, even on a slow machine
    expect(byName.decoder, summary).to.be.greaterThan(1000)
    expect(byName.session, summary).to.be.greaterThan(200)
    expect(byName.muxer, summary).to.be.greaterThan(20)
    expect(heapGrowth, `heap growth over the fuzz run: ${formatBytes(heapGrowth)}`).to.be.lessThan(64 * MiB)
  })
})
