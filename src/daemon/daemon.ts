import { renameSync, writeFileSync } from 'node:fs'
import v8 from 'node:v8'
import vm from 'node:vm'
import {
  credentialFromJSON,
  isEndpointProvider,
  isRefreshableProvider,
  registry,
  type Credential,
  type CredentialJSON,
  type GrantContext,
  type GrantSettings
} from '../provider/index.js'
import { makeGrantContext, revokeAll } from '../grant/index.js'
import { registerAll } from '../providers/index.js'
import { AuditLog } from '../proxy/audit.js'
import { InjectionTable } from '../proxy/inject.js'
import { JsonlWriter, type NetworkEntry } from '../proxy/log.js'
import { parseConnectTo } from '../proxy/patterns.js'
import { EgressPolicy, type EgressMode } from '../proxy/policy.js'
import { AirlockProxy, type ProxyLimits } from '../proxy/server.js'
import { CertificateAuthority } from '../proxy/tls.js'
import { Upstream } from '../proxy/upstream.js'

/** Everything the daemon needs, sent as one JSON document on stdin (never argv, env or a file). */
export interface DaemonConfig {
  runId: string
  /** The per-run proxy token clients present in Proxy-Authorization. */
  token: string
  mode: EgressMode
  allow: string[]
  connectTo: string[]
  /** PEM text of extra CAs trusted upstream. */
  upstreamCa?: string
  socketPath?: string
  listen?: { host: string; port: number }
  /** Where the CA certificate (never the key) is written for the container to trust. */
  caCertFile: string
  caValidityMs?: number
  networkLog: string
  auditLog: string
  /** Written (atomically) once the proxy listens: `{pid, port, socketPath, caCertFile}`. */
  readyFile?: string
  grants: Array<{ provider: string; credential: CredentialJSON }>
  /** What refresh needs to re-mint (settingsForRefresh: the App key is its one secret). */
  settings?: GrantSettings
  repository?: string
  githubApiUrl?: string
  /** The runner's ID-token endpoint, for refreshing OIDC-minted credentials. */
  oidc?: { url: string; token: string }
  /** The runner's own proxy, used for upstream connections. */
  upstreamProxy?: { url: string; noProxy?: string }
  limits?: Partial<ProxyLimits>
}

export interface ReadyInfo {
  pid: number
  port?: number
  socketPath?: string
  caCertFile: string
}

export interface RunningDaemon {
  proxy: AirlockProxy
  ready: ReadyInfo
  audit: AuditLog
  /**
   * The live injection table. Refreshes write to it in place; tests use it to check that an
   * update reaches tunnels that are already open.
   */
  injection: InjectionTable
  /** Stops refreshes, drains the proxy, writes the final audit entry. Returns the audit head. */
  stop(reason: string): Promise<string>
}

/** In-process hooks that never come from the JSON config (tests, embedding). */
export interface DaemonHooks {
  /**
   * Every address of a name, replacing `node:dns` for the egress policy's address checks
   * (lets tests make a name resolve to loopback or metadata without touching DNS).
   */
  resolve?: (host: string) => Promise<string[]>
  /** Every network log entry as it is written (the local proxy command prints refusals). */
  onNetworkEntry?: (entry: NetworkEntry) => void
}

/**
 * Builds and starts the airlock from its config: providers configure the injection table,
 * grant hosts join the allowlist, the CA is minted, the proxy listens, refresh timers start.
 */
