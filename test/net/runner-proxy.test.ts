/**
 * One HTTP layer on the runner: the agent install, grant calls (and with them key checks) and
 * the proxy's upstream dials read HTTPS_PROXY / HTTP_PROXY / NO_PROXY the same way, and a
 * request that gets no answer says which URL and why. Behind a real (tiny) CONNECT proxy.
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGrantFetch } from '../../src/grant/http.js'
import { noProxyMatches, proxyFor, runnerFetch, runnerProxy } from '../../src/net/runner-proxy.js'
import { ClaudeProvider } from '../../src/providers/claude.js'
import { installAgent } from '../../src/sandbox/agent-install.js'
import { listenHttps } from '../support/https-fake.js'
import { createTestPki, type TestPki } from '../support/test-ca.js'

/** A CONNECT forward proxy that records every authority it is asked for (loopback only). */
async function startConnectProxy(): Promise<{
  url: string
  authorities: string[]
  close: () => Promise<void>
}> {
  const authorities: string[] = []
  const sockets = new Set<net.Socket>()
  const server = http.createServer((_req, res) => res.writeHead(405).end())
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    sockets.add(client)
    authorities.push(req.url ?? '')
    const port = Number((req.url ?? '').split(':').at(-1))
    const target = net.connect({ host: '127.0.0.1', port })
    sockets.add(target)
    target.on('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length) target.write(head)
      target.pipe(client)
      client.pipe(target)
    })
    target.on('error', () => client.destroy())
    client.on('error', () => target.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    authorities,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

describe('NO_PROXY and the proxy variables', () => {
  it.each([
    ['registry.npmjs.org', 'npmjs.org', undefined, true],
    ['registry.npmjs.org', '.npmjs.org', undefined, true],
    ['registry.npmjs.org', '*.npmjs.org', undefined, true],
    ['npmjs.org', '.npmjs.org', undefined, true],
    ['evilnpmjs.org', 'npmjs.org', undefined, false],
    ['api.github.com', 'localhost github.com', undefined, true],
    ['api.github.com', 'example.com,*', undefined, true],
    ['api.github.com', '*', undefined, true],
    ['API.GitHub.com', 'github.com', undefined, true],
    ['ghe.corp', 'ghe.corp:8443', 443, false],
    ['ghe.corp', 'ghe.corp:8443', 8443, true],
    ['::1', '[::1]', undefined, true],
    ['api.github.com', '', undefined, false]
  ])('%s with NO_PROXY=%j (port %s): bypass %s', (host, noProxy, port, bypass) => {
    expect(noProxyMatches(host, noProxy, port)).toBe(bypass)
  })

  it('reads lower-case names first, and https falls back to http_proxy', () => {
    expect(
      runnerProxy({ HTTPS_PROXY: 'http://upper:1', https_proxy: 'http://lower:1', NO_PROXY: 'a' })
    ).toEqual({ httpsProxy: 'http://lower:1', noProxy: 'a' })
    expect(runnerProxy({ HTTP_PROXY: 'http://p:3128' })).toEqual({
      httpProxy: 'http://p:3128',
      httpsProxy: 'http://p:3128',
      noProxy: ''
    })
    const p = runnerProxy({ HTTPS_PROXY: 'http://p:3128', NO_PROXY: '.corp' })
    expect(proxyFor('https://api.github.com/', p)).toBe('http://p:3128')
    expect(proxyFor('https://ghe.corp/', p)).toBeUndefined()
    expect(proxyFor('http://plain.example/', p)).toBeUndefined()
  })
})

describe('behind a forward proxy', () => {
  let proxy: Awaited<ReturnType<typeof startConnectProxy>>
  let pki: TestPki
  let registry: Awaited<ReturnType<typeof listenHttps>>
  let work: string
  const version = '9.9.9'
  let tgz: Buffer
  const requests: string[] = []

  beforeAll(async () => {
    proxy = await startConnectProxy()
    pki = await createTestPki(['registry.airlock.test'])
    work = mkdtempSync(join(tmpdir(), 'airlock-rp-'))
    // A platform package as the registry has it: package/claude in a gzipped tarball.
    mkdirSync(join(work, 'pkg', 'package'), { recursive: true })
    writeFileSync(join(work, 'pkg', 'package', 'claude'), '#!/bin/sh\necho fake claude\n', {
      mode: 0o755
    })
    execFileSync('tar', ['-czf', join(work, 'pkg.tgz'), '-C', join(work, 'pkg'), 'package'])
    tgz = readFileSync(join(work, 'pkg.tgz'))
    const integrity = `sha512-${createHash('sha512').update(tgz).digest('base64')}`
    registry = await listenHttps(pki, (req, res) => {
      requests.push(req.url ?? '')
      if (req.url === `/@anthropic-ai%2fclaude-code-linux-x64/${version}`) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            dist: {
              tarball: `https://localhost:${registry.port}/claude-code-linux-x64-${version}.tgz`,
              integrity
            }
          })
        )
      } else if (req.url === `/claude-code-linux-x64-${version}.tgz`) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(tgz)
      } else res.writeHead(404).end()
    })
  })
  afterAll(async () => {
    await proxy?.close()
    await registry?.close()
    rmSync(work, { recursive: true, force: true })
  })

  /** The install reads RUNNER_TOOL_CACHE / RUNNER_TEMP from process.env (tool-cache does). */
  function withRunnerDirs<T>(fn: () => Promise<T>): Promise<T> {
    const saved = { c: process.env.RUNNER_TOOL_CACHE, t: process.env.RUNNER_TEMP }
    const dir = mkdtempSync(join(work, 'run-'))
    process.env.RUNNER_TOOL_CACHE = join(dir, 'cache')
    process.env.RUNNER_TEMP = join(dir, 'temp')
    mkdirSync(process.env.RUNNER_TEMP)
    return fn().finally(() => {
      for (const [k, v] of [
        ['RUNNER_TOOL_CACHE', saved.c],
        ['RUNNER_TEMP', saved.t]
      ] as const)
        if (v === undefined) delete process.env[k]
        else process.env[k] = v
    })
  }

  it('installs the agent through HTTPS_PROXY (metadata and tarball)', async () => {
    proxy.authorities.length = 0
    requests.length = 0
    const installed = await withRunnerDirs(() =>
      installAgent(
        new ClaudeProvider(),
        version,
        () => {},
        {
          ...process.env,
          HTTPS_PROXY: proxy.url,
          AIRLOCK_NPM_REGISTRY: `https://localhost:${registry.port}`,
          NODE_EXTRA_CA_CERTS: pki.caFile
        },
        'x64',
        { ca: pki.caPem }
      )
    )
    expect(installed.cached).toBe(false)
    expect(readFileSync(join(installed.dir, 'package', 'claude'), 'utf8')).toContain('fake claude')
    expect(proxy.authorities).toEqual([`localhost:${registry.port}`, `localhost:${registry.port}`])
    expect(requests).toHaveLength(2)
  })

  it('goes direct for a NO_PROXY registry', async () => {
    proxy.authorities.length = 0
    await withRunnerDirs(() =>
      installAgent(
        new ClaudeProvider(),
        version,
        () => {},
        {
          HTTPS_PROXY: proxy.url,
          NO_PROXY: 'localhost',
          AIRLOCK_NPM_REGISTRY: `https://localhost:${registry.port}`
        },
        'x64',
        { ca: pki.caPem }
      )
    )
    expect(proxy.authorities).toEqual([])
  })

  it('names the registry URL and the cause when it cannot be reached', async () => {
    const closed = net.createServer()
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r))
    const port = (closed.address() as net.AddressInfo).port
    await new Promise<void>((r) => closed.close(() => r()))
    const err = await withRunnerDirs(() =>
      // npm's own setting names the registry when AIRLOCK_NPM_REGISTRY is not set.
      installAgent(new ClaudeProvider(), version, () => {}, {
        npm_config_registry: `http://127.0.0.1:${port}/`
      })
    ).catch((e: unknown) => e as Error)
    expect(err).toBeInstanceOf(Error)
    const message = (err as Error).message
    expect(message).toContain(
      `http://127.0.0.1:${port}/@anthropic-ai%2fclaude-code-linux-x64/${version}`
    )
    expect(message).toContain('ECONNREFUSED')
    expect(message).not.toContain('fetch failed')
  })

  it('names the proxy when the proxy is what failed', async () => {
    const f = runnerFetch({ HTTPS_PROXY: 'http://user:secret@127.0.0.1:1' })
    const err = await f('https://registry.airlock.test/x').catch((e: unknown) => e as Error)
    expect((err as Error).message).toMatch(
      /^https:\/\/registry\.airlock\.test\/x: .*ECONNREFUSED.* \(through the proxy http:\/\/127\.0\.0\.1:1\)$/
    )
    expect((err as Error).message).not.toContain('secret')
  })

  it.each(['', 'localhost', 'localhost:1', '.localhost', '*'])(
    'grant calls and runner fetches agree with NO_PROXY=%j',
    async (noProxy) => {
      const env = { HTTPS_PROXY: proxy.url, NO_PROXY: noProxy }
      const url = `https://localhost:${registry.port}/x`
      proxy.authorities.length = 0
      await (await runnerFetch(env, { ca: pki.caPem })(url)).text()
      const viaRunner = proxy.authorities.length
      proxy.authorities.length = 0
      await (await createGrantFetch({ env, upstreamCa: pki.caPem })(url)).text()
      const viaGrant = proxy.authorities.length
      expect(viaGrant).toBe(viaRunner)
      expect(viaRunner > 0).toBe(proxyFor(url, runnerProxy(env)) !== undefined)
    }
  )
})
