import { timingSafeEqual } from 'node:crypto'
import { chmod } from 'node:fs/promises'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import net from 'node:net'
import { pipeline as streamPipeline, Transform, type Readable } from 'node:stream'
import tls from 'node:tls'
import type { EndpointHandler, EndpointRouter, RequestSigner } from '../provider/index.js'
import type { AuditLog } from './audit.js'
import {
  InjectionTable,
  nameHoldsSecret,
  scrubBuffer,
  StreamScrubber,
  scrubText,
  type Headers,
  type InjectionResult
} from './inject.js'
import { redactHeaders, type JsonlWriter, type NetworkEntry } from './log.js'
import { AIRLOCK_ENDPOINT_HOST, type Decision, type EgressPolicy } from './policy.js'
import type { CertificateAuthority } from './tls.js'
import { Upstream, UpstreamBlockedError } from './upstream.js'
import { WsFrameScrubber } from './ws-scrub.js'
import { bodyCodings, decoder, decodeSync } from './codings.js'
import {
  errorCode,
  hasBody,
  hostHeaderFor,
  isBufferable,
  isHostForm,
  isWebSocketUpgrade,
  parseAbsolute,
  parseAuthority,
  rawAuthority,
  readAll,
  responseHasBody,
  responseHeaders,
  stripHopByHop
} from './http-forms.js'

/** Accept-queue length asked of the kernel (Linux caps it at net.core.somaxconn). */
const LISTEN_BACKLOG = 4096

export interface ProxyLimits {
  /** Open intercepted tunnels at once; more get 503. */
  maxTunnels: number
  /** A client that has not finished its TLS handshake by then is dropped. */
  handshakeTimeoutMs: number
  /** Request headers must arrive within this (slowloris). */
  headersTimeoutMs: number
  maxHeaderSize: number
  /** Request bodies up to this size are buffered for token substitution. */
  substitutionMaxBytes: number
}

export const DEFAULT_LIMITS: ProxyLimits = {
  maxTunnels: 1024,
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 30_000,
  maxHeaderSize: 32 * 1024,
  substitutionMaxBytes: 64 * 1024
}

export interface ProxyOptions {
  token: string
  policy: EgressPolicy
  injection: InjectionTable
  ca: CertificateAuthority
  upstream: Upstream
  networkLog: JsonlWriter
  audit: AuditLog
  limits?: Partial<ProxyLimits>
  /** Operational log lines (bounds hit, errors); never secrets. */
  log?: (line: string) => void
}

/** Responses up to this size with a Content-Length are scrubbed whole and sent in one write. */
const SMALL_BODY_BYTES = 64 * 1024

interface Tunnel {
  id: number
  host: string
  port: number
  /** Audit mode: what block mode would have refused this tunnel for. */
  audited?: string
}

/** Counts of what the proxy did, for the summary and the final audit entry. */
export interface ProxyStats {
  requests: number
  blocked: number
  audited: number
  tunnels: number
  openTunnels: number
  injections: Record<string, number>
}

/**
 * The credential airlock: an HTTP proxy that requires the run token, intercepts every
 * CONNECT with the run CA, binds CONNECT authority = SNI = Host, enforces the egress policy,
 * injects credentials, streams everything, and logs each request without a secret.
 */
export class AirlockProxy implements EndpointRouter {
  private readonly outer: http.Server
  private readonly inner: http.Server
  private readonly endpointServer: http.Server
  private readonly tcp: net.Server[] = []
  private readonly tunnels = new WeakMap<net.Socket, Tunnel>()
  private readonly sockets = new Set<net.Socket>()
  private readonly limits: ProxyLimits
  private readonly endpoints: Array<[string, EndpointHandler]> = []
  private readonly token: Buffer
  private nextId = 1
  private closing = false
  /** Set when a log cannot be written: every request is refused from then on (fail closed). */
  failure: string | undefined
  readonly stats: ProxyStats = {
    requests: 0,
    blocked: 0,
    audited: 0,
    tunnels: 0,
    openTunnels: 0,
    injections: {}
  }
  private readonly announcedInjections = new Set<string>()

