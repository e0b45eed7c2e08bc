/**
 * A recording test server that behaves the way a hostile or broken upstream would: it echoes
 * credentials back in headers, split across chunks and gzip-compressed against the client's
 * wishes, redirects anywhere, resets mid-stream, stalls, and waits before its headers.
 * Security tests assert on what it recorded ("nothing reached it") as much as on what the
 * client saw.
 */
import { createHash } from 'node:crypto'
import http from 'node:http'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import https from 'node:https'
import type net from 'node:net'
import type tls from 'node:tls'
import { gzipSync } from 'node:zlib'
import type { TestPki } from '../../support/test-ca.js'

/** One request the server received. */
export interface HostileRequest {
  method: string
  url: string
  headers: IncomingHttpHeaders
  /** TLS SNI, undefined for plain HTTP. */
  servername: string | undefined
  /** Body bytes received (the body itself is kept up to 64 KiB). */
  bodyBytes: number
  body: string
}

/** A running {@link startHostileUpstream} server. */
export interface HostileUpstream {
  port: number
  requests: HostileRequest[]
  /** TCP connections accepted (before any TLS handshake). */
  connections: number
  close(): Promise<void>
}

const KEEP_BODY = 64 * 1024

/**
 * Routes (query parameters in brackets):
 * - `/echo…` → JSON `{method, url, headers, body}`
 * - `/redirect[to]` → 302 to `to`
 * - `/reflect-header` → the request's `Authorization` in `x-reflect` and a `set-cookie`
 * - `/reflect-split` → the `Authorization` value as the body, in three chunks 50 ms apart
 * - `/reflect-gzip` → gzip of the request headers, `content-encoding: gzip` whatever the
 *   client accepted (a non-compliant upstream, RFC 9110 §12.5.3)
 * - `/reset[after]` → announces 1 MiB, sends `after` bytes (default 64 KiB), then resets
 * - `/slow-headers[ms]` → waits `ms` before the status line, then `ok`
 * - `/stall` → never reads the body and never answers
 * - `/sink` → reads the body, answers its size
 * - `/reverse` → JSON of the body, the URL and the `x-note` header, each reversed: a
 *   stand-in for a model asked to transform what it was sent
 * - `/store` keeps the request's headers; `/fetch` returns the last stored ones (an upstream
 *   that persists what it receives, read back later from another host it also serves)
 * - `/ws-reflect` (WebSocket upgrade) → 101, then one text frame holding the request headers
 * - anything else → 200 `ok`
 */
