// Runs INSIDE the Airlock sandbox, as the agent would: `node attacks.mjs <spec.json>`.
//
// The spec is a list of attacks `{id, kind, ...params}` written by the host-side battery
// (test/security/egress-attacks.ts). Each attack runs in turn and prints one line
// `AIRLOCK-ATTACK <json>` with what it observed: statuses, X-Airlock-Blocked reasons, error
// codes, bodies. The host decides what counts as a pass; this script only observes. It never
// knows a real secret: it holds placeholders and the per-run proxy token, like any agent.
import { spawnSync } from 'node:child_process'
import { readFileSync, existsSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const proxyUrl = new URL(process.env.HTTPS_PROXY)
const PROXY_AUTH =
  'Basic ' +
  Buffer.from(
    `${decodeURIComponent(proxyUrl.username)}:${decodeURIComponent(proxyUrl.password)}`
  ).toString('base64')
const PROXY_PORT = Number(proxyUrl.port)
const CA = readFileSync(process.env.NODE_EXTRA_CA_CERTS)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Fills `{{AUTH}}` (the proxy credential) into raw request text. */
const fill = (text) => String(text).replaceAll('{{AUTH}}', PROXY_AUTH)

/** A socket with a byte buffer and an HTTP/1.1 response reader (keep-alive aware). */
class Conn {
  constructor(sock) {
    this.sock = sock
    this.buf = Buffer.alloc(0)
    this.ended = false
    this.error = undefined
    this.waiters = []
    sock.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d])
      this.wake()
    })
    const end = () => {
      this.ended = true
      this.wake()
    }
    sock.on('end', end)
    sock.on('close', end)
    sock.on('error', (e) => {
      this.error ??= e.code || e.message
      end()
    })
  }
  wake() {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }
  wait(ms) {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, Math.max(0, ms))
      this.waiters.push(() => {
        clearTimeout(t)
        resolve()
      })
    })
  }
  async until(pred, deadline) {
    while (!pred()) {
      if (this.ended || Date.now() >= deadline) return pred()
      await this.wait(deadline - Date.now())
    }
    return true
  }
  /** Reads one response. `noBodyOn2xx` for CONNECT (a 2xx has no body, RFC 9110 §9.3.6). */
  async response({ timeout = 8000, noBodyOn2xx = false, method = 'GET' } = {}) {
    const deadline = Date.now() + timeout
    let end = -1
    const found = await this.until(() => (end = this.buf.indexOf('\r\n\r\n')) >= 0, deadline)
    if (!found) {
      const partial = this.buf.toString('latin1').slice(0, 300)
      return {
        error: this.error ?? (this.ended ? 'CLOSED' : 'TIMEOUT'),
        ...(partial ? { raw: partial } : {})
      }
    }
    const head = this.buf.subarray(0, end).toString('latin1')
    this.buf = this.buf.subarray(end + 4)
    const [statusLine, ...lines] = head.split('\r\n')
    const m = /^HTTP\/\d\.\d (\d{3})/.exec(statusLine)
    if (!m) return { error: 'NOT-HTTP', raw: head.slice(0, 300) }
    const status = Number(m[1])
    const headers = {}
    for (const l of lines) {
      const i = l.indexOf(':')
      if (i <= 0) continue
      const k = l.slice(0, i).trim().toLowerCase()
      const v = l.slice(i + 1).trim()
      headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`
    }
    const out = { status, headers }
    if (headers['x-airlock-blocked']) out.blocked = headers['x-airlock-blocked']
    if (
      (noBodyOn2xx && status >= 200 && status < 300) ||
      method === 'HEAD' ||
      status === 204 ||
      status === 304 ||
      status < 200
    )
      return out
    let body = Buffer.alloc(0)
    if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length'])
      await this.until(() => this.buf.length >= n, deadline)
      body = this.buf.subarray(0, n)
      this.buf = this.buf.subarray(Math.min(n, this.buf.length))
      if (body.length < n) out.truncated = true
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const parts = []
      for (;;) {
        let nl = -1
        if (!(await this.until(() => (nl = this.buf.indexOf('\r\n')) >= 0, deadline))) {
          out.truncated = true
          break
        }
        const size = parseInt(this.buf.subarray(0, nl).toString('latin1'), 16)
        if (!Number.isFinite(size)) {
          out.truncated = true
          break
        }
        if (!(await this.until(() => this.buf.length >= nl + 2 + size + 2, deadline))) {
          out.truncated = true
          break
        }
        parts.push(this.buf.subarray(nl + 2, nl + 2 + size))
        this.buf = this.buf.subarray(nl + 2 + size + 2)
        if (size === 0) break
      }
      body = Buffer.concat(parts)
    } else {
      await this.until(() => false, deadline)
      body = this.buf
      this.buf = Buffer.alloc(0)
    }
    out.body = body.toString('latin1').slice(0, 8000)
    if (this.error && out.truncated) out.error = this.error
    return out
  }
  write(data) {
    if (!this.sock.destroyed) this.sock.write(data)
  }
  destroy() {
    this.sock.destroy()
  }
}

/** A plain connection to the proxy: the in-container forwarder (TCP) or the unix socket. */
function dial(via) {
  return new Promise((resolve) => {
    const sock =
      via === 'socket'
        ? net.connect(process.env.AIRLOCK_PROXY_SOCKET)
        : net.connect(PROXY_PORT, '127.0.0.1')
    const conn = new Conn(sock)
    sock.once('connect', () => resolve(conn))
    sock.once('error', () => resolve(conn))
  })
}

function connectRequest(authority, { auth = true, extra = '' } = {}) {
  return (
    `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n` +
    (auth === true
      ? `Proxy-Authorization: ${PROXY_AUTH}\r\n`
      : auth
        ? `Proxy-Authorization: ${auth}\r\n`
        : '') +
    extra +
    '\r\n'
  )
}

/** CONNECT, then TLS with the given SNI (null: none) through the tunnel. */
async function openTunnel(a) {
  const conn = await dial(a.via)
  conn.write(connectRequest(a.authority))
  const connect = await conn.response({ noBodyOn2xx: true })
  if (connect.status !== 200) {
    conn.destroy()
    return { connect }
  }
  const opts = {
    socket: conn.sock,
    ca: CA,
    ALPNProtocols: a.alpn ?? ['http/1.1'],
    checkServerIdentity: () => undefined
  }
  if (a.sni !== null) opts.servername = a.sni ?? a.authority.replace(/:\d+$/, '')
  const tlsSock = tls.connect(opts)
  const result = await new Promise((resolve) => {
    const t = setTimeout(() => resolve({ error: 'TLS-TIMEOUT' }), 8000)
    tlsSock.once('secureConnect', () => {
      clearTimeout(t)
      resolve({ ok: true })
    })
    tlsSock.once('error', (e) => {
      clearTimeout(t)
      resolve({ error: e.code || e.message })
    })
  })
  if (!result.ok) {
    tlsSock.destroy()
    return { connect, tls: result.error }
  }
  // Attach the reader before any byte can arrive.
  return { connect, tls: 'ok', alpn: tlsSock.alpnProtocol || false, conn: new Conn(tlsSock) }
}

function run(cmd, args, { timeout = 20_000, env, input } = {}) {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    timeout,
    env: env ?? process.env,
    input,
    maxBuffer: 16 * 1024 * 1024
  })
  return {
    code: r.status ?? (r.error ? (r.error.code ?? 'ERROR') : r.signal),
    stdout: (r.stdout ?? '').slice(0, 8000),
    stderr: (r.stderr ?? '').slice(0, 1000)
  }
}

function tcp(host, port, timeout = 3000) {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port })
    const t = setTimeout(() => {
      sock.destroy()
      resolve({ error: 'TIMEOUT' })
    }, timeout)
    sock.once('connect', () => {
      clearTimeout(t)
      sock.destroy()
      resolve({ connected: true })
    })
    sock.once('error', (e) => {
      clearTimeout(t)
      resolve({ error: e.code || e.message })
    })
  })
}

// ---------------------------------------------------------------------------------------
// Attack kinds
// ---------------------------------------------------------------------------------------

const kinds = {
  /** A raw CONNECT; the answer's status and X-Airlock-Blocked. */
  async connect(a) {
    const conn = await dial(a.via)
    conn.write(a.raw ? fill(a.raw) : connectRequest(a.authority, { auth: a.auth ?? true }))
    const r = await conn.response({ noBodyOn2xx: true })
    conn.destroy()
    return r
  },

  /** Raw bytes to the proxy's plain listener (absolute-form HTTP, SOCKS, garbage). */
  async plain(a) {
    const conn = await dial(a.via)
    conn.write(a.hex ? Buffer.from(a.hex, 'hex') : fill(a.raw))
    if (a.hex) {
      await conn.until(() => conn.buf.length > 0, Date.now() + 3000)
      const first = conn.buf.subarray(0, 64)
      conn.destroy()
      return { firstBytesHex: first.toString('hex'), text: first.toString('latin1') }
    }
    const responses = []
    for (let i = 0; i < (a.responses ?? 1); i++) {
      const r = await conn.response({ method: a.method ?? 'GET' })
      responses.push(r)
      if (r.error) break
    }
    conn.destroy()
    return responses.length === 1 ? responses[0] : { responses }
  },

  /** CONNECT + TLS, then raw requests one after the other on the same connection. */
  async tunnel(a) {
    const t = await openTunnel(a)
    const out = { connect: t.connect.status ?? t.connect.error }
    if (t.connect.blocked) out.connectBlocked = t.connect.blocked
    if (t.tls !== undefined) out.tls = t.tls
    if (t.alpn !== undefined) out.alpn = t.alpn
    if (!t.conn) return out
    out.responses = []
    for (const req of a.requests ?? []) {
      t.conn.write(req.hex ? Buffer.from(req.hex, 'hex') : (req.raw ?? req))
      const r = await t.conn.response({ timeout: req.timeout ?? 8000, method: req.method })
      out.responses.push(r)
      if (r.error) break
    }
    t.conn.destroy()
    return out
  },

  /** A WebSocket upgrade inside a tunnel; returns the 101 and whatever frames follow. */
  async ws(a) {
    const t = await openTunnel(a)
    if (!t.conn) return { connect: t.connect.status ?? t.connect.error, tls: t.tls }
    const host = a.authority.replace(/:\d+$/, '')
    t.conn.write(
      `GET ${a.path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${Buffer.from('airlock-sec-key!').toString('base64')}\r\n` +
        `Sec-WebSocket-Version: 13\r\n${a.headers ?? ''}\r\n`
    )
    const head = await t.conn.response({ noBodyOn2xx: true, timeout: 5000 })
    await t.conn.until(() => false, Date.now() + 1000)
    const frames = t.conn.buf.toString('latin1')
    t.conn.destroy()
    return { status: head.status ?? head.error, frames: frames.slice(0, 4000) }
  },

  /** A direct TCP connection that ignores the proxy, to each target. */
  async tcp(a) {
    const results = []
    for (const [host, port] of a.targets) results.push({ host, port, ...(await tcp(host, port)) })
    return { results }
  },

  async sh(a) {
    return run('sh', ['-c', a.cmd], { timeout: a.timeout })
  },

  /** Python code whose last stdout line is JSON. */
  async py(a) {
    const r = run('python3', ['-c', a.code], { timeout: a.timeout })
    const last = r.stdout.trim().split('\n').pop() ?? ''
    try {
      return { py: JSON.parse(last), code: r.code }
    } catch {
      return r
    }
  },

  /** Many CONNECTs to distinct refused names at once. */
  async 'dos-refused-flood'(a) {
    const statuses = {}
    await Promise.all(
      Array.from({ length: a.count }, async (_, i) => {
        const conn = await dial()
        conn.write(connectRequest(`flood-${i}.${a.suffix}:443`))
        const r = await conn.response({ noBodyOn2xx: true, timeout: 20_000 })
        conn.destroy()
        const k = r.status ? `${r.status} ${r.blocked ?? ''}`.trim() : r.error
        statuses[k] = (statuses[k] ?? 0) + 1
      })
    )
    return { statuses }
  },

  /** Opens `count` tunnels and never starts TLS: the tunnel cap and handshake timeout. */
  async 'dos-tunnels'(a) {
    const conns = []
    const statuses = {}
    await Promise.all(
      Array.from({ length: a.count }, async () => {
        const conn = await dial()
        conn.write(connectRequest(a.authority))
        const r = await conn.response({ noBodyOn2xx: true, timeout: 20_000 })
        const k = r.status ?? r.error
        statuses[k] = (statuses[k] ?? 0) + 1
        if (r.status === 200) conns.push(conn)
        else conn.destroy()
      })
    )
    const whileHeld = await kinds.tunnel(a.control)
    const started = Date.now()
    await Promise.all(conns.map((c) => c.until(() => false, started + a.waitCloseMs)))
    const closedByProxy = conns.filter((c) => c.ended).length
    for (const c of conns) c.destroy()
    await sleep(200)
    const after = await kinds.tunnel({ ...a.control, requests: a.controlAfter })
    return {
      statuses,
      held: conns.length,
      closedByProxy,
      closedWithinMs: Date.now() - started,
      whileHeld,
      after
    }
  },

  /** Connections that trickle a request head, byte by byte; a normal request meanwhile. */
  async 'dos-slowloris'(a) {
    const conns = await Promise.all(Array.from({ length: a.count }, () => dial()))
    const head = connectRequest(a.authority).slice(0, -2) + 'X-Slow: '
    for (const c of conns) c.write(head)
    let ticking = true
    const ticker = (async () => {
      while (ticking) {
        for (const c of conns) c.write('a')
        await sleep(300)
      }
    })()
    await sleep(1000)
    const during = await kinds.tunnel(a.control)
    ticking = false
    await ticker
    const stillOpen = conns.filter((c) => !c.ended).length
    for (const c of conns) c.destroy()
    return { during, stillOpen }
  },

  /** Uploads as fast as the proxy accepts to an upstream that never reads. */
  async 'dos-stalled-upload'(a) {
    const t = await openTunnel({ authority: a.authority })
    if (!t.conn) return { connect: t.connect.status ?? t.connect.error, tls: t.tls }
    const host = a.authority.replace(/:\d+$/, '')
    t.conn.write(`POST ${a.path} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${a.bytes}\r\n\r\n`)
    const block = Buffer.alloc(64 * 1024, 0x7a)
    let accepted = 0
    const deadline = Date.now() + a.seconds * 1000
    const sock = t.conn.sock
    while (Date.now() < deadline && accepted < a.bytes && !sock.destroyed) {
      if (sock.write(block)) {
        accepted += block.length
        if (accepted % (1024 * 1024) === 0) await sleep(0)
      } else {
        accepted += block.length
        await Promise.race([
          new Promise((r) => sock.once('drain', r)),
          sleep(deadline - Date.now())
        ])
      }
    }
    t.conn.destroy()
    await sleep(300)
    const after = await kinds.tunnel(a.control)
    return { accepted, after }
  }
}

// ---------------------------------------------------------------------------------------

const marker = process.argv[3]
if (marker) {
  // Host-side handshake: say we are ready, wait until the host says go.
  writeFileSync(`${marker}.ready`, String(process.pid))
  for (let i = 0; i < 600 && !existsSync(`${marker}.go`); i++) await sleep(100)
}
for (const a of spec.attacks) {
  let observed
  try {
    observed = await kinds[a.kind](a)
  } catch (e) {
    observed = { exception: String(e && e.stack ? e.stack : e).slice(0, 500) }
  }
  process.stdout.write(`AIRLOCK-ATTACK ${JSON.stringify({ id: a.id, observed })}\n`)
}
process.stdout.write('AIRLOCK-ATTACKS-DONE\n')
