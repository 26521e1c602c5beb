/**
 * Driver for the Go interop peer (`interop/go`, hashicorp/yamux): builds it
 * once with `interop/go/build.sh`, spawns it with flags, turns its JSON-lines
 * stdout into events a test can await, and kills whatever is still running
 * on teardown.
 *
 * @example
 *
 * ```typescript
 * const binary = await buildGoPeer()           // rejects with the reason when Go is missing
 * const peer = GoPeer.start(binary, ['--listen', '127.0.0.1:0'])
 * const { port } = await peer.waitFor('listening')
 * // ... connect, work ...
 * expect(await peer.exit()).to.equal(0)
 * ```
 */

import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { ChildProcess } from 'node:child_process'

/** One line of the peer's stdout (see interop/README.md, "Output") */
export interface GoEvent {
  event: string
  /** Milliseconds since the peer started */
  t: number
  [field: string]: any
}

/** Find `interop/go/build.sh` from here upwards (works from `test/` and from any `dist/`) */
function findBuildScript (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, 'interop', 'go', 'build.sh')
    if (existsSync(candidate)) {
      return candidate
    }
    dir = dirname(dir)
  }
  const cwdCandidate = join(process.cwd(), 'interop', 'go', 'build.sh')
  if (existsSync(cwdCandidate)) {
    return cwdCandidate
  }
  throw new Error('interop/go/build.sh not found above ' + fileURLToPath(import.meta.url))
}

let built: Promise<string> | undefined

/**
 * Build the peer (once per process) and resolve with the binary's path.
 * Rejects with a readable reason when Go or the yamux sources are missing or
 * the build fails.
 */
export async function buildGoPeer (): Promise<string> {
  built ??= new Promise<string>((resolve, reject) => {
    let script: string
    try {
      script = findBuildScript()
    } catch (err) {
      reject(err); return
    }
    execFile(script, { timeout: 300_000 }, (err, stdout, stderr) => {
      const path = stdout.trim().split('\n').pop() ?? ''
      if (err != null || path === '' || !existsSync(path)) {
        const why = stderr.trim() !== '' ? stderr.trim() : (err?.message ?? 'no binary path printed')
        reject(new Error(`interop/go/build.sh failed: ${why}`))
        return
      }
      resolve(path)
    })
  })
  return built
}

const running = new Set<GoPeer>()

/** Kill every peer still running (for `afterEach`) */
export function killAllGoPeers (): void {
  for (const peer of running) {
    peer.kill()
  }
}

interface Waiter {
  match(event: GoEvent): boolean
  resolve(event: GoEvent): void
  reject(err: Error): void
}

/** A running `yamux-peer` process */
export class GoPeer {
  readonly events: GoEvent[] = []
  readonly args: string[]
  /** Everything the peer wrote to stderr (yamux's log, usage errors) */
  stderr = ''
  /** Resolves with the exit code (null when killed by a signal) */
  readonly exited: Promise<number | null>
  exitCode: number | null | undefined
  private readonly child: ChildProcess
  private waiters: Waiter[] = []

  private constructor (binary: string, args: string[]) {
    this.args = args
    this.child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    running.add(this)
    this.child.stderr?.setEncoding('utf8')
    this.child.stderr?.on('data', (text: string) => {
      // bounded: a noisy peer must not grow the test's memory
      this.stderr = (this.stderr + text).slice(-64 * 1024)
    })
    const lines = createInterface({ input: this.child.stdout! })
    lines.on('line', line => { this.onLine(line) })
    const linesClosed = new Promise<void>(resolve => lines.once('close', resolve))
    this.exited = new Promise<number | null>(resolve => {
      this.child.once('exit', code => {
        // every line is in once stdout closed
        void linesClosed.then(() => {
          this.exitCode = code
          running.delete(this)
          const waiters = this.waiters
          this.waiters = []
          waiters.forEach(w => { w.reject(new Error(`the Go peer exited (code ${code}) before the awaited event\n${this.describe()}`)) })
          resolve(code)
        })
      })
    })
    this.child.once('error', err => {
      this.stderr += `\nspawn error: ${err.message}`
    })
  }

