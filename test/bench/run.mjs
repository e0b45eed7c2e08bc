#!/usr/bin/env node
// Airlock proxy benchmark: one local HTTPS upstream reached directly, through Airlock (MITM +
// credential injection), through mitmproxy and through squid (plain CONNECT tunnel), side by
// side. Prints a table and writes docs/benchmarks.md. It REPORTS targets with pass/fail
// markers; a missed target never fails the run (only a broken run exits non-zero).
//
//   npm run bench                      full run (< 5 min on 2 cores)
//   npm run bench -- --quick           smaller counts, for checking the harness itself
//   npm run bench -- --no-build        use dist/cli as it is, even if src/ is newer
//   BENCH_AIRLOCK_CLI=<file>           benchmark another CLI bundle (e.g. a candidate fix)
//   BENCH_AIRLOCK_NODE_ARGS=<args>     extra node flags for the proxy (e.g. --cpu-prof)
//   npm run bench -- --out <file>      write the report elsewhere (default docs/benchmarks.md)
//   npm run bench -- --only a,b        targets to run: direct,airlock,mitmproxy,squid,step
//                                      (step: the action's step overhead, needs docker)
//   npm run bench -- --phases a,b      phases to run: rss,rps,body,sse,newhost (default all;
//                                      for profiling one of them; the report marks the rest "—")
//
// `npm run` puts node_modules/.bin first on PATH, so `npm run bench` runs on the bundled Node 24
// (the action's runtime); `node test/bench/run.mjs` uses whatever `node` is. The client, the
// upstream and the proxy all run on that same Node; the report records which.
//
// Plain JS on purpose: it runs with no TypeScript loader, against the built CLI bundle.
// Everything listens on 127.0.0.1; every child is killed on exit, error or signal.
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes, webcrypto } from 'node:crypto'
import { once } from 'node:events'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync
} from 'node:fs'
import https from 'node:https'
import net from 'node:net'
import os from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(HERE, '..', '..')

// ---------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------

function settings(quick) {
  return {
    // Keep-alive request rate: fixed counts, each run also capped in time.
    rps: [
      { clients: 1, count: quick ? 300 : 2000, warmup: quick ? 50 : 200 },
      { clients: 50, count: quick ? 1000 : 10000, warmup: quick ? 200 : 1000 }
    ],
    // Rounds run target after target, and the best round of each target is kept: on a
    // shared 2-core machine that filters out a neighbour's burst without favouring anyone.
    rpsRounds: 2,
    rpsCapMs: quick ? 5_000 : 15_000,
    warmupRequests: quick ? 300 : 2000,
    bodyBytes: quick ? 20_000_000 : 100_000_000,
    bodyWarmBytes: 10_000_000,
    bodyReps: 2,
    bodyCapMs: 60_000,
    sse: { streams: 10, events: quick ? 25 : 100, intervalMs: 20, rounds: 2 },
    sseCapMs: 20_000,
    // New hosts opened, one after the other, while SSE streams flow on other connections.
    churnHosts: 8,
    newHosts: quick ? 8 : 25,
    newHostCapMs: 60_000,
    idleConnections: 200,
    // Step overhead: runs of main + post and of a bare `docker run`, alternated.
    stepReps: quick ? 3 : 7,
    // Whole-run watchdog: the bench must end, even if a proxy wedges.
    totalCapMs: 290_000
  }
}

const TOKEN = `ghp_${randomBytes(18).toString('hex')}`
const TARGET_NAMES = ['direct', 'airlock', 'mitmproxy', 'squid']
const PHASE_NAMES = ['rss', 'rps', 'body', 'sse', 'newhost']
const TITLES = {
  direct: 'direct',
  airlock: 'Airlock (MITM+inject)',
  mitmproxy: 'mitmproxy',
  squid: 'squid (CONNECT tunnel)'
}

// ---------------------------------------------------------------------------------------
// Child processes: every one is tracked and killed on the way out, whatever the way out is.
// ---------------------------------------------------------------------------------------

const children = new Set()
/** The work dir; removed on every way out, signals and the watchdog included. */
let workDir

function track(child, name) {
  const entry = { child, name, stderr: '' }
  children.add(entry)
  child.stderr?.on('data', (d) => {
    entry.stderr = (entry.stderr + d.toString()).slice(-4000)
  })
  child.once('exit', () => children.delete(entry))
  return entry
}

async function stopChild(entry, graceMs = 3000) {
  const { child } = entry
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}

async function stopAll() {
  await Promise.all([...children].map((e) => stopChild(e)))
}

