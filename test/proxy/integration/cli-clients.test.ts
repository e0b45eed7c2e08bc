/**
 * Real command-line clients through the real daemon process: the GitHub CLI (`gh api user`)
 * against an API-shaped server for api.github.com, and the AWS CLI (`aws s3api
 * list-buckets`, `aws s3 ls s3://bucket`) against an S3-shaped server that verifies SigV4
 * with the REAL keys. Both clients hold only the placeholders a sandbox would; the hosts are
 * the real ones, routed to loopback with connect-to, so no endpoint override is involved.
 *
 * The clients come from Debian packages (`gh`, `awscli`) that .ci/run installs. Locally a
 * missing client skips its test; under CI=true it fails, so CI can never go green without it.
 */
import { createHash, randomBytes } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { accessSync, constants, readFileSync, realpathSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import https from 'node:https'
import type { IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { PLACEHOLDERS } from '../../../src/providers/defaults.js'
import { NpmProvider } from '../../../src/providers/npm.js'
import { verifiesWithKeys } from '../../support/sigv4-verify.js'
import { createTestPki, type TestPki } from '../../support/test-ca.js'
import {
  cleanEnv,
  ensureBuilt,
  filesContaining,
  realToken,
  run,
  startTestDaemon,
  type TestDaemon,
  waitFor
} from './harness.js'

const CI = process.env.CI === 'true'

/** Every executable called name on PATH, first first, one per real file. */
function whichAll(name: string): string[] {
  const found = new Map<string, string>()
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    const p = join(dir, name)
    try {
      accessSync(p, constants.X_OK)
      const real = realpathSync(p)
      if (!found.has(real)) found.set(real, p)
    } catch {
      // not here
    }
  }
  return [...found.values()]
}

const GH = whichAll('gh')[0]
/**
 * Every AWS CLI on PATH: Debian's aws-cli v2 (/usr/bin/aws) and, on machines that have one, a
 * pip-installed v1 whose botocore is new enough to upload with flexible checksums
 * (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`).
 */
const AWS_CLIS = whichAll('aws').map((bin) => ({
  bin,
  version: spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.split(' ')[0] ?? bin
}))

/** Skips locally when the client is missing; under CI the test runs and fails on it. */
function clientTest(bin: string | undefined): typeof it {
  return it.skipIf(bin === undefined && !CI) as typeof it
}

const GITHUB_TOKEN = realToken()
const LOGIN = 'airlock-octocat'
const GHES_HOST = 'ghes.airlock.test'
const NPM_HOST = 'registry.npmjs.org'
const NPM_USER = 'airlock-publisher'
const NPM_TOKEN = `npm_AirlockRealCliToken${randomBytes(12).toString('hex')}`
const NPM = whichAll('npm')[0]
const AWS_REAL = {
  accessKeyId: 'ASIAAIRLOCKREALCLI01',
  secretAccessKey: `realCliSecret/${randomBytes(15).toString('hex')}`,
  sessionToken: `FwoGZXIvYXdzEAirlockRealCliSession${randomBytes(24).toString('hex')}`
}
/**
 * Every S3 name either CLI major version may address for us-east-1: aws-cli v1 uses the
 * global `s3.amazonaws.com`, v2 (Debian's 2.9) the regional `s3.us-east-1.amazonaws.com`.
 */
const S3_HOSTS = [
  's3.amazonaws.com',
  'bucket.s3.amazonaws.com',
  's3.us-east-1.amazonaws.com',
  'bucket.s3.us-east-1.amazonaws.com'
]

interface Seen {
  method: string
  url: string
  host: string
  headers: IncomingHttpHeaders
  body: string
  verified?: boolean
}

interface Server {
  port: number
  seen: Seen[]
  close(): Promise<void>
}

async function listen(server: https.Server, seen: Seen[]): Promise<Server> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      })
  }
}

/**
 * A minimal api.github.com (and GitHub Enterprise Server, which serves the API under
 * `/api/v3` of its one host): `GET /user` answers the user only for the real token (as
 * `Bearer`, `token` or Basic `x-access-token`, all of which GitHub accepts), 401 Bad
 * credentials otherwise.
 */
