/**
 * The daemon started in this process (same `startDaemon` the process runs), for what needs
 * a hook: a resolver that maps names to forbidden addresses, and the live injection table.
 */
import { rm } from 'node:fs/promises'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  GH_PLACEHOLDER,
  connectAll,
  connectHead,
  filesContaining,
  openTunnel,
  rawProxyRequest,
  realToken,
  startInProcessDaemon,
  startWorld,
  type TestDaemon,
  type World,
  waitFor
} from './harness.js'
import type { RunningDaemon } from '../../../src/daemon/daemon.js'
import { PLACEHOLDERS } from '../../../src/providers/defaults.js'

const TOKEN = realToken()
const REFRESHED = realToken()

/** What the injected resolver answers; anything else fails like NXDOMAIN. */
const DNS: Record<string, string[]> = {
  'internal.test': ['127.0.0.1'],
  'meta.test': ['169.254.169.254'],
  'ten.test': ['10.0.0.1'],
  'cgnat.test': ['100.64.0.1'],
  'mapped.test': ['::ffff:127.0.0.1'],
  // One public answer does not launder a private one (rebinding).
  'mixed.test': ['93.184.216.34', '127.0.0.1'],
  'routed.test': ['127.0.0.1']
}

let world: World
let daemon: TestDaemon & { running: RunningDaemon }
const lookups: string[] = []

beforeAll(async () => {
  world = await startWorld()
  const up = world.upstream.port
  daemon = await startInProcessDaemon({
    githubToken: TOKEN,
    allow: [
      ...Object.keys(DNS).map((h) => `${h}:${up}`),
      `http://internal.test:${world.plain.port}`
    ],
    // routed.test is mapped by the workflow author: connect-to wins, no address check.
    connectTo: [...connectAll(up, ['api.github.com']), `routed.test:${up}=127.0.0.1:${up}`],
    upstreamCa: world.pki.caPem,
    resolve: (host) => {
      lookups.push(host)
      const answer = DNS[host]
      return answer
        ? Promise.resolve(answer)
        : Promise.reject(Object.assign(new Error('not found'), { code: 'ENOTFOUND' }))
    }
  })
})

afterAll(async () => {
  await daemon.stop()
  expect(await filesContaining(daemon.dir, [TOKEN, REFRESHED])).toEqual([])
  await world.close()
  await rm(daemon.dir, { recursive: true, force: true })
})

beforeEach(() => {
  world.upstream.reset()
  world.plain.reset()
})

describe('names that resolve to forbidden addresses', () => {
  it.each([
    ['internal.test', 'private-address', '127.0.0.1'],
    ['meta.test', 'metadata', '169.254.169.254'],
    ['ten.test', 'private-address', '10.0.0.1'],
    ['cgnat.test', 'private-address', '100.64.0.1'],
    ['mapped.test', 'private-address', '::ffff:7f00:1'],
    ['mixed.test', 'private-address', '127.0.0.1']
  ])('refuses CONNECT to %s (%s)', async (host, reason, address) => {
    const r = await rawProxyRequest(
      daemon.port,
      connectHead(`${host}:${world.upstream.port}`, daemon.proxyAuth)
    )
    expect(r.status).toBe(403)
    expect(r.headers['x-airlock-blocked']).toBe(reason)
    expect(r.body.toString()).toContain(host)
    expect(r.body.toString()).toContain(address)
    expect(lookups).toContain(host)
    expect(world.upstream.requests).toHaveLength(0)
    expect(world.upstream.connections).toBe(0)
  })

  it('refuses plain HTTP to a name that resolves to loopback', async () => {
    const r = await rawProxyRequest(
      daemon.port,
      `GET http://internal.test:${world.plain.port}/echo HTTP/1.1\r\nHost: internal.test:${world.plain.port}\r\nProxy-Authorization: ${daemon.proxyAuth}\r\n\r\n`
    )
    expect(r.status).toBe(403)
    expect(r.headers['x-airlock-blocked']).toBe('private-address')
    expect(world.plain.requests).toHaveLength(0)
    expect(world.plain.connections).toBe(0)
  })

  it('still reaches a name the workflow author routed with connect-to', async () => {
    const tunnel = await openTunnel(daemon, `routed.test:${world.upstream.port}`)
    try {
      const r = await tunnel.request({ path: '/echo/routed' })
      expect(r.status).toBe(200)
    } finally {
      tunnel.close()
    }
    expect(world.upstream.requests.map((r) => r.url)).toEqual(['/echo/routed'])
    expect(lookups).not.toContain('routed.test')
  })
})

describe('credential updates', () => {
  it('applies a credential updated mid-run to an already open keep-alive tunnel', async () => {
    const tunnel = await openTunnel(daemon, 'api.github.com:443')
    try {
      const headers = { authorization: `Bearer ${GH_PLACEHOLDER}` }
      const before = await tunnel.request({ path: '/echo/before', headers })
      expect(before.status).toBe(200)
      daemon.running.injection.setCredentialWithGrant(
        'api.github.com',
        'Authorization',
        `Bearer ${REFRESHED}`,
        'github'
      )
      const after = await tunnel.request({ path: '/echo/after', headers })
      expect(after.status).toBe(200)
      expect(tunnel.reader.closed).toBe(false)
      // Both the new and the old secret are scrubbed from what the client sees.
      expect(after.body.toString()).not.toContain(REFRESHED)
      const echoed = await tunnel.request({
        path: `/echo-secret?value=${TOKEN}-${REFRESHED}`
      })
      expect(echoed.body.toString()).toBe(`${PLACEHOLDERS.github}-airlock-redacted`)
    } finally {
      tunnel.close()
    }
    expect(world.upstream.requests.map((r) => r.headers.authorization)).toEqual([
      `Bearer ${TOKEN}`,
      `Bearer ${REFRESHED}`,
      `Bearer ${REFRESHED}`
    ])
    // One upstream connection served both: the update needed no new tunnel.
    expect(world.upstream.connections).toBe(1)
  })
})

describe('failing closed', () => {
  it('refuses all traffic once network.jsonl cannot be written', async () => {
    // /dev/full opens fine and fails every write with ENOSPC.
    const d = await startInProcessDaemon({
      allow: ['other.test'],
      connectTo: connectAll(world.upstream.port, ['other.test']),
      upstreamCa: world.pki.caPem,
      networkLog: '/dev/full'
    })
    try {
      const first = await openTunnel(d, 'other.test:443')
      try {
        // This one goes out; logging it is what fails.
        expect((await first.request({ path: '/echo/first' })).status).toBe(200)
        await waitFor(() => (d.running.proxy.failure ? true : undefined))
        expect(d.running.proxy.failure).toContain('network log')
        // The same open tunnel is refused from now on…
        const again = await first.request({ path: '/echo/again' })
        expect(again.status).toBe(503)
      } finally {
        first.close()
      }
      // …and so is every new CONNECT.
      const r = await rawProxyRequest(d.port, connectHead('other.test:443', d.proxyAuth))
      expect(r.status).toBe(503)
      expect(world.upstream.requests.map((x) => x.url)).toEqual(['/echo/first'])
    } finally {
      await d.stop()
      await rm(d.dir, { recursive: true, force: true })
    }
  })
})