  constructor(private readonly opts: ProxyOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits }
    this.token = Buffer.from(opts.token)
    const serverOpts: http.ServerOptions = {
      maxHeaderSize: this.limits.maxHeaderSize,
      headersTimeout: this.limits.headersTimeoutMs,
      requestTimeout: 0,
      keepAliveTimeout: 120_000
    }
    this.outer = http.createServer(
      serverOpts,
      (req, res) =>
        void this.onPlainRequest(req, res).catch((err) => this.crashed('request', err, res))
    )
    this.outer.on(
      'connect',
      (req: IncomingMessage, socket: net.Socket, head: Buffer) =>
        void this.onConnect(req, socket, head).catch((err) => this.crashed('CONNECT', err, socket))
    )
    this.outer.on('upgrade', (req: IncomingMessage, socket: net.Socket) =>
      this.refuseRaw(socket, 501, 'WebSocket over plain HTTP is not supported; use wss://')
    )
    this.outer.on('connection', (s: net.Socket) => this.track(s))
    this.outer.on('clientError', (_err, socket: net.Socket) =>
      this.refuseRaw(socket, 400, 'bad request')
    )
    this.inner = http.createServer(
      serverOpts,
      (req, res) =>
        void this.onTunnelRequest(req, res).catch((err) => this.crashed('request', err, res))
    )
    this.inner.on(
      'upgrade',
      (req: IncomingMessage, socket: net.Socket, head: Buffer) =>
        void this.onTunnelUpgrade(req, socket, head).catch((err) =>
          this.crashed('upgrade', err, socket)
        )
    )
    // A CONNECT inside an intercepted tunnel would be a second hop the policy never saw.
    this.inner.on('connect', (req: IncomingMessage, socket: net.Socket) => {
      this.block(req, socket, 'nested-connect', 'CONNECT inside a tunnel is refused')
    })
    this.inner.on('clientError', (_err, socket: net.Socket) => socket.destroy())
    // Plain HTTP inside `CONNECT airlock.internal:80` (clients that tunnel every request,
    // undici's among them): only the proxy's own endpoints live there.
    this.endpointServer = http.createServer(serverOpts, (req, res) => {
      const named = (req.headers.host ?? '').toLowerCase().replace(/:80$/, '')
      if (named !== AIRLOCK_ENDPOINT_HOST)
        return this.block(
          req,
          res,
          'host-mismatch',
          `Airlock: Host ${named} in a tunnel to ${AIRLOCK_ENDPOINT_HOST}`
        )
      this.serveEndpoint(req, res, req.url ?? '/')
    })
    this.endpointServer.on('clientError', (_err, socket: net.Socket) => socket.destroy())
  }

  handle(prefix: string, handler: EndpointHandler): void {
    this.endpoints.push([prefix, handler])
  }

  /** Listens on a unix socket (made 0600) and/or loopback TCP ports. */
  async listen(target: {
    socketPath?: string
    tcp?: { host: string; port: number }
  }): Promise<{ port?: number }> {
    const out: { port?: number } = {}
    if (target.socketPath) {
      await new Promise<void>((resolve, reject) => {
        this.outer.once('error', reject)
        // A deep backlog: a unix socket refuses a connection at once (no SYN retry) when the
        // accept queue is full, and a burst of tunnels must queue, not fail.
        this.outer.listen({ path: target.socketPath, backlog: LISTEN_BACKLOG }, () => resolve())
      })
      await chmod(target.socketPath, 0o600)
    }
    if (target.tcp) {
      // A second listener hands its connections to the outer server. It must be a bare
      // net.Server: an http.Server would attach its own parser too, and every request would
      // be parsed (and answered) twice.
      const server: net.Server = target.socketPath
        ? net.createServer((s) => this.outer.emit('connection', s))
        : this.outer
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(
          { port: target.tcp!.port, host: target.tcp!.host, backlog: LISTEN_BACKLOG },
          () => resolve()
        )
      })
      if (server !== this.outer) this.tcp.push(server)
      out.port = (server.address() as net.AddressInfo).port
    }
    return out
  }

  /** Stops accepting, lets in-flight requests finish for up to graceMs, then drops the rest. */
  async close(graceMs = 2000): Promise<void> {
    this.closing = true
    const servers: net.Server[] = [this.outer, ...this.tcp]
    const closed = Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))))
    // Connections of every listener are the outer server's, so this covers them all.
    this.outer.closeIdleConnections()
    this.inner.closeIdleConnections()
    this.endpointServer.closeIdleConnections()
    const timer = setTimeout(() => {
      for (const s of this.sockets) s.destroy()
    }, graceMs)
    await closed
    clearTimeout(timer)
    await this.opts.upstream.close().catch(() => {})
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket)
    socket.once('close', () => this.sockets.delete(socket))
  }

  private log(line: string): void {
    this.opts.log?.(line)
  }

  /**
   * A handler failed unexpectedly. One broken request must never take the process (and with
   * it the sandbox's only way out) down: log it, drop that connection, keep serving.
   */
  private crashed(what: string, err: unknown, target: net.Socket | ServerResponse): void {
    this.log(`error: ${what} handler failed: ${errorCode(err)}`)
    target.destroy()
  }

  /** Constant-time check of `Proxy-Authorization` (Basic airlock:<token> or Bearer <token>). */
  private authorized(req: IncomingMessage): boolean {
    const header = req.headers['proxy-authorization']
    if (!header) return false
    let presented: string | undefined
    const [scheme, value] = header.split(/\s+/, 2)
    if (scheme?.toLowerCase() === 'bearer') presented = value
    else if (scheme?.toLowerCase() === 'basic' && value) {
      const decoded = Buffer.from(value, 'base64').toString('utf8')
      presented = decoded.slice(decoded.indexOf(':') + 1)
    }
    if (!presented) return false
    const given = Buffer.from(presented)
    return given.length === this.token.length && timingSafeEqual(given, this.token)
  }

  private refuseRaw(socket: net.Socket, status: number, message: string, extra = ''): void {
    if (!socket.writable) return void socket.destroy()
    const body = `Airlock: ${message}\n`
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n${extra}\r\n${body}`
    )
  }

  private requireAuth(req: IncomingMessage, socket: net.Socket | ServerResponse): boolean {
    if (this.authorized(req)) return true
    // 407 with a Basic challenge: curl and git only resend credentials after one.
    const challenge = 'Proxy-Authenticate: Basic realm="airlock"\r\n'
    if (socket instanceof net.Socket)
      this.refuseRaw(socket, 407, 'proxy authentication required', challenge)
    else {
      socket.writeHead(407, {
        'proxy-authenticate': 'Basic realm="airlock"',
        'content-type': 'text/plain; charset=utf-8',
        connection: 'close'
      })
      socket.end('Airlock: proxy authentication required\n')
    }
    return false
  }

  private failClosed(socket: net.Socket | ServerResponse): boolean {
    if (!this.failure && !this.closing) return false
    const msg = this.failure
      ? `the proxy cannot write its logs (${this.failure}); refusing all traffic`
      : 'the proxy is shutting down'
    if (socket instanceof net.Socket) this.refuseRaw(socket, 503, msg)
    else {
      socket.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' })
      socket.end(`Airlock: ${msg}\n`)
    }
    return true
  }

  /** Records a refusal in network.jsonl and the audit chain. */
  private recordBlock(method: string, rawUrl: string, reason: string): void {
    this.stats.blocked++
    // A URL is the agent's text: it may hold anything, even a secret it was shown by mistake.
    const url = scrubText(rawUrl, this.opts.injection.secretList())
    const entry: NetworkEntry = {
      time: new Date().toISOString(),
      id: this.nextId++,
      method,
      url,
      status: 403,
      bytesOut: 0,
      bytesIn: 0,
      durationMs: 0,
      blocked: reason
    }
    this.opts.networkLog.write(entry)
    this.opts.audit.append('block', { method, url, reason })
  }

  /** Records a refusal and answers 403 with `X-Airlock-Blocked` and a plain-text reason. */
  private block(
    req: IncomingMessage,
    target: net.Socket | ServerResponse,
    reason: string,
    message: string,
    url?: string
  ): void {
    this.recordBlock(req.method ?? '', url ?? req.url ?? '', reason)
    // A refusal quotes what the client sent (a URL, a Host): it goes through the scrubber
    // like every other answer, so no answer of this proxy can carry a known secret.
    message = scrubText(message, this.opts.injection.secretList())
    const body = `${message}\n`
    if (target instanceof net.Socket)
      this.refuseRaw(
        target,
        403,
        message.replace(/^Airlock:?\s*/i, ''),
        `X-Airlock-Blocked: ${reason}\r\n`
      )
    else if (!target.headersSent) {
      target.writeHead(403, {
        'content-type': 'text/plain; charset=utf-8',
        'x-airlock-blocked': reason,
        'content-length': Buffer.byteLength(body)
      })
      target.end(body)
    } else target.destroy()
  }

  private audited(decision: Decision, method: string, url: string): void {
    if (!decision.audited) return
    this.stats.audited++
    this.opts.audit.append('audit', { method, url, wouldBlock: decision.reason ?? 'not-allowed' })
  }

  private async onConnect(req: IncomingMessage, socket: net.Socket, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy())
    if (this.failClosed(socket) || !this.requireAuth(req, socket)) return
    const authority = parseAuthority(req.url ?? '')
    if (!authority)
      return this.block(
        req,
        socket,
        'invalid-host',
        `Airlock blocked CONNECT ${req.url ?? ''}: not a host:port authority`
      )
    const { host, port } = authority
    if (host === AIRLOCK_ENDPOINT_HOST && port === 80 && this.endpoints.length > 0) {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length > 0) socket.unshift(head)
      this.endpointServer.emit('connection', socket)
      return
    }
    // The policy sees the host as written, so a refusal names the form the agent used
    // (`2130706433`), not only the address it means; it normalises the same way.
    const decision = this.opts.policy.check(authority.raw, port, 'https')
    if (!decision.allowed)
      return this.block(
        req,
        socket,
        decision.reason ?? 'not-allowed',
        decision.message ?? `Airlock blocked ${host}:${port}`,
        `${host}:${port}`
      )
    try {
      await this.opts.upstream.resolve(host, port)
    } catch (err) {
      if (err instanceof UpstreamBlockedError)
        return this.block(req, socket, err.reason, err.message, `${host}:${port}`)
      return this.refuseRaw(socket, 502, `cannot resolve ${host}: ${(err as Error).message}`)
    }
    if (this.stats.openTunnels >= this.limits.maxTunnels) {
      this.log(
        `limit: ${this.limits.maxTunnels} open tunnels reached; refusing CONNECT ${host}:${port}`
      )
      return this.refuseRaw(socket, 503, `too many open tunnels (${this.limits.maxTunnels})`)
    }
    this.audited(decision, 'CONNECT', `${host}:${port}`)
    let context: tls.SecureContext
    try {
      context = await this.opts.ca.secureContext(host)
    } catch (err) {
      return this.refuseRaw(
        socket,
        502,
        `cannot mint a certificate for ${host}: ${(err as Error).message}`
      )
    }
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
    if (head.length > 0) socket.unshift(head)
    const tunnel: Tunnel = { id: this.stats.tunnels++, host, port }
    if (decision.audited) tunnel.audited = decision.reason ?? 'not-allowed'
    this.stats.openTunnels++
    const tlsSocket = new tls.TLSSocket(socket, {
      isServer: true,
      secureContext: context,
      ALPNProtocols: ['http/1.1'],
      SNICallback: (servername, cb) => {
        // SNI must name the host the client CONNECTed to: anything else is a second
        // destination hiding inside an allowed tunnel.
        if (servername.toLowerCase() !== host) {
          this.recordBlock('CONNECT', `${host}:${port} (SNI ${servername})`, 'sni-mismatch')
          cb(new Error('SNI does not match the CONNECT host'))
          return
        }
        cb(null, context)
      }
    })
    const handshake = setTimeout(() => {
      this.log(
        `limit: TLS handshake for ${host} did not finish in ${this.limits.handshakeTimeoutMs} ms; dropped`
      )
      tlsSocket.destroy()
    }, this.limits.handshakeTimeoutMs)
    tlsSocket.once('secure', () => clearTimeout(handshake))
    tlsSocket.on('error', () => tlsSocket.destroy())
    tlsSocket.once('close', () => {
      clearTimeout(handshake)
      this.stats.openTunnels--
      socket.destroy()
    })
    this.tunnels.set(tlsSocket, tunnel)
    this.inner.emit('connection', tlsSocket)
  }

  /** Checks a request inside a tunnel against the tunnel's host; returns the path or undefined. */
  private bindRequest(
    req: IncomingMessage,
    res: ServerResponse,
    tunnel: Tunnel
  ): string | undefined {
    const method = req.method ?? ''
    const url = `https://${tunnel.host}${tunnel.port === 443 ? '' : `:${tunnel.port}`}${req.url ?? ''}`
    if (method === 'TRACE' || method === 'TRACK') {
      this.block(
        req,
        res,
        'method',
        `Airlock blocked ${method} ${url}: ${method} is never forwarded`,
        url
      )
      return undefined
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
      ) {
        this.block(
          req,
          res,
          'host-mismatch',
          `Airlock blocked ${path}: a request inside the tunnel to ${tunnel.host} may not name another origin`,
          path
        )
        return undefined
      }
      path = abs.path
    }
    // Only an exact form of the tunnel's name passes (not one that merely normalises to it),
    // and what goes upstream is the canonical form checked here, never the client's text.
    if (!isHostForm(req.headers.host ?? '', tunnel.host, tunnel.port, true)) {
      this.block(
        req,
        res,
        'host-mismatch',
        `Airlock blocked a request for Host "${req.headers.host ?? ''}" inside the tunnel to ${tunnel.host}:${tunnel.port}`,
        url
      )
      return undefined
    }
    return path
  }

  private async onTunnelRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const tunnel = this.tunnels.get(req.socket)
    if (!tunnel) return void res.destroy()
    if (this.failClosed(res)) return
    const path = this.bindRequest(req, res, tunnel)
    if (path === undefined) return
    await this.forward(req, res, {
      scheme: 'https',
      host: tunnel.host,
      port: tunnel.port,
      path,
      inject: true,
      ...(tunnel.audited ? { audited: tunnel.audited } : {})
    })
  }

  /**
   * A request for the proxy's own endpoints by name (`http://airlock.internal/…`, through the
   * proxy like any plain-HTTP request, so only holders of the run token reach it). Logged
   * like every other request; nothing leaves the runner.
   */
  private serveEndpoint(req: IncomingMessage, res: ServerResponse, path: string): void {
    const endpoint = this.endpoints.find(([prefix]) => path.startsWith(prefix))
    const url = `http://${AIRLOCK_ENDPOINT_HOST}${path}`
    if (!endpoint) return this.block(req, res, 'not-allowed', `Airlock: no endpoint at ${url}`, url)
    const started = performance.now()
    const entry: NetworkEntry = {
      time: new Date().toISOString(),
      id: this.nextId++,
      method: req.method ?? 'GET',
      url,
      bytesOut: 0,
      bytesIn: 0,
      durationMs: 0
    }
    this.stats.requests++
    res.once('finish', () => {
      entry.status = res.statusCode
      entry.durationMs = Math.round(performance.now() - started)
      this.opts.networkLog.write(entry)
    })
    req.url = path
    endpoint[1](req, res)
  }

  /** Plain-HTTP proxying (absolute-form) and direct requests to the proxy's own endpoints. */
  private async onPlainRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? ''
    if (url.startsWith('/')) {
      const endpoint = this.endpoints.find(([prefix]) => url.startsWith(prefix))
      if (endpoint) return endpoint[1](req, res)
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
      return void res.end('Airlock: this is a proxy; send absolute-form requests or CONNECT\n')
    }
    if (this.failClosed(res) || !this.requireAuth(req, res)) return
    const abs = parseAbsolute(url)
    if (!abs)
      return this.block(
        req,
        res,
        'invalid-host',
        `Airlock blocked ${url}: not an absolute http:// URL`
      )
    if (abs.scheme !== 'http')
      return this.block(req, res, 'plain-http', `Airlock blocked ${url}: use CONNECT for https`)
    if (abs.host === AIRLOCK_ENDPOINT_HOST) return this.serveEndpoint(req, res, abs.path)
    if (req.method === 'TRACE' || req.method === 'TRACK')
      return this.block(req, res, 'method', `Airlock blocked ${req.method} ${url}`)
    const decision = this.opts.policy.check(abs.host, abs.port, 'http')
    if (!decision.allowed)
      return this.block(
        req,
        res,
        decision.reason ?? 'not-allowed',
        decision.message ?? `Airlock blocked ${url}`,
        url
      )
    // The URL's authority and the Host must each be an exact form of the origin the policy
    // checked: one that differs or only normalises to it (`plain.test.`, `a@b`, `:0080`) is
    // refused, since a shared server may route it to another virtual host (RFC 9112 §3.2.2
    // lets the URL win, but the upstream sees the header). The upstream gets the canonical
    // Host (forward sets it), never the client's text.
    const authority = rawAuthority(url)
    if (
      authority === undefined ||
      !isHostForm(authority, abs.host, abs.port, abs.port === 80) ||
      (req.headers.host !== undefined && !isHostForm(req.headers.host, abs.host, abs.port, true))
    ) {
      return this.block(
        req,
        res,
        'host-mismatch',
        `Airlock blocked ${url}: Host header "${req.headers.host ?? ''}" names another origin`,
        url
      )
    }
    this.audited(decision, req.method ?? '', url)
    // Credentials never travel over plain HTTP: no injection on this path.
    await this.forward(req, res, {
      scheme: 'http',
      host: abs.host,
      port: abs.port,
      path: abs.path,
      inject: false,
      ...(decision.audited ? { audited: decision.reason ?? 'not-allowed' } : {})
    })
  }

  /** Counts injections per host and grant; the first of each pair goes into the audit chain. */
  private noteInjections(host: string, grants: string[]): void {
    for (const g of grants) {
      this.stats.injections[`${host} ${g}`] = (this.stats.injections[`${host} ${g}`] ?? 0) + 1
      const key = `${host}\0${g}`
      if (!this.announcedInjections.has(key)) {
        this.announcedInjections.add(key)
        this.opts.audit.append('inject', { host, grant: g })
      }
    }
  }

  /**
   * Runs the host's request signer over the injected request: buffers the body when the
   * signer must hash it, sets the headers it returns on `inj` and records the grant. A
   * refusal is answered (403, `X-Airlock-Blocked: <signer>`) and logged like any block;
   * then, or when the client went away, returns undefined.
   */
  private async signRequest(
    req: IncomingMessage,
    res: ServerResponse,
    inj: InjectionResult,
    host: string,
    signing: { grant: string; signer: RequestSigner },
    logUrl: string
  ): Promise<{ body?: Buffer } | undefined> {
    const { grant, signer } = signing
    const refuse = (why: string): undefined => {
      this.block(
        req,
        res,
        signer.name,
        `Airlock refused ${req.method ?? ''} ${logUrl} (${grant} ${signer.name}): ${why}`,
        logUrl
      )
      return undefined
    }
    let body: Buffer | undefined
    if (hasBody(req) && signer.needsBody(inj.headers)) {
      const length = Number(req.headers['content-length'] ?? NaN)
      const tooBig = `the body is larger than ${signer.maxBodyBytes} bytes; send x-amz-content-sha256 (or UNSIGNED-PAYLOAD) so it need not be hashed here`
      if (Number.isFinite(length) && length > signer.maxBodyBytes) return refuse(tooBig)
      try {
        body = await readAll(req, signer.maxBodyBytes)
      } catch (err) {
        if (/^body larger than/.test((err as Error).message)) return refuse(tooBig)
        this.log(`request body for ${host} failed: ${errorCode(err)}`)
        res.destroy()
        return undefined
      }
    }
    const outcome = await signer.sign({
      method: req.method ?? 'GET',
      host,
      path: inj.path,
      headers: inj.headers,
      ...(body ? { body } : {})
    })
    if (outcome.refused !== undefined) return refuse(outcome.refused)
    if (outcome.signed) {
      for (const [name, value] of Object.entries(outcome.headers)) {
        inj.headers[name] = value
        inj.injected.set(name, grant)
      }
      if (!inj.grants.includes(grant)) inj.grants.push(grant)
    }
    return body ? { body } : {}
  }

  private async forward(
    req: IncomingMessage,
    res: ServerResponse,
    target: {
      scheme: 'https' | 'http'
      host: string
      port: number
      path: string
      inject: boolean
      audited?: string
    }
  ): Promise<void> {
    const started = performance.now()
    const id = this.nextId++
    this.stats.requests++
    const defaultPort = target.scheme === 'https' ? 443 : 80
    const origin = `${target.scheme}://${target.host.includes(':') ? `[${target.host}]` : target.host}${target.port === defaultPort ? '' : `:${target.port}`}`
    const logUrl = `${origin}${target.path}`
    const clientHeaders = stripHopByHop(req.headers)
    // The Host checked against the tunnel (or URL) goes upstream in its one canonical form.
    clientHeaders.host = hostHeaderFor(target.host, target.port, defaultPort)
    const inj: InjectionResult = target.inject
      ? this.opts.injection.apply(target.host, target.path, clientHeaders)
      : {
          headers: clientHeaders,
          path: target.path,
          injected: new Map(),
          grants: [],
          transformers: []
        }
    // Signing (AWS SigV4) comes last: the signature covers the request exactly as it leaves.
    const signing = target.inject ? this.opts.injection.signerFor(target.host) : undefined
    let signedBody: Buffer | undefined
    if (signing) {
      const signed = await this.signRequest(req, res, inj, target.host, signing, logUrl)
      if (!signed) return
      signedBody = signed.body
    }
    const credentialed = inj.grants.length > 0 || inj.substitution !== undefined
    // Needed for the log in any case: no line of network.jsonl may carry a known secret.
    const secrets = this.opts.injection.secretList()
    // Every response is scrubbed, not only credentialed ones: a host may store a credential
    // and another allowed host (or the same one, later) may hand it back.
    const scrub = secrets.length > 0
    const upstreamHeaders: Record<string, string | string[]> = {}
    for (const [k, v] of Object.entries(inj.headers)) if (v !== undefined) upstreamHeaders[k] = v
    // `Expect: 100-continue` is answered by this hop (Node sends the 100 before the request
    // event), and undici refuses to send it: forwarding it turned every curl upload > 1 MB
    // into a 502 (RFC 9110 §10.1.1 lets a proxy that has answered drop it).
    delete upstreamHeaders.expect
    // Echoed secrets must be visible to the scrubber, so credentialed responses come uncompressed.
    if (credentialed) upstreamHeaders['accept-encoding'] = 'identity'
    const entry: NetworkEntry = {
      time: new Date().toISOString(),
      id,
      method: req.method ?? 'GET',
      url: scrubText(logUrl, secrets),
      bytesOut: 0,
      bytesIn: 0,
      durationMs: 0,
      requestHeaders: redactHeaders(clientHeaders, inj.injected, secrets)
    }
    if (target.audited) entry.audited = target.audited
    if (inj.grants.length > 0) {
      entry.grants = inj.grants
      this.noteInjections(target.host, inj.grants)
    }
    let body: Readable | Buffer | undefined = signedBody ?? (hasBody(req) ? req : undefined)
    if (signedBody) upstreamHeaders['content-length'] = String(signedBody.length)
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        entry.bytesOut += chunk.length
        cb(null, chunk)
      }
    })
    try {
      if (body && !Buffer.isBuffer(body) && inj.substitution) {
        const length = Number(req.headers['content-length'] ?? NaN)
        if (Number.isFinite(length) && length <= this.limits.substitutionMaxBytes) {
          // Inside the try: a client that aborts mid-body is an error for this request only.
          const raw = await readAll(req, this.limits.substitutionMaxBytes)
          body = Buffer.from(
            raw.toString('latin1').split(inj.substitution.placeholder).join(inj.substitution.real),
            'latin1'
          )
          upstreamHeaders['content-length'] = String(body.length)
        }
      }
    } catch (err) {
      entry.error = errorCode(err)
      entry.durationMs = Math.round(performance.now() - started)
      this.opts.networkLog.write(entry)
      res.destroy()
      return
    }
    // A client that goes away (or is cut at shutdown) aborts its upstream request, whether
    // it is still waiting for the first byte or streaming: nothing is left running upstream.
    const abort = new AbortController()
    res.once('close', () => {
      if (!res.writableFinished) abort.abort()
    })
    let upBodyIn: Readable | Buffer | null = null
    if (Buffer.isBuffer(body)) upBodyIn = body
    else if (body) {
      // pipeline, not pipe: a client that aborts mid-upload must fail the upstream request
      // instead of leaving it waiting for the rest of the body.
      upBodyIn = counter
      streamPipeline(body, counter, () => {})
    }
    try {
      const up = await this.opts.upstream.agent.request({
        origin,
        path: inj.path,
        method: req.method ?? 'GET',
        headers: upstreamHeaders,
        signal: abort.signal,
        // undici follows no redirect without its redirect interceptor, which is never added:
        // a 3xx goes back to the client, and credentials never follow it anywhere.
        body: upBodyIn
      })
      if (Buffer.isBuffer(body)) entry.bytesOut = body.length
      entry.status = up.statusCode
      if (inj.transformers.length > 0 && isBufferable(up.headers)) {
        const respHeaders = responseHeaders(up.headers, secrets)
        entry.responseHeaders = redactHeaders(respHeaders, undefined, secrets)
        const codings = scrub ? bodyCodings(up.headers) : []
        let buffered = await readAll(up.body, 1024 * 1024)
        if (codings.length > 0) {
          for (const c of codings) buffered = decodeSync(c, buffered)
          delete respHeaders['content-encoding']
        }
        let out = { status: up.statusCode, headers: respHeaders, body: buffered }
        for (const t of inj.transformers) {
          const replaced = t(
            { method: entry.method, host: target.host, path: target.path, headers: clientHeaders },
            out
          )
          if (replaced) {
            out = replaced
            break
          }
        }
        entry.status = out.status
        // Scrub first, then frame: a replacement may be longer or shorter than the secret.
        const final = scrub ? scrubBuffer(out.body, secrets) : out.body
        out.headers['content-length'] = String(final.length)
        res.writeHead(out.status, out.headers as http.OutgoingHttpHeaders)
        res.end(final)
        entry.bytesIn = final.length
        return
      }
      await this.relayResponse(
        res,
        { status: up.statusCode, headers: up.headers, body: up.body },
        entry,
        secrets
      )
    } catch (err) {
      if (err instanceof UpstreamBlockedError) {
        entry.blocked = err.reason
        this.block(req, res, err.reason, err.message, logUrl)
        return
      }
      entry.error = errorCode(err)
      if (!res.headersSent) {
        entry.status = 502
        const msg = scrubText(`Airlock: upstream ${target.host} failed: ${entry.error}\n`, secrets)
        res.writeHead(502, {
          'content-type': 'text/plain; charset=utf-8',
          'content-length': Buffer.byteLength(msg)
        })
        res.end(msg)
      } else {
        // Mid-stream failure: cut the client's connection so it sees an error, not a short body.
        res.destroy()
      }
    } finally {
      entry.durationMs = Math.round(performance.now() - started)
      if (!entry.blocked) this.opts.networkLog.write(entry)
    }
  }

  /**
   * Sends an upstream answer on to the client. Every upstream response with a final status
   * takes this one path (normal answers and declined WebSocket upgrades alike; the response
   * transformers' buffered path applies the same steps), so none escapes the scrubber:
   * hop-by-hop headers dropped, header values scrubbed and headers whose NAME holds a
   * secret dropped, every transfer and content coding undone (or the response refused
   * before a byte goes out) so the scrubber reads plain bytes, and the body scrubbed whole
   * or as a stream. The status line is Node's own (no upstream reason phrase), and
   * informational (1xx) answers and trailers are never relayed.
   */
  private async relayResponse(
    res: ServerResponse,
    up: { status: number; headers: Headers; body: Readable },
    entry: NetworkEntry,
    secrets: ReadonlyArray<[string, string]>
  ): Promise<void> {
    const scrub = secrets.length > 0
    const respHeaders = responseHeaders(up.headers, secrets)
    entry.responseHeaders = redactHeaders(respHeaders, undefined, secrets)
    const withBody = responseHasBody(entry.method, up.status)
    const codings = scrub && withBody ? bodyCodings(up.headers) : []
    // A small response of known length (most API answers) is read whole, scrubbed and sent
    // with its headers in one write and an exact Content-Length: streaming it through the
    // scrubber would need chunked framing and a separate TLS record for the headers.
    const declared = Number(respHeaders['content-length'] ?? NaN)
    if (
      scrub &&
      withBody &&
      codings.length === 0 &&
      Number.isInteger(declared) &&
      declared <= SMALL_BODY_BYTES
    ) {
      const raw = await readAll(up.body, SMALL_BODY_BYTES)
      entry.bytesIn = raw.length
      const out = scrubBuffer(raw, secrets)
      respHeaders['content-length'] = String(out.length)
      res.writeHead(up.status, respHeaders as http.OutgoingHttpHeaders)
      res.end(out)
      return
    }
    // One stage counts (and scrubs): every extra stream stage costs a hop per chunk on the
    // hot path.
    const scrubber = scrub && withBody ? new StreamScrubber(secrets) : undefined
    if (scrubber) {
      // Scrubbing can change the length; let Node frame the body as chunked instead. A
      // response without a body (HEAD, 204, 304) keeps its Content-Length: it describes
      // the resource, and clients read sizes from HEAD (RFC 9110 §9.3.2).
      delete respHeaders['content-length']
    }
    // The body goes on decoded: the client gets what the scrubber read.
    if (codings.length > 0) delete respHeaders['content-encoding']
    const stage = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        entry.bytesIn += chunk.length
        cb(null, scrubber ? scrubber.push(chunk) : chunk)
      },
      flush(cb) {
        cb(null, scrubber?.flush())
      }
    })
    res.writeHead(up.status, respHeaders as http.OutgoingHttpHeaders)
    // Streams (SSE, ndjson: no length) get their headers at once; a response with a length
    // sends headers with its first chunk, saving a TLS record per request.
    if (respHeaders['content-length'] === undefined) res.flushHeaders()
    // Every stage sits in one pipeline, so a failure anywhere (the client gone, shutdown, a
    // corrupt compressed body) destroys the upstream body too and undici aborts that
    // request; a body that fails to decode is cut, never passed on raw.
    await new Promise<void>((resolve, reject) =>
      codings.length === 0
        ? streamPipeline(up.body, stage, res, (err) => (err ? reject(err) : resolve()))
        : streamPipeline([up.body, ...codings.map(decoder), stage, res], (err) =>
            err ? reject(err) : resolve()
          )
    )
  }

  /** WebSocket requests inside a tunnel: inject, then splice the sockets through the frame scrubber. */
  private async onTunnelUpgrade(
    req: IncomingMessage,
    socket: net.Socket,
    head: Buffer
  ): Promise<void> {
    const tunnel = this.tunnels.get(req.socket)
    socket.on('error', () => socket.destroy())
    if (!tunnel || this.failClosed(socket)) return void socket.destroy()
    const res = new http.ServerResponse(req)
    res.assignSocket(socket)
    const path = this.bindRequest(req, res, tunnel)
    if (path === undefined) return
    res.detachSocket(socket)
    const url = `wss://${tunnel.host}${tunnel.port === 443 ? '' : `:${tunnel.port}`}${path}`
    // Only WebSocket is relayed: after a 101 for any other protocol (h2c, a custom one) the
    // bytes are opaque, and a channel the scrubber cannot read is a channel for secrets.
    if (!isWebSocketUpgrade(req.headers.upgrade))
      return this.block(
        req,
        socket,
        'upgrade-protocol',
        `Airlock blocked an upgrade to "${String(req.headers.upgrade ?? '')}" for ${url}: only WebSocket is relayed`,
        url
      )
    const id = this.nextId++
    this.stats.requests++
    const started = performance.now()
    const clientHeaders: Headers = { ...req.headers }
    delete clientHeaders['proxy-authorization']
    delete clientHeaders['proxy-connection']
    clientHeaders.host = hostHeaderFor(tunnel.host, tunnel.port, 443)
    const secrets = this.opts.injection.secretList()
    // Compressed frames would hide a secret from the frame scrubber.
    if (secrets.length > 0) delete clientHeaders['sec-websocket-extensions']
    const inj = this.opts.injection.apply(tunnel.host, path, clientHeaders)
    const entry: NetworkEntry = {
      time: new Date().toISOString(),
      id,
      method: req.method ?? 'GET',
      url: scrubText(url, secrets),
      bytesOut: 0,
      bytesIn: 0,
      durationMs: 0,
      requestHeaders: redactHeaders(clientHeaders, inj.injected, secrets)
    }
    if (inj.grants.length > 0) {
      entry.grants = inj.grants
      // WebSocket is the main path of some agents (Codex): its injections count the same.
      this.noteInjections(tunnel.host, inj.grants)
    }
    if (tunnel.audited) entry.audited = tunnel.audited
    let logged = false
    const finish = (): void => {
      if (logged) return
      logged = true
      entry.durationMs = Math.round(performance.now() - started)
      this.opts.networkLog.write(entry)
    }
    try {
      const upstream = await this.opts.upstream.connect(tunnel.host, tunnel.port, true)
      const upReq = http.request({
        createConnection: () => upstream,
        method: req.method,
        path: inj.path,
        headers: inj.headers as http.OutgoingHttpHeaders,
        host: tunnel.host
      })
      upReq.on('upgrade', (upRes: IncomingMessage, upSocket: net.Socket, upHead: Buffer) => {
        // Node drops its own listeners once the socket is upgraded; without this, a reset
        // from the upstream would be an uncaught exception and end the whole proxy.
        upSocket.on('error', () => upSocket.destroy())
        entry.status = upRes.statusCode
        const done = (): void => {
          upSocket.destroy()
          socket.destroy()
        }
        // The upstream must switch to the protocol asked for, without an extension (none was
        // offered when secrets exist): anything else is a stream the scrubber cannot read.
        const refused =
          !isWebSocketUpgrade(upRes.headers.upgrade) ||
          (secrets.length > 0 && upRes.headers['sec-websocket-extensions'] !== undefined)
        if (refused) {
          entry.error = 'AIRLOCK_UPGRADE_REFUSED'
          finish()
          upSocket.destroy()
          this.refuseRaw(
            socket,
            502,
            `upstream ${tunnel.host} switched to a protocol or extension the proxy cannot scrub`
          )
          return
        }
        // The status line is the proxy's own (an upstream reason phrase is its text), and a
        // header whose name holds a secret is dropped like on every other response.
        const lines = ['HTTP/1.1 101 Switching Protocols']
        for (let i = 0; i < upRes.rawHeaders.length; i += 2) {
          const name = upRes.rawHeaders[i] ?? ''
          if (secrets.length > 0 && nameHoldsSecret(name, secrets)) continue
          lines.push(`${name}: ${scrubText(upRes.rawHeaders[i + 1] ?? '', secrets)}`)
        }
        socket.write(`${lines.join('\r\n')}\r\n\r\n`)
        if (head.length > 0) upSocket.write(head)
        upSocket.on('data', (d: Buffer) => (entry.bytesIn += d.length))
        socket.on('data', (d: Buffer) => (entry.bytesOut += d.length))
        const scrubber = new WsFrameScrubber(secrets)
        // Frames that arrived with the 101 are frames like any other: through the scrubber.
        if (upHead.length > 0) {
          entry.bytesIn += upHead.length
          scrubber.write(upHead)
        }
        // A frame the scrubber cannot read ends the connection rather than pass.
        scrubber.on('error', (err) => {
          entry.error = errorCode(err)
          done()
        })
        upSocket.pipe(scrubber).pipe(socket).pipe(upSocket)
        upSocket.once('close', done)
        socket.once('close', () => {
          done()
          finish()
        })
      })
      upReq.on('response', (upRes: IncomingMessage) => {
        // The upstream declined the upgrade: its answer goes out through the same path (and
        // scrubbing) as every other response, then the connection closes.
        entry.status = upRes.statusCode
        const out = new http.ServerResponse(req)
        out.assignSocket(socket)
        out.shouldKeepAlive = false
        this.relayResponse(
          out,
          { status: upRes.statusCode ?? 502, headers: upRes.headers, body: upRes },
          entry,
          secrets
        )
          .then(
            () => socket.end(),
            (err: unknown) => {
              entry.error = errorCode(err)
              if (out.headersSent) return void socket.destroy()
              out.detachSocket(socket)
              this.refuseRaw(
                socket,
                502,
                scrubText(`upstream ${tunnel.host} failed: ${entry.error}`, secrets)
              )
            }
          )
          .finally(finish)
      })
      upReq.on('error', (err) => {
        entry.error = errorCode(err)
        finish()
        this.refuseRaw(
          socket,
          502,
          scrubText(`upstream ${tunnel.host} failed: ${entry.error}`, secrets)
        )
      })
      upReq.end()
    } catch (err) {
      if (err instanceof UpstreamBlockedError)
        return this.block(req, socket, err.reason, err.message, url)
      entry.error = errorCode(err)
      finish()
      this.refuseRaw(
        socket,
        502,
        scrubText(`upstream ${tunnel.host} failed: ${entry.error}`, secrets)
      )
    }
  }
}
