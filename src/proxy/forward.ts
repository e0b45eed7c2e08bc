/**
 * The request pipeline: one request the proxy has already admitted (policy checked, Host
 * bound to the tunnel or URL) goes upstream and its answer comes back. In order: hop-by-hop
 * headers dropped and the canonical Host set, credentials injected, the request signed
 * (AWS SigV4), placeholders in a small body substituted, the request sent on the checked
 * upstream, the answer transformed (provider endpoints) and relayed through the scrubber,
 * and one line written to network.jsonl. Admission (auth, CONNECT, policy) is server.ts's.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type net from 'node:net'
import { pipeline as streamPipeline, Transform, type Readable } from 'node:stream'
import type { RequestSigner } from '../provider/index.js'
import { type InjectionResult, type InjectionTable } from './inject.js'
import { scrubBuffer, scrubText } from './scrub.js'
import { redactHeaders, type JsonlWriter, type NetworkEntry } from './log.js'
import { bodyCodings, decodeSync } from './codings.js'
import {
  errorCode,
  hasBody,
  hostHeaderFor,
  isBufferable,
  readAll,
  responseHeaders,
  stripHopByHop
} from './http-forms.js'
import { relayResponse } from './relay.js'
import { UpstreamBlockedError, type Upstream } from './upstream.js'

/**
 * What the pipeline needs of the proxy around it: the tables and the upstream, the log, and
 * the proxy's own bookkeeping and refusal (so a refusal here is recorded like any other).
 */
export interface PipelineContext {
  readonly injection: InjectionTable
  readonly upstream: Upstream
  readonly networkLog: JsonlWriter
  /** Request bodies up to this size are buffered for placeholder substitution. */
  readonly substitutionMaxBytes: number
  /** Counts a request and returns its id for the log. */
  beginRequest(): number
  /** Counts injections per host and grant (and audits the first of each pair). */
  noteInjections(host: string, grants: string[]): void
  /** Records a refusal and answers 403 with `X-Airlock-Blocked`. */
  block(
    req: IncomingMessage,
    target: net.Socket | ServerResponse,
    reason: string,
    message: string,
    url?: string
  ): void
  /** Operational log lines (never secrets). */
  log(line: string): void
}

/** Where an admitted request goes. */
export interface ForwardTarget {
  scheme: 'https' | 'http'
  host: string
  port: number
  path: string
  /** Whether credentials may be injected (never on plain HTTP). */
  inject: boolean
  /** Audit mode: what block mode would have refused this for. */
  audited?: string
}

/**
 * Runs the host's request signer over the injected request: buffers the body when the
 * signer must hash it, sets the headers it returns on `inj` and records the grant. A
 * refusal is answered (403, `X-Airlock-Blocked: <signer>`) and logged like any block;
 * then, or when the client went away, returns undefined.
 */
async function signRequest(
  ctx: PipelineContext,
  req: IncomingMessage,
  res: ServerResponse,
  inj: InjectionResult,
  host: string,
  signing: { grant: string; signer: RequestSigner },
  logUrl: string
): Promise<{ body?: Buffer } | undefined> {
  const { grant, signer } = signing
  const refuse = (why: string): undefined => {
    ctx.block(
      req,
      res,
      signer.name,
      `Airlock refused ${req.method ?? ''} ${logUrl} (${grant} ${signer.name}): ${why}`,
      logUrl
    )
    return undefined
  }
  let body: Buffer | undefined
  if (hasBody(req) && signer.needsBody(inj.headers)) {
    const length = Number(req.headers['content-length'] ?? NaN)
    const tooBig = `the body is larger than ${signer.maxBodyBytes} bytes; send x-amz-content-sha256 (or UNSIGNED-PAYLOAD) so it need not be hashed here`
    if (Number.isFinite(length) && length > signer.maxBodyBytes) return refuse(tooBig)
    try {
      body = await readAll(req, signer.maxBodyBytes)
    } catch (err) {
      if (/^body larger than/.test((err as Error).message)) return refuse(tooBig)
      ctx.log(`request body for ${host} failed: ${errorCode(err)}`)
      res.destroy()
      return undefined
    }
  }
  const outcome = await signer.sign({
    method: req.method ?? 'GET',
    host,
    path: inj.path,
    headers: inj.headers,
    ...(body ? { body } : {})
  })
  if (outcome.refused !== undefined) return refuse(outcome.refused)
  if (outcome.signed) {
    for (const [name, value] of Object.entries(outcome.headers)) {
      inj.headers[name] = value
      inj.injected.set(name, grant)
    }
    if (!inj.grants.includes(grant)) inj.grants.push(grant)
  }
  return body ? { body } : {}
}

