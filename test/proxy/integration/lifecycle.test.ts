/**
 * The daemon process as the action runs it: a unix socket next to the TCP listener, audit
 * mode, the health endpoint, and SIGTERM while requests and streams are in flight.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  GH_PLACEHOLDER,
  connectAll,
  PROXY_SCRIPT,
  connectHead,
  daemonConfig,
  ensureBuilt,
  filesContaining,
  openTunnel,
  rawProxyRequest,
  realToken,
  startTestDaemon,
  startWorld,
  waitFor,
  type TestDaemon,
  type World
} from './harness.js'
import {
  alive,
  ProxyStartError,
  spawnProxyDaemon,
  startProxyDaemon,
  stopProcess
} from '../../../src/daemon/start.js'

const TOKEN = realToken()

let world: World
const daemons: TestDaemon[] = []

beforeAll(async () => {
  await ensureBuilt('proxy')
  world = await startWorld()
})

afterAll(async () => {
  await world.close()
})

beforeEach(() => {
  world.upstream.reset()
})

afterEach(async () => {
  for (const d of daemons.splice(0)) {
    await d.stop()
    expect(await filesContaining(d.dir, [TOKEN])).toEqual([])
    await rm(d.dir, { recursive: true, force: true })
  }
})

async function daemon(opts: Parameters<typeof startTestDaemon>[0] = {}): Promise<TestDaemon> {
  const d = await startTestDaemon({
    githubToken: TOKEN,
    allow: ['other.test'],
    connectTo: connectAll(world.upstream.port, ['api.github.com', 'other.test']),
    upstreamCa: world.pki.caPem,
    ...opts
  })
  daemons.push(d)
  return d
}

describe('listeners', () => {
  it('serves the unix socket and the TCP port at once, each request exactly once', async () => {
    const d = await daemon({ socket: true })
    expect(d.socketPath).toBeDefined()
    for (const via of [{ socketPath: d.socketPath! }, {}]) {
      const tunnel = await openTunnel(d, 'api.github.com:443', via)
      try {
        const r = await tunnel.request({
          path: `/echo/${via.socketPath ? 'unix' : 'tcp'}`,
          headers: { authorization: `Bearer ${GH_PLACEHOLDER}` }
        })
        expect(r.status).toBe(200)
        // A second request on the same tunnel: the connection is parsed by one server only.
        const again = await tunnel.request({ path: '/echo/again' })
        expect(again.status).toBe(200)
      } finally {
        tunnel.close()
      }
    }
    expect(world.upstream.requests.map((r) => r.url)).toEqual([
      '/echo/unix',
      '/echo/again',
      '/echo/tcp',
      '/echo/again'
    ])
    expect(world.upstream.requests.every((r) => r.headers.authorization === `Bearer ${TOKEN}`))
    // Unauthenticated over the socket too.
    const r = await rawProxyRequest(d.socketPath!, connectHead('api.github.com:443', undefined))
    expect(r.status).toBe(407)
  })

  it('answers the health endpoint', async () => {
    const d = await daemon()
    const r = await rawProxyRequest(d.port, 'GET /_airlock/health HTTP/1.1\r\nHost: x\r\n\r\n')
    expect(r.status).toBe(200)
    expect(JSON.parse(r.body.toString())).toEqual({ ok: true })
  })
})

describe('audit mode', () => {
  it('lets an unlisted public host through and records it; IP literals stay refused', async () => {
    const d = await daemon({ mode: 'audit', allow: [] })
    const tunnel = await openTunnel(d, 'other.test:443')
    try {
      const r = await tunnel.request({ path: '/echo/audited' })
      expect(r.status).toBe(200)
    } finally {
      tunnel.close()
    }
    const line = await waitFor(() =>
      d.network().find((e) => e.url === 'https://other.test/echo/audited')
    )
    expect(line.audited).toBe('not-allowed')
    const ip = await rawProxyRequest(
      d.port,
      connectHead(`127.0.0.1:${world.upstream.port}`, d.proxyAuth)
    )
    expect(ip.status).toBe(403)
    expect(world.upstream.requests.map((r) => r.url)).toEqual(['/echo/audited'])
    daemons.splice(daemons.indexOf(d), 1)
    const { entries } = await d.stop()
    await rm(d.dir, { recursive: true, force: true })
    expect(entries.find((e) => e.type === 'audit')?.data).toEqual({
      method: 'CONNECT',
      url: 'other.test:443',
      wouldBlock: 'not-allowed'
    })
    expect(entries.at(-1)!.data).toMatchObject({ audited: 1, blocked: 1 })
  })
})

describe('SIGTERM', () => {
  it('lets an in-flight request finish, then stops with a closed audit log', async () => {
    const d = await daemon()
    const tunnel = await openTunnel(d, 'other.test:443')
    const pending = tunnel.request({ path: '/slow-headers?ms=500' })
    await waitFor(() => (world.upstream.requests.length > 0 ? true : undefined))
    daemons.splice(daemons.indexOf(d), 1)
    const stopping = d.stop()
    const r = await pending
    expect(r.status).toBe(200)
    expect(r.body.toString()).toBe('ok')
    tunnel.close()
    const { entries } = await stopping
    expect(entries.at(-1)!.data).toMatchObject({ reason: 'SIGTERM', requests: 1 })
    await rm(d.dir, { recursive: true, force: true })
  })

  it('cuts an endless stream after the grace period and still closes the audit log', async () => {
    const d = await daemon()
    const tunnel = await openTunnel(d, 'api.github.com:443')
    tunnel.socket.write('GET /sse?n=1000&interval=50 HTTP/1.1\r\nHost: api.github.com\r\n\r\n')
    await waitFor(() => (world.upstream.sseSent.length >= 2 ? true : undefined))
    daemons.splice(daemons.indexOf(d), 1)
    const { entries } = await d.stop()
    expect(entries.at(-1)!.type).toBe('stop')
    await waitFor(() => (tunnel.reader.closed ? true : undefined))
    tunnel.close()
    const line = await waitFor(() =>
      d.network().find((e) => e.url === 'https://api.github.com/sse?n=1000&interval=50')
    )
    expect(line.bytesIn).toBeGreaterThan(0)
    await rm(d.dir, { recursive: true, force: true })
  })
})

describe('the process', () => {
  it('holds credentials only in memory: not in argv, env, or any file it wrote', async () => {
    // The runner's job tracking id is the one variable passed on (see the next assertion).
    const tracking = process.env.RUNNER_TRACKING_ID
    process.env.RUNNER_TRACKING_ID = 'github_0d3c1e6a-test'
    process.env.AIRLOCK_TEST_NOT_PASSED = 'x'
    let d: Awaited<ReturnType<typeof daemon>>
    try {
      d = await daemon({ socket: true })
    } finally {
      if (tracking === undefined) delete process.env.RUNNER_TRACKING_ID
      else process.env.RUNNER_TRACKING_ID = tracking
      delete process.env.AIRLOCK_TEST_NOT_PASSED
    }
    const cmdline = await readFile(`/proc/${d.pid}/cmdline`, 'utf8')
    const environ = await readFile(`/proc/${d.pid}/environ`, 'utf8')
    expect(cmdline).not.toContain(TOKEN)
    expect(environ).not.toContain(TOKEN)
    expect(environ).not.toContain(d.token)
    // Only PATH and the job tracking id (so the runner's orphan cleanup can end a proxy post
    // could not stop) are passed on, beside the allocator's fixed settings: nothing else of
    // the runner's environment.
    const vars = environ.split('\0').filter(Boolean)
    expect(vars.map((e) => e.split('=')[0]).sort()).toEqual([
      'MALLOC_ARENA_MAX',
      'MALLOC_TRIM_THRESHOLD_',
      'PATH',
      'RUNNER_TRACKING_ID'
    ])
    expect(vars).toContain('MALLOC_ARENA_MAX=2')
    expect(vars).toContain('RUNNER_TRACKING_ID=github_0d3c1e6a-test')
    // The CA key never touches the disk; the files are private except the CA certificate.
    expect(await filesContaining(d.dir, ['PRIVATE KEY'])).toEqual([])
    const mode = async (f: string): Promise<number> => (await stat(f)).mode & 0o777
    expect(await mode(d.caFile)).toBe(0o644)
    for (const f of [d.auditLog, d.networkLog, d.logFile, join(d.dir, 'ready.json')])
      expect(await mode(f)).toBe(0o600)
    expect(await mode(d.socketPath!)).toBe(0o600)
  })

  it('fails to start with the reason when the config is bad, leaking no secret', async () => {
    const err = await startTestDaemon({ githubToken: TOKEN, allow: ['*'] }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ProxyStartError)
    expect((err as ProxyStartError).code).toBe('AIRLOCK_PROXY_START')
    expect((err as Error).message).toContain('allowed-endpoints')
    expect((err as Error).message).not.toContain(TOKEN)
  })
})

describe('startProxyDaemon', () => {
  it('does not mistake a ready file left by an earlier run for this one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'airlock-it-'))
    let spawned: number | undefined
    try {
      const config = daemonConfig(dir, {})
      await writeFile(config.readyFile!, JSON.stringify({ pid: 1, port: 1, caCertFile: 'x' }))
      const ready = await startProxyDaemon(config, {
        script: PROXY_SCRIPT,
        logFile: join(dir, 'daemon.log'),
        onSpawn: (pid) => (spawned = pid)
      })
      expect(ready.pid).toBe(spawned)
      expect(ready.port).not.toBe(1)
      const r = await rawProxyRequest(
        ready.port!,
        'GET /_airlock/health HTTP/1.1\r\nHost: x\r\n\r\n'
      )
      expect(r.status).toBe(200)
    } finally {
      if (spawned !== undefined) await stopProcess(spawned)
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('spawned early and then cancelled, exits at once having received and written nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'airlock-it-'))
    const logFile = join(dir, 'daemon.log')
    try {
      const pending = spawnProxyDaemon({ script: PROXY_SCRIPT, logFile })
      expect(alive(pending.pid)).toBe(true)
      expect(pending.cancel()).toBe(true)
      // A second cancel, or a start after it, hands nothing over.
      expect(pending.cancel()).toBe(false)
      const config = daemonConfig(dir, {})
      await expect(pending.start(config)).rejects.toThrow(ProxyStartError)
      await waitFor(() => (alive(pending.pid) ? undefined : true), 10_000)
      expect(await readFile(logFile, 'utf8')).toBe('')
      await expect(stat(config.readyFile!)).rejects.toThrow()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('spawned early, starts when its config comes later', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'airlock-it-'))
    const pending = spawnProxyDaemon({ script: PROXY_SCRIPT, logFile: join(dir, 'daemon.log') })
    try {
      // The caller checks the platform and mints grants meanwhile; the process just waits.
      await new Promise((r) => setTimeout(r, 300))
      expect(alive(pending.pid)).toBe(true)
      const ready = await pending.start(daemonConfig(dir, {}))
      expect(ready.pid).toBe(pending.pid)
      expect(pending.cancel()).toBe(false)
      const r = await rawProxyRequest(
        ready.port!,
        'GET /_airlock/health HTTP/1.1\r\nHost: x\r\n\r\n'
      )
      expect(r.status).toBe(200)
    } finally {
      await stopProcess(pending.pid)
      await rm(dir, { recursive: true, force: true })
    }
  })
})
