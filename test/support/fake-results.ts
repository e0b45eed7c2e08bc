import { createHash, randomBytes, randomUUID } from 'node:crypto'
import http from 'node:http'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type net from 'node:net'
import { crc32, inflateRawSync } from 'node:zlib'

/**
 * A fake of what `@actions/artifact` (v6) talks to when it uploads an artifact, speaking the
 * real wire formats, so the real `DefaultArtifactClient` can be run end to end:
 *
 * 1. the Actions results service, Twirp JSON over HTTP:
 *    `POST /twirp/github.actions.results.api.v1.ArtifactService/CreateArtifact` →
 *    `{"ok": true, "signed_upload_url": …}` and, after the upload,
 *    `POST …/FinalizeArtifact` → `{"ok": true, "artifact_id": "<int64 as string>"}`;
 * 2. Azure Blob Storage behind the signed URL, as `BlockBlobClient.uploadStream` uses it:
 *    `PUT <signed url>&comp=block&blockid=<base64>` per chunk (8 MiB), then
 *    `PUT <signed url>&comp=blocklist` with `<BlockList><Latest>id</Latest>…</BlockList>`.
 *
 * Both are plain http on 127.0.0.1: the storage SDK sets `allowInsecureConnection` itself
 * (Azurite is http), and the Twirp client takes whatever scheme `ACTIONS_RESULTS_URL` has.
 * The two live on separate ports, as they live on separate hosts for real, so a client that
 * sent the blob to the results host (or the reverse) would fail.
 */

const SERVICE = 'github.actions.results.api.v1.ArtifactService'
/** The storage REST version the fake claims to speak (echoed as `x-ms-version`). */
const STORAGE_VERSION = '2025-11-05'
/** Azurite's account name; the SDK reads an IP host's first path segment as the account. */
const ACCOUNT = 'devstoreaccount1'
const CONTAINER = 'actions-results'

/** One request either half of the fake received. */
export interface ResultsRequest {
  /** Which host it reached. */
  service: 'results' | 'blob'
  method: string
  /** Path and query, as sent. */
  url: string
  headers: IncomingHttpHeaders
  body: Buffer
  /** The status the fake answered. */
  status: number
}

/** An artifact as the fake's backend holds it. */
export interface FakeArtifact {
  name: string
  /** The id FinalizeArtifact hands back. */
  id: number
  /** The CreateArtifact request body, as JSON. */
  create: Record<string, unknown>
  /** Path of its blob on the storage host (`/devstoreaccount1/actions-results/…`). */
  blobPath: string
  /** The SAS signature in its signed URL; blob requests without it are refused. */
  sig: string
  /** Blocks staged but not yet committed, by block id. */
  staged: Map<string, Buffer>
  /** The committed blob: the blocks of the block list, in its order. */
  blob?: Buffer
  /** `x-ms-blob-content-type` of the commit. */
  contentType?: string
  /** The FinalizeArtifact request body, once finalized. */
  finalize?: Record<string, unknown>
}

export interface FakeResults {
  /** `ACTIONS_RESULTS_URL`. */
  url: string
  /** Base URL of the storage host the signed URLs point at. */
  blobUrl: string
  /** `ACTIONS_RUNTIME_TOKEN`: an unsigned JWT whose `scp` carries the two backend ids. */
  token: string
  workflowRunBackendId: string
  workflowJobRunBackendId: string
  /**
   * The variables the artifact client reads: the token, the results URL, and a
   * `GITHUB_SERVER_URL` of github.com (any other host is GHES, which the client refuses).
   */
  env: Record<string, string>
  /** Every request, in arrival order. */
  requests: ResultsRequest[]
  /** Artifacts by name: created ones plus those the fake was started with. */
  artifacts: Map<string, FakeArtifact>
  close(): Promise<void>
}

const b64url = (s: string): string => Buffer.from(s).toString('base64url')

/**
 * An unsecured JWT (`alg: none`, empty signature, RFC 7519 §6.1). The artifact client only
 * decodes `ACTIONS_RUNTIME_TOKEN` (jwt-decode) to read the backend ids from `scp`; the
 * service is what verifies it, and the fake compares it byte for byte instead.
 */
