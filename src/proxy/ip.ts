/**
 * IP literal parsing and address classification for the egress policy.
 *
 * The parser is deliberately a superset of what real clients accept: a host that *any*
 * common parser (glibc `inet_aton()`/`getaddrinfo()`, which curl and git use; the WHATWG
 * URL parser, which Node and browsers use; `inet_pton()`) would read as an address must be
 * recognised here, or an agent could smuggle `0x7f.1` past a check that only knows dotted
 * quads. Over-recognising is harmless: the policy refuses IP literals anyway.
 */

/** What an address is, from the sandbox's point of view. Only `public` may be dialled. */
export type AddressClass =
  | 'public'
  | 'loopback'
  | 'link-local'
  | 'private'
  | 'cgnat'
  | 'multicast'
  | 'metadata'
  | 'unspecified'
  | 'reserved'

/** A parsed address: IPv4 as an unsigned 32-bit value, IPv6 as a 128-bit value. */
export type ParsedIp = { family: 4; value: number } | { family: 6; value: bigint }

/** The characters glibc's `isspace()` accepts, after which `inet_aton()` ignores the rest. */
const C_SPACE = /[ \t\n\v\f\r]/

/**
 * One part of an `inet_aton()` address: hex with `0x`, octal with a leading `0`, else
 * decimal. `0x` with no digits is 0 in the WHATWG URL parser (glibc refuses it); accepting
 * it is the superset.
 */
function parseIpv4Number(part: string): bigint | undefined {
  if (/^0[xX][0-9a-fA-F]*$/.test(part)) return part.length === 2 ? 0n : BigInt(part)
  if (/^0[0-7]*$/.test(part)) return BigInt(`0o${part === '0' ? '0' : part.slice(1)}`)
  if (/^[1-9][0-9]*$/.test(part)) return BigInt(part)
  return undefined
}

/**
 * IPv4 in every notation `inet_aton()` accepts: one to four parts, the last filling the
 * remaining bytes (`127.1`, `2130706433`, `0x7f.0.0.1`, `0177.0.0.1`). Like glibc, anything
 * after ASCII whitespace is ignored; like WHATWG (URL standard, "IPv4 parser"), one
 * trailing dot is allowed.
 */
function parseIpv4(input: string): number | undefined {
  const space = input.search(C_SPACE)
  const s = space >= 0 ? input.slice(0, space) : input
  const parts = s.split('.')
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop()
  if (parts.length < 1 || parts.length > 4) return undefined
  const nums: bigint[] = []
  for (const part of parts) {
    const n = parseIpv4Number(part)
    if (n === undefined) return undefined
    nums.push(n)
  }
  const last = nums.pop() ?? 0n
  if (nums.some((n) => n > 255n)) return undefined
  if (last >= 256n ** BigInt(5 - parts.length)) return undefined
  let value = 0n
  nums.forEach((n, i) => {
    value |= n << BigInt(24 - 8 * i)
  })
  return Number(value | last)
}

/** Strict dotted-decimal IPv4 as it may close an IPv6 address (RFC 4291 §2.2 form 3). */
function parseDottedQuad(s: string): number | undefined {
  const parts = s.split('.')
  if (parts.length !== 4) return undefined
  let value = 0
  for (const part of parts) {
    if (!/^[0-9]{1,3}$/.test(part)) return undefined
    const n = Number(part)
    if (n > 255) return undefined
    value = value * 256 + n
  }
  return value
}

/**
 * IPv6 (RFC 4291 §2.2), with an optional zone id (`fe80::1%eth0`, or `%25eth0` as RFC 6874
 * writes it inside a URL) that getaddrinfo() accepts and which is dropped here.
 */
function parseIpv6(input: string): bigint | undefined {
  const pct = input.indexOf('%')
  const s = pct >= 0 ? input.slice(0, pct) : input
  if (!s.includes(':')) return undefined
  const halves = s.split('::')
  if (halves.length > 2) return undefined
  const groups: number[][] = []
  for (const [h, half] of halves.entries()) {
    const words: number[] = []
    const fields = half === '' ? [] : half.split(':')
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i] ?? ''
      const isLastField = i === fields.length - 1 && h === halves.length - 1
      if (isLastField && field.includes('.')) {
        const v4 = parseDottedQuad(field)
        if (v4 === undefined) return undefined
        words.push(v4 >>> 16, v4 & 0xffff)
      } else if (/^[0-9a-fA-F]{1,4}$/.test(field)) {
        words.push(parseInt(field, 16))
      } else {
        return undefined
      }
    }
    groups.push(words)
  }
  const head = groups[0] ?? []
  const tail = groups[1] ?? []
  let words: number[]
  if (halves.length === 2) {
    // `::` stands for one or more zero groups.
    const missing = 8 - head.length - tail.length
    if (missing < 1) return undefined
    words = [...head, ...new Array<number>(missing).fill(0), ...tail]
  } else {
    if (head.length !== 8) return undefined
    words = head
  }
  return words.reduce((acc, w) => (acc << 16n) | BigInt(w), 0n)
}

