/**
 * The shapes of HTTP the proxy reads and writes: authorities and absolute-form URLs, the
 * canonical Host of a tunnel, hop-by-hop headers, which messages have bodies, response
 * headers scrubbed of secret names and values.
 */
import { type IncomingMessage } from 'node:http'
import net from 'node:net'
import { type Readable } from 'node:stream'
import { type Headers } from './inject.js'
import { nameHoldsSecret, scrubText } from './scrub.js'
import { normalizeHost } from './patterns.js'

/** Hop-by-hop headers (RFC 9110 §7.6.1) and the proxy's own, never forwarded. */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings'
])

/**
 * `host:port` (or `[v6]:port`); the default port applies when none is given. `host` is
 * normalised (lower case, canonical IP); `raw` is the host as written, without brackets.
 */
export function parseAuthority(
  value: string,
  defaultPort?: number
): { host: string; port: number; raw: string } | undefined {
  const m = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(value.trim())
  if (!m) return undefined
  const port = m[2] !== undefined ? Number(m[2]) : defaultPort
  if (port === undefined || port < 1 || port > 65535) return undefined
  const raw = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!
  const host = net.isIP(raw) ? raw.toLowerCase() : normalizeHost(raw)
  return host ? { host, port, raw } : undefined
}

export function parseAbsolute(
  value: string
): { scheme: string; host: string; port: number; path: string } | undefined {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return undefined
  }
  if (url.username || url.password) return undefined
  const scheme = url.protocol.slice(0, -1)
  if (scheme !== 'http' && scheme !== 'https') return undefined
  const authority = parseAuthority(url.host, scheme === 'https' ? 443 : 80)
  if (!authority) return undefined
  return {
    scheme,
    host: authority.host,
    port: authority.port,
    path: `${url.pathname}${url.search}`
  }
}

export function stripHopByHop(headers: Headers): Headers {
  // On every request and every answer: one pass, and array work only when a Connection
  // header names other headers (in whatever case its name is written).
  const out: Headers = {}
  let connection: string | string[] | undefined
  for (const k in headers) {
    const v = headers[k]
    if (v === undefined) continue
    const lower = k.toLowerCase()
    if (lower === 'connection') connection = v
    if (!HOP_BY_HOP.has(lower)) out[lower] = v
  }
  if (connection !== undefined)
    for (const named of String(connection).split(',')) delete out[named.trim().toLowerCase()]
  return out
}

export function hasBody(req: IncomingMessage): boolean {
  return (
    req.headers['transfer-encoding'] !== undefined ||
    (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0')
  )
}

/** Whether a response to method with status carries content (RFC 9112 §6.3). */
export function responseHasBody(method: string, status: number): boolean {
  return method !== 'HEAD' && status !== 204 && status !== 304 && status >= 200
}

export function isBufferable(headers: Headers): boolean {
  const type = String(headers['content-type'] ?? '')
  const length = Number(headers['content-length'] ?? NaN)
  return !type.includes('event-stream') && Number.isFinite(length) && length <= 1024 * 1024
}

/**
 * The whole of a stream, up to max bytes (more rejects and destroys the stream). Listeners,
 * not an async iterator: this reads the small answer of nearly every request.
 */
export function readAll(stream: Readable, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // Gone before we came (a client that left while a signer ran): no event will come.
    if (stream.destroyed) return reject(new Error('the body ended early'))
    if (stream.readableEnded) return resolve(Buffer.alloc(0))
    const chunks: Buffer[] = []
    let size = 0
    const done = (err?: Error | null): void => {
      stream.off('data', onData)
      stream.off('end', onEnd)
      stream.off('close', onClose)
      // The error listener stays: an error after the end (or after the destroy below) must
      // not become an uncaught one; the promise has settled, so it changes nothing.
      if (err) reject(err)
    }
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size <= max) return void chunks.push(chunk)
      done(new Error(`body larger than ${max} bytes`))
      // Without an error, as an async iterator that stops early does.
      stream.destroy()
    }
    const onEnd = (): void => {
      done()
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size))
    }
    // Closed without an end (destroyed without an error): a body cut short.
    const onClose = (): void => done(new Error('the body ended early'))
    stream.on('data', onData)
    stream.once('end', onEnd)
    stream.on('error', done)
    stream.once('close', onClose)
  })
}

export function errorCode(err: unknown): string {
  const e = err as { code?: string; message?: string }
  return e.code ?? e.message ?? String(err)
}

/**
 * The headers of an upstream answer as they go to the client: hop-by-hop ones dropped,
 * secrets replaced in every value (repeated headers arrive as arrays: each one), and a
 * header whose name holds a secret dropped.
 */
export function responseHeaders(
  headers: Headers,
  secrets: ReadonlyArray<[string, string]>
): Headers {
  const out = stripHopByHop(headers)
  if (secrets.length === 0) return out
  for (const [k, v] of Object.entries(out)) {
    if (nameHoldsSecret(k, secrets)) delete out[k]
    else if (typeof v === 'string') out[k] = scrubText(v, secrets)
    else if (Array.isArray(v)) out[k] = v.map((x) => scrubText(x, secrets))
  }
  return out
}

/** Whether an `Upgrade` header asks for (or names) exactly WebSocket. */
export function isWebSocketUpgrade(value: string | string[] | undefined): boolean {
  return typeof value === 'string' && value.trim().toLowerCase() === 'websocket'
}

/** The Host a request to host:port carries upstream: the checked name, never the client's text. */
export function hostHeaderFor(host: string, port: number, defaultPort: number): string {
  const name = host.includes(':') ? `[${host}]` : host
  return port === defaultPort ? name : `${name}:${port}`
}

/**
 * Whether value is exactly a form of host:port: the name case-insensitively (an IPv6
 * address in brackets), with `:port` in canonical decimal, or bare when `bare` allows.
 * Forms that only normalise to the name (`name.`, `[name]`, `:0443`, `%2e`, userinfo,
 * another spelling of an IP) are not.
 */
export function isHostForm(value: string, host: string, port: number, bare: boolean): boolean {
  const v = value.toLowerCase()
  const name = host.includes(':') ? `[${host}]` : host
  return (bare && v === name) || v === `${name}:${port}`
}

/** The authority of an absolute URL exactly as written (`https://<this>/path`). */
export function rawAuthority(url: string): string | undefined {
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(url)?.[1]
}
