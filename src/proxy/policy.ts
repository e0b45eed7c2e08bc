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

import { AirlockError } from '../errors.js'
import { classifyAddress, parseIpLiteral, type AddressClass } from './ip.js'

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

/** A bad `allowed-endpoints` pattern or `connect-to` line; the message names the value. */
export class PolicyError extends AirlockError {
  declare readonly code: 'AIRLOCK_BAD_PATTERN' | 'AIRLOCK_BAD_CONNECT_TO'

  constructor(
    code: 'AIRLOCK_BAD_PATTERN' | 'AIRLOCK_BAD_CONNECT_TO',
    /** The offending input, as given. */
    readonly value: string,
    message: string
  ) {
    super(code, message)
  }
}

/** One parsed allowlist entry. */
export interface HostPattern {
  /** The entry as written (trimmed). */
  raw: string
  scheme: 'https' | 'http'
  /** `*.suffix`: matches names below `host`, never `host` itself. */
  wildcard: boolean
  /** Lower-case, without the `*.`. */
  host: string
  /** Absent: 443 for https, 80 for http. */
  port?: number
}

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

const PATTERN_FORM =
  'Expected a host name such as api.example.com, *.example.com (subdomains only), ' +
  'api.example.com:8443 or http://example.com (plain HTTP).'

const CONNECT_TO_FORM =
  'Expected host:port=target:port, for example api.example.com:443=127.0.0.1:8443.'

/**
 * Names that are the runner itself. `localhost` and `*.localhost` are loopback by RFC 6761
 * §6.3; the others are Debian's /etc/hosts aliases.
 */
const LOCALHOST_NAMES = new Set([
  'localhost',
  'localhost.localdomain',
  'ip6-localhost',
  'ip6-loopback'
])

/**
 * Metadata services by name. `metadata` and `instance-data` are single labels that the
 * cloud's resolver (or its search domain) turns into the metadata address.
 */
const METADATA_NAMES = new Set([
  'metadata.google.internal',
  'metadata.goog',
  'metadata',
  'instance-data',
  'instance-data.ec2.internal'
])

/** Only LDH names plus `_` (used by some real hosts); anything else is an attack or a typo. */
const NAME_CHARS = /^[A-Za-z0-9._-]+$/

/**
 * A last label that is all digits, or a hex number, makes a URL parser treat the whole
 * host as IPv4 (URL standard, "ends in a number"); no real TLD looks like that (RFC 3696 §2).
 */
function endsInNumber(label: string): boolean {
  return /^[0-9]+$/.test(label) || /^0x[0-9a-f]*$/i.test(label)
}

function isValidPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535
}

/**
 * The normalised host, or `undefined` when `host` is not something the proxy will dial.
 *
 * Names: ASCII letters, digits, `-`, `_`, `.` only (checked *before* lower-casing, since
 * `'\u212A'.toLowerCase()` is an ASCII `k`); labels 1–63 characters; at most 253 in all
 * (RFC 1035 §2.3.4); no trailing dot; a last label that is not numeric. Returns the name in
 * lower case. IP literals (with or without `[]`) return their canonical address; zone ids
 * (`%`) are refused.
 */
export function normalizeHost(host: string): string | undefined {
  if (typeof host !== 'string' || host === '') return undefined
  if (host.startsWith('[') || host.includes(':')) {
    const inner = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
    if (!/^[0-9A-Fa-f:.]+$/.test(inner)) return undefined
    return parseIpLiteral(inner)
  }
  if (!NAME_CHARS.test(host) || host.length > 253) return undefined
  const lower = host.toLowerCase()
  const ip = parseIpLiteral(lower)
  if (ip !== undefined) return ip
  const labels = lower.split('.')
  if (labels.some((label) => label.length === 0 || label.length > 63)) return undefined
  if (endsInNumber(labels[labels.length - 1] ?? '')) return undefined
  return lower
}

function isLocalhostName(name: string): boolean {
  return LOCALHOST_NAMES.has(name) || name.endsWith('.localhost')
}

function isMetadataName(name: string): boolean {
  return METADATA_NAMES.has(name) || name.endsWith('.metadata.google.internal')
}

function badPattern(value: string, why: string): PolicyError {
  return new PolicyError(
    'AIRLOCK_BAD_PATTERN',
    value,
    `Invalid allowed-endpoints entry ${JSON.stringify(value)}: ${why}. ${PATTERN_FORM}`
  )
}

function badConnectTo(value: string, why: string): PolicyError {
  return new PolicyError(
    'AIRLOCK_BAD_CONNECT_TO',
    value,
    `Invalid connect-to entry ${JSON.stringify(value)}: ${why}. ${CONNECT_TO_FORM}`
  )
}

/** `'8443'` → 8443; `undefined` unless it is 1–65535 written in decimal digits. */
function parsePort(s: string): number | undefined {
  if (!/^[0-9]{1,5}$/.test(s)) return undefined
  const port = Number(s)
  return isValidPort(port) ? port : undefined
}

/**
 * Parse one allowlist entry: `host`, `*.suffix`, either with `:port`, optionally prefixed
 * by `https://` (the same) or `http://` (plain HTTP, port 80 unless given). Case-insensitive.
 *
 * @throws PolicyError (`AIRLOCK_BAD_PATTERN`) for `*`, `*.tld`, `a.*.b`, paths, userinfo,
 *   IP literals, localhost names, invalid names and ports outside 1–65535.
 */
