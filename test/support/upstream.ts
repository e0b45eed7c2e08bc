import { createHash, randomBytes } from 'node:crypto'
import http from 'node:http'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import https from 'node:https'
import type net from 'node:net'
import type tls from 'node:tls'
import { performance } from 'node:perf_hooks'
import { createTestPki } from './test-ca.js'
import type { TestPki } from './test-ca.js'

/** One request the upstream received (WebSocket upgrades included). */
export interface RecordedRequest {
  method: string
  url: string
  headers: IncomingHttpHeaders
  /** Raw header list as sent (names keep their case and order; repeated headers stay apart). */
  rawHeaders: string[]
  /** Request body; filled in when it has been read in full (capped at 8 MiB, see bodyBytes). */
  body: Buffer
  /** Total body bytes received (may exceed body.length for large uploads to /sink). */
  bodyBytes: number
  /** performance.now() when the request head arrived. */
  time: number
  /** TLS SNI of the connection (undefined for plain HTTP or when the client sent none). */
  servername: string | undefined
}

/** A recording test server; see {@link startUpstream}. */
export interface Upstream {
  /** `https://127.0.0.1:<port>` (or `http://…` with `http: true`). */
  url: string
  host: '127.0.0.1'
  port: number
  /** The PKI whose server certificate is served; undefined for plain HTTP. */
  pki: TestPki | undefined
  /** Every request received, in arrival order. */
  requests: RecordedRequest[]
  /** TCP connections accepted so far (counted before any TLS handshake). */
  connections: number
  /** performance.now() at which each SSE event was written, across all /sse requests. */
  sseSent: number[]
  /** Clears requests, connections and sseSent. */
  reset(): void
  /** Stops the server and destroys every connection, including WebSockets. */
  close(): Promise<void>
}

/** Options for {@link startUpstream}. */
export interface UpstreamOptions {
  /** Certificate to serve; created with {@link createTestPki} from `names` when absent. */
  pki?: TestPki
  /** SAN names for the generated certificate (default `['upstream.test']`). */
  names?: string[]
  /** Serve plain HTTP instead of HTTPS. */
  http?: boolean
}

const MAX_RECORDED_BODY = 8 * 1024 * 1024
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

/**
 * Starts an HTTP/1.1 server on 127.0.0.1 (random port) that records every request.
 *
 * Routes:
 * - `* /echo*` → JSON `{method, url, headers, body}` (body as UTF-8)
 * - `GET /sse?n=10&interval=100` → `text/event-stream`, event `data: <i>\n\n` (i from 0),
 *   the first at once and then one every `interval` ms; send times go to `sseSent`
 * - `GET /bytes?n=<bytes>` → n bytes with content-length; byte k is `k % 256`
 * - `POST /sink` → consumes the body, answers JSON `{bytes, sha256}` (hex)
 * - `GET /redirect?to=<url>` → 302 with `Location: <url>`
 * - `GET /status/<code>` → that status, body `status <code>`
 * - `GET /echo-secret?value=<v>` → body is exactly `<v>` (text/plain) and header `x-echo: <v>`
 * - `GET /slow-headers?ms=<ms>` → waits ms before sending the headers, body `ok`
 * - `/ws` → WebSocket (RFC 6455) echo of text and binary messages
 * - anything else → 404
 */
