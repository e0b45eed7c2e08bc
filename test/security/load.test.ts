/**
 * Load: the real proxy (`airlock proxy`, the built CLI) under 200 concurrent connections and
 * 1,200 unique hosts (more than the 1,000-entry leaf certificate cache), bounded to well
 * under a minute. It must answer every request, evict exactly the overflow of the cache
 * (the cache is bounded, not the process's memory by luck), and stay within a memory
 * ceiling. Figures go to docs/benchmarks.md between `<!-- load:start -->` and
 * `<!-- load:end -->` (the rest of that file belongs to `npm run bench`).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT } from '../support/runner.js'
import { createTestPki } from '../support/test-ca.js'
import { startHostileUpstream, type HostileUpstream } from './support/hostile-upstream.js'
import { openTunnel, type ProxyTarget } from './support/proxy-client.js'
import { writeSuiteResults } from './support/results.js'
import { readNetworkLog, rssKb } from './support/run.js'

const CONCURRENT = 200
const REQUESTS_PER_CONNECTION = 5
const UNIQUE_HOSTS = 1200
const HOST_CONCURRENCY = 100
const REVISITED = 100
const CACHE_SIZE = 1000
const RSS_CEILING_MB = 768

const host = (i: number): string => `h${i}.load.test`

/** Runs `fn` over items with at most `limit` in flight; returns the failures. */
async function pool<T>(items: T[], limit: number, fn: (x: T) => Promise<void>): Promise<string[]> {
  const errors: string[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const item = items[next++]!
        await fn(item).catch((e: Error) => errors.push(e.message))
      }
    })
  )
  return errors
}

interface Phase {
  name: string
  requests: number
  errors: string[]
  seconds: number
  rssAfterMb: number
}

