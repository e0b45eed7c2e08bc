/**
 * HTTP details real clients depend on, through the real daemon process: Expect:
 * 100-continue uploads, HEAD, chunked request bodies, upstream certificate checks, refused
 * and mismatched WebSocket upgrades, long waits for the first byte.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import https from 'node:https'
import net, { type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { PLACEHOLDERS } from '../../../src/providers/defaults.js'
import { wsClientOverSocket } from '../../support/upstream.js'
import { createTestPki } from '../../support/test-ca.js'
import {
  GH_PLACEHOLDER,
  cleanEnv,
  connectAll,
  ensureBuilt,
  filesContaining,
  openTunnel,
  rawProxyRequest,
  realToken,
  run,
  startTestDaemon,
  startWorld,
  type TestDaemon,
  type World,
  waitFor
} from './harness.js'

const TOKEN = realToken()
const GEMINI_KEY = `AIza${randomBytes(16).toString('hex')}`
const GEMINI = 'generativelanguage.googleapis.com'

let world: World
let daemon: TestDaemon
let home: string
/** A server answering with repeated headers that echo the token: `uploads.github.com`. */
let multi: https.Server
/** A server whose certificate names its host but comes from a CA the proxy was not given. */
let stranger: https.Server
let strangerHits = 0

beforeAll(async () => {
  await ensureBuilt('proxy')
  world = await startWorld()
  home = await mkdtemp(join(tmpdir(), 'airlock-it-home-'))
  multi = https.createServer({ key: world.pki.keyPem, cert: world.pki.certPem }, (req, res) => {
    const auth = req.headers.authorization ?? ''
    res.setHeader('set-cookie', [`a=${auth}`, `b=${auth}; Secure`])
    res.setHeader('x-dup', [auth, 'plain'])
    res.end('multi')
  })
  await new Promise<void>((r) => multi.listen(0, '127.0.0.1', r))
  const strangerPki = await createTestPki(['stranger.test'])
  stranger = https.createServer(
    { key: strangerPki.keyPem, cert: strangerPki.certPem },
    (_req, res) => {
      strangerHits++
      res.end('stranger')
    }
  )
  await new Promise<void>((r) => stranger.listen(0, '127.0.0.1', r))
  daemon = await startTestDaemon({
    githubToken: TOKEN,
    grants: [{ provider: 'gemini', token: GEMINI_KEY }],
    allow: ['other.test', 'wrong-cert.test', 'stranger.test', 'http://plain.test'],
    connectTo: [
      ...connectAll(world.upstream.port, [
        'api.github.com',
        'other.test',
        'wrong-cert.test',
        GEMINI
      ]),
      `uploads.github.com:443=127.0.0.1:${(multi.address() as AddressInfo).port}`,
      `stranger.test:443=127.0.0.1:${(stranger.address() as AddressInfo).port}`,
      `plain.test:80=127.0.0.1:${world.plain.port}`
    ],
    upstreamCa: world.pki.caPem
  })
})

afterAll(async () => {
  await daemon.stop()
  expect(await filesContaining(daemon.dir, [TOKEN, GEMINI_KEY])).toEqual([])
  multi.close()
  stranger.close()
  await world.close()
  await rm(daemon.dir, { recursive: true, force: true })
  await rm(home, { recursive: true, force: true })
})

beforeEach(() => {
  world.upstream.reset()
  world.plain.reset()
})

const curl = (...args: string[]) =>
  run('curl', ['-sS', '-x', daemon.proxyUrl, '--cacert', daemon.caFile, ...args], {
    env: cleanEnv(home)
  })

