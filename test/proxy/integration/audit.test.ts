/**
 * The audit chain of a real daemon run, checked with the real CLI (`airlock audit verify`),
 * and the proof that an edited or truncated log fails.
 */
import { createHash } from 'node:crypto'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { entryHash, type AuditEntry } from '../../../src/proxy/audit.js'
import {
  CLI_SCRIPT,
  GH_PLACEHOLDER,
  connectAll,
  connectHead,
  ensureBuilt,
  openTunnel,
  rawProxyRequest,
  realToken,
  run,
  startTestDaemon,
  startWorld,
  type TestDaemon,
  type World
} from './harness.js'

const TOKEN = realToken()

let world: World
let daemon: TestDaemon
let head: string
let entries: AuditEntry[]
let auditText: string

beforeAll(async () => {
  await Promise.all([ensureBuilt('proxy'), ensureBuilt('cli')])
  world = await startWorld()
  daemon = await startTestDaemon({
    githubToken: TOKEN,
    connectTo: connectAll(world.upstream.port, ['api.github.com']),
    upstreamCa: world.pki.caPem
  })
  // One injected request and one refusal, so the chain holds every kind of event.
  const tunnel = await openTunnel(daemon, 'api.github.com:443')
  const ok = await tunnel.request({
    path: '/echo/audited',
    headers: { authorization: `Bearer ${GH_PLACEHOLDER}` }
  })
  tunnel.close()
  expect(ok.status).toBe(200)
  const blocked = await rawProxyRequest(daemon.port, connectHead('evil.test:443', daemon.proxyAuth))
  expect(blocked.status).toBe(403)
  ;({ head, entries } = await daemon.stop())
  auditText = await readFile(daemon.auditLog, 'utf8')
})

afterAll(async () => {
  await world.close()
  await rm(daemon.dir, { recursive: true, force: true })
})

const verify = (file: string, withHead = head) =>
  run(process.execPath, [CLI_SCRIPT, 'audit', 'verify', file, '--head', withHead])

describe('audit log of a real run', () => {
  it('records start, grants, injection, block and stop, without the secret', async () => {
    const types = entries.map((e) => e.type)
    expect(types[0]).toBe('start')
    expect(types).toContain('grants')
    expect(types.at(-1)).toBe('stop')
    expect(entries.find((e) => e.type === 'inject')?.data).toEqual({
      host: 'api.github.com',
      grant: 'github'
    })
    expect(entries.find((e) => e.type === 'block')?.data).toMatchObject({
      url: 'evil.test:443',
      reason: 'not-allowed'
    })
    expect(entries.at(-1)!.data).toMatchObject({ reason: 'SIGTERM', requests: 1, blocked: 1 })
    expect(auditText).not.toContain(TOKEN)
    // The head the daemon reports on exit is the chain's last hash.
    const log = await readFile(daemon.logFile, 'utf8')
    expect(log).toContain(`audit head ${head}`)
  })

  it('passes `airlock audit verify --head`', async () => {
    const r = await verify(daemon.auditLog)
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`ok: ${entries.length} entries, head ${head}`)
  })

  it('fails after one line is modified', async () => {
    const file = join(daemon.dir, 'edited.jsonl')
    const edited = auditText.replace('"url":"evil.test:443"', '"url":"good.test:443"')
    expect(edited).not.toBe(auditText)
    await writeFile(file, edited)
    const r = await verify(file)
    expect(r.code).toBe(1)
    const line = entries.findIndex((e) => e.type === 'block') + 1
    expect(r.stderr).toContain(`INVALID at line ${line}`)
  })

  it('fails when the end was cut off (the head no longer matches)', async () => {
    const file = join(daemon.dir, 'truncated.jsonl')
    const lines = auditText.trimEnd().split('\n')
    await writeFile(file, `${lines.slice(0, -1).join('\n')}\n`)
    const r = await verify(file)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('INVALID')
  })
})

