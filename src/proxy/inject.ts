/**
 * Credential injection: the table providers configure (header rules per host pattern,
 * placeholder substitution, request signers, response transformers) and the proxy reads on
 * every request, plus the list of every secret it knows, in the forms an echo may take, for
 * the scrubbers (scrub.ts).
 */
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
