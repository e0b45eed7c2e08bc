/**
 * Real clients through the real daemon process: curl, git (clone and push), undici's
 * ProxyAgent, python3 urllib, SSE streaming and WebSocket.
 */
import { PLACEHOLDERS } from '../../../src/providers/defaults.js'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fetch } from 'undici'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startGitServer, type GitServer } from '../../support/git-server.js'
import { wsClientOverSocket } from '../../support/upstream.js'
import {
  GH_PLACEHOLDER,
  cleanEnv,
  connectAll,
  ensureBuilt,
  filesContaining,
  openTunnel,
  proxyAgent,
  realToken,
  run,
  startTestDaemon,
  startWorld,
  type TestDaemon,
  type World,
  waitFor
} from './harness.js'

const TOKEN = realToken()
const BASIC = Buffer.from(`x-access-token:${TOKEN}`).toString('base64')

let world: World
let git: GitServer
let daemon: TestDaemon
let home: string

beforeAll(async () => {
  await ensureBuilt('proxy')
  world = await startWorld()
  git = await startGitServer({ pki: world.pki, token: TOKEN, repo: 'octo/hello.git' })
  home = await mkdtemp(join(tmpdir(), 'airlock-it-home-'))
  daemon = await startTestDaemon({
    githubToken: TOKEN,
    allow: ['other.test'],
    connectTo: [
      ...connectAll(world.upstream.port, ['api.github.com', 'uploads.github.com', 'other.test']),
      `github.com:443=127.0.0.1:${git.port}`
    ],
    upstreamCa: world.pki.caPem
  })
})

afterAll(async () => {
  const { entries } = await daemon.stop()
  expect(entries.some((e) => e.type === 'inject' && e.data.grant === 'github')).toBe(true)
  // Nothing the daemon wrote holds the real token, in any encoding it was used in.
  expect(await filesContaining(daemon.dir, [TOKEN, BASIC])).toEqual([])
  await git.close()
  // The git server's root (…/airlock-git-server-XXXX/srv/octo/hello.git) is ours to remove.
  const gitRoot = resolve(git.repoDir, '../../..')
  if (basename(gitRoot).startsWith('airlock-git-server-'))
    await rm(gitRoot, { recursive: true, force: true })
  await world.close()
  await rm(daemon.dir, { recursive: true, force: true })
  await rm(home, { recursive: true, force: true })
})

beforeEach(() => {
  world.upstream.reset()
})

describe('curl', () => {
  it('gets the real Bearer token injected in place of the ghp_ placeholder', async () => {
    const r = await run(
      'curl',
      [
        '-sS',
        '--fail-with-body',
        '-x',
        daemon.proxyUrl,
        '--cacert',
        daemon.caFile,
        '-H',
        `Authorization: Bearer ${GH_PLACEHOLDER}`,
        'https://api.github.com/echo/curl?x=1'
      ],
      { env: cleanEnv(home) }
    )
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(world.upstream.requests).toHaveLength(1)
    const seen = world.upstream.requests[0]!
    expect(seen.headers.authorization).toBe(`Bearer ${TOKEN}`)
    expect(seen.servername).toBe('api.github.com')
    expect(seen.headers['proxy-authorization']).toBeUndefined()
    // The echo carries the injected header back; the client sees it scrubbed.
    expect(r.stdout).not.toContain(TOKEN)
    expect(JSON.parse(r.stdout).headers.authorization).toBe(`Bearer ${PLACEHOLDERS.github}`)

    const line = await waitFor(() =>
      daemon.network().find((e) => e.url === 'https://api.github.com/echo/curl?x=1')
    )
    expect(line?.requestHeaders?.authorization).toBe('[injected:github]')
    expect(line?.grants).toEqual(['github'])
    expect(line?.status).toBe(200)
    expect(JSON.stringify(daemon.network())).not.toContain(TOKEN)
    expect(await filesContaining(daemon.dir, [TOKEN, BASIC])).toEqual([])
  })

  it('treats a mixed-case host exactly like the lower-case one (allowed and injected)', async () => {
    const r = await run(
      'curl',
      [
        '-sS',
        '--fail-with-body',
        '-x',
        daemon.proxyUrl,
        '--cacert',
        daemon.caFile,
        'https://API.GitHub.COM/echo/mixed'
      ],
      { env: cleanEnv(home) }
    )
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(world.upstream.requests).toHaveLength(1)
    expect(world.upstream.requests[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`)
  })
})

describe('git over HTTPS', () => {
  it('clones and pushes with Basic x-access-token injected, and no credentials in git', async () => {
    const work = await mkdtemp(join(tmpdir(), 'airlock-it-git-'))
    const env = cleanEnv(work, {
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_TERMINAL_PROMPT: '0',
      GIT_AUTHOR_NAME: 'Agent',
      GIT_AUTHOR_EMAIL: 'agent@airlock.invalid',
      GIT_COMMITTER_NAME: 'Agent',
      GIT_COMMITTER_EMAIL: 'agent@airlock.invalid'
    })
    const cfg = [
      '-c',
      `http.proxy=${daemon.proxyUrl}`,
      '-c',
      'http.proxyAuthMethod=basic',
      '-c',
      `http.sslCAInfo=${daemon.caFile}`,
      '-c',
      'credential.helper='
    ]
    try {
      const clone = await run(
        'git',
        [...cfg, 'clone', '--quiet', 'https://github.com/octo/hello.git', 'hello'],
        { env, cwd: work }
      )
      expect(clone.stderr).toBe('')
      expect(clone.code).toBe(0)
      const dir = join(work, 'hello')
      expect(await readFile(join(dir, 'README.md'), 'utf8')).toBe('# test repo\n')

      await writeFile(join(dir, 'change.txt'), 'pushed through the airlock\n')
      expect((await run('git', ['add', 'change.txt'], { env, cwd: dir })).code).toBe(0)
      expect((await run('git', ['commit', '-q', '-m', 'change'], { env, cwd: dir })).code).toBe(0)
      const local = (await run('git', ['rev-parse', 'HEAD'], { env, cwd: dir })).stdout.trim()
      const push = await run('git', [...cfg, 'push', '--quiet', 'origin', 'HEAD:main'], {
        env,
        cwd: dir
      })
      expect(push.stderr).toBe('')
      expect(push.code).toBe(0)
      const remote = await run('git', ['-C', git.repoDir, 'rev-parse', 'main'], { env })
      expect(remote.stdout.trim()).toBe(local)

      // git never had the token: every request the server saw carried the injected Basic.
      expect(git.requests.length).toBeGreaterThanOrEqual(4)
      expect(git.requests.every((r) => r.authorized)).toBe(true)
      expect(git.requests.some((r) => r.url.includes('git-receive-pack'))).toBe(true)
      const gitLines = await waitFor(() => {
        const lines = daemon.network().filter((e) => e.url.startsWith('https://github.com/'))
        return lines.length === git.requests.length ? lines : undefined
      })
      for (const l of gitLines) expect(l.requestHeaders?.authorization).toBe('[injected:github]')
      expect(await filesContaining(work, [TOKEN, BASIC])).toEqual([])
    } finally {
      await rm(work, { recursive: true, force: true })
    }
  })
})

describe('node fetch (undici ProxyAgent)', () => {
  it('injects for api.github.com and passes a POST body through', async () => {
    const agent = proxyAgent(daemon)
    try {
      const res = await fetch('https://api.github.com/echo/undici', {
        method: 'POST',
        headers: { authorization: `Bearer ${GH_PLACEHOLDER}`, 'content-type': 'text/plain' },
        body: 'hello from undici',
        dispatcher: agent
      })
      expect(res.status).toBe(200)
      const body = (await res.json()) as { body: string; headers: Record<string, string> }
      expect(body.body).toBe('hello from undici')
      expect(body.headers.authorization).toBe(`Bearer ${PLACEHOLDERS.github}`)
      expect(world.upstream.requests[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`)
    } finally {
      await agent.close()
    }
  })
})

