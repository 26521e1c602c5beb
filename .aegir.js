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
    ignore: []
  }
}
