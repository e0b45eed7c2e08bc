/**
 * `airlock proxy`: the airlock alone, in the foreground, for clients on this machine. Stdout
 * carries one JSON line (where to connect, the CA); stderr says how to use it and, one line
 * each, which requests it refused and why.
 */
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Command } from 'commander'
import { startDaemon } from '../daemon/daemon.js'
import { DAEMON_MALLOC_ENV, DAEMON_NODE_FLAGS, newProxyToken } from '../daemon/start.js'
import { grantAll, makeGrantContext } from '../grant/index.js'
// The input readers themselves, not inputs.ts: that one loads @actions/core (and undici).
import { readGrantSettings } from '../inputs/grant-inputs.js'
import { splitList } from '../inputs/fields.js'
import { credentialToJSON } from '../provider/index.js'
import type { NetworkEntry } from '../proxy/log.js'
import { parseConnectTo, parseHostPattern } from '../proxy/patterns.js'
import { adviceFor } from '../report/network.js'
import { logSafe } from '../sandbox/log-fence.js'
import { envInput } from '../inputs/env-inputs.js'
import { localAdvice } from './vocabulary.js'

const collect = (value: string, previous: string[]): string[] => [...previous, value]

function err(line: string): void {
  process.stderr.write(`airlock: ${line}\n`)
}

/** One stderr line for a request the airlock refused (or, in audit mode, would have). */
export function blockedLine(e: NetworkEntry): string | undefined {
  const reason = e.blocked ?? e.audited
  if (!reason) return undefined
  const what = e.blocked ? 'blocked' : 'audit: would block'
  return `${what} ${logSafe(`${e.method} ${e.url}`)} (${reason}): ${localAdvice(adviceFor(e, reason))}`
}

/**
 * Runs this same command again, in this same process, with the V8 flags and allocator
 * settings the action gives its proxy daemon (DAEMON_NODE_FLAGS, DAEMON_MALLOC_ENV), so
 * `airlock proxy` is the process the action runs and the one the benchmark measures. execve
 * keeps the pid, argv, environment and stdio, so nothing reaches another process; Nodes
 * without process.execve (before 22.15) run on without them.
 */
function reexecWithDaemonFlags(): void {
  const execve = (
    process as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never }
  ).execve
  if (typeof execve !== 'function') return
  // Flags the user gave come after ours, so theirs win; once ours are there, this never loops.
  if (DAEMON_NODE_FLAGS.every((f) => process.execArgv.includes(f))) return
  const script = process.argv[1]
  if (!script) return
  execve.call(
    process,
    process.execPath,
    [process.execPath, ...DAEMON_NODE_FLAGS, ...process.execArgv, script, ...process.argv.slice(2)],
    // The allocator reads its settings at start; the user's own, if any, win.
    { ...DAEMON_MALLOC_ENV, ...process.env }
  )
}

export function registerProxyCommand(program: Command): void {
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
        reexecWithDaemonFlags()
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
          (line) => err(logSafe(line)),
          {
            onNetworkEntry: (e) => {
              const line = blockedLine(e)
              if (line) err(line)
            }
          }
        )
        const proxyUrl = `http://airlock:${token}@127.0.0.1:${daemon.ready.port}`
        process.stdout.write(
          `${JSON.stringify({
            proxy: proxyUrl,
            ca: daemon.ready.caCertFile,
            networkLog: join(dir, 'network.jsonl'),
            auditLog: join(dir, 'audit.jsonl')
          })}\n`
        )
        const allowed = [...opts.allow.flatMap(splitList), ...granted.map((g) => g.provider)]
        err(
          `proxy ready (${opts.audit ? 'audit' : 'block'} mode; ${allowed.length ? `allowing ${allowed.join(', ')}` : 'nothing allowed yet: add --allow <host>'}). Use it from another terminal:`
        )
        err(`  export HTTPS_PROXY='${proxyUrl}' SSL_CERT_FILE='${daemon.ready.caCertFile}'`)
        err(
          `  curl https://<allowed host>/   (Ctrl-C here stops the proxy and prints the audit head)`
        )
        await new Promise<void>((resolve) => {
          const stop = (): void => {
            void daemon.stop('signal').then((head) => {
              err(`stopped; audit head ${head}; logs in ${dir}`)
              resolve()
            })
          }
          process.once('SIGINT', stop)
          process.once('SIGTERM', stop)
        })
      }
    )
}
