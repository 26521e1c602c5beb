/**
 * Loaded by mocha before every test file (`--require`). It installs a guarded
 * `Promise.withResolvers` polyfill for Node 20 (js-libp2p 3 code calls it; our
 * own source does not), and fails the run when an unhandled rejection, an
 * uncaught exception or a listener-leak warning happens at any point.
 */

import { installPolyfills } from './fixtures/polyfill.js'

installPolyfills()

const escaped: string[] = []

process.on('unhandledRejection', (reason) => {
  escaped.push(`unhandled rejection: ${describe(reason)}`)
})
process.on('uncaughtException', (err) => {
  escaped.push(`uncaught exception: ${describe(err)}`)
})
process.on('warning', (warning) => {
  if (warning.name === 'MaxListenersExceededWarning') {
    escaped.push(`listener leak: ${warning.message}`)
  }
})

function describe (value: unknown): string {
  return value instanceof Error ? (value.stack ?? value.message) : String(value)
}

function takeEscaped (): string | undefined {
  if (escaped.length === 0) {
    return undefined
  }
  const report = escaped.join('\n')
  escaped.length = 0
  return report
}

export const mochaHooks = {
  afterEach (): void {
    const report = takeEscaped()
    if (report != null) {
      throw new Error(`escaped error during this test:\n${report}`)
    }
  },
  async afterAll (): Promise<void> {
    // give late timers and microtasks a moment to surface
    await new Promise(resolve => setTimeout(resolve, 50))
    const report = takeEscaped()
    if (report != null) {
      throw new Error(`escaped error after the tests:\n${report}`)
    }
  }
}
