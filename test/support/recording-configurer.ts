import type {
  ProxyConfigurer,
  RequestSigner,
  ResponseTransformer
} from '../../src/provider/index.js'

/** One call as it was made: the method's name, then its arguments. */
export type RecordedCall = [method: string, ...args: unknown[]]

/** A credential header in force for a host. */
export interface RecordedCredential {
  value: string
  placeholder?: string
}

/**
 * A {@link ProxyConfigurer} for unit tests: records every call in order and keeps the state
 * the calls leave behind, with the rules of the real injection table (`src/proxy/inject.ts`):
 *
 * - credentials per host keyed `grant|header-lowercase`; the same grant and header again
 *   replaces the value (that is how refresh works), another grant adds one;
 * - header names in state are lower-case, as the proxy compares them;
 * - one token substitution and one request signer per host: the last call wins;
 * - hosts are refused the way the real table refuses them (scheme, port, path, user info,
 *   whitespace), so a provider that would crash the proxy daemon fails its unit test too.
 */
export class RecordingConfigurer implements ProxyConfigurer {
  readonly calls: RecordedCall[] = []
  /** host → `grant|header` → header value now in force. */
  readonly current = new Map<string, Map<string, string>>()
  /** host → `grant|header` → the placeholder that selects it (only when one was given). */
  readonly placeholders = new Map<string, Map<string, string>>()
  /** host → headers added to every request, in call order (names lower-case). */
  readonly extraHeaders = new Map<string, Array<{ name: string; value: string }>>()
  /** host → lower-case header names stripped from client requests. */
  readonly removedHeaders = new Map<string, Set<string>>()
  /** host → the placeholder swapped for the real token in paths, headers and bodies. */
  readonly substitutions = new Map<string, { placeholder: string; real: string }>()
  readonly transformers = new Map<string, ResponseTransformer[]>()
  readonly signers = new Map<string, { grant: string; signer: RequestSigner }>()
  /** Raw secrets registered for scrubbing → their replacement (undefined = proxy default). */
  readonly secrets = new Map<string, string | undefined>()

  setCredential(host: string, value: string): void {
    this.calls.push(['setCredential', host, value])
    this.storeCredential(host, 'Authorization', value, '')
  }

  setCredentialHeader(host: string, headerName: string, headerValue: string): void {
    this.calls.push(['setCredentialHeader', host, headerName, headerValue])
    this.storeCredential(host, headerName, headerValue, '')
  }

  setCredentialWithGrant(
    host: string,
    headerName: string,
    headerValue: string,
    grant: string,
    placeholder?: string
  ): void {
    // The placeholder is recorded only when given, so calls without one compare equal to
    // the five-element tuples the older copies of this class recorded.
    this.calls.push(
      placeholder === undefined
        ? ['setCredentialWithGrant', host, headerName, headerValue, grant]
        : ['setCredentialWithGrant', host, headerName, headerValue, grant, placeholder]
    )
    this.storeCredential(host, headerName, headerValue, grant, placeholder)
  }

  addExtraHeader(host: string, name: string, value: string): void {
    this.calls.push(['addExtraHeader', host, name, value])
    const key = hostKey(host)
    const list = this.extraHeaders.get(key) ?? []
    list.push({ name: name.toLowerCase(), value })
    this.extraHeaders.set(key, list)
  }

  removeRequestHeader(host: string, name: string): void {
    this.calls.push(['removeRequestHeader', host, name])
    const key = hostKey(host)
    const set = this.removedHeaders.get(key) ?? new Set<string>()
    set.add(name.toLowerCase())
    this.removedHeaders.set(key, set)
  }

  setTokenSubstitution(host: string, placeholder: string, realToken: string): void {
    this.calls.push(['setTokenSubstitution', host, placeholder, realToken])
    this.substitutions.set(hostKey(host), { placeholder, real: realToken })
  }

  addResponseTransformer(host: string, transformer: ResponseTransformer): void {
    this.calls.push(['addResponseTransformer', host])
    const key = hostKey(host)
    this.transformers.set(key, [...(this.transformers.get(key) ?? []), transformer])
  }

  setRequestSigner(host: string, grant: string, signer: RequestSigner): void {
    this.calls.push(['setRequestSigner', host, grant, signer.name])
    this.signers.set(hostKey(host), { grant, signer })
  }

  addSecret(secret: string, replacement?: string): void {
    this.calls.push(
      replacement === undefined ? ['addSecret', secret] : ['addSecret', secret, replacement]
    )
    this.secrets.set(secret, replacement)
  }

  /** Header values now in force, host by host, keyed `grant|header`. */
  snapshot(): Record<string, Record<string, string>> {
    return Object.fromEntries([...this.current].map(([h, m]) => [h, Object.fromEntries(m)]))
  }

  /** The credential a grant holds for a header on a host, if any. */
  credential(host: string, grant: string, header: string): RecordedCredential | undefined {
    const key = `${grant}|${header.toLowerCase()}`
    const value = this.current.get(hostKey(host))?.get(key)
    if (value === undefined) return undefined
    const placeholder = this.placeholders.get(hostKey(host))?.get(key)
    return placeholder === undefined ? { value } : { value, placeholder }
  }

  /** The calls made with one method, arguments only. */
  callsTo(method: string): unknown[][] {
    return this.calls.filter(([m]) => m === method).map(([, ...args]) => args)
  }

  private storeCredential(
    host: string,
    header: string,
    value: string,
    grant: string,
    placeholder?: string
  ): void {
    const h = hostKey(host)
    const key = `${grant}|${header.toLowerCase()}`
    const values = this.current.get(h) ?? new Map<string, string>()
    values.set(key, value)
    this.current.set(h, values)
    const marks = this.placeholders.get(h) ?? new Map<string, string>()
    // A replacement without a placeholder must not keep the old one alive.
    if (placeholder === undefined) marks.delete(key)
    else marks.set(key, placeholder)
    if (marks.size > 0) this.placeholders.set(h, marks)
    else this.placeholders.delete(h)
  }
}

/** The real table's host rule: a bare lower-cased name or `*.suffix`, never a port or URL. */
function hostKey(host: string): string {
  const h = host.trim().toLowerCase()
  if (!h || /[\s/@:]/.test(h))
    throw new Error(`invalid credential host "${host}": use a bare name or *.suffix`)
  return h
}
