/**
 * `airlock proxy` on its own: the program with only the proxy command. The proxy stays up for
 * as long as it is used, so its process evaluates the proxy and what that command needs, not
 * every other command's code (the GitHub client, the sandbox, the agents' installers and
 * @actions/core with its HTTP client): about 20 MB less resident memory.
 */
import { Command } from 'commander'
import { registerAll } from '../providers/index.js'
import { VERSION } from '../version.js'
import { registerProxyCommand } from './proxy-command.js'
import { runProgram } from './run-program.js'

export async function runProxy(argv: string[]): Promise<void> {
  registerAll()
  const program = new Command('airlock')
    .version(VERSION, '-V, --version', 'print the version')
    .showHelpAfterError()
    .exitOverride()
  registerProxyCommand(program)
  await runProgram(program, argv)
}
