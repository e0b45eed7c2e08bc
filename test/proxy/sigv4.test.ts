import { createHash } from 'node:crypto'
import { Hash } from '@smithy/hash-node'
import { SignatureV4 } from '@smithy/signature-v4'
import { describe, expect, it } from 'vitest'
import type { RequestSigner, SignableRequest, SignOutcome } from '../../src/provider/index.js'
import { InjectionTable } from '../../src/proxy/inject.js'
import {
  checkSigV4Request,
  createSigV4Signer,
  parseAuthorization,
  SigV4RefusedError,
  verifySigV4,
  type AwsKeys
} from '../../src/proxy/sigv4.js'

const PLACEHOLDER: AwsKeys = {
  accessKeyId: 'AKIAAIRLOCKPLACEHOLDR',
  secretAccessKey: 'airlock/placeholder/not/a/real/secret/000000'
}
const REAL: AwsKeys = {
  accessKeyId: 'ASIAREALTESTKEY00001',
  secretAccessKey: 'realSecretKeyForTests/0123456789abcdefABCDEF',
  sessionToken: 'FwoGZXIvYXdzEAirlockTestSessionToken0123456789'
}

/** AWS's SigV4 test suite, `get-vanilla` (docs.aws.amazon.com, "Signature Version 4 test suite"). */
const VANILLA_KEYS: AwsKeys = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'
}
const VANILLA_SIGNATURE = '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31'
const vanilla = (): SignableRequest => ({
  method: 'GET',
  host: 'example.amazonaws.com',
  path: '/',
  headers: {
    host: 'example.amazonaws.com',
    'x-amz-date': '20150830T123600Z',
    authorization: `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=${VANILLA_SIGNATURE}`
  }
})

/** Signs like a client in the container would (the SDKs use the same signer). */
async function clientSign(
  keys: AwsKeys,
  req: {
    method: string
    host: string
    path: string
    headers: Record<string, string>
    body?: Buffer
  },
  service = 's3'
): Promise<SignableRequest> {
  const q = req.path.indexOf('?')
  const query: Record<string, string> = {}
  if (q >= 0)
    for (const pair of req.path.slice(q + 1).split('&')) {
      const [k, v = ''] = pair.split('=')
      query[decodeURIComponent(k!)] = decodeURIComponent(v)
    }
  const signer = new SignatureV4({
    credentials: keys,
    region: 'us-east-1',
    service,
    sha256: Hash.bind(null, 'sha256'),
    uriEscapePath: service !== 's3'
  })
  const signed = await signer.sign(
    {
      method: req.method,
      protocol: 'https:',
      hostname: req.host,
      path: q < 0 ? req.path : req.path.slice(0, q),
      query,
      headers: { host: req.host, ...req.headers },
      ...(req.body ? { body: req.body } : {})
    },
    { signingDate: new Date('2026-03-04T05:06:07Z') }
  )
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(signed.headers)) headers[k.toLowerCase()] = String(v)
  return {
    method: req.method,
    host: req.host,
    path: req.path,
    headers,
    ...(req.body ? { body: req.body } : {})
  }
}

function refusedReason(outcome: SignOutcome): string {
  if (outcome.refused === undefined) throw new Error('expected a refusal')
  return outcome.refused
}

describe('parseAuthorization', () => {
  it('reads credential scope, signed headers and signature', () => {
    const auth = parseAuthorization(vanilla().headers.authorization as string)
    expect(auth).toEqual({
      accessKeyId: 'AKIDEXAMPLE',
      date: '20150830',
      region: 'us-east-1',
      service: 'service',
      signedHeaders: ['host', 'x-amz-date'],
      signature: VANILLA_SIGNATURE
    })
  })

  it('refuses other algorithms and malformed values with the reason', () => {
    expect(() => parseAuthorization('AWS AKID:abc')).toThrow(/only AWS4-HMAC-SHA256.*"AWS"/)
    expect(() => parseAuthorization('AWS4-ECDSA-P256-SHA256 Credential=x')).toThrow(
      SigV4RefusedError
    )
    expect(() =>
      parseAuthorization('AWS4-HMAC-SHA256 Credential=AKID/2015/us-east-1/s3/aws4_request')
    ).toThrow(/malformed/)
  })
})

