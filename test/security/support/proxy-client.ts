/**
 * A small client for driving an Airlock proxy from the test process: CONNECT with the run
 * token, TLS to the name through the tunnel (trusting the run CA), then HTTP/1.1 requests
 * on that connection, each read to its end (Content-Length or chunked).
 */
import net from 'node:net'
import tls from 'node:tls'

/** Where the proxy is: its `http://airlock:<token>@127.0.0.1:<port>` URL and its CA. */
export interface ProxyTarget {
  url: string
  caPem: string
}

/** One TLS connection through a CONNECT tunnel. */
export class TunnelConn {
  private buf = Buffer.alloc(0)
  private ended = false
  private waiters: Array<() => void> = []

  constructor(readonly socket: tls.TLSSocket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d])
      this.wake()
    })
    const end = (): void => {
      this.ended = true
      this.wake()
    }
    socket.on('close', end)
    socket.on('end', end)
    socket.on('error', end)
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w()
  }

  private async until(pred: () => boolean, deadline: number): Promise<boolean> {
    while (!pred()) {
      if (this.ended || Date.now() >= deadline) return pred()
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(0, deadline - Date.now()))
        this.waiters.push(() => {
          clearTimeout(t)
          resolve()
        })
      })
    }
    return true
  }

  /** GET path with Host; resolves with the status (0 when the connection failed). */
  async get(host: string, path: string, timeoutMs = 30_000): Promise<number> {
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`)
    const deadline = Date.now() + timeoutMs
    let end = -1
    if (!(await this.until(() => (end = this.buf.indexOf('\r\n\r\n')) >= 0, deadline))) return 0
    const head = this.buf.subarray(0, end).toString('latin1')
    this.buf = this.buf.subarray(end + 4)
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0)
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1]
    if (length !== undefined) {
      const n = Number(length)
      if (!(await this.until(() => this.buf.length >= n, deadline))) return 0
      this.buf = this.buf.subarray(n)
    } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      for (;;) {
        let nl = -1
        if (!(await this.until(() => (nl = this.buf.indexOf('\r\n')) >= 0, deadline))) return 0
        const size = parseInt(this.buf.subarray(0, nl).toString('latin1'), 16)
        if (!(await this.until(() => this.buf.length >= nl + 4 + size, deadline))) return 0
        this.buf = this.buf.subarray(nl + 4 + size)
        if (size === 0) break
      }
    }
    return status
  }

  close(): void {
    this.socket.destroy()
  }
}

/** Opens CONNECT host:443 through the proxy and a verified TLS session for host inside it. */
export async function openTunnel(
  proxy: ProxyTarget,
  host: string,
  timeoutMs = 30_000
): Promise<TunnelConn> {
  const u = new URL(proxy.url)
  const auth = Buffer.from(
    `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`
  ).toString('base64')
  const raw = net.connect(Number(u.port), u.hostname)
  const timer = setTimeout(() => raw.destroy(new Error('timeout')), timeoutMs)
  try {
    await new Promise<void>((resolve, reject) => {
      raw.once('connect', resolve)
      raw.once('error', reject)
    })
    raw.write(
      `CONNECT ${host}:443 HTTP/1.1\r\nHost: ${host}:443\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`
    )
    const head = await new Promise<string>((resolve, reject) => {
      let buf = Buffer.alloc(0)
      const onData = (d: Buffer): void => {
        buf = Buffer.concat([buf, d])
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) return
        raw.off('data', onData)
        if (end + 4 < buf.length) raw.unshift(buf.subarray(end + 4))
        resolve(buf.subarray(0, end).toString('latin1'))
      }
      raw.on('data', onData)
      raw.once('error', reject)
      raw.once('close', () => reject(new Error('closed during CONNECT')))
    })
    if (!/^HTTP\/1\.1 200/.test(head)) throw new Error(`CONNECT ${host}: ${head.split('\r\n')[0]}`)
    const sock = tls.connect({ socket: raw, servername: host, ca: proxy.caPem })
    await new Promise<void>((resolve, reject) => {
      sock.once('secureConnect', resolve)
      sock.once('error', reject)
    })
    return new TunnelConn(sock)
  } catch (err) {
    raw.destroy()
    throw err
  } finally {
    clearTimeout(timer)
  }
}
