/**
 * results.json (everything: machine, sizes, raw samples, summaries) and
 * results.md (the tables a reader looks at).
 */

import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { machineLine, versionsLine } from './machine.js'
import { byRepetition, cpuRatio, moreRepetitions, ratio } from './stats.js'
import { checkTargets, idleRatio } from './targets.js'
import type { Results } from './runner.js'

/** 3 significant figures, no exponent */
export function num (v: number | undefined): string {
  if (v == null || !Number.isFinite(v)) { return '–' }
  const a = Math.abs(v)
  if (a >= 100) { return v.toFixed(0) }
  if (a >= 10) { return v.toFixed(1) }
  if (a >= 1) { return v.toFixed(2) }
  return v.toFixed(3)
}

const mib = (b: number): string => Number.isFinite(b) ? `${(b / 1048576).toFixed(0)} MiB` : '–'
const times = (r: number | undefined): string => r == null ? '' : `${num(r)}×`

const ISOLATION: Record<Results['isolation'], string> = {
  fresh: 'each measurement in a fresh worker process',
  shared: 'all measurements in one worker process',
  inline: 'all measurements inside the calling process'
}

function warmupText (r: Results): string {
  if (!r.warmup) { return 'no warm-up' }
  if (r.warmupRuns == null) { return 'each after an unmeasured warm-up run at 1/8 of the volumes' }
  return `each after ${r.warmupRuns} unmeasured warm-up run(s) of the same size`
}

function header (r: Results): string[] {
  const lines = [
    '# Benchmark results', '',
    `${r.mode} run of ${r.startedAt}: ${r.reps} repetition(s)${moreRepetitions(r.samples, r.reps)}, contenders interleaved within each repetition, ${ISOLATION[r.isolation]}, ${warmupText(r)}; ${(r.durationMs / 60000).toFixed(1)} min in all.`, '',
    `Machine: ${machineLine(r.machine)}.`, '',
    `Versions: ${versionsLine(r.machine)}.`, '',
    ...(r.baseline != null ? [`Baseline: libp2p-yamux from ${r.baseline.dir} (${r.baseline.commit ?? 'commit unknown'}).`, ''] : [])
  ]
  for (const [id, why] of Object.entries(r.skipped)) { lines.push(`Contender \`${id}\` was skipped: ${why.split('\n')[0]}`, '') }
  lines.push('![ratios of our medians to the reference contenders](ratios.svg)', '')
  return lines
}

function targets (r: Results): string[] {
  const lines = ['## Targets', '']
  if (!r.summaries.some(x => x.label === 'ours' && x.n > 0)) { return [...lines, 'Our muxer was not measured in this run.', ''] }
  lines.push(
    'The ratio of medians decides "met". Beside it, the same ratio within each repetition (the two contenders\' samples of one round of the interleaving): its range, and in how many repetitions the target held.', '',
    '| scenario | target | measured | met | per repetition | held in |', '|---|---|---|---|---|---|')
  for (const t of checkTargets(r.summaries, 'ours', byRepetition(r.summaries, r.samples))) {
    let met = '–'
    if (t.pass != null) { met = t.pass ? 'yes' : '**no**' }
    const range = t.perRepetition.length > 0 ? `${num(Math.min(...t.perRepetition))}..${num(Math.max(...t.perRepetition))}×` : '–'
    const held = t.perRepetition.length > 0 ? `${t.heldIn} of ${t.perRepetition.length}` : '–'
    lines.push(`| ${t.scenario} | ${t.target} | ${t.measured == null ? '–' : `${num(t.measured)}×`} | ${met} | ${range} | ${held} |`)
  }
  return [...lines, '']
}

function medians (r: Results): string[] {
  const s = r.summaries
  const lines = [
    '## All medians', '',
    'Medians over the repetitions, min..max beside them. CPU is user + system time of the process that runs both ends, per GB moved (1 GB = 10⁹ bytes, 1 MB = 10⁶) or per operation. Ratios divide medians of the primary number (higher is better); the `CPU × none` column divides CPU per unit by the no-muxer baseline\'s (lower is better).', '',
    '| scenario | contender | median | min..max | CPU per unit | peak heap | peak RSS | × chainsafe | × none | × raw | CPU × none |',
    '|---|---|---|---|---|---|---|---|---|---|---|'
  ]
  const vs = (label: string, ref: string, scenario: string, f = ratio): string => label === ref ? '' : times(f(s, scenario, label, ref))
  for (const sc of r.scenarios) {
    const cpuUnit = sc.kind === 'bytes' ? 'CPU-s/GB' : `CPU-µs/${sc.opName ?? 'op'}`
    for (const x of s.filter(y => y.scenario === sc.id)) {
      const failed = x.failures > 0 ? ` (${x.failures} failed)` : ''
      lines.push(`| ${sc.id} | ${x.label}${failed} | ${num(x.median)} ${sc.unit} | ${num(x.min)}..${num(x.max)} | ${num(x.cpuPerUnit)} ${cpuUnit} | ${mib(x.peakHeapBytes)} | ${mib(x.peakRssBytes)} | ` +
        `${vs(x.label, 'chainsafe', sc.id)} | ${vs(x.label, 'none', sc.id)} | ${vs(x.label, 'raw', sc.id)} | ${vs(x.label, 'none', sc.id, cpuRatio)} |`)
    }
  }
  return [...lines, '']
}