describe('verifySigV4', () => {
  it("accepts AWS's get-vanilla vector and rejects it after any change", async () => {
    const req = vanilla()
    const auth = parseAuthorization(req.headers.authorization as string)
    expect(await verifySigV4(req, auth, VANILLA_KEYS)).toBe(true)
    expect(await verifySigV4({ ...req, path: '/x' }, auth, VANILLA_KEYS)).toBe(false)
    expect(
      await verifySigV4(req, auth, { ...VANILLA_KEYS, secretAccessKey: 'another-secret-key' })
    ).toBe(false)
  })
})

describe('createSigV4Signer', () => {
  const signer = createSigV4Signer(PLACEHOLDER, REAL)

  it('re-signs a placeholder-signed S3 request so it verifies with the real keys only', async () => {
    const req = await clientSign(PLACEHOLDER, {
      method: 'PUT',
      host: 'bucket.s3.amazonaws.com',
      path: '/some%20key.txt?x-id=PutObject',
      headers: { 'content-type': 'text/plain', 'x-amz-content-sha256': sha256('hello') },
      body: Buffer.from('hello')
    })
    const outcome = await signer.sign(req)
    if (outcome.refused !== undefined) throw new Error(outcome.refused)
    expect(outcome.signed).toBe(true)
    expect(outcome.headers['x-amz-security-token']).toBe(REAL.sessionToken)
    expect(outcome.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=ASIAREALTESTKEY00001\/20260304\/us-east-1\/s3\/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/
    )
    const upstream = { ...req, headers: { ...req.headers, ...outcome.headers } }
    const auth = parseAuthorization(outcome.headers.authorization!)
    expect(await verifySigV4(upstream, auth, REAL)).toBe(true)
    expect(await verifySigV4(upstream, auth, PLACEHOLDER)).toBe(false)
  })

  it('produces exactly the signature AWS publishes for the same request and keys', async () => {
    // The client signs get-vanilla with the placeholder; re-signed with the vector's keys
    // (no session token), the result must be the vector's signature.
    const vectorDated = vanillaSignedBy(PLACEHOLDER)
    const outcome = await createSigV4Signer(PLACEHOLDER, VANILLA_KEYS).sign(await vectorDated)
    if (outcome.refused !== undefined) throw new Error(outcome.refused)
    expect(outcome.headers.authorization).toBe(vanilla().headers.authorization)
    expect(outcome.headers['x-amz-security-token']).toBeUndefined()
  })

  it('hashes the body when no x-amz-content-sha256 is sent, so a changed body is refused', async () => {
    const body = Buffer.from('Action=ListUsers&Version=2010-05-08')
    const req = await clientSign(
      PLACEHOLDER,
      {
        method: 'POST',
        host: 'iam.amazonaws.com',
        path: '/',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body
      },
      'iam'
    )
    delete (req.headers as Record<string, string>)['x-amz-content-sha256']
    expect(signer.needsBody(req.headers)).toBe(true)
    // The SDK signed with x-amz-content-sha256 added; remove it and sign again without.
    const plain = await clientSignNoChecksum(req, body)
    const ok = await signer.sign(plain)
    expect(ok.refused).toBeUndefined()
    const tampered = await signer.sign({ ...plain, body: Buffer.from('Action=DeleteUser') })
    expect(refusedReason(tampered)).toMatch(/does not verify with the placeholder secret/)
  })

  it('lets a request without any AWS signature through unchanged', async () => {
    const outcome = await signer.sign({
      method: 'GET',
      host: 'bucket.s3.amazonaws.com',
      path: '/public.txt',
      headers: { host: 'bucket.s3.amazonaws.com' }
    })
    expect(outcome).toEqual({ headers: {}, signed: false })
  })

  describe('refusals', () => {
    const base = (): Promise<SignableRequest> =>
      clientSign(PLACEHOLDER, {
        method: 'GET',
        host: 'bucket.s3.amazonaws.com',
        path: '/key',
        headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }
      })

    it('refuses presigned URLs', async () => {
      const reason = refusedReason(
        await signer.sign({
          method: 'GET',
          host: 'bucket.s3.amazonaws.com',
          path: '/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAAIRLOCKPLACEHOLDR%2F20260304%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=00',
          headers: { host: 'bucket.s3.amazonaws.com' }
        })
      )
      expect(reason).toMatch(/^presigned URLs/)
    })

    it('refuses streaming-signed payloads', async () => {
      const req = await clientSign(PLACEHOLDER, {
        method: 'PUT',
        host: 'bucket.s3.amazonaws.com',
        path: '/key',
        headers: { 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' }
      })
      expect(refusedReason(await signer.sign(req))).toMatch(/^streaming-signed payloads/)
    })

    it('re-signs an aws-chunked upload with unsigned chunks and a checksum trailer', async () => {
      const req = await clientSign(PLACEHOLDER, {
        method: 'PUT',
        host: 'bucket.s3.amazonaws.com',
        path: '/key',
        headers: {
          'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
          'content-encoding': 'aws-chunked',
          'x-amz-decoded-content-length': '5',
          'x-amz-trailer': 'x-amz-checksum-crc32'
        }
      })
      const out = await signer.sign(req)
      if (out.refused !== undefined) throw new Error(out.refused)
      expect(out.headers.authorization).toContain('x-amz-decoded-content-length')
      const upstream = { ...req, headers: { ...req.headers, ...out.headers } }
      const auth = parseAuthorization(out.headers.authorization!)
      expect(await verifySigV4(upstream, auth, REAL)).toBe(true)
    })

    it('refuses unknown streaming payload modes', async () => {
      const req = await clientSign(PLACEHOLDER, {
        method: 'PUT',
        host: 'bucket.s3.amazonaws.com',
        path: '/key',
        headers: { 'x-amz-content-sha256': 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD' }
      })
      expect(refusedReason(await signer.sign(req))).toMatch(/^streaming-signed payloads/)
    })

    it('refuses an access key other than the placeholder, naming both', async () => {
      const req = await clientSign(REAL, {
        method: 'GET',
        host: 'bucket.s3.amazonaws.com',
        path: '/key',
        headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }
      })
      expect(refusedReason(await signer.sign(req))).toMatch(
        /signed with access key ASIAREALTESTKEY00001, not the placeholder AKIAAIRLOCKPLACEHOLDR/
      )
    })

    it('refuses a placeholder key id signed with another secret', async () => {
      const req = await clientSign(
        { accessKeyId: PLACEHOLDER.accessKeyId, secretAccessKey: 'guessed-secret-000000' },
        { method: 'GET', host: 'bucket.s3.amazonaws.com', path: '/key', headers: {} }
      )
      expect(refusedReason(await signer.sign(req))).toMatch(/does not verify/)
    })

    it('refuses a request whose signed headers changed after signing', async () => {
      const req = await base()
      expect((await signer.sign(req)).refused).toBeUndefined()
      const moved = { ...req, headers: { ...req.headers, host: 'other.s3.amazonaws.com' } }
      expect(refusedReason(await signer.sign(moved))).toMatch(/does not verify/)
    })

    it('refuses a request without x-amz-date or with a mismatched scope date', async () => {
      const req = await base()
      const headers = { ...req.headers } as Record<string, string>
      delete headers['x-amz-date']
      expect(refusedReason(await signer.sign({ ...req, headers }))).toMatch(/x-amz-date/)
      const shifted = { ...req.headers, 'x-amz-date': '20260305T050607Z' }
      expect(refusedReason(await signer.sign({ ...req, headers: shifted }))).toMatch(
        /does not match the credential scope date/
      )
    })

    it('checkSigV4Request refuses through a SigV4RefusedError with a stable code', () => {
      try {
        checkSigV4Request({
          method: 'GET',
          host: 'h.amazonaws.com',
          path: '/?x-amz-signature=1',
          headers: {}
        })
        expect.unreachable()
      } catch (err) {
        expect(err).toBeInstanceOf(SigV4RefusedError)
        expect((err as SigV4RefusedError).code).toBe('AIRLOCK_SIGV4_REFUSED')
      }
    })
  })
})

