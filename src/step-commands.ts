/**
 * The step log's masker and warnings, written exactly as @actions/core's `setSecret` and
 * `warning` write them (`::add-mask::` / `::warning::`, data escaped, one line). For modules
 * the proxy process loads: importing @actions/core there would load its HTTP client, and with
 * it the whole of undici, into a process that never uses either.
 */
import { EOL } from 'node:os'

/** A workflow command's data, escaped so it stays on one line and ends where it should. */
export function commandData(value: string): string {
  return value.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')
}

/** Registers a value with the runner's log masker. */
export function maskInStepLog(value: string): void {
  process.stdout.write(`::add-mask::${commandData(value)}${EOL}`)
}

/** A warning annotation in the step log. */
export function warnInStepLog(line: string): void {
  process.stdout.write(`::warning::${commandData(line)}${EOL}`)
}
