/**
 * Harness for the proxy's integration tests: builds the daemon bundle when it is missing or
 * older than its sources, starts the REAL daemon process (dist/proxy) the way the action
 * does, and gives tests raw-socket, tunnel and child-process helpers for real clients.
 */
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import tls from 'node:tls'
import { fileURLToPath } from 'node:url'
import { ProxyAgent } from 'undici'
import { PLACEHOLDERS } from '../../../src/providers/defaults.js'
import { verifyAuditFile, type AuditEntry } from '../../../src/proxy/audit.js'
import { startDaemon, type DaemonConfig, type RunningDaemon } from '../../../src/daemon/daemon.js'
import type { NetworkEntry } from '../../../src/proxy/log.js'
import { startProxyDaemon, stopProcess, alive } from '../../../src/daemon/start.js'
import { createTestPki, type TestPki } from '../../support/test-ca.js'
import { startUpstream, type Upstream } from '../../support/upstream.js'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
export const PROXY_SCRIPT = join(ROOT, 'dist/proxy/index.js')
export const CLI_SCRIPT = join(ROOT, 'dist/cli/index.js')

/** The placeholder the container holds for GitHub (what clients send). */
export const GH_PLACEHOLDER = PLACEHOLDERS.github

/** Names the shared test certificate covers: every host the tests route to the upstreams. */
export const TEST_NAMES = [
  'api.github.com',
  'uploads.github.com',
  'github.com',
  'other.test',
  'internal.test',
  'meta.test',
  'ten.test',
  'notgithub.com',
  'github.com.evil.example',
  'evil.test',
  'routed.test',
  'generativelanguage.googleapis.com'
]

/** A fresh, obviously fake, token that is still long enough for the scrubber. */
export function realToken(): string {
  return `ghs_AirlockRealTestToken${randomBytes(12).toString('hex')}`
}

// ---------------------------------------------------------------------------------------
// Building the bundles
// ---------------------------------------------------------------------------------------

/** What each bundle is built from; a newer file there makes the bundle stale. */
const BUNDLE_SOURCES: Record<'proxy' | 'cli', string[]> = {
  proxy: [
    'src/proxy',
    'src/provider',
    'src/providers',
    'src/grant',
    'src/proxy-daemon.ts',
    'src/errors.ts'
  ],
  // The CLI bundles nearly everything; rebuilding it whenever any file changes would race
  // with whoever edits the tree, so it is only built when it is missing.
  cli: []
}

function newestMtime(paths: string[]): number {
  let newest = 0
  const visit = (p: string): void => {
    if (!existsSync(p)) return
    const st = statSync(p)
    if (st.isDirectory()) for (const e of readdirSync(p)) visit(join(p, e))
    else if (p.endsWith('.ts')) newest = Math.max(newest, st.mtimeMs)
  }
  for (const p of paths) visit(join(ROOT, p))
  return newest
}

function stale(name: 'proxy' | 'cli'): boolean {
  const out = join(ROOT, `dist/${name}/index.js`)
  if (!existsSync(out)) return true
  return statSync(out).mtimeMs < newestMtime(BUNDLE_SOURCES[name])
}

/**
 * Builds `dist/<name>` with scripts/build.mjs when it is missing or stale. Test files run
 * in parallel workers, so a lock directory makes sure one builds while the others wait and
 * then find a fresh bundle.
 */