/** Parse any IP literal notation (see {@link parseIpLiteral}) into its numeric value. */
export function parseIp(host: string): ParsedIp | undefined {
  let s = host
  // A URL authority writes IPv6 in brackets (RFC 3986 §3.2.2); accept an IPv4 there too.
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1)
  const v4 = parseIpv4(s)
  if (v4 !== undefined) return { family: 4, value: v4 }
  const v6 = parseIpv6(s)
  if (v6 !== undefined) return { family: 6, value: v6 }
  return undefined
}

function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 0xff).join('.')
}

/** RFC 5952 §4 text: lower-case, no leading zeros, the longest run (≥ 2) of zeros as `::`. */
function formatIpv6(value: bigint): string {
  const words: number[] = []
  for (let shift = 112n; shift >= 0n; shift -= 16n) words.push(Number((value >> shift) & 0xffffn))
  let bestStart = -1
  let bestLen = 1
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && words[j] === 0) j++
    if (j - i > bestLen) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  const hex = words.map((w) => w.toString(16))
  if (bestStart < 0) return hex.join(':')
  const left = hex.slice(0, bestStart).join(':')
  const right = hex.slice(bestStart + bestLen).join(':')
  return `${left}::${right}`
}

/** Canonical text of a parsed address: dotted quad, or RFC 5952 IPv6 without brackets. */
export function formatIp(ip: ParsedIp): string {
  return ip.family === 4 ? formatIpv4(ip.value) : formatIpv6(ip.value)
}

/**
 * The canonical address when `host` is an IP literal in any notation, else `undefined`.
 *
 * IPv4: everything glibc `inet_aton()` accepts (1–4 parts; decimal, octal `0177`, hex
 * `0x7f`; text after whitespace ignored) plus a WHATWG trailing dot. IPv6: RFC 4291 text,
 * with brackets, an embedded dotted quad or a zone id. Returns `127.0.0.1` for
 * `0x7f000001`, `::1` for `[0:0:0:0:0:0:0:1]`, `fe80::1` for `fe80::1%eth0`.
 */
export function parseIpLiteral(host: string): string | undefined {
  const ip = parseIp(host)
  return ip === undefined ? undefined : formatIp(ip)
}

interface Range<V> {
  base: V
  bits: number
  cls: AddressClass
}

function v4Range(cidr: string, cls: AddressClass): Range<number> {
  const [addr = '', bits = ''] = cidr.split('/')
  const base = parseDottedQuad(addr)
  if (base === undefined) throw new Error(`bad built-in IPv4 range ${cidr}`)
  return { base, bits: Number(bits), cls }
}

function v6Range(cidr: string, cls: AddressClass): Range<bigint> {
  const [addr = '', bits = ''] = cidr.split('/')
  const base = parseIpv6(addr)
  if (base === undefined) throw new Error(`bad built-in IPv6 range ${cidr}`)
  return { base, bits: Number(bits), cls }
}

/**
 * Cloud instance metadata services. They hand out credentials of the machine the runner
 * is on, so they are named separately and refused even where their range is not.
 */
const METADATA_V4 = new Set([
  '169.254.169.254', // AWS, GCP, Azure, OCI, DigitalOcean IMDS
  '169.254.170.2', // AWS ECS task metadata and credentials
  '169.254.170.23', // AWS EKS Pod Identity agent
  '168.63.129.16', // Azure WireServer
  '100.100.100.200' // Alibaba Cloud
])
const METADATA_V6 = new Set(['fd00:ec2::254', 'fd00:ec2::23']) // AWS IMDS, EKS Pod Identity

