import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import tls from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { dockerRun, ensureTestImage, requireDocker, TEST_IMAGE } from './docker.js'
import { startGitServer } from './git-server.js'
import type { GitServer } from './git-server.js'
import { createTestPki } from './test-ca.js'
import type { TestPki } from './test-ca.js'
import { startUpstream, wsClientOverSocket } from './upstream.js'
import type { Upstream } from './upstream.js'

interface Resp {
  status: number
  headers: http.IncomingHttpHeaders
  body: Buffer
}

function request(
  url: string,
  opts: { method?: string; body?: string | Buffer; ca?: string; servername?: string } = {}
): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const u = new URL(url)
    const mod = u.protocol === 'https:' ? https : http
    const req = mod.request(
      u,
      {
        method: opts.method ?? 'GET',
        ca: opts.ca,
        servername: opts.servername,
        rejectUnauthorized: true,
        agent: false
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks)
          })
        )
        res.on('error', reject)
      }
    )
    req.on('error', reject)
    req.end(opts.body)
  })
}

function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd?: string
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }))
  })
}

describe('createTestPki', () => {
  it('issues a CA-signed server certificate for the names plus loopback', async () => {
    const pki = await createTestPki(['api.example.test', '*.wild.test'])
    const ca = new X509Certificate(pki.caPem)
    const leaf = new X509Certificate(pki.certPem)
    expect(ca.ca).toBe(true)
    expect(leaf.ca).toBe(false)
    expect(leaf.verify(ca.publicKey)).toBe(true)
    expect(leaf.checkIssued(ca)).toBe(true)
    expect(leaf.subjectAltName).toContain('DNS:api.example.test')
    expect(leaf.subjectAltName).toContain('DNS:*.wild.test')
    expect(leaf.subjectAltName).toContain('DNS:localhost')
    expect(leaf.subjectAltName).toContain('IP Address:127.0.0.1')
    expect(leaf.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1')
    expect(await readFile(pki.caFile, 'utf8')).toBe(pki.caPem)
    expect(pki.caFile.startsWith(pki.dir)).toBe(true)
  })
})

describe('upstream (https)', () => {
  let pki: TestPki
  let up: Upstream

  beforeAll(async () => {
    pki = await createTestPki(['api.example.test'])
    up = await startUpstream({ pki })
  })
  afterAll(async () => {
    await up.close()
  })

  it('echoes a POST and records it, trusted only through the test CA', async () => {
    const res = await request(`${up.url}/echo/x?y=1`, {
      method: 'POST',
      body: 'hello body',
      ca: pki.caPem,
      servername: 'api.example.test'
    })
    expect(res.status).toBe(200)
    const echoed = JSON.parse(res.body.toString()) as { method: string; url: string; body: string }
    expect(echoed).toMatchObject({ method: 'POST', url: '/echo/x?y=1', body: 'hello body' })
    const rec = up.requests.find((r) => r.url === '/echo/x?y=1')
    expect(rec?.body.toString()).toBe('hello body')
    expect(rec?.servername).toBe('api.example.test')
    expect(up.connections).toBeGreaterThanOrEqual(1)

    // Without the CA the certificate must be rejected.
    await expect(request(`${up.url}/echo`)).rejects.toThrow()
  })

  it('records SSE send times and streams events spaced by the interval', async () => {
    up.reset()
    const received: number[] = []
    const events: string[] = []
    await new Promise<void>((resolve, reject) => {
      const req = https.request(
        `${up.url}/sse?n=4&interval=60`,
        { ca: pki.caPem, agent: false },
        (res) => {
          expect(res.headers['content-type']).toBe('text/event-stream')
          let buf = ''
          res.on('data', (c: Buffer) => {
            buf += c.toString()
            let i
            while ((i = buf.indexOf('\n\n')) >= 0) {
              events.push(buf.slice(0, i))
              received.push(performance.now())
              buf = buf.slice(i + 2)
            }
          })
          res.on('end', () => resolve())
        }
      )
      req.on('error', reject)
      req.end()
    })
    expect(events).toEqual(['data: 0', 'data: 1', 'data: 2', 'data: 3'])
    expect(up.sseSent).toHaveLength(4)
    for (let i = 1; i < 4; i++) {
      // Timers may fire up to ~1 ms early; the gap is the helper's contract, not a benchmark.
      expect(up.sseSent[i]! - up.sseSent[i - 1]!).toBeGreaterThanOrEqual(55)
      expect(received[i]!).toBeGreaterThanOrEqual(up.sseSent[i]!)
    }
  })

  it('serves /bytes, /sink, /redirect, /status, /echo-secret and /slow-headers', async () => {
    const bytes = await request(`${up.url}/bytes?n=200000`, { ca: pki.caPem })
    expect(bytes.headers['content-length']).toBe('200000')
    expect(bytes.body.length).toBe(200000)
    expect(bytes.body[1000]).toBe(1000 % 256)

    const payload = Buffer.alloc(300000, 7)
    const sink = await request(`${up.url}/sink`, { method: 'POST', body: payload, ca: pki.caPem })
    expect(JSON.parse(sink.body.toString())).toEqual({
      bytes: 300000,
      sha256: createHash('sha256').update(payload).digest('hex')
    })

    const redir = await request(`${up.url}/redirect?to=${encodeURIComponent('https://x.test/a')}`, {
      ca: pki.caPem
    })
    expect(redir.status).toBe(302)
    expect(redir.headers.location).toBe('https://x.test/a')

    expect((await request(`${up.url}/status/418`, { ca: pki.caPem })).status).toBe(418)
    expect((await request(`${up.url}/nope`, { ca: pki.caPem })).status).toBe(404)

    const secret = await request(`${up.url}/echo-secret?value=s3cr3t-value`, { ca: pki.caPem })
    expect(secret.body.toString()).toBe('s3cr3t-value')
    expect(secret.headers['x-echo']).toBe('s3cr3t-value')

    const t0 = performance.now()
    const slow = await request(`${up.url}/slow-headers?ms=150`, { ca: pki.caPem })
    expect(slow.status).toBe(200)
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140)
  })

  it('echoes WebSocket messages through wsClientOverSocket over a direct TLS socket', async () => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port: up.port,
      ca: pki.caPem,
      servername: 'api.example.test',
      ALPNProtocols: ['http/1.1']
    })
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => resolve())
      socket.once('error', reject)
    })
    const ws = await wsClientOverSocket(socket, 'api.example.test', '/ws')
    ws.send('hello ws')
    expect(await ws.next()).toBe('hello ws')
    const big = 'x'.repeat(70000) // 64-bit length encoding
    ws.send(big)
    expect(await ws.next()).toBe(big)
    ws.sendBinary(Buffer.from('bin'))
    expect(await ws.next()).toBe('bin')
    expect(up.requests.some((r) => r.url === '/ws' && r.headers.upgrade === 'websocket')).toBe(true)
    ws.close()
    await expect(ws.next()).rejects.toThrow(/closed/)
  })

  it('rejects a WebSocket handshake on another path', async () => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port: up.port,
      ca: pki.caPem,
      servername: 'localhost'
    })
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()))
    await expect(wsClientOverSocket(socket, 'localhost', '/not-ws')).rejects.toThrow(/400/)
    socket.destroy()
  })
})

