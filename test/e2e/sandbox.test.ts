import { execFileSync } from 'node:child_process'
import { filesUnder } from '../support/files.js'
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyAuditFile } from '../../src/proxy/audit.js'
import { alive } from '../../src/daemon/start.js'
import { memoryLimit } from '../../src/sandbox/container.js'
import { ensureTestImage, requireDocker, TEST_IMAGE } from '../support/docker.js'
import { runAction, runnerIdentity, runnerTempDir, type ActionRun } from '../support/runner.js'
import { startFakeResults, zipEntries, type FakeResults } from '../support/fake-results.js'
import { createTestPki } from '../support/test-ca.js'
import { startUpstream, type Upstream } from '../support/upstream.js'

const SECRET = 'ghs_RealSecretValue_e2e_0123456789abcdefXYZ'
const hasDocker = await requireDocker()

describe.skipIf(!hasDocker)('the action end to end in a real container', () => {
  let upstream: Upstream
  let run: ActionRun
  let workspace: string

  beforeAll(async () => {
    await ensureTestImage()
    const pki = await createTestPki(['api.github.com'])
    chmodSync(pki.dir, 0o755)
    upstream = await startUpstream({ pki })
    workspace = runnerTempDir('airlock-e2e-ws-')
    const script = [
      'set -u',
      'echo "uid=$(id -u)"',
      // The container's memory limit as its cgroup says (v2, else v1).
      'echo "memory-limit=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"',
      // The placeholder goes out, the proxy swaps in the real token (echoed back, then scrubbed).
      'curl -sS -H "Authorization: Bearer $GH_TOKEN" https://api.github.com/echo > /workspace/echo.json',
      // No route without the proxy: both must fail.
      'curl -sS --max-time 5 --noproxy "*" https://api.github.com/echo && echo NOPROXY-REACHED || echo noproxy-failed',
      `node -e "require('net').connect(${upstream.port}, '127.0.0.1').on('connect', () => { console.log('RAW-TCP-REACHED'); process.exit(0) }).on('error', () => { console.log('raw-tcp-failed'); process.exit(0) })"`,
      // A host that is not allowed is refused by the proxy.
      'curl -sS -o /dev/null -w "blocked-status=%{http_connect}\\n" https://evil.example/ || true',
      'env > /workspace/env.txt',
      'cat /proc/*/environ 2>/dev/null | tr "\\0" "\\n" > /workspace/proc-environ.txt',
      // Built from two halves so this script itself does not hold the secret.
      `A='${SECRET.slice(0, 10)}'; B='${SECRET.slice(10)}'`,
      'grep -rl "$A$B" / --exclude-dir=proc --exclude-dir=sys 2>/dev/null > /workspace/grep-secret.txt || true',
      'echo written > /workspace/created-by-agent.txt'
    ].join('\n')
    writeFileSync(join(workspace, 'task.sh'), script)
    run = await runAction({
      githubToken: SECRET,
      env: { GITHUB_WORKSPACE: workspace },
      inputs: {
        command: 'sh /workspace/task.sh',
        grants: 'github',
        image: TEST_IMAGE,
        'connect-to': `api.github.com:443=127.0.0.1:${upstream.port}`,
        'upstream-ca': pki.caFile,
        'timeout-minutes': '5',
        // No runtime token here, so the upload must fail softly: a warning, not a failed run.
        'audit-artifact': 'airlock-logs'
      }
    })
  }, 300_000)

  afterAll(async () => {
    await upstream?.close()
  })

  it('runs the command, injects the real credential, and reports success', () => {
    expect(run.main.errors).toEqual([])
    expect(run.main.code, run.main.stdout + run.main.stderr).toBe(0)
    expect(run.outputs.conclusion).toBe('success')
    expect(run.outputs['exit-code']).toBe('0')
    expect(run.main.stdout).toMatch(
      /::warning::could not upload network\.jsonl and audit\.jsonl as artifact "airlock-logs"/
    )
    const echoed = upstream.requests.find((r) => r.url === '/echo')
    expect(echoed?.headers.authorization).toBe(`Bearer ${SECRET}`)
  })

  it('the agent never sees the real secret, only the placeholder', () => {
    const echo = readFileSync(join(workspace, 'echo.json'), 'utf8')
    expect(echo).not.toContain(SECRET)
    expect(echo).toContain('authorization')
    expect(readFileSync(join(workspace, 'env.txt'), 'utf8')).toMatch(/^GH_TOKEN=ghp_/m)
    for (const f of ['env.txt', 'proc-environ.txt', 'grep-secret.txt'])
      expect(readFileSync(join(workspace, f), 'utf8')).not.toContain(SECRET)
    expect(readFileSync(join(workspace, 'grep-secret.txt'), 'utf8').trim()).toBe('')
  })

  it('has no route out but the proxy, runs as the runner (not root), and blocks what is not allowed', () => {
    const out = run.main.stdout
    expect(out).toContain('noproxy-failed')
    expect(out).not.toContain('NOPROXY-REACHED')
    expect(out).toContain('raw-tcp-failed')
    expect(out).not.toContain('RAW-TCP-REACHED')
    expect(out).toContain('blocked-status=403')
    expect(out).toMatch(/uid=(\d+)/)
    expect(out).not.toContain('uid=0\n')
    const created = statSync(join(workspace, 'created-by-agent.txt'))
    expect(created.uid).toBe(runnerIdentity()?.uid ?? process.getuid?.())
    expect(Number(run.outputs['blocked-requests'])).toBeGreaterThanOrEqual(1)
  })

  it('limits the container’s memory to the host’s less a reserve, when the daemon can', () => {
    const info = JSON.parse(
      execFileSync('docker', ['info', '--format', '{{json .}}'], { encoding: 'utf8' })
    ) as { MemoryLimit?: boolean; MemTotal?: number }
    const expected = memoryLimit(info)
    const seen = /memory-limit=(\S+)/.exec(run.main.stdout)?.[1]
    if (expected === undefined) expect(seen).toMatch(/^(max|\d{16,})$/)
    else {
      // The kernel rounds the limit down to a page.
      expect(Number(seen)).toBeLessThanOrEqual(expected)
      expect(Number(seen)).toBeGreaterThan(expected - 65536)
    }
  })

  it('writes logs and a summary that hold no secret, and an audit chain that verifies', () => {
    const network = readFileSync(run.outputs['network-log']!, 'utf8')
    expect(network).toContain('[injected:github]')
    expect(network).toContain('evil.example')
    const audit = verifyAuditFile(run.outputs['audit-log']!, { head: run.outputs['audit-head']! })
    expect(audit.ok).toBe(true)
    expect(audit.closed).toBe(true)
    expect(run.summary).toContain('## Airlock')
    expect(run.summary).toContain('api.github.com')
    expect(run.summary).toContain('`allowed-endpoints`')
    // `::add-mask::` lines are how the runner learns what to mask: the one place a secret belongs.
    const unmask = (t: string): string => t.replace(/^::add-mask::.*$/gm, '')
    const everything = [
      unmask(run.main.stdout),
      run.main.stderr,
      run.post.stdout,
      run.post.stderr,
      run.summary,
      JSON.stringify(run.outputs),
      JSON.stringify(run.state),
      network,
      readFileSync(run.outputs['audit-log']!, 'utf8')
    ]
    for (const text of everything) expect(text).not.toContain(SECRET)
    const logDir = join(run.outputs['network-log']!, '..')
    for (const f of filesUnder(logDir)) expect(readFileSync(f, 'utf8'), f).not.toContain(SECRET)
  })

  it('leaves nothing behind after post', () => {
    expect(run.post.code).toBe(0)
    const containers = execFileSync(
      'docker',
      ['ps', '-aq', '--filter', `label=airlock.run-id=${run.state['run-id']}`],
      {
        encoding: 'utf8'
      }
    ).trim()
    expect(containers).toBe('')
    // The proxy main started (its pid is in the state post read) is gone.
    const resources = JSON.parse(run.state.resources ?? '[]') as Array<{
      kind: string
      pid?: number
    }>
    const proxy = resources.find((r) => r.kind === 'proxy')
    expect(proxy?.pid).toBeGreaterThan(0)
    // Gone: no such process, or a zombie (exited; this machine's init reaps them late).
    expect(alive(proxy!.pid!)).toBe(false)
    const temp = readdirSync(join(run.outputs['network-log']!, '..', '..')).filter((n) =>
      /^airlock-[A-Za-z0-9]{6}$/.test(n)
    )
    expect(temp).toEqual([])
  })
})

