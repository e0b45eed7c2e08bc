import { once } from 'node:events'
import { existsSync, readFileSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import { Agent, fetch as undiciFetch } from 'undici'
import { parseConnectTo } from '../proxy/patterns.js'
import { AirlockError } from '../errors.js'
import { noProxyMatches, runnerProxy } from '../net/runner-proxy.js'

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
  const ca = opts.upstreamCa ? trustedRoots(opts.upstreamCa, env) : undefined
  const connect = async (hostname: string, port: number, secure: boolean): Promise<net.Socket> => {
    const host = hostname.replace(/^\[|\]$/g, '').toLowerCase()
    const target = connectTo.get(`${host}:${port}`) ?? { host, port }
    const raw =
      secure && proxy && !noProxyMatches(host, proxy.noProxy ?? '', port)
        ? await tunnel(proxy.url, `${formatHost(target.host)}:${target.port}`)
        : undefined
    if (!secure) {
      const sock = net.connect({ host: target.host, port: target.port })
      await once(sock, 'connect')
      return sock
    }
    const options: tls.ConnectionOptions = {
      ALPNProtocols: ['http/1.1'],
      minVersion: 'TLSv1.2',
      // Verify for the name the URL holds, whatever address connect-to made us dial.
      checkServerIdentity: (_name, cert) => tls.checkServerIdentity(host, cert)
    }
    if (ca) options.ca = ca
    if (net.isIP(host) === 0) options.servername = host
    if (raw) options.socket = raw
    else Object.assign(options, { host: target.host, port: target.port })
    const sock = tls.connect(options)
    await new Promise<void>((resolve, reject) => {
      sock.once('secureConnect', resolve)
      sock.once('error', reject)
    })
    sock.removeAllListeners('error')
    return sock
  }
  const dispatcher = new Agent({
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
  // Grant code passes URLs; a Request object would carry a method and headers this wrapper
  // does not forward, so it is refused rather than silently turned into a GET.
  const grantFetch = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    if (typeof input !== 'string' && !(input instanceof URL))
      return Promise.reject(new TypeError('the grant fetch takes a URL, not a Request'))
    // Node's global fetch types and undici 7's differ in detail; the runtime shapes agree.
    const undiciInit: Parameters<typeof undiciFetch>[1] = { ...(init as object), dispatcher }
    return undiciFetch(input, undiciInit)
  }
  return grantFetch
}

/** The runner's proxy for HTTPS, read as every runner-side client reads it (src/net/runner-proxy.ts). */
function proxyFromEnv(env: NodeJS.ProcessEnv): { url: string; noProxy: string } | undefined {
  const p = runnerProxy(env)
  return p.httpsProxy ? { url: p.httpsProxy, noProxy: p.noProxy } : undefined
}

export { noProxyMatches }

/**
 * Roots for TLS with `upstream-ca`: naming `ca` replaces Node's default store, so the
 * bundled roots, the OS store (Node ≥ 22.15), NODE_EXTRA_CA_CERTS (a runner behind a TLS
 * gateway) and the extra CAs are all listed explicitly.
 */
function trustedRoots(extra: string, env: NodeJS.ProcessEnv): string[] {
  const getCA = (tls as { getCACertificates?: (type: string) => string[] }).getCACertificates
  const system = typeof getCA === 'function' ? getCA('system') : []
  const out = [...tls.rootCertificates, ...system]
  const extraFile = env.NODE_EXTRA_CA_CERTS
  if (extraFile && existsSync(extraFile)) out.push(readFileSync(extraFile, 'utf8'))
  out.push(extra)
  return out
}

function formatHost(host: string): string {
  return net.isIPv6(host) ? `[${host}]` : host
}

/** Opens a CONNECT tunnel through the runner's proxy and returns the raw socket. */
async function tunnel(proxyUrl: string, authority: string): Promise<net.Socket> {
  const url = new URL(proxyUrl)
  const sock = net.connect({ host: url.hostname, port: Number(url.port) || 80 })
  await once(sock, 'connect')
  const auth = url.username
    ? `Proxy-Authorization: Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}\r\n`
    : ''
  sock.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth}\r\n`)
  let head = Buffer.alloc(0)
  while (!head.includes('\r\n\r\n')) {
    const [chunk] = (await once(sock, 'data')) as [Buffer]
    head = Buffer.concat([head, chunk])
    if (head.length > 16_384) {
      sock.destroy()
      throw new Error('the HTTPS proxy sent an oversized CONNECT response')
    }
  }
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(head.toString('latin1'))?.[1]
  if (status !== '200') {
    sock.destroy()
    throw new Error(`the HTTPS proxy refused CONNECT ${authority}: ${status ?? 'bad response'}`)
  }
  const rest = head.subarray(head.indexOf('\r\n\r\n') + 4)
  sock.pause()
  if (rest.length > 0) sock.unshift(rest)
  return sock
}

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
