/**
 * The container's entry program, run by the runner's own Node binary mounted read-only, so
 * stock images need no changes. It relays 127.0.0.1:<port> to the proxy's unix socket (the
 * only way out of a `--network none` container), copies the staged config files into HOME,
 * then runs the command and passes its exit code and signals through.
 */
export const INIT_SCRIPT = String.raw`
import net from 'node:net'
import { spawn } from 'node:child_process'
import { cpSync, existsSync } from 'node:fs'

const socketPath = process.env.AIRLOCK_PROXY_SOCKET
const port = Number(process.env.AIRLOCK_PROXY_PORT)
const home = process.env.HOME
const argv = process.argv.slice(2)
if (argv[0] === '--') argv.shift()

function fail(message, code) {
  process.stderr.write('airlock-init: ' + message + '\n')
  process.exit(code)
}

if (!socketPath || !port || argv.length === 0) fail('usage: init -- <command...> with AIRLOCK_PROXY_SOCKET and AIRLOCK_PROXY_PORT set', 125)
if (existsSync('/airlock/staging/home') && home) cpSync('/airlock/staging/home', home, { recursive: true, force: true })

const forwarder = net.createServer((client) => {
  const upstream = net.connect(socketPath)
  client.on('error', () => upstream.destroy())
  upstream.on('error', () => client.destroy())
  client.pipe(upstream).pipe(client)
})
forwarder.on('error', (err) => fail('forwarder: ' + err.message, 125))
forwarder.listen(port, '127.0.0.1', () => {
  const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit' })
  child.on('error', (err) => fail('cannot run ' + argv[0] + ': ' + err.message, err.code === 'ENOENT' ? 127 : 126))
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => child.kill(sig))
  child.on('exit', (code, signal) => {
    forwarder.close()
    process.exit(code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGINT' ? 2 : 15))
  })
})
`