process.on('exit', () => {
  // Last resort (synchronous): nothing may outlive the bench.
  for (const { child } of children) {
    try {
      child.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
  if (workDir) rmSync(workDir, { recursive: true, force: true })
})

// ---------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------

async function main() {
  const args = process.argv.slice(2)
  const quick = args.includes('--quick')
  const noBuild = args.includes('--no-build')
  const outIdx = args.indexOf('--out')
  const outFile = resolve(ROOT, outIdx >= 0 ? args[outIdx + 1] : 'docs/benchmarks.md')
  const onlyIdx = args.indexOf('--only')
  const only = onlyIdx >= 0 ? args[onlyIdx + 1].split(',') : [...TARGET_NAMES, 'step']
  const cfg = settings(quick)
  const phasesIdx = args.indexOf('--phases')
  const phases = phasesIdx >= 0 ? args[phasesIdx + 1].split(',') : PHASE_NAMES
  const unknownPhase = phases.find((p) => !PHASE_NAMES.includes(p))
  if (unknownPhase)
    throw new Error(`--phases: unknown phase ${unknownPhase} (${PHASE_NAMES.join(', ')})`)

  let tmp
  let finished = false
  const watchdog = setTimeout(() => {
    process.stderr.write(`bench: watchdog: over ${cfg.totalCapMs / 1000} s, aborting\n`)
    void stopAll().finally(() => process.exit(2))
  }, cfg.totalCapMs)
  watchdog.unref()
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => {
      process.stderr.write(`bench: ${sig}, stopping children\n`)
      void stopAll().finally(() => process.exit(130))
    })
  }

  try {
    const started = performance.now()
    const skipped = {}
    tmp = mkdtempSync(join(os.tmpdir(), 'airlock-bench-'))
    workDir = tmp
    chmodSync(tmp, 0o755)
    log(`work dir ${tmp}`)
    const cli = only.includes('airlock') ? cliBundle(noBuild, tmp) : undefined
    // The step overhead first, while nothing else of the bench runs.
    let step
    if (only.includes('step')) {
      if (!dockerUp()) skipped.step = 'docker is not running'
      else
        step = await measureStepOverhead(tmp, cfg.stepReps).catch((err) => {
          log(`step overhead failed: ${err.message}`)
          return { error: err.message }
        })
    }
    if (cli) log(`airlock bundle ${relative(ROOT, cli)}`)
    const pki = await createPki(tmp, ['api.github.com', '*.bench.test'])
    const upstream = await startUpstreamProcess(tmp, pki)
    log(`upstream https://127.0.0.1:${upstream.port}`)

    // Host names for the first-request-to-a-new-host measurement; each proxy must be able
    // to route them to the upstream (Airlock: connect-to; mitmproxy: an addon; squid: hosts_file).
    const newHosts = Array.from({ length: cfg.newHosts }, (_, i) => `n${i}.bench.test`)
    const churnHosts = Array.from({ length: cfg.churnHosts }, (_, i) => `c${i}.bench.test`)
    const warmHost = 'warm.bench.test'
    const benchHosts = [warmHost, ...newHosts, ...churnHosts]

    const targets = []
    targets.push(directTarget(upstream))
    const starting = []
    if (only.includes('airlock')) starting.push(startAirlock(cli, tmp, pki, upstream, benchHosts))
    if (only.includes('mitmproxy')) {
      if (onPath('mitmdump')) starting.push(startMitmproxy(tmp, pki, upstream))
      else skipped.mitmproxy = 'mitmdump not installed (scripts/bench-deps.sh)'
    }
    if (only.includes('squid')) {
      if (onPath('squid') || existsSync('/usr/sbin/squid'))
        starting.push(startSquid(tmp, upstream, benchHosts))
      else skipped.squid = 'squid not installed (scripts/bench-deps.sh)'
    }
    const results = await Promise.allSettled(starting)
    for (const r of results) {
      if (r.status === 'fulfilled') targets.push(r.value)
      else {
        const err = r.reason
        skipped[err.target ?? 'unknown'] = `failed to start: ${err.message}`
        log(`skipping ${err.target}: ${err.message}`)
      }
    }
    targets.sort((a, b) => TARGET_NAMES.indexOf(a.name) - TARGET_NAMES.indexOf(b.name))
    log(`targets: ${targets.map((t) => t.name).join(', ')}`)

    const res = Object.fromEntries(targets.map((t) => [t.name, {}]))
    // One failing phase of one target (a proxy that crashed, say) is recorded and reported;
    // it does not throw away the rest of the run.
    const safe = async (t, what, fn) => {
      try {
        return await fn()
      } catch (err) {
        log(`${t.name}: ${what} failed: ${err.message}`)
        return { errors: 1, error: err.message }
      }
    }

    // Memory first, on freshly started proxies, so earlier phases do not inflate it.
    for (const t of phases.includes('rss') ? targets : []) {
      if (!t.pid && !t.rssPid) continue
      log(`${t.name}: RSS with ${cfg.idleConnections} idle keep-alive connections`)
      res[t.name].rss = await safe(t, 'memory', () => measureIdleRss(t, cfg))
    }
    // JIT warm-up of client, upstream and every proxy, so no target pays for going first.
    for (const t of targets) {
      log(`${t.name}: warm-up (${cfg.warmupRequests} requests)`)
      await safe(t, 'warm-up', () =>
        measureRps(t, { clients: 10, count: cfg.warmupRequests, warmup: 0 }, cfg.rpsCapMs)
      )
    }
    for (const phase of phases.includes('rps') ? cfg.rps : []) {
      for (let round = 1; round <= cfg.rpsRounds; round++) {
        for (const t of targets) {
          log(`${t.name}: ${phase.count} requests, ${phase.clients} client(s), round ${round}`)
          const r = await safe(t, 'requests', () => measureRps(t, phase, cfg.rpsCapMs))
          const key = `rps${phase.clients}`
          const prev = res[t.name][key]
          if (!prev || (r.rps ?? -1) > (prev.rps ?? -1)) res[t.name][key] = r
        }
      }
    }
    for (const dir of phases.includes('body') ? ['down', 'up'] : []) {
      for (const t of targets) {
        log(`${t.name}: ${dir === 'down' ? 'download' : 'upload'} ${cfg.bodyBytes / 1e6} MB`)
        res[t.name][dir] = await safe(t, dir, () => measureBody(t, dir, cfg))
      }
    }
    for (let round = 1; phases.includes('sse') && round <= cfg.sse.rounds; round++) {
      for (const t of targets) {
        log(`${t.name}: SSE, ${cfg.sse.streams} streams × ${cfg.sse.events} events, round ${round}`)
        const r = await safe(t, 'sse', () => measureSse(t, cfg, []))
        const prev = res[t.name].sse
        if (!prev || (r.p99 ?? Infinity) < (prev.p99 ?? Infinity)) res[t.name].sse = r
      }
    }
    for (const t of phases.includes('sse') ? targets : []) {
      log(`${t.name}: SSE while ${churnHosts.length} new hosts are opened`)
      res[t.name].sseChurn = await safe(t, 'sse+churn', () => measureSse(t, cfg, churnHosts))
    }
    for (const t of phases.includes('newhost') ? targets : []) {
      log(`${t.name}: first request to ${cfg.newHosts} new hosts vs a cached host`)
      res[t.name].newHost = await safe(t, 'new host', () =>
        measureNewHost(t, newHosts, warmHost, cfg)
      )
    }
    for (const t of targets) if (t.pid) res[t.name].peakRssMb = readProcMb(t.pid, 'VmHWM')

    const upstreamStats = await fetchUpstreamStats(upstream).catch(() => undefined)
    const report = buildReport({
      cfg,
      quick,
      targets,
      skipped,
      res,
      step,
      upstreamStats,
      seconds: (performance.now() - started) / 1000,
      cli,
      tmp
    })
    process.stdout.write(`\n${report.terminal}\n`)
    mkdirSync(dirname(outFile), { recursive: true })
    // The load section belongs to test/security/load.test.ts: carry it over as it is.
    const previous = existsSync(outFile) ? readFileSync(outFile, 'utf8') : ''
    const load = /<!-- load:start -->[\s\S]*?<!-- load:end -->/.exec(previous)?.[0]
    writeFileSync(
      outFile,
      load ? `${report.markdown.replace(/\n*$/, '')}\n\n${load}\n` : report.markdown
    )
    log(
      `wrote ${relative(ROOT, outFile)} in ${((performance.now() - started) / 1000).toFixed(0)} s`
    )
    finished = true
  } catch (err) {
    process.stderr.write(`bench: FAILED: ${err.stack ?? err}\n`)
    for (const { name, stderr } of children)
      if (stderr.trim()) process.stderr.write(`--- ${name} stderr (tail) ---\n${stderr}\n`)
    process.exitCode = 1
  } finally {
    await stopAll()
    clearTimeout(watchdog)
    if (tmp) rmSync(tmp, { recursive: true, force: true })
  }
  if (finished) process.exitCode ??= 0
  // undici keeps no timers once closed, but make sure nothing holds the process open.
  setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref()
}

function log(line) {
  process.stderr.write(`bench: ${line}\n`)
}

function onPath(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/**
 * The CLI bundle to benchmark: $BENCH_AIRLOCK_CLI if set; dist/cli/index.js when it is at
 * least as new as every file under src/ (or with --no-build); otherwise a fresh bundle of
 * the current src/ built into the work dir, so the bench never rewrites the tracked dist/.
 */
function cliBundle(noBuild, tmp) {
  if (process.env.BENCH_AIRLOCK_CLI) return resolve(process.env.BENCH_AIRLOCK_CLI)
  const bundle = join(ROOT, 'dist/cli/index.js')
  const built = existsSync(bundle) ? statSync(bundle).mtimeMs : 0
  if (built > 0 && (noBuild || built >= newestMtime(join(ROOT, 'src')))) return bundle
  if (noBuild) throw new Error('dist/cli/index.js is missing; run `node scripts/build.mjs cli`')
  const out = join(tmp, 'cli')
  log('dist/cli is older than src/: bundling src/cli.ts into the work dir (ncc)')
  // Minified, as scripts/build.mjs builds dist/cli.
  const ncc = ['ncc', 'build', 'src/cli.ts', '-o', out, '--quiet', '--target', 'es2022', '--minify']
  execFileSync('npx', ncc, {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 180_000
  })
  writeFileSync(join(out, 'package.json'), '{ "type": "module" }\n')
  return join(out, 'index.js')
}

function newestMtime(dir) {
  let newest = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs)
  }
  return newest
}

// ---------------------------------------------------------------------------------------
// PKI: a CA and one upstream certificate (ECDSA P-256), written to the work dir.
// ---------------------------------------------------------------------------------------

async function createPki(dir, names) {
  const EC = { name: 'ECDSA', namedCurve: 'P-256' }
  const SIGN = { name: 'ECDSA', hash: 'SHA-256' }
  const notBefore = new Date(Date.now() - 3600_000)
  const notAfter = new Date(Date.now() + 24 * 3600_000)
  const caKeys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])
  const ca = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: 'CN=Airlock Bench CA',
      keys: caKeys,
      notBefore,
      notAfter,
      signingAlgorithm: SIGN,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
          true
        ),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey, false, webcrypto)
      ]
    },
    webcrypto
  )
  const leafKeys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])
  const sans = [
    ...names.map((n) => ({ type: 'dns', value: n })),
    { type: 'dns', value: 'localhost' },
    { type: 'ip', value: '127.0.0.1' }
  ]
  const leaf = await x509.X509CertificateGenerator.create(
    {
      subject: 'CN=bench upstream',
      issuer: ca.subject,
      publicKey: leafKeys.publicKey,
      signingKey: caKeys.privateKey,
      notBefore,
      notAfter,
      signingAlgorithm: SIGN,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(sans),
        await x509.AuthorityKeyIdentifierExtension.create(ca, false, webcrypto)
      ]
    },
    webcrypto
  )
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', leafKeys.privateKey)
  const pki = {
    caPem: ca.toString('pem') + '\n',
    certPem: leaf.toString('pem') + '\n',
    keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n',
    caFile: join(dir, 'upstream-ca.pem'),
    certFile: join(dir, 'upstream-cert.pem'),
    keyFile: join(dir, 'upstream-key.pem')
  }
  writeFileSync(pki.caFile, pki.caPem)
  writeFileSync(pki.certFile, pki.certPem)
  writeFileSync(pki.keyFile, pki.keyPem, { mode: 0o600 })
  return pki
}

