import { createHash, generateKeyPair, randomFillSync, sign, type KeyObject } from 'node:crypto'
import { isIP } from 'node:net'
import { createSecureContext, type SecureContext } from 'node:tls'
import { promisify } from 'node:util'
import { AirlockError } from '../errors.js'
import { parseIp } from './ip.js'

/** A CA could not be created or a leaf certificate could not be minted. */
export class TlsError extends AirlockError {}

/** Options of {@link CertificateAuthority.create}. */
export interface CertificateAuthorityOptions {
  /** How long the CA (and so every leaf) stays valid. Default 6 h, clamped to 24 h. */
  validityMs?: number
  /** Subject CN of the CA, what users see in a certificate viewer. */
  commonName?: string
  /** How many leaf certificates to keep; the least recently used is dropped above it. */
  leafCacheSize?: number
  /** Called with the normalised host whose leaf was dropped from the cache. Must not throw. */
  onEvict?: (host: string) => void
}

/** Counters of a {@link CertificateAuthority}, for the job summary and benchmarks. */
export interface CertificateAuthorityStats {
  /** Leaf certificates signed so far. */
  minted: number
  /** Leaf certificates currently in the cache (including mints still in flight). */
  cached: number
  /** Leaf certificates dropped from the cache by the LRU bound. */
  evicted: number
}

const HOUR_MS = 60 * 60 * 1000
const DEFAULT_VALIDITY_MS = 6 * HOUR_MS
const MAX_VALIDITY_MS = 24 * HOUR_MS
const MIN_VALIDITY_MS = 60 * 1000
/** The CA is back-dated so a container whose clock runs slightly behind still accepts it. */
const CLOCK_SKEW_MS = 5 * 60 * 1000
const DEFAULT_COMMON_NAME = 'Airlock run CA'
const DEFAULT_LEAF_CACHE_SIZE = 1000
/** RFC 5280 Appendix A: ub-common-name is 64 characters. */
const MAX_COMMON_NAME = 64

const generateEcKeyPair = promisify(generateKeyPair)
/** ECDSA P-256 (prime256v1); signatures are ecdsa-with-SHA256, DER-encoded as X.509 wants. */
const newP256KeyPair = (): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> =>
  generateEcKeyPair('ec', { namedCurve: 'prime256v1' })
const signP256 = (key: KeyObject, tbs: Buffer): Buffer =>
  sign('sha256', tbs, { key, dsaEncoding: 'der' })

/** A host as it is put in a certificate and used as the cache key. */
interface NormalisedHost {
  kind: 'dns' | 'ip'
  /** Lower-cased DNS name without trailing dot, or the canonical text of an IP literal. */
  name: string
}

interface Leaf {
  certChainPem: string
  context: SecureContext
}

/** A run's private certificate authority: signs leaf certificates for intercepted hosts. */
export class CertificateAuthority {
  /** PEM of the CA certificate only: the one file the container is told to trust. */
  readonly certPem: string
  /** End of validity of the CA and of every leaf it signs. */
  readonly notAfter: Date

  // Private fields (not `private`) so the keys never show up in util.inspect or JSON.
  readonly #caKey: KeyObject
  readonly #leafKeyPem: string
  readonly #template: LeafTemplate
  readonly #cacheSize: number
  readonly #onEvict: ((host: string) => void) | undefined
  /** Insertion order of a Map is its recency order: first key = least recently used. */
  readonly #cache = new Map<string, Promise<Leaf>>()
  #minted = 0
  #evicted = 0

  private constructor(init: {
    caKey: KeyObject
    caCertPem: string
    notAfter: Date
    leafKeyPem: string
    template: LeafTemplate
    cacheSize: number
    onEvict: ((host: string) => void) | undefined
  }) {
    this.#caKey = init.caKey
    this.certPem = init.caCertPem
    this.notAfter = init.notAfter
    this.#leafKeyPem = init.leafKeyPem
    this.#template = init.template
    this.#cacheSize = init.cacheSize
    this.#onEvict = init.onEvict
  }