  /** Spawn the peer; a watchdog (`--timeout`, default 50 s) is added unless `args` has one */
  static start (binary: string, args: string[]): GoPeer {
    const all = args.includes('--timeout') ? args : [...args, '--timeout', '50000']
    return new GoPeer(binary, all)
  }

  private onLine (line: string): void {
    let event: GoEvent
    try {
      event = JSON.parse(line)
    } catch {
      event = { event: 'unparsed', t: -1, line }
    }
    this.events.push(event)
    const waiters = this.waiters
    this.waiters = []
    for (const waiter of waiters) {
      if (waiter.match(event)) {
        waiter.resolve(event)
      } else {
        this.waiters.push(waiter)
      }
    }
  }

  /** Every event named `name` (and matching `where`) seen so far */
  all (name: string, where: (event: GoEvent) => boolean = () => true): GoEvent[] {
    return this.events.filter(e => e.event === name && where(e))
  }

  /**
   * The first event named `name` matching `where`, already seen or still to
   * come. Rejects when the peer exits first or after `timeoutMs`.
   */
  async waitFor (name: string, where: (event: GoEvent) => boolean = () => true, timeoutMs = 30_000): Promise<GoEvent> {
    const seen = this.events.find(e => e.event === name && where(e))
    if (seen != null) {
      return seen
    }
    if (this.exitCode !== undefined) {
      throw new Error(`the Go peer has exited (code ${this.exitCode}); no ${name} event\n${this.describe()}`)
    }
    return new Promise<GoEvent>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter(w => w !== waiter)
        reject(new Error(`no ${name} event from the Go peer within ${timeoutMs} ms\n${this.describe()}`))
      }, timeoutMs)
      const waiter: Waiter = {
        match: e => e.event === name && where(e),
        resolve: e => { clearTimeout(timer); resolve(e) },
        reject: err => { clearTimeout(timer); reject(err) }
      }
      this.waiters.push(waiter)
    })
  }

  /** Wait until `count` events named `name` (matching `where`) were seen; resolves with all of them */
  async waitForCount (name: string, count: number, where: (event: GoEvent) => boolean = () => true, timeoutMs = 30_000): Promise<GoEvent[]> {
    if (this.all(name, where).length < count) {
      // the new event is already in `events` when waiters are checked
      await this.waitFor(name, e => where(e) && this.all(name, where).length >= count, timeoutMs)
    }
    return this.all(name, where)
  }

  /** yamux's own `[WARN]` and `[ERR]` log lines */
  warnings (): string[] {
    return this.all('yamux-log', e => e.level === 'WARN' || e.level === 'ERR').map(e => String(e.message))
  }

  /** The peer's `error` events */
  errors (): GoEvent[] {
    return this.all('error')
  }

  /** Wait for the exit code; kill the peer and reject if it takes longer than `timeoutMs` */
  async exit (timeoutMs = 15_000): Promise<number | null> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        this.kill()
        reject(new Error(`the Go peer did not exit within ${timeoutMs} ms\n${this.describe()}`))
      }, timeoutMs)
    })
    try {
      return await Promise.race([this.exited, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  kill (): void {
    if (this.exitCode === undefined && this.child.exitCode == null) {
      this.child.kill('SIGKILL')
    }
  }

  /** Arguments, the last events and stderr, for failure messages */
  describe (lastEvents = 15): string {
    const tail = this.events.filter(e => e.event !== 'frame').slice(-lastEvents).map(e => '  ' + JSON.stringify(e)).join('\n')
    return `yamux-peer ${this.args.join(' ')}\nlast events:\n${tail}\nstderr (tail):\n${this.stderr.slice(-2000)}`
  }
}
