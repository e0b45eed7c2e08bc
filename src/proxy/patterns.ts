/**
 * What the allowlist and `connect-to` are written in: host patterns (`host`, `*.suffix`,
 * `host:port`, `http://host`) and `host:port=target:port` lines, parsed and validated into
 * the forms the egress policy checks against. The names that can never be allowed
 * (localhost, metadata) are refused here, where the user wrote them.
 */
import { AirlockError } from '../errors.js'
import { parseIpLiteral } from './ip.js'

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

export function isValidPort(port: number): boolean {
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

export function isLocalhostName(name: string): boolean {
  return LOCALHOST_NAMES.has(name) || name.endsWith('.localhost')
}

export function isMetadataName(name: string): boolean {
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
