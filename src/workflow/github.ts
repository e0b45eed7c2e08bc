import { EnvHttpProxyAgent, fetch as undiciFetch } from 'undici'
import { AirlockError } from '../errors.js'

/** `owner/name` of a repository, split. */
export interface RepoRef {
  owner: string
  repo: string
}

/** A GitHub REST call that did not succeed. `status` is 0 when no answer arrived at all. */
export class GitHubApiError extends AirlockError {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    message: string,
    readonly body?: unknown
  ) {
    super('AIRLOCK_GITHUB_API', `GitHub API ${method} ${path}: ${status || 'no answer'} ${message}`)
  }
}

/** What a fetch-compatible function must accept (global fetch, undici's, a test double). */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>

/** Options for {@link GitHubClient}. */
export interface GitHubClientOptions {
  token: string
  /** REST base URL; defaults to `GITHUB_API_URL` (GitHub Enterprise Server sets it), then api.github.com. */
  apiUrl?: string
  fetch?: FetchLike
  /** Attempts for idempotent calls answered with 5xx or a rate limit (default 3). */
  attempts?: number
  /** Waits between attempts; replaceable so tests do not sleep. */
  sleep?: (ms: number) => Promise<void>
  userAgent?: string
}

/** Options of one request. */
export interface RequestOptions {
  body?: unknown
  /** `Accept` header; the JSON media type by default. */
  accept?: string
  query?: Record<string, string | number | undefined>
}

/** The REST base URL for this run: `GITHUB_API_URL`, else the public API. */
export function apiUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return (env.GITHUB_API_URL || 'https://api.github.com').replace(/\/+$/, '')
}

/** Splits `owner/name`; throws on anything else. */
export function parseRepo(fullName: string): RepoRef {
  const m = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/.exec(fullName.trim())
  if (!m) throw new AirlockError('AIRLOCK_BAD_REPO', `not an owner/name repository: "${fullName}"`)
  return { owner: m[1]!, repo: m[2]! }
}

/**
 * The runner may sit behind a corporate proxy (`HTTPS_PROXY`/`NO_PROXY`); the global fetch
 * of Node 20/24 ignores those variables unless started with `NODE_USE_ENV_PROXY`, undici's
 * `EnvHttpProxyAgent` honours them.
 */
function defaultFetch(): FetchLike {
  const dispatcher = new EnvHttpProxyAgent()
  // undici's own Request/Response types are structurally the global ones, but nominally not.
  const f = undiciFetch as unknown as (
    url: string,
    init: Omit<RequestInit, 'dispatcher'> & { dispatcher: unknown }
  ) => Promise<Response>
  return (url, init) => f(url, { ...init, dispatcher })
}

const RETRYABLE = new Set([500, 502, 503, 504])

/**
 * A small GitHub REST client over fetch. Only GET (and other idempotent methods) are retried
 * on 5xx: a POST that timed out at a gateway may have been applied, and posting a review twice
 * is worse than failing once. Any method is retried on 429 or a secondary rate limit (403 with
 * `retry-after`), which GitHub answers before doing anything.
 */
export class GitHubClient {
  readonly apiUrl: string
  private readonly token: string
  private readonly fetchImpl: FetchLike
  private readonly attempts: number
  private readonly sleep: (ms: number) => Promise<void>
  private readonly userAgent: string