async function startFakeGitHub(pki: TestPki): Promise<Server> {
  const seen: Seen[] = []
  const server = https.createServer({ cert: pki.certPem, key: pki.keyPem }, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        host: req.headers.host ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString()
      })
      const auth = req.headers.authorization ?? ''
      const ok =
        auth === `Bearer ${GITHUB_TOKEN}` ||
        auth === `token ${GITHUB_TOKEN}` ||
        auth === `Basic ${Buffer.from(`x-access-token:${GITHUB_TOKEN}`).toString('base64')}`
      res.setHeader('content-type', 'application/json; charset=utf-8')
      if (!ok) {
        res.writeHead(401)
        return void res.end(JSON.stringify({ message: 'Bad credentials' }))
      }
      // github.com serves the API at the root of api.github.com, GHES under /api/v3.
      const path = req.headers.host?.startsWith('api.')
        ? req.url
        : req.url?.replace(/^\/api\/v3/, '')
      if (req.method === 'GET' && path === '/user') {
        res.writeHead(200, { 'x-oauth-scopes': 'repo' })
        return void res.end(JSON.stringify({ login: LOGIN, id: 4242, type: 'User' }))
      }
      res.writeHead(404)
      res.end(JSON.stringify({ message: 'Not Found' }))
    })
  })
  return listen(server, seen)
}

const LIST_BUCKETS = `<?xml version="1.0" encoding="UTF-8"?>
<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>airlock</ID><DisplayName>airlock</DisplayName></Owner><Buckets><Bucket><Name>bucket</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>`