describe('airlock audit verify: an incomplete or empty log is not a verified log', () => {
  const verifyArgs = (file: string, ...extra: string[]) =>
    run(process.execPath, [CLI_SCRIPT, 'audit', 'verify', file, ...extra])

  it('fails on an empty file', async () => {
    const file = join(daemon.dir, 'empty.jsonl')
    await writeFile(file, '')
    const r = await verifyArgs(file)
    expect(r.code).toBe(1)
    expect(r.stdout).not.toContain('ok')
    expect(r.stderr).toContain('empty')
    // Not even for a run in progress: a running proxy has written its start entry.
    expect((await verifyArgs(file, '--in-progress')).code).toBe(1)
  })

  it('fails on a log cut short at an entry boundary, without --head', async () => {
    const file = join(daemon.dir, 'cut.jsonl')
    const lines = auditText.trimEnd().split('\n')
    await writeFile(file, `${lines.slice(0, 2).join('\n')}\n`)
    const r = await verifyArgs(file)
    expect(r.code).toBe(1)
    expect(r.stdout).not.toContain('ok')
    expect(r.stderr).toContain('INCOMPLETE')
    expect(r.stderr).toContain('--in-progress')
  })

  it('accepts a log without its stop entry only with --in-progress, the chain still checked', async () => {
    const file = join(daemon.dir, 'running.jsonl')
    const lines = auditText.trimEnd().split('\n')
    await writeFile(file, `${lines.slice(0, 2).join('\n')}\n`)
    const r = await verifyArgs(file, '--in-progress')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('ok: 2 entries')
    expect(r.stdout).toContain('in progress')
    const edited = join(daemon.dir, 'running-edited.jsonl')
    await writeFile(edited, `${lines[0]}\n${lines[1]!.replace('"seq":1', '"seq":2')}\n`)
    expect((await verifyArgs(edited, '--in-progress')).code).toBe(1)
  })

  it('passes a complete log without --head', async () => {
    const r = await verifyArgs(daemon.auditLog)
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`ok: ${entries.length} entries`)
  })
})

describe('network.jsonl is sealed by the stop entry', () => {
  // A copy of the run's two logs side by side, as a run (or the artifact) leaves them, with
  // network.jsonl changed by `change`.
  const copyWith = async (name: string, change: (network: string) => string): Promise<string> => {
    const dir = join(daemon.dir, name)
    await mkdir(dir)
    await writeFile(join(dir, 'audit.jsonl'), auditText)
    await writeFile(join(dir, 'network.jsonl'), change(await readFile(daemon.networkLog, 'utf8')))
    return join(dir, 'audit.jsonl')
  }

  it('records the log’s lines and SHA-256 in the stop entry', async () => {
    const network = await readFile(daemon.networkLog)
    const lines = network.toString('utf8').split('\n').length - 1
    expect(lines).toBeGreaterThan(0)
    expect(entries.at(-1)!.data.network).toEqual({
      lines,
      sha256: createHash('sha256').update(network).digest('hex')
    })
  })

  it('verify checks the network.jsonl beside the audit log, and one named with --network', async () => {
    const beside = await verify(daemon.auditLog)
    expect(beside.code).toBe(0)
    expect(beside.stdout).toMatch(/network\.jsonl: \d+ lines, as sealed/)
    const copy = await copyWith('named', (n) => n)
    const named = await run(process.execPath, [
      CLI_SCRIPT,
      'audit',
      'verify',
      daemon.auditLog,
      '--network',
      join(daemon.dir, 'named', 'network.jsonl')
    ])
    expect(named.code).toBe(0)
    expect(named.stdout).toContain('as sealed')
    expect((await verify(copy)).code).toBe(0)
  })

  it.each([
    ['edited', (n: string) => n.replace('"status":200', '"status":404')],
    ['cut', (n: string) => n.split('\n').slice(1).join('\n')],
    ['appended', (n: string) => `${n}${n.split('\n')[0]}\n`],
    ['emptied', () => '']
  ])('verify fails when network.jsonl was %s after the run', async (name, change) => {
    const audit = await copyWith(name, change)
    expect(await readFile(join(daemon.dir, name, 'network.jsonl'), 'utf8')).not.toBe(
      await readFile(daemon.networkLog, 'utf8')
    )
    const r = await verify(audit)
    expect(r.code).toBe(1)
    expect(r.stdout).not.toContain('ok')
    expect(r.stderr).toContain('network.jsonl is INVALID')
  })

  it('verify fails when a network log is named but the stop entry seals none', async () => {
    const dir = join(daemon.dir, 'unsealed')
    await mkdir(dir)
    // The stop entry rebuilt without its seal and the chain re-hashed: a valid chain (as an
    // Airlock before the seal wrote it) that vouches for no network log.
    const stop = { ...entries.at(-1)!, data: { ...entries.at(-1)!.data } }
    delete stop.data.network
    stop.hash = entryHash(stop)
    const text = `${auditText.trimEnd().split('\n').slice(0, -1).join('\n')}\n${JSON.stringify(stop)}\n`
    await writeFile(join(dir, 'audit.jsonl'), text)
    await writeFile(join(dir, 'network.jsonl'), await readFile(daemon.networkLog))
    const r = await verify(join(dir, 'audit.jsonl'), stop.hash)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('cannot be checked')
  })
})