/** Sends one admitted request upstream and its answer back; see the module comment. */
export async function forward(
  ctx: PipelineContext,
  req: IncomingMessage,
  res: ServerResponse,
  target: ForwardTarget
): Promise<void> {
  const started = performance.now()
  const id = ctx.beginRequest()
  const defaultPort = target.scheme === 'https' ? 443 : 80
  const origin = `${target.scheme}://${target.host.includes(':') ? `[${target.host}]` : target.host}${target.port === defaultPort ? '' : `:${target.port}`}`
  const logUrl = `${origin}${target.path}`
  const clientHeaders = stripHopByHop(req.headers)
  // The Host checked against the tunnel (or URL) goes upstream in its one canonical form.
  clientHeaders.host = hostHeaderFor(target.host, target.port, defaultPort)
  const inj: InjectionResult = target.inject
    ? ctx.injection.apply(target.host, target.path, clientHeaders)
    : {
        headers: clientHeaders,
        path: target.path,
        injected: new Map(),
        grants: [],
        transformers: []
      }
  // Signing (AWS SigV4) comes last: the signature covers the request exactly as it leaves.
  const signing = target.inject ? ctx.injection.signerFor(target.host) : undefined
  let signedBody: Buffer | undefined
  if (signing) {
    const signed = await signRequest(ctx, req, res, inj, target.host, signing, logUrl)
    if (!signed) return
    signedBody = signed.body
  }
  const credentialed = inj.grants.length > 0 || inj.substitution !== undefined
  // Needed for the log in any case: no line of network.jsonl may carry a known secret.
  const secrets = ctx.injection.secretList()
  // Every response is scrubbed, not only credentialed ones: a host may store a credential
  // and another allowed host (or the same one, later) may hand it back.
  const scrub = secrets.length > 0
  const upstreamHeaders: Record<string, string | string[]> = {}
  for (const k in inj.headers) {
    const v = inj.headers[k]
    if (v !== undefined) upstreamHeaders[k] = v
  }
  // `Expect: 100-continue` is answered by this hop (Node sends the 100 before the request
  // event), and undici refuses to send it: forwarding it turned every curl upload > 1 MB
  // into a 502 (RFC 9110 §10.1.1 lets a proxy that has answered drop it).
  delete upstreamHeaders.expect
  // Echoed secrets must be visible to the scrubber, so credentialed responses come uncompressed.
  if (credentialed) upstreamHeaders['accept-encoding'] = 'identity'
  const entry: NetworkEntry = {
    time: new Date().toISOString(),
    id,
    method: req.method ?? 'GET',
    url: scrubText(logUrl, secrets),
    bytesOut: 0,
    bytesIn: 0,
    durationMs: 0,
    requestHeaders: redactHeaders(clientHeaders, inj.injected, secrets)
  }
  if (target.audited) entry.audited = target.audited
  if (inj.grants.length > 0) {
    entry.grants = inj.grants
    ctx.noteInjections(target.host, inj.grants)
  }
  let body: Readable | Buffer | undefined = signedBody ?? (hasBody(req) ? req : undefined)
  if (signedBody) upstreamHeaders['content-length'] = String(signedBody.length)
  try {
    if (body && !Buffer.isBuffer(body) && inj.substitution) {
      const length = Number(req.headers['content-length'] ?? NaN)
      if (Number.isFinite(length) && length <= ctx.substitutionMaxBytes) {
        // Inside the try: a client that aborts mid-body is an error for this request only.
        const raw = await readAll(req, ctx.substitutionMaxBytes)
        body = Buffer.from(
          raw.toString('latin1').split(inj.substitution.placeholder).join(inj.substitution.real),
          'latin1'
        )
        upstreamHeaders['content-length'] = String(body.length)
      }
    }
  } catch (err) {
    entry.error = errorCode(err)
    entry.durationMs = Math.round(performance.now() - started)
    ctx.networkLog.write(entry)
    res.destroy()
    return
  }
  // A client that goes away (or is cut at shutdown) aborts its upstream request, whether
  // it is still waiting for the first byte or streaming: nothing is left running upstream.
  const abort = new AbortController()
  res.once('close', () => {
    if (!res.writableFinished) abort.abort()
  })
  let upBodyIn: Readable | Buffer | null = null
  if (Buffer.isBuffer(body)) upBodyIn = body
  else if (body) {
    // Made only for a streamed body: most requests have none, and a stream stage per
    // request is garbage the collector pays for.
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        entry.bytesOut += chunk.length
        cb(null, chunk)
      }
    })
    // pipeline, not pipe: a client that aborts mid-upload must fail the upstream request
    // instead of leaving it waiting for the rest of the body.
    upBodyIn = counter
    streamPipeline(body, counter, () => {})
  }
  try {
    const up = await ctx.upstream.request({
      origin,
      path: inj.path,
      method: req.method ?? 'GET',
      headers: upstreamHeaders,
      signal: abort.signal,
      // undici follows no redirect without its redirect interceptor, which is never added:
      // a 3xx goes back to the client, and credentials never follow it anywhere.
      body: upBodyIn
    })
    if (Buffer.isBuffer(body)) entry.bytesOut = body.length
    entry.status = up.statusCode
    if (inj.transformers.length > 0 && isBufferable(up.headers)) {
      const respHeaders = responseHeaders(up.headers, secrets)
      entry.responseHeaders = redactHeaders(respHeaders, undefined, secrets)
      const codings = scrub ? bodyCodings(up.headers) : []
      let buffered = await readAll(up.body, 1024 * 1024)
      if (codings.length > 0) {
        for (const c of codings) buffered = decodeSync(c, buffered)
        delete respHeaders['content-encoding']
      }
      let out = { status: up.statusCode, headers: respHeaders, body: buffered }
      for (const t of inj.transformers) {
        const replaced = t(
          { method: entry.method, host: target.host, path: target.path, headers: clientHeaders },
          out
        )
        if (replaced) {
          out = replaced
          break
        }
      }
      entry.status = out.status
      // Scrub first, then frame: a replacement may be longer or shorter than the secret.
      const final = scrub ? scrubBuffer(out.body, secrets) : out.body
      out.headers['content-length'] = String(final.length)
      res.writeHead(out.status, out.headers as http.OutgoingHttpHeaders)
      res.end(final)
      entry.bytesIn = final.length
      return
    }
    await relayResponse(
      res,
      { status: up.statusCode, headers: up.headers, body: up.body },
      entry,
      secrets
    )
  } catch (err) {
    if (err instanceof UpstreamBlockedError) {
      entry.blocked = err.reason
      ctx.block(req, res, err.reason, err.message, logUrl)
      return
    }
    entry.error = errorCode(err)
    if (!res.headersSent) {
      entry.status = 502
      const msg = scrubText(`Airlock: upstream ${target.host} failed: ${entry.error}\n`, secrets)
      res.writeHead(502, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(msg)
      })
      res.end(msg)
    } else {
      // Mid-stream failure: cut the client's connection so it sees an error, not a short body.
      res.destroy()
    }
  } finally {
    entry.durationMs = Math.round(performance.now() - started)
    if (!entry.blocked) ctx.networkLog.write(entry)
  }
}