const LIST_OBJECTS = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bucket</Name><Prefix></Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><Contents><Key>hello-from-airlock.txt</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag><Size>42</Size><StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>`

/**
 * The object body of an `aws-chunked` upload: `<hex size>[;chunk-signature=…]\r\n<data>\r\n`
 * repeated, a zero-size chunk, then trailers (`x-amz-checksum-…:<base64>`) and a blank line.
 */
function decodeAwsChunked(raw: Buffer): { body: Buffer; trailers: Record<string, string> } {
  const parts: Buffer[] = []
  let at = 0
  for (;;) {
    const eol = raw.indexOf('\r\n', at)
    if (eol < 0) throw new Error('aws-chunked: no chunk header')
    const size = parseInt(raw.subarray(at, eol).toString().split(';')[0]!, 16)
    if (Number.isNaN(size)) throw new Error('aws-chunked: bad chunk size')
    at = eol + 2
    if (size === 0) break
    parts.push(raw.subarray(at, at + size))
    at += size + 2
  }
  const trailers: Record<string, string> = {}
  for (const line of raw.subarray(at).toString().split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon > 0) trailers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { body: Buffer.concat(parts), trailers }
}

/**
 * A minimal S3 for both addressing styles: refuses (403 SignatureDoesNotMatch) anything
 * whose signature does not verify with the real keys, and (400 XAmzContentSHA256Mismatch) a
 * body whose hash is not the signed one; lists buckets at `/` of the service host, lists and
 * stores objects in `bucket` (virtual-hosted or path-style), `aws-chunked` uploads included.
 */
async function startFakeS3(pki: TestPki): Promise<Server & { objects: Map<string, Buffer> }> {
  const seen: Seen[] = []
  const objects = new Map<string, Buffer>()
  const server = https.createServer({ cert: pki.certPem, key: pki.keyPem }, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks)
      const url = req.url ?? '/'
      void verifiesWithKeys(AWS_REAL, {
        method: req.method ?? '',
        url,
        headers: req.headers,
        body: raw
      }).then((verified) => {
        const host = (req.headers.host ?? '').replace(/:\d+$/, '')
        seen.push({ method: req.method ?? '', url, host, headers: req.headers, body: '', verified })
        res.setHeader('content-type', 'application/xml')
        if (!verified) {
          res.writeHead(403)
          return void res.end('<Error><Code>SignatureDoesNotMatch</Code></Error>')
        }
        const sha = String(req.headers['x-amz-content-sha256'] ?? '')
        if (/^[0-9a-f]{64}$/.test(sha) && createHash('sha256').update(raw).digest('hex') !== sha) {
          res.writeHead(400)
          return void res.end('<Error><Code>XAmzContentSHA256Mismatch</Code></Error>')
        }
        const path = url.split('?')[0]!
        const virtualBucket = host.startsWith('bucket.')
        const key = virtualBucket ? path.slice(1) : path.replace(/^\/bucket\/?/, '')
        if (req.method === 'PUT' && key) {
          const chunked = String(req.headers['content-encoding'] ?? '').includes('aws-chunked')
          const { body, trailers } = chunked ? decodeAwsChunked(raw) : { body: raw, trailers: {} }
          const crc = trailers['x-amz-checksum-crc32']
          if (crc !== undefined && crc !== crc32Base64(body)) {
            res.writeHead(400)
            return void res.end('<Error><Code>BadDigest</Code></Error>')
          }
          objects.set(decodeURIComponent(key), body)
          res.setHeader('etag', `"${createHash('md5').update(body).digest('hex')}"`)
          return void res.end()
        }
        if (!virtualBucket && path === '/') return void res.end(LIST_BUCKETS)
        if (!key) return void res.end(LIST_OBJECTS)
        res.writeHead(404)
        res.end('<Error><Code>NoSuchKey</Code></Error>')
      })
    })
  })
  return Object.assign(await listen(server, seen), { objects })
}

/** CRC-32 (IEEE), base64 of the big-endian value: S3's `x-amz-checksum-crc32`. */
function crc32Base64(data: Buffer): string {
  let crc = 0xffffffff
  for (const byte of data) {
    crc ^= byte
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1
  }
  const out = Buffer.alloc(4)
  out.writeUInt32BE((crc ^ 0xffffffff) >>> 0)
  return out.toString('base64')
}

/**
 * A minimal registry.npmjs.org: `GET /-/whoami` names the user and a packument is served,
 * both only for `Bearer <real npm token>` (401 otherwise, as the registry answers a bad
 * token).
 */
async function startFakeRegistry(pki: TestPki): Promise<Server> {
  const seen: Seen[] = []
  const server = https.createServer({ cert: pki.certPem, key: pki.keyPem }, (req, res) => {
    seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      host: req.headers.host ?? '',
      headers: req.headers,
      body: ''
    })
    req.resume()
    res.setHeader('content-type', 'application/json')
    if (req.headers.authorization !== `Bearer ${NPM_TOKEN}`) {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="npm"' })
      return void res.end(JSON.stringify({ error: 'unauthorized' }))
    }
    if (req.url === '/-/whoami') return void res.end(JSON.stringify({ username: NPM_USER }))
    if (req.url === '/@airlock%2fprivate-pkg' || req.url === '/@airlock/private-pkg')
      return void res.end(
        JSON.stringify({
          name: '@airlock/private-pkg',
          'dist-tags': { latest: '1.2.3' },
          versions: {
            '1.2.3': {
              name: '@airlock/private-pkg',
              version: '1.2.3',
              dist: { tarball: `https://${NPM_HOST}/@airlock/private-pkg/-/private-pkg-1.2.3.tgz` }
            }
          }
        })
      )
    res.writeHead(404)
    res.end(JSON.stringify({ error: 'not found' }))
  })
  return listen(server, seen)
}

let pki: TestPki
let github: Server
let registry: Server
let s3: Awaited<ReturnType<typeof startFakeS3>>
let daemon: TestDaemon
let home: string