// With the runner's results service (here a fake speaking its wire format), main uploads the
// two logs as the artifact named by audit-artifact; what arrives is the logs it reported.
describe.skipIf(!hasDocker)('audit-artifact with a results service', () => {
  let results: FakeResults
  let run: ActionRun

  beforeAll(async () => {
    await ensureTestImage()
    results = await startFakeResults({})
    const workspace = runnerTempDir('airlock-artifact-ws-')
    const id = runnerIdentity()
    if (id) execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, workspace])
    run = await runAction({
      env: { GITHUB_WORKSPACE: workspace, ...results.env },
      inputs: {
        command: 'curl -sS --max-time 5 https://not-allowed.airlock.test/ || true',
        image: TEST_IMAGE,
        'timeout-minutes': '3',
        'audit-artifact': 'airlock-logs'
      }
    })
  }, 300_000)

  afterAll(async () => {
    await results?.close()
  })

  it('uploads network.jsonl and audit.jsonl as they were reported, chain intact', () => {
    expect(run.main.code, run.main.stdout + run.main.stderr).toBe(0)
    const artifact = results.artifacts.get('airlock-logs')
    expect(artifact?.blob, JSON.stringify(results.requests.map((r) => r.url))).toBeDefined()
    expect(run.main.stdout).toContain(
      `uploaded the network and audit logs as artifact "airlock-logs" (id ${artifact!.id})`
    )
    const entries = zipEntries(artifact!.blob!)
    expect([...entries.keys()].sort()).toEqual(['audit.jsonl', 'network.jsonl'])
    expect(entries.get('network.jsonl')).toEqual(readFileSync(run.outputs['network-log']!))
    expect(entries.get('network.jsonl')!.toString()).toContain('not-allowed.airlock.test')
    // The uploaded audit log verifies on its own and ends at the head the step reported.
    const copy = join(mkdtempSync(join(tmpdir(), 'airlock-artifact-check-')), 'audit.jsonl')
    writeFileSync(copy, entries.get('audit.jsonl')!)
    const verified = verifyAuditFile(copy)
    expect(verified.ok).toBe(true)
    expect(verified.head).toBe(run.outputs['audit-head'])
    // The runtime token stays with the runner: masked, and never in the logs it uploaded.
    for (const [, content] of entries) expect(content.toString()).not.toContain(results.token)
  })
})
