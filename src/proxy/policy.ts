/**
 * Egress policy: which hosts the sandboxed agent may reach through the proxy, and which
 * address the proxy dials for them. Pure logic; name resolution is injected.
 *
 * The proxy is the sandbox's only way out and the agent is assumed hostile (prompt
 * injection), so every check fails closed: a host that is not a plain, valid DNS name or
 * an IP literal is refused outright, and a name is dialled only at an address this module
 * has checked.
 */
import { lookup } from 'node:dns/promises'

import { classifyAddress, parseIpLiteral, type AddressClass } from './ip.js'
import {
  isLocalhostName,
  isMetadataName,
  isValidPort,
  normalizeHost,
  parseHostPattern,
  type HostPattern
} from './patterns.js'

/**
 * The name containers use for the proxy's own endpoints (the gcp grant's metadata server):
 * a reserved `.internal` name that never resolves, so it can only mean this proxy.
 */
export const AIRLOCK_ENDPOINT_HOST = 'airlock.internal'

export { classifyAddress, parseIpLiteral } from './ip.js'
export type { AddressClass } from './ip.js'

/** `block` refuses what the allowlist does not grant; `audit` allows public hosts and records. */
export type EgressMode = 'block' | 'audit'

/** Why a request was (or, in audit mode, would have been) refused. */
export type BlockReason =
  | 'not-allowed'
  | 'port-not-allowed'
  | 'ip-literal'
  | 'localhost'
  | 'private-address'
  | 'metadata'
  | 'plain-http'
  | 'invalid-host'
  | 'resolve-failed'

/** The answer of {@link EgressPolicy.check}. */
export interface Decision {
  allowed: boolean
  reason?: BlockReason
  message?: string
  /** True when the mode is audit and block mode would have refused. */
  audited?: boolean
  /** The allowlist entry that matched. */
  pattern?: string
  /** Where `connect-to` routes this host:port. */
  connectTo?: { host: string; port: number }
  /** The normalised host (lower-case name, or canonical IP) the decision is about. */
  host?: string
}

/** Everything the policy needs. */
export interface PolicyConfig {
  mode: EgressMode
  allow: string[]
  /** From {@link parseConnectTo}: `host:port` → where to dial instead. */
  connectTo?: Map<string, { host: string; port: number }>
  /** Every address of a name. Default: `node:dns/promises` lookup with `all: true`. */
  resolve?: (host: string) => Promise<string[]>
}

/** The answer of {@link EgressPolicy.resolveTarget}. */
export type ResolvedTarget =
  | { allowed: true; address: string; port: number; connectTo: boolean }
  | { allowed: false; reason: BlockReason; message: string; address?: string }

/**
 * A host the policy refused as invalid, for a message: quoted, cut to 100 characters, and
 * every character outside printable ASCII escaped, so the agent cannot inject lines, escape
 * sequences or bidi tricks into logs and the job summary.
 */
function quoteHost(raw: string): string {
  const cut = raw.length > 100 ? raw.slice(0, 100) : raw
  const quoted = JSON.stringify(cut).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`
  )
  return cut === raw ? quoted : `${quoted.slice(0, -1)}..."`
}