beforeAll(async () => {
  await ensureBuilt('proxy')
  pki = await createTestPki(['api.github.com', GHES_HOST, NPM_HOST, ...S3_HOSTS])
  github = await startFakeGitHub(pki)
  s3 = await startFakeS3(pki)
  registry = await startFakeRegistry(pki)
  home = await mkdtemp(join(tmpdir(), 'airlock-it-home-'))
  daemon = await startTestDaemon({
    githubToken: GITHUB_TOKEN,
    allow: S3_HOSTS.flatMap((h) => (h.startsWith('bucket.') ? [] : [h, `*.${h}`])),
    connectTo: [
      `api.github.com:443=127.0.0.1:${github.port}`,
      `${NPM_HOST}:443=127.0.0.1:${registry.port}`,
      ...S3_HOSTS.map((h) => `${h}:443=127.0.0.1:${s3.port}`)
    ],
    upstreamCa: pki.caPem,
    grants: [
      { provider: 'aws', token: JSON.stringify(AWS_REAL) },
      { provider: 'npm', token: NPM_TOKEN }
    ]
  })
})

afterAll(async () => {
  if (daemon) {
    await daemon.stop()
    const secrets = [GITHUB_TOKEN, AWS_REAL.secretAccessKey, AWS_REAL.sessionToken, NPM_TOKEN]
    expect(await filesContaining(daemon.dir, secrets)).toEqual([])
    await rm(daemon.dir, { recursive: true, force: true })
  }
  await github?.close()
  await s3?.close()
  await registry?.close()
  if (pki) await rm(pki.dir, { recursive: true, force: true })
  if (home) await rm(home, { recursive: true, force: true })
})

beforeEach(() => {
  github.seen.length = 0
  s3.seen.length = 0
  registry.seen.length = 0
})

/** The environment a sandboxed client gets: the proxy, the run CA, and nothing else. */
function clientEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return cleanEnv(home, {
    HTTPS_PROXY: daemon.proxyUrl,
    https_proxy: daemon.proxyUrl,
    // A pyenv-managed `aws` on PATH is a shim that finds its interpreter through PYENV_ROOT.
    ...(process.env.PYENV_ROOT ? { PYENV_ROOT: process.env.PYENV_ROOT } : {}),
    ...extra
  })
}

describe('GitHub CLI', () => {
  clientTest(GH)('gh api user gets the real token injected in place of GH_TOKEN', async () => {
    expect(GH, 'gh is not installed (Debian package gh)').toBeDefined()
    const r = await run(GH!, ['api', 'user'], {
      env: clientEnv({
        GH_TOKEN: PLACEHOLDERS.github,
        GH_CONFIG_DIR: join(home, 'gh-config'),
        GH_NO_UPDATE_NOTIFIER: '1',
        GH_PROMPT_DISABLED: '1',
        NO_COLOR: '1',
        // Go reads the trust store from here on Linux: the run CA alone.
        SSL_CERT_FILE: daemon.caFile
      })
    })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ login: LOGIN })

    const seen = github.seen.find((s) => s.url === '/user')
    expect(seen, JSON.stringify(github.seen)).toBeDefined()
    // gh sends `token <GH_TOKEN>`; the proxy replaces the whole header with its own.
    expect(seen!.headers.authorization).toBe(`Bearer ${GITHUB_TOKEN}`)
    expect(seen!.headers['user-agent']).toMatch(/^GitHub CLI /)
    for (const s of github.seen)
      expect(JSON.stringify(s.headers)).not.toContain(PLACEHOLDERS.github)

    const line = await waitFor(() =>
      daemon.network().find((e) => e.url === 'https://api.github.com/user')
    )
    expect(line.grants).toEqual(['github'])
    expect(line.status).toBe(200)
    expect(JSON.stringify(daemon.network())).not.toContain(GITHUB_TOKEN)
  })
})