export async function startUpstream(opts: UpstreamOptions = {}): Promise<Upstream> {
  const plain = opts.http === true
  const pki = plain
    ? undefined
    : (opts.pki ?? (await createTestPki(opts.names ?? ['upstream.test'])))
  const sockets = new Set<net.Socket>()
  const timers = new Set<NodeJS.Timeout>()

  const upstream: Upstream = {
    url: '',
    host: '127.0.0.1',
    port: 0,
    pki,
    requests: [],
    connections: 0,
    sseSent: [],
    reset(): void {
      upstream.requests.length = 0
      upstream.sseSent.length = 0
      upstream.connections = 0
    },
    close: async (): Promise<void> => {
      for (const t of timers) clearTimeout(t)
      timers.clear()
      for (const s of sockets) s.destroy()
      sockets.clear()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }

  const setTimer = (fn: () => void, ms: number): void => {
    const t = setTimeout(() => {
      timers.delete(t)
      fn()
    }, ms)
    timers.add(t)
  }

  const record = (req: IncomingMessage): RecordedRequest => {
    const r: RecordedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body: Buffer.alloc(0),
      bodyBytes: 0,
      time: performance.now(),
      servername: (req.socket as Partial<tls.TLSSocket>).servername || undefined
    }
    upstream.requests.push(r)
    return r
  }

  /** Reads the body into the record (capped); resolves with the full body or its hash. */
  const readBody = (
    req: IncomingMessage,
    r: RecordedRequest
  ): Promise<{ body: Buffer; bytes: number; sha256: string }> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = []
      let kept = 0
      const hash = createHash('sha256')
      req.on('data', (c: Buffer) => {
        r.bodyBytes += c.length
        hash.update(c)
        if (kept < MAX_RECORDED_BODY) {
          const part = c.subarray(0, MAX_RECORDED_BODY - kept)
          chunks.push(part)
          kept += part.length
        }
      })
      req.on('end', () => {
        r.body = Buffer.concat(chunks)
        resolve({ body: r.body, bytes: r.bodyBytes, sha256: hash.digest('hex') })
      })
      req.on('error', reject)
    })

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const r = record(req)
    const u = new URL(req.url ?? '/', 'http://upstream.invalid')
    const q = u.searchParams
    const path = u.pathname

    if (path === '/sink') {
      const { bytes, sha256 } = await readBody(req, r)
      json(res, 200, { bytes, sha256 })
      return
    }
    const { body } = await readBody(req, r)

    if (path.startsWith('/echo-secret')) {
      const value = q.get('value') ?? ''
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-echo': value })
      res.end(value)
    } else if (path.startsWith('/echo')) {
      json(res, 200, {
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: body.toString('utf8')
      })
    } else if (path === '/sse') {
      const n = intParam(q, 'n', 10)
      const interval = intParam(q, 'interval', 100)
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive'
      })
      res.flushHeaders()
      let i = 0
      const tick = (): void => {
        if (res.destroyed) return
        res.write(`data: ${i}\n\n`)
        upstream.sseSent.push(performance.now())
        i += 1
        if (i >= n) res.end()
        else setTimer(tick, interval)
      }
      if (n <= 0) res.end()
      else tick()
    } else if (path === '/bytes') {
      streamBytes(res, intParam(q, 'n', 0))
    } else if (path === '/redirect') {
      res.writeHead(302, { location: q.get('to') ?? '/', 'content-type': 'text/plain' })
      res.end('redirect\n')
    } else if (path.startsWith('/status/')) {
      const code = Number.parseInt(path.slice('/status/'.length), 10)
      const status = code >= 200 && code <= 599 ? code : 400
      res.writeHead(status, { 'content-type': 'text/plain' })
      res.end(status === 204 || status === 304 ? undefined : `status ${status}\n`)
    } else if (path === '/slow-headers') {
      setTimer(
        () => {
          if (res.destroyed) return
          res.writeHead(200, { 'content-type': 'text/plain' })
          res.end('ok')
        },
        intParam(q, 'ms', 1000)
      )
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' })
      res.end('not found\n')
    }
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch(() => {
      // A client that vanished mid-body: nothing to answer.
      res.destroy()
    })
  }

  const server = plain
    ? http.createServer({ requestTimeout: 0 }, onRequest)
    : https.createServer(
        { key: pki!.keyPem, cert: pki!.certPem, ALPNProtocols: ['http/1.1'], requestTimeout: 0 },
        onRequest
      )
  // Long waits (slow headers, idle SSE) must not be cut by the server.
  server.keepAliveTimeout = 60_000
  server.headersTimeout = 0
  server.on('connection', (s: net.Socket) => {
    upstream.connections += 1
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  server.on('upgrade', (req: IncomingMessage, socket: net.Socket, head: Buffer) => {
    record(req)
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    acceptWebSocket(req, socket, head)
  })
  // Errors on individual sockets (client resets, failed handshakes) are expected in tests.
  server.on('clientError', (_err, socket) => socket.destroy())
  server.on('tlsClientError', () => undefined)

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const addr = server.address() as net.AddressInfo
  upstream.port = addr.port
  upstream.url = `${plain ? 'http' : 'https'}://127.0.0.1:${addr.port}`
  return upstream
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body)
  })
  res.end(body)
}