/** IANA IPv4 special-purpose registry (RFC 6890) entries that are not globally reachable. */
const V4_RANGES: Range<number>[] = [
  v4Range('0.0.0.0/8', 'unspecified'), // RFC 1122 §3.2.1.3; Linux delivers 0.0.0.0 locally
  v4Range('10.0.0.0/8', 'private'), // RFC 1918
  v4Range('100.64.0.0/10', 'cgnat'), // RFC 6598 shared address space
  v4Range('127.0.0.0/8', 'loopback'), // RFC 1122 §3.2.1.3
  v4Range('169.254.0.0/16', 'link-local'), // RFC 3927
  v4Range('172.16.0.0/12', 'private'), // RFC 1918
  v4Range('192.0.0.0/24', 'reserved'), // RFC 6890 IETF protocol assignments
  v4Range('192.0.2.0/24', 'reserved'), // RFC 5737 TEST-NET-1
  v4Range('192.88.99.0/24', 'reserved'), // RFC 7526 deprecated 6to4 relay anycast
  v4Range('192.168.0.0/16', 'private'), // RFC 1918
  v4Range('198.18.0.0/15', 'reserved'), // RFC 2544 benchmarking
  v4Range('198.51.100.0/24', 'reserved'), // RFC 5737 TEST-NET-2
  v4Range('203.0.113.0/24', 'reserved'), // RFC 5737 TEST-NET-3
  v4Range('224.0.0.0/4', 'multicast'), // RFC 5771
  v4Range('240.0.0.0/4', 'reserved') // RFC 1112 §4, with 255.255.255.255 broadcast (RFC 919)
]

/** IPv6 special-purpose ranges (RFC 6890 and later) that carry no embedded IPv4. */
const V6_RANGES: Range<bigint>[] = [
  v6Range('64:ff9b:1::/48', 'reserved'), // RFC 8215 local-use NAT64: private behind the gateway
  v6Range('100::/64', 'reserved'), // RFC 6666 discard-only
  v6Range('2001::/23', 'reserved'), // RFC 2928 IETF protocol assignments, incl. Teredo 2001::/32
  v6Range('2001:db8::/32', 'reserved'), // RFC 3849 documentation
  v6Range('3fff::/20', 'reserved'), // RFC 9637 documentation
  v6Range('fc00::/7', 'private'), // RFC 4193 unique local
  v6Range('fe80::/10', 'link-local'), // RFC 4291 §2.5.6
  v6Range('fec0::/10', 'private'), // RFC 3879 deprecated site-local
  v6Range('ff00::/8', 'multicast') // RFC 4291 §2.7
]

function inV4(value: number, r: Range<number>): boolean {
  const shift = 32 - r.bits
  return value >>> shift === r.base >>> shift
}

function inV6(value: bigint, r: Range<bigint>): boolean {
  const shift = BigInt(128 - r.bits)
  return value >> shift === r.base >> shift
}

function classifyV4(value: number): AddressClass {
  if (METADATA_V4.has(formatIpv4(value))) return 'metadata'
  return V4_RANGES.find((r) => inV4(value, r))?.cls ?? 'public'
}

const V6_MAPPED = v6Range('::ffff:0:0/96', 'reserved') // RFC 4291 §2.5.5.2
const V6_COMPAT = v6Range('::/96', 'reserved') // RFC 4291 §2.5.5.1 (deprecated)
const V6_TRANSLATED = v6Range('::ffff:0:0:0/96', 'reserved') // RFC 2765 SIIT
const V6_NAT64 = v6Range('64:ff9b::/96', 'reserved') // RFC 6052 well-known prefix
const V6_6TO4 = v6Range('2002::/16', 'reserved') // RFC 3056: 2002:AABB:CCDD::/48
const V6_GLOBAL_UNICAST = v6Range('2000::/3', 'public') // RFC 4291 §2.4

function classifyV6(value: bigint): AddressClass {
  if (METADATA_V6.has(formatIpv6(value))) return 'metadata'
  if (value === 0n) return 'unspecified'
  if (value === 1n) return 'loopback'
  // Forms that carry an IPv4 address reach that address (the kernel, a translator or a
  // relay unwraps them), so they are as dangerous as the address they carry.
  for (const r of [V6_MAPPED, V6_COMPAT, V6_TRANSLATED, V6_NAT64]) {
    if (inV6(value, r)) return classifyV4(Number(value & 0xffffffffn))
  }
  if (inV6(value, V6_6TO4)) return classifyV4(Number((value >> 80n) & 0xffffffffn))
  const special = V6_RANGES.find((r) => inV6(value, r))
  if (special) return special.cls
  // Only 2000::/3 is allocated for global unicast; the rest of the space is IETF-reserved.
  return inV6(value, V6_GLOBAL_UNICAST) ? 'public' : 'reserved'
}

/**
 * Classify an address given in any notation {@link parseIpLiteral} accepts. Metadata
 * addresses win over the range they sit in; IPv4-mapped, -compatible, SIIT, NAT64
 * (64:ff9b::/96) and 6to4 (2002::/16) addresses take the class of the IPv4 they embed.
 * Anything that is not an address is `reserved`, so a caller that only dials `public`
 * addresses fails closed.
 */
export function classifyAddress(ip: string): AddressClass {
  const parsed = parseIp(ip)
  if (parsed === undefined) return 'reserved'
  return parsed.family === 4 ? classifyV4(parsed.value) : classifyV6(parsed.value)
}