describe('InjectionTable signers', () => {
  const named = (name: string): RequestSigner => ({
    name,
    maxBodyBytes: 1,
    needsBody: () => false,
    sign: () => Promise.resolve({ headers: {}, signed: false })
  })

  it('finds the exact host first, then the longest suffix, never the apex', () => {
    const t = new InjectionTable()
    t.setRequestSigner('*.amazonaws.com', 'aws', named('wide'))
    t.setRequestSigner('*.s3.amazonaws.com', 'aws', named('s3'))
    t.setRequestSigner('special.s3.amazonaws.com', 'aws', named('exact'))
    expect(t.signerFor('sts.us-east-1.amazonaws.com')?.signer.name).toBe('wide')
    expect(t.signerFor('Bucket.S3.amazonaws.com')?.signer.name).toBe('s3')
    expect(t.signerFor('special.s3.amazonaws.com')?.signer.name).toBe('exact')
    expect(t.signerFor('amazonaws.com')).toBeUndefined()
    expect(t.signerFor('amazonaws.com.evil.test')).toBeUndefined()
  })

  it('replaces the signer for a pattern on a second call (refresh)', () => {
    const t = new InjectionTable()
    t.setRequestSigner('*.amazonaws.com', 'aws', named('old'))
    const before = t.version
    t.setRequestSigner('*.amazonaws.com', 'aws', named('new'))
    expect(t.signerFor('s3.amazonaws.com')).toEqual({ grant: 'aws', signer: expect.anything() })
    expect(t.signerFor('s3.amazonaws.com')?.signer.name).toBe('new')
    expect(t.version).toBeGreaterThan(before)
  })
})

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex')
}

