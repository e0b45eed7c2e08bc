/**
 * What AWS does with a SigV4 request, for the S3-shaped test servers: recompute the
 * signature with the keys it should have been signed with, independently of the proxy's own
 * signer (this reads the raw Authorization header and hands smithy only what it names).
 */
import type { IncomingHttpHeaders } from 'node:http'
import { Hash } from '@smithy/hash-node'
import { SignatureV4 } from '@smithy/signature-v4'

export interface SigningKeys {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

/** Whether the request's Authorization is exactly the S3 signature keys would make. */
export async function verifiesWithKeys(
  keys: SigningKeys,
  req: { method: string; url: string; headers: IncomingHttpHeaders; body: Buffer; host?: string }
): Promise<boolean> {
  const { headers, url } = req
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
      String(headers.authorization ?? '')
    )
  if (!m || m[1] !== keys.accessKeyId) return false
  const signed = m[5]!.split(';')
  const toSign: Record<string, string> = {}
  for (const name of signed) toSign[name] = String(headers[name] ?? '')
  const q = url.indexOf('?')
  const query: Record<string, string> = {}
  if (q >= 0)
    for (const pair of url.slice(q + 1).split('&')) {
      const [k, v = ''] = pair.split('=')
      if (k) query[decodeURIComponent(k)] = decodeURIComponent(v)
    }
  const amzDate = String(headers['x-amz-date'] ?? '')
  const date = new Date(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`
  )
  const signer = new SignatureV4({
    credentials: keys,
    region: m[3]!,
    service: m[4]!,
    sha256: Hash.bind(null, 'sha256'),
    // S3 signs the path as sent.
    uriEscapePath: false,
    applyChecksum: false
  })
  const out = await signer.sign(
    {
      method: req.method,
      protocol: 'https:',
      hostname: req.host ?? String(headers.host ?? ''),
      path: q < 0 ? url : url.slice(0, q),
      query,
      headers: toSign,
      body: req.body
    },
    { signingDate: date, signableHeaders: new Set(signed) }
  )
  return out.headers.authorization === headers.authorization
}
