/**
 * The egress battery: every bypass class of docs/security.md attacked from INSIDE the
 * sandbox, through the real action (dist/main then dist/post, as the runner runs them).
 * Three container runs: the block-mode attacks, the audit-mode ones, and class 17 with the
 * `aws` grant (its ID-token endpoint and STS faked on the runner side). A script
 * in the container (container/attacks.mjs) runs each attack and prints what it saw, and
 * each attack is then judged here on three things: what the client got, what network.jsonl
 * recorded, and that no recording server or canary saw anything it should not have.
 */
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyAuditFile } from '../../src/proxy/audit.js'
import { ensureTestImage, requireDocker, TEST_IMAGE } from '../support/docker.js'
import { runAction, runnerTempDir, type ActionRun } from '../support/runner.js'
import { createTestPki } from '../support/test-ca.js'
import {
  auditModeAttacks,
  awsAttacks,
  batterySetup,
  blockModeAttacks,
  NAMES,
  S3_HOST,
  type AttackDef,
  type BatteryEnv,
  type CheckCtx
} from './egress-attacks.js'
import { runnerAddresses, startCanary, type Canary } from './support/canary.js'
import { addHostsEntries, canEditHosts } from './support/etc-hosts.js'
import { startFakeAws, type FakeAws } from './support/fake-aws.js'
import { startHostileUpstream, type HostileUpstream } from './support/hostile-upstream.js'
import {
  verdictOf,
  writeSuiteResults,
  type AttackResult,
  type CheckResult
} from './support/results.js'
import {
  attackLines,
  readNetworkLog,
  stageScripts,
  watchProxy,
  type ProxyWatch
} from './support/run.js'

const hasDocker = await requireDocker()
const editableHosts = canEditHosts()

const GH_SECRET = 'ghs_AirlockSecEgressSentinel_9f3b2c1d0e8a7b6c5d4e3f2a1b0c'
const CUSTOM_SECRET = 'sk-airlock-sec-custom-sentinel-7c6b5a4d3e2f1a0b9c8d'
const GEMINI_SECRET = 'AIzaSyAirlockSecGeminiSentinel_4e5f6a7b8c9d0e1f'
/** Every form a real value could take on the wire (the Basic form of the GitHub token too). */
const SECRETS = [
  GH_SECRET,
  CUSTOM_SECRET,
  GEMINI_SECRET,
  Buffer.from(`x-access-token:${GH_SECRET}`).toString('base64')
]

/** A stand-in env: ids and titles do not depend on ports, so tests can be listed up front. */
const LISTING_ENV: BatteryEnv = { canary: 9, runnerV4: '192.0.2.1', runnerV6: 'fd00::1' }
const LISTING_SESSION = { accessKeyId: 'ASIA0', secretAccessKey: 'x', sessionToken: 'y' }
const LISTED = [
  ...blockModeAttacks(LISTING_ENV),
  ...auditModeAttacks(LISTING_ENV),
  ...awsAttacks(LISTING_SESSION)
]

/** Input validation: allowlists that would open everything are refused before anything runs. */
const VALIDATION: Array<{ id: string; title: string; allow: string; message: RegExp }> = [
  { id: '15.11', title: '`allowed-endpoints: *.com`', allow: '*.com', message: /top-level domain/ },
  { id: '15.12', title: '`allowed-endpoints: *`', allow: '*', message: /every host/ },
  {
    id: '15.13',
    title: '`allowed-endpoints: *.github.*`',
    allow: '*.github.*',
    message: /wildcard/
  },
  {
    id: '15.14',
    title: '`allowed-endpoints: 169.254.169.254`',
    allow: '169.254.169.254',
    message: /IP addresses/
  },
  { id: '15.15', title: '`allowed-endpoints: localhost`', allow: 'localhost', message: /localhost/ }
]

interface Judged {
  def: AttackDef
  check: CheckResult
}