/** `host:port`, bracketing an IPv6 address so the port stays readable. */
function hostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`
}

/** An IP literal as the agent wrote it, plus the address it means when that differs. */
function ipWhere(raw: string, ip: string, port: number): string {
  const bare = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw
  if (bare.toLowerCase() === ip) return hostPort(ip, port)
  const shown = bare.length <= 64 ? bare : quoteHost(bare)
  return `${hostPort(shown, port)} (${ip})`
}

function ipLiteralMessage(raw: string, ip: string, port: number): string {
  return (
    `Airlock blocked ${ipWhere(raw, ip, port)}: requests to IP addresses are not allowed, only to host names. ` +
    'Allow a host name in the allowed-endpoints input and route it to this address with the connect-to input if the agent needs it.'
  )
}

const CLASS_WORDS: Record<AddressClass, string> = {
  public: 'a public address',
  loopback: 'a loopback address',
  'link-local': 'a link-local address',
  private: 'a private address',
  cgnat: 'a carrier-grade NAT address',
  multicast: 'a multicast address',
  metadata: 'a cloud metadata address',
  unspecified: 'an unspecified address',
  reserved: 'a reserved address'
}

function refusal(reason: BlockReason, message: string, host?: string): Decision {
  return host === undefined
    ? { allowed: false, reason, message }
    : { allowed: false, reason, message, host }
}

/** The errno-style code of a resolver failure, printable and short. */
function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string' && /^[A-Z0-9_]{1,32}$/.test(code)) return code
  return 'lookup failed'
}

async function defaultResolve(host: string): Promise<string[]> {
  const answers = await lookup(host, { all: true, verbatim: true })
  return answers.map((a) => a.address)
}

/**
 * The egress policy of one run. Build it once with every allowlist entry (bad entries throw
 * at construction, before anything starts); call {@link check} for every CONNECT and plain
 * HTTP request, then {@link resolveTarget} for the address to dial.
 */
export class EgressPolicy {
  readonly mode: EgressMode
  private readonly patterns: HostPattern[] = []
  private readonly connectTo: Map<string, { host: string; port: number }>
  private readonly resolve: (host: string) => Promise<string[]>

  constructor(cfg: PolicyConfig) {
    // Anything but an explicit 'audit' blocks: a typo must not open the sandbox.
    this.mode = cfg.mode === 'audit' ? 'audit' : 'block'
    this.patterns = cfg.allow.map(parseHostPattern)
    this.connectTo = new Map()
    for (const [key, target] of cfg.connectTo ?? []) this.connectTo.set(key.toLowerCase(), target)
    this.resolve = cfg.resolve ?? defaultResolve
  }

  /** Grant more hosts (e.g. a provider's hosts). All patterns parse or none are added. */
  addAllowed(patterns: string[]): void {
    const parsed = patterns.map(parseHostPattern)
    this.patterns.push(...parsed)
  }

  /** The parsed allowlist, in the order entries were added. */
  get allowlist(): readonly HostPattern[] {
    return this.patterns
  }

  /**
   * Name, port and scheme check, without DNS: used at CONNECT time (`https`) and for plain
   * HTTP requests (`http`). Invalid hosts, localhost, metadata names and non-public IP
   * literals are refused in every mode; in audit mode, anything else block mode would
   * refuse is allowed with `audited: true` and the reason and message block mode gives.
   */
  check(host: string, port: number, scheme: 'https' | 'http'): Decision {
    const always = this.alwaysRefused(host, port)
    if (always) return always
    const ip = parseIpLiteral(host)
    if (ip !== undefined) {
      return this.soft(refusal('ip-literal', ipLiteralMessage(host, ip, port), ip))
    }
    // alwaysRefused() has established that the name normalises.
    const name = normalizeHost(host) ?? ''
    const plain = scheme === 'http'
    const defaultPort = plain ? 80 : 443
    const wanted: 'https' | 'http' = plain ? 'http' : 'https'
    const hostMatches = this.patterns.filter((p) => matchesHost(p, name))
    const sameScheme = hostMatches.filter((p) => p.scheme === wanted)
    const exact = sameScheme.filter((p) => (p.port ?? defaultPort) === port)
    const target = this.connectTo.get(`${name}:${port}`)
    const where = hostPort(name, port)
    if (exact.length > 0) {
      const decision: Decision = { allowed: true, host: name, pattern: bestMatch(exact).raw }
      if (target) decision.connectTo = target
      return decision
    }
    const httpForm = `http://${name}${port === 80 ? '' : `:${port}`}`
    const httpsForm = port === 443 ? name : `${name}:${port}`
    let denied: Decision
    if (sameScheme.length > 0) {
      const ports = [...new Set(sameScheme.map((p) => p.port ?? defaultPort))].sort((a, b) => a - b)
      const portList = `port${ports.length > 1 ? 's' : ''} ${ports.join(', ')}`
      denied = plain
        ? refusal(
            'port-not-allowed',
            `Airlock blocked plain HTTP to ${where}: the allowlist permits plain HTTP to this host only on ${portList}. ` +
              `Add ${httpForm} to the allowed-endpoints input if the agent needs that port.`,
            name
          )
        : refusal(
            'port-not-allowed',
            `Airlock blocked ${where}: the allowlist permits this host only on ${portList}. ` +
              `Add ${httpsForm} (host:port) to the allowed-endpoints input if the agent needs that port.`,
            name
          )
    } else if (hostMatches.length > 0) {
      denied = plain
        ? refusal(
            'plain-http',
            `Airlock blocked plain HTTP to ${where}: the host is allowed only over HTTPS. ` +
              `Use https, or add ${httpForm} to the allowed-endpoints input if the agent needs plain HTTP.`,
            name
          )
        : refusal(
            'not-allowed',
            `Airlock blocked ${where}: the allowlist permits only plain HTTP to this host. ` +
              `Add ${httpsForm} to the allowed-endpoints input if the agent needs HTTPS.`,
            name
          )
    } else if (plain) {
      denied = refusal(
        'not-allowed',
        `Airlock blocked plain HTTP to ${where}: the host is not in the allowlist. ` +
          `Add ${httpForm} to the allowed-endpoints input if the agent needs it.`,
        name
      )
    } else {
      denied = refusal(
        'not-allowed',
        `Airlock blocked ${where}: the host is not in the allowlist. ` +
          `Add ${port === 443 ? 'it' : httpsForm} to the allowed-endpoints input if the agent needs it.`,
        name
      )
    }
    const soft = this.soft(denied)
    if (soft.allowed && target) soft.connectTo = target
    return soft
  }

  /**
   * Where to dial `host:port`. A `connect-to` entry wins and is exempt from address checks
   * (the workflow author chose it). Otherwise the name is resolved and refused if it has no
   * address or if ANY address is not public (a name with one private answer could be
   * rebound to it); the first address is returned so the caller dials exactly what was
   * checked, never re-resolving. Hosts `check` always refuses are refused here too; the
   * allowlist itself is `check`'s job.
   */
  async resolveTarget(host: string, port: number): Promise<ResolvedTarget> {
    const always = this.alwaysRefused(host, port)
    if (always)
      return {
        allowed: false,
        reason: always.reason ?? 'invalid-host',
        message: always.message ?? ''
      }
    const ip = parseIpLiteral(host)
    if (ip !== undefined) {
      if (this.mode === 'block') {
        return {
          allowed: false,
          reason: 'ip-literal',
          message: ipLiteralMessage(host, ip, port),
          address: ip
        }
      }
      return { allowed: true, address: ip, port, connectTo: false }
    }
    const name = normalizeHost(host) ?? ''
    const where = hostPort(name, port)
    const target = this.connectTo.get(`${name}:${port}`)
    if (target) return { allowed: true, address: target.host, port: target.port, connectTo: true }
    let answers: unknown
    try {
      answers = await this.resolve(name)
    } catch (err) {
      return {
        allowed: false,
        reason: 'resolve-failed',
        message:
          `Airlock blocked ${where}: the name could not be resolved (${errorCode(err)}). ` +
          'Check the host name, or route it with the connect-to input.'
      }
    }
    const addresses: string[] = []
    for (const answer of Array.isArray(answers) ? (answers as unknown[]) : []) {
      const address = typeof answer === 'string' ? parseIpLiteral(answer) : undefined
      if (address === undefined) {
        return {
          allowed: false,
          reason: 'resolve-failed',
          message: `Airlock blocked ${where}: the resolver returned something that is not an IP address. Check the runner's DNS setup.`
        }
      }
      addresses.push(address)
    }
    const first = addresses[0]
    if (first === undefined) {
      return {
        allowed: false,
        reason: 'resolve-failed',
        message:
          `Airlock blocked ${where}: the name has no addresses. ` +
          'Check the host name, or route it with the connect-to input.'
      }
    }
    const classes = addresses.map((a) => ({ address: a, cls: classifyAddress(a) }))
    const bad = classes.find((c) => c.cls === 'metadata') ?? classes.find((c) => c.cls !== 'public')
    if (bad) {
      return bad.cls === 'metadata'
        ? {
            allowed: false,
            reason: 'metadata',
            message: `Airlock blocked ${where}: the name resolves to ${bad.address}, a cloud metadata address, which the sandbox may never reach.`,
            address: bad.address
          }
        : {
            allowed: false,
            reason: 'private-address',
            message:
              `Airlock blocked ${where}: the name resolves to ${bad.address}, ${CLASS_WORDS[bad.cls]}, which the sandbox may not reach. ` +
              'Route the name to it with the connect-to input if the agent needs this service.',
            address: bad.address
          }
    }
    return { allowed: true, address: first, port, connectTo: false }
  }

  /**
   * Refusals no mode lifts: bad ports, invalid hosts, localhost and metadata names, and IP
   * literals of non-public addresses.
   */
  private alwaysRefused(host: string, port: number): Decision | undefined {
    const raw = typeof host === 'string' ? host : ''
    const invalid = (why: string): Decision =>
      refusal(
        'invalid-host',
        `Airlock blocked ${quoteHost(raw)} (port ${String(port)}): it is not a valid host name (${why}). ` +
          'Fix the host the agent requested; if a tool mangled it, check its proxy settings.'
      )
    // Printable ASCII only: NUL, CR/LF, spaces and non-ASCII never reach a parser below.
    if (!/^[\x21-\x7e]+$/.test(raw))
      return invalid('it is empty or has invisible or non-ASCII characters')
    if (!isValidPort(port)) {
      return refusal(
        'port-not-allowed',
        `Airlock blocked ${quoteHost(raw)} (port ${String(port)}): ${String(port)} is not a valid TCP port.`
      )
    }
    const ip = parseIpLiteral(raw)
    if (ip !== undefined) {
      const cls = classifyAddress(ip)
      const where = ipWhere(raw, ip, port)
      if (cls === 'metadata') {
        return refusal(
          'metadata',
          `Airlock blocked ${where}: it is a cloud metadata address, which the sandbox may never reach.`,
          ip
        )
      }
      if (cls !== 'public') {
        return refusal(
          'ip-literal',
          `Airlock blocked ${where}: it is ${CLASS_WORDS[cls]} written as an IP literal, which the sandbox may never reach. ` +
            'Allow a host name in the allowed-endpoints input and route it to this address with the connect-to input if the agent needs it.',
          ip
        )
      }
      return undefined
    }
    const name = normalizeHost(raw)
    if (name === undefined) {
      return invalid(
        "a trailing dot, an empty or over-long label, a numeric last label, or a character other than letters, digits, '-', '_' and '.'"
      )
    }
    if (isLocalhostName(name)) {
      return refusal(
        'localhost',
        `Airlock blocked ${hostPort(name, port)}: localhost is the runner itself, which the sandbox may never reach. ` +
          'Allow a host name in the allowed-endpoints input and route it with the connect-to input if the agent needs a local service.',
        name
      )
    }
    if (isMetadataName(name)) {
      return refusal(
        'metadata',
        `Airlock blocked ${hostPort(name, port)}: it is a cloud metadata service, which the sandbox may never reach.`,
        name
      )
    }
    return undefined
  }

  /** In audit mode a refusable-but-public request goes through, marked as audited. */
  private soft(decision: Decision): Decision {
    if (this.mode !== 'audit' || decision.allowed) return decision
    return { ...decision, allowed: true, audited: true }
  }
}

function matchesHost(p: HostPattern, name: string): boolean {
  // `*.x` needs at least one label before `.x`; the apex `x` never matches (design §3).
  return p.wildcard ? name.endsWith(`.${p.host}`) : name === p.host
}

/** Exact beats wildcard; among wildcards the longest suffix wins (the most specific entry). */
function bestMatch(matches: HostPattern[]): HostPattern {
  const score = (p: HostPattern): number => (p.wildcard ? p.host.length : Number.MAX_SAFE_INTEGER)
  return matches.reduce((best, p) => (score(p) > score(best) ? p : best))
}
