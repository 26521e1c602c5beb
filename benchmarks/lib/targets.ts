/**
 * The targets of the benchmark issue, checked against a run's medians, and
 * against each repetition to show how steadily they hold.
 */

import { cpuRatio, find, ratio } from './stats.js'
import type { Summary } from './stats.js'

export interface TargetCheck {
  scenario: string
  target: string
  /** the measured ratio, undefined when a contender is missing */
  measured?: number
  /** the bound it must meet */
  bound: number
  /** 'min': measured ≥ bound; 'max': measured ≤ bound */
  sense: 'min' | 'max'
  pass?: boolean
  /**
   * The same ratio within each repetition that measured both sides (each
   * contender's one sample of it), to show how often the target held from
   * one round of the interleaving to the next
   */
  perRepetition: number[]
  /** how many of {@link TargetCheck.perRepetition} meet the bound */
  heldIn: number
}

interface Target {
  scenario: string
  target: string
  bound: number
  sense: 'min' | 'max'
  /** the ratio in a set of summaries (the run's medians, or one repetition's samples) */
  measure(s: Summary[], subject: string): number | undefined
}

const heap = (s: Summary[], label: string): number | undefined => find(s, 'idle', label)?.extra.heapPerIdleStream

const TARGETS: Target[] = [
  { scenario: 'reqresp', target: 'round trips/s ≥ 2.0 × chainsafe', bound: 2.0, sense: 'min', measure: (s, a) => ratio(s, 'reqresp', a, 'chainsafe') },
  { scenario: 'reqresp', target: 'round trips/s ≥ 0.7 × no muxer', bound: 0.7, sense: 'min', measure: (s, a) => ratio(s, 'reqresp', a, 'none') },
  { scenario: 'churn-seq', target: 'streams/s ≥ 2.0 × chainsafe', bound: 2.0, sense: 'min', measure: (s, a) => ratio(s, 'churn-seq', a, 'chainsafe') },
  { scenario: 'churn-par', target: 'streams/s ≥ 2.0 × chainsafe', bound: 2.0, sense: 'min', measure: (s, a) => ratio(s, 'churn-par', a, 'chainsafe') },
  { scenario: 'bulk', target: 'CPU per GB ≤ 1.10 × no muxer', bound: 1.10, sense: 'max', measure: (s, a) => cpuRatio(s, 'bulk', a, 'none') },
  { scenario: 'bulk', target: 'MB/s ≥ 1.0 × chainsafe', bound: 1.0, sense: 'min', measure: (s, a) => ratio(s, 'bulk', a, 'chainsafe') },
  { scenario: 'concurrent', target: 'MB/s ≥ 1.3 × chainsafe', bound: 1.3, sense: 'min', measure: (s, a) => ratio(s, 'concurrent', a, 'chainsafe') },
  { scenario: 'concurrent', target: 'MB/s ≥ 1.0 × mplex', bound: 1.0, sense: 'min', measure: (s, a) => ratio(s, 'concurrent', a, 'mplex') },
  { scenario: 'nodes-1', target: 'MB/s ≥ 0.95 × no muxer (Noise alone)', bound: 0.95, sense: 'min', measure: (s, a) => ratio(s, 'nodes-1', a, 'none') },
  { scenario: 'nodes-100', target: 'MB/s ≥ 0.95 × no muxer (Noise alone)', bound: 0.95, sense: 'min', measure: (s, a) => ratio(s, 'nodes-100', a, 'none') },
  { scenario: 'idle', target: 'MB/s ≥ 0.9 × the same transfer alone', bound: 0.9, sense: 'min', measure: (s, a) => idleRatio(s, a) },
  {
    scenario: 'idle',
    target: 'heap per idle stream ≤ 0.5 × chainsafe',
    bound: 0.5,
    sense: 'max',
    measure: (s, a) => {
      const ours = heap(s, a)
      const ref = heap(s, 'chainsafe')
      return ours != null && ref != null && ref > 0 ? ours / ref : undefined
    }
  },
  { scenario: 'link', target: 'steady MB/s ≥ 0.8 × link capacity (keepalive off)', bound: 0.8, sense: 'min', measure: (s, a) => find(s, 'link', a)?.extra.ofCapacity }
]

const meets = (value: number, t: Pick<Target, 'bound' | 'sense'>): boolean => t.sense === 'min' ? value >= t.bound : value <= t.bound

/**
 * Every target for `subject` (normally 'ours'), measured on the run's medians
 * `s`, and on each repetition of `repetitions` (from {@link byRepetition}) when given
 */
export function checkTargets (s: Summary[], subject = 'ours', repetitions: Summary[][] = []): TargetCheck[] {
  return TARGETS.map(t => {
    const measured = t.measure(s, subject)
    const perRepetition = repetitions.map(rep => t.measure(rep, subject)).filter((v): v is number => v != null && Number.isFinite(v))
    return {
      scenario: t.scenario,
      target: t.target,
      measured,
      bound: t.bound,
      sense: t.sense,
      pass: measured == null ? undefined : meets(measured, t),
      perRepetition,
      heldIn: perRepetition.filter(v => meets(v, t)).length
    }
  })
}

/** median MB/s beside the idle streams / median MB/s alone, for one contender */
export function idleRatio (s: Summary[], label: string): number | undefined {
  const withIdle = find(s, 'idle', label)
  const alone = find(s, 'idle-alone', label)
  if (withIdle == null || alone == null || !(alone.median > 0)) { return undefined }
  return withIdle.median / alone.median
}
