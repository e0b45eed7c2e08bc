import type net from 'node:net'
import type tls from 'node:tls'
import type { Agent, fetch as undiciFetch } from 'undici'
import { dial, upstreamTrust } from '../proxy/dial.js'
import { parseConnectTo } from '../proxy/patterns.js'
import { AirlockError } from '../errors.js'
import { noProxyMatches, runnerProxy } from '../net/proxy-env.js'

/** How grant HTTP reaches the outside world (the same knobs the proxy's upstream honours). */
export interface GrantHttpOptions {
  /** `host:port=target:port` lines (the `connect-to` input): dial target, verify TLS for host. */
  connectTo?: string[]
  /** Extra PEM CAs (the text of `upstream-ca`), trusted on top of the usual roots. */
  upstreamCa?: string
  /**
   * The runner's proxy for HTTPS. Undefined = read `HTTPS_PROXY`/`https_proxy` and
   * `NO_PROXY`/`no_proxy` from `env`; null = never use a proxy.
   */
  proxy?: { url: string; noProxy?: string } | null
  env?: NodeJS.ProcessEnv
}

/**
 * A `fetch` for grant calls (STS, Google, GitHub, the runner's ID-token endpoint). Every
 * connection honours `connect-to` (dial elsewhere, still verify the certificate for the name
 * asked for), `upstream-ca`, and the runner's HTTPS proxy through a CONNECT tunnel
 * (RFC 9110 §9.3.6). Plain `http:` URLs go direct: every real grant endpoint is HTTPS.
 */
export function createGrantFetch(opts: GrantHttpOptions = {}): typeof fetch {
  const env = opts.env ?? process.env
  const connectTo = parseConnectTo(opts.connectTo ?? [])
  const proxy = opts.proxy === null ? undefined : (opts.proxy ?? proxyFromEnv(env))
  // Naming roots replaces Node's default store, so with `upstream-ca` the store lists the
  // rest explicitly, NODE_EXTRA_CA_CERTS (a runner behind a TLS gateway) included.
  // Built at the first grant call: the proxy daemon makes this fetch for refreshes it may
  // never do, and a trust store is megabytes of parsed certificates.
  let trusted: tls.SecureContext | undefined
  const trustStore = (): tls.SecureContext | undefined =>
    opts.upstreamCa
      ? (trusted ??= upstreamTrust([opts.upstreamCa], {
          nodeExtraCaCerts: env.NODE_EXTRA_CA_CERTS
        }))
      : undefined
  const connect = (hostname: string, port: number, secure: boolean): Promise<net.Socket> => {
    const host = hostname.replace(/^\[|\]$/g, '').toLowerCase()
    const routed = connectTo.get(`${host}:${port}`)
    const trust = trustStore()
    return dial({
      name: host,
      port,
      address: routed ?? { host, port },
      routed: routed !== undefined,
      secure,
      ...(trust ? { trust } : {}),
      ...(secure && proxy && !noProxyMatches(host, proxy.noProxy ?? '', port)
        ? { via: { url: proxy.url, label: 'the HTTPS proxy' } }
        : {})
    })
  }
  // undici is loaded at the first grant call too: the proxy daemon, which only refreshes
  // and revokes, would otherwise carry all of it (fetch, WebSocket, caches) from its start.
  let client: Promise<{ dispatcher: Agent; fetch: typeof undiciFetch }> | undefined
  const load = async (): Promise<{ dispatcher: Agent; fetch: typeof undiciFetch }> => {
    // Eager for the bundler: one file, as every bundle here is (and one licence list); the
    // module is still only evaluated at this first call.
    const undici = await import(/* webpackMode: "eager" */ 'undici')
    const dispatcher = new undici.Agent({
      connect: (options, callback) => {
        const secure = options.protocol === 'https:'
        connect(options.hostname, Number(options.port) || (secure ? 443 : 80), secure)
          .then((socket) => callback(null, socket))
          .catch((err: Error) => callback(err, null))
      },
      keepAliveTimeout: 4_000,
      headersTimeout: 30_000,
      bodyTimeout: 30_000
    })
    return { dispatcher, fetch: undici.fetch }
  }
  // Grant code passes URLs; a Request object would carry a method and headers this wrapper
  // does not forward, so it is refused rather than silently turned into a GET.
  const grantFetch = async (
    input: string | URL | Request,
    init?: RequestInit
  ): Promise<Response> => {
    if (typeof input !== 'string' && !(input instanceof URL))
      throw new TypeError('the grant fetch takes a URL, not a Request')
    const { dispatcher, fetch } = await (client ??= load())
    // Node's global fetch types and undici 7's differ in detail; the runtime shapes agree.
    const undiciInit: Parameters<typeof undiciFetch>[1] = { ...(init as object), dispatcher }
    return fetch(input, undiciInit)
  }
  return grantFetch
}

/** The runner's proxy for HTTPS, read as every runner-side client reads it (src/net/runner-proxy.ts). */
function proxyFromEnv(env: NodeJS.ProcessEnv): { url: string; noProxy: string } | undefined {
  const p = runnerProxy(env)
  return p.httpsProxy ? { url: p.httpsProxy, noProxy: p.noProxy } : undefined
}

