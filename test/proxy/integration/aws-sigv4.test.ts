/**
 * AWS SigV4 re-signing through the real daemon process: curl signs with the container's
 * placeholder keys (`--aws-sigv4`), the proxy verifies and re-signs with the aws grant's
 * session credentials, and an S3-shaped HTTPS server verifies the signature with the REAL
 * secret, as S3 would, refusing anything else.
 */
import { randomBytes } from 'node:crypto'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { PLACEHOLDERS } from '../../../src/providers/defaults.js'
import { verifiesWithKeys } from '../../support/sigv4-verify.js'
import { createTestPki, type TestPki } from '../../support/test-ca.js'
import {
  cleanEnv,
  ensureBuilt,
  filesContaining,
  run,
  startTestDaemon,
  type TestDaemon,
  waitFor
} from './harness.js'

const HOST = 'bucket.s3.amazonaws.com'
const REAL = {
  accessKeyId: 'ASIAAIRLOCKREALTEST1',
  secretAccessKey: `realSecret/${randomBytes(15).toString('hex')}`,
  sessionToken: `FwoGZXIvYXdzEAirlockRealSession${randomBytes(24).toString('hex')}`
}

interface Seen {
  method: string
  url: string
  headers: Record<string, string | string[] | undefined>
  body: string
  verified: boolean
}

/**
 * A minimal S3: accepts only requests whose SigV4 signature verifies with the real keys
 * (recomputed with the same maintained signer AWS's SDKs use), answers 403 otherwise.
 */
async function startFakeS3(
  pki: TestPki
): Promise<{ port: number; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = []
  const server = https.createServer({ cert: pki.certPem, key: pki.keyPem }, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      void verifiesWithKeys(REAL, {
        method: req.method ?? '',
        url: req.url ?? '/',
        headers: req.headers,
        body,
        host: HOST
      }).then((verified) => {
        seen.push({
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: body.toString(),
          verified
        })
        if (!verified) {
          res.writeHead(403, { 'content-type': 'application/xml' })
          return void res.end('<Error><Code>SignatureDoesNotMatch</Code></Error>')
        }
        // The echo carries the session token back: the agent must only see it scrubbed.
        res.writeHead(200, {
          'content-type': 'text/plain',
          'x-echo-token': String(req.headers['x-amz-security-token'])
        })
        res.end(
          `stored ${req.method} ${req.url} ${body.length} bytes; token ${String(req.headers['x-amz-security-token'])}\n`
        )
      })
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r()))
  }
}

let pki: TestPki
let s3: Awaited<ReturnType<typeof startFakeS3>>
let daemon: TestDaemon
let home: string

beforeAll(async () => {
  await ensureBuilt('proxy')
  pki = await createTestPki([HOST])
  s3 = await startFakeS3(pki)
  home = await mkdtemp(join(tmpdir(), 'airlock-it-home-'))
  daemon = await startTestDaemon({
    allow: ['*.s3.amazonaws.com'],
    connectTo: [`${HOST}:443=127.0.0.1:${s3.port}`],
    upstreamCa: pki.caPem,
    grants: [{ provider: 'aws', token: JSON.stringify(REAL) }]
  })
})

afterAll(async () => {
  const { entries } = await daemon.stop()
  expect(entries.some((e) => e.type === 'inject' && e.data.grant === 'aws')).toBe(true)
  expect(await filesContaining(daemon.dir, [REAL.secretAccessKey, REAL.sessionToken])).toEqual([])
  await s3.close()
  await rm(pki.dir, { recursive: true, force: true })
  await rm(daemon.dir, { recursive: true, force: true })
  await rm(home, { recursive: true, force: true })
})

beforeEach(() => {
  s3.seen.length = 0
})

function curl(
  args: string[],
  user = `${PLACEHOLDERS.awsAccessKeyId}:${PLACEHOLDERS.awsSecretAccessKey}`
): ReturnType<typeof run> {
  return run(
    'curl',
    [
      '-sS',
      '-x',
      daemon.proxyUrl,
      '--cacert',
      daemon.caFile,
      '--aws-sigv4',
      'aws:amz:us-east-1:s3',
      '--user',
      user,
      '-D',
      '-',
      ...args
    ],
    { env: cleanEnv(home) }
  )
}