/** get-vanilla's request, signed by the client with keys at the vector's date. */
async function vanillaSignedBy(keys: AwsKeys): Promise<SignableRequest> {
  const signer = new SignatureV4({
    credentials: keys,
    region: 'us-east-1',
    service: 'service',
    sha256: Hash.bind(null, 'sha256'),
    applyChecksum: false
  })
  const signed = await signer.sign(
    {
      method: 'GET',
      protocol: 'https:',
      hostname: 'example.amazonaws.com',
      path: '/',
      query: {},
      headers: { host: 'example.amazonaws.com' }
    },
    { signingDate: new Date('2015-08-30T12:36:00Z') }
  )
  return {
    method: 'GET',
    host: 'example.amazonaws.com',
    path: '/',
    headers: {
      host: 'example.amazonaws.com',
      'x-amz-date': String(signed.headers['x-amz-date']),
      authorization: String(signed.headers.authorization)
    }
  }
}

/** Re-signs req with the placeholder without x-amz-content-sha256 (services other than S3). */
async function clientSignNoChecksum(req: SignableRequest, body: Buffer): Promise<SignableRequest> {
  const signer = new SignatureV4({
    credentials: PLACEHOLDER,
    region: 'us-east-1',
    service: 'iam',
    sha256: Hash.bind(null, 'sha256'),
    applyChecksum: false
  })
  const headers = { ...(req.headers as Record<string, string>) }
  delete headers.authorization
  const signed = await signer.sign(
    {
      method: req.method,
      protocol: 'https:',
      hostname: req.host,
      path: '/',
      query: {},
      headers,
      body
    },
    { signingDate: new Date('2026-03-04T05:06:07Z') }
  )
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(signed.headers)) out[k.toLowerCase()] = String(v)
  return { ...req, headers: out, body }
}