describe('request bodies', () => {
  it('uploads with curl through Expect: 100-continue (a 4 MB file)', async () => {
    const data = randomBytes(4 * 1024 * 1024)
    const file = join(home, 'upload.bin')
    await writeFile(file, data)
    const r = await curl(
      '--fail-with-body',
      '-H',
      'Expect: 100-continue',
      '-H',
      `Authorization: Bearer ${GH_PLACEHOLDER}`,
      '--data-binary',
      `@${file}`,
      'https://api.github.com/sink'
    )
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({
      bytes: data.length,
      sha256: createHash('sha256').update(data).digest('hex')
    })
    expect(world.upstream.requests[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`)
  })

  it('passes a chunked request body through', async () => {
    const tunnel = await openTunnel(daemon, 'other.test:443')
    try {
      tunnel.socket.write(
        'POST /echo/chunked HTTP/1.1\r\nHost: other.test\r\nTransfer-Encoding: chunked\r\n\r\n' +
          '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'
      )
      const r = await tunnel.reader.read()
      expect(r.status).toBe(200)
      expect(JSON.parse(r.body.toString()).body).toBe('hello world')
    } finally {
      tunnel.close()
    }
  })
})

describe('responses', () => {
  it('keeps Content-Length on HEAD from a credentialed host', async () => {
    const r = await curl('-I', '--fail', 'https://api.github.com/bytes?n=12345')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^HTTP\/1\.1 200/)
    expect(r.stdout.toLowerCase()).toContain('content-length: 12345')
    expect(world.upstream.requests[0]!.method).toBe('HEAD')
  })

  it('keeps a gzip-free, scrubbed body for credentialed hosts even when the client asks for gzip', async () => {
    const r = await curl('--compressed', '--fail', 'https://api.github.com/echo/gz')
    expect(r.code).toBe(0)
    expect(world.upstream.requests[0]!.headers['accept-encoding']).toBe('identity')
    expect(JSON.parse(r.stdout).headers.authorization).toBe(`Bearer ${PLACEHOLDERS.github}`)
  })

  it('waits for a slow first byte', async () => {
    const r = await curl('--fail', 'https://other.test/slow-headers?ms=1500')
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('ok')
  })

  it('answers 502 when the upstream certificate does not name the host, sending nothing', async () => {
    const r = await curl(
      '-H',
      `Authorization: Bearer ${GH_PLACEHOLDER}`,
      '-w',
      '%{http_code}',
      '-o',
      '/dev/null',
      'https://wrong-cert.test/echo'
    )
    expect(r.stdout).toBe('502')
    expect(world.upstream.requests).toHaveLength(0)
  })

  // The daemon's trust store is Node's root store plus upstream-ca (src/proxy/dial.ts): a CA
  // that is in neither is refused like a wrong name.
  it('answers 502 when the upstream certificate comes from a CA it does not trust', async () => {
    const r = await curl('-w', '%{http_code}', '-o', '/dev/null', 'https://stranger.test/echo')
    expect(r.stdout).toBe('502')
    expect(strangerHits).toBe(0)
  })

  it('does not forward Proxy-Authorization over plain HTTP', async () => {
    const r = await curl('--fail', 'http://plain.test/echo/plain')
    expect(r.code).toBe(0)
    expect(world.plain.requests).toHaveLength(1)
    expect(world.plain.requests[0]!.headers['proxy-authorization']).toBeUndefined()
    expect(world.plain.requests[0]!.headers.host).toBe('plain.test')
  })
})

describe('WebSocket edge cases', () => {
  it('relays an upstream refusal of the upgrade', async () => {
    const tunnel = await openTunnel(daemon, 'api.github.com:443')
    try {
      await expect(wsClientOverSocket(tunnel.socket, 'api.github.com', '/not-ws')).rejects.toThrow(
        /refused: HTTP\/1\.1 400/
      )
    } finally {
      tunnel.close()
    }
    expect(world.upstream.requests.map((r) => r.url)).toEqual(['/not-ws'])
  })

  it('refuses an upgrade whose Host is not the tunnel host', async () => {
    const tunnel = await openTunnel(daemon, 'api.github.com:443')
    try {
      await expect(wsClientOverSocket(tunnel.socket, 'other.test', '/ws')).rejects.toThrow(
        /refused: HTTP\/1\.1 403/
      )
    } finally {
      tunnel.close()
    }
    expect(world.upstream.requests).toHaveLength(0)
    expect(world.upstream.connections).toBe(0)
  })

  it('refuses WebSocket over plain HTTP', async () => {
    const r = await rawProxyRequest(
      daemon.port,
      `GET http://plain.test/ws HTTP/1.1\r\nHost: plain.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nProxy-Authorization: ${daemon.proxyAuth}\r\n\r\n`
    )
    expect(r.status).toBeGreaterThanOrEqual(400)
    expect(world.plain.requests).toHaveLength(0)
  })
})

describe('token substitution (gemini)', () => {
  it('injects the key only as its header; the placeholder anywhere else goes out unchanged', async () => {
    const tunnel = await openTunnel(daemon, `${GEMINI}:443`)
    try {
      const r = await tunnel.request({
        method: 'POST',
        path: `/echo/v1beta/models/m:generateContent?key=${PLACEHOLDERS.gemini}`,
        headers: { 'x-goog-api-key': PLACEHOLDERS.gemini, 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: `say ${PLACEHOLDERS.gemini}` })
      })
      expect(r.status).toBe(200)
      // The echo of the real key comes back as the placeholder, never as the key.
      expect(r.body.toString()).not.toContain(GEMINI_KEY)
      expect(r.body.toString()).toContain(PLACEHOLDERS.gemini)
      // A small answer is scrubbed whole and keeps an exact length (no chunked framing), though
      // the placeholder and the key differ in length.
      expect(PLACEHOLDERS.gemini.length).not.toBe(GEMINI_KEY.length)
      expect(r.headers['transfer-encoding']).toBeUndefined()
      expect(r.headers['content-length']).toBe(String(r.body.length))
      const echo = JSON.parse(r.body.toString()) as { url: string; body: string }
      expect(echo.url).toBe(`/echo/v1beta/models/m:generateContent?key=${PLACEHOLDERS.gemini}`)
    } finally {
      tunnel.close()
    }
    const seen = world.upstream.requests[0]!
    // No substitution in path or body: a model asked to transform the placeholder must never
    // be handed the key (security battery 16.12–16.14).
    expect(seen.url).toBe(`/echo/v1beta/models/m:generateContent?key=${PLACEHOLDERS.gemini}`)
    expect(seen.headers['x-goog-api-key']).toBe(GEMINI_KEY)
    expect(JSON.parse(seen.body.toString())).toEqual({ prompt: `say ${PLACEHOLDERS.gemini}` })
    const line = await waitFor(() => daemon.network().find((e) => e.url.includes(':generate')))
    expect(line.url).toContain(`key=${PLACEHOLDERS.gemini}`)
    expect(line.requestHeaders?.['x-goog-api-key']).toBe('[injected:gemini]')
  })

  it('leaves a body over the substitution limit as it is', async () => {
    const big = `${PLACEHOLDERS.gemini}${'x'.repeat(70 * 1024)}`
    const tunnel = await openTunnel(daemon, `${GEMINI}:443`)
    try {
      const r = await tunnel.request({ method: 'POST', path: '/sink', body: big })
      expect(r.status).toBe(200)
    } finally {
      tunnel.close()
    }
    expect(world.upstream.requests[0]!.body.toString()).toBe(big)
  })
})

