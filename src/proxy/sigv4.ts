/**
 * AWS Signature V4 for the aws grant: the container signs with placeholder keys; the proxy
 * checks that signature, then signs the request again with the real STS keys over the same
 * headers; what it cannot re-sign (presigned URLs, streaming-signed payloads) is refused.
 */
import { timingSafeEqual } from 'node:crypto'
import type { SignatureV4 } from '@smithy/signature-v4'
import type { RequestSigner, SignableRequest, SignOutcome } from '../provider/index.js'
import { AirlockError } from '../errors.js'

/** The only algorithm re-signed: HMAC SigV4 (SigV4a's ECDSA keys cannot be swapped here). */
export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256'

/** Bodies hashed for signing are buffered; larger ones must carry `x-amz-content-sha256`. */
export const SIGV4_MAX_BODY_BYTES = 5 * 1024 * 1024

/** `x-amz-content-sha256` of an aws-chunked body with unsigned chunks and trailer. */
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER'

/** AWS keys: the container's placeholders or the real STS session credentials. */
export interface AwsKeys {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

/** The parts of `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`. */
export interface SigV4Authorization {
  accessKeyId: string
  /** `YYYYMMDD` from the credential scope. */
  date: string
  region: string
  service: string
  /** Lower-case header names, as the client listed them. */
  signedHeaders: string[]
  signature: string
}

/** A request the proxy will not re-sign; `message` says why and what to do instead. */
export class SigV4RefusedError extends AirlockError {
  constructor(message: string) {
    super('AIRLOCK_SIGV4_REFUSED', message)
  }
}

type Headers = SignableRequest['headers']
type SmithyRequest = Parameters<SignatureV4['sign']>[0]

/**
 * The SDK's signer, loaded at the first signature: only runs with the aws grant sign, and
 * evaluating it was a tenth of the proxy process's start.
 */
let smithy:
  Promise<[typeof import('@smithy/signature-v4'), typeof import('@smithy/hash-node')]> | undefined
function loadSmithy(): NonNullable<typeof smithy> {
  smithy ??= Promise.all([import('@smithy/signature-v4'), import('@smithy/hash-node')])
  return smithy
}

/**
 * Headers the proxy never sends upstream (hop-by-hop, RFC 9110 §7.6.1, and `Expect`, which
 * this hop answers): the client may have signed them, the upstream never sees them, so the
 * new signature leaves them out.
 */
const NOT_FORWARDED = new Set([
  'connection',
  'expect',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade'
])

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v.join(',') : v
}

/** Parses a SigV4 `Authorization` value; anything else is refused with the reason. */
export function parseAuthorization(value: string): SigV4Authorization {
  const trimmed = value.trim()
  const space = trimmed.indexOf(' ')
  const algorithm = space < 0 ? trimmed : trimmed.slice(0, space)
  if (algorithm !== SIGV4_ALGORITHM)
    throw new SigV4RefusedError(
      `only ${SIGV4_ALGORITHM} signatures can be re-signed; this request uses "${algorithm}"`
    )
  const fields = new Map<string, string>()
  for (const part of trimmed.slice(space + 1).split(',')) {
    const eq = part.indexOf('=')
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim())
  }
  const scope = (fields.get('Credential') ?? '').split('/')
  const signedHeaders = (fields.get('SignedHeaders') ?? '').split(';').filter((h) => h !== '')
  const signature = fields.get('Signature') ?? ''
  const [accessKeyId, date, region, service, terminator] = scope
  if (
    scope.length !== 5 ||
    !accessKeyId ||
    !/^\d{8}$/.test(date ?? '') ||
    !region ||
    !service ||
    terminator !== 'aws4_request' ||
    signedHeaders.length === 0 ||
    !/^[0-9a-f]{64}$/.test(signature)
  )
    throw new SigV4RefusedError(
      'malformed AWS4-HMAC-SHA256 Authorization header (needs Credential=AKID/date/region/service/aws4_request, SignedHeaders and Signature)'
    )
  return {
    accessKeyId,
    date: date!,
    region,
    service,
    signedHeaders: signedHeaders.map((h) => h.toLowerCase()),
    signature
  }
}

