/**
 * From samples to summaries: medians with min..max per scenario and contender,
 * and ratios of medians between contenders.
 */

import type { Sample } from './worker.js'

export interface Summary {
  scenario: string
  label: string
  contender: string
  /** successful samples */
  n: number
  failures: number
  /** the primary number (higher is better): median, min, max over repetitions */
  median: number
  min: number
  max: number
  /** medians of the other measures */
  cpuPerUnit: number
  wallMs: number
  peakHeapBytes: number
  peakRssBytes: number
  extra: Record<string, number>
}

export function median (values: number[]): number {
  if (values.length === 0) { return NaN }
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

export function summarise (scenarios: Array<{ id: string, variants: Array<{ label: string, contender: string }> }>, samples: Sample[]): Summary[] {
  const out: Summary[] = []
  for (const scenario of scenarios) {
    for (const variant of scenario.variants) {
      const all = samples.filter(s => s.scenario === scenario.id && s.label === variant.label)
      if (all.length === 0) { continue }
      const ok = all.filter(s => s.ok)
      const pick = (f: (s: Sample) => number | undefined): number[] => ok.map(f).filter((v): v is number => typeof v === 'number' && Number.isFinite(v))
      const values = pick(s => s.value)
      const extraKeys = new Set(ok.flatMap(s => Object.keys(s.extra ?? {})))
      const extra: Record<string, number> = {}
      for (const k of extraKeys) { extra[k] = median(pick(s => s.extra?.[k])) }
      out.push({
        scenario: scenario.id,
        label: variant.label,
        contender: variant.contender,
        n: ok.length,
        failures: all.length - ok.length,
        median: median(values),
        min: values.length > 0 ? Math.min(...values) : NaN,
        max: values.length > 0 ? Math.max(...values) : NaN,
        cpuPerUnit: median(pick(s => s.cpuPerUnit)),
        wallMs: median(pick(s => s.wallMs)),
        peakHeapBytes: median(pick(s => s.peakHeapBytes)),
        peakRssBytes: median(pick(s => s.peakRssBytes)),
        extra
      })
    }
  }
  return out
}

/** How many repetitions each scenario had in a run: scenario id → count (scenarios may have more than the run's `reps`) */
export function repetitionsByScenario (samples: Sample[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const x of samples) {
    counts.set(x.scenario, Math.max(counts.get(x.scenario) ?? 0, x.rep + 1))
  }
  return counts
}

/** ' (idle-alone and idle: 21)': the scenarios measured more often than the run's `reps`, for captions */
export function moreRepetitions (samples: Sample[], reps: number): string {
  const more = new Map<number, string[]>()
  for (const [scenario, n] of repetitionsByScenario(samples)) {
    if (n > reps) { more.set(n, [...(more.get(n) ?? []), scenario]) }
  }
  return [...more].map(([n, ids]) => ` (${ids.join(' and ')}: ${n})`).join('')
}

/**
 * The same summaries for each repetition alone (every contender's one sample
 * of it as its median), for every repetition any scenario had: what a ratio of
 * medians was in each round of the interleaving (repetitions are numbered from 0).
 */
export function byRepetition (summaries: Summary[], samples: Sample[]): Summary[][] {
  const reps = Math.max(0, ...repetitionsByScenario(samples).values())
  const scenarios = new Map<string, Array<{ label: string, contender: string }>>()
  for (const x of summaries) {
    scenarios.set(x.scenario, [...(scenarios.get(x.scenario) ?? []), { label: x.label, contender: x.contender }])
  }
  const shapes = [...scenarios].map(([id, variants]) => ({ id, variants }))
  return Array.from({ length: reps }, (_, rep) => summarise(shapes, samples.filter(x => x.rep === rep)))
}

export function find (summaries: Summary[], scenario: string, label: string): Summary | undefined {
  const s = summaries.find(x => x.scenario === scenario && x.label === label)
  return s != null && s.n > 0 ? s : undefined
}

/** median(a) / median(b) of the primary number (higher is better for a); undefined when either is missing */
export function ratio (summaries: Summary[], scenario: string, a: string, b: string): number | undefined {
  const x = find(summaries, scenario, a)
  const y = find(summaries, scenario, b)
  if (x == null || y == null || !(y.median > 0)) { return undefined }
  return x.median / y.median
}

/** cpuPerUnit(a) / cpuPerUnit(b) (lower is better for a) */
export function cpuRatio (summaries: Summary[], scenario: string, a: string, b: string): number | undefined {
  const x = find(summaries, scenario, a)
  const y = find(summaries, scenario, b)
  if (x == null || y == null || !(y.cpuPerUnit > 0)) { return undefined }
  return x.cpuPerUnit / y.cpuPerUnit
}