describe('scrubbing repeated response headers', () => {
  it('scrubs every value of Set-Cookie and other repeated headers', async () => {
    const tunnel = await openTunnel(daemon, 'uploads.github.com:443')
    try {
      const r = await tunnel.request({ path: '/' })
      expect(r.status).toBe(200)
      expect(r.body.toString()).toBe('multi')
      expect(r.headers['set-cookie']).toBe(
        `a=Bearer ${PLACEHOLDERS.github}, b=Bearer ${PLACEHOLDERS.github}; Secure`
      )
      expect(r.headers['x-dup']).toBe(`Bearer ${PLACEHOLDERS.github}, plain`)
    } finally {
      tunnel.close()
    }
  })
})

describe('plain HTTP Host binding', () => {
  it.each(['plain.test.', 'plain.test:81', 'plain.test@evil.test', 'evil.test'])(
    'refuses Host %s for http://plain.test/',
    async (host) => {
      const r = await rawProxyRequest(
        daemon.port,
        `GET http://plain.test/echo HTTP/1.1\r\nHost: ${host}\r\nProxy-Authorization: ${daemon.proxyAuth}\r\n\r\n`
      )
      expect(r.status).toBe(403)
      expect(r.headers['x-airlock-blocked']).toBe('host-mismatch')
      expect(world.plain.requests).toHaveLength(0)
    }
  )
})

describe('robustness', () => {
  /** The daemon still answers: it did not crash on what came before. */
  async function stillServes(): Promise<void> {
    const tunnel = await openTunnel(daemon, 'other.test:443')
    try {
      expect((await tunnel.request({ path: '/echo/alive' })).status).toBe(200)
    } finally {
      tunnel.close()
    }
  }

  it.each(['other.test', GEMINI])('survives a client that aborts mid-upload (%s)', async (host) => {
    const tunnel = await openTunnel(daemon, `${host}:443`)
    tunnel.socket.write(
      `POST /sink HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 1000\r\n\r\n${'x'.repeat(10)}`
    )
    await new Promise((r) => setTimeout(r, 100))
    tunnel.socket.destroy()
    await new Promise((r) => setTimeout(r, 100))
    await stillServes()
  })

  it('survives an upstream that resets a WebSocket', async () => {
    // A TCP relay in front of the WebSocket echo that answers the upgrade, then resets the
    // proxy's upstream connection (RST, so the proxy's socket sees ECONNRESET).
    const relayed: net.Socket[] = []
    const relay = net.createServer((down) => {
      const up = net.connect({ host: '127.0.0.1', port: world.upstream.port })
      down.on('error', () => {})
      up.on('error', () => {})
      down.pipe(up).pipe(down)
      relayed.push(down)
    })
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r))
    const server = relay
    const d = await startTestDaemon({
      allow: ['other.test'],
      connectTo: [`other.test:443=127.0.0.1:${(server.address() as AddressInfo).port}`],
      upstreamCa: world.pki.caPem
    })
    try {
      const tunnel = await openTunnel(d, 'other.test:443')
      const ws = await wsClientOverSocket(tunnel.socket, 'other.test', '/ws')
      ws.send('before')
      expect(await ws.next()).toBe('before')
      for (const s of relayed) s.resetAndDestroy()
      await expect(ws.next()).rejects.toThrow()
      tunnel.close()
      await new Promise((r) => setTimeout(r, 100))
      // Still alive: the health endpoint answers and the stop is clean.
      const health = await rawProxyRequest(
        d.port,
        'GET /_airlock/health HTTP/1.1\r\nHost: x\r\n\r\n'
      )
      expect(health.status).toBe(200)
    } finally {
      await d.stop()
      await rm(d.dir, { recursive: true, force: true })
      server.close()
    }
  })
})