function intParam(q: URLSearchParams, name: string, dflt: number): number {
  const v = Number.parseInt(q.get(name) ?? '', 10)
  return Number.isFinite(v) && v >= 0 ? v : dflt
}

/** Streams n bytes (byte k = k % 256) in 64 KiB chunks, honouring backpressure. */
function streamBytes(res: ServerResponse, n: number): void {
  const block = Buffer.alloc(64 * 1024)
  for (let k = 0; k < block.length; k++) block[k] = k % 256
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n })
  let sent = 0
  const pump = (): void => {
    while (sent < n) {
      const len = Math.min(block.length, n - sent)
      // block.length is a multiple of 256, so every chunk starts at offset k % 256 === 0.
      sent += len
      if (!res.write(block.subarray(0, len))) {
        res.once('drain', pump)
        return
      }
    }
    res.end()
  }
  pump()
}

// ---------------------------------------------------------------------------------------
// WebSocket (RFC 6455), just enough for echo tests.
// ---------------------------------------------------------------------------------------

const OP_CONT = 0x0
const OP_TEXT = 0x1
const OP_BINARY = 0x2
const OP_CLOSE = 0x8
const OP_PING = 0x9
const OP_PONG = 0xa

interface WsFrame {
  fin: boolean
  opcode: number
  masked: boolean
  payload: Buffer
}

/** Sec-WebSocket-Accept for a key (RFC 6455 §4.2.2). */
function wsAccept(key: string): string {
  return createHash('sha1')
    .update(key + WS_GUID)
    .digest('base64')
}

/** Encodes one frame; client-to-server frames must be masked (RFC 6455 §5.3). */
function encodeFrame(opcode: number, payload: Buffer, mask: boolean): Buffer {
  const len = payload.length
  let header: Buffer
  if (len < 126) {
    header = Buffer.alloc(2)
    header[1] = len
  } else if (len < 65536) {
    header = Buffer.alloc(4)
    header[1] = 126
    header.writeUInt16BE(len, 2)
  } else {
    header = Buffer.alloc(10)
    header[1] = 127
    header.writeBigUInt64BE(BigInt(len), 2)
  }
  header[0] = 0x80 | opcode
  if (!mask) return Buffer.concat([header, payload])
  header.writeUInt8(header.readUInt8(1) | 0x80, 1)
  const key = randomBytes(4)
  const body = Buffer.alloc(len)
  for (let i = 0; i < len; i++) body[i] = payload[i]! ^ key[i & 3]!
  return Buffer.concat([header, key, body])
}

/** Incremental frame parser (RFC 6455 §5.2). */
class FrameParser {
  private buf: Buffer = Buffer.alloc(0)