describe('upstream (plain http)', () => {
  it('serves the same routes over HTTP and counts connections', async () => {
    const up = await startUpstream({ http: true })
    try {
      expect(up.url.startsWith('http://127.0.0.1:')).toBe(true)
      expect(up.pki).toBeUndefined()
      const res = await request(`${up.url}/echo`, { method: 'PUT', body: 'b' })
      expect(JSON.parse(res.body.toString())).toMatchObject({ method: 'PUT', body: 'b' })
      expect(up.connections).toBe(1)
      expect(up.requests).toHaveLength(1)
      up.reset()
      expect(up.requests).toHaveLength(0)
      expect(up.connections).toBe(0)
    } finally {
      await up.close()
    }
  })
})

describe('git server', () => {
  const token = 'ghs_testtoken123'
  let srv: GitServer
  let work: string
  let env: NodeJS.ProcessEnv

  beforeAll(async () => {
    const pki = await createTestPki(['github.com'])
    srv = await startGitServer({ pki, token, repo: 'octo/hello.git' })
    work = await mkdtemp(join(tmpdir(), 'airlock-git-client-'))
    env = {
      PATH: process.env.PATH,
      HOME: work,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_TERMINAL_PROMPT: '0',
      GIT_SSL_CAINFO: pki.caFile
    }
  })
  afterAll(async () => {
    await srv.close()
  })

  it('clones and pushes with the real git CLI when the Basic token is sent', async () => {
    const basic = Buffer.from(`x-access-token:${token}`).toString('base64')
    const auth = ['-c', `http.extraHeader=Authorization: Basic ${basic}`]
    const clone = await run('git', [...auth, 'clone', srv.url, 'clone'], env, work)
    expect(clone.stderr).not.toMatch(/fatal/)
    expect(clone.code).toBe(0)
    const dir = join(work, 'clone')
    expect(await readFile(join(dir, 'README.md'), 'utf8')).toBe('# test repo\n')

    const id = ['-c', 'user.name=T', '-c', 'user.email=t@t.invalid']
    // 3 MiB of incompressible data: above http.postBuffer, so git streams the pack chunked.
    await writeFile(join(dir, 'big.bin'), randomBytes(3 * 1024 * 1024))
    expect((await run('git', ['add', 'big.bin'], env, dir)).code).toBe(0)
    expect((await run('git', [...id, 'commit', '-m', 'pushed'], env, dir)).code).toBe(0)
    const push = await run('git', [...auth, 'push', 'origin', 'main'], env, dir)
    expect(push.code, push.stderr).toBe(0)
    const local = (await run('git', ['rev-parse', 'HEAD'], env, dir)).stdout.trim()
    const remote = (await run('git', ['-C', srv.repoDir, 'rev-parse', 'main'], env)).stdout.trim()
    expect(remote).toBe(local)
    expect(remote).not.toBe(srv.initialCommit)
    const pushes = srv.requests.filter(
      (r) => r.method === 'POST' && r.url.endsWith('/git-receive-pack')
    )
    expect(
      pushes.some((r) => r.status === 200 && r.headers['transfer-encoding'] === 'chunked')
    ).toBe(true)
    const blob = await run('git', ['-C', srv.repoDir, 'cat-file', '-s', 'main:big.bin'], env)
    expect(blob.stdout.trim()).toBe(String(3 * 1024 * 1024))
  })

  it('answers 401 with a Basic challenge when the header is missing or wrong', async () => {
    const before = srv.requests.length
    const ls = await run('git', ['ls-remote', srv.url], env, work)
    expect(ls.code).not.toBe(0)
    const mine = srv.requests.slice(before)
    expect(mine.length).toBeGreaterThan(0)
    expect(mine.every((r) => r.status === 401 && !r.authorized)).toBe(true)

    const wrong = Buffer.from('x-access-token:wrong').toString('base64')
    const ls2 = await run(
      'git',
      ['-c', `http.extraHeader=Authorization: Basic ${wrong}`, 'ls-remote', srv.url],
      env,
      work
    )
    expect(ls2.code).not.toBe(0)

    const res = await request(`${srv.url}/info/refs?service=git-upload-pack`, { ca: srv.pki.caPem })
    expect(res.status).toBe(401)
    expect(res.headers['www-authenticate']).toBe('Basic realm="git"')
  })
})

