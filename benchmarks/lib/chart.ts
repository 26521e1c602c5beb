/**
 * ratios.svg: a hand-written grouped bar chart of our medians divided by
 * chainsafe's and by the no-muxer baseline's, per scenario, with a 1.0 line
 * and the machine and versions in the caption.
 */

import { writeFileSync } from 'node:fs'
import { machineLine, versionsLine } from './machine.js'
import { moreRepetitions, ratio } from './stats.js'
import { idleRatio } from './targets.js'
import type { Results } from './runner.js'
import type { Summary } from './stats.js'

interface Group { scenario: string, bars: Array<{ value?: number, series: number }> }

const SERIES = [
  { name: '÷ @chainsafe/libp2p-yamux', color: '#3b6fb6' },
  { name: '÷ no muxer (idle: ÷ the same transfer alone)', color: '#e08a2c' }
]

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

/** The contender the chart is about: ours, or mplex when ours was not run (to show the chart works) */
export function chartSubject (s: Summary[]): string | undefined {
  for (const label of ['ours', 'mplex']) { if (s.some(x => x.label === label && x.n > 0)) { return label } }
  return undefined
}

function groups (r: Results, subject: string): Group[] {
  const s = r.summaries
  const out: Group[] = []
  for (const sc of r.scenarios) {
    if (sc.id === 'idle-alone') { continue }
    const vsRef = ratio(s, sc.id, subject, 'chainsafe')
    const vsBase = sc.id === 'idle' ? idleRatio(s, subject) : ratio(s, sc.id, subject, 'none')
    if (vsRef == null && vsBase == null) { continue }
    out.push({ scenario: sc.id, bars: [{ value: vsRef, series: 0 }, { value: vsBase, series: 1 }] })
  }
  return out
}

function wrap (text: string, width: number): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(' ')) {
    if (line.length + word.length + 1 > width && line !== '') {
      lines.push(line)
      line = word
    } else {
      line = line === '' ? word : `${line} ${word}`
    }
  }
  if (line !== '') { lines.push(line) }
  return lines
}

export function svg (r: Results): string {
  const subject = chartSubject(r.summaries)
  const gs = subject == null ? [] : groups(r, subject)
  const W = 960
  const left = 56
  const right = 20
  const top = 64
  const plotH = 300
  const caption = [
    ...wrap(`Machine: ${machineLine(r.machine)}.`, 150),
    ...wrap(`Versions: ${versionsLine(r.machine)}.`, 150),
    `${r.mode} run, ${r.reps} repetition(s)${moreRepetitions(r.samples, r.reps)}, ${r.startedAt}. Each bar: median of ${subject ?? 'ours'} ÷ median of the reference; throughput-type numbers, higher is better.`
  ]
  const H = top + plotH + 40 + 30 + caption.length * 15 + 10
  const values = gs.flatMap(g => g.bars.map(b => b.value ?? 0))
  const yMax = Math.max(2, Math.ceil(Math.max(...values, 1) * 1.15 * 2) / 2)
  const y = (v: number): number => top + plotH - (v / yMax) * plotH
  const plotW = W - left - right
  const groupW = gs.length > 0 ? plotW / gs.length : plotW
  const barW = Math.min(34, groupW / 3)
  const parts: string[] = []
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`)
  parts.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`)
  const title = subject === 'ours' || subject == null
    ? 'libp2p-yamux: ratio of medians, ours ÷ reference, per scenario'
    : `ratio of medians, ${subject} ÷ reference (our muxer was not measured in this run)`
  parts.push(`<text x="${left}" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`)
  SERIES.forEach((s, i) => {
    const x = left + i * 330
    parts.push(`<rect x="${x}" y="36" width="12" height="12" fill="${s.color}"/><text x="${x + 18}" y="46">${esc(s.name)}</text>`)
  })
  parts.push(`<text x="${left + 700}" y="46" fill="#c0392b">- - - 1.0 (parity)</text>`)
  // grid and axis
  const step = yMax > 4 ? 1 : 0.5
  for (let v = 0; v <= yMax + 1e-9; v += step) {
    parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e5e5e5"/>`)
    parts.push(`<text x="${left - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#555">${v.toFixed(1)}</text>`)
  }
  parts.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#888"/>`)
  parts.push(`<line x1="${left}" x2="${W - right}" y1="${top + plotH}" y2="${top + plotH}" stroke="#888"/>`)
  if (gs.length === 0) {
    parts.push(`<text x="${W / 2}" y="${top + plotH / 2}" text-anchor="middle" fill="#555">no ratios to show in this run</text>`)
  }
  gs.forEach((g, i) => {
    const cx = left + groupW * i + groupW / 2
    g.bars.forEach((b, j) => {
      const x = cx - barW + j * barW
      if (b.value == null) {
        parts.push(`<text x="${(x + barW / 2).toFixed(1)}" y="${top + plotH - 4}" text-anchor="middle" fill="#999" font-size="10">n/a</text>`)
        return
      }
      const h = Math.max(1, top + plotH - y(b.value))
      parts.push(`<rect x="${x.toFixed(1)}" y="${(top + plotH - h).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${SERIES[b.series].color}"><title>${esc(`${g.scenario}: ${SERIES[b.series].name} = ${b.value.toFixed(3)}`)}</title></rect>`)
      parts.push(`<text x="${(x + barW / 2 - 1).toFixed(1)}" y="${(top + plotH - h - 4).toFixed(1)}" text-anchor="middle" font-size="10">${b.value.toFixed(2)}</text>`)
    })
    parts.push(`<text x="${cx.toFixed(1)}" y="${top + plotH + 18}" text-anchor="middle">${esc(g.scenario)}</text>`)
  })
  parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(1).toFixed(1)}" y2="${y(1).toFixed(1)}" stroke="#c0392b" stroke-width="1.5" stroke-dasharray="6 4"/>`)
  caption.forEach((line, i) => {
    parts.push(`<text x="${left}" y="${top + plotH + 48 + i * 15}" font-size="11" fill="#444">${esc(line)}</text>`)
  })
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}

export function writeChart (r: Results): void {
  writeFileSync(r.files.chart, svg(r))
}