// Kept here too: callers and tests of grant HTTP read the NO_PROXY rule from this module.
export { noProxyMatches }

/** Backoff for grant calls. */
export interface RetryPolicy {
  /** Total attempts, the first included. */
  attempts: number
  /** The cap of the first backoff; it doubles per attempt up to maxDelayMs. */
  baseDelayMs: number
  maxDelayMs: number
  /** Per-attempt limit, so a stalled endpoint cannot hang the run. */
  timeoutMs: number
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 6,
  baseDelayMs: 250,
  maxDelayMs: 8_000,
  timeoutMs: 30_000
}

/** A buffered HTTP answer. */
export interface HttpResult {
  status: number
  headers: Headers
  body: string
}

/** Answers worth trying again. */
export type RetryDecider = (res: HttpResult) => boolean

/** 5xx and 429 are transient everywhere; APIs with richer error bodies add their own codes. */
export const retryOnServerErrors: RetryDecider = (res) => res.status >= 500 || res.status === 429

/** The grant HTTP call failed without an answer (DNS, refused, TLS, timeout) on every attempt. */
export class GrantNetworkError extends AirlockError {
  constructor(
    readonly url: string,
    readonly attempts: number,
    cause: Error
  ) {
    super(
      'AIRLOCK_GRANT_NETWORK',
      `cannot reach ${url} (${attempts} attempts): ${describeNetworkError(cause)}`,
      { cause }
    )
  }
}

function describeNetworkError(err: Error): string {
  // undici wraps the socket error as `fetch failed` with the real reason as cause.
  const cause = err.cause instanceof Error ? err.cause : undefined
  const code = cause && 'code' in cause ? String(cause.code) : undefined
  const msg = cause?.message ?? err.message
  return code && !msg.includes(code) ? `${code} ${msg}` : msg
}

export interface RequestOptions {
  retry?: Partial<RetryPolicy>
  retryOn?: RetryDecider
  signal?: AbortSignal
  /** Replaces the real sleep (tests). */
  sleep?: (ms: number) => Promise<void>
  /** Called before each retry with the attempt that failed and the wait. */
  onRetry?: (attempt: number, delayMs: number, why: string) => void
}

/**
 * One grant HTTP call with retries: full-jitter exponential backoff (a random wait up to
 * base·2ⁿ, capped), on network errors and answers `retryOn` accepts; `Retry-After` (RFC 9110
 * §10.2.3, seconds) raises the wait. Returns the last answer, whatever its status; throws
 * `GrantNetworkError` when no attempt got an answer.
 */
export async function requestWithRetry(
  fetchFn: typeof fetch,
  url: string | URL,
  init: RequestInit,
  opts: RequestOptions = {}
): Promise<HttpResult> {
  const policy = { ...DEFAULT_RETRY, ...opts.retry }
  const retryOn = opts.retryOn ?? retryOnServerErrors
  const sleep = opts.sleep ?? ((ms: number) => abortableSleep(ms, opts.signal))
  let lastError: Error | undefined
  for (let attempt = 1; ; attempt++) {
    opts.signal?.throwIfAborted()
    const timeout = AbortSignal.timeout(policy.timeoutMs)
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout
    let why: string
    let retryAfterMs = 0
    try {
      const res = await fetchFn(url, { ...init, signal })
      const result: HttpResult = {
        status: res.status,
        headers: res.headers,
        body: await res.text()
      }
      if (attempt >= policy.attempts || !retryOn(result)) return result
      why = `HTTP ${res.status}`
      retryAfterMs = parseRetryAfter(res.headers.get('retry-after'))
    } catch (err) {
      if (opts.signal?.aborted) throw err
      lastError = err as Error
      if (attempt >= policy.attempts) throw new GrantNetworkError(String(url), attempt, lastError)
      why = describeNetworkError(lastError)
    }
    const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1))
    const delay = Math.max(Math.random() * cap, Math.min(retryAfterMs, policy.maxDelayMs * 4))
    opts.onRetry?.(attempt, delay, why)
    await sleep(delay)
  }
}

function parseRetryAfter(value: string | null): number {
  if (!value || !/^\d+$/.test(value.trim())) return 0
  return Number(value.trim()) * 1000
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms)
    function done(): void {
      signal?.removeEventListener('abort', aborted)
      resolve()
    }
    function aborted(): void {
      clearTimeout(timer)
      reject(signal?.reason as Error)
    }
    signal?.addEventListener('abort', aborted, { once: true })
  })
}

const JWT_LIKE = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g

/**
 * An upstream's error text made safe for a log line: known secrets and anything shaped like
 * a JWT removed, control characters flattened, cut to 300 characters.
 */
export function safeUpstreamText(text: string, secrets: string[] = []): string {
  let out = text
  for (const s of secrets) if (s.length >= 8) out = out.split(s).join('***')
  out = out.replace(JWT_LIKE, '***')
  // eslint-disable-next-line no-control-regex
  out = out.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim()
  return out.length > 300 ? `${out.slice(0, 300)}…` : out
}
