import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  GitHubApiError,
  GitHubClient,
  type GitHubClientOptions,
  type RateLimitEvent
} from '../../src/workflow/github.js'
import { startFakeGitHub, type FakeGitHub } from '../support/fake-github.js'

/**
 * The workflow steps' GitHub client (Octokit with the retry and throttling plugins) against
 * the GitHub-shaped fake answering as GitHub does when limits are hit: secondary limits (403
 * and 429 with `retry-after`), an exhausted primary limit, gateway errors, long lists.
 */

const TOKEN = 'ghs_clienttoken'
const R = '/repos/octo-org/widgets'

let gh: FakeGitHub
let limits: RateLimitEvent[]
beforeEach(async () => {
  gh = await startFakeGitHub({ owner: 'octo-org', repo: 'widgets', token: TOKEN })
  limits = []
})
afterEach(async () => {
  await gh.close()
})

/** A client that honours every wait in milliseconds instead of seconds. */
const client = (o: Partial<GitHubClientOptions> = {}): GitHubClient =>
  new GitHubClient({
    token: TOKEN,
    apiUrl: gh.url,
    secondMs: 1,
    writeIntervalMs: 0,
    onRateLimit: (e) => limits.push(e),
    ...o
  })

const review = { commit_id: 'abc', event: 'COMMENT', body: 'Looks fine.' }

describe('rate limits', () => {
  it('posts a review once after a 403 secondary limit, waiting the retry-after GitHub gave', async () => {
    gh.rateLimits.push({
      method: 'POST',
      path: /^\/pulls\/7\/reviews$/,
      status: 403,
      kind: 'secondary',
      retryAfter: 7,
      times: 1
    })
    await client().request('POST', `${R}/pulls/7/reviews`, { body: review })
    expect(gh.callLines()).toEqual([`POST ${R}/pulls/7/reviews`, `POST ${R}/pulls/7/reviews`])
    expect(gh.calls.map((c) => c.status)).toEqual([403, 200])
    expect(gh.reviews).toHaveLength(1)
    expect(limits).toEqual([
      expect.objectContaining({ kind: 'secondary', retryAfter: 7, retryCount: 0, retrying: true })
    ])
  })

  it('retries a read after a 429 secondary limit', async () => {
    gh.rateLimits.push({
      method: 'GET',
      path: /^$/,
      status: 429,
      kind: 'secondary',
      retryAfter: 3,
      times: 2
    })
    const repo = await client().request<{ default_branch: string }>('GET', R)
    expect(repo.default_branch).toBe('main')
    expect(gh.calls.map((c) => c.status)).toEqual([429, 429, 200])
    expect(limits.map((l) => [l.kind, l.retryAfter, l.retryCount])).toEqual([
      ['secondary', 3, 0],
      ['secondary', 3, 1]
    ])
  })

  it('waits for an exhausted primary limit to reset, then posts the comment once', async () => {
    gh.rateLimits.push({
      method: 'POST',
      path: /^\/issues\/5\/comments$/,
      status: 403,
      kind: 'primary',
      retryAfter: 4,
      times: 1
    })
    await client().request('POST', `${R}/issues/5/comments`, { body: { body: 'hi' } })
    expect(gh.calls.map((c) => c.status)).toEqual([403, 201])
    expect([...gh.comments.values()].map((c) => c.body)).toEqual(['hi'])
    expect(limits[0]).toMatchObject({ kind: 'primary', retrying: true })
    // Until the reset, plus the second GitHub asks to add.
    expect(limits[0]!.retryAfter).toBeGreaterThanOrEqual(4)
  })

  it('fails, without waiting, when GitHub asks for a longer wait than the job should sit idle', async () => {
    gh.rateLimits.push({
      method: 'POST',
      path: /^\/pulls\/7\/reviews$/,
      status: 429,
      kind: 'secondary',
      retryAfter: 3600,
      times: 1
    })
    const err = await client()
      .request('POST', `${R}/pulls/7/reviews`, { body: review })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(GitHubApiError)
    expect((err as GitHubApiError).status).toBe(429)
    expect((err as GitHubApiError).message).toMatch(/secondary rate limit/)
    expect(gh.calls).toHaveLength(1)
    expect(gh.reviews).toHaveLength(0)
    expect(limits).toEqual([expect.objectContaining({ retryAfter: 3600, retrying: false })])
  })

  it('gives up after a bounded number of rate-limited retries', async () => {
    gh.rateLimits.push({
      method: 'GET',
      path: /^$/,
      status: 403,
      kind: 'secondary',
      retryAfter: 1,
      times: 100
    })
    const err = await client({ maxRateLimitRetries: 2 })
      .request('GET', R)
      .catch((e: unknown) => e)
    expect((err as GitHubApiError).status).toBe(403)
    expect(gh.calls).toHaveLength(3)
  })
})