// ---------------------------------------------------------------------------------------
// The upstream: a lean HTTPS server in its own process (so it never shares an event loop
// with the load generator). It records nothing but counters.
// ---------------------------------------------------------------------------------------

async function runUpstream(opts) {
  const expected = `Bearer ${process.env.BENCH_TOKEN ?? ''}`
  const stats = { requests: 0, bearer: 0, connections: 0 }
  const block = Buffer.alloc(64 * 1024)
  for (let i = 0; i < block.length; i++) block[i] = i % 256
  const small = Buffer.from(JSON.stringify({ ok: true, pad: 'x'.repeat(40) }))

  const server = https.createServer(
    {
      key: readFileSync(opts.keyFile),
      cert: readFileSync(opts.certFile),
      ALPNProtocols: ['http/1.1'],
      requestTimeout: 0,
      keepAliveTimeout: 120_000,
      headersTimeout: 0
    },
    (req, res) => {
      stats.requests++
      const auth = req.headers.authorization === expected
      if (auth) stats.bearer++
      const url = new URL(req.url ?? '/', 'https://upstream.invalid')
      const q = url.searchParams
      switch (url.pathname) {
        case '/small': {
          const send = () => {
            const headers = {
              'content-type': 'application/json',
              'content-length': small.length,
              'x-auth': auth ? '1' : '0'
            }
            // ?close=1: the next request to this host needs a new upstream connection.
            if (q.get('close') === '1') headers.connection = 'close'
            res.writeHead(200, headers)
            res.end(small)
          }
          const delay = Number(q.get('delay') ?? 0)
          req.resume()
          if (delay > 0) setTimeout(send, delay)
          else send()
          return
        }
        case '/bytes': {
          const n = Number(q.get('n') ?? 0)
          req.resume()
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n })
          let sent = 0
          const pump = () => {
            while (sent < n) {
              const len = Math.min(block.length, n - sent)
              sent += len
              if (!res.write(len === block.length ? block : block.subarray(0, len)))
                return void res.once('drain', pump)
            }
            res.end()
          }
          pump()
          return
        }
        case '/sink': {
          let bytes = 0
          req.on('data', (c) => (bytes += c.length))
          req.on('end', () => {
            const body = JSON.stringify({ bytes })
            res.writeHead(200, {
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(body)
            })
            res.end(body)
          })
          return
        }
        case '/sse': {
          // Each event carries its send time (CLOCK_MONOTONIC, shared by all processes on
          // the machine), so the client can compute arrival − send per event.
          const n = Number(q.get('n') ?? 10)
          const interval = Number(q.get('interval') ?? 20)
          req.resume()
          res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
          res.flushHeaders()
          let i = 0
          const tick = () => {
            if (res.destroyed) return
            res.write(`data: ${process.hrtime.bigint()}\n\n`)
            if (++i >= n) res.end()
            else setTimeout(tick, interval)
          }
          setTimeout(tick, interval)
          return
        }
        case '/stats': {
          req.resume()
          const body = JSON.stringify(stats)
          res.writeHead(200, { 'content-type': 'application/json' })
          res.end(body)
          return
        }
        default:
          req.resume()
          res.writeHead(404)
          res.end()
      }
    }
  )
  server.on('connection', () => stats.connections++)
  server.on('clientError', (_e, s) => s.destroy())
  server.on('tlsClientError', () => undefined)
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n')
  })
  process.once('SIGTERM', () => {
    server.closeAllConnections()
    server.close(() => process.exit(0))
    setTimeout(() => process.exit(0), 500).unref()
  })
}

async function startUpstreamProcess(dir, pki) {
  const child = spawn(
    process.execPath,
    [
      fileURLToPath(import.meta.url),
      '--upstream',
      JSON.stringify({ keyFile: pki.keyFile, certFile: pki.certFile })
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BENCH_TOKEN: TOKEN } }
  )
  const entry = track(child, 'upstream')
  const { port } = await firstJsonLine(entry, 15_000)
  return { port, pid: child.pid, origin: `https://127.0.0.1:${port}`, ca: pki.caPem }
}

async function fetchUpstreamStats(upstream) {
  const { Agent } = await import('undici')
  const agent = new Agent({ connect: { ca: upstream.ca } })
  try {
    const r = await agent.request({ origin: upstream.origin, path: '/stats', method: 'GET' })
    return await r.body.json()
  } finally {
    await agent.close()
  }
}

/** Resolves with the first stdout line of a child, parsed as JSON; rejects on exit/timeout. */
function firstJsonLine(entry, timeoutMs) {
  const { child, name } = entry
  return new Promise((resolvePromise, reject) => {
    let buf = ''
    const timer = setTimeout(
      () => fail(new Error(`${name}: not ready in ${timeoutMs} ms`)),
      timeoutMs
    )
    const onData = (d) => {
      buf += d.toString()
      const nl = buf.indexOf('\n')
      if (nl < 0) return
      cleanup()
      try {
        resolvePromise(JSON.parse(buf.slice(0, nl)))
      } catch (err) {
        reject(new Error(`${name}: bad ready line ${buf.slice(0, nl)}: ${err.message}`))
      }
    }
    const onExit = (code) =>
      fail(new Error(`${name} exited (${code}) before it was ready: ${entry.stderr.trim()}`))
    const fail = (err) => {
      cleanup()
      reject(err)
    }
    const cleanup = () => {
      clearTimeout(timer)
      child.stdout.off('data', onData)
      child.off('exit', onExit)
    }
    child.stdout.on('data', onData)
    child.once('exit', onExit)
  })
}

/** Polls a loopback port until it accepts a connection; rejects when the child exits first. */
async function waitForPort(entry, port, timeoutMs) {
  const deadline = performance.now() + timeoutMs
  while (performance.now() < deadline) {
    if (entry.child.exitCode !== null)
      throw new Error(`${entry.name} exited (${entry.child.exitCode}): ${entry.stderr.trim()}`)
    const ok = await new Promise((r) => {
      const s = net.connect({ host: '127.0.0.1', port })
      s.once('connect', () => {
        s.destroy()
        r(true)
      })
      s.once('error', () => r(false))
    })
    if (ok) return
    await sleep(100)
  }
  throw new Error(`${entry.name}: port ${port} not open after ${timeoutMs} ms`)
}

function freePort() {
  return new Promise((r, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => r(port))
    })
  })
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms))
}

// ---------------------------------------------------------------------------------------
// Targets: how to reach the upstream (origin, TLS trust) and how to build a client for it.
// ---------------------------------------------------------------------------------------

async function undici() {
  return import('undici')
}

function directTarget(upstream) {
  return {
    name: 'direct',
    origin: upstream.origin,
    hostOrigin: () => upstream.origin,
    // The memory phase measures the upstream here: a bare node:https server holding the same
    // idle connections, the floor for any Node process that terminates them.
    rssPid: upstream.pid,
    async dispatcher(opts = {}) {
      const { Agent } = await undici()
      return new Agent({ ...opts, connect: { ca: upstream.ca } })
    }
  }
}

function proxyTarget(name, { proxyUrl, ca, origin, hostOrigin, pid, extra }) {
  return {
    name,
    origin,
    hostOrigin,
    pid,
    ...extra,
    async dispatcher(opts = {}) {
      const { ProxyAgent } = await undici()
      return new ProxyAgent({ ...opts, uri: proxyUrl, requestTls: { ca } })
    }
  }
}