describe('npm CLI', () => {
  clientTest(NPM)(
    'npm whoami and npm view send the placeholder; the registry gets the token',
    async () => {
      expect(NPM, 'npm is not installed').toBeDefined()
      // The .npmrc exactly as the npm grant stages it for the container.
      const staging = await mkdtemp(join(tmpdir(), 'airlock-it-npm-'))
      const provider = new NpmProvider()
      const cred = { provider: 'npm', token: NPM_TOKEN, createdAt: new Date() }
      const { mounts, cleanupPath } = await provider.containerMounts(cred, home, staging)
      const npmrc = mounts[0]!.source
      expect(readFileSync(npmrc, 'utf8')).toContain(PLACEHOLDERS.npm)
      const env = clientEnv({
        NODE_EXTRA_CA_CERTS: daemon.caFile,
        npm_config_userconfig: npmrc,
        npm_config_cache: join(home, 'npm-cache'),
        npm_config_update_notifier: 'false',
        npm_config_audit: 'false',
        npm_config_fund: 'false',
        // npm finds its own node on PATH.
        PATH: process.env.PATH ?? '/usr/bin:/bin'
      })
      const who = await run(NPM!, ['whoami'], { env })
      expect(who.stderr).toBe('')
      expect(who.code).toBe(0)
      expect(who.stdout.trim()).toBe(NPM_USER)
      const view = await run(NPM!, ['view', '@airlock/private-pkg', 'version'], { env })
      expect(view.code, view.stderr).toBe(0)
      expect(view.stdout.trim()).toBe('1.2.3')

      expect(registry.seen.map((r) => r.url)).toEqual(
        expect.arrayContaining([
          '/-/whoami',
          expect.stringMatching(/^\/@airlock(%2f|\/)private-pkg$/)
        ])
      )
      for (const r of registry.seen) {
        expect(r.headers.authorization, r.url).toBe(`Bearer ${NPM_TOKEN}`)
        expect(JSON.stringify(r.headers)).not.toContain(PLACEHOLDERS.npm)
      }
      const line = await waitFor(() =>
        daemon.network().find((e) => e.url === `https://${NPM_HOST}/-/whoami`)
      )
      expect(line.grants).toEqual(['npm'])
      if (cleanupPath) await provider.cleanup(cleanupPath)
      await rm(staging, { recursive: true, force: true })
    }
  )
})

describe('GitHub CLI against GitHub Enterprise Server', () => {
  let ghes: TestDaemon | undefined

  afterAll(async () => {
    if (!ghes) return
    await ghes.stop()
    expect(await filesContaining(ghes.dir, [GITHUB_TOKEN])).toEqual([])
    await rm(ghes.dir, { recursive: true, force: true })
  })

  clientTest(GH)('gh api user with GH_HOST gets the token injected on the GHES host', async () => {
    expect(GH, 'gh is not installed (Debian package gh)').toBeDefined()
    // The grant is for the GHES of GITHUB_API_URL: its one host joins the allowlist, and
    // api.github.com is not allowed at all.
    ghes = await startTestDaemon({
      githubToken: GITHUB_TOKEN,
      githubApiUrl: `https://${GHES_HOST}/api/v3`,
      connectTo: [`${GHES_HOST}:443=127.0.0.1:${github.port}`],
      upstreamCa: pki.caPem
    })
    const env = cleanEnv(home, {
      HTTPS_PROXY: ghes.proxyUrl,
      https_proxy: ghes.proxyUrl,
      GH_HOST: GHES_HOST,
      GH_ENTERPRISE_TOKEN: PLACEHOLDERS.github,
      GH_CONFIG_DIR: join(home, 'gh-config-ghes'),
      GH_NO_UPDATE_NOTIFIER: '1',
      GH_PROMPT_DISABLED: '1',
      NO_COLOR: '1',
      SSL_CERT_FILE: ghes.caFile
    })
    const r = await run(GH!, ['api', 'user'], { env })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ login: LOGIN })
    const seen = github.seen.find((s) => s.host === GHES_HOST)
    expect(seen?.url).toBe('/api/v3/user')
    expect(seen!.headers.authorization).toBe(
      `Basic ${Buffer.from(`x-access-token:${GITHUB_TOKEN}`).toString('base64')}`
    )
    const line = await waitFor(() =>
      ghes!.network().find((e) => e.url === `https://${GHES_HOST}/api/v3/user`)
    )
    expect(line.grants).toEqual(['github'])

    // github.com is not part of this grant: the same CLI pointed there is refused.
    const other = await run(GH!, ['api', 'user'], {
      env: { ...env, GH_HOST: 'github.com', GH_TOKEN: PLACEHOLDERS.github }
    })
    expect(other.code).not.toBe(0)
    const blocked = await waitFor(() =>
      ghes!.network().find((e) => e.url.includes('api.github.com') && e.blocked)
    )
    expect(blocked.blocked).toBeTruthy()
  })
})