export function unsignedJwt(claims: Record<string, unknown>): string {
  return `${b64url(JSON.stringify({ typ: 'JWT', alg: 'none' }))}.${b64url(JSON.stringify(claims))}.`
}

/** A runtime token shaped like the runner's: other scopes around `Actions.Results:<run>:<job>`. */
export function runtimeToken(
  workflowRunBackendId: string,
  workflowJobRunBackendId: string
): string {
  const now = Math.floor(Date.now() / 1000)
  return unsignedJwt({
    scp: `Actions.ExampleScope Actions.Results:${workflowRunBackendId}:${workflowJobRunBackendId}`,
    iss: 'vstoken.actions.githubusercontent.com',
    aud: 'vstoken.actions.githubusercontent.com',
    nbf: now - 60,
    exp: now + 3600
  })
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of req as AsyncIterable<Buffer>) chunks.push(c)
  return Buffer.concat(chunks)
}

async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void
): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>()
  const server = http.createServer(handler)
  server.on('connection', (s: net.Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  return {
    port,
    // The storage SDK keeps its sockets alive; close them so the server can stop.
    close: async () => {
      for (const s of sockets) s.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

/** Twirp's error status for each error code the fake uses. */
const TWIRP_STATUS: Record<string, number> = {
  malformed: 400,
  invalid_argument: 400,
  failed_precondition: 400,
  unauthenticated: 401,
  permission_denied: 403,
  bad_route: 404,
  not_found: 404,
  already_exists: 409
}

function storageErrorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}\nRequestId:${randomUUID()}\nTime:${new Date().toISOString()}</Message></Error>`
}

/**
 * Starts the fake. `existing` names artifacts already on the run (as if an earlier step had
 * uploaded them), so CreateArtifact for one answers 409 `already_exists` like the service.
 * Artifact ids count up from `firstArtifactId` (default above 2^32, so an id that lost
 * its int64-as-string encoding on the way would show).
 */
export async function startFakeResults(
  opts: { existing?: string[]; firstArtifactId?: number } = {}
): Promise<FakeResults> {
  const workflowRunBackendId = randomUUID()
  const workflowJobRunBackendId = randomUUID()
  const token = runtimeToken(workflowRunBackendId, workflowJobRunBackendId)
  const requests: ResultsRequest[] = []
  const artifacts = new Map<string, FakeArtifact>()
  let nextId = opts.firstArtifactId ?? 5_000_000_001
  const byBlobPath = new Map<string, FakeArtifact>()
  let blobBase = ''

  const newArtifact = (name: string, create: Record<string, unknown>): FakeArtifact => {
    const blobPath = `/${ACCOUNT}/${CONTAINER}/${workflowRunBackendId}/workflow-job-run-${workflowJobRunBackendId}/artifacts/${createHash('sha256').update(name).digest('hex')}.zip`
    const a: FakeArtifact = {
      name,
      id: nextId++,
      create,
      blobPath,
      sig: randomBytes(24).toString('base64'),
      staged: new Map()
    }
    artifacts.set(name, a)
    byBlobPath.set(blobPath, a)
    return a
  }
  for (const name of opts.existing ?? []) {
    const a = newArtifact(name, { name })
    a.blob = Buffer.alloc(0)
    a.finalize = { name }
  }

  const record = (
    service: ResultsRequest['service'],
    req: IncomingMessage,
    body: Buffer
  ): ResultsRequest => {
    const rec: ResultsRequest = {
      service,
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body,
      status: 0
    }
    requests.push(rec)
    return rec
  }

  const results = await listen((req, res) => {
    void readAll(req).then((body) => {
      const rec = record('results', req, body)
      const answer = (status: number, json: unknown): void => {
        rec.status = status
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(json))
      }
      const fail = (code: string, msg: string): void =>
        answer(TWIRP_STATUS[code] ?? 500, { code, msg })

      const m = /^\/twirp\/([^/]+)\/([^/?]+)$/.exec(req.url ?? '')
      if (req.method !== 'POST' || !m || m[1] !== SERVICE)
        return fail('bad_route', `no handler for path "${req.url}"`)
      if (req.headers.authorization !== `Bearer ${token}`)
        return fail('unauthenticated', 'invalid or missing runtime token')
      if (!/^application\/json\b/.test(req.headers['content-type'] ?? ''))
        return fail('bad_route', `unexpected Content-Type: "${req.headers['content-type']}"`)
      let msg: Record<string, unknown>
      try {
        msg = JSON.parse(body.toString('utf8')) as Record<string, unknown>
      } catch {
        return fail('malformed', 'the json request could not be decoded')
      }
      // The service scopes every call to the run and job the token was issued for.
      if (
        msg.workflow_run_backend_id !== workflowRunBackendId ||
        msg.workflow_job_run_backend_id !== workflowJobRunBackendId
      )
        return fail('permission_denied', 'backend ids do not match the token')
      const name = msg.name
      if (typeof name !== 'string' || name === '') return fail('invalid_argument', 'name: empty')

      switch (m[2]) {
        case 'CreateArtifact': {
          if (artifacts.has(name))
            return fail(
              'already_exists',
              'an artifact with this name already exists on the workflow run'
            )
          const a = newArtifact(name, msg)
          // A SAS URL like the real one; `sig` is what the client masks in its logs.
          const sas = new URLSearchParams({
            sv: STORAGE_VERSION,
            sr: 'b',
            sp: 'cw',
            se: new Date(Date.now() + 3_600_000).toISOString(),
            sig: a.sig
          })
          return answer(200, {
            ok: true,
            signed_upload_url: `${blobBase}${a.blobPath}?${sas.toString()}`
          })
        }
        case 'FinalizeArtifact': {
          const a = artifacts.get(name)
          if (!a || a.finalize) return fail('not_found', `artifact "${name}" is not pending upload`)
          if (!a.blob) return fail('failed_precondition', 'no blob was committed for the artifact')
          // The client reports what it streamed; refuse a report that is not what arrived.
          const size = String(a.blob.length)
          const hash = `sha256:${createHash('sha256').update(a.blob).digest('hex')}`
          if (msg.size !== size)
            return fail('invalid_argument', `size ${String(msg.size)} != uploaded ${size}`)
          if (msg.hash !== hash)
            return fail('invalid_argument', `hash ${String(msg.hash)} != uploaded ${hash}`)
          a.finalize = msg
          // protojson writes int64 as a string, with proto (snake_case) field names.
          return answer(200, { ok: true, artifact_id: String(a.id) })
        }
        default:
          return fail('bad_route', `no handler for path "${req.url}"`)
      }
    })
  })

  const blob = await listen((req, res) => {
    void readAll(req).then((body) => {
      const rec = record('blob', req, body)
      const answer = (status: number, headers: Record<string, string>, text = ''): void => {
        rec.status = status
        res.writeHead(status, {
          'x-ms-request-id': randomUUID(),
          'x-ms-version': STORAGE_VERSION,
          date: new Date().toUTCString(),
          ...(req.headers['x-ms-client-request-id']
            ? { 'x-ms-client-request-id': String(req.headers['x-ms-client-request-id']) }
            : {}),
          ...headers
        })
        res.end(text)
      }
      const fail = (status: number, code: string, message: string): void =>
        answer(
          status,
          { 'content-type': 'application/xml', 'x-ms-error-code': code },
          storageErrorXml(code, message)
        )

      const url = new URL(req.url ?? '/', blobBase)
      const a = byBlobPath.get(url.pathname)
      if (!a || url.searchParams.get('sig') !== a.sig)
        return fail(403, 'AuthenticationFailed', 'Signature did not match.')
      if (req.method !== 'PUT' || a.finalize)
        return fail(403, 'AuthorizationPermissionMismatch', 'Not authorized for this operation.')
      const md5 = createHash('md5').update(body).digest('base64')

      const comp = url.searchParams.get('comp')
      if (comp === 'block') {
        // Put Block: the id is base64 and every id of a blob has the same length.
        const id = url.searchParams.get('blockid') ?? ''
        if (!id || Buffer.from(id, 'base64').toString('base64') !== id)
          return fail(400, 'InvalidQueryParameterValue', `blockid "${id}" is not base64`)
        a.staged.set(id, body)
        return answer(201, {
          'content-md5': md5,
          'x-ms-request-server-encrypted': 'true',
          'content-length': '0'
        })
      }
      if (comp === 'blocklist') {
        // Put Block List: the blob is the listed blocks in list order. Only staged
        // (uncommitted) blocks can be listed; the fake never has committed ones.
        const xml = body.toString('utf8')
        if (!/<BlockList>[\s\S]*<\/BlockList>/.test(xml))
          return fail(400, 'InvalidXmlDocument', 'XML specified is not syntactically valid.')
        const ids = [...xml.matchAll(/<(Latest|Uncommitted|Committed)>([^<]*)<\/\1>/g)].map(
          (x) => x[2]!
        )
        const parts: Buffer[] = []
        for (const id of ids) {
          const part = a.staged.get(id)
          if (!part) return fail(400, 'InvalidBlockList', 'The specified block list is invalid.')
          parts.push(part)
        }
        a.blob = Buffer.concat(parts)
        a.staged.clear()
        a.contentType = req.headers['x-ms-blob-content-type'] as string | undefined
        return answer(201, {
          etag: `"0x${randomBytes(7).toString('hex').toUpperCase()}"`,
          'last-modified': new Date().toUTCString(),
          'content-md5': md5,
          'x-ms-request-server-encrypted': 'true',
          'content-length': '0'
        })
      }
      // A single-shot Put Blob or anything else: not what the v6 client sends, so refuse it
      // loudly rather than accept an upload path nobody checked.
      return fail(400, 'UnsupportedOperation', `the fake does not implement comp=${comp}`)
    })
  })

  const url = `http://127.0.0.1:${results.port}/`
  blobBase = `http://127.0.0.1:${blob.port}`
  return {
    url,
    blobUrl: blobBase,
    token,
    workflowRunBackendId,
    workflowJobRunBackendId,
    env: {
      ACTIONS_RUNTIME_TOKEN: token,
      ACTIONS_RESULTS_URL: url,
      GITHUB_SERVER_URL: 'https://github.com'
    },
    requests,
    artifacts,
    close: async () => {
      await Promise.all([results.close(), blob.close()])
    }
  }
}

/**
 * The files in a zip, by name, from its central directory (what the client's archiver
 * writes streams with data descriptors, so local headers carry no sizes). Stored and
 * deflated entries only, no zip64; each entry's CRC-32 is checked.
 */
export function zipEntries(zip: Buffer): Map<string, Buffer> {
  // End of central directory: 22 bytes plus a comment of up to 64 KiB, at the very end.
  let eocd = -1
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i
      break
    }
  }
  if (eocd < 0) throw new Error('zip: no end of central directory record')
  const count = zip.readUInt16LE(eocd + 10)
  let p = zip.readUInt32LE(eocd + 16)
  const entries = new Map<string, Buffer>()
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error(`zip: bad central header at ${p}`)
    const method = zip.readUInt16LE(p + 10)
    const crc = zip.readUInt32LE(p + 16)
    const compressed = zip.readUInt32LE(p + 20)
    const size = zip.readUInt32LE(p + 24)
    const nameLen = zip.readUInt16LE(p + 28)
    const extraLen = zip.readUInt16LE(p + 30)
    const commentLen = zip.readUInt16LE(p + 32)
    const local = zip.readUInt32LE(p + 42)
    const name = zip.toString('utf8', p + 46, p + 46 + nameLen)
    if (compressed === 0xffffffff || size === 0xffffffff || local === 0xffffffff)
      throw new Error(`zip: ${name} is zip64`)
    if (zip.readUInt32LE(local) !== 0x04034b50) throw new Error(`zip: bad local header for ${name}`)
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28)
    const raw = zip.subarray(start, start + compressed)
    let data: Buffer
    if (method === 0) data = Buffer.from(raw)
    else if (method === 8) data = inflateRawSync(raw)
    else throw new Error(`zip: ${name} uses method ${method}`)
    if (data.length !== size) throw new Error(`zip: ${name} is ${data.length} bytes, not ${size}`)
    if (crc32(data) !== crc) throw new Error(`zip: ${name} fails its CRC-32`)
    entries.set(name, data)
    p += 46 + nameLen + extraLen + commentLen
  }
  return entries
}