/** DAEMON_NODE_FLAGS, read from its source (this script runs without a TypeScript loader). */
function daemonNodeFlags() {
  const src = readFileSync(join(ROOT, 'src/daemon/start.ts'), 'utf8')
  const m = /DAEMON_NODE_FLAGS = \[([\s\S]*?)\n\]/.exec(src)
  if (!m) throw new Error('DAEMON_NODE_FLAGS not found in src/daemon/start.ts')
  // Flags that only some Nodes have are added when this Node has them, as the source does.
  return [...m[1].matchAll(/'(--[^']+)'/g)]
    .map((x) => x[1])
    .filter((f) => !f.includes('system-ca') || process.allowedNodeEnvironmentFlags.has(f))
}

/** DAEMON_MALLOC_ENV, read from its source like the flags. */
function daemonMallocEnv() {
  const src = readFileSync(join(ROOT, 'src/daemon/start.ts'), 'utf8')
  const m = /DAEMON_MALLOC_ENV[^=]*= \{([\s\S]*?)\n\}/.exec(src)
  if (!m) throw new Error('DAEMON_MALLOC_ENV not found in src/daemon/start.ts')
  return Object.fromEntries([...m[1].matchAll(/(\w+): '([^']*)'/g)].map((x) => [x[1], x[2]]))
}

async function startAirlock(cli, dir, pki, upstream, benchHosts) {
  try {
    const airDir = join(dir, 'airlock')
    mkdirSync(airDir)
    const to = `127.0.0.1:${upstream.port}`
    const args = [
      cli,
      'proxy',
      '--listen',
      '127.0.0.1:0',
      '--allow',
      '*.bench.test',
      '--grant',
      'github',
      '--upstream-ca',
      pki.caFile,
      '--dir',
      airDir,
      '--connect-to',
      `api.github.com:443=${to}`,
      ...benchHosts.flatMap((h) => ['--connect-to', `${h}:443=${to}`])
    ]
    // BENCH_AIRLOCK_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the proxy.
    const nodeArgs = (process.env.BENCH_AIRLOCK_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)
    // The action runs its proxy daemon with DAEMON_NODE_FLAGS (src/daemon/start.ts), and
    // `airlock proxy` re-runs itself with them where Node has process.execve (>= 22.15); on an
    // older Node the bench passes them itself, or it would measure a process the action never runs.
    const flags = process.execve ? [] : daemonNodeFlags()
    const mallocEnv = process.execve ? {} : daemonMallocEnv()
    const child = spawn(process.execPath, [...flags, ...nodeArgs, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...mallocEnv, GITHUB_TOKEN: TOKEN, GH_TOKEN: '' }
    })
    const entry = track(child, 'airlock')
    const ready = await firstJsonLine(entry, 30_000)
    return proxyTarget('airlock', {
      proxyUrl: ready.proxy,
      ca: readFileSync(ready.ca, 'utf8'),
      // api.github.com is connect-to'd to the upstream, so the GitHub grant's Bearer is injected.
      origin: 'https://api.github.com',
      hostOrigin: (h) => `https://${h}`,
      pid: child.pid,
      extra: { expectBearer: true }
    })
  } catch (err) {
    err.target = 'airlock'
    throw err
  }
}

async function startMitmproxy(dir, pki, upstream) {
  try {
    const confdir = join(dir, 'mitmproxy')
    mkdirSync(confdir)
    // Routes *.bench.test (the new-host test) to the upstream, and streams SSE, which
    // mitmproxy would otherwise buffer whole; both are what a user of mitmproxy would do.
    const addon = join(confdir, 'bench_addon.py')
    writeFileSync(
      addon,
      [
        'UPSTREAM = ("127.0.0.1", ' + upstream.port + ')',
        '',
        'def server_connect(data):',
        '    addr = data.server.address',
        '    if addr and str(addr[0]).endswith(".bench.test"):',
        '        data.server.address = UPSTREAM',
        '',
        'def responseheaders(flow):',
        '    if "text/event-stream" in flow.response.headers.get("content-type", ""):',
        '        flow.response.stream = True',
        ''
      ].join('\n')
    )
    const port = await freePort()
    const child = spawn(
      'mitmdump',
      [
        '-q',
        '--listen-host',
        '127.0.0.1',
        '--listen-port',
        String(port),
        '--set',
        `confdir=${confdir}`,
        '--set',
        `ssl_verify_upstream_trusted_ca=${pki.caFile}`,
        // Stream bodies over 1 MB instead of buffering them (the 100 MB transfers).
        '--set',
        'stream_large_bodies=1m',
        '-s',
        addon
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] }
    )
    const entry = track(child, 'mitmproxy')
    child.stdout.on('data', (d) => {
      entry.stderr = (entry.stderr + d.toString()).slice(-4000)
    })
    await waitForPort(entry, port, 30_000)
    const caFile = join(confdir, 'mitmproxy-ca-cert.pem')
    if (!existsSync(caFile)) throw new Error(`no CA at ${caFile}`)
    return proxyTarget('mitmproxy', {
      proxyUrl: `http://127.0.0.1:${port}`,
      ca: readFileSync(caFile, 'utf8'),
      origin: upstream.origin,
      hostOrigin: (h) => `https://${h}:443`,
      pid: child.pid
    })
  } catch (err) {
    err.target = 'mitmproxy'
    throw err
  }
}

async function startSquid(dir, upstream, benchHosts) {
  try {
    const sq = join(dir, 'squid')
    mkdirSync(sq)
    // Squid drops root for cache_effective_user (Debian: proxy); it must write here.
    chmodSync(sq, 0o777)
    const port = await freePort()
    // The bench names resolve through squid's hosts_file. Squid has no way to map a port,
    // so its clients CONNECT to <name>:<upstream port> instead of :443 (see hostOrigin).
    writeFileSync(join(sq, 'hosts'), benchHosts.map((h) => `127.0.0.1 ${h}`).join('\n') + '\n')
    const conf = join(sq, 'squid.conf')
    writeFileSync(
      conf,
      [
        `http_port 127.0.0.1:${port}`,
        'http_access allow localhost',
        'http_access deny all',
        'cache deny all',
        'cache_mem 8 MB',
        'access_log none',
        `cache_log ${join(sq, 'cache.log')}`,
        `pid_filename ${join(sq, 'squid.pid')}`,
        `coredump_dir ${sq}`,
        `hosts_file ${join(sq, 'hosts')}`,
        'pinger_enable off',
        'shutdown_lifetime 0 seconds',
        // Idle client connections must stay open for the 200-connection memory test.
        'client_persistent_connections on',
        'read_timeout 5 minutes',
        ''
      ].join('\n')
    )
    const bin = onPath('squid') ? 'squid' : '/usr/sbin/squid'
    const child = spawn(bin, ['-N', '-f', conf], { stdio: ['ignore', 'pipe', 'pipe'] })
    const entry = track(child, 'squid')
    await waitForPort(entry, port, 20_000)
    return proxyTarget('squid', {
      proxyUrl: `http://127.0.0.1:${port}`,
      ca: upstream.ca,
      origin: upstream.origin,
      hostOrigin: (h) => `https://${h}:${upstream.port}`,
      pid: child.pid
    })
  } catch (err) {
    err.target = 'squid'
    throw err
  }
}

// ---------------------------------------------------------------------------------------
// Measurements
// ---------------------------------------------------------------------------------------

function percentile(sorted, q) {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}

function summarize(values) {
  const a = Float64Array.from(values).sort()
  return {
    n: a.length,
    p50: percentile(a, 0.5),
    p90: percentile(a, 0.9),
    p99: percentile(a, 0.99),
    max: a.length ? a[a.length - 1] : NaN
  }
}

