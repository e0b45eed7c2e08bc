/**
 * The proxy's front door: listening (unix socket, loopback TCP), proxy authentication,
 * CONNECT and the interception of every tunnel (CONNECT authority = SNI = Host), the egress
 * policy, refusals and their records, and the dispatch of each admitted request to the
 * pipeline (forward.ts) or the WebSocket relay (upgrade.ts).
 */
import { timingSafeEqual } from 'node:crypto'
import { chmod } from 'node:fs/promises'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import net from 'node:net'
import tls from 'node:tls'
import type { EndpointHandler, EndpointRouter } from '../provider/index.js'
import type { AuditLog } from './audit.js'
import { InjectionTable } from './inject.js'
import { scrubText } from './scrub.js'
import type { JsonlWriter, NetworkEntry } from './log.js'
import { AIRLOCK_ENDPOINT_HOST, type Decision, type EgressPolicy } from './policy.js'
import type { CertificateAuthority } from './tls.js'
import { Upstream, UpstreamBlockedError } from './upstream.js'
import { forward, type PipelineContext } from './forward.js'
import { refuseRaw } from './relay.js'
import { relayUpgrade } from './upgrade.js'
import { bindTunnelRequest, plainOriginMatches } from './binding.js'
import { errorCode, parseAbsolute, parseAuthority } from './http-forms.js'

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
  /** What the request pipeline and the WebSocket relay may use of this proxy. */
  private readonly pipeline: PipelineContext

  constructor(private readonly opts: ProxyOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits }
    this.token = Buffer.from(opts.token)
    this.pipeline = {
      injection: opts.injection,
      upstream: opts.upstream,
      networkLog: opts.networkLog,
      substitutionMaxBytes: this.limits.substitutionMaxBytes,
      beginRequest: () => {
        this.stats.requests++
        return this.nextId++
      },
      noteInjections: (host, grants) => this.noteInjections(host, grants),
      block: (req, target, reason, message, url) => this.block(req, target, reason, message, url),
      log: (line) => this.log(line)
    }
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
      refuseRaw(socket, 501, 'WebSocket over plain HTTP is not supported; use wss://')
    )
    this.outer.on('connection', (s: net.Socket) => this.track(s))
    this.outer.on('clientError', (_err, socket: net.Socket) =>
      refuseRaw(socket, 400, 'bad request')
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

  private requireAuth(req: IncomingMessage, socket: net.Socket | ServerResponse): boolean {
    if (this.authorized(req)) return true
    // 407 with a Basic challenge: curl and git only resend credentials after one.
    const challenge = 'Proxy-Authenticate: Basic realm="airlock"\r\n'
    if (socket instanceof net.Socket)
      refuseRaw(socket, 407, 'proxy authentication required', challenge)
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
    if (socket instanceof net.Socket) refuseRaw(socket, 503, msg)
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
      refuseRaw(
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
    // The certificate is minted while the name resolves (a new host waits for both); a
    // refusal below only leaves a certificate nobody is shown in the bounded cache.
    const minting = this.opts.ca.secureContext(host)
    minting.catch(() => {})
    try {
      await this.opts.upstream.resolve(host, port)
    } catch (err) {
      if (err instanceof UpstreamBlockedError)
        return this.block(req, socket, err.reason, err.message, `${host}:${port}`)
      return refuseRaw(socket, 502, `cannot resolve ${host}: ${(err as Error).message}`)
    }
    if (this.stats.openTunnels >= this.limits.maxTunnels) {
      this.log(
        `limit: ${this.limits.maxTunnels} open tunnels reached; refusing CONNECT ${host}:${port}`
      )
      return refuseRaw(socket, 503, `too many open tunnels (${this.limits.maxTunnels})`)
    }
    const unnamable = this.opts.ca.refusal(host)
    if (unnamable)
      return refuseRaw(socket, 502, `cannot mint a certificate for ${host}: ${unnamable}`)
    this.audited(decision, 'CONNECT', `${host}:${port}`)
    // Answered before the certificate is ready: the client prepares its TLS hello meanwhile,
    // and what it sends waits in the socket (TLSSocket reads what was buffered first).
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
    if (head.length > 0) socket.unshift(head)
    let context: tls.SecureContext
    try {
      context = await minting
    } catch (err) {
      this.log(`error: cannot mint a certificate for ${host}: ${errorCode(err)}`)
      return void socket.destroy()
    }
    // Gone while the certificate was minted: nothing to intercept.
    if (socket.destroyed) return
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
    const bound = bindTunnelRequest(
      { method: req.method, url: req.url, host: req.headers.host },
      tunnel
    )
    if ('path' in bound) return bound.path
    const { reason, message, url } = bound.refused
    this.block(req, res, reason, message, url)
    return undefined
  }

  private async onTunnelRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const tunnel = this.tunnels.get(req.socket)
    if (!tunnel) return void res.destroy()
    if (this.failClosed(res)) return
    const path = this.bindRequest(req, res, tunnel)
    if (path === undefined) return
    await forward(this.pipeline, req, res, {
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
    // The upstream gets the canonical Host (forward sets it), never the client's text.
    if (!plainOriginMatches(url, req.headers.host, abs))
      return this.block(
        req,
        res,
        'host-mismatch',
        `Airlock blocked ${url}: Host header "${req.headers.host ?? ''}" names another origin`,
        url
      )
    this.audited(decision, req.method ?? '', url)
    // Credentials never travel over plain HTTP: no injection on this path.
    await forward(this.pipeline, req, res, {
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
      const key = `${host} ${g}`
      const seen = this.stats.injections[key]
      this.stats.injections[key] = (seen ?? 0) + 1
      // The first of each pair goes into the audit chain (a host has no space in it).
      if (seen === undefined) this.opts.audit.append('inject', { host, grant: g })
    }
  }

  /** WebSocket requests inside a tunnel: bound to the tunnel's host here, relayed by upgrade.ts. */
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
    await relayUpgrade(this.pipeline, req, socket, head, tunnel, path)
  }
}
