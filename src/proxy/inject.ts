import type { ProxyConfigurer, RequestSigner, ResponseTransformer } from '../provider/index.js'

/** One credential header for a host pattern. */
export interface CredentialEntry {
  header: string
  value: string
  grant: string
  /** The placeholder a client sends to pick this entry when a host has several. */
  placeholder?: string
}

interface HostRules {
  credentials: CredentialEntry[]
  extraHeaders: Array<{ name: string; value: string }>
  removeHeaders: Set<string>
  substitution?: { placeholder: string; real: string }
  transformers: ResponseTransformer[]
}

export type Headers = Record<string, string | string[] | undefined>

/** What injection did to one request; secrets never leave this object except upstream. */
export interface InjectionResult {
  headers: Headers
  path: string
  /** Lower-case header name → grant, for `[injected:<grant>]` in the network log. */
  injected: Map<string, string>
  grants: string[]
  /** Whether the body must be run through `substituteBody` (placeholder → real). */
  substitution?: { placeholder: string; real: string }
  transformers: ResponseTransformer[]
}

/** Host keys are lower-case names or `*.suffix`; ports never appear in them. */
function normalizeKey(host: string): string {
  const h = host.trim().toLowerCase()
  if (!h || /[\s/@:]/.test(h))
    throw new Error(`invalid credential host "${host}": use a bare name or *.suffix`)
  return h
}

/**
 * The proxy's injection table: the `ProxyConfigurer` providers write to, read on every
 * request. Lookups see updates at once, so a refreshed credential applies to new and
 * already-open tunnels alike.
 */
export class InjectionTable implements ProxyConfigurer {
  private readonly exact = new Map<string, HostRules>()
  /** Wildcard rules as [suffix with leading dot, rules], longest suffix first. */
  private wildcards: Array<[string, HostRules]> = []
  /** Every real secret known to the table, with what to show instead when it is echoed. */
  private readonly secrets = new Map<string, string>()
  /** {@link secretList}'s answer until a secret is added. */
  private sortedSecrets: ReadonlyArray<[string, string]> | undefined
  /** Bumped on every change so callers can cache derived data. */
  version = 0
  /** Request signers (aws) by host key, kept apart from header rules: see {@link signerFor}. */
  private readonly signers = new Map<string, { grant: string; signer: RequestSigner }>()

  private rules(host: string): HostRules {
    const key = normalizeKey(host)
    const existing = key.startsWith('*.')
      ? this.wildcards.find(([s]) => s === key.slice(1))?.[1]
      : this.exact.get(key)
    if (existing) return existing
    const created: HostRules = {
      credentials: [],
      extraHeaders: [],
      removeHeaders: new Set(),
      transformers: []
    }
    if (key.startsWith('*.')) {
      this.wildcards.push([key.slice(1), created])
      this.wildcards.sort((a, b) => b[0].length - a[0].length)
    } else {
      this.exact.set(key, created)
    }
    return created
  }

  setCredential(host: string, value: string): void {
    this.setCredentialHeader(host, 'Authorization', value)
  }

  setCredentialHeader(host: string, headerName: string, headerValue: string): void {
    this.setCredentialWithGrant(host, headerName, headerValue, '')
  }

  setCredentialWithGrant(
    host: string,
    headerName: string,
    headerValue: string,
    grant: string,
    placeholder?: string
  ): void {
    const rules = this.rules(host)
    const header = headerName.toLowerCase()
    const entry: CredentialEntry = { header, value: headerValue, grant }
    if (placeholder) entry.placeholder = placeholder
    // Same grant + header is an update (refresh), not a second credential.
    const i = rules.credentials.findIndex((c) => c.grant === grant && c.header === header)
    if (i >= 0) rules.credentials[i] = entry
    else rules.credentials.push(entry)
    this.addSecret(headerValue, placeholder)
    this.version++
  }

  addExtraHeader(host: string, name: string, value: string): void {
    this.rules(host).extraHeaders.push({ name: name.toLowerCase(), value })
    this.version++
  }

  removeRequestHeader(host: string, name: string): void {
    this.rules(host).removeHeaders.add(name.toLowerCase())
    this.version++
  }

  setTokenSubstitution(host: string, placeholder: string, realToken: string): void {
    this.rules(host).substitution = { placeholder, real: realToken }
    this.addSecret(realToken, placeholder)
    this.version++
  }