export function parseHostPattern(s: string): HostPattern {
  const raw = typeof s === 'string' ? s.trim() : ''
  if (raw === '') throw badPattern(String(s), 'it is empty')
  let rest = raw
  let scheme: 'https' | 'http' = 'https'
  const schemeMatch = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(rest)
  if (schemeMatch) {
    const name = (schemeMatch[1] ?? '').toLowerCase()
    if (name !== 'https' && name !== 'http') {
      throw badPattern(raw, `the scheme ${name}:// is not supported, only https:// and http://`)
    }
    scheme = name
    rest = rest.slice(schemeMatch[0].length)
  }
  if (/[/?#]/.test(rest)) throw badPattern(raw, 'an entry is a host, not a URL with a path')
  if (rest.includes('@')) throw badPattern(raw, 'user names and passwords are not allowed')
  if (/[\s\\%]/.test(rest) || /[^\x21-\x7e]/.test(rest)) {
    throw badPattern(raw, 'it contains characters that cannot appear in a host name')
  }
  if (rest.startsWith('[') || rest.split(':').length > 2) {
    const host = rest.startsWith('[') ? rest.slice(0, rest.indexOf(']') + 1) : rest
    if (parseIpLiteral(host) !== undefined) {
      throw badPattern(
        raw,
        'IP addresses cannot be allowed; allow a host name and map it with connect-to'
      )
    }
    throw badPattern(raw, 'it is not a valid host name')
  }
  let port: number | undefined
  const colon = rest.indexOf(':')
  if (colon >= 0) {
    const portText = rest.slice(colon + 1)
    port = parsePort(portText)
    if (port === undefined) {
      throw badPattern(raw, `the port ${JSON.stringify(portText)} is not a number from 1 to 65535`)
    }
    rest = rest.slice(0, colon)
  }
  let wildcard = false
  if (rest === '*') throw badPattern(raw, 'a bare * would allow every host')
  if (rest.startsWith('*.')) {
    wildcard = true
    rest = rest.slice(2)
  }
  if (rest.includes('*')) {
    throw badPattern(
      raw,
      'a wildcard is only allowed as the whole first label, as in *.example.com'
    )
  }
  if (parseIpLiteral(rest) !== undefined) {
    throw badPattern(
      raw,
      'IP addresses cannot be allowed; allow a host name and map it with connect-to'
    )
  }
  const host = normalizeHost(rest)
  if (host === undefined) throw badPattern(raw, `${JSON.stringify(rest)} is not a valid host name`)
  if (isLocalhostName(host)) {
    throw badPattern(
      raw,
      'localhost cannot be allowed; allow a host name and map it with connect-to'
    )
  }
  if (wildcard && !host.includes('.')) {
    throw badPattern(raw, `*.${host} would allow a whole top-level domain`)
  }
  return port === undefined
    ? { raw, scheme, wildcard, host }
    : { raw, scheme, wildcard, host, port }
}

/** `host:port` or `[v6]:port` → parts; `undefined` when either is missing. */
function splitHostPort(s: string): { host: string; port: string } | undefined {
  if (s.startsWith('[')) {
    const close = s.indexOf(']')
    if (close < 0 || s[close + 1] !== ':') return undefined
    return { host: s.slice(0, close + 1), port: s.slice(close + 2) }
  }
  const colon = s.lastIndexOf(':')
  if (colon <= 0) return undefined
  return { host: s.slice(0, colon), port: s.slice(colon + 1) }
}

/**
 * Parse `connect-to` lines, `host:port=target:port` (curl's `--connect-to` idea): requests
 * for `host:port` are dialled at `target:port`. Blank lines are skipped. The key is
 * `host:port` in lower case; the target may be a name or an IP address (`[::1]` for IPv6),
 * stored without brackets.
 *
 * @throws PolicyError (`AIRLOCK_BAD_CONNECT_TO`) naming the line.
 */
export function parseConnectTo(lines: string[]): Map<string, { host: string; port: number }> {
  const out = new Map<string, { host: string; port: number }>()
  for (const line of lines) {
    const entry = line.trim()
    if (entry === '') continue
    const parts = entry.split('=')
    if (parts.length !== 2) throw badConnectTo(entry, 'it needs exactly one =')
    const from = splitHostPort((parts[0] ?? '').trim())
    const to = splitHostPort((parts[1] ?? '').trim())
    if (!from || !to) throw badConnectTo(entry, 'both sides need a host and a port')
    if (parseIpLiteral(from.host) !== undefined) {
      throw badConnectTo(entry, 'the left side is the host name the agent uses, not an IP address')
    }
    const fromHost = normalizeHost(from.host)
    if (fromHost === undefined) {
      throw badConnectTo(entry, `${JSON.stringify(from.host)} is not a valid host name`)
    }
    const toHost = normalizeHost(to.host)
    if (toHost === undefined) {
      throw badConnectTo(entry, `${JSON.stringify(to.host)} is not a valid host name or address`)
    }
    const fromPort = parsePort(from.port)
    const toPort = parsePort(to.port)
    if (fromPort === undefined || toPort === undefined) {
      throw badConnectTo(entry, 'ports must be numbers from 1 to 65535')
    }
    const key = `${fromHost}:${fromPort}`
    if (out.has(key)) throw badConnectTo(entry, `${key} is already mapped by an earlier line`)
    out.set(key, { host: toHost, port: toPort })
  }
  return out
}

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
