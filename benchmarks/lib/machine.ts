/**
 * The machine and software a run measured: it goes into the JSON, the table
 * and the chart caption.
 */

import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import os from 'node:os'
import { fileURLToPath } from 'node:url'

export interface MachineInfo {
  os: string
  cpu: string
  cores: number
  memoryGiB: number
  node: string
  /** package name → version, ours included */
  packages: Record<string, string>
  /** git commit of this repository, with "-dirty" when it has uncommitted changes (earlier results under benchmarks/results/ do not count) */
  commit?: string
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

const PACKAGES = [
  '@chainsafe/libp2p-yamux',
  '@libp2p/mplex',
  '@libp2p/utils',
  '@libp2p/interface',
  'libp2p',
  '@chainsafe/libp2p-noise',
  '@libp2p/tcp'
]

function versionOf (file: string): string {
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? 'unknown'
  } catch {
    return 'not installed'
  }
}

/** Short commit of the checkout at `dir`, with "-dirty" when it has uncommitted changes (earlier results do not count) */
export function gitCommit (dir: string = ROOT): string | undefined {
  try {
    const opts = { cwd: dir, encoding: 'utf8' as const, stdio: ['ignore', 'pipe', 'ignore'] as Array<'ignore' | 'pipe'> }
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], opts).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', '.', ':(exclude)benchmarks/results'], opts).trim() !== ''
    return dirty ? `${head}-dirty` : head
  } catch {
    return undefined
  }
}

export function machineInfo (): MachineInfo {
  const packages: Record<string, string> = { 'libp2p-yamux': versionOf(`${ROOT}package.json`) }
  for (const name of PACKAGES) { packages[name] = versionOf(`${ROOT}node_modules/${name}/package.json`) }
  const cpus = os.cpus()
  return {
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30 * 10) / 10,
    node: process.version,
    packages,
    commit: gitCommit()
  }
}

/** One line for captions: "AMD EPYC, 2 cores, Linux 6.1 x64, Node v20.20.2" */
export function machineLine (m: MachineInfo): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}`
}

/** One line of versions, ours with its commit */
export function versionsLine (m: MachineInfo): string {
  return Object.entries(m.packages).map(([name, v]) =>
    name === 'libp2p-yamux' && m.commit != null ? `${name} ${v} (${m.commit})` : `${name} ${v}`).join(', ')
}
