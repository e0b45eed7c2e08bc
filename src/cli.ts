// `airlock proxy` loads its own command only (src/cli/proxy-main.ts); every other command the
// whole program. Eager for the bundler: one file, where a module is still evaluated only when
// it is imported here.
if (process.argv[2] === 'proxy') {
  const { runProxy } = await import(/* webpackMode: "eager" */ './cli/proxy-main.js')
  await runProxy(process.argv)
} else {
  const { run } = await import(/* webpackMode: "eager" */ './cli/program.js')
  await run(process.argv)
}
