import { EnvHttpProxyAgent, fetch as undiciFetch, type Dispatcher } from 'undici'
import { AirlockError } from '../errors.js'

/**
 * The runner's own HTTP(S) proxy, read once from the environment the way undici's
 * EnvHttpProxyAgent (and curl) read it: lower-case names first, `https_proxy` for https URLs
 * falling back to `http_proxy`, and one NO_PROXY reading. Every HTTP client on the runner
 * (agent installs, grants, key checks, the GitHub client, the proxy's upstream dials) takes
 * its decision from here, so a host is proxied by all of them or by none.
 */
export interface RunnerProxy {
  httpProxy?: string
  httpsProxy?: string
  noProxy: string
}

function pick(env: NodeJS.ProcessEnv, name: string): string | undefined {
  return env[name.toLowerCase()] || env[name.toUpperCase()] || undefined
}

export function runnerProxy(env: NodeJS.ProcessEnv = process.env): RunnerProxy {
  const httpProxy = pick(env, 'http_proxy')
  const httpsProxy = pick(env, 'https_proxy') ?? httpProxy
  return {
    ...(httpProxy ? { httpProxy } : {}),
    ...(httpsProxy ? { httpsProxy } : {}),
    noProxy: pick(env, 'no_proxy') ?? ''
  }
}

/**
 * NO_PROXY, as undici reads it: entries split on commas and white space; `*` alone turns the
 * proxy off; an entry is a name (a leading `.` or `*.` is dropped) matching that host and its
 * subdomains, with an optional `:port` that limits it to that port.
 */
export function noProxyMatches(host: string, noProxy: string, port?: number): boolean {
  const name = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (noProxy.trim() === '*') return true
  for (const raw of noProxy.split(/[,\s]/)) {
    if (!raw) continue
    if (raw === '*') return true
    const m = /^(.+):(\d+)$/.exec(raw)
    const entry = (m ? m[1]! : raw)
      .replace(/^\*?\./, '')
      .replace(/^\[|\]$/g, '')
      .toLowerCase()
    const entryPort = m ? Number(m[2]) : 0
    if (entryPort && port !== undefined && entryPort !== port) continue
    if (name === entry || name.endsWith(`.${entry}`)) return true
  }
  return false
}

/** The proxy URL a request to `url` goes through, or undefined to go direct. */
export function proxyFor(url: string | URL, proxy: RunnerProxy): string | undefined {
  const u = typeof url === 'string' ? new URL(url) : url
  const through = u.protocol === 'https:' ? proxy.httpsProxy : proxy.httpProxy
  if (!through) return undefined
  const port = Number(u.port) || (u.protocol === 'https:' ? 443 : 80)
  return noProxyMatches(u.hostname, proxy.noProxy, port) ? undefined : through
}

/** An undici dispatcher that takes the runner's proxy settings (explicitly, not from process.env). */
export function runnerDispatcher(
  env: NodeJS.ProcessEnv = process.env,
  tls: { ca?: string | string[] } = {}
): Dispatcher {
  const p = runnerProxy(env)
  return new EnvHttpProxyAgent({
    httpProxy: p.httpProxy ?? '',
    httpsProxy: p.httpsProxy ?? '',
    noProxy: p.noProxy,
    ...(tls.ca ? { connect: { ca: tls.ca }, requestTls: { ca: tls.ca } } : {})
  })
}

/** A request that got no answer. The message names the URL, the cause, and the proxy if any. */
export class FetchFailedError extends AirlockError {
  constructor(
    readonly url: string,
    cause: unknown,
    proxy?: string
  ) {
    super(
      'AIRLOCK_FETCH_FAILED',
      `${url}: ${describeCause(cause)}${proxy ? ` (through the proxy ${redact(proxy)})` : ''}`,
      {
        cause
      }
    )
  }
}

/** undici says `fetch failed` and keeps the reason in `cause` (sometimes nested): dig it out. */
export function describeCause(err: unknown): string {
  let e: unknown = err
  for (let i = 0; i < 4; i++) {
    const c = (e as { cause?: unknown } | undefined)?.cause
    if (!(c instanceof Error)) break
    e = c
  }
  const x = e as { code?: unknown; message?: unknown; name?: unknown }
  const msg = typeof x?.message === 'string' ? x.message : String(e)
  const code = typeof x?.code === 'string' ? x.code : undefined
  if (x?.name === 'TimeoutError') return 'no answer in time'
  return code && !msg.includes(code) ? `${code} ${msg}` : msg
}

/** A proxy URL without its userinfo. */
function redact(proxy: string): string {
  try {
    const u = new URL(proxy)
    u.username = ''
    u.password = ''
    return u.origin
  } catch {
    return 'the configured proxy'
  }
}

/**
 * `fetch` for the runner: the runner's proxy settings, and failures that say which URL could
 * not be reached and why.
 */
export function runnerFetch(
  env: NodeJS.ProcessEnv = process.env,
  tls: { ca?: string | string[] } = {}
): (url: string, init?: RequestInit) => Promise<Response> {
  const dispatcher = runnerDispatcher(env, tls)
  const proxy = runnerProxy(env)
  const f = undiciFetch as unknown as (
    url: string,
    init: Omit<RequestInit, 'dispatcher'> & { dispatcher: unknown }
  ) => Promise<Response>
  return async (url, init = {}) => {
    try {
      return await f(url, { ...init, dispatcher })
    } catch (err) {
      if ((init.signal as AbortSignal | undefined)?.aborted) throw err
      throw new FetchFailedError(url, err, proxyFor(url, proxy))
    }
  }
}