export async function startDaemon(
  config: DaemonConfig,
  log: (line: string) => void = () => {},
  hooks: DaemonHooks = {}
): Promise<RunningDaemon> {
  registerAll()
  const injection = new InjectionTable()
  const credentials = new Map<string, Credential>()
  const grantHosts: string[] = []
  for (const g of config.grants) {
    const provider = registry.mustGet(g.provider)
    const cred = credentialFromJSON(g.credential)
    credentials.set(provider.name, cred)
    provider.configureProxy(injection, cred)
    injection.addSecret(cred.token)
    grantHosts.push(...provider.hosts(cred))
  }
  const policy = new EgressPolicy({
    mode: config.mode,
    allow: [...new Set([...config.allow, ...grantHosts])],
    connectTo: parseConnectTo(config.connectTo),
    ...(hooks.resolve ? { resolve: hooks.resolve } : {})
  })
  const ca = await CertificateAuthority.create({
    validityMs: config.caValidityMs ?? 6 * 3600_000,
    onEvict: (host) => log(`limit: certificate cache full; evicted ${host}`)
  })
  writeFileSync(config.caCertFile, ca.certPem, { mode: 0o644 })
  const audit = AuditLog.open(config.auditLog, { runId: config.runId })
  // The proxy exists only after its logs; a log failure before then has nothing to close.
  const holder: { proxy?: AirlockProxy } = {}
  const fail = (what: string) => (err: Error) => {
    log(`fatal: cannot write ${what}: ${err.message}; refusing all traffic`)
    if (holder.proxy) holder.proxy.failure = `${what}: ${err.message}`
  }
  const networkLog = new JsonlWriter(
    config.networkLog,
    fail('network log'),
    // The proxy writes only NetworkEntry objects to this log.
    hooks.onNetworkEntry && ((e) => hooks.onNetworkEntry?.(e as NetworkEntry))
  )
  const safeAudit = new Proxy(audit, {
    get(target, prop, receiver) {
      if (prop !== 'append') return Reflect.get(target, prop, receiver) as unknown
      return (type: string, data: Record<string, unknown>) => {
        try {
          return target.append(type, data)
        } catch (err) {
          fail('audit log')(err as Error)
          return undefined
        }
      }
    }
  })
  audit.append('start', {
    runId: config.runId,
    mode: config.mode,
    allow: [...new Set([...config.allow, ...grantHosts])]
  })
  audit.append('grants', { providers: config.grants.map((g) => g.provider) })
  const upstreamOpts: ConstructorParameters<typeof Upstream>[0] = { policy }
  if (config.upstreamCa) upstreamOpts.extraCa = [config.upstreamCa]
  if (config.upstreamProxy) {
    upstreamOpts.proxyUrl = config.upstreamProxy.url
    if (config.upstreamProxy.noProxy) upstreamOpts.noProxy = config.upstreamProxy.noProxy
  }
  const upstream = new Upstream(upstreamOpts)
  const proxy = new AirlockProxy({
    token: config.token,
    policy,
    injection,
    ca,
    upstream,
    networkLog,
    audit: safeAudit,
    log,
    ...(config.limits ? { limits: config.limits } : {})
  })
  holder.proxy = proxy
  proxy.handle('/_airlock/health', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ ok: !proxy.failure }))
  })
  for (const [name, cred] of credentials) {
    const p = registry.get(name)
    if (isEndpointProvider(p)) p.registerEndpoints(proxy, cred)
  }
  const listenTarget: Parameters<AirlockProxy['listen']>[0] = {}
  if (config.socketPath) listenTarget.socketPath = config.socketPath
  if (config.listen) listenTarget.tcp = config.listen
  const { port } = await proxy.listen(listenTarget)
  const ready: ReadyInfo = { pid: process.pid, caCertFile: config.caCertFile }
  if (port !== undefined) ready.port = port
  if (config.socketPath) ready.socketPath = config.socketPath
  if (config.readyFile) {
    writeFileSync(`${config.readyFile}.tmp`, JSON.stringify(ready), { mode: 0o600 })
    renameSync(`${config.readyFile}.tmp`, config.readyFile)
  }
  collectStartupGarbage()
  const grantCtx = daemonGrantContext(config)
  const timers = scheduleRefreshes(grantCtx, credentials, injection, safeAudit, log)
  // While the container starts: the upstream trust store, and certificates for the exact hosts
  // the run will likely use, so the agent's first request to each waits for neither.
  setImmediate(() => {
    upstream.warm()
    void premint(ca, [...config.allow, ...grantHosts])
  })
  let stopped: Promise<string> | undefined
  return {
    proxy,
    ready,
    audit,
    injection,
    stop(reason: string): Promise<string> {
      stopped ??= (async () => {
        for (const t of timers) clearTimeout(t)
        await proxy.close(2000)
        // Minted tokens (GitHub App) die with the run: the daemon is the one that holds them.
        const revoked = await revokeAll(
          [...credentials].map(([provider, credential]) => ({ provider, credential })),
          grantCtx,
          log,
          5000
        )
        if (revoked > 0) safeAudit.append('revoke', { count: revoked })
        // Closed before the stop entry, which carries its line count and hash: the chain
        // then vouches for network.jsonl too (`airlock audit verify` checks it).
        const network = await networkLog.close()
        safeAudit.append('stop', {
          reason,
          ...proxy.stats,
          ...(proxy.failure ? { failure: proxy.failure } : {}),
          ...(networkLog.failed ? {} : { network })
        })
        audit.close()
        return audit.head
      })()
      return stopped
    }
  }
}