describe('retries', () => {
  it('never repeats a POST a gateway failed: a review is not posted twice', async () => {
    gh.faults.push({ method: 'POST', path: /^\/pulls\/7\/reviews$/, status: 502, times: 1 })
    const err = await client()
      .request('POST', `${R}/pulls/7/reviews`, { body: review })
      .catch((e: unknown) => e)
    expect((err as GitHubApiError).status).toBe(502)
    expect(gh.callLines()).toEqual([`POST ${R}/pulls/7/reviews`])
  })

  it('does not repeat a POST that got no answer at all', async () => {
    const c = client()
    await gh.close()
    const err = await c
      .request('POST', `${R}/issues/5/comments`, { body: { body: 'x' } })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(GitHubApiError)
    expect((err as GitHubApiError).status).toBe(0)
    gh = await startFakeGitHub({ owner: 'octo-org', repo: 'widgets', token: TOKEN })
  })

  it('retries a read a gateway failed', async () => {
    gh.faults.push({ method: 'GET', path: /^$/, status: 502, times: 2 })
    await client().request('GET', R)
    expect(gh.calls.map((c) => c.status)).toEqual([502, 502, 200])
  })

  it('does not retry a refusal (404, 422)', async () => {
    const err = await client()
      .request('GET', `${R}/pulls/404`)
      .catch((e: unknown) => e)
    expect((err as GitHubApiError).status).toBe(404)
    expect(gh.calls).toHaveLength(1)
  })
})

describe('pagination', () => {
  it('reads every page of a long list (2,500 files: 25 pages of 100)', async () => {
    const files = Array.from({ length: 2500 }, (_, i) => ({
      filename: `f${i}.txt`,
      status: 'added',
      patch: '@@ -0,0 +1 @@\n+x'
    }))
    gh.pullFiles.set(9, files)
    const got = await client().paginate<{ filename: string }>(`${R}/pulls/9/files`)
    expect(got.map((f) => f.filename)).toEqual(files.map((f) => f.filename))
    expect(gh.calls).toHaveLength(25)
    expect(gh.calls.every((c) => c.query.per_page === '100')).toBe(true)
  })

  it('retries a page that hit a secondary limit and still returns the whole list', async () => {
    gh.pullFiles.set(
      9,
      Array.from({ length: 250 }, (_, i) => ({ filename: `f${i}`, status: 'added' }))
    )
    gh.rateLimits.push({
      method: 'GET',
      path: /^\/pulls\/9\/files$/,
      status: 403,
      kind: 'secondary',
      retryAfter: 1,
      times: 1
    })
    const got = await client().paginate(`${R}/pulls/9/files`)
    expect(got).toHaveLength(250)
  })

  it('will not follow a Link to another host (the token goes wherever the client is sent)', async () => {
    const err = await client()
      .request('GET', 'https://elsewhere.example/repos/octo-org/widgets')
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(GitHubApiError)
    expect(gh.calls).toHaveLength(0)
  })
})

describe('proxy settings', () => {
  let proxy: http.Server
  let proxied: string[]
  const saved = { ...process.env }
  beforeEach(async () => {
    proxied = []
    // A forward proxy: undici tunnels every request through CONNECT.
    proxy = http.createServer((_req, res) => res.writeHead(405).end())
    proxy.on('connect', (req: http.IncomingMessage, sock: net.Socket) => {
      proxied.push(`${req.method} ${req.url}`)
      const [host, port] = req.url!.split(':')
      const up = net.connect(Number(port), host, () => {
        sock.write('HTTP/1.1 200 Connection Established\r\n\r\n')
        up.pipe(sock)
        sock.pipe(up)
      })
      up.on('error', () => sock.destroy())
      sock.on('error', () => up.destroy())
    })
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))
  })
  afterEach(async () => {
    for (const k of [
      'HTTP_PROXY',
      'http_proxy',
      'HTTPS_PROXY',
      'https_proxy',
      'NO_PROXY',
      'no_proxy'
    ])
      delete process.env[k]
    Object.assign(process.env, saved)
    await new Promise<void>((r) => proxy.close(() => r()))
  })
  const proxyUrl = (): string => `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`

  it('goes through HTTP_PROXY', async () => {
    for (const k of ['NO_PROXY', 'no_proxy']) delete process.env[k]
    process.env.HTTP_PROXY = proxyUrl()
    await client().request('GET', R)
    expect(proxied).toEqual([`CONNECT ${new URL(gh.url).host}`])
    expect(gh.calls).toHaveLength(1)
  })

  it('goes direct for a host NO_PROXY names', async () => {
    process.env.HTTP_PROXY = proxyUrl()
    process.env.NO_PROXY = '127.0.0.1'
    await client().request('GET', R)
    expect(proxied).toEqual([])
    expect(gh.calls).toHaveLength(1)
  })
})