  push(chunk: Buffer): WsFrame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk
    const frames: WsFrame[] = []
    for (;;) {
      const b = this.buf
      if (b.length < 2) break
      const fin = (b[0]! & 0x80) !== 0
      const opcode = b[0]! & 0x0f
      const masked = (b[1]! & 0x80) !== 0
      let len = b[1]! & 0x7f
      let off = 2
      if (len === 126) {
        if (b.length < 4) break
        len = b.readUInt16BE(2)
        off = 4
      } else if (len === 127) {
        if (b.length < 10) break
        len = Number(b.readBigUInt64BE(2))
        off = 10
      }
      const maskLen = masked ? 4 : 0
      if (b.length < off + maskLen + len) break
      const key = masked ? b.subarray(off, off + 4) : undefined
      const payload = Buffer.from(b.subarray(off + maskLen, off + maskLen + len))
      if (key) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i & 3]!
      frames.push({ fin, opcode, masked, payload })
      this.buf = b.subarray(off + maskLen + len)
    }
    return frames
  }
}

/** Reassembles fragmented messages and answers control frames. */
class MessageAssembler {
  private parts: Buffer[] = []
  private opcode = 0

  constructor(
    private readonly socket: net.Socket,
    private readonly maskOutgoing: boolean,
    private readonly onMessage: (opcode: number, data: Buffer) => void,
    private readonly onClose: (code: number | undefined) => void
  ) {}

  handle(f: WsFrame): void {
    if (f.opcode === OP_PING) {
      this.socket.write(encodeFrame(OP_PONG, f.payload, this.maskOutgoing))
    } else if (f.opcode === OP_PONG) {
      // Unsolicited pongs are allowed and ignored (RFC 6455 §5.5.3).
    } else if (f.opcode === OP_CLOSE) {
      this.onClose(f.payload.length >= 2 ? f.payload.readUInt16BE(0) : undefined)
    } else {
      if (f.opcode !== OP_CONT) {
        this.opcode = f.opcode
        this.parts = []
      }
      this.parts.push(f.payload)
      if (f.fin) {
        const data = Buffer.concat(this.parts)
        this.parts = []
        this.onMessage(this.opcode, data)
      }
    }
  }
}

function acceptWebSocket(req: IncomingMessage, socket: net.Socket, head: Buffer): void {
  const key = req.headers['sec-websocket-key']
  const upgrade = (req.headers.upgrade ?? '').toLowerCase()
  const path = new URL(req.url ?? '/', 'http://upstream.invalid').pathname
  if (path !== '/ws' || upgrade !== 'websocket' || typeof key !== 'string') {
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
    return
  }
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\n' +
      'Upgrade: websocket\r\n' +
      'Connection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${wsAccept(key)}\r\n\r\n`
  )
  const parser = new FrameParser()
  let closed = false
  const asm = new MessageAssembler(
    socket,
    false,
    (opcode, data) => {
      if (!closed) socket.write(encodeFrame(opcode, data, false))
    },
    (code) => {
      if (closed) return
      closed = true
      const payload = Buffer.alloc(code === undefined ? 0 : 2)
      if (code !== undefined) payload.writeUInt16BE(code, 0)
      socket.end(encodeFrame(OP_CLOSE, payload, false))
    }
  )
  const onData = (chunk: Buffer): void => {
    for (const f of parser.push(chunk)) {
      if (!f.masked) {
        // Servers must fail the connection on an unmasked client frame (RFC 6455 §5.1).
        closed = true
        const p = Buffer.alloc(2)
        p.writeUInt16BE(1002, 0)
        socket.end(encodeFrame(OP_CLOSE, p, false))
        return
      }
      asm.handle(f)
    }
  }
  socket.on('data', onData)
  socket.on('error', () => socket.destroy())
  if (head.length) onData(head)
}

/** A minimal WebSocket client; see {@link wsClientOverSocket}. */
export interface WsClient {
  /** Sends a text message (masked, as RFC 6455 requires of clients). */
  send(text: string): void
  /** Sends a binary message. */
  sendBinary(data: Buffer): void
  /** Resolves with the next data message as text; rejects when the connection ends first. */
  next(): Promise<string>
  /** Sends a close frame (1000) and ends the socket. */
  close(): void
  /** Headers of the 101 response, lower-cased names. */
  responseHeaders: Record<string, string>
}