describe.each(AWS_CLIS.length > 0 || !CI ? AWS_CLIS : [{ bin: '', version: 'aws' }])(
  'AWS CLI $version',
  ({ bin }) => {
    function aws(args: string[]): ReturnType<typeof run> {
      return run(bin, args, {
        env: clientEnv({
          AWS_ACCESS_KEY_ID: PLACEHOLDERS.awsAccessKeyId,
          AWS_SECRET_ACCESS_KEY: PLACEHOLDERS.awsSecretAccessKey,
          AWS_REGION: 'us-east-1',
          AWS_DEFAULT_REGION: 'us-east-1',
          AWS_CA_BUNDLE: daemon.caFile,
          AWS_EC2_METADATA_DISABLED: 'true',
          AWS_PAGER: '',
          AWS_CONFIG_FILE: join(home, 'aws-config'),
          AWS_SHARED_CREDENTIALS_FILE: join(home, 'aws-credentials')
        })
      })
    }

    /** Every request S3 saw verified with the real keys and carried the session token. */
    function expectReSigned(): void {
      expect(s3.seen.length).toBeGreaterThan(0)
      for (const seen of s3.seen) {
        expect(seen.verified, `${seen.method} ${seen.host}${seen.url}`).toBe(true)
        expect(String(seen.headers.authorization)).toContain(`Credential=${AWS_REAL.accessKeyId}/`)
        expect(String(seen.headers.authorization)).toContain('/us-east-1/s3/aws4_request')
        expect(seen.headers['x-amz-security-token']).toBe(AWS_REAL.sessionToken)
        expect(JSON.stringify(seen.headers)).not.toContain(PLACEHOLDERS.awsAccessKeyId)
      }
    }

    it('is installed (Debian package awscli)', () => {
      expect(bin, 'no aws on PATH: apt-get install awscli').not.toBe('')
    })

    it.skipIf(!bin)('aws s3api list-buckets is re-signed with the real keys', async () => {
      const r = await aws(['s3api', 'list-buckets', '--output', 'json'])
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expect(JSON.parse(r.stdout).Buckets).toEqual([expect.objectContaining({ Name: 'bucket' })])
      expectReSigned()
      const host = s3.seen[0]!.host
      expect(['s3.amazonaws.com', 's3.us-east-1.amazonaws.com']).toContain(host)

      const line = await waitFor(() => daemon.network().find((e) => e.url === `https://${host}/`))
      expect(line.grants).toEqual(['aws'])
      expect(line.status).toBe(200)
      expect(JSON.stringify(daemon.network())).not.toContain(AWS_REAL.secretAccessKey)
    })

    it.skipIf(!bin)('aws s3 ls s3://bucket is re-signed with the real keys', async () => {
      const r = await aws(['s3', 'ls', 's3://bucket'])
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/\s42 hello-from-airlock\.txt$/m)
      expectReSigned()
    })

    it.skipIf(!bin)('aws s3 cp uploads a file, re-signed, body intact', async () => {
      const file = join(home, 'upload.bin')
      const content = randomBytes(64 * 1024)
      await writeFile(file, content)
      const key = `up/${randomBytes(4).toString('hex')}.bin`
      const r = await aws(['s3', 'cp', file, `s3://bucket/${key}`, '--only-show-errors'])
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expectReSigned()
      const put = s3.seen.find((s) => s.method === 'PUT')
      expect(put, JSON.stringify(s3.seen.map((s) => `${s.method} ${s.url}`))).toBeDefined()
      // Whatever payload mode this CLI uses (a body hash, UNSIGNED-PAYLOAD, or aws-chunked
      // with an unsigned checksum trailer), never one whose chunks are signed.
      expect(String(put!.headers['x-amz-content-sha256'])).not.toMatch(/^STREAMING-AWS4/)
      expect(s3.objects.get(key)?.equals(content)).toBe(true)
    })
  }
)