export async function ensureBuilt(name: 'proxy' | 'cli'): Promise<void> {
  if (!stale(name)) return
  const lock = join(tmpdir(), `airlock-build-${name}.lock`)
  const deadline = Date.now() + 170_000
  for (;;) {
    try {
      mkdirSync(lock)
      break
    } catch {
      // A lock older than the longest build is left over from a killed run.
      const held = statSync(lock, { throwIfNoEntry: false })
      if (held && Date.now() - held.mtimeMs > 150_000) rmdirSync(lock)
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`)
      await sleep(250)
    }
  }
  try {
    if (!stale(name)) return
    const r = spawnSync(process.execPath, ['scripts/build.mjs', name], {
      cwd: ROOT,
      encoding: 'utf8'
    })
    if (r.status !== 0) throw new Error(`building dist/${name} failed:\n${r.stdout}${r.stderr}`)
  } finally {
    rmdirSync(lock)
  }
}

// ---------------------------------------------------------------------------------------
// The world: upstream servers the daemon routes allowed names to
// ---------------------------------------------------------------------------------------

export interface World {
  pki: TestPki
  /** HTTPS recording upstream serving {@link TEST_NAMES}. */
  upstream: Upstream
  /** Plain-HTTP recording upstream. */
  plain: Upstream
  close(): Promise<void>
}

export async function startWorld(): Promise<World> {
  const pki = await createTestPki(TEST_NAMES)
  const upstream = await startUpstream({ pki })
  const plain = await startUpstream({ http: true })
  return {
    pki,
    upstream,
    plain,
    async close(): Promise<void> {
      await Promise.all([upstream.close(), plain.close()])
      await rm(pki.dir, { recursive: true, force: true })
    }
  }
}

/** connect-to lines routing every test name (on 443) to the HTTPS upstream. */
export function connectAll(port: number, names: string[] = TEST_NAMES): string[] {
  return names.map((n) => `${n}:443=127.0.0.1:${port}`)
}

// ---------------------------------------------------------------------------------------
// The daemon
// ---------------------------------------------------------------------------------------

export interface DaemonOptions {
  /** Extra allowlist entries (grant hosts are added by the daemon). */
  allow?: string[]
  connectTo?: string[]
  /** PEM text trusted upstream. */
  upstreamCa?: string
  /** The real GitHub token to grant; omit for no grant. */
  githubToken?: string
  /** The GitHub the token is for (GITHUB_API_URL; GitHub Enterprise), default github.com. */
  githubApiUrl?: string
  /** The service account a `gcp` grant's token stands for. */
  gcpServiceAccount?: string
  /** More grants: provider name and its real token (static credentials). */
  grants?: Array<{ provider: string; token: string }>
  mode?: 'block' | 'audit'
  /** Also listen on a unix socket (the action's way) at `<dir>/proxy.sock`. */
  socket?: boolean
  /** Where network.jsonl goes (default `<dir>/network.jsonl`). */
  networkLog?: string
}

export interface TestDaemon {
  /** Private temp dir holding every file the daemon writes. */
  dir: string
  port: number
  /** The per-run proxy token. */
  token: string
  /** `http://airlock:<token>@127.0.0.1:<port>` */
  proxyUrl: string
  /** `Basic base64(airlock:<token>)` */
  proxyAuth: string
  caFile: string
  caPem: string
  networkLog: string
  auditLog: string
  /** The unix socket, when asked for. */
  socketPath?: string
  /** The daemon's own stdout/stderr (empty for an in-process daemon). */
  logFile: string
  /** The child's pid (this process's pid for an in-process daemon). */
  pid: number
  /** In-process only: the running daemon. */
  running?: RunningDaemon
  /** Parsed network.jsonl lines so far. */
  network(): NetworkEntry[]
  /**
   * Stops the daemon (SIGTERM for a process), checks the audit chain verifies and ends with
   * a `stop` entry, and returns the entries and the head.
   */
  stop(): Promise<{ head: string; entries: AuditEntry[] }>
}

/** Metadata a static test credential carries: which GitHub, which service account. */
function credentialMetadata(
  provider: string,
  opts: DaemonOptions
): { metadata?: Record<string, string> } {
  if (provider === 'github' && opts.githubApiUrl)
    return { metadata: { api_url: opts.githubApiUrl } }
  if (provider === 'gcp' && opts.gcpServiceAccount)
    return { metadata: { service_account: opts.gcpServiceAccount } }
  return {}
}

/** The daemon config the harness uses, for files in dir. */
export function daemonConfig(dir: string, opts: DaemonOptions): DaemonConfig {
  const token = randomBytes(24).toString('hex')
  const config: DaemonConfig = {
    runId: `test-${randomBytes(4).toString('hex')}`,
    token,
    mode: opts.mode ?? 'block',
    allow: opts.allow ?? [],
    connectTo: opts.connectTo ?? [],
    listen: { host: '127.0.0.1', port: 0 },
    caCertFile: join(dir, 'ca.pem'),
    networkLog: opts.networkLog ?? join(dir, 'network.jsonl'),
    auditLog: join(dir, 'audit.jsonl'),
    readyFile: join(dir, 'ready.json'),
    grants: [
      ...(opts.githubToken ? [{ provider: 'github', token: opts.githubToken }] : []),
      ...(opts.grants ?? [])
    ].map(({ provider, token }) => ({
      provider,
      credential: {
        provider,
        token,
        created_at: new Date().toISOString(),
        ...credentialMetadata(provider, opts)
      }
    }))
  }
  if (opts.upstreamCa) config.upstreamCa = opts.upstreamCa
  if (opts.socket) config.socketPath = join(dir, 'proxy.sock')
  return config
}

function readJsonl<T>(file: string): T[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T)
}

function finishAudit(auditLog: string): { head: string; entries: AuditEntry[] } {
  const result = verifyAuditFile(auditLog)
  if (!result.ok)
    throw new Error(
      `audit log does not verify: line ${result.error?.line}: ${result.error?.reason}`
    )
  const entries = readJsonl<AuditEntry>(auditLog)
  if (entries.at(-1)?.type !== 'stop')
    throw new Error(`audit log does not end with a stop entry: ${entries.at(-1)?.type}`)
  if (!result.closed) throw new Error('audit log is not closed')
  return { head: result.head, entries }
}

function handle(
  dir: string,
  config: DaemonConfig,
  port: number,
  pid: number,
  caPem: string,
  stop: () => Promise<void>
): TestDaemon {
  const proxyAuth = `Basic ${Buffer.from(`airlock:${config.token}`).toString('base64')}`
  let stopped: Promise<{ head: string; entries: AuditEntry[] }> | undefined
  return {
    dir,
    port,
    token: config.token,
    proxyUrl: `http://airlock:${config.token}@127.0.0.1:${port}`,
    proxyAuth,
    caFile: config.caCertFile,
    caPem,
    networkLog: config.networkLog,
    auditLog: config.auditLog,
    logFile: join(dir, 'daemon.log'),
    ...(config.socketPath ? { socketPath: config.socketPath } : {}),
    pid,
    network: () => readJsonl<NetworkEntry>(config.networkLog),
    stop(): Promise<{ head: string; entries: AuditEntry[] }> {
      stopped ??= stop().then(() => finishAudit(config.auditLog))
      return stopped
    }
  }
}

/** Daemon processes not yet stopped; killed when the test worker exits (a failed test). */
const live = new Set<number>()
process.once('exit', () => {
  for (const pid of live) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
})

/** Starts the real daemon process from dist/proxy, config on stdin, listening on loopback. */
export async function startTestDaemon(opts: DaemonOptions = {}): Promise<TestDaemon> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-it-'))
  const config = daemonConfig(dir, opts)
  const logFile = join(dir, 'daemon.log')
  const ready = await startProxyDaemon(config, { script: PROXY_SCRIPT, logFile }).catch(
    async (err: unknown) => {
      await rm(dir, { recursive: true, force: true })
      throw err
    }
  )
  live.add(ready.pid)
  if (ready.port === undefined) throw new Error('the daemon reported no port')
  const caPem = await readFile(config.caCertFile, 'utf8')
  return handle(dir, config, ready.port, ready.pid, caPem, async () => {
    await stopProcess(ready.pid, 10_000)
    live.delete(ready.pid)
    if (alive(ready.pid)) throw new Error(`daemon ${ready.pid} did not exit`)
  })
}