/** The query string's parameters, percent-decoded (SigV4 canonicalisation re-encodes them). */
function parseQuery(query: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const pair of query.split('&')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    const key = safeDecode(eq < 0 ? pair : pair.slice(0, eq))
    const value = eq < 0 ? '' : safeDecode(pair.slice(eq + 1))
    const existing = out[key]
    if (existing === undefined) out[key] = value
    else out[key] = Array.isArray(existing) ? [...existing, value] : [existing, value]
  }
  return out
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/** Whether a request's signature covers no body hash header, so signing needs the body. */
export function sigV4NeedsBody(headers: Headers): boolean {
  return header(headers, 'authorization') !== undefined && !header(headers, 'x-amz-content-sha256')
}

/**
 * Checks that a request is one the proxy can re-sign and returns its parsed signature, or
 * undefined for a request that carries no AWS signature at all (it gets no credentials).
 * Refused: presigned URLs (the signature sits in the query, where the proxy would have to
 * mint a URL valid for anyone who sees it), streaming-signed payloads (every chunk is signed
 * with the previous signature: re-signing the head would break each chunk; unsigned
 * streaming with a checksum trailer is re-signed like any other request), other
 * algorithms, and requests without a usable `x-amz-date`.
 */
export function checkSigV4Request(req: SignableRequest): SigV4Authorization | undefined {
  const q = req.path.indexOf('?')
  const query = q < 0 ? '' : req.path.slice(q + 1)
  const presigned = query
    .split('&')
    .map((p) => safeDecode(p.split('=', 1)[0] ?? '').toLowerCase())
    .some((k) => k === 'x-amz-signature' || k === 'x-amz-credential')
  if (presigned)
    throw new SigV4RefusedError(
      'presigned URLs (X-Amz-Signature/X-Amz-Credential in the query) cannot be re-signed; send a header-signed request (the AWS CLI and SDKs do) instead'
    )
  const authorization = header(req.headers, 'authorization')
  if (authorization === undefined) return undefined
  const sha = header(req.headers, 'x-amz-content-sha256') ?? ''
  // aws-chunked bodies whose chunks are signed chain each chunk's signature to the seed
  // signature in the headers, so re-signing the head would break every chunk. The unsigned
  // variant (the AWS CLI's and SDKs' default upload mode since flexible checksums) signs
  // only the head: its chunks and checksum trailer pass through unchanged.
  if (sha.startsWith('STREAMING-') && sha !== STREAMING_UNSIGNED_TRAILER)
    throw new SigV4RefusedError(
      `streaming-signed payloads (x-amz-content-sha256: ${sha}) cannot be re-signed; send the body in one piece or with UNSIGNED-PAYLOAD (for the AWS CLI: aws configure set default.s3.payload_signing_enabled true)`
    )
  const auth = parseAuthorization(authorization)
  const amzDate = header(req.headers, 'x-amz-date') ?? ''
  if (!/^\d{8}T\d{6}Z$/.test(amzDate))
    throw new SigV4RefusedError('a SigV4 request must carry x-amz-date (YYYYMMDDTHHMMSSZ)')
  if (!auth.signedHeaders.includes('x-amz-date') || !auth.signedHeaders.includes('host'))
    throw new SigV4RefusedError('the SigV4 signature must cover the host and x-amz-date headers')
  if (amzDate.slice(0, 8) !== auth.date)
    throw new SigV4RefusedError(
      `x-amz-date ${amzDate} does not match the credential scope date ${auth.date}`
    )
  if (sha && !auth.signedHeaders.includes('x-amz-content-sha256'))
    throw new SigV4RefusedError('x-amz-content-sha256 is sent but not signed')
  for (const name of auth.signedHeaders)
    if (header(req.headers, name) === undefined)
      throw new SigV4RefusedError(`signed header "${name}" is missing from the request`)
  return auth
}

function signingDate(amzDate: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate)!
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!))
}

/**
 * Signs `req` over exactly `names` with keys, in the scope of auth, at the request's
 * `x-amz-date`. Returns smithy's signed request (its headers hold `authorization`, and
 * `x-amz-security-token` when keys has a session token).
 */