  /**
   * Generate a fresh CA (ECDSA P-256, SHA-256) valid from five minutes ago for at most
   * 24 hours, plus the single key pair every leaf certificate will share.
   */
  static async create(opts: CertificateAuthorityOptions = {}): Promise<CertificateAuthority> {
    const validityMs = Math.min(opts.validityMs ?? DEFAULT_VALIDITY_MS, MAX_VALIDITY_MS)
    if (!Number.isFinite(validityMs) || validityMs < MIN_VALIDITY_MS) {
      throw new TlsError(
        'AIRLOCK_BAD_CA_OPTIONS',
        `CA validity must be at least ${MIN_VALIDITY_MS} ms, got ${String(opts.validityMs)}`
      )
    }
    const commonName = opts.commonName ?? DEFAULT_COMMON_NAME
    if (commonName.length === 0 || commonName.length > MAX_COMMON_NAME) {
      throw new TlsError(
        'AIRLOCK_BAD_CA_OPTIONS',
        `CA common name must be 1 to ${MAX_COMMON_NAME} characters`
      )
    }
    const cacheSize = opts.leafCacheSize ?? DEFAULT_LEAF_CACHE_SIZE
    if (!Number.isSafeInteger(cacheSize) || cacheSize < 1) {
      throw new TlsError(
        'AIRLOCK_BAD_CA_OPTIONS',
        `leaf cache size must be a positive integer, got ${String(opts.leafCacheSize)}`
      )
    }

    // X.509 times have one-second resolution (RFC 5280 §4.1.2.5); rounding here keeps
    // `notAfter` equal to what is actually encoded. The whole span, skew included, stays
    // within 24 h so no certificate of a run outlives a day.
    const now = Date.now()
    const notBefore = new Date(floorToSecond(now - CLOCK_SKEW_MS))
    const notAfter = new Date(
      Math.min(floorToSecond(now + validityMs), notBefore.getTime() + MAX_VALIDITY_MS)
    )

    // The CA's private key is a KeyObject held in a private field: nothing prints it
    // (util.inspect and JSON show no key material) and no code path exports it. It is
    // signed with synchronously: a WebCrypto key signs on the thread pool, and waiting for
    // that hop was most of what a new host cost (0.2 ms of call plus 0.7 ms of wait,
    // against 0.05 ms for the signature itself).
    const [caKeys, leafKeys] = await Promise.all([newP256KeyPair(), newP256KeyPair()])
    const caSpki = caKeys.publicKey.export({ type: 'spki', format: 'der' })
    // One leaf key for every host: P-256 keygen is the expensive part of minting, and
    // the key never leaves the proxy process, so sharing it costs no isolation.
    const leafSpki = leafKeys.publicKey.export({ type: 'spki', format: 'der' })
    const leafKeyPem = leafKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string

    // The CA is encoded here as the leaves are (no certificate library: DER is a few
    // tag-length-values, and a library with its ASN.1 schemas was most of the proxy's start).
    const caKeyId = keyIdentifier(caSpki)
    const name = der(0x30, der(0x31, der(0x30, OID_CN, der(0x0c, Buffer.from(commonName)))))
    const validity = der(0x30, derTime(notBefore), derTime(notAfter))
    const caTbs = der(
      0x30,
      VERSION_3,
      der(0x02, randomSerial()),
      ECDSA_SHA256,
      name,
      validity,
      name,
      caSpki,
      der(
        0xa3,
        der(
          0x30,
          // pathLen 0: this CA may sign leaves only, never another CA (RFC 5280 §4.2.1.9).
          extension(OID_BASIC_CONSTRAINTS, true, der(0x30, BOOLEAN_TRUE, der(0x02, ZERO))),
          // keyCertSign | cRLSign: bits 5 and 6, one unused bit.
          extension(OID_KEY_USAGE, true, der(0x03, Buffer.from([0x01, 0x06]))),
          extension(OID_SUBJECT_KEY_ID, false, der(0x04, caKeyId))
        )
      )
    )
    const caSignature = signP256(caKeys.privateKey, caTbs)
    const caDer = der(0x30, caTbs, ECDSA_SHA256, der(0x03, Buffer.from([0]), caSignature))

    // Everything of a leaf but its serial, subject and SAN is the same for every host: it is
    // encoded once here, so a mint is a few hundred bytes of DER and one signature.
    const template: LeafTemplate = {
      // Leaves share the CA's window (its very encoding) so none is ever valid when the CA is not.
      issuer: name,
      validity,
      spki: leafSpki,
      extensions: Buffer.concat([
        // Not a CA (cA FALSE is the default, so DER leaves the SEQUENCE empty).
        extension(OID_BASIC_CONSTRAINTS, true, der(0x30)),
        // digitalSignature: bit 0, seven unused bits.
        extension(OID_KEY_USAGE, true, der(0x03, Buffer.from([0x07, 0x80]))),
        extension(OID_EXT_KEY_USAGE, false, der(0x30, OID_SERVER_AUTH)),
        extension(OID_AUTHORITY_KEY_ID, false, der(0x30, der(0x80, caKeyId))),
        extension(OID_SUBJECT_KEY_ID, false, der(0x04, keyIdentifier(leafSpki)))
      ])
    }

    return new CertificateAuthority({
      caKey: caKeys.privateKey,
      caCertPem: pem('CERTIFICATE', caDer),
      notAfter,
      leafKeyPem,
      template,
      cacheSize,
      onEvict: opts.onEvict
    })
  }