describe('python3 urllib', () => {
  it('goes through the proxy with ProxyHandler and the run CA', async () => {
    const script = `
import ssl, sys, urllib.request
proxy, ca, url, placeholder = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca)
opener = urllib.request.build_opener(
    urllib.request.ProxyHandler({'https': proxy, 'http': proxy}),
    urllib.request.HTTPSHandler(context=ctx))
req = urllib.request.Request(url, headers={'Authorization': 'Bearer ' + placeholder})
with opener.open(req, timeout=30) as r:
    sys.stdout.write(str(r.status) + '\\n' + r.read().decode())
`
    const r = await run(
      'python3',
      [
        '-c',
        script,
        daemon.proxyUrl,
        daemon.caFile,
        'https://api.github.com/echo/python',
        GH_PLACEHOLDER
      ],
      { env: cleanEnv(home) }
    )
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout.split('\n')[0]).toBe('200')
    expect(r.stdout).not.toContain(TOKEN)
    expect(world.upstream.requests).toHaveLength(1)
    expect(world.upstream.requests[0]!.url).toBe('/echo/python')
    expect(world.upstream.requests[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`)
  })
})

describe('streaming', () => {
  it('delivers each SSE event before the upstream sends the next one', async () => {
    const agent = proxyAgent(daemon)
    try {
      const n = 8
      const res = await fetch(`https://api.github.com/sse?n=${n}&interval=100`, {
        dispatcher: agent
      })
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('text/event-stream')
      const arrivals: number[] = []
      let text = ''
      const decoder = new TextDecoder()
      for await (const chunk of res.body!) {
        text += decoder.decode(chunk as Uint8Array, { stream: true })
        const count = text.split('\n\n').length - 1
        while (arrivals.length < count) arrivals.push(performance.now())
      }
      expect(text).toBe(Array.from({ length: n }, (_, i) => `data: ${i}\n\n`).join(''))
      const sent = world.upstream.sseSent
      expect(sent).toHaveLength(n)
      expect(arrivals).toHaveLength(n)
      for (let i = 0; i + 1 < n; i++) expect(arrivals[i]!).toBeLessThan(sent[i + 1]!)
    } finally {
      await agent.close()
    }
  })

  it('relays a WebSocket echo with the credential injected on the upgrade', async () => {
    const tunnel = await openTunnel(daemon, 'api.github.com:443')
    try {
      const ws = await wsClientOverSocket(tunnel.socket, 'api.github.com', '/ws', {
        Authorization: `Bearer ${GH_PLACEHOLDER}`
      })
      ws.send('hello')
      expect(await ws.next()).toBe('hello')
      ws.sendBinary(Buffer.from('x'.repeat(70_000)))
      expect(await ws.next()).toBe('x'.repeat(70_000))
      ws.close()
      const up = world.upstream.requests.find((r) => r.url === '/ws')
      expect(up?.headers.authorization).toBe(`Bearer ${TOKEN}`)
      expect(up?.headers.upgrade).toBe('websocket')
    } finally {
      tunnel.close()
    }
  })
})
