/**
 * Dialling an upstream: the one place that opens outbound connections, for the proxy's
 * upstream pool and WebSocket relay (upstream.ts) and for the grant calls (grant/http.ts).
 * It connects to the address it is given (the checked address, or the `connect-to` target),
 * optionally through a CONNECT tunnel of the runner's own proxy, and verifies TLS for the
 * NAME asked for whatever address was dialled (SNI too), against the trust store built
 * here (bundled and OS roots plus `upstream-ca`). Which address is allowed is the caller's
 * decision (the egress policy); this module only never dials anything else.
 */
import { once } from 'node:events'
import { existsSync, readFileSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'

/** What to reach and how. */
export interface DialRequest {
  /** The name the client asked for: TLS is verified for it and it is sent as SNI. */
  name: string
  port: number
  /** The address to dial: the policy's checked address or the `connect-to` target. */
  address: { host: string; port: number }
  /**
   * Whether `address` is a route the operator set (`connect-to`): a tunnel through the
   * runner's proxy then goes to it; otherwise the tunnel names `name` and the runner's
   * proxy resolves it.
   */
  routed: boolean
  secure: boolean
  /** The roots to verify upstream certificates against; undefined = Node's default store. */
  trust?: tls.SecureContext
  /** The runner's proxy to tunnel through, and how its errors name it. */
  via?: { url: string; label: string }
}

/** Opens the connection described by `req`; resolves once TCP (and TLS) is up. */
export async function dial(req: DialRequest): Promise<net.Socket> {
  const raw = req.via
    ? await tunnel(
        req.via,
        req.routed
          ? `${formatHost(req.address.host)}:${req.address.port}`
          : `${formatHost(req.name)}:${req.port}`
      )
    : undefined
  if (!req.secure) {
    if (raw) return raw
    const sock = net.connect({ host: req.address.host, port: req.address.port })
    await once(sock, 'connect')
    return sock
  }
  const options: tls.ConnectionOptions = {
    ALPNProtocols: ['http/1.1'],
    minVersion: 'TLSv1.2',
    // Verify the certificate for the name the agent asked for, whatever address we dialled.
    checkServerIdentity: (_name, cert) => tls.checkServerIdentity(req.name, cert)
  }
  if (req.trust) options.secureContext = req.trust
  if (net.isIP(req.name) === 0) options.servername = req.name
  if (raw) options.socket = raw
  else Object.assign(options, { host: req.address.host, port: req.address.port })
  const sock = tls.connect(options)
  await new Promise<void>((resolve, reject) => {
    sock.once('secureConnect', resolve)
    sock.once('error', reject)
  })
  sock.removeAllListeners('error')
  return sock
}

/**
 * A trust store for upstream TLS: Node's bundled roots, the OS store (Node ≥ 22.15 can read
 * it; older Nodes have only the bundled roots), the file NODE_EXTRA_CA_CERTS names when
 * `nodeExtraCaCerts` is given (a runner behind a TLS gateway), and the extra PEM CAs
 * (`upstream-ca`). Built once: parsing hundreds of roots per connection cost ~50 ms of
 * blocked event loop each.
 */
export function upstreamTrust(
  extraCa: string[],
  opts: { nodeExtraCaCerts?: string | undefined } = {}
): tls.SecureContext {
  const extraFile = opts.nodeExtraCaCerts
  const fromFile = extraFile && existsSync(extraFile) ? [readFileSync(extraFile, 'utf8')] : []
  if (process.execArgv.includes('--use-system-ca')) {
    // Started with Node's own OS store (the proxy daemon: DAEMON_NODE_FLAGS): a context on
    // Node's root store (bundled and OS roots, parsed once, in C++) with only our CAs added
    // (which gives it its own copy of that store). Handing every root to createSecureContext
    // as PEM text instead took ~100 ms of CPU after each start, beside the starting container.
    const context = tls.createSecureContext({ minVersion: 'TLSv1.2' })
    const native = context.context as { addCACert(pem: string): void }
    for (const text of [...fromFile, ...extraCa])
      for (const pem of text.match(PEM_CERT) ?? [text]) native.addCACert(pem)
    return context
  }
  const getCA = (tls as { getCACertificates?: (type: string) => string[] }).getCACertificates
  const system = typeof getCA === 'function' ? getCA('system') : []
  // The system store repeats certificates (and the bundled ones, in other line breaks): each
  // one parsed again is CPU and memory for nothing, so certificates count once by content.
  const ca = new Map<string, string>()
  for (const text of [...tls.rootCertificates, ...system, ...fromFile, ...extraCa]) {
    const certs = text.match(PEM_CERT) ?? [text.trim()]
    for (const pem of certs) ca.set(pem.replace(/-----[^-]+-----|\s/g, ''), pem)
  }
  return tls.createSecureContext({ ca: [...ca.values()], minVersion: 'TLSv1.2' })
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

function formatHost(host: string): string {
  return net.isIPv6(host) ? `[${host}]` : host
}

/** A CONNECT tunnel through the runner's own proxy (RFC 9110 §9.3.6); returns the raw socket. */
async function tunnel(via: { url: string; label: string }, authority: string): Promise<net.Socket> {
  const url = new URL(via.url)
  const sock = net.connect({ host: url.hostname, port: Number(url.port) || 80 })
  await once(sock, 'connect')
  const auth = url.username
    ? `Proxy-Authorization: Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}\r\n`
    : ''
  sock.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth}\r\n`)
  let head = Buffer.alloc(0)
  while (!head.includes('\r\n\r\n')) {
    const [chunk] = (await once(sock, 'data')) as [Buffer]
    head = Buffer.concat([head, chunk])
    if (head.length > 16_384) {
      sock.destroy()
      throw new Error(`${via.label} sent an oversized CONNECT response`)
    }
  }
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(head.toString('latin1'))?.[1]
  if (status !== '200') {
    sock.destroy()
    throw new Error(`${via.label} refused CONNECT ${authority}: ${status ?? 'bad response'}`)
  }
  const rest = head.subarray(head.indexOf('\r\n\r\n') + 4)
  sock.pause()
  if (rest.length > 0) sock.unshift(rest)
  return sock
}
