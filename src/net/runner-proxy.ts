import { EnvHttpProxyAgent, fetch as undiciFetch, type Dispatcher } from 'undici'
import { AirlockError } from '../errors.js'
import { noProxyMatches, proxyFor, runnerProxy, type RunnerProxy } from './proxy-env.js'

export { noProxyMatches, proxyFor, runnerProxy, type RunnerProxy }

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