describe.skipIf(!hasDocker || !editableHosts)('egress battery (sandbox → proxy → world)', () => {
  let upstream: HostileUpstream
  let plainUpstream: HostileUpstream
  let canary: Canary
  let removeHosts: (() => void) | undefined
  let blockRun: ActionRun
  let auditRun: ActionRun
  let watch: ProxyWatch
  let validation: Array<{ id: string; run: ActionRun }> = []
  let awsRun: ActionRun
  let fakeAws: FakeAws
  const judged = new Map<string, Judged>()
  let complete = false

  beforeAll(async () => {
    await ensureTestImage()
    canary = await startCanary()
    const addrs = runnerAddresses()
    const env: BatteryEnv = {
      canary: canary.port,
      runnerV4: addrs.v4[0] ?? '192.0.2.1',
      runnerV6: addrs.v6[0] ?? 'fd00::1'
    }
    const pki = await createTestPki([
      NAMES.allowed,
      NAMES.custom,
      NAMES.wildA,
      'api.github.com',
      'generativelanguage.googleapis.com',
      S3_HOST
    ])
    chmodSync(pki.dir, 0o755)
    fakeAws = await startFakeAws()
    upstream = await startHostileUpstream({ pki })
    plainUpstream = await startHostileUpstream({ http: true })
    const setup = batterySetup(env, upstream.port, plainUpstream.port)
    removeHosts = addHostsEntries(setup.hosts)

    const blockAttacks = blockModeAttacks(env)
    const auditAttacks = auditModeAttacks(env)
    const prepare = (attacks: AttackDef[]): string => {
      const ws = runnerTempDir('airlock-sec-ws-')
      const dir = stageScripts(ws)
      writeFileSync(
        join(dir, 'spec.json'),
        JSON.stringify({ attacks: attacks.map((a) => ({ id: a.id, ...a.spec })) })
      )
      return ws
    }
    const awsAttackList = awsAttacks(fakeAws.session)
    const blockWs = prepare(blockAttacks)
    const auditWs = prepare(auditAttacks)
    const awsWs = prepare(awsAttackList)
    const command = 'node /workspace/.airlock-sec/attacks.mjs /workspace/.airlock-sec/spec.json'
    const customCredentials = [
      '- name: sec-custom',
      `  hosts: [${NAMES.custom}, ${NAMES.plain}]`,
      '  header: X-Sec-Key',
      `  value: ${CUSTOM_SECRET}`,
      '  env: SEC_CUSTOM_KEY'
    ].join('\n')
    const blockTemp = runnerTempDir('airlock-sec-rt-')
    watch = watchProxy(blockTemp)
    const validationRuns = VALIDATION.map(async (v) => ({
      id: v.id,
      run: await runAction({
        inputs: { command: 'true', image: TEST_IMAGE, 'allowed-endpoints': v.allow }
      })
    }))
    ;[blockRun, auditRun, awsRun, validation] = await Promise.all([
      runAction({
        githubToken: GH_SECRET,
        env: { GITHUB_WORKSPACE: blockWs, RUNNER_TEMP: blockTemp },
        inputs: {
          command,
          image: TEST_IMAGE,
          grants: 'github, custom, gemini',
          'custom-credentials': customCredentials,
          'gemini-api-key': GEMINI_SECRET,
          'allowed-endpoints': setup.allow.join('\n'),
          'connect-to': setup.connectTo.join('\n'),
          'upstream-ca': pki.caFile,
          'timeout-minutes': '4'
        }
      }),
      runAction({
        env: { GITHUB_WORKSPACE: auditWs },
        inputs: {
          command,
          image: TEST_IMAGE,
          'egress-policy': 'audit',
          'allowed-endpoints': NAMES.allowed,
          'connect-to': setup.connectTo.join('\n'),
          'upstream-ca': pki.caFile,
          'timeout-minutes': '4'
        }
      }),
      runAction({
        env: {
          GITHUB_WORKSPACE: awsWs,
          ACTIONS_ID_TOKEN_REQUEST_URL: fakeAws.oidcUrl,
          ACTIONS_ID_TOKEN_REQUEST_TOKEN: fakeAws.oidcRequestToken,
          AWS_ENDPOINT_URL_STS: fakeAws.stsUrl
        },
        inputs: {
          command,
          image: TEST_IMAGE,
          grants: 'aws',
          'aws-role-arn': 'arn:aws:iam::123456789012:role/airlock-sec',
          'aws-region': 'us-east-1',
          'allowed-endpoints': S3_HOST,
          'connect-to': `${S3_HOST}:443=127.0.0.1:${upstream.port}`,
          'upstream-ca': pki.caFile,
          'timeout-minutes': '4'
        }
      }),
      Promise.all(validationRuns)
    ])
    watch.stop()

    const ctxOf = (run: ActionRun): CheckCtx => ({
      net: readNetworkLog(run.outputs['network-log']),
      up: upstream.requests,
      plainUp: plainUpstream.requests,
      canary: canary.hits,
      secrets: SECRETS
    })
    const judge = (run: ActionRun, attacks: AttackDef[]): void => {
      const seen = attackLines(run.main.stdout)
      const ctx = ctxOf(run)
      for (const def of attacks) {
        const o = seen.get(def.id)
        const check: CheckResult =
          o === undefined
            ? { outcome: 'did not run', problems: ['no observation from the sandbox'] }
            : def.check(o, ctx)
        judged.set(def.id, { def, check })
      }
    }
    judge(blockRun, blockAttacks)
    judge(auditRun, auditAttacks)
    judge(awsRun, awsAttackList)
    complete = true
    if (process.env.AIRLOCK_SEC_DEBUG) {
      const seen = new Map([
        ...attackLines(blockRun.main.stdout),
        ...attackLines(auditRun.main.stdout),
        ...attackLines(awsRun.main.stdout)
      ])
      writeFileSync(
        process.env.AIRLOCK_SEC_DEBUG,
        JSON.stringify(
          [...judged.values()].map(({ def, check }) => ({
            id: def.id,
            check,
            observed: seen.get(def.id)
          })),
          null,
          1
        )
      )
    }
  }, 240_000)

  afterAll(async () => {
    watch?.stop()
    removeHosts?.()
    await upstream?.close()
    await plainUpstream?.close()
    await canary?.close()
    await fakeAws?.close()
    if (!complete) return
    const results: AttackResult[] = [...judged.values()].map(({ def, check }) => ({
      id: def.id,
      cls: def.cls,
      attack: def.title,
      outcome: check.outcome,
      verdict: verdictOf(check)
    }))
    for (const v of VALIDATION) {
      const r = validation.find((x) => x.id === v.id)!.run
      const ok = validationRefused(r, v.message)
      results.push({
        id: v.id,
        cls: 15,
        attack: v.title,
        outcome: ok ? 'refused before anything starts' : 'accepted',
        verdict: ok ? 'pass' : 'fail'
      })
    }
    writeSuiteResults('egress', results)
  })

  it('runs both batteries to completion in the sandbox', () => {
    for (const run of [blockRun, auditRun, awsRun]) {
      expect(run.main.stdout, run.main.stderr).toContain('AIRLOCK-ATTACKS-DONE')
      expect(run.main.code, run.main.errors.join('\n')).toBe(0)
      expect(run.post.code).toBe(0)
    }
    expect(judged.size).toBe(LISTED.length)
  })

  it.each(LISTED.map((a) => [`${a.id} ${a.title}`, a.id] as const))('%s', (_title, id) => {
    const j = judged.get(id)
    expect(j, 'the attack was not judged').toBeDefined()
    expect(j!.check.problems, j!.check.outcome).toEqual([])
  })

  it('nothing reached the canary on any runner address, TCP or UDP', () => {
    expect(canary.hits).toEqual([])
  })

  it('the upstreams saw only requests for allowed names', () => {
    const allowedHosts = new Set([
      NAMES.allowed,
      NAMES.custom,
      NAMES.wildA,
      'api.github.com',
      'generativelanguage.googleapis.com',
      S3_HOST
    ])
    for (const r of upstream.requests) {
      const host = String(r.headers.host).toLowerCase()
      expect(allowedHosts.has(host), `Host ${host}`).toBe(true)
      expect(r.servername, `SNI of ${r.url}`).toBe(host)
    }
    for (const r of plainUpstream.requests) expect(r.headers.host).toBe(NAMES.plain)
  })

  it('keeps the proxy alive and bounded under the in-sandbox DoS', () => {
    expect(watch.pid, 'the proxy process was never seen').toBeDefined()
    expect(watch.samples).toBeGreaterThan(5)
    // Generous: the point is "bounded", not a benchmark (see docs/benchmarks.md).
    expect(watch.peakRssKb).toBeLessThan(512 * 1024)
  })

  it('writes an audit chain that verifies, with every refusal in it', () => {
    for (const run of [blockRun, auditRun]) {
      const audit = verifyAuditFile(run.outputs['audit-log']!, { head: run.outputs['audit-head']! })
      expect(audit.ok).toBe(true)
      expect(audit.closed).toBe(true)
      const blocks = readNetworkLog(run.outputs['network-log']).filter((e) => e.blocked)
      expect(blocks.length).toBeGreaterThan(5)
    }
  })

  it('never lets a real credential into the sandbox’s output or the logs', () => {
    const unmask = (t: string): string => t.replace(/^::add-mask::.*$/gm, '')
    const secrets = [
      ...SECRETS,
      fakeAws.session.secretAccessKey,
      fakeAws.session.sessionToken,
      fakeAws.oidcRequestToken
    ]
    const found: string[] = []
    for (const [name, run] of Object.entries({ blockRun, auditRun, awsRun })) {
      const texts: Record<string, string> = {
        'step log': unmask(run.main.stdout) + run.main.stderr,
        summary: run.summary,
        outputs: JSON.stringify(run.outputs),
        'network.jsonl': JSON.stringify(readNetworkLog(run.outputs['network-log']))
      }
      for (const [where, t] of Object.entries(texts))
        for (const s of secrets)
          if (t.includes(s)) found.push(`${name} ${where}: ${s.slice(0, 12)}…`)
    }
    expect(found).toEqual([])
  })

  it.each(VALIDATION.map((v) => [`${v.id} ${v.title} is refused`, v] as const))(
    '%s',
    (_title, v) => {
      const r = validation.find((x) => x.id === v.id)!.run
      expect(validationRefused(r, v.message), r.main.stdout).toBe(true)
    }
  )
})

/** The step failed on its input, naming allowed-endpoints, before any container existed. */
function validationRefused(run: ActionRun, message: RegExp): boolean {
  return (
    run.main.code === 1 &&
    run.main.errors.some((e) => e.includes('allowed-endpoints') && message.test(e)) &&
    !run.state.resources?.includes('"container"')
  )
}