  /**
   * A secure context for `host` (DNS name or IP literal), minted once and cached
   * (bounded LRU); concurrent calls for the same host share one mint.
   * Rejects with `AIRLOCK_BAD_SNI` when `host` is empty or not a valid name.
   */
  async secureContext(host: string): Promise<SecureContext> {
    return (await this.#leaf(host)).context
  }

  /** Why a certificate cannot name `host` (not a DNS name or IP literal), or undefined. */
  refusal(host: string): string | undefined {
    try {
      normaliseHost(host)
      return undefined
    } catch (err) {
      return (err as Error).message
    }
  }

  /** For tests and benchmarks: PEM of the leaf for `host` (leaf then CA) and of its key. */
  async leafPem(host: string): Promise<{ certChainPem: string; keyPem: string }> {
    const leaf = await this.#leaf(host)
    return { certChainPem: leaf.certChainPem, keyPem: this.#leafKeyPem }
  }

  /** A snapshot of the mint/cache counters. */
  get stats(): CertificateAuthorityStats {
    return { minted: this.#minted, cached: this.#cache.size, evicted: this.#evicted }
  }

  // Async so a bad host becomes a rejection; everything up to the return runs
  // synchronously, which is what makes the cache lookup and insert race-free.
  async #leaf(host: string): Promise<Leaf> {
    const normalised = normaliseHost(host)
    const key = `${normalised.kind}:${normalised.name}`
    const hit = this.#cache.get(key)
    if (hit) {
      // Re-insert to mark it most recently used.
      this.#cache.delete(key)
      this.#cache.set(key, hit)
      return hit
    }
    // The promise is cached before it settles so parallel handshakes for one host share
    // one mint; a failed mint is dropped so the next handshake can retry.
    const pending = this.#mint(normalised)
    this.#cache.set(key, pending)
    pending.catch(() => {
      if (this.#cache.get(key) === pending) this.#cache.delete(key)
    })
    this.#evictOverflow()
    return pending
  }

  #evictOverflow(): void {
    while (this.#cache.size > this.#cacheSize) {
      const oldest = this.#cache.keys().next()
      if (oldest.done) return
      this.#cache.delete(oldest.value)
      this.#evicted++
      try {
        this.#onEvict?.(oldest.value.slice(oldest.value.indexOf(':') + 1))
      } catch {
        // The hook is for metrics; a faulty one must not fail the handshake that caused
        // the eviction.
      }
    }
  }

  async #mint(host: NormalisedHost): Promise<Leaf> {
    // A mint is ~0.3-0.9 ms of synchronous work (the signature, then OpenSSL's context);
    // it waits for the loop's check phase so that what the caller does right after asking
    // goes first: the proxy answers CONNECT (the client then builds its TLS hello while
    // this runs), and a DNS answer already in hand is not held up behind it.
    await new Promise<void>((resolve) => setImmediate(resolve))
    // RFC 5280 §4.2.1.6: with an empty subject the SAN extension must be critical. Names
    // longer than ub-common-name cannot go in the CN, so they get an empty subject.
    const useCn = host.kind === 'dns' && host.name.length <= MAX_COMMON_NAME
    const t = this.#template
    const tbs = der(
      0x30,
      VERSION_3,
      der(0x02, randomSerial()),
      ECDSA_SHA256,
      t.issuer,
      t.validity,
      useCn
        ? der(0x30, der(0x31, der(0x30, OID_CN, der(0x0c, Buffer.from(host.name)))))
        : der(0x30),
      t.spki,
      der(0xa3, der(0x30, subjectAltName(host, !useCn), t.extensions))
    )
    const cert = der(
      0x30,
      tbs,
      ECDSA_SHA256,
      der(0x03, Buffer.from([0]), signP256(this.#caKey, tbs))
    )
    // The chain carries the CA too: Python's ssl and some other clients want the issuer
    // sent even when they already trust it.
    const certChainPem = pem('CERTIFICATE', cert) + this.certPem
    const context = createSecureContext({
      key: this.#leafKeyPem,
      cert: certChainPem,
      minVersion: 'TLSv1.2'
    })
    this.#minted++
    return { certChainPem, context }
  }
}

function floorToSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000
}

/**
 * 16 random bytes, top bit cleared (a positive INTEGER, RFC 5280 §4.1.2.2 allows at most 20
 * octets) and second bit set so DER needs no leading zero octet.
 */
function randomSerial(): Buffer {
  const bytes = randomFillSync(Buffer.alloc(16))
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40
  return bytes
}

/** What every leaf of a CA shares, DER-encoded once: issuer, validity, key, extensions. */
interface LeafTemplate {
  issuer: Buffer
  validity: Buffer
  spki: Buffer
  /** The encoded Extension SEQUENCEs after the SAN. */
  extensions: Buffer
}

/** `[0] EXPLICIT INTEGER 2`: an X.509 v3 certificate. */
const VERSION_3 = Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02])
/** AlgorithmIdentifier ecdsa-with-SHA256 (1.2.840.10045.4.3.2), no parameters (RFC 5758). */
const ECDSA_SHA256 = Buffer.from('300a06082a8648ce3d040302', 'hex')
/** OID 2.5.4.3 (commonName). */
const OID_CN = Buffer.from('0603550403', 'hex')
/** OID 2.5.29.17 (subjectAltName). */
const OID_SAN = Buffer.from('0603551d11', 'hex')
const BOOLEAN_TRUE = Buffer.from([0x01, 0x01, 0xff])
const ZERO = Buffer.from([0])
/** OIDs 2.5.29.19, .15, .37, .35, .14 and 1.3.6.1.5.5.7.3.1 (RFC 5280 §4.2.1). */
const OID_BASIC_CONSTRAINTS = Buffer.from('0603551d13', 'hex')
const OID_KEY_USAGE = Buffer.from('0603551d0f', 'hex')
const OID_EXT_KEY_USAGE = Buffer.from('0603551d25', 'hex')
const OID_AUTHORITY_KEY_ID = Buffer.from('0603551d23', 'hex')
const OID_SUBJECT_KEY_ID = Buffer.from('0603551d0e', 'hex')
const OID_SERVER_AUTH = Buffer.from('06082b06010505070301', 'hex')