/** Keep-alive GET /small with `clients` workers sharing one dispatcher. */
async function measureRps(t, phase, capMs) {
  const d = await t.dispatcher({ connections: phase.clients, keepAliveTimeout: 60_000 })
  let bearer = 0
  let errors = 0
  let firstError
  const one = async () => {
    const r = await d.request({ origin: t.origin, path: '/small', method: 'GET' })
    await r.body.text()
    if (r.statusCode !== 200) throw new Error(`status ${r.statusCode}`)
    if (r.headers['x-auth'] === '1') bearer++
  }
  const loop = async (count, lat, deadline) => {
    let next = 0
    const worker = async () => {
      while (next < count && performance.now() < deadline) {
        next++
        const s = performance.now()
        try {
          await one()
          lat?.push(performance.now() - s)
        } catch (err) {
          errors++
          firstError ??= err
          if (errors > 50) throw new Error(`${t.name}: too many errors: ${firstError.message}`)
        }
      }
    }
    await Promise.all(Array.from({ length: phase.clients }, worker))
  }
  try {
    // Warm-up opens every connection (and, through a MITM, every tunnel) first.
    await loop(phase.warmup, undefined, performance.now() + capMs)
    bearer = 0
    const lat = []
    const cpu0 = cpuMs(t.pid)
    const t0 = performance.now()
    await loop(phase.count, lat, t0 + capMs)
    const elapsed = performance.now() - t0
    return {
      ...summarize(lat),
      rps: (lat.length / elapsed) * 1000,
      // Proxy CPU per request: unlike req/s, barely moved by whatever else the machine runs.
      cpuUsPerReq: ((cpuMs(t.pid) - cpu0) * 1000) / lat.length,
      capped: lat.length < phase.count,
      errors,
      firstError: firstError?.message,
      bearer
    }
  } finally {
    await d.close()
  }
}

/** One 100 MB body, downloaded (GET /bytes) or uploaded (POST /sink); best of N. */
async function measureBody(t, dir, cfg) {
  const n = cfg.bodyBytes
  const best = { mbps: 0, errors: 0, cpuMsPerMb: NaN }
  const deadline = performance.now() + cfg.bodyCapMs
  for (let rep = 0; rep < cfg.bodyReps && performance.now() < deadline; rep++) {
    const d = await t.dispatcher()
    try {
      // Warm the connection (and the code path) so the figure is the transfer alone.
      await transfer(d, t, dir, cfg.bodyWarmBytes, AbortSignal.timeout(30_000))
      const signal = AbortSignal.timeout(Math.max(1000, Math.round(deadline - performance.now())))
      const cpu0 = cpuMs(t.pid)
      const t0 = performance.now()
      const got = await transfer(d, t, dir, n, signal)
      const secs = (performance.now() - t0) / 1000
      const cpuPerMb = (cpuMs(t.pid) - cpu0) / (n / 1e6)
      if (got !== n) throw new Error(`${t.name} ${dir}: got ${got} of ${n} bytes`)
      best.mbps = Math.max(best.mbps, n / 1e6 / secs)
      best.cpuMsPerMb = Number.isNaN(best.cpuMsPerMb)
        ? cpuPerMb
        : Math.min(best.cpuMsPerMb, cpuPerMb)
    } catch (err) {
      best.errors++
      best.error = err.message
    } finally {
      await d.close()
    }
  }
  return best
}

async function transfer(d, t, dir, n, signal) {
  let got = 0
  if (dir === 'down') {
    const r = await d.request({ origin: t.origin, path: `/bytes?n=${n}`, method: 'GET', signal })
    for await (const chunk of r.body) got += chunk.length
  } else {
    const r = await d.request({
      origin: t.origin,
      path: '/sink',
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(n) },
      body: generateBody(n),
      signal
    })
    got = (await r.body.json()).bytes
  }
  return got
}

async function* generateBody(n) {
  const block = Buffer.alloc(64 * 1024, 0x61)
  let sent = 0
  while (sent < n) {
    const len = Math.min(block.length, n - sent)
    sent += len
    yield len === block.length ? block : block.subarray(0, len)
  }
}

/**
 * Concurrent SSE streams on already open connections; per event, client arrival − upstream
 * send (ms). With `churn` hosts, a second client opens a fresh connection to each of them,
 * one after the other, while the streams flow: whatever the proxy does for a new connection
 * (handshakes, minting, upstream TLS setup) shows up here if it blocks its event loop.
 */
async function measureSse(t, cfg, churn) {
  const { streams, events, intervalMs } = cfg.sse
  const d = await t.dispatcher({ connections: streams, keepAliveTimeout: 60_000 })
  const delays = []
  let errors = 0
  let error
  const signal = AbortSignal.timeout(cfg.sseCapMs)
  // Open every connection (and tunnel) first: the figure is streaming, not connecting.
  await Promise.all(
    Array.from({ length: streams }, async () => {
      const r = await d.request({ origin: t.origin, path: '/small', method: 'GET', signal })
      await r.body.text()
    })
  )
  const churnOne = async (host) => {
    const c = await t.dispatcher()
    try {
      const r = await c.request({
        origin: t.hostOrigin(host),
        path: '/small',
        method: 'GET',
        signal
      })
      await r.body.text()
    } finally {
      await c.close()
    }
  }
  const churnAll = async () => {
    await sleep(intervalMs * 5)
    for (const h of churn) await churnOne(h)
  }
  const one = async () => {
    const r = await d.request({
      origin: t.origin,
      path: `/sse?n=${events}&interval=${intervalMs}`,
      method: 'GET',
      signal
    })
    let buf = ''
    for await (const chunk of r.body) {
      const arrived = process.hrtime.bigint()
      buf += chunk.toString()
      let end
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const line = buf.slice(0, end)
        buf = buf.slice(end + 2)
        const m = /^data: (\d+)$/.exec(line)
        if (m) delays.push(Number(arrived - BigInt(m[1])) / 1e6)
      }
    }
  }
  const fail = (err) => {
    errors++
    error = err.message
  }
  try {
    await Promise.all([
      ...Array.from({ length: streams }, () => one().catch(fail)),
      churn.length ? churnAll().catch(fail) : undefined
    ])
  } finally {
    await d.close()
  }
  return { ...summarize(delays), expected: streams * events, errors, error }
}

/**
 * Time to first response on a brand-new client connection: to a host the proxy has never
 * seen (certificate minting, new upstream connection) vs a host it has (cached). Alternating
 * the two spreads any drift over both.
 */
async function measureNewHost(t, newHosts, warmHost, cfg) {
  // `close`: the upstream closes its connection after answering, so the next request to the
  // same host opens a new one. Then a new host and a known one differ only in what a new
  // name costs the proxy (its certificate), whichever proxy keeps upstream connections.
  const fresh = async (origin, close = true) => {
    const d = await t.dispatcher()
    try {
      const s = performance.now()
      const r = await d.request({
        origin,
        path: close ? '/small?close=1' : '/small',
        method: 'GET'
      })
      await r.body.text()
      if (r.statusCode !== 200) throw new Error(`status ${r.statusCode}`)
      return performance.now() - s
    } finally {
      await d.close()
    }
  }
  const newLat = []
  const cachedLat = []
  // The same known host with its upstream connection kept (Airlock reuses it; mitmproxy
  // opens one per client connection): what a known host costs in practice.
  const pooledLat = []
  let errors = 0
  let error
  const deadline = performance.now() + cfg.newHostCapMs
  try {
    if (t.name === 'direct') {
      // No proxy, nothing to mint: a fresh TLS connection each time is the reference.
      for (let i = 0; i < newHosts.length && performance.now() < deadline; i++)
        cachedLat.push(await fresh(t.origin))
    } else {
      await fresh(t.hostOrigin(warmHost))
      await fresh(t.hostOrigin(warmHost))
      for (let i = 0; i < newHosts.length && performance.now() < deadline; i++) {
        newLat.push(await fresh(t.hostOrigin(newHosts[i])))
        cachedLat.push(await fresh(t.hostOrigin(warmHost)))
        // Leaves a kept upstream connection for the next one, which is measured.
        await fresh(t.hostOrigin(warmHost), false)
        pooledLat.push(await fresh(t.hostOrigin(warmHost), false))
        // Spends the kept connection (the upstream closes it after this answer): otherwise
        // the next known-host request would reuse it while the new host opens one, and the
        // difference would count an upstream handshake against the new name.
        await fresh(t.hostOrigin(warmHost))
      }
    }
  } catch (err) {
    errors++
    error = err.message
  }
  return {
    fresh: newLat.length ? summarize(newLat) : undefined,
    cached: cachedLat.length ? summarize(cachedLat) : undefined,
    pooled: pooledLat.length ? summarize(pooledLat) : undefined,
    errors,
    error
  }
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/** CPU time (user + system, all threads) a process has used so far, in ms; NaN without pid. */
function cpuMs(pid) {
  if (!pid) return NaN
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK
  } catch {
    return NaN
  }
}

