import http from 'node:http'
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  createGrantFetch,
  GrantNetworkError,
  noProxyMatches,
  requestWithRetry,
  safeUpstreamText,
  type HttpResult
} from '../../src/grant/http.js'
import { startUpstream, type Upstream } from '../support/upstream.js'

/** A CONNECT-only forward proxy that records the authorities asked for. */
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
    const [host, port] = (req.url ?? '').split(':')
    // Only loopback targets exist in this test; anything else is a failed tunnel.
    const target = net.connect({
      host: host === '127.0.0.1' ? host : '127.0.0.1',
      port: Number(port)
    })
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
  const port = (server.address() as net.AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    authorities,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

let upstream: Upstream
let proxy: Awaited<ReturnType<typeof startConnectProxy>>

beforeAll(async () => {
  upstream = await startUpstream({ names: ['api.grant.test'] })
  proxy = await startConnectProxy()
})

afterAll(async () => {
  await Promise.all([upstream?.close(), proxy?.close()])
})

describe('createGrantFetch', () => {
  it('dials the connect-to target and verifies TLS for the requested name with upstream-ca', async () => {
    const f = createGrantFetch({
      connectTo: [`api.grant.test:443=127.0.0.1:${upstream.port}`],
      upstreamCa: upstream.pki!.caPem,
      proxy: null
    })
    const res = await f('https://api.grant.test/echo', { headers: { 'x-probe': '1' } })
    expect(res.status).toBe(200)
    const last = upstream.requests.at(-1)!
    expect(last.servername).toBe('api.grant.test')
    expect(last.headers.host).toBe('api.grant.test')
    expect(last.headers['x-probe']).toBe('1')
  })

  it('refuses a certificate from a CA it was not given', async () => {
    const f = createGrantFetch({
      connectTo: [`api.grant.test:443=127.0.0.1:${upstream.port}`],
      proxy: null
    })
    const err = await f('https://api.grant.test/echo').then(
      () => undefined,
      (e: Error) => e
    )
    expect(err).toBeInstanceOf(Error)
    expect(String((err!.cause as Error | undefined)?.message ?? err!.message)).toMatch(
      /certificate|self.signed|issuer/i
    )
  })

  it('tunnels through the runner proxy (HTTPS_PROXY), to the connect-to target', async () => {
    const f = createGrantFetch({
      connectTo: [`api.grant.test:443=127.0.0.1:${upstream.port}`],
      upstreamCa: upstream.pki!.caPem,
      env: { HTTPS_PROXY: proxy.url }
    })
    proxy.authorities.length = 0
    const res = await f('https://api.grant.test/echo')
    expect(res.status).toBe(200)
    expect(proxy.authorities).toEqual([`127.0.0.1:${upstream.port}`])
    expect(upstream.requests.at(-1)!.servername).toBe('api.grant.test')
  })

  it('skips the proxy for NO_PROXY hosts', async () => {
    const f = createGrantFetch({
      connectTo: [`api.grant.test:443=127.0.0.1:${upstream.port}`],
      upstreamCa: upstream.pki!.caPem,
      env: { HTTPS_PROXY: proxy.url, NO_PROXY: 'localhost,.grant.test' }
    })
    proxy.authorities.length = 0
    expect((await f('https://api.grant.test/echo')).status).toBe(200)
    expect(proxy.authorities).toEqual([])
  })

  it('matches NO_PROXY entries like curl', () => {
    expect(noProxyMatches('api.grant.test', 'grant.test')).toBe(true)
    expect(noProxyMatches('api.grant.test', '.grant.test')).toBe(true)
    expect(noProxyMatches('api.grant.test', '*.grant.test')).toBe(true)
    expect(noProxyMatches('api.grant.test', 'other.test, *')).toBe(true)
    expect(noProxyMatches('evilgrant.test', 'grant.test')).toBe(false)
    expect(noProxyMatches('api.grant.test', '')).toBe(false)
  })
})

/** A fetch answering from a script, recording attempts. */
function scripted(answers: Array<number | Error>): { f: typeof fetch; calls: number } {
  const state = { calls: 0, f: undefined as unknown as typeof fetch }
  state.f = (_url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const a = answers[Math.min(state.calls++, answers.length - 1)]!
    if (a instanceof Error) return Promise.reject(a)
    expect(init?.signal).toBeInstanceOf(AbortSignal)
    return Promise.resolve(
      new Response(`status ${a}`, {
        status: a,
        headers: a === 429 ? { 'retry-after': '2' } : {}
      })
    )
  }
  return state
}

describe('requestWithRetry', () => {
  it('retries 5xx with full-jitter exponential backoff, then returns the success', async () => {
    const s = scripted([503, 500, 200])
    const waits: number[] = []
    const res = await requestWithRetry(
      s.f,
      'https://x.test/',
      {},
      {
        retry: { baseDelayMs: 100, maxDelayMs: 1000 },
        sleep: (ms) => {
          waits.push(ms)
          return Promise.resolve()
        }
      }
    )
    expect(res.status).toBe(200)
    expect(s.calls).toBe(3)
    expect(waits).toHaveLength(2)
    expect(waits[0]).toBeLessThanOrEqual(100)
    expect(waits[1]).toBeLessThanOrEqual(200)
  })

  it('returns a refusal at once', async () => {
    const s = scripted([403, 200])
    const res = await requestWithRetry(
      s.f,
      'https://x.test/',
      {},
      { sleep: () => Promise.resolve() }
    )
    expect(res.status).toBe(403)
    expect(s.calls).toBe(1)
  })

  it('honours Retry-After', async () => {
    const s = scripted([429, 200])
    const waits: number[] = []
    await requestWithRetry(
      s.f,
      'https://x.test/',
      {},
      {
        retry: { baseDelayMs: 1, maxDelayMs: 1000 },
        sleep: (ms) => {
          waits.push(ms)
          return Promise.resolve()
        }
      }
    )
    expect(waits[0]).toBe(2000)
  })

  it('uses the caller’s idea of retryable', async () => {
    const s = scripted([400, 200])
    const res = await requestWithRetry(
      s.f,
      'https://x.test/',
      {},
      {
        retryOn: (r: HttpResult) => r.body === 'status 400',
        sleep: () => Promise.resolve()
      }
    )
    expect(res.status).toBe(200)
  })

  it('returns the last answer once attempts run out', async () => {
    const s = scripted([502])
    const res = await requestWithRetry(
      s.f,
      'https://x.test/',
      {},
      {
        retry: { attempts: 4 },
        sleep: () => Promise.resolve()
      }
    )
    expect(res.status).toBe(502)
    expect(s.calls).toBe(4)
  })

  it('throws GrantNetworkError naming the URL and the cause when nothing answers', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
      code: 'ECONNREFUSED'
    })
    const s = scripted([new TypeError('fetch failed', { cause: refused })])
    const err = await requestWithRetry(
      s.f,
      'https://sts.x.test/',
      {},
      {
        retry: { attempts: 3 },
        sleep: () => Promise.resolve()
      }
    ).then(
      () => undefined,
      (e: unknown) => e
    )
    expect(err).toBeInstanceOf(GrantNetworkError)
    expect((err as GrantNetworkError).message).toBe(
      'cannot reach https://sts.x.test/ (3 attempts): connect ECONNREFUSED 127.0.0.1:1'
    )
    expect(s.calls).toBe(3)
  })

  it('stops when the caller aborts', async () => {
    const s = scripted([503])
    // A fixed draw, so the backoff is 30 s and only the abort can end it.
    vi.spyOn(Math, 'random').mockReturnValue(0.5)
    const ac = new AbortController()
    const p = requestWithRetry(
      s.f,
      'https://x.test/',
      {},
      {
        signal: ac.signal,
        retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 }
      }
    )
    setTimeout(() => ac.abort(new Error('cancelled')), 20)
    await expect(p).rejects.toThrow('cancelled')
    expect(s.calls).toBe(1)
    vi.restoreAllMocks()
  })
})

describe('safeUpstreamText', () => {
  it('removes JWTs and known secrets, flattens control characters and truncates', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl'
    expect(safeUpstreamText(`bad token ${jwt}\nfor s3cr3t-value`, ['s3cr3t-value'])).toBe(
      'bad token *** for ***'
    )
    expect(safeUpstreamText('x'.repeat(400))).toHaveLength(301)
  })
})
