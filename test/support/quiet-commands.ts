/**
 * Unit tests call @actions/core (and libraries that call it) in-process: its `::debug::` and
 * `::add-mask::` lines are workflow commands for a runner, noise in a test report. They are
 * dropped from this worker's stdout; a test that checks them spies on `process.stdout.write`
 * itself, which sees every line before this filter does.
 */
const write = process.stdout.write.bind(process.stdout)
const COMMAND = /^::(debug|add-mask)::/

process.stdout.write = (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
  const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')
  if (COMMAND.test(text)) return true
  return (write as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest)
}