const hasDocker = await requireDocker()

describe.skipIf(!hasDocker)('test image (docker)', () => {
  let image: string

  beforeAll(async () => {
    image = await ensureTestImage()
  }, 180_000)

  it('runs node, git, curl and python3 as uid 1001 with no network', async () => {
    expect(image).toBe(TEST_IMAGE)
    const script = [
      'id -u',
      'node --version',
      'git --version',
      'curl --version | head -n 1',
      'python3 -c \'import ssl, urllib.request; print("py-ok")\'',
      'touch /home/airlock/f /tmp/f && echo writable'
    ].join(' && ')
    const r = await dockerRun(
      ['run', '--rm', '--network', 'none', '--user', '1001:1001', image, 'sh', '-c', script],
      { timeoutMs: 60_000 }
    )
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split('\n')
    expect(lines[0]).toBe('1001')
    expect(lines[1]).toMatch(/^v\d+\.\d+\.\d+$/)
    expect(lines[2]).toMatch(/^git version \d/)
    expect(lines[3]).toMatch(/^curl \d/)
    expect(lines[4]).toBe('py-ok')
    expect(lines[5]).toBe('writable')
  }, 60_000)

  it('carries the content-hash label and has no network interface but loopback', async () => {
    const label = await dockerRun([
      'image',
      'inspect',
      '-f',
      '{{ index .Config.Labels "airlock.test-image.hash" }}',
      TEST_IMAGE
    ])
    expect(label.stdout.trim()).toMatch(/^[0-9a-f]{32}$/)
    const r = await dockerRun(
      [
        'run',
        '--rm',
        '--network',
        'none',
        '--user',
        '1001:1001',
        TEST_IMAGE,
        'node',
        '-e',
        'console.log(Object.keys(require("os").networkInterfaces()).join(","))'
      ],
      { timeoutMs: 60_000 }
    )
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe('lo')
  }, 60_000)
})