/** The same daemon, in this process (for resolver injection and the live injection table). */
export async function startInProcessDaemon(
  opts: DaemonOptions & { resolve?: (host: string) => Promise<string[]> } = {}
): Promise<TestDaemon & { running: RunningDaemon }> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-it-'))
  const config = daemonConfig(dir, opts)
  delete config.readyFile
  const running = await startDaemon(config, () => {}, opts.resolve ? { resolve: opts.resolve } : {})
  const caPem = await readFile(config.caCertFile, 'utf8')
  const h = handle(dir, config, running.ready.port!, process.pid, caPem, async () => {
    await running.stop('test')
  })
  return { ...h, running }
}

/** Every file under dir (recursively) whose bytes contain any of needles. */
export async function filesContaining(dir: string, needles: string[]): Promise<string[]> {
  const hits: string[] = []
  const visit = async (p: string): Promise<void> => {
    for (const e of await readdir(p, { withFileTypes: true })) {
      const full = join(p, e.name)
      if (e.isDirectory()) await visit(full)
      else if (e.isFile()) {
        const data = await readFile(full)
        if (needles.some((n) => data.includes(n))) hits.push(full)
      }
    }
  }
  await visit(dir)
  return hits
}

// ---------------------------------------------------------------------------------------
// Raw HTTP over sockets
// ---------------------------------------------------------------------------------------

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: Buffer
}

