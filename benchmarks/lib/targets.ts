/**
 * The targets of the benchmark issue, checked against a run's medians.
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
}

function check (scenario: string, target: string, measured: number | undefined, bound: number, sense: 'min' | 'max'): TargetCheck {
  let pass: boolean | undefined
  if (measured != null) { pass = sense === 'min' ? measured >= bound : measured <= bound }
  return { scenario, target, measured, bound, sense, pass }
}

/** Every target for `subject` (normally 'ours') */
export function checkTargets (s: Summary[], subject = 'ours'): TargetCheck[] {
  const heap = (label: string): number | undefined => find(s, 'idle', label)?.extra.heapPerIdleStream
  const heapOurs = heap(subject)
  const heapRef = heap('chainsafe')
  return [
    check('reqresp', 'round trips/s ≥ 2.0 × chainsafe', ratio(s, 'reqresp', subject, 'chainsafe'), 2.0, 'min'),
    check('reqresp', 'round trips/s ≥ 0.7 × no muxer', ratio(s, 'reqresp', subject, 'none'), 0.7, 'min'),
    check('churn-seq', 'streams/s ≥ 2.0 × chainsafe', ratio(s, 'churn-seq', subject, 'chainsafe'), 2.0, 'min'),
    check('churn-par', 'streams/s ≥ 2.0 × chainsafe', ratio(s, 'churn-par', subject, 'chainsafe'), 2.0, 'min'),
    check('bulk', 'CPU per GB ≤ 1.10 × no muxer', cpuRatio(s, 'bulk', subject, 'none'), 1.10, 'max'),
    check('bulk', 'MB/s ≥ 1.0 × chainsafe', ratio(s, 'bulk', subject, 'chainsafe'), 1.0, 'min'),
    check('concurrent', 'MB/s ≥ 1.3 × chainsafe', ratio(s, 'concurrent', subject, 'chainsafe'), 1.3, 'min'),
    check('concurrent', 'MB/s ≥ 1.0 × mplex', ratio(s, 'concurrent', subject, 'mplex'), 1.0, 'min'),
    check('nodes-1', 'MB/s ≥ 0.95 × no muxer (Noise alone)', ratio(s, 'nodes-1', subject, 'none'), 0.95, 'min'),
    check('nodes-100', 'MB/s ≥ 0.95 × no muxer (Noise alone)', ratio(s, 'nodes-100', subject, 'none'), 0.95, 'min'),
    check('idle', 'MB/s ≥ 0.9 × the same transfer alone', idleRatio(s, subject), 0.9, 'min'),
    check('idle', 'heap per idle stream ≤ 0.5 × chainsafe', heapOurs != null && heapRef != null && heapRef > 0 ? heapOurs / heapRef : undefined, 0.5, 'max'),
    check('link', 'steady MB/s ≥ 0.8 × link capacity (keepalive off)', find(s, 'link', subject)?.extra.ofCapacity, 0.8, 'min')
  ]
}

/** median MB/s beside the idle streams / median MB/s alone, for one contender */
export function idleRatio (s: Summary[], label: string): number | undefined {
  const withIdle = find(s, 'idle', label)
  const alone = find(s, 'idle-alone', label)
  if (withIdle == null || alone == null || !(alone.median > 0)) { return undefined }
  return withIdle.median / alone.median
}
