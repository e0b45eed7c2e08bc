import { once } from 'node:events'
import net from 'node:net'
import tls from 'node:tls'
import { Agent, type buildConnector } from 'undici'
import type { EgressPolicy, BlockReason } from './policy.js'
import { AirlockError } from '../errors.js'
import { noProxyMatches } from '../net/runner-proxy.js'

/** The upstream was refused by the address check at connect time. */
export class UpstreamBlockedError extends AirlockError {
  constructor(
    readonly reason: BlockReason,
    message: string
  ) {
    super('AIRLOCK_UPSTREAM_BLOCKED', message)
  }
}

export interface UpstreamOptions {
  policy: EgressPolicy
  /** Extra PEM CAs trusted for upstream TLS (`upstream-ca`), on top of the system roots. */
  extraCa?: string[]
  /** A corporate proxy on the runner (`HTTPS_PROXY`), and hosts it must not be used for. */
  proxyUrl?: string
  noProxy?: string
  /** How long a checked resolution is reused; keeps DNS off the hot path. */
  resolveTtlMs?: number
}

type Resolved = { address: string; port: number; connectTo: boolean }

/**
 * Opens upstream connections for undici and for WebSocket upgrades. Every connection goes to
 * the address the policy checked (never a fresh DNS answer: no rebinding between check and
 * connect), and TLS is always verified for the name the client asked for.
 */
export class Upstream {
  readonly agent: Agent
  /** Built once: parsing hundreds of roots per connection cost ~50 ms of blocked loop each. */
  private readonly trust: tls.SecureContext
  private readonly cache = new Map<string, { at: number; value: Promise<Resolved> }>()
  private readonly ttl: number

  constructor(private readonly opts: UpstreamOptions) {
    this.ttl = opts.resolveTtlMs ?? 30_000
    // Node ≥ 22.15 can read the OS store; older Nodes only have the bundled Mozilla roots.
    const getCA = (tls as { getCACertificates?: (type: string) => string[] }).getCACertificates
    const system = typeof getCA === 'function' ? getCA('system') : []
    // The system store repeats certificates; each one parsed is CPU and memory for nothing.
    const ca = [
      ...new Set([...tls.rootCertificates, ...system, ...(opts.extraCa ?? [])].map((c) => c.trim()))
    ]
    this.trust = tls.createSecureContext({ ca, minVersion: 'TLSv1.2' })
    this.agent = new Agent({
      connect: (options, callback) => {
        this.connect(
          options.hostname,
          Number(options.port) || (options.protocol === 'http:' ? 80 : 443),
          options.protocol === 'https:'
        )
          .then((socket) => callback(null, socket))
          .catch((err: Error) => callback(err, null))
      },
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 120_000,
      // LLM APIs can think for minutes before the first byte; never time that out early.
      headersTimeout: 15 * 60_000,
      bodyTimeout: 15 * 60_000,
      connections: 64,
      pipelining: 1
    })
  }

  /** The checked address for host:port (cached for a short while). */
  resolve(host: string, port: number): Promise<Resolved> {
    const key = `${host}:${port}`
    const hit = this.cache.get(key)
    const now = Date.now()
    if (hit && now - hit.at < this.ttl) return hit.value
    const value = this.opts.policy.resolveTarget(host, port).then((r) => {
      if (!r.allowed) {
        this.cache.delete(key)
        throw new UpstreamBlockedError(r.reason, r.message)
      }
      return { address: r.address, port: r.port, connectTo: r.connectTo }
    })
    value.catch(() => this.cache.delete(key))
    this.cache.set(key, { at: now, value })
    return value
  }

  async connect(host: string, port: number, secure: boolean): Promise<net.Socket> {
    const target = await this.resolve(host, port)
    const raw = this.useProxy(host, port)
      ? await this.tunnel(target.connectTo ? `${target.address}:${target.port}` : `${host}:${port}`)
      : undefined
    if (!secure) {
      if (raw) return raw
      const sock = net.connect({ host: target.address, port: target.port })
      await once(sock, 'connect')
      return sock
    }
    const options: tls.ConnectionOptions = {
      secureContext: this.trust,
      ALPNProtocols: ['http/1.1'],
      minVersion: 'TLSv1.2',
      // Verify the certificate for the name the agent asked for, whatever address we dialled.
      checkServerIdentity: (_name, cert) => tls.checkServerIdentity(host, cert)
    }
    if (net.isIP(host) === 0) options.servername = host
    if (raw) options.socket = raw
    else Object.assign(options, { host: target.address, port: target.port })
    const sock = tls.connect(options)
    await new Promise<void>((resolve, reject) => {
      sock.once('secureConnect', resolve)
      sock.once('error', reject)
    })
    sock.removeAllListeners('error')
    return sock
  }

  private useProxy(host: string, port: number): boolean {
    // One NO_PROXY reading for every runner-side client (src/net/runner-proxy.ts).
    return Boolean(this.opts.proxyUrl) && !noProxyMatches(host, this.opts.noProxy ?? '', port)
  }

  /** A CONNECT tunnel through the runner's own proxy (RFC 9110 §9.3.6). */
  private async tunnel(authority: string): Promise<net.Socket> {
    const url = new URL(this.opts.proxyUrl!)
    const sock = net.connect({ host: url.hostname, port: Number(url.port) || 80 })
    await once(sock, 'connect')
    const auth = url.username
      ? `Proxy-Authorization: Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}\r\n`
      : ''
    sock.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth}\r\n`)
    let head = Buffer.alloc(0)
    while (!head.includes('\r\n\r\n')) {
      const [chunk] = (await once(sock, 'data')) as [Buffer]
      head = Buffer.concat([head, chunk])
      if (head.length > 16_384) throw new Error('upstream proxy sent an oversized CONNECT response')
    }
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(head.toString('latin1'))?.[1]
    if (status !== '200') {
      sock.destroy()
      throw new Error(`upstream proxy refused CONNECT ${authority}: ${status ?? 'bad response'}`)
    }
    const rest = head.subarray(head.indexOf('\r\n\r\n') + 4)
    sock.pause()
    if (rest.length > 0) sock.unshift(rest)
    return sock
  }

  /**
   * Closes the pool: in-flight requests get graceMs to finish, then every upstream
   * connection is destroyed, so a stream nobody reads any more cannot hold shutdown open.
   */
  async close(graceMs = 1000): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), graceMs)
    })
    const timedOut = await Promise.race([this.agent.close().then(() => false), expired])
    clearTimeout(timer)
    if (timedOut) await this.agent.destroy().catch(() => {})
  }
}

export type Connector = buildConnector.connector