async function signOver(
  req: SignableRequest,
  auth: SigV4Authorization,
  names: string[],
  keys: AwsKeys
): Promise<SmithyRequest> {
  const headers: Record<string, string> = {}
  for (const name of names) {
    const v = header(req.headers, name)
    if (v !== undefined) headers[name] = v
  }
  const q = req.path.indexOf('?')
  const path = q < 0 ? req.path : req.path.slice(0, q)
  const [{ SignatureV4 }, { Hash }] = await loadSmithy()
  const signer = new SignatureV4({
    credentials: keys,
    region: auth.region,
    service: auth.service,
    sha256: Hash.bind(null, 'sha256'),
    // S3 signs the path as sent; every other service URI-encodes it once more (the SDKs'
    // `uriEscapePath`, AWS SigV4 "Create a canonical request").
    uriEscapePath: !auth.service.startsWith('s3'),
    // The payload hash comes from x-amz-content-sha256 when the client sent it; never add it.
    applyChecksum: false
  })
  const request: SmithyRequest = {
    method: req.method,
    protocol: 'https:',
    hostname: req.host,
    path,
    query: parseQuery(q < 0 ? '' : req.path.slice(q + 1)),
    headers,
    ...(req.body ? { body: req.body } : {})
  }
  return signer.sign(request, {
    signingDate: signingDate(header(req.headers, 'x-amz-date')!),
    signableHeaders: new Set(names)
  })
}

/** Whether the request's signature was made with keys (constant-time comparison). */
export async function verifySigV4(
  req: SignableRequest,
  auth: SigV4Authorization,
  keys: AwsKeys
): Promise<boolean> {
  const signed = await signOver(req, auth, auth.signedHeaders, keys)
  const m = /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization ?? ''))
  const expected = Buffer.from(m?.[1] ?? '')
  const given = Buffer.from(auth.signature)
  return expected.length === given.length && timingSafeEqual(expected, given)
}

/**
 * Signs the request again with keys, over the headers the client signed that travel
 * upstream (plus `x-amz-security-token`), in the same region, service and time. Returns the
 * headers to set on the upstream request.
 */
export async function resignSigV4(
  req: SignableRequest,
  auth: SigV4Authorization,
  keys: AwsKeys
): Promise<Record<string, string>> {
  const names = auth.signedHeaders.filter(
    (h) => !NOT_FORWARDED.has(h) && h !== 'x-amz-security-token'
  )
  if (keys.sessionToken) names.push('x-amz-security-token')
  const signed = await signOver(req, auth, names, keys)
  const out: Record<string, string> = {
    authorization: String(signed.headers.authorization)
  }
  if (keys.sessionToken) out['x-amz-security-token'] = keys.sessionToken
  return out
}

/**
 * The proxy's SigV4 signer for the aws grant: refuses what cannot be re-signed, checks the
 * request was signed with the container's placeholder keys (so only requests made the way
 * the container was set up get real credentials), then re-signs with the real keys. A
 * request without any AWS signature passes unchanged and gains nothing.
 */
export function createSigV4Signer(placeholder: AwsKeys, real: AwsKeys): RequestSigner {
  return {
    name: 'sigv4',
    needsBody: sigV4NeedsBody,
    maxBodyBytes: SIGV4_MAX_BODY_BYTES,
    async sign(req: SignableRequest): Promise<SignOutcome> {
      try {
        const auth = checkSigV4Request(req)
        if (!auth) return { headers: {}, signed: false }
        if (auth.accessKeyId !== placeholder.accessKeyId)
          throw new SigV4RefusedError(
            `the request is signed with access key ${auth.accessKeyId}, not the placeholder ${placeholder.accessKeyId} in AWS_ACCESS_KEY_ID; use the credentials the container was given`
          )
        if (!(await verifySigV4(req, auth, placeholder)))
          throw new SigV4RefusedError(
            'the SigV4 signature does not verify with the placeholder secret in AWS_SECRET_ACCESS_KEY (was the request changed after signing, or signed with another secret?)'
          )
        return { headers: await resignSigV4(req, auth, real), signed: true }
      } catch (err) {
        if (err instanceof SigV4RefusedError) return { refused: err.message }
        throw err
      }
    }
  }
}
