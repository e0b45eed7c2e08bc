import { CommanderError, type Command } from 'commander'
import { errorMessage } from '../errors.js'
import { local } from './vocabulary.js'

/** Parses argv with `program` (exitOverride set): commander's errors exit with its code, others print one line. */
export async function runProgram(program: Command, argv: string[]): Promise<void> {
  try {
    await program.parseAsync(argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode
      return
    }
    process.stderr.write(`airlock: ${local(errorMessage(err))}\n`)
    process.exitCode = 1
  }
}
