/**
 * The WebSocket relay: an upgrade request inside an intercepted tunnel, already bound to
 * the tunnel's host, gets its credentials injected, goes upstream on the checked address,
 * and after the upstream's 101 the two sockets are spliced with every upstream frame read
 * by the frame scrubber. Anything else that would switch protocols (h2c, a custom one, a
 * WebSocket extension) is refused: its bytes would be a channel the scrubber cannot read.
 */
import http, { type IncomingMessage } from 'node:http'
import type net from 'node:net'
import { type Headers } from './inject.js'
import { nameHoldsSecret, scrubText } from './scrub.js'
import { redactHeaders, type NetworkEntry } from './log.js'
import { errorCode, hostHeaderFor, isWebSocketUpgrade } from './http-forms.js'
import type { PipelineContext } from './forward.js'
import { refuseRaw, relayResponse } from './relay.js'
import { UpstreamBlockedError } from './upstream.js'
import { WsFrameScrubber } from './ws-scrub.js'

/** The intercepted tunnel an upgrade arrived in. */
export interface UpgradeTunnel {
  host: string
  port: number
  /** Audit mode: what block mode would have refused this tunnel for. */
  audited?: string
}

/** Relays one upgrade request (path already checked against the tunnel); see the module comment. */
export async function relayUpgrade(
  ctx: PipelineContext,
  req: IncomingMessage,
  socket: net.Socket,
  head: Buffer,
  tunnel: UpgradeTunnel,
  path: string
): Promise<void> {
  const url = `wss://${tunnel.host}${tunnel.port === 443 ? '' : `:${tunnel.port}`}${path}`
  // Only WebSocket is relayed: after a 101 for any other protocol (h2c, a custom one) the
  // bytes are opaque, and a channel the scrubber cannot read is a channel for secrets.
  if (!isWebSocketUpgrade(req.headers.upgrade))
    return ctx.block(
      req,
      socket,
      'upgrade-protocol',
      `Airlock blocked an upgrade to "${String(req.headers.upgrade ?? '')}" for ${url}: only WebSocket is relayed`,
      url
    )
  const id = ctx.beginRequest()
  const started = performance.now()
  const clientHeaders: Headers = { ...req.headers }
  delete clientHeaders['proxy-authorization']
  delete clientHeaders['proxy-connection']
  clientHeaders.host = hostHeaderFor(tunnel.host, tunnel.port, 443)
  const secrets = ctx.injection.secretList()
  // Compressed frames would hide a secret from the frame scrubber.
  if (secrets.length > 0) delete clientHeaders['sec-websocket-extensions']
  const inj = ctx.injection.apply(tunnel.host, path, clientHeaders)
  const entry: NetworkEntry = {
    time: new Date().toISOString(),
    id,
    method: req.method ?? 'GET',
    url: scrubText(url, secrets),
    bytesOut: 0,
    bytesIn: 0,
    durationMs: 0,
    requestHeaders: redactHeaders(clientHeaders, inj.injected, secrets)
  }
  if (inj.grants.length > 0) {
    entry.grants = inj.grants
    // WebSocket is the main path of some agents (Codex): its injections count the same.
    ctx.noteInjections(tunnel.host, inj.grants)
  }
  if (tunnel.audited) entry.audited = tunnel.audited
  let logged = false
  const finish = (): void => {
    if (logged) return
    logged = true
    entry.durationMs = Math.round(performance.now() - started)
    ctx.networkLog.write(entry)
  }
  const failed = (): void =>
    refuseRaw(socket, 502, scrubText(`upstream ${tunnel.host} failed: ${entry.error}`, secrets))
  try {
    const upstream = await ctx.upstream.connect(tunnel.host, tunnel.port, true)
    const upReq = http.request({
      createConnection: () => upstream,
      method: req.method,
      path: inj.path,
      headers: inj.headers as http.OutgoingHttpHeaders,
      host: tunnel.host
    })
    upReq.on('upgrade', (upRes: IncomingMessage, upSocket: net.Socket, upHead: Buffer) => {
      // Node drops its own listeners once the socket is upgraded; without this, a reset
      // from the upstream would be an uncaught exception and end the whole proxy.
      upSocket.on('error', () => upSocket.destroy())
      entry.status = upRes.statusCode
      const done = (): void => {
        upSocket.destroy()
        socket.destroy()
      }
      // The upstream must switch to the protocol asked for, without an extension (none was
      // offered when secrets exist): anything else is a stream the scrubber cannot read.
      const refused =
        !isWebSocketUpgrade(upRes.headers.upgrade) ||
        (secrets.length > 0 && upRes.headers['sec-websocket-extensions'] !== undefined)
      if (refused) {
        entry.error = 'AIRLOCK_UPGRADE_REFUSED'
        finish()
        upSocket.destroy()
        refuseRaw(
          socket,
          502,
          `upstream ${tunnel.host} switched to a protocol or extension the proxy cannot scrub`
        )
        return
      }
      // The status line is the proxy's own (an upstream reason phrase is its text), and a
      // header whose name holds a secret is dropped like on every other response.
      const lines = ['HTTP/1.1 101 Switching Protocols']
      for (let i = 0; i < upRes.rawHeaders.length; i += 2) {
        const name = upRes.rawHeaders[i] ?? ''
        if (secrets.length > 0 && nameHoldsSecret(name, secrets)) continue
        lines.push(`${name}: ${scrubText(upRes.rawHeaders[i + 1] ?? '', secrets)}`)
      }
      socket.write(`${lines.join('\r\n')}\r\n\r\n`)
      if (head.length > 0) upSocket.write(head)
      upSocket.on('data', (d: Buffer) => (entry.bytesIn += d.length))
      socket.on('data', (d: Buffer) => (entry.bytesOut += d.length))
      const scrubber = new WsFrameScrubber(secrets)
      // Frames that arrived with the 101 are frames like any other: through the scrubber.
      if (upHead.length > 0) {
        entry.bytesIn += upHead.length
        scrubber.write(upHead)
      }
      // A frame the scrubber cannot read ends the connection rather than pass.
      scrubber.on('error', (err) => {
        entry.error = errorCode(err)
        done()
      })
      upSocket.pipe(scrubber).pipe(socket).pipe(upSocket)
      upSocket.once('close', done)
      socket.once('close', () => {
        done()
        finish()
      })
    })
    upReq.on('response', (upRes: IncomingMessage) => {
      // The upstream declined the upgrade: its answer goes out through the same path (and
      // scrubbing) as every other response, then the connection closes.
      entry.status = upRes.statusCode
      const out = new http.ServerResponse(req)
      out.assignSocket(socket)
      out.shouldKeepAlive = false
      relayResponse(
        out,
        { status: upRes.statusCode ?? 502, headers: upRes.headers, body: upRes },
        entry,
        secrets
      )
        .then(
          () => socket.end(),
          (err: unknown) => {
            entry.error = errorCode(err)
            if (out.headersSent) return void socket.destroy()
            out.detachSocket(socket)
            failed()
          }
        )
        .finally(finish)
    })
    upReq.on('error', (err) => {
      entry.error = errorCode(err)
      finish()
      failed()
    })
    upReq.end()
  } catch (err) {
    if (err instanceof UpstreamBlockedError)
      return ctx.block(req, socket, err.reason, err.message, url)
    entry.error = errorCode(err)
    finish()
    failed()
  }
}