/** One Extension: `SEQUENCE { extnID, critical (only when TRUE: DER), OCTET STRING value }`. */
function extension(oid: Buffer, critical: boolean, value: Buffer): Buffer {
  return der(0x30, oid, ...(critical ? [BOOLEAN_TRUE] : []), der(0x04, value))
}

/**
 * A key identifier: the SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2, method 1), the
 * BIT STRING of the SubjectPublicKeyInfo without its unused-bits octet.
 */
function keyIdentifier(spki: Buffer): Buffer {
  const bits = derChildren(spki)[1]!
  const header = bits[1]! < 0x80 ? 2 : 2 + (bits[1]! & 0x7f)
  return createHash('sha1')
    .update(bits.subarray(header + 1))
    .digest()
}

/** UTCTime up to 2049, GeneralizedTime after (RFC 5280 §4.1.2.5), always in seconds, `Z`. */
function derTime(date: Date): Buffer {
  const iso = date.toISOString()
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '')
  const year = date.getUTCFullYear()
  return year < 2050
    ? der(0x17, Buffer.from(`${digits.slice(2)}Z`, 'ascii'))
    : der(0x18, Buffer.from(`${digits}Z`, 'ascii'))
}

/** PEM text of one DER value: base64 in lines of 64, ending in a newline. */
function pem(label: string, body: Buffer): string {
  const lines = body.toString('base64').match(/.{1,64}/g) ?? []
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`
}

/** One DER TLV: tag, definite length, the concatenated contents. */
function der(tag: number, ...content: Buffer[]): Buffer {
  const body = content.length === 1 ? content[0]! : Buffer.concat(content)
  const n = body.length
  const head =
    n < 0x80
      ? [tag, n]
      : n < 0x100
        ? [tag, 0x81, n]
        : n < 0x10000
          ? [tag, 0x82, n >> 8, n & 0xff]
          : [tag, 0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]
  return Buffer.concat([Buffer.from(head), body])
}

/** The TLVs directly inside a constructed DER value (each whole, header included). */
function derChildren(tlv: Buffer): Buffer[] {
  const out: Buffer[] = []
  const contentAt = (at: number): [number, number] => {
    const first = tlv[at + 1]!
    if (first < 0x80) return [at + 2, first]
    let len = 0
    for (let i = 0; i < (first & 0x7f); i++) len = len * 256 + tlv[at + 2 + i]!
    return [at + 2 + (first & 0x7f), len]
  }
  const [start, length] = contentAt(0)
  for (let at = start; at < start + length;) {
    const [from, len] = contentAt(at)
    out.push(tlv.subarray(at, from + len))
    at = from + len
  }
  return out
}

/** The subjectAltName extension for one host: a dNSName or an iPAddress. */
function subjectAltName(host: NormalisedHost, critical: boolean): Buffer {
  let name: Buffer
  if (host.kind === 'dns') name = der(0x82, Buffer.from(host.name, 'ascii'))
  else {
    const ip = parseIp(host.name)
    if (!ip) throw new TlsError('AIRLOCK_BAD_SNI', `invalid TLS host: ${host.name}`)
    const bytes =
      ip.family === 4
        ? Buffer.from([
            ip.value >>> 24,
            (ip.value >>> 16) & 0xff,
            (ip.value >>> 8) & 0xff,
            ip.value & 0xff
          ])
        : Buffer.from(ip.value.toString(16).padStart(32, '0'), 'hex')
    name = der(0x87, bytes)
  }
  return der(0x30, OID_SAN, ...(critical ? [BOOLEAN_TRUE] : []), der(0x04, der(0x30, name)))
}

/** Letters, digits, hyphen; underscore too, since it appears in real host names. */
const LABEL = /^[a-z0-9_-]{1,63}$/

/**
 * Validate a TLS server name (SNI, RFC 6066 §3) or CONNECT host and bring it to the form
 * used in the certificate: DNS names are case-insensitive (RFC 4343) and the trailing
 * root dot is not part of a SAN; IPv6 literals may arrive in brackets (RFC 3986 §3.2.2).
 */
function normaliseHost(host: string): NormalisedHost {
  const bad = (why: string): TlsError =>
    new TlsError(
      'AIRLOCK_BAD_SNI',
      `invalid TLS host ${JSON.stringify(host.slice(0, 100))}: ${why}`
    )
  if (typeof host !== 'string' || host.length === 0) {
    throw new TlsError('AIRLOCK_BAD_SNI', 'invalid TLS host: empty')
  }
  let name = host
  if (name.startsWith('[') && name.endsWith(']')) name = name.slice(1, -1)
  if (isIP(name) === 4) return { kind: 'ip', name }
  if (name.includes(':')) {
    // Zone identifiers (fe80::1%eth0) have no meaning in a certificate.
    if (isIP(name) !== 6 || name.includes('%')) throw bad('not a valid IP address')
    // The WHATWG URL parser yields the canonical RFC 5952 text, which also rewrites an
    // embedded IPv4 tail (::ffff:1.2.3.4) into hex groups the ASN.1 encoder understands.
    return { kind: 'ip', name: new URL(`http://[${name}]/`).hostname.slice(1, -1) }
  }
  name = name.toLowerCase()
  if (name.endsWith('.')) name = name.slice(0, -1)
  if (name.length === 0 || name.length > 253) throw bad('length must be 1 to 253 characters')
  for (const label of name.split('.')) {
    if (!LABEL.test(label)) throw bad('contains characters or labels not valid in a DNS name')
  }
  return { kind: 'dns', name }
}