export async function startHostileUpstream(opts: {
  pki?: TestPki
  http?: boolean
}): Promise<HostileUpstream> {
  const sockets = new Set<net.Socket>()
  const timers = new Set<NodeJS.Timeout>()
  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t)
      fn()
    }, ms)
    timers.add(t)
  }
  const state: HostileUpstream = {
    port: 0,
    requests: [],
    connections: 0,
    close: async () => {
      for (const t of timers) clearTimeout(t)
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }

  let stored = ''

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const u = new URL(req.url ?? '/', 'http://upstream.invalid')
    const record: HostileRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      servername: (req.socket as Partial<tls.TLSSocket>).servername || undefined,
      bodyBytes: 0,
      body: ''
    }
    state.requests.push(record)
    res.on('error', () => undefined)
    req.on('error', () => undefined)
    const auth = String(req.headers.authorization ?? '')
    if (u.pathname === '/stall') return // never read, never answer
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => {
      record.bodyBytes += c.length
      if (chunks.reduce((n, b) => n + b.length, 0) < KEEP_BODY) chunks.push(c)
    })
    req.on('end', () => {
      record.body = Buffer.concat(chunks).subarray(0, KEEP_BODY).toString('utf8')
      const q = u.searchParams
      if (u.pathname.startsWith('/echo')) {
        const body = JSON.stringify({
          method: req.method,
          url: req.url,
          headers: req.headers,
          body: record.body
        })
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(body)
      } else if (u.pathname === '/redirect') {
        res.writeHead(302, { location: q.get('to') ?? '/', 'content-type': 'text/plain' })
        res.end('redirect\n')
      } else if (u.pathname === '/reflect-header') {
        res.writeHead(200, {
          'content-type': 'text/plain',
          'x-reflect': auth,
          'set-cookie': [`session=${auth.replace(/\s/g, '_')}; Path=/`]
        })
        res.end('ok\n')
      } else if (u.pathname === '/reflect-split') {
        res.writeHead(200, { 'content-type': 'text/plain' })
        const third = Math.ceil(auth.length / 3)
        res.write(`auth=${auth.slice(0, third)}`)
        later(50, () => {
          res.write(auth.slice(third, 2 * third))
          later(50, () => res.end(`${auth.slice(2 * third)}\n`))
        })
      } else if (u.pathname === '/reflect-gzip') {
        const body = gzipSync(JSON.stringify({ headers: req.headers }))
        res.writeHead(200, {
          'content-type': 'application/json',
          'content-encoding': 'gzip',
          'content-length': body.length
        })
        res.end(body)
      } else if (u.pathname === '/reset') {
        const after = Number(q.get('after') ?? 65536)
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': 1024 * 1024
        })
        res.write(Buffer.alloc(after, 0x61))
        // Give the bytes a moment to leave, then cut the connection with a TCP RST.
        later(100, () => {
          // Over TLS the RST must go on the TCP socket underneath (resetAndDestroy throws on
          // a TLS handle); `_parent` is that socket.
          type Resettable = net.Socket & { resetAndDestroy?: () => void; _parent?: Resettable }
          const s: Resettable | null = res.socket
          const tcp = s?._parent ?? s
          try {
            tcp?.resetAndDestroy?.()
          } catch {
            // no TCP handle (already closing): a plain destroy still cuts the body short
          }
          s?.destroy()
        })
      } else if (u.pathname === '/slow-headers') {
        later(Number(q.get('ms') ?? 1000), () => {
          res.writeHead(200, { 'content-type': 'text/plain' })
          res.end('ok')
        })
      } else if (u.pathname === '/reverse') {
        const rev = (t: string): string => [...t].reverse().join('')
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(
          JSON.stringify({
            body: rev(record.body),
            url: rev(req.url ?? ''),
            note: rev(String(req.headers['x-note'] ?? ''))
          })
        )
      } else if (u.pathname === '/store') {
        stored = JSON.stringify(req.headers)
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.end('stored\n')
      } else if (u.pathname === '/fetch') {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(stored)
      } else if (u.pathname === '/sink') {
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.end(`${record.bodyBytes}\n`)
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.end('ok\n')
      }
    })
  }

  const serverOpts = { requestTimeout: 0, headersTimeout: 0, keepAliveTimeout: 60_000 }
  const server = opts.http
    ? http.createServer(serverOpts, onRequest)
    : https.createServer(
        {
          ...serverOpts,
          key: opts.pki!.keyPem,
          cert: opts.pki!.certPem,
          ALPNProtocols: ['http/1.1']
        },
        onRequest
      )
  server.on('connection', (s: net.Socket) => {
    state.connections++
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => undefined)
  })
  server.on('upgrade', (req: IncomingMessage, socket: net.Socket) => {
    state.requests.push({
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      servername: (socket as Partial<tls.TLSSocket>).servername || undefined,
      bodyBytes: 0,
      body: ''
    })
    socket.on('error', () => undefined)
    const key = String(req.headers['sec-websocket-key'] ?? '')
    const accept = createHash('sha1')
      .update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest('base64')
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`
    )
    // One unmasked text frame (RFC 6455 §5.2), 16-bit length form when needed.
    const payload = Buffer.from(JSON.stringify(req.headers))
    const head =
      payload.length < 126
        ? Buffer.from([0x81, payload.length])
        : Buffer.from([0x81, 126, payload.length >> 8, payload.length & 0xff])
    socket.write(Buffer.concat([head, payload]))
  })
  server.on('clientError', (_e, s: net.Socket) => s.destroy())
  server.on('tlsClientError', () => undefined)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  state.port = (server.address() as net.AddressInfo).port
  return state
}
