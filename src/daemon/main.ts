import { appendFileSync } from 'node:fs'
import { startDaemon, type DaemonConfig, type RunningDaemon } from './daemon.js'

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk)
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * The detached proxy process. Its config (with the real credentials) arrives on stdin; its
 * stdout/stderr are a log file the starter chose. SIGTERM drains and writes the final
 * audit entry.
 */
export async function run(): Promise<void> {
  const logLine = (line: string): void => {
    process.stderr.write(`${new Date().toISOString()} ${line}\n`)
  }
  let config: DaemonConfig
  try {
    const input = await readStdin()
    // Spawned early and then not needed (the run stopped before its proxy was): nothing to do.
    if (input.length === 0) process.exit(0)
    config = JSON.parse(input) as DaemonConfig
  } catch (err) {
    logLine(`fatal: no valid config on stdin: ${(err as Error).message}`)
    process.exit(2)
  }
  // Signals are caught before the proxy starts: the ready file tells the starter it may
  // stop us, and a SIGTERM in the moment before a handler existed would skip the final
  // audit entry.
  let daemon: RunningDaemon | undefined
  let pending: string | undefined
  const shutdown = (signal: string): void => {
    if (!daemon) {
      pending = signal
      return
    }
    logLine(`${signal}: stopping`)
    daemon
      .stop(signal)
      .then((head) => {
        logLine(`stopped; audit head ${head}`)
        process.exit(0)
      })
      .catch((err: Error) => {
        logLine(`stop failed: ${err.message}`)
        process.exit(1)
      })
  }
  process.once('SIGTERM', () => shutdown('SIGTERM'))
  process.once('SIGINT', () => shutdown('SIGINT'))
  try {
    daemon = await startDaemon(config, logLine)
    logLine(
      `listening (pid ${process.pid}${daemon.ready.port ? `, port ${daemon.ready.port}` : ''}${daemon.ready.socketPath ? `, socket ${daemon.ready.socketPath}` : ''})`
    )
    if (pending) shutdown(pending)
  } catch (err) {
    logLine(`fatal: ${(err as Error).stack ?? String(err)}`)
    if (config.readyFile) appendFileSync(`${config.readyFile}.failed`, (err as Error).message)
    process.exit(1)
  }
}
