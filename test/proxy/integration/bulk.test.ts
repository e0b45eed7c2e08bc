/**
 * Volume through the real daemon process: 100 MB each way (hashes must match) and 200
 * tunnels open at once.
 */
import { createHash, randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { fetch } from 'undici'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  GH_PLACEHOLDER,
  connectAll,
  ensureBuilt,
  filesContaining,
  openTunnel,
  proxyAgent,
  realToken,
  startTestDaemon,
  startWorld,
  waitFor,
  type Tunnel,
  type TestDaemon,
  type World
} from './harness.js'

const TOKEN = realToken()
const MB100 = 100 * 1024 * 1024

let world: World
let daemon: TestDaemon

beforeAll(async () => {
  await ensureBuilt('proxy')
  world = await startWorld()
  daemon = await startTestDaemon({
    githubToken: TOKEN,
    allow: ['other.test'],
    connectTo: connectAll(world.upstream.port, ['api.github.com', 'other.test']),
    upstreamCa: world.pki.caPem
  })
})

afterAll(async () => {
  const { entries } = await daemon.stop()
  const stop = entries.at(-1)!
  expect(stop.data.tunnels as number).toBeGreaterThanOrEqual(200)
  expect(await filesContaining(daemon.dir, [TOKEN])).toEqual([])
  await world.close()
  await rm(daemon.dir, { recursive: true, force: true })
})

beforeEach(() => world.upstream.reset())

/** sha256 of what the upstream's /bytes?n= sends: byte k is k % 256. */
function patternSha256(n: number): string {
  const block = Buffer.alloc(64 * 1024)
  for (let k = 0; k < block.length; k++) block[k] = k % 256
  const hash = createHash('sha256')
  for (let sent = 0; sent < n; sent += block.length)
    hash.update(block.subarray(0, Math.min(block.length, n - sent)))
  return hash.digest('hex')
}

describe('large bodies', () => {
  it('downloads 100 MB from a credentialed host intact (through the scrubber)', async () => {
    const agent = proxyAgent(daemon)
    try {
      const res = await fetch(`https://api.github.com/bytes?n=${MB100}`, {
        headers: { authorization: `Bearer ${GH_PLACEHOLDER}` },
        dispatcher: agent
      })
      expect(res.status).toBe(200)
      const hash = createHash('sha256')
      let bytes = 0
      for await (const chunk of res.body!) {
        const c = chunk as Uint8Array
        bytes += c.length
        hash.update(c)
      }
      expect(bytes).toBe(MB100)
      expect(hash.digest('hex')).toBe(patternSha256(MB100))
      expect(world.upstream.requests[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`)
    } finally {
      await agent.close()
    }
    const line = await waitFor(() =>
      daemon.network().find((e) => e.url.startsWith('https://api.github.com/bytes'))
    )
    expect(line.bytesIn).toBe(MB100)
  })

  it('uploads 100 MB streamed (no content-length) intact', async () => {
    const seed = randomBytes(1024 * 1024)
    const sent = createHash('sha256')
    let i = 0
    const body = Readable.from(
      (function* () {
        for (; i < 100; i++) {
          // Each MiB differs, so a dropped or repeated chunk changes the hash.
          const chunk = Buffer.from(seed)
          chunk.writeUInt32BE(i, 0)
          sent.update(chunk)
          yield chunk
        }
      })()
    )
    const agent = proxyAgent(daemon)
    try {
      const res = await fetch('https://api.github.com/sink', {
        method: 'POST',
        headers: { authorization: `Bearer ${GH_PLACEHOLDER}` },
        body,
        duplex: 'half',
        dispatcher: agent
      })
      expect(res.status).toBe(200)
      const answer = (await res.json()) as { bytes: number; sha256: string }
      expect(answer.bytes).toBe(MB100)
      expect(answer.sha256).toBe(sent.digest('hex'))
    } finally {
      await agent.close()
    }
    const line = await waitFor(() =>
      daemon.network().find((e) => e.url === 'https://api.github.com/sink')
    )
    expect(line.bytesOut).toBe(MB100)
  })
})

describe('concurrency', () => {
  it('serves 200 tunnels open at the same time', async () => {
    const n = 200
    const tunnels: Tunnel[] = []
    try {
      const opened = await Promise.allSettled(
        Array.from({ length: n }, (_, i) =>
          openTunnel(daemon, i % 2 === 0 ? 'api.github.com:443' : 'other.test:443')
        )
      )
      for (const o of opened) if (o.status === 'fulfilled') tunnels.push(o.value)
      expect(opened.filter((o) => o.status === 'rejected')).toEqual([])
      const answers = await Promise.all(tunnels.map((t, i) => t.request({ path: `/echo/${i}` })))
      expect(answers.map((a) => a.status)).toEqual(Array(n).fill(200))
      answers.forEach((a, i) =>
        expect((JSON.parse(a.body.toString()) as { url: string }).url).toBe(`/echo/${i}`)
      )
      expect(world.upstream.requests).toHaveLength(n)
      const injected = world.upstream.requests.filter(
        (r) => r.headers.authorization === `Bearer ${TOKEN}`
      )
      expect(injected.map((r) => r.servername).every((s) => s === 'api.github.com')).toBe(true)
      expect(injected).toHaveLength(n / 2)
    } finally {
      for (const t of tunnels) t.close()
    }
  })
})