  addResponseTransformer(host: string, transformer: ResponseTransformer): void {
    this.rules(host).transformers.push(transformer)
    this.version++
  }

  /**
   * Signs requests to host with signer, for grant. One signer per host key: a second call
   * (refresh) replaces the first, so the next request is signed with the new keys.
   */
  setRequestSigner(host: string, grant: string, signer: RequestSigner): void {
    this.signers.set(normalizeKey(host), { grant, signer })
    this.version++
  }

  /**
   * The signer for host: exact name beats `*.suffix`, the longest suffix wins. Looked up
   * apart from {@link lookup}, so an exact-host header rule (e.g. an extra header for one
   * AWS endpoint) does not hide the `*.amazonaws.com` signer.
   */
  signerFor(host: string): { grant: string; signer: RequestSigner } | undefined {
    const h = host.toLowerCase()
    const exact = this.signers.get(h)
    if (exact) return exact
    let best: [number, { grant: string; signer: RequestSigner }] | undefined
    for (const [key, value] of this.signers) {
      if (!key.startsWith('*.')) continue
      const suffix = key.slice(1)
      if (h.endsWith(suffix) && h.length > suffix.length && (!best || suffix.length > best[0]))
        best = [suffix.length, value]
    }
    return best?.[1]
  }

  /**
   * Registers a raw secret (e.g. the token inside a Basic header) so it is scrubbed from
   * responses too. Values shorter than 8 characters are ignored: scrubbing them would
   * mangle ordinary text and they are not credentials.
   */
  addSecret(secret: string, replacement?: string): void {
    if (secret.length < 8) return
    // Without a replacement, a secret already known keeps the one it has: registering a
    // grant's raw token after its provider set a placeholder must not downgrade echoes of
    // the key from the placeholder to `airlock-redacted`.
    const set = (s: string, r: string | undefined): void => {
      const replacement = r ?? this.secrets.get(s) ?? 'airlock-redacted'
      this.secrets.set(s, replacement)
      // An upstream may hand the value back encoded (a redirect's query, a JSON body that
      // escapes `/`): a Basic value's base64 has `+`, `/`, `=`, and a header value a space.
      // Each encoded form is a secret too, replaced by the same encoding of the replacement.
      for (const encode of ENCODINGS) {
        const form = encode(s)
        if (form !== s && form.length >= 8) this.secrets.set(form, encode(replacement))
      }
      this.sortedSecrets = undefined
    }
    // `Bearer x` / `Basic x`: the bare token too and, for Basic, the decoded password; each
    // echo is replaced by the same form of the placeholder, so clients still parse it.
    const m = /^(Bearer|Basic|token)\s+(\S+)$/i.exec(secret)
    if (!m?.[2] || m[2].length < 8) return set(secret, replacement)
    const scheme = m[1]!
    if (scheme.toLowerCase() !== 'basic') {
      set(secret, replacement && `${scheme} ${replacement}`)
      set(m[2], replacement)
      return
    }
    const decoded = Buffer.from(m[2], 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    const password = decoded.slice(colon + 1)
    const fake =
      replacement && colon >= 0
        ? Buffer.from(`${decoded.slice(0, colon)}:${replacement}`).toString('base64')
        : undefined
    set(secret, fake && `${scheme} ${fake}`)
    set(m[2], fake)
    // The same base64 without its padding (and in the URL alphabet) still decodes to the
    // token: an upstream that re-encodes the value (base64url, JWT-style) echoes it so.
    const bare = m[2].replace(/=+$/, '')
    const url = bare.replace(/\+/g, '-').replace(/\//g, '_')
    const fakeBare = fake?.replace(/=+$/, '')
    if (bare !== m[2]) set(bare, fakeBare)
    if (url !== bare) set(url, fakeBare?.replace(/\+/g, '-').replace(/\//g, '_'))
    if (colon >= 0 && password.length >= 8) set(password, replacement)
  }

  /** All real secrets and their replacements, longest first (so a prefix never wins). */
  secretList(): ReadonlyArray<[string, string]> {
    // Read on every request and response (scrubbing); it only changes when a grant does.
    this.sortedSecrets ??= [...this.secrets.entries()].sort((a, b) => b[0].length - a[0].length)
    return this.sortedSecrets
  }

  /** Rules for host: exact name beats `*.suffix`; among suffixes the longest wins. */
  lookup(host: string): HostRules | undefined {
    const h = host.toLowerCase()
    const exact = this.exact.get(h)
    if (exact) return exact
    for (const [suffix, rules] of this.wildcards)
      if (h.endsWith(suffix) && h.length > suffix.length) return rules
    return undefined
  }

  /** Hosts and patterns with credentials, for the allowlist. */
  hosts(): string[] {
    return [...this.exact.keys(), ...this.wildcards.map(([s]) => `*${s}`)]
  }

  /**
   * Applies the host's rules to a request (headers are copied, never mutated). Order:
   * credentials, extra headers, removals (except what was just injected), substitution.
   */
  apply(host: string, path: string, clientHeaders: Headers): InjectionResult {
    const headers: Headers = { ...clientHeaders }
    const result: InjectionResult = {
      headers,
      path,
      injected: new Map(),
      grants: [],
      transformers: []
    }
    const rules = this.lookup(host)
    if (!rules) return result
    for (const [header, entry] of chooseCredentials(rules.credentials, clientHeaders)) {
      headers[header] = entry.value
      result.injected.set(header, entry.grant)
      if (!result.grants.includes(entry.grant)) result.grants.push(entry.grant)
    }
    for (const { name, value } of rules.extraHeaders) {
      const existing = headers[name]
      headers[name] = existing === undefined ? value : `${String(existing)},${value}`
    }
    for (const name of rules.removeHeaders) if (!result.injected.has(name)) delete headers[name]
    const sub = rules.substitution
    if (sub) {
      result.path = path.split(sub.placeholder).join(sub.real)
      for (const [name, value] of Object.entries(headers)) {
        if (typeof value === 'string' && value.includes(sub.placeholder))
          headers[name] = value.split(sub.placeholder).join(sub.real)
      }
      result.substitution = sub
    }
    result.transformers = rules.transformers
    return result
  }
}

/**
 * One entry per header name. With several entries for a name, the one whose placeholder
 * the client sent wins; otherwise the first registered.
 */
function chooseCredentials(
  entries: CredentialEntry[],
  clientHeaders: Headers
): Map<string, CredentialEntry> {
  const chosen = new Map<string, CredentialEntry>()
  for (const entry of entries) {
    const sent = clientHeaders[entry.header]
    const sentValue = Array.isArray(sent) ? sent.join(',') : (sent ?? '')
    const current = chosen.get(entry.header)
    if (!current) chosen.set(entry.header, entry)
    else if (
      entry.placeholder &&
      sentValue.includes(entry.placeholder) &&
      !(current.placeholder && sentValue.includes(current.placeholder))
    ) {
      chosen.set(entry.header, entry)
    }
  }
  return chosen
}

/** Encodings an echoed secret commonly arrives in (URL query, form, JSON with `\/`). */
const ENCODINGS: ReadonlyArray<(s: string) => string> = [
  (s) => encodeURIComponent(s),
  (s) => encodeURIComponent(s).replace(/%20/g, '+'),
  (s) => encodeURIComponent(s).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
  (s) => s.replace(/\//g, '\\/')
]

/** Lower-case forms per secret list, for header names (parsers lower-case them). */
const lowerOf = new WeakMap<ReadonlyArray<[string, string]>, string[]>()

/**
 * Whether a header name holds a secret. Names are compared in lower case: the client's
 * parser may fold them, and a name cannot carry a replacement (a placeholder may hold
 * characters a name may not), so such a header is dropped, not rewritten.
 */
export function nameHoldsSecret(name: string, secrets: ReadonlyArray<[string, string]>): boolean {
  if (name.length < 8) return false
  let lower = lowerOf.get(secrets)
  if (!lower) {
    lower = secrets.map(([s]) => s.toLowerCase())
    lowerOf.set(secrets, lower)
  }
  const n = name.toLowerCase()
  return lower.some((s) => n.includes(s))
}

/** Replaces every occurrence of each secret in text (used on header values and small bodies). */
export function scrubText(text: string, secrets: ReadonlyArray<[string, string]>): string {
  let out = text
  for (const [secret, replacement] of secrets)
    if (out.includes(secret)) out = out.split(secret).join(replacement)
  return out
}

type ByteSecrets = ReadonlyArray<readonly [Buffer, Buffer]>

/** Byte forms per secret list: secretList() returns one array until a secret changes. */
const bytesOf = new WeakMap<ReadonlyArray<[string, string]>, ByteSecrets>()

function toBytes(secrets: ReadonlyArray<[string, string]>): ByteSecrets {
  let bytes = bytesOf.get(secrets)
  if (!bytes) {
    bytes = secrets.map(([s, r]) => [Buffer.from(s), Buffer.from(r)] as const)
    bytesOf.set(secrets, bytes)
  }
  return bytes
}

/**
 * Replaces the secrets that start before `limit` in buf, leftmost first and, where two start
 * at the same place, the longest: the order a reader meets them. Returns the pieces to emit
 * and where the unprocessed rest of buf begins (a match may end past limit).
 */
function replaceBefore(
  buf: Buffer,
  secrets: ByteSecrets,
  limit: number
): { parts: Buffer[]; from: number } {
  const parts: Buffer[] = []
  let from = 0
  for (;;) {
    let at = -1
    let hit: readonly [Buffer, Buffer] | undefined
    for (const pair of secrets) {
      const p = buf.indexOf(pair[0], from)
      if (p < 0 || p >= limit) continue
      if (at < 0 || p < at || (p === at && pair[0].length > hit![0].length)) {
        at = p
        hit = pair
      }
    }
    if (!hit) return { parts, from }
    parts.push(buf.subarray(from, at), hit[1])
    from = at + hit[0].length
  }
}

/** Replaces every secret in a whole body; returns buf itself when none occurs (no copy). */
export function scrubBuffer(buf: Buffer, secrets: ReadonlyArray<[string, string]>): Buffer {
  if (!secrets.some(([s]) => buf.indexOf(s) >= 0)) return buf
  const { parts, from } = replaceBefore(buf, toBytes(secrets), buf.length)
  parts.push(buf.subarray(from))
  return Buffer.concat(parts)
}

/**
 * A streaming scrubber: replaces secrets in a byte stream chunk by chunk. It holds back
 * only a tail that could be the start of a secret split across chunks — never more — so
 * SSE events (which end in `\n\n`, the start of no secret) pass through at once. Where one
 * secret begins another, the held tail waits for the longer one, so no part of it leaks
 * as the shorter one's replacement.
 */
export class StreamScrubber {
  private pending = Buffer.alloc(0)
  private readonly secrets: ByteSecrets

  constructor(secrets: ReadonlyArray<[string, string]>) {
    this.secrets = toBytes(secrets)
  }

  get active(): boolean {
    return this.secrets.length > 0
  }

  push(chunk: Buffer): Buffer {
    const buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk
    const parts: Buffer[] = []
    let rest = buf
    for (;;) {
      // From `hold` on, rest could still become a secret: only matches before it are final.
      const hold = rest.length - this.partialTail(rest)
      const done = replaceBefore(rest, this.secrets, hold)
      parts.push(...done.parts)
      if (done.from <= hold) {
        parts.push(rest.subarray(done.from, hold))
        this.pending = hold < rest.length ? Buffer.from(rest.subarray(hold)) : Buffer.alloc(0)
        break
      }
      // A match ran past hold and consumed the start of that tail: look again at what is left.
      rest = rest.subarray(done.from)
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts)
  }

  /** The held tail, scrubbed: at the end of the stream it can only be what it is. */
  flush(): Buffer {
    const rest = this.pending
    this.pending = Buffer.alloc(0)
    if (rest.length === 0) return rest
    const { parts, from } = replaceBefore(rest, this.secrets, rest.length)
    parts.push(rest.subarray(from))
    return Buffer.concat(parts)
  }

  /** Length of the longest suffix of buf that is a proper prefix of some secret. */
  private partialTail(buf: Buffer): number {
    let longest = 0
    for (const [secret] of this.secrets) {
      // Only positions holding the secret's first byte can start a partial match.
      const first = secret[0]!
      for (let i = Math.max(0, buf.length - secret.length + 1); i < buf.length; i++) {
        const n = buf.length - i
        if (n <= longest) break
        if (buf[i] === first && buf.compare(secret, 0, n, i, buf.length) === 0) {
          longest = n
          break
        }
      }
    }
    return longest
  }
}