describe('load: 200 concurrent connections and 1,200 unique hosts', () => {
  let upstream: HostileUpstream
  let proxy: ChildProcess
  let target: ProxyTarget
  let dir: string
  let networkLog: string
  const evicted: string[] = []
  let peakRssKb = 0
  let startRssKb = 0
  let sampler: NodeJS.Timeout | undefined
  const phases: Phase[] = []

  beforeAll(async () => {
    const pki = await createTestPki(['*.load.test'])
    upstream = await startHostileUpstream({ pki })
    dir = mkdtempSync(join(tmpdir(), 'airlock-load-'))
    const args = [
      join(ROOT, 'dist/cli/index.js'),
      'proxy',
      '--listen',
      '127.0.0.1:0',
      '--allow',
      '*.load.test',
      '--upstream-ca',
      pki.caFile,
      '--dir',
      dir
    ]
    for (let i = 0; i <= UNIQUE_HOSTS; i++)
      args.push('--connect-to', `${host(i)}:443=127.0.0.1:${upstream.port}`)
    proxy = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    createInterface({ input: proxy.stderr! }).on('line', (l) => {
      const m = /certificate cache full; evicted (\S+)/.exec(l)
      if (m) evicted.push(m[1]!)
    })
    const ready = await new Promise<{ proxy: string; ca: string; networkLog: string }>(
      (resolve, reject) => {
        proxy.once('exit', (code) => reject(new Error(`airlock proxy exited (${code})`)))
        createInterface({ input: proxy.stdout! }).once('line', (l) =>
          resolve(JSON.parse(l) as { proxy: string; ca: string; networkLog: string })
        )
      }
    )
    target = { url: ready.proxy, caPem: readFileSync(ready.ca, 'utf8') }
    networkLog = ready.networkLog
    startRssKb = rssKb(proxy.pid!) ?? 0
    sampler = setInterval(() => {
      peakRssKb = Math.max(peakRssKb, rssKb(proxy.pid!) ?? 0)
    }, 100)

    const phase = async (name: string, requests: number, run: () => Promise<string[]>) => {
      const t = performance.now()
      const errors = await run()
      phases.push({
        name,
        requests,
        errors,
        seconds: (performance.now() - t) / 1000,
        rssAfterMb: (rssKb(proxy.pid!) ?? 0) / 1024
      })
    }
    await phase(
      `${CONCURRENT} concurrent connections × ${REQUESTS_PER_CONNECTION} keep-alive requests (one host)`,
      CONCURRENT * REQUESTS_PER_CONNECTION,
      () =>
        pool(
          Array.from({ length: CONCURRENT }, (_, i) => i),
          CONCURRENT,
          async (i) => {
            const conn = await openTunnel(target, host(0))
            try {
              for (let k = 0; k < REQUESTS_PER_CONNECTION; k++) {
                const status = await conn.get(host(0), `/echo?c=${i}&k=${k}`)
                if (status !== 200) throw new Error(`connection ${i} request ${k}: ${status}`)
              }
            } finally {
              conn.close()
            }
          }
        )
    )
    await phase(
      `${UNIQUE_HOSTS} unique hosts, ${HOST_CONCURRENCY} at a time (new certificate each)`,
      UNIQUE_HOSTS,
      () =>
        pool(
          Array.from({ length: UNIQUE_HOSTS }, (_, i) => i + 1),
          HOST_CONCURRENCY,
          async (i) => {
            const conn = await openTunnel(target, host(i))
            try {
              const status = await conn.get(host(i), '/echo')
              if (status !== 200) throw new Error(`${host(i)}: ${status}`)
            } finally {
              conn.close()
            }
          }
        )
    )
    await phase(`${REVISITED} evicted hosts revisited (minted again)`, REVISITED, () =>
      pool(
        Array.from({ length: REVISITED }, (_, i) => i + 1),
        HOST_CONCURRENCY,
        async (i) => {
          const conn = await openTunnel(target, host(i))
          try {
            const status = await conn.get(host(i), '/echo?again')
            if (status !== 200) throw new Error(`${host(i)} again: ${status}`)
          } finally {
            conn.close()
          }
        }
      )
    )
    clearInterval(sampler)
    // A request is logged when its exchange closes, which can be just after the client has
    // read its answer and hung up: give the last few entries a moment to land.
    const expected = phases.reduce((n, p) => n + p.requests, 0)
    const deadline = Date.now() + 10_000
    while (readNetworkLog(networkLog).length < expected && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100))
  }, 120_000)

  afterAll(async () => {
    if (sampler) clearInterval(sampler)
    if (phases.length === 3) {
      const cacheOk = evicted.length === UNIQUE_HOSTS + 1 - CACHE_SIZE + REVISITED
      const memoryOk = peakRssKb / 1024 < RSS_CEILING_MB && proxy.exitCode === null
      writeSuiteResults('load', [
        {
          id: '22.5',
          cls: 22,
          attack: `${CONCURRENT} concurrent connections × ${REQUESTS_PER_CONNECTION} requests through the proxy`,
          outcome:
            phases[0]!.errors.length === 0
              ? 'every request answered, no error'
              : 'errors under load',
          verdict: phases[0]!.errors.length === 0 ? 'pass' : 'fail'
        },
        {
          id: '22.6',
          cls: 22,
          attack: `${UNIQUE_HOSTS} unique hosts (a certificate each), then ${REVISITED} evicted ones again`,
          outcome:
            cacheOk && memoryOk
              ? `leaf cache stays at ${CACHE_SIZE} (least recently used evicted); memory under ${RSS_CEILING_MB} MB`
              : 'cache or memory not bounded as expected',
          verdict:
            cacheOk && memoryOk && phases.slice(1).every((p) => p.errors.length === 0)
              ? 'pass'
              : 'fail'
        }
      ])
      writeBenchmarks(phases, startRssKb, peakRssKb, evicted.length)
    }
    proxy?.kill('SIGTERM')
    await upstream?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('answers every request without an error', () => {
    expect(phases).toHaveLength(3)
    for (const p of phases) expect(p.errors.slice(0, 5), p.name).toEqual([])
    const logged = readNetworkLog(networkLog)
    expect(logged.length).toBe(phases.reduce((n, p) => n + p.requests, 0))
    expect(logged.every((e) => e.status === 200 && !e.blocked && !e.error)).toBe(true)
  })

  it('keeps the certificate cache at its bound: the overflow, and only it, is evicted', () => {
    // h0 plus the unique hosts are distinct names; revisiting evicted ones evicts as many.
    const distinct = UNIQUE_HOSTS + 1
    expect(evicted.length).toBe(distinct - CACHE_SIZE + REVISITED)
    // Least recently used first: h0 (phase one), then h1, h2, …
    expect(evicted.slice(0, 3)).toEqual([host(0), host(1), host(2)])
  })

  it('stays under the memory ceiling and keeps running', () => {
    expect(proxy.exitCode).toBeNull()
    expect(peakRssKb / 1024).toBeLessThan(RSS_CEILING_MB)
  })
})

/** Replaces (or appends) the load section of docs/benchmarks.md. */
function writeBenchmarks(
  phases: Phase[],
  startKb: number,
  peakKb: number,
  evictions: number
): void {
  const file = join(ROOT, 'docs', 'benchmarks.md')
  const rows = phases.map(
    (p) =>
      `| ${p.name} | ${p.requests} | ${p.errors.length} | ${p.seconds.toFixed(1)} | ${(p.requests / p.seconds).toFixed(0)} | ${p.rssAfterMb.toFixed(0)} |`
  )
  const section = [
    '<!-- load:start -->',
    '## Load',
    '',
    'Written by `test/security/load.test.ts` (part of `npm test`); numbers from the last run on the',
    `machine that ran it (${process.platform}/${process.arch}, Node ${process.version}). The proxy is the built`,
    '`airlock proxy` CLI with `--allow "*.load.test"`, every host routed with `--connect-to` to one local HTTPS',
    'upstream; the client, upstream and proxy share the machine. Every request is a fresh CONNECT + TLS handshake',
    'unless it says keep-alive.',
    '',
    '| phase | requests | errors | seconds | requests/s | proxy RSS after (MB) |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    `Proxy RSS: ${(startKb / 1024).toFixed(0)} MB at start, ${(peakKb / 1024).toFixed(0)} MB peak (sampled every 100 ms; ceiling asserted: ${RSS_CEILING_MB} MB).`,
    `Leaf certificates evicted: ${evictions} (cache bound ${CACHE_SIZE}; ${UNIQUE_HOSTS + 1} distinct names, then ${REVISITED} revisited).`,
    '<!-- load:end -->'
  ].join('\n')
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n'
  const re = /<!-- load:start -->[\s\S]*?<!-- load:end -->/
  const next = re.test(current)
    ? current.replace(re, section)
    : `${current.replace(/\n*$/, '')}\n\n${section}\n`
  writeFileSync(file, next)
}
