/**
 * A canary: TCP and UDP listeners on every address of the runner (`::`, dual stack) at one
 * port. Any contact at all is a breach, so attacks aim at this port on loopback, docker0,
 * the runner's own addresses and names resolving to them: if anything reached it, the
 * proxy (or the sandbox) let it through.
 */
import dgram from 'node:dgram'
import net from 'node:net'
import { networkInterfaces } from 'node:os'

/** One contact with the canary. */
export interface CanaryHit {
  proto: 'tcp' | 'udp'
  from: string
  to: string
  /** First bytes received (latin1, at most 200 characters). */
  data: string
}

/** A running canary; see {@link startCanary}. */
export interface Canary {
  port: number
  hits: CanaryHit[]
  close(): Promise<void>
}

/** Listens on [::]:port (and 0.0.0.0 where IPv6 is off) for TCP and UDP; records every hit. */
export async function startCanary(): Promise<Canary> {
  const hits: CanaryHit[] = []
  const sockets = new Set<net.Socket>()
  const tcp = net.createServer((s) => {
    sockets.add(s)
    const hit: CanaryHit = {
      proto: 'tcp',
      from: s.remoteAddress ?? '',
      to: s.localAddress ?? '',
      data: ''
    }
    hits.push(hit)
    s.on('data', (d: Buffer) => {
      if (hit.data.length < 200) hit.data += d.toString('latin1').slice(0, 200 - hit.data.length)
    })
    s.on('error', () => undefined)
    s.on('close', () => sockets.delete(s))
  })
  const listen = (host: string, port: number): Promise<void> =>
    new Promise((resolve, reject) => {
      tcp.once('error', reject)
      tcp.listen({ host, port, ipv6Only: false }, () => {
        tcp.off('error', reject)
        resolve()
      })
    })
  await listen('::', 0).catch(() => listen('0.0.0.0', 0))
  const port = (tcp.address() as net.AddressInfo).port
  const udp = dgram.createSocket({ type: 'udp6', ipv6Only: false })
  udp.on('message', (msg, rinfo) => {
    hits.push({ proto: 'udp', from: rinfo.address, to: '', data: msg.toString('latin1', 0, 200) })
  })
  udp.on('error', () => undefined)
  await new Promise<void>((resolve) => udp.bind(port, '::', () => resolve())).catch(() => undefined)
  return {
    port,
    hits,
    close: async () => {
      for (const s of sockets) s.destroy()
      udp.close()
      await new Promise<void>((resolve) => tcp.close(() => resolve()))
    }
  }
}

/** The runner's own non-loopback addresses, for attacks that aim at the host itself. */
export function runnerAddresses(): { v4: string[]; v6: string[] } {
  const v4: string[] = []
  const v6: string[] = []
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) {
      if (a.internal) continue
      if (a.family === 'IPv4') v4.push(a.address)
      else if (!a.address.startsWith('fe80')) v6.push(a.address)
    }
  return { v4, v6 }
}
