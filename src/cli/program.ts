import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { Command } from 'commander'
import { registry } from '../provider/index.js'
import { registerAll } from '../providers/index.js'
import { checkNetworkFile, verifyAuditFile } from '../proxy/audit.js'
import { registerDemoCommand } from './demo.js'
import { registerProxyCommand } from './proxy-command.js'
import { registerRunCommand } from './run-command.js'
import { runProgram } from './run-program.js'
import { VERSION } from '../version.js'

function out(line: string): void {
  process.stdout.write(`${line}\n`)
}

/** The `airlock` program: proxy, audit verify, and one command per agent. */
export function buildProgram(): Command {
  registerAll()
  const program = new Command('airlock')
    .description(
      'Run AI coding agents in a container whose only way out is a credential-injecting proxy.'
    )
    .version(VERSION, '-V, --version', 'print the version')
    .showHelpAfterError()

  registerProxyCommand(program)

  const audit = program.command('audit').description('work with audit logs')
  audit
    .command('verify')
    .description(
      'check an audit.jsonl hash chain, and that it is complete (ends with the stop entry); with --head, that nothing was cut off; and network.jsonl against the hash the stop entry holds'
    )
    .argument('<file>', 'the audit log')
    .option('--head <hash>', 'the audit-head output the log must end at')
    .option(
      '--network <file>',
      'the network log to check (default: network.jsonl beside the audit log, when there is one)'
    )
    .option(
      '--in-progress',
      'the run is still going: a log without its stop entry is accepted (the chain is still checked)'
    )
    .action((file: string, opts: { head?: string; network?: string; inProgress?: boolean }) => {
      const result = verifyAuditFile(file, opts.head ? { head: opts.head } : {})
      const fail = (why: string): void => {
        process.stderr.write(`airlock: audit log ${why}\n`)
        process.exitCode = 1
      }
      if (!result.ok) return fail(`INVALID at line ${result.error?.line}: ${result.error?.reason}`)
      // Nothing to check is not a checked log: a real run always writes its start entry.
      if (result.entries === 0) return fail('INVALID: it is empty (no entries at all)')
      // Without the proxy's stop entry the end may have been cut off: not complete.
      if (!result.closed && !opts.inProgress)
        return fail(
          `INCOMPLETE: ${result.entries} entries but no stop entry, so the end may have been cut off. Check it with --head <audit-head>, or pass --in-progress for a run that is still going`
        )
      // The stop entry seals network.jsonl (lines and SHA-256): checked when named, or when
      // it lies beside the audit log as a run leaves it (and as the artifact holds it).
      const besideLog = join(dirname(file), 'network.jsonl')
      const network = opts.network ?? (existsSync(besideLog) ? besideLog : undefined)
      let networkNote = ''
      if (network && result.closed) {
        if (!result.network)
          return fail(
            `has no record of ${network} in its stop entry (a run whose network log failed, or from an Airlock that did not seal it): the network log cannot be checked`
          )
        let wrong: string | undefined
        try {
          wrong = checkNetworkFile(network, result.network)
        } catch (err) {
          return fail(`is valid, but ${network} cannot be read: ${(err as Error).message}`)
        }
        if (wrong) return fail(`is valid, but ${network} is INVALID: ${wrong}`)
        networkNote = `; ${network}: ${result.network.lines} lines, as sealed`
      }
      out(
        `ok: ${result.entries} entries, head ${result.head}${result.closed ? '' : ' (in progress: no stop entry yet)'}${networkNote}`
      )
    })

  registerRunCommand(program)
  registerDemoCommand(program)
  for (const agent of registry.agents()) agent.registerCli(program)
  return program
}

export async function run(argv: string[]): Promise<void> {
  await runProgram(buildProgram().exitOverride(), argv)
}