function readProcMb(pid, field) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
    return m ? Number(m[1]) / 1024 : NaN
  } catch {
    return NaN
  }
}

/** Opens N keep-alive connections through the proxy (N requests in flight), then idles. */
async function measureIdleRss(t, cfg) {
  const n = cfg.idleConnections
  const pid = t.pid ?? t.rssPid
  const before = readProcMb(pid, 'VmRSS')
  const d = await t.dispatcher({ connections: n, keepAliveTimeout: 60_000 })
  try {
    const ok = await Promise.allSettled(
      Array.from({ length: n }, async () => {
        // 500 ms at the upstream keeps all N in flight at once, so N connections open.
        const r = await d.request({
          origin: t.origin,
          path: '/small?delay=500',
          method: 'GET',
          signal: AbortSignal.timeout(30_000)
        })
        await r.body.text()
        if (r.statusCode !== 200) throw new Error(`status ${r.statusCode}`)
      })
    )
    const failed = ok.filter((r) => r.status === 'rejected')
    await sleep(1000)
    const idle = readProcMb(pid, 'VmRSS')
    return {
      before,
      idle,
      opened: n - failed.length,
      error: failed[0]?.reason?.message
    }
  } finally {
    await d.close()
  }
}

// ---------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------

function fmt(v, digits = 0) {
  if (v === undefined || v === null || Number.isNaN(v)) return '—'
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

function ms(v) {
  if (v === undefined || Number.isNaN(v)) return '—'
  return v < 10 ? v.toFixed(2) : v.toFixed(1)
}

function machineInfo() {
  const sh = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    } catch {
      return ''
    }
  }
  const undiciVersion = JSON.parse(
    readFileSync(join(ROOT, 'node_modules/undici/package.json'), 'utf8')
  ).version
  const rev = sh('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']).trim()
  const dirty = sh('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src']).trim() ? '+dirty' : ''
  return {
    nproc: sh('nproc', []).trim() || String(os.availableParallelism()),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memGb: (os.totalmem() / 2 ** 30).toFixed(1),
    kernel: os.release(),
    node: process.version,
    undici: undiciVersion,
    mitmproxy: /Mitmproxy:\s*(\S+)/.exec(sh('mitmdump', ['--version']))?.[1] ?? 'not installed',
    squid:
      /Version\s+(\S+)/.exec(sh(onPath('squid') ? 'squid' : '/usr/sbin/squid', ['-v']))?.[1] ??
      'not installed',
    airlock: rev ? `${rev}${dirty}` : 'unknown',
    load: os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
    date: new Date().toISOString()
  }
}

// ---------------------------------------------------------------------------------------
// Step overhead: what the action adds around the container it runs
// ---------------------------------------------------------------------------------------

function secs(v) {
  return v === undefined || Number.isNaN(v) ? '—' : (v / 1000).toFixed(2)
}

