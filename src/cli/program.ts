import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command, CommanderError } from 'commander'
import { errorMessage } from '../errors.js'
import { grantAll, makeGrantContext } from '../grant/index.js'
import { readGrantSettings, splitList } from '../inputs.js'
import { credentialToJSON, registry } from '../provider/index.js'
import { registerAll } from '../providers/index.js'
import { verifyAuditFile } from '../proxy/audit.js'
import { newProxyToken, startDaemon } from '../daemon/daemon.js'
import { parseConnectTo, parseHostPattern } from '../proxy/patterns.js'
import { envInput } from './env-inputs.js'
import { registerDemoCommand } from './demo.js'
import { registerRunCommand } from './run-command.js'
import { VERSION } from '../version.js'

const collect = (value: string, previous: string[]): string[] => [...previous, value]

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

  program
    .command('proxy')
    .description('run the airlock proxy in the foreground (credentials from the environment)')
    .option('--listen <host:port>', 'loopback address to listen on', '127.0.0.1:0')
    .option('--allow <pattern>', 'allow a host pattern (repeatable)', collect, [])
    .option('--grant <provider>', "inject this provider's credential (repeatable)", collect, [])
    .option(
      '--connect-to <host:port=target:port>',
      'route a host elsewhere (repeatable)',
      collect,
      []
    )
    .option('--upstream-ca <file>', 'extra CA (PEM) trusted for upstream TLS')
    .option('--audit', 'audit mode: allow public hosts, log what block mode would refuse')
    .option('--dir <dir>', 'where the CA certificate and logs go (default: a new temp dir)')
    .action(
      async (opts: {
        listen: string
        allow: string[]
        grant: string[]
        connectTo: string[]
        upstreamCa?: string
        audit?: boolean
        dir?: string
      }) => {
        const m = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\]):(\d+)$/.exec(opts.listen)
        if (!m)
          throw new Error(
            `--listen ${opts.listen}: expected a loopback host:port such as 127.0.0.1:8080`
          )
        for (const a of opts.allow.flatMap(splitList)) parseHostPattern(a)
        parseConnectTo(opts.connectTo)
        const fromEnv = envInput()
        // The same reader as the action's, with --grant in place of the grants input (an
        // unknown name gets the did-you-mean there).
        const settings = readGrantSettings(
          (name) => (name === 'grants' ? opts.grant.join(',') : fromEnv(name)),
          undefined,
          () => {}
        )
        const granted = await grantAll(
          settings.grants,
          makeGrantContext({
            settings,
            setSecret: () => {},
            // stdout carries the ready line; warnings go to stderr.
            warn: (l) => process.stderr.write(`airlock: warning: ${l}\n`),
            connectTo: opts.connectTo,
            ...(opts.upstreamCa ? { upstreamCa: opts.upstreamCa } : {})
          })
        )
        const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'airlock-proxy-'))
        const token = newProxyToken()
        const daemon = await startDaemon(
          {
            runId: `local-${Date.now()}`,
            token,
            mode: opts.audit ? 'audit' : 'block',
            allow: opts.allow.flatMap(splitList),
            connectTo: opts.connectTo,
            ...(opts.upstreamCa ? { upstreamCa: readFileSync(opts.upstreamCa, 'utf8') } : {}),
            listen: {
              host: m[1] === 'localhost' ? '127.0.0.1' : m[1]!.replace(/^\[|\]$/g, ''),
              port: Number(m[2])
            },
            caCertFile: join(dir, 'ca.pem'),
            networkLog: join(dir, 'network.jsonl'),
            auditLog: join(dir, 'audit.jsonl'),
            grants: granted.map((g) => ({
              provider: g.provider,
              credential: credentialToJSON(g.credential)
            }))
          },
          (line) => process.stderr.write(`airlock: ${line}\n`)
        )
        out(
          JSON.stringify({
            proxy: `http://airlock:${token}@127.0.0.1:${daemon.ready.port}`,
            ca: daemon.ready.caCertFile,
            networkLog: join(dir, 'network.jsonl'),
            auditLog: join(dir, 'audit.jsonl')
          })
        )
        await new Promise<void>((resolve) => {
          const stop = (): void => {
            void daemon.stop('signal').then((head) => {
              process.stderr.write(`airlock: stopped; audit head ${head}\n`)
              resolve()
            })
          }
          process.once('SIGINT', stop)
          process.once('SIGTERM', stop)
        })
      }
    )

  const audit = program.command('audit').description('work with audit logs')
  audit
    .command('verify')
    .description(
      'check an audit.jsonl hash chain, and that it is complete (ends with the stop entry); with --head, that nothing was cut off'
    )
    .argument('<file>', 'the audit log')
    .option('--head <hash>', 'the audit-head output the log must end at')
    .option(
      '--in-progress',
      'the run is still going: a log without its stop entry is accepted (the chain is still checked)'
    )
    .action((file: string, opts: { head?: string; inProgress?: boolean }) => {
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
      out(
        `ok: ${result.entries} entries, head ${result.head}${result.closed ? '' : ' (in progress: no stop entry yet)'}`
      )
    })

  registerRunCommand(program)
  registerDemoCommand(program)
  for (const agent of registry.agents()) agent.registerCli(program)
  return program
}

export async function run(argv: string[]): Promise<void> {
  const program = buildProgram().exitOverride()
  try {
    await program.parseAsync(argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode
      return
    }
    process.stderr.write(`airlock: ${errorMessage(err)}\n`)
    process.exitCode = 1
  }
}
