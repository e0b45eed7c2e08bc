/**
 * The runner's proxy settings as plain functions, with no HTTP client behind them: the proxy
 * daemon dials with these and must not load the whole of undici for them (see runner-proxy.ts
 * for the clients built on them).
 */

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