function dockerUp() {
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

function median(values) {
  const s = [...values].sort((a, b) => a - b)
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN
}

/** Wall time of a child process, in ms; rejects when it fails. */
async function timed(cmd, args, opts = {}) {
  const t0 = performance.now()
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (out += d))
  const [code] = await once(child, 'close')
  const elapsed = performance.now() - t0
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${code}: ${out.slice(-400)}`)
  return { ms: elapsed, out }
}

/** One run of the action's main and post steps, as the runner runs them; their wall time. */
async function actionStep(tmp, image, i) {
  const dir = mkdtempSync(join(tmp, `step-${i}-`))
  const ws = join(dir, 'ws')
  mkdirSync(ws)
  const files = {}
  for (const f of [
    'GITHUB_OUTPUT',
    'GITHUB_STATE',
    'GITHUB_ENV',
    'GITHUB_PATH',
    'GITHUB_STEP_SUMMARY'
  ]) {
    files[f] = join(dir, f.toLowerCase())
    writeFileSync(files[f], '')
  }
  const yml = parseYaml(readFileSync(join(ROOT, 'action.yml'), 'utf8'))
  const inputs = {}
  for (const [name, spec] of Object.entries(yml.inputs))
    inputs[`INPUT_${name.toUpperCase()}`] = String(spec.default ?? '').replace(
      '${{ github.token }}',
      ''
    )
  Object.assign(inputs, { INPUT_COMMAND: 'true', INPUT_IMAGE: image })
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME ?? dir,
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKSPACE: ws,
    GITHUB_REPOSITORY: 'bench/step',
    GITHUB_RUN_ID: String(Date.now()),
    GITHUB_RUN_ATTEMPT: '1',
    RUNNER_TEMP: dir,
    RUNNER_TOOL_CACHE: join(tmp, 'tool-cache'),
    ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {}),
    ...files,
    ...inputs
  }
  const main = await timed(process.execPath, [join(ROOT, yml.runs.main)], { env, cwd: ws })
  if (!/conclusion<<|conclusion=/.test(readFileSync(files.GITHUB_OUTPUT, 'utf8')))
    throw new Error(`main set no outputs: ${main.out.slice(-400)}`)
  const state = readFileSync(files.GITHUB_STATE, 'utf8')
  const postEnv = { ...env }
  for (const m of state.matchAll(/^([^<=\n]+)<<(.+)\n([\s\S]*?)\n\2$/gm))
    postEnv[`STATE_${m[1]}`] = m[3]
  const post = await timed(process.execPath, [join(ROOT, yml.runs.post)], { env: postEnv, cwd: ws })
  rmSync(dir, { recursive: true, force: true })
  return main.ms + post.ms
}

/**
 * Step overhead: main + post for `true`, minus a bare `docker run --rm --network none` of the
 * same image and command, alternated so both see the same machine; medians compared. Once for
 * the test image (local, so no pull is timed) and once for `image: runner`.
 */
async function measureStepOverhead(tmp, reps) {
  const main = join(ROOT, 'dist/main/index.js')
  if (!existsSync(main) || statSync(main).mtimeMs < newestMtime(join(ROOT, 'src')))
    log(
      'step overhead: dist/main is older than src/ (run `npm run build` to measure the working tree)'
    )
  const image = 'airlock-test:latest'
  execFileSync('docker', ['image', 'inspect', image], { stdio: 'ignore' })
  const run = async (actionImage, bare) => {
    const step = []
    const plain = []
    // One unmeasured round each: page cache, the runner root image import.
    await actionStep(tmp, actionImage, 'warm')
    await timed('docker', bare())
    for (let i = 0; i < reps; i++) {
      log(`step overhead (${actionImage}): round ${i + 1} of ${reps}`)
      step.push(await actionStep(tmp, actionImage, i))
      plain.push((await timed('docker', bare())).ms)
    }
    return { step: median(step), bare: median(plain), overhead: median(step) - median(plain) }
  }
  const pinned = await run(image, () => ['run', '--rm', '--network', 'none', image, 'true'])
  const runner = await run('runner', () => {
    const name = execFileSync(
      'docker',
      ['images', '--format', '{{.Repository}}:{{.Tag}}', 'airlock-runner-root'],
      {
        encoding: 'utf8'
      }
    ).split('\n')[0]
    return [
      'run',
      '--rm',
      '--network',
      'none',
      '-v',
      '/usr:/usr:ro',
      '-v',
      '/etc:/etc:ro',
      '-v',
      '/opt:/opt:ro',
      name,
      '/usr/bin/true'
    ]
  })
  return { image, pinned, runner }
}

function buildReport({
  cfg,
  quick,
  targets,
  skipped,
  res,
  step,
  upstreamStats,
  seconds,
  cli,
  tmp
}) {
  const bundleNote = !cli
    ? 'not run'
    : tmp && cli.startsWith(tmp)
      ? 'bundle freshly built from the working tree'
      : `bundle ${relative(ROOT, cli)}`
  const names = targets.map((t) => t.name)
  const get = (name, path) => path.split('.').reduce((o, k) => (o == null ? o : o[k]), res[name])
  const cols = names.map((n) => TITLES[n])
  const row = (label, f) => [label, ...names.map((n) => f(n))]
  const [c1, c50] = cfg.rps
  const pair = (a, b) => `${ms(a)} / ${ms(b)}`
  const d = (n) => n === 'direct'
  const air = res.airlock
  const dir = res.direct

  const rows = [
    row(`req/s, ${c1.clients} client (${c1.count} req)`, (n) => fmt(get(n, 'rps1.rps'))),
    row('  latency p50 / p99 (ms)', (n) => pair(get(n, 'rps1.p50'), get(n, 'rps1.p99'))),
    row(`req/s, ${c50.clients} clients (${c50.count} req)`, (n) => fmt(get(n, 'rps50.rps'))),
    row('  latency p50 / p99 (ms)', (n) => pair(get(n, 'rps50.p50'), get(n, 'rps50.p99'))),
    row(`  proxy CPU per request, ${c1.clients} / ${c50.clients} clients (µs)`, (n) =>
      d(n) ? '—' : `${fmt(get(n, 'rps1.cpuUsPerReq'))} / ${fmt(get(n, 'rps50.cpuUsPerReq'))}`
    ),
    row(`download MB/s (${cfg.bodyBytes / 1e6} MB)`, (n) => fmt(get(n, 'down.mbps'), 0)),
    row(`upload MB/s (${cfg.bodyBytes / 1e6} MB)`, (n) => fmt(get(n, 'up.mbps'), 0)),
    row('  proxy CPU per MB, down / up (ms)', (n) =>
      d(n) ? '—' : `${ms(get(n, 'down.cpuMsPerMb'))} / ${ms(get(n, 'up.cpuMsPerMb'))}`
    ),
    row('SSE arrival − send p50 / p99 (ms)', (n) => pair(get(n, 'sse.p50'), get(n, 'sse.p99'))),
    row('SSE added vs direct p50 / p99 (ms)', (n) =>
      d(n) || !dir?.sse
        ? '—'
        : pair(get(n, 'sse.p50') - dir.sse.p50, get(n, 'sse.p99') - dir.sse.p99)
    ),
    row(`SSE p99 / max while ${cfg.churnHosts} new hosts open (ms)`, (n) =>
      pair(get(n, 'sseChurn.p99'), get(n, 'sseChurn.max'))
    ),
    row('fresh conn, known host p50 (ms)', (n) => ms(get(n, 'newHost.cached.p50'))),
    row('↳ upstream connection kept from the last request p50 (ms)', (n) =>
      d(n) ? '—' : ms(get(n, 'newHost.pooled.p50'))
    ),
    row('fresh conn, new host p50 / p90 (ms)', (n) =>
      d(n) ? '—' : pair(get(n, 'newHost.fresh.p50'), get(n, 'newHost.fresh.p90'))
    ),
    row('new-host overhead p50 (ms)', (n) =>
      d(n) ? '—' : ms(get(n, 'newHost.fresh.p50') - get(n, 'newHost.cached.p50'))
    ),
    row('RSS idle → 200 idle conns (MB); direct: the upstream, a bare node:https server', (n) =>
      get(n, 'rss.idle') === undefined
        ? '—'
        : `${fmt(get(n, 'rss.before'))} → ${fmt(get(n, 'rss.idle'))}`
    ),
    row('peak RSS, whole run (MB)', (n) => (d(n) ? '—' : fmt(get(n, 'peakRssMb')))),
    ...(step && !step.error
      ? [
          row(`step overhead, ${step.image}: main + post − bare docker run (s)`, (n) =>
            n === 'airlock' ? secs(step.pinned.overhead) : '—'
          ),
          row('  main + post / bare docker run, median (s)', (n) =>
            n === 'airlock' ? `${secs(step.pinned.step)} / ${secs(step.pinned.bare)}` : '—'
          ),
          row('step overhead, image: runner (s)', (n) =>
            n === 'airlock' ? secs(step.runner.overhead) : '—'
          )
        ]
      : [])
  ]

  // Errors, if any, get their own row so a fast-but-failing proxy cannot look good.
  const errs = (n) => {
    let total = 0
    for (const v of Object.values(res[n])) if (v && typeof v === 'object') total += v.errors ?? 0
    const rss = res[n].rss
    if (rss?.opened !== undefined && rss.opened < cfg.idleConnections) total++
    return total
  }
  if (names.some((n) => errs(n) > 0)) rows.push(row('errors', (n) => fmt(errs(n))))

  // Targets, against the baseline measured in this same run.
  const checks = []
  const check = (label, value, shown, pass) =>
    checks.push({
      label,
      value: shown,
      pass: value === undefined || Number.isNaN(value) ? undefined : pass
    })
  if (air && dir) {
    for (const k of ['rps1', 'rps50']) {
      const ratio = air[k]?.rps / dir[k]?.rps
      check(
        `req/s ≥ 0.5× direct (${k === 'rps1' ? '1 client' : '50 clients'})`,
        ratio,
        `${ratio.toFixed(2)}×`,
        ratio >= 0.5
      )
    }
  }
  if (air && res.mitmproxy) {
    const mitm = res.mitmproxy
    for (const k of ['rps1', 'rps50']) {
      const ratio = air[k]?.rps / mitm[k]?.rps
      const want = k === 'rps1' ? 5 : 10
      check(
        `req/s ≥ ${want}× mitmproxy (${k === 'rps1' ? '1 client' : '50 clients'})`,
        ratio,
        `${ratio.toFixed(2)}×`,
        ratio >= want
      )
    }
    const mbps = air.down?.mbps / mitm.down?.mbps
    check('download MB/s ≥ mitmproxy', mbps, `${mbps.toFixed(2)}×`, mbps >= 1)
    const cpu = air.down?.cpuMsPerMb
    check(
      'download proxy CPU per MB ≤ mitmproxy',
      cpu,
      `${ms(cpu)} vs ${ms(mitm.down?.cpuMsPerMb)} ms`,
      cpu <= mitm.down?.cpuMsPerMb
    )
  } else if (air)
    checks.push({ label: 'req/s ≥ 5× mitmproxy', value: 'mitmproxy not run', pass: undefined })
  if (air && dir) {
    for (const k of ['down', 'up']) {
      const ratio = air[k]?.mbps / dir[k]?.mbps
      check(
        `MB/s ≥ 0.7× direct (${k === 'down' ? 'download' : 'upload'})`,
        ratio,
        `${ratio.toFixed(2)}×`,
        ratio >= 0.7
      )
    }
    const added = air.sse?.p99 - dir.sse?.p99
    check('SSE p99 added delay < 2 ms', added, `${ms(added)} ms`, added < 2)
  }
  if (air) {
    const over = air.newHost?.fresh?.p50 - air.newHost?.cached?.p50
    check('new-host overhead < 2 ms (p50)', over, `${ms(over)} ms`, over < 2)
    check(
      'RSS ≤ 80 MB with 200 idle conns',
      air.rss?.idle,
      `${fmt(air.rss?.idle)} MB`,
      air.rss?.idle <= 80
    )
  }
  if (step && !step.error) {
    check(
      'step overhead ≤ 0.5 s (main + post − bare docker run)',
      step.pinned.overhead,
      `${secs(step.pinned.overhead)} s`,
      // overhead is in ms, like every time here.
      step.pinned.overhead <= 500
    )
  }
  const mark = (p) => (p === undefined ? 'n/a' : p ? 'PASS' : 'FAIL')
  const checkRows = checks.map((c) => [c.label, c.value, mark(c.pass)])

  const notes = []
  for (const [name, why] of Object.entries(skipped))
    notes.push(`${TITLES[name] ?? name}: skipped — ${why}.`)
  if (air) {
    const sent = (air.rps1?.bearer ?? 0) + (air.rps50?.bearer ?? 0)
    const total = (air.rps1?.n ?? 0) + (air.rps50?.n ?? 0)
    notes.push(
      `Injection verified: ${sent} of ${total} measured Airlock requests reached the upstream with the GitHub Bearer token (upstream saw ${upstreamStats?.bearer ?? '?'} such requests in all).`
    )
  }
  for (const n of names) {
    const r = res[n]
    for (const [k, v] of Object.entries(r)) {
      if (v?.capped) notes.push(`${TITLES[n]}: ${k} hit its time cap (${v.n} requests measured).`)
      if (v?.error || v?.firstError) notes.push(`${TITLES[n]}: ${k}: ${v.error ?? v.firstError}`)
    }
  }
  if (step?.error) notes.push(`Step overhead: failed: ${step.error}`)
  if (quick) notes.push('QUICK MODE: reduced counts; figures are indicative only.')

  const m = machineInfo()
  const machineLine = `${m.nproc} CPUs (${m.cpu}), ${m.memGb} GiB RAM, Linux ${m.kernel}, Node ${m.node}, undici ${m.undici}, mitmproxy ${m.mitmproxy}, squid ${m.squid}; Airlock ${m.airlock}; ${m.date}; ${seconds.toFixed(0)} s; load average at the end ${m.load}`

  const terminal = [
    textTable(['', ...cols], rows),
    '',
    textTable(['target (Airlock, vs this run)', 'measured', ''], checkRows),
    '',
    ...notes.map((n) => `* ${n}`),
    '',
    `Machine: ${machineLine}`
  ].join('\n')

  const markdown = [
    '# Benchmarks',
    '',
    '<!-- Generated by `npm run bench` (test/bench/run.mjs); do not edit by hand. -->',
    '',
    `Machine: ${machineLine}.`,
    '',
    `- nproc: ${m.nproc}`,
    `- CPU: ${m.cpu}`,
    `- memory: ${m.memGb} GiB`,
    `- Node: ${m.node} (client, upstream and Airlock), undici ${m.undici}`,
    `- mitmproxy: ${m.mitmproxy}; squid: ${m.squid}`,
    `- Airlock: ${m.airlock} (git HEAD; +dirty = src/ has uncommitted changes), ${bundleNote}`,
    `- date: ${m.date}; run took ${seconds.toFixed(0)} s; load average at the end: ${m.load}`,
    '',
    '## Results',
    '',
    mdTable(['', ...cols], rows),
    '',
    '## Targets',
    '',
    'Ratios are against the baseline measured in the same run. The benchmark reports these; it never fails the build.',
    '',
    mdTable(
      ['target', 'measured', 'result'],
      checkRows.map(([a, b, c]) => [a, b, c === 'PASS' ? '✅ PASS' : c === 'FAIL' ? '❌ FAIL' : c])
    ),
    '',
    ...(notes.length ? ['## Notes', '', ...notes.map((n) => `- ${n}`), ''] : []),
    '## Method',
    '',
    '- One local HTTPS/1.1 upstream (Node, its own process, ECDSA P-256 certificate from a bench CA), reached:',
    '  **direct** (undici `Agent`); through **Airlock** (`airlock proxy --grant github`, requests to',
    '  `https://api.github.com` routed to the upstream with `--connect-to`, so the credential is injected and',
    '  the response scrubbed); through **mitmproxy** (`mitmdump -q`, upstream verified against the bench CA,',
    '  `stream_large_bodies=1m`, SSE streamed by a two-line addon); through **squid** as a plain CONNECT tunnel',
    '  (no caching, no interception). Proxied clients use undici `ProxyAgent`. All on 127.0.0.1.',
    `- Requests/s: keep-alive \`GET /small\` (~60-byte JSON), ${c1.count} requests with ${c1.clients} client and ${c50.count} with ${c50.clients}`,
    `  concurrent clients (one connection each), after a warm-up that opens every connection; each run capped at ${cfg.rpsCapMs / 1000} s.`,
    `  Every target first gets ${cfg.warmupRequests} unmeasured requests (JIT warm-up); then ${cfg.rpsRounds} rounds run target after target and the`,
    '  best round of each target is shown (the machine may be shared; a burst elsewhere should not decide a ratio).',
    `- MB/s: one ${cfg.bodyBytes / 1e6} MB body downloaded (\`GET /bytes\`) and uploaded (\`POST /sink\`, content-length), on a`,
    `  connection warmed by a ${cfg.bodyWarmBytes / 1e6} MB transfer; best of ${cfg.bodyReps}. MB = 10⁶ bytes.`,
    `- SSE: ${cfg.sse.streams} concurrent streams × ${cfg.sse.events} events, one every ${cfg.sse.intervalMs} ms; each event carries its send time`,
    '  (CLOCK_MONOTONIC, shared by all processes), the client records arrival − send. Connections are opened before the',
    `  streams start; best of ${cfg.sse.rounds} rounds (by p99). "Added" is the proxy figure minus the direct one. The "while new hosts open"`,
    `  row repeats one round while a second client opens a fresh connection to each of ${cfg.churnHosts} never-seen hosts in turn`,
    '  (direct: fresh connections to the upstream): a proxy that blocks its event loop to set up a connection stalls every stream.',
    `- New host: time to the first response on a brand-new client (new CONNECT, new TLS handshake) for ${cfg.newHosts} never-seen`,
    '  `*.bench.test` names (Airlock mints a certificate) alternated with the same for one already-seen name; overhead =',
    '  p50(new) − p50(known). The upstream closes its connection after each of these answers (`Connection: close`), so',
    '  every one of them opens a new upstream connection and the overhead is what a new name costs the proxy (its',
    '  certificate): Airlock keeps upstream connections and mitmproxy does not, and a kept one would be counted against',
    '  the new host otherwise. The ↳ row is the known host with its upstream connection kept (Airlock reuses it).',
    '  For squid the names resolve via `hosts_file` (nothing to mint).',
    '- Proxy CPU: user + system time of the proxy process (all threads) from /proc/<pid>/stat over the measured requests or',
    '  transfer (10 ms resolution). It is the figure least moved by other load on the machine; note that a TLS-terminating',
    '  proxy decrypts and re-encrypts every byte, so on a machine where client, upstream and proxy share two cores it cannot',
    '  reach direct throughput (a CONNECT tunnel only copies).',
    `- Memory: VmRSS of the proxy process from /proc right after start, and after ${cfg.idleConnections} keep-alive connections were opened`,
    '  (200 requests in flight at once, each held 500 ms by the upstream) and left idle for 1 s; peak = VmHWM at the end.',
    '  In the direct column, the same for the upstream process (fresh, nothing else served yet): a bare `node:https` server',
    '  holding those connections, the floor for a Node process that terminates TLS for them. A TLS-terminating proxy',
    '  holds two TLS connections per client connection (one each side, up to the upstream pool size).',
    `- Node flags: the proxy runs as users run it, \`node dist/cli/index.js proxy …\`; \`airlock proxy\` re-runs itself in the`,
    `  same process (process.execve, Node ≥ 22.15) with the flags the action gives its proxy daemon, DAEMON_NODE_FLAGS in`,
    `  src/daemon/start.ts (${daemonNodeFlags().join(' ')}), and the allocator settings DAEMON_MALLOC_ENV`,
    `  (${Object.entries(daemonMallocEnv())
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}), and evaluates only its own command's code (src/cli/proxy-main.ts).`,
    `- Step overhead: the built action's \`dist/main\` then \`dist/post\`, run as the runner runs them (inputs from`,
    '  action.yml defaults, `command: true`, no grants), wall time of both, minus a bare',
    '  `docker run --rm --network none <same image> true`; the two alternate, ' +
      `${cfg.stepReps} times each, and the medians are compared.`,
    '  Runner mode (`image: runner`) is measured the same way against a bare run of its own root image with',
    "  the runner's `/usr`, `/etc` and `/opt` mounted read-only. The image is local (no pull) in both.",
    ''
  ].join('\n')
  return { terminal, markdown }
}

function textTable(header, rows) {
  const all = [header, ...rows]
  const widths = header.map((_, i) => Math.max(...all.map((r) => String(r[i] ?? '').length)))
  const line = (r) =>
    r
      .map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i])))
      .join('  ')
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

function mdTable(header, rows) {
  const esc = (c) => String(c ?? '').replace(/\|/g, '\\|')
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map(
      (r) => `| ${r.map((c, i) => (i === 0 ? esc(c).replace(/^ +/, '↳ ') : esc(c))).join(' | ')} |`
    )
  ].join('\n')
}

// Last, so every module-level constant above is initialised before it runs.
if (process.argv[2] === '--upstream') {
  await runUpstream(JSON.parse(process.argv[3] ?? '{}'))
} else {
  await main()
}