/**
 * Reads HTTP/1.1 responses off a socket one at a time (content-length, chunked, or
 * until close), keeping any bytes that follow for the next read.
 */
export class ResponseReader {
  private buf = Buffer.alloc(0)
  private ended = false
  private error: Error | undefined
  private wake: (() => void) | undefined

  constructor(private readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c])
      this.wake?.()
    })
    const end = (): void => {
      this.ended = true
      this.wake?.()
    }
    socket.on('end', end)
    socket.on('close', end)
    socket.on('error', (err) => {
      this.error = err
      end()
    })
  }

  /** True once the peer closed the connection. */
  get closed(): boolean {
    return this.ended
  }

  private async more(): Promise<boolean> {
    if (this.ended) return false
    await new Promise<void>((r) => (this.wake = r))
    this.wake = undefined
    return true
  }

  private async until(pred: () => number): Promise<number> {
    for (;;) {
      const n = pred()
      if (n >= 0) return n
      if (!(await this.more())) return -1
    }
  }

  private take(n: number): Buffer {
    const out = this.buf.subarray(0, n)
    this.buf = this.buf.subarray(n)
    return out
  }

  /** The next response; `head` is true for a response to HEAD or CONNECT (no body read). */
  async read(noBody = false): Promise<RawResponse> {
    const end = await this.until(() => this.buf.indexOf('\r\n\r\n'))
    if (end < 0)
      throw new Error(
        `connection closed before a response${this.error ? ` (${this.error.message})` : ''}: ${this.buf.toString('latin1')}`
      )
    const [statusLine = '', ...lines] = this.take(end + 4)
      .toString('latin1')
      .slice(0, -4)
      .split('\r\n')
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? NaN)
    const headers: Record<string, string> = {}
    for (const l of lines) {
      const i = l.indexOf(':')
      if (i > 0) {
        const k = l.slice(0, i).trim().toLowerCase()
        const v = l.slice(i + 1).trim()
        headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`
      }
    }
    if (noBody || status === 204 || status === 304 || (status >= 100 && status < 200))
      return { status, headers, body: Buffer.alloc(0) }
    if (headers['content-length'] !== undefined) {
      const len = Number(headers['content-length'])
      await this.until(() => (this.buf.length >= len ? len : -1))
      return { status, headers, body: this.take(Math.min(len, this.buf.length)) }
    }
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const parts: Buffer[] = []
      for (;;) {
        const lineEnd = await this.until(() => this.buf.indexOf('\r\n'))
        if (lineEnd < 0) throw new Error('connection closed inside a chunked body')
        const size = Number.parseInt(this.take(lineEnd + 2).toString('latin1'), 16)
        if (size === 0) {
          await this.until(() => this.buf.indexOf('\r\n'))
          this.take(this.buf.indexOf('\r\n') + 2)
          break
        }
        await this.until(() => (this.buf.length >= size + 2 ? size : -1))
        parts.push(Buffer.from(this.take(size)))
        this.take(2)
      }
      return { status, headers, body: Buffer.concat(parts) }
    }
    while (await this.more()) {
      // read to close
    }
    return { status, headers, body: this.take(this.buf.length) }
  }
}

/** Connects to the proxy on loopback TCP (a port) or its unix socket (a path). */
export async function connectProxy(target: number | string): Promise<net.Socket> {
  const s =
    typeof target === 'string'
      ? net.connect({ path: target })
      : net.connect({ host: '127.0.0.1', port: target })
  await new Promise<void>((res, rej) => {
    s.once('connect', res)
    s.once('error', rej)
  })
  return s
}

/** Sends one raw request to the proxy itself (CONNECT or absolute-form) and reads the answer. */
export async function rawProxyRequest(
  port: number | string,
  head: string,
  opts: { noBody?: boolean } = {}
): Promise<RawResponse> {
  const s = await connectProxy(port)
  const reader = new ResponseReader(s)
  s.write(head)
  try {
    return await reader.read(opts.noBody === true)
  } finally {
    s.destroy()
  }
}

export function connectHead(authority: string, auth: string | undefined, host = authority): string {
  return `CONNECT ${authority} HTTP/1.1\r\nHost: ${host}\r\n${auth ? `Proxy-Authorization: ${auth}\r\n` : ''}\r\n`
}

export interface Tunnel {
  socket: tls.TLSSocket
  reader: ResponseReader
  /** Sends one request on the tunnel and reads its response. */
  request(req: {
    method?: string
    path?: string
    host?: string
    headers?: Record<string, string>
    body?: string | Buffer
  }): Promise<RawResponse>
  close(): void
}

/**
 * CONNECTs to authority, then completes TLS inside the tunnel verifying the proxy's leaf
 * against the run CA (servername defaults to the CONNECT host). Rejects with the CONNECT
 * answer when the proxy refuses.
 */
export async function openTunnel(
  d: { port: number; proxyAuth: string; caPem: string },
  authority: string,
  opts: { servername?: string; socketPath?: string } = {}
): Promise<Tunnel> {
  const raw = await connectProxy(opts.socketPath ?? d.port)
  const connectReader = new ResponseReader(raw)
  raw.write(connectHead(authority, d.proxyAuth))
  const answer = await connectReader.read(true)
  if (answer.status !== 200) {
    raw.destroy()
    throw Object.assign(new Error(`CONNECT ${authority} answered ${answer.status}`), { answer })
  }
  raw.removeAllListeners('data')
  raw.removeAllListeners('end')
  raw.removeAllListeners('close')
  raw.removeAllListeners('error')
  const host = authority.replace(/:\d+$/, '').replace(/^\[|\]$/g, '')
  const socket = tls.connect({
    socket: raw,
    servername: opts.servername ?? host,
    ca: d.caPem,
    ALPNProtocols: ['http/1.1']
  })
  await new Promise<void>((res, rej) => {
    socket.once('secureConnect', res)
    socket.once('error', rej)
  })
  const reader = new ResponseReader(socket)
  return {
    socket,
    reader,
    request: async (r): Promise<RawResponse> => {
      const body = r.body === undefined ? undefined : Buffer.from(r.body)
      const headers: Record<string, string> = { host: r.host ?? host, ...r.headers }
      if (body) headers['content-length'] = String(body.length)
      const lines = [`${r.method ?? 'GET'} ${r.path ?? '/echo'} HTTP/1.1`]
      for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`)
      socket.write(`${lines.join('\r\n')}\r\n\r\n`)
      if (body) socket.write(body)
      return reader.read(r.method === 'HEAD')
    },
    close: (): void => {
      socket.destroy()
    }
  }
}

/** An undici ProxyAgent pointed at the daemon (credentials from the proxy URL's userinfo). */
export function proxyAgent(d: { proxyUrl: string; caPem: string }): ProxyAgent {
  return new ProxyAgent({ uri: d.proxyUrl, requestTls: { ca: d.caPem } })
}

// ---------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------

/** A minimal environment for client tools: no proxy variables, no user config. */
export function cleanEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    LANG: 'C.UTF-8',
    ...extra
  }
}

export function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {}
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? cleanEnv(tmpdir()),
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe']
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    child.on('error', rej)
    child.on('close', (code) => res({ code: code ?? 1, stdout, stderr }))
    // A tool that exits before reading stdin must not turn into an EPIPE in the test.
    child.stdin.on('error', () => {})
    child.stdin.end(opts.input ?? '')
  })
}

/**
 * Polls until fn returns something other than undefined (the logs are written
 * asynchronously, a moment after the response). Throws after timeoutMs.
 */
export async function waitFor<T>(fn: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = fn()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`waitFor: condition not met in ${timeoutMs} ms`)
    await sleep(20)
  }
}
