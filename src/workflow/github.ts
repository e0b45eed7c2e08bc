/**
 * The GitHub REST client of the workflow steps: `@actions/github`'s Octokit with the retry and
 * throttling plugins, behind the small surface the steps use (`request`, `requestText`,
 * `requestBytes`, `paginate`), so callers name paths and never see Octokit's types.
 */
import { getOctokit } from '@actions/github'
import { retry } from '@octokit/plugin-retry'
import { throttling } from '@octokit/plugin-throttling'
import Bottleneck from 'bottleneck/light.js'
import { fetch as undiciFetch } from 'undici'
import { runnerDispatcher } from '../net/runner-proxy.js'
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

/** A rate limit the client met, as reported to {@link GitHubClientOptions.onRateLimit}. */
export interface RateLimitEvent {
  kind: 'primary' | 'secondary'
  method: string
  url: string
  /** Seconds GitHub asked to wait (`retry-after`, or until `x-ratelimit-reset`). */
  retryAfter: number
  /** Retries already made for this call. */
  retryCount: number
  /** Whether the client waits and tries again (false: the call fails). */
  retrying: boolean
}

/** Options for {@link GitHubClient}. */
export interface GitHubClientOptions {
  token: string
  /** REST base URL; defaults to `GITHUB_API_URL` (GitHub Enterprise Server sets it), then api.github.com. */
  apiUrl?: string
  fetch?: FetchLike
  /** Retries of an idempotent call answered with 5xx or not answered at all (default 3). */
  retries?: number
  /** Waits for a rate limit longer than this fail the call instead (seconds, default 60). */
  maxRateLimitWait?: number
  /** Rate-limited retries of one call before it fails (default 3). */
  maxRateLimitRetries?: number
  /**
   * Milliseconds one second of `retry-after` (and of the retry back-off) stands for: 1000.
   * Tests shrink it so a `retry-after: 2` answer is honoured without a two-second sleep.
   */
  secondMs?: number
  /**
   * Least time between two writes (POST/PATCH/PUT/DELETE), GitHub's advice against secondary
   * rate limits: 1000 ms, and three times that for writes that notify people (comments,
   * reviews, issues). `AIRLOCK_GITHUB_WRITE_INTERVAL_MS` sets it for a whole process.
   */
  writeIntervalMs?: number
  /** Told about every rate limit met (the steps log them). */
  onRateLimit?: (e: RateLimitEvent) => void
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
 * `EnvHttpProxyAgent` honours them. (`@actions/github` has its own proxy fetch over a second
 * copy of undici; this one keeps the process on one HTTP stack and one reading of NO_PROXY.)
 */
function defaultFetch(): FetchLike {
  // The runner's one reading of HTTPS_PROXY/NO_PROXY, shared with grants and installs.
  const dispatcher = runnerDispatcher()
  // undici's own Request/Response types are structurally the global ones, but nominally not.
  const f = undiciFetch as unknown as (
    url: string,
    init: Omit<RequestInit, 'dispatcher'> & { dispatcher: unknown }
  ) => Promise<Response>
  return (url, init) => f(url, { ...init, dispatcher })
}

/**
 * Methods a retry cannot apply twice. A POST that timed out at a gateway may have been
 * applied, and posting a review, comment, pull request or commit twice is worse than failing
 * once; a PATCH of a comment or ref sets the same value again, a GET reads.
 */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE'])

type Octokit = ReturnType<typeof getOctokit>

/** Octokit's RequestError, as far as this client reads it. */
interface OctokitError {
  status?: number
  message?: string
  response?: { status: number; data?: unknown }
}

/**
 * GitHub's REST API through Octokit. Retries (the retry plugin) only for idempotent methods,
 * on 5xx and on no answer. Rate limits (the throttling plugin) are honoured for every method:
 * GitHub answers a secondary limit (403/429 "secondary rate limit", `retry-after`) or an
 * exhausted primary limit (`x-ratelimit-remaining: 0`) before doing anything, so the call is
 * made again after the wait GitHub asked for — unless that wait is longer than the job should
 * sit idle, when it fails saying so. Writes are paced as GitHub advises. Pagination follows
 * `Link: rel="next"` to the end.
 */
export class GitHubClient {
  readonly apiUrl: string
  readonly octokit: Octokit