  constructor(opts: GitHubClientOptions) {
    this.token = opts.token
    this.apiUrl = (opts.apiUrl ?? apiUrlFromEnv()).replace(/\/+$/, '')
    this.fetchImpl = opts.fetch ?? defaultFetch()
    this.attempts = Math.max(1, opts.attempts ?? 3)
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)))
    this.userAgent = opts.userAgent ?? 'airlock-workflow'
  }

  /** One call answered with JSON (or nothing, for 204). */
  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, opts)
    if (res.status === 204) return undefined as T
    const text = await res.text()
    if (!text) return undefined as T
    try {
      return JSON.parse(text) as T
    } catch {
      throw new GitHubApiError(method, path, res.status, 'answered with something that is not JSON')
    }
  }

  /** One call answered with text (diffs, raw file contents). */
  async requestText(method: string, path: string, opts: RequestOptions = {}): Promise<string> {
    const res = await this.send(method, path, opts)
    return res.text()
  }

  /** One call answered with bytes (raw file contents, byte-exact). */
  async requestBytes(method: string, path: string, opts: RequestOptions = {}): Promise<Buffer> {
    const res = await this.send(method, path, opts)
    return Buffer.from(await res.arrayBuffer())
  }

  /** Every page of a list endpoint, following `Link: rel="next"` (RFC 8288). */
  async paginate<T>(path: string, opts: RequestOptions = {}, maxPages = 20): Promise<T[]> {
    const out: T[] = []
    let url: string | undefined = this.url(path, { per_page: 100, ...opts.query })
    for (let page = 0; url && page < maxPages; page++) {
      const res = await this.send('GET', url, { ...opts, query: undefined })
      const items = (await res.json()) as T[]
      if (!Array.isArray(items)) throw new GitHubApiError('GET', path, res.status, 'is not a list')
      out.push(...items)
      url = nextLink(res.headers.get('link'))
    }
    return out
  }

  private url(path: string, query?: RequestOptions['query']): string {
    const u = new URL(/^https?:\/\//.test(path) ? path : `${this.apiUrl}${path}`)
    for (const [k, v] of Object.entries(query ?? {}))
      if (v !== undefined) u.searchParams.set(k, String(v))
    return u.toString()
  }

  private async send(method: string, path: string, opts: RequestOptions): Promise<Response> {
    const url = this.url(path, opts.query)
    const idempotent = method === 'GET' || method === 'HEAD' || method === 'PUT'
    const headers: Record<string, string> = {
      accept: opts.accept ?? 'application/vnd.github+json',
      authorization: `Bearer ${this.token}`,
      'user-agent': this.userAgent,
      'x-github-api-version': '2022-11-28'
    }
    if (opts.body !== undefined) headers['content-type'] = 'application/json'
    let last: GitHubApiError | undefined
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      let res: Response
      try {
        res = await this.fetchImpl(url, {
          method,
          headers,
          body: opts.body === undefined ? undefined : JSON.stringify(opts.body)
        })
      } catch (err) {
        last = new GitHubApiError(method, path, 0, err instanceof Error ? err.message : String(err))
        if (!idempotent) throw last
        await this.sleep(backoff(attempt))
        continue
      }
      if (res.ok) return res
      const body = await res.text()
      const err = new GitHubApiError(method, path, res.status, apiMessage(body), safeJson(body))
      const retryAfter = Number(res.headers.get('retry-after') ?? NaN)
      const rateLimited =
        res.status === 429 ||
        (res.status === 403 &&
          (Number.isFinite(retryAfter) || res.headers.get('x-ratelimit-remaining') === '0'))
      if (attempt < this.attempts && (rateLimited || (idempotent && RETRYABLE.has(res.status)))) {
        last = err
        // Never wait longer than a minute inside a job with its own timeout.
        await this.sleep(
          Number.isFinite(retryAfter) ? Math.min(retryAfter, 60) * 1000 : backoff(attempt)
        )
        continue
      }
      throw err
    }
    throw last ?? new GitHubApiError(method, path, 0, 'no attempt made')
  }
}

function backoff(attempt: number): number {
  return Math.min(500 * 2 ** (attempt - 1), 8000)
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}

/** GitHub's error body is `{message, errors?}`; keep it short for a log line. */
function apiMessage(body: string): string {
  const j = safeJson(body)
  if (j && typeof j === 'object' && 'message' in j) {
    const o = j as { message: unknown; errors?: unknown }
    const extra = o.errors === undefined ? '' : ` ${JSON.stringify(o.errors).slice(0, 300)}`
    return `${String(o.message)}${extra}`
  }
  return body.slice(0, 300)
}

/** The `rel="next"` target of a `Link` header. */
export function nextLink(link: string | null): string | undefined {
  if (!link) return undefined
  for (const part of link.split(',')) {
    const m = /<([^>]+)>\s*;\s*rel="?([^";]+)"?/.exec(part.trim())
    if (m && m[2]!.split(/\s+/).includes('next')) return m[1]
  }
  return undefined
}

/** Path of a repository endpoint, each segment percent-encoded. */
export function repoPath(r: RepoRef, ...rest: (string | number)[]): string {
  const tail = rest.map((s) => String(s)).join('/')
  return `/repos/${encodeURIComponent(r.owner)}/${encodeURIComponent(r.repo)}${tail ? `/${tail}` : ''}`
}

/** A git ref name or file path for a URL: each `/`-separated part encoded, slashes kept. */
export function encodePath(p: string): string {
  return p.split('/').map(encodeURIComponent).join('/')
}