/**
 * Performs the RFC 6455 opening handshake for `path` on an already connected socket (plain,
 * TLS, or a TLS socket inside a proxy's CONNECT tunnel) and returns a tiny client. Rejects
 * with the status line when the server does not answer 101 with the right accept key.
 */
export async function wsClientOverSocket(
  socket: tls.TLSSocket | net.Socket,
  host: string,
  path: string,
  extraHeaders: Record<string, string> = {}
): Promise<WsClient> {
  const key = randomBytes(16).toString('base64')
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: ${host}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Version: 13',
    ...Object.entries(extraHeaders).map(([k, v]) => `${k}: ${v}`)
  ]
  socket.write(lines.join('\r\n') + '\r\n\r\n')

  const { headers, rest } = await new Promise<{ headers: Record<string, string>; rest: Buffer }>(
    (resolve, reject) => {
      let buf = Buffer.alloc(0)
      const cleanup = (): void => {
        socket.off('data', onData)
        socket.off('error', onError)
        socket.off('close', onClose)
      }
      const onError = (err: Error): void => {
        cleanup()
        reject(err)
      }
      const onClose = (): void => {
        cleanup()
        reject(new Error(`WebSocket handshake: connection closed (${buf.toString('latin1')})`))
      }
      const onData = (chunk: Buffer): void => {
        buf = Buffer.concat([buf, chunk])
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) return
        cleanup()
        const [statusLine = '', ...headerLines] = buf
          .subarray(0, end)
          .toString('latin1')
          .split('\r\n')
        const hs: Record<string, string> = {}
        for (const l of headerLines) {
          const i = l.indexOf(':')
          if (i > 0) hs[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim()
        }
        if (!/^HTTP\/1\.1 101\b/.test(statusLine)) {
          reject(new Error(`WebSocket handshake refused: ${statusLine}`))
        } else if (hs['sec-websocket-accept'] !== wsAccept(key)) {
          reject(new Error('WebSocket handshake: bad Sec-WebSocket-Accept'))
        } else {
          resolve({ headers: hs, rest: buf.subarray(end + 4) })
        }
      }
      socket.on('data', onData)
      socket.on('error', onError)
      socket.on('close', onClose)
    }
  )

  const queue: string[] = []
  const waiters: Array<{ resolve: (s: string) => void; reject: (e: Error) => void }> = []
  let ended: Error | undefined
  const finish = (err: Error): void => {
    if (ended) return
    ended = err
    for (const w of waiters.splice(0)) w.reject(err)
  }
  const parser = new FrameParser()
  const asm = new MessageAssembler(
    socket,
    true,
    (_opcode, data) => {
      const text = data.toString('utf8')
      const w = waiters.shift()
      if (w) w.resolve(text)
      else queue.push(text)
    },
    (code) => {
      finish(new Error(`WebSocket closed by server (${code ?? 'no code'})`))
      socket.end()
    }
  )
  const onData = (chunk: Buffer): void => {
    for (const f of parser.push(chunk)) asm.handle(f)
  }
  socket.on('data', onData)
  socket.on('error', (err: Error) => finish(err))
  socket.on('close', () => finish(new Error('WebSocket connection closed')))
  if (rest.length) onData(rest)

  return {
    responseHeaders: headers,
    send(text: string): void {
      socket.write(encodeFrame(OP_TEXT, Buffer.from(text, 'utf8'), true))
    },
    sendBinary(data: Buffer): void {
      socket.write(encodeFrame(OP_BINARY, data, true))
    },
    next(): Promise<string> {
      const queued = queue.shift()
      if (queued !== undefined) return Promise.resolve(queued)
      if (ended) return Promise.reject(ended)
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }))
    },
    close(): void {
      if (socket.destroyed) return
      const p = Buffer.alloc(2)
      p.writeUInt16BE(1000, 0)
      socket.end(encodeFrame(OP_CLOSE, p, true))
    }
  }
}