/**
 * One full collection once the proxy listens. With DAEMON_NODE_FLAGS' 64 MB initial old
 * generation, what starting left behind (module evaluation, grants, the CA) would wait for that
 * limit; collected now, it is not resident while the proxy idles (`airlock proxy`: 88 -> 82 MB).
 */
function collectStartupGarbage(): void {
  v8.setFlagsFromString('--expose-gc')
  ;(vm.runInNewContext('gc') as () => void)()
}

/**
 * Refreshes each refreshable credential at its interval or at 75 % of its remaining
 * lifetime, whichever is sooner. The table is updated in place, so every tunnel, new or
 * already open, uses the new credential from its next request.
 */
function scheduleRefreshes(
  ctx: GrantContext,
  credentials: Map<string, Credential>,
  injection: InjectionTable,
  audit: AuditLog,
  log: (line: string) => void
): NodeJS.Timeout[] {
  const timers: NodeJS.Timeout[] = []
  for (const [name, initial] of credentials) {
    const provider = registry.get(name)
    if (!isRefreshableProvider(provider) || !provider.canRefresh(initial)) continue
    let cred = initial
    const delay = (): number => {
      const interval = provider.refreshInterval()
      const remaining = cred.expiresAt ? cred.expiresAt.getTime() - Date.now() : Infinity
      return Math.max(1000, Math.min(interval, remaining * 0.75))
    }
    const tick = (): void => {
      provider
        .refresh(ctx, injection, cred)
        .then((next) => {
          cred = next
          credentials.set(name, next)
          injection.addSecret(next.token)
          audit.append('refresh', {
            provider: name,
            expiresAt: next.expiresAt?.toISOString() ?? null
          })
          timers.push(setTimeout(tick, delay()).unref())
        })
        .catch((err: Error) => {
          log(`refresh ${name} failed: ${err.message}; retrying in 30 s`)
          audit.append('refresh-failed', { provider: name })
          timers.push(setTimeout(tick, 30_000).unref())
        })
    }
    timers.push(setTimeout(tick, delay()).unref())
  }
  return timers
}

function daemonGrantContext(config: DaemonConfig): GrantContext {
  // This process's environment is empty by design: everything comes from the config. No log
  // masker here: the daemon never logs a credential.
  return makeGrantContext({
    ...(config.settings ? { settings: config.settings } : {}),
    env: {},
    setSecret: () => {},
    warn: () => {},
    connectTo: config.connectTo,
    ...(config.upstreamCa ? { upstreamCaPem: config.upstreamCa } : {}),
    ...(config.oidc ? { oidc: config.oidc } : {}),
    proxy: config.upstreamProxy ?? null,
    repository: config.repository ?? '',
    runId: config.runId,
    githubApiUrl: config.githubApiUrl ?? 'https://api.github.com'
  })
}

/** Leaf certificates for the exact names among the patterns, one at a time, in the background. */
async function premint(ca: CertificateAuthority, patterns: string[]): Promise<void> {
  const names = new Set<string>()
  for (const p of patterns) {
    const m = /^(?:https:\/\/)?([a-z0-9.-]+?)(?::443)?$/i.exec(p.trim())
    if (m?.[1] && !p.startsWith('*')) names.add(m[1].toLowerCase())
  }
  for (const name of [...names].slice(0, 64)) await ca.secureContext(name).catch(() => undefined)
}
