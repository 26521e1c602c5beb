/** @type {import('aegir').PartialOptions} */
export default {
  build: {
    bundle: false
  },
  test: {
    // every test process guards against unhandled rejections, uncaught
    // exceptions and listener-leak warnings (see test/setup.ts)
    timeout: 60_000
  },
  dependencyCheck: {
    // the demo, benchmarks and tests run from the repository, with dev dependencies
    productionIgnorePatterns: ['examples/**', 'benchmarks/**', 'test/**', 'dist/**', '.aegir.js']
  }
}