describe('SigV4 re-signing with curl --aws-sigv4', () => {
  it('a placeholder-signed GET reaches S3 signed with the real session credentials', async () => {
    const r = await curl(['--fail-with-body', `https://${HOST}/some/key.txt?versionId=3`])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(s3.seen).toHaveLength(1)
    const seen = s3.seen[0]!
    expect(seen.verified).toBe(true)
    expect(String(seen.headers.authorization)).toContain(`Credential=${REAL.accessKeyId}/`)
    expect(String(seen.headers.authorization)).toContain('/us-east-1/s3/aws4_request')
    expect(seen.headers['x-amz-security-token']).toBe(REAL.sessionToken)
    // The echoed session token comes back scrubbed, in the body and in the header.
    expect(r.stdout).toContain('stored GET /some/key.txt?versionId=3')
    expect(r.stdout).not.toContain(REAL.sessionToken)
    expect(r.stdout).toMatch(/x-echo-token: airlock-redacted/i)

    const line = await waitFor(() =>
      daemon.network().find((e) => e.url === `https://${HOST}/some/key.txt?versionId=3`)
    )
    expect(line.grants).toEqual(['aws'])
    expect(line.status).toBe(200)
    expect(JSON.stringify(daemon.network())).not.toContain(REAL.secretAccessKey)
  })

  it('a placeholder-signed PUT with a body verifies upstream', async () => {
    const r = await curl([
      '--fail-with-body',
      '-X',
      'PUT',
      '-H',
      'content-type: text/plain',
      '--data-binary',
      'hello from the sandbox',
      `https://${HOST}/upload.txt`
    ])
    expect(r.code).toBe(0)
    expect(s3.seen).toHaveLength(1)
    expect(s3.seen[0]!.verified).toBe(true)
    expect(s3.seen[0]!.body).toBe('hello from the sandbox')
    expect(r.stdout).toContain('stored PUT /upload.txt 22 bytes')
  })
})

describe('SigV4 refusals (the upstream sees nothing)', () => {
  it('refuses a presigned URL with 403 X-Airlock-Blocked: sigv4', async () => {
    const url = `https://${HOST}/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${PLACEHOLDERS.awsAccessKeyId}%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=${'0'.repeat(64)}`
    const r = await run(
      'curl',
      ['-sS', '-x', daemon.proxyUrl, '--cacert', daemon.caFile, '-D', '-', url],
      { env: cleanEnv(home) }
    )
    expect(r.stdout).toMatch(/^HTTP\/1\.1 403/m)
    expect(r.stdout).toMatch(/x-airlock-blocked: sigv4/i)
    expect(r.stdout).toContain('presigned URLs')
    expect(s3.seen).toHaveLength(0)
    const line = await waitFor(() => daemon.network().find((e) => e.url === url))
    expect(line.blocked).toBe('sigv4')
  })

  it('refuses a request signed with another access key, naming it', async () => {
    const r = await curl([`https://${HOST}/key`], 'AKIAOTHERKEY00000000:some-other-secret-key')
    expect(r.stdout).toMatch(/^HTTP\/1\.1 403/m)
    expect(r.stdout).toMatch(/x-airlock-blocked: sigv4/i)
    expect(r.stdout).toContain('signed with access key AKIAOTHERKEY00000000')
    expect(s3.seen).toHaveLength(0)
  })

  it('refuses the placeholder key id signed with a wrong secret', async () => {
    const r = await curl(
      [`https://${HOST}/key`],
      `${PLACEHOLDERS.awsAccessKeyId}:wrong-secret-0000`
    )
    expect(r.stdout).toMatch(/^HTTP\/1\.1 403/m)
    expect(r.stdout).toContain('does not verify with the placeholder secret')
    expect(s3.seen).toHaveLength(0)
  })
})