function details (r: Results): string[] {
  const s = r.summaries
  const lines: string[] = []
  const idleRows = s.filter(x => x.scenario === 'idle')
  if (idleRows.length > 0) {
    lines.push('## Idle streams', '')
    lines.push('| contender | MB/s beside idle streams ÷ MB/s alone | heap per idle stream (both ends) |', '|---|---|---|')
    for (const x of idleRows) {
      const h = x.extra.heapPerIdleStream
      lines.push(`| ${x.label} | ${times(idleRatio(s, x.label))} | ${Number.isFinite(h) ? `${(h / 1024).toFixed(1)} KiB` : '–'} |`)
    }
    lines.push('')
  }
  const linkRows = s.filter(x => x.scenario === 'link')
  if (linkRows.length > 0) {
    lines.push('## Long fat link', '')
    lines.push(`Capacity ${num(r.sizes.linkCapacity / 1e6)} MB/s each way, ${2 * r.sizes.linkDelayMs} ms round trip, ${num(r.sizes.linkBytes / 1048576)} MiB moved.`, '')
    lines.push('| contender | steady MB/s | of capacity | average over the whole transfer | steady window began at |', '|---|---|---|---|---|')
    for (const x of linkRows) {
      lines.push(`| ${x.label} | ${num(x.median)} | ${num(x.extra.ofCapacity)}× | ${num(x.extra.overallMBps)} MB/s | ${num(x.extra.windowStartMs)} ms |`)
    }
    lines.push('')
  }
  const openRows = s.filter(x => Number.isFinite(x.extra.openMs))
  if (openRows.length > 0) {
    lines.push('## Opening the streams', '')
    lines.push('Multi-stream transfers open their streams inside the timed part; each stream starts sending as soon as it is open. Medians:', '')
    lines.push('| scenario | contender | until the last stream was open | share of the run |', '|---|---|---|---|')
    for (const x of openRows) {
      lines.push(`| ${x.scenario} | ${x.label} | ${num(x.extra.openMs)} ms | ${(100 * x.extra.openShare).toFixed(1)} % |`)
    }
    lines.push('')
  }
  const failures = r.samples.filter(x => !x.ok)
  if (failures.length > 0) {
    lines.push('## Failed measurements', '')
    for (const f of failures) { lines.push(`- ${f.scenario} / ${f.label} (rep ${f.rep + 1}, after ${num((f.wallMs ?? 0) / 1000)} s): ${(f.error ?? '').split('\n')[0]}`) }
    lines.push('')
  }
  return lines
}

function scenarioList (r: Results): string[] {
  const z = r.sizes
  return [
    '## Scenarios', '',
    ...r.scenarios.map(sc => `- **${sc.id}** (${sc.title}, ${sc.unit}): ${sc.description}.`), '',
    `Sizes of this run: bulk ${z.bulkBytes / 1048576} MiB; concurrent ${z.concurrentStreams} × ${z.concurrentBytes / 1024} KiB; ` +
    `request/response ${z.rrRoundTrips} × ${z.rrMessage} B; churn ${z.churnStreams} streams of ${z.churnPayload} B (${z.churnParallel} at a time in churn-par); ` +
    `full nodes ${z.nodesBytes / 1048576} MiB on 1 and ${z.nodesStreams} streams; idle ${z.idleStreams} streams beside ${z.idleBytes / 1048576} MiB; ` +
    `link ${z.linkBytes / 1048576} MiB; writes of ${z.writeSize / 1024} KiB.`, ''
  ]
}

export function markdown (r: Results): string {
  return [...header(r), ...targets(r), ...medians(r), ...details(r), ...scenarioList(r)].join('\n')
}

export function writeReports (r: Results): void {
  mkdirSync(path.dirname(r.files.json), { recursive: true })
  writeFileSync(r.files.json, JSON.stringify(r, null, 2) + '\n')
  writeFileSync(r.files.markdown, markdown(r))
}