  constructor(opts: GitHubClientOptions) {
    this.apiUrl = (opts.apiUrl ?? apiUrlFromEnv()).replace(/\/+$/, '')
    const secondMs = opts.secondMs ?? 1000
    const maxWait = opts.maxRateLimitWait ?? 60
    const maxRetries = opts.maxRateLimitRetries ?? 3
    const envInterval = Number(process.env.AIRLOCK_GITHUB_WRITE_INTERVAL_MS)
    const writeInterval =
      opts.writeIntervalMs ??
      (Number.isFinite(envInterval) && envInterval >= 0 ? envInterval : 1000)
    const limited =
      (kind: RateLimitEvent['kind']) =>
      (
        retryAfter: number,
        o: { method: string; url: string },
        _octokit: unknown,
        retryCount: number
      ): boolean => {
        const retrying = retryCount < maxRetries && retryAfter <= maxWait
        opts.onRateLimit?.({ kind, method: o.method, url: o.url, retryAfter, retryCount, retrying })
        return retrying
      }
    // Bottleneck groups are module-global inside the plugin; a client of its own pace gets
    // its own groups (the plugin's defaults are these intervals at 1000 ms).
    const group = (minTime: number): Bottleneck.Group =>
      new Bottleneck.Group({ maxConcurrent: 1, minTime })
    this.octokit = getOctokit(
      opts.token,
      {
        baseUrl: this.apiUrl,
        userAgent: opts.userAgent ?? 'airlock-workflow',
        request: { fetch: opts.fetch ?? defaultFetch() },
        // 429 is a rate limit, the throttling plugin's to wait out as GitHub says; the retry
        // plugin's own back-off would ignore `retry-after`.
        retry: {
          retries: opts.retries ?? 3,
          retryAfterBaseValue: secondMs,
          doNotRetry: [400, 401, 403, 404, 410, 422, 429, 451]
        },
        throttle: {
          onRateLimit: limited('primary'),
          onSecondaryRateLimit: limited('secondary'),
          retryAfterBaseValue: secondMs,
          write: group(writeInterval),
          notifications: group(writeInterval * 3)
        },
        // Octokit logs request failures to the console; failures reach the caller as errors.
        log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }
      },
      retry,
      throttling
    )
  }

  /** One call answered with JSON (or nothing, for 204). */
  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const data = await this.send(method, path, opts, true)
    if (data === '' || data === undefined) return undefined as T
    if (typeof data === 'string' || data instanceof ArrayBuffer)
      throw new GitHubApiError(method, path, 200, 'answered with something that is not JSON')
    return data as T
  }

  /** One call answered with text (diffs, raw file contents). */
  async requestText(method: string, path: string, opts: RequestOptions = {}): Promise<string> {
    return (await this.requestBytes(method, path, opts)).toString('utf8')
  }

  /** One call answered with bytes (raw file contents, byte-exact). */
  async requestBytes(method: string, path: string, opts: RequestOptions = {}): Promise<Buffer> {
    const body = (await this.send(method, path, opts, false)) as ReadableStream | null | undefined
    if (!body) return Buffer.alloc(0)
    return Buffer.from(await new Response(body).arrayBuffer())
  }

  /**
   * Every item of a list endpoint, following `Link: rel="next"` (RFC 8288) to the last page:
   * a list cut short would look complete to the caller.
   */
  async paginate<T>(path: string, opts: RequestOptions = {}): Promise<T[]> {
    try {
      return await this.octokit.paginate<T>({
        method: 'GET',
        url: this.url(path, { per_page: 100, ...opts.query }),
        headers: headers(opts)
      })
    } catch (err) {
      throw toApiError('GET', path, err)
    }
  }

  /**
   * A path of the API (or a whole URL of it) with its query, as Octokit's `url`. The query is
   * written here rather than passed as parameters, which Octokit would put in the body of a
   * POST. A whole URL elsewhere is refused: the token goes wherever the client is sent.
   */
  private url(path: string, query?: RequestOptions['query']): string {
    if (/^https?:\/\//.test(path)) {
      const u = new URL(path)
      if (!`${u.origin}${u.pathname}`.startsWith(this.apiUrl))
        throw new GitHubApiError('GET', path, 0, 'is not a URL of this API')
    }
    const q = new URLSearchParams()
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) q.set(k, String(v))
    const qs = q.toString()
    return qs ? `${path}${path.includes('?') ? '&' : '?'}${qs}` : path
  }

  private async send(
    method: string,
    path: string,
    opts: RequestOptions,
    parse: boolean
  ): Promise<unknown> {
    const m = method.toUpperCase()
    try {
      const res = await this.octokit.request({
        method: m,
        // A literal URL: a `{` in it would be read as a template, and segments are encoded.
        url: this.url(path, opts.query),
        headers: headers(opts),
        ...(opts.body === undefined ? {} : { data: opts.body }),
        request: {
          parseSuccessResponseBody: parse,
          ...(IDEMPOTENT.has(m) ? {} : { retries: 0 })
        }
      } as unknown as Parameters<Octokit['request']>[0])
      return res.data
    } catch (err) {
      throw toApiError(m, path, err)
    }
  }
}

function headers(opts: RequestOptions): Record<string, string> {
  return {
    accept: opts.accept ?? 'application/vnd.github+json',
    'x-github-api-version': '2022-11-28'
  }
}

/** An Octokit failure as a {@link GitHubApiError}: status, GitHub's message, its body. */
function toApiError(method: string, path: string, err: unknown): Error {
  if (err instanceof GitHubApiError) return err
  const e = (err ?? {}) as OctokitError
  if (typeof e.status !== 'number') return err instanceof Error ? err : new Error(String(err))
  // No response: the call never got an answer (refused, reset, DNS) — Octokit calls that 500.
  if (!e.response) return new GitHubApiError(method, path, 0, e.message ?? 'no answer')
  const data = e.response.data
  return new GitHubApiError(method, path, e.response.status, apiMessage(data), data)
}

/** GitHub's error body is `{message, errors?}`; keep it short for a log line. */
function apiMessage(data: unknown): string {
  if (data && typeof data === 'object' && 'message' in data) {
    const o = data as { message: unknown; errors?: unknown }
    const extra = o.errors === undefined ? '' : ` ${JSON.stringify(o.errors).slice(0, 300)}`
    return `${String(o.message)}${extra}`
  }
  if (typeof data === 'string') return data.slice(0, 300)
  return ''
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
