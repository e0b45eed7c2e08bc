/**
 * The proxy's way out: the undici pool every forwarded request uses and the connections of
 * the WebSocket relay, each one to the address the egress policy checked (dialled by
 * dial.ts), with those checks cached for a short while.
 */
import type net from 'node:net'
import type tls from 'node:tls'
import type { Dispatcher } from 'undici'
// The Agent and `request` alone, not undici's index: that loads fetch, WebSocket, caches and
// mocks too, about 15 MB of resident memory the proxy never uses.
import Agent from 'undici/lib/dispatcher/agent.js'
import apiRequest from 'undici/lib/api/api-request.js'
import type { EgressPolicy, BlockReason } from './policy.js'
import { AirlockError } from '../errors.js'
import { noProxyMatches } from '../net/proxy-env.js'
import { dial, upstreamTrust } from './dial.js'

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
  /**
   * Built once: parsing hundreds of roots per connection cost ~50 ms of blocked loop each. And
   * built after start (see `warm`), not before the proxy is ready: the run waits for ready.
   */
  private trustContext: tls.SecureContext | undefined
  private readonly cache = new Map<string, { at: number; value: Promise<Resolved> }>()
  private readonly ttl: number

  private trust(): tls.SecureContext {
    this.trustContext ??= upstreamTrust(this.opts.extraCa ?? [])
    return this.trustContext
  }

  /**
   * Builds the trust store now, so the first upstream connection does not wait for it. A CA
   * that cannot be loaded fails that first connection instead, with its reason.
   */
  warm(): void {
    try {
      this.trust()
    } catch {
      // Reported by the connection that needs it.
    }
  }

  constructor(private readonly opts: UpstreamOptions) {
    this.ttl = opts.resolveTtlMs ?? 30_000
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

  /**
   * undici's `request` on the pool: the method undici's index puts on every dispatcher, called
   * the same way (the index is not loaded here; see the imports).
   */
  request(opts: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
    return apiRequest.call(this.agent, opts)
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

  /** A connection to host:port at its checked address, TLS verified for host when secure. */
  async connect(host: string, port: number, secure: boolean): Promise<net.Socket> {
    const target = await this.resolve(host, port)
    // One NO_PROXY reading for every runner-side client (src/net/proxy-env.ts).
    const proxyUrl = this.opts.proxyUrl
    const useProxy = proxyUrl !== undefined && !noProxyMatches(host, this.opts.noProxy ?? '', port)
    return dial({
      name: host,
      port,
      address: { host: target.address, port: target.port },
      routed: target.connectTo,
      secure,
      trust: this.trust(),
      ...(useProxy ? { via: { url: proxyUrl, label: 'upstream proxy' } } : {})
    })
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
