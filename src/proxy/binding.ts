/**
 * Binding a request to the origin the policy admitted: a request inside a tunnel must name
 * the tunnel's own origin (in its Host, and in its URL when absolute-form), and a plain-HTTP
 * request's URL and Host must be exact forms of the one origin checked. What goes upstream
 * is then the canonical form checked here, never the client's text. Pure rules; the
 * server records and answers the refusals.
 */
import { isHostForm, parseAbsolute, rawAuthority } from './http-forms.js'

/** A refusal of the binding rules, as the server's `block` takes it. */
export interface BindingRefusal {
  reason: 'method' | 'host-mismatch'
  message: string
  /** The URL the refusal is logged under. */
  url: string
}

/** The path a request inside the tunnel to host:port may go upstream with, or a refusal. */
export function bindTunnelRequest(
  req: { method?: string | undefined; url?: string | undefined; host?: string | undefined },
  tunnel: { host: string; port: number }
): { path: string } | { refused: BindingRefusal } {
  const method = req.method ?? ''
  const url = `https://${tunnel.host}${tunnel.port === 443 ? '' : `:${tunnel.port}`}${req.url ?? ''}`
  if (method === 'TRACE' || method === 'TRACK')
    return {
      refused: {
        reason: 'method',
        message: `Airlock blocked ${method} ${url}: ${method} is never forwarded`,
        url
      }
    }
  let path = req.url ?? '/'
  if (!path.startsWith('/')) {
    // Absolute-form inside a tunnel (RFC 9112 §3.2.2): allowed only for the tunnel's own origin.
    const abs = parseAbsolute(path)
    const authority = rawAuthority(path)
    if (
      !abs ||
      abs.host !== tunnel.host ||
      abs.port !== tunnel.port ||
      abs.scheme !== 'https' ||
      authority === undefined ||
      !isHostForm(authority, tunnel.host, tunnel.port, tunnel.port === 443)
    )
      return {
        refused: {
          reason: 'host-mismatch',
          message: `Airlock blocked ${path}: a request inside the tunnel to ${tunnel.host} may not name another origin`,
          url: path
        }
      }
    path = abs.path
  }
  // Only an exact form of the tunnel's name passes (not one that merely normalises to it),
  // and what goes upstream is the canonical form checked here, never the client's text.
  if (!isHostForm(req.host ?? '', tunnel.host, tunnel.port, true))
    return {
      refused: {
        reason: 'host-mismatch',
        message: `Airlock blocked a request for Host "${req.host ?? ''}" inside the tunnel to ${tunnel.host}:${tunnel.port}`,
        url
      }
    }
  return { path }
}

/**
 * Whether an absolute-form plain-HTTP request names exactly the origin host:port the policy
 * checked, in its URL's authority and in its Host (when it sends one). One that differs or
 * only normalises to it (`plain.test.`, `a@b`, `:0080`) does not: a shared server may route
 * it to another virtual host (RFC 9112 §3.2.2 lets the URL win, but the upstream sees the
 * header).
 */
export function plainOriginMatches(
  url: string,
  hostHeader: string | undefined,
  origin: { host: string; port: number }
): boolean {
  const authority = rawAuthority(url)
  return (
    authority !== undefined &&
    isHostForm(authority, origin.host, origin.port, origin.port === 80) &&
    (hostHeader === undefined || isHostForm(hostHeader, origin.host, origin.port, true))
  )
}
