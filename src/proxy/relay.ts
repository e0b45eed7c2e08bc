/**
 * What goes back to the client: an upstream answer relayed through the scrubber
 * ({@link relayResponse}), or a plain-text refusal written straight onto a raw socket
 * ({@link refuseRaw}). Every answer of the proxy leaves through one of these two.
 */
import http, { type ServerResponse } from 'node:http'
import type net from 'node:net'
import { pipeline as streamPipeline, Transform, type Readable } from 'node:stream'
import { type Headers } from './inject.js'
import { scrubBuffer, StreamScrubber } from './scrub.js'
import { redactHeaders, type NetworkEntry } from './log.js'
import { bodyCodings, decoder } from './codings.js'
import { readAll, responseHasBody, responseHeaders } from './http-forms.js'

/** Responses up to this size with a Content-Length are scrubbed whole and sent in one write. */
const SMALL_BODY_BYTES = 64 * 1024

/**
 * Answers on a socket that has no HTTP response object (CONNECT, upgrades, client errors):
 * a whole HTTP/1.1 response with a plain-text body, then the connection closes. `extra`
 * holds additional header lines, each ending in CRLF.
 */
export function refuseRaw(socket: net.Socket, status: number, message: string, extra = ''): void {
  if (!socket.writable) return void socket.destroy()
  const body = `Airlock: ${message}\n`
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n${extra}\r\n${body}`
  )
}

/**
 * Sends an upstream answer on to the client. Every upstream response with a final status
 * takes this one path (normal answers and declined WebSocket upgrades alike; the response
 * transformers' buffered path applies the same steps), so none escapes the scrubber:
 * hop-by-hop headers dropped, header values scrubbed and headers whose NAME holds a
 * secret dropped, every transfer and content coding undone (or the response refused
 * before a byte goes out) so the scrubber reads plain bytes, and the body scrubbed whole
 * or as a stream. The status line is Node's own (no upstream reason phrase), and
 * informational (1xx) answers and trailers are never relayed.
 */
export async function relayResponse(
  res: ServerResponse,
  up: { status: number; headers: Headers; body: Readable },
  entry: NetworkEntry,
  secrets: ReadonlyArray<[string, string]>
): Promise<void> {
  const scrub = secrets.length > 0
  const respHeaders = responseHeaders(up.headers, secrets)
  entry.responseHeaders = redactHeaders(respHeaders, undefined, secrets)
  const withBody = responseHasBody(entry.method, up.status)
  const codings = scrub && withBody ? bodyCodings(up.headers) : []
  // A small response of known length (most API answers) is read whole, scrubbed and sent
  // with its headers in one write and an exact Content-Length: streaming it through the
  // scrubber would need chunked framing and a separate TLS record for the headers.
  const declared = Number(respHeaders['content-length'] ?? NaN)
  if (
    scrub &&
    withBody &&
    codings.length === 0 &&
    Number.isInteger(declared) &&
    declared <= SMALL_BODY_BYTES
  ) {
    const raw = await readAll(up.body, SMALL_BODY_BYTES)
    entry.bytesIn = raw.length
    const out = scrubBuffer(raw, secrets)
    respHeaders['content-length'] = String(out.length)
    res.writeHead(up.status, respHeaders as http.OutgoingHttpHeaders)
    res.end(out)
    return
  }
  // One stage counts (and scrubs): every extra stream stage costs a hop per chunk on the
  // hot path.
  const scrubber = scrub && withBody ? new StreamScrubber(secrets) : undefined
  if (scrubber) {
    // Scrubbing can change the length; let Node frame the body as chunked instead. A
    // response without a body (HEAD, 204, 304) keeps its Content-Length: it describes
    // the resource, and clients read sizes from HEAD (RFC 9110 §9.3.2).
    delete respHeaders['content-length']
  }
  // The body goes on decoded: the client gets what the scrubber read.
  if (codings.length > 0) delete respHeaders['content-encoding']
  const stage = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      entry.bytesIn += chunk.length
      cb(null, scrubber ? scrubber.push(chunk) : chunk)
    },
    flush(cb) {
      cb(null, scrubber?.flush())
    }
  })
  res.writeHead(up.status, respHeaders as http.OutgoingHttpHeaders)
  // Streams (SSE, ndjson: no length) get their headers at once; a response with a length
  // sends headers with its first chunk, saving a TLS record per request.
  if (respHeaders['content-length'] === undefined) res.flushHeaders()
  // Every stage sits in one pipeline, so a failure anywhere (the client gone, shutdown, a
  // corrupt compressed body) destroys the upstream body too and undici aborts that
  // request; a body that fails to decode is cut, never passed on raw.
  await new Promise<void>((resolve, reject) =>
    codings.length === 0
      ? streamPipeline(up.body, stage, res, (err) => (err ? reject(err) : resolve()))
      : streamPipeline([up.body, ...codings.map(decoder), stage, res], (err) =>
          err ? reject(err) : resolve()
        )
  )
}
