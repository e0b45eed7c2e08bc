/**
 * Secret-leak scan: a sentinel secret is planted in every grant that exists today (github,
 * npm, custom, claude, codex, gemini), in the Actions runtime variables of the runner, in
 * the credentials actions/checkout and google-github-actions/auth leave in the workspace,
 * and in other runner variables. The sandbox uses every credential once (so the proxy
 * injects and logs each), then scans everything it can read; while it waits, the host
 * scans the runner side (RUNNER_TEMP, `docker inspect`, the process table, the proxy's own
 * environment); after post, the workspace, step log, outputs, summary, state and logs.
 * Every place must hold zero occurrences (the proxy's memory excepted).
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureTestImage, requireDocker, TEST_IMAGE } from '../support/docker.js'
import { runAction, runnerIdentity, runnerTempDir, type ActionRun } from '../support/runner.js'
import { createTestPki } from '../support/test-ca.js'
import { startFakeAws, type FakeAws } from './support/fake-aws.js'
import { startHostileUpstream, type HostileUpstream } from './support/hostile-upstream.js'
import { writeSuiteResults, type AttackResult } from './support/results.js'
import { filesUnder, proxyReady, readNetworkLog, stageScripts, waitForFile } from './support/run.js'

const hasDocker = await requireDocker()

const tag = randomBytes(6).toString('hex')
/** Sentinels, by label. Shapes follow what each provider or variable usually holds. */
const SENTINELS: Record<string, string> = {
  'github-token': `ghs_LeakSentinelGithub${tag}0123456789`,
  'npm-token': `npm_LeakSentinelNpm${tag}0123456789ab`,
  'custom-credential': `leak-sentinel-custom-${tag}-0123456789`,
  'anthropic-api-key': `sk-ant-api03-LeakSentinelAnthropic${tag}-0123456789`,
  'openai-api-key': `sk-LeakSentinelOpenai${tag}0123456789abcdef`,
  'gemini-api-key': `AIzaLeakSentinelGemini${tag}0123456789`,
  'aws-session-secret': `LeakSentinelAwsSessionSecret${tag}0123456789`,
  'aws-session-token': `LeakSentinelAwsSessionToken${tag}0123456789abcdef`,
  ACTIONS_RUNTIME_TOKEN: `runtime-LeakSentinel-${tag}-0123456789`,
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: `idtoken-LeakSentinel-${tag}-0123456789`,
  // The fake ID-token endpoint's URL carries this path segment.
  ACTIONS_ID_TOKEN_REQUEST_URL: `LeakSentinelIdTokenUrl${tag}`,
  ACTIONS_RESULTS_URL: `https://results.example/LeakSentinel${tag}/`,
  ACTIONS_CACHE_URL: `https://cache.example/LeakSentinel${tag}/`,
  GITHUB_TOKEN: `ghs_LeakSentinelEnvGithubToken${tag}01234`,
  AWS_SECRET_ACCESS_KEY: `LeakSentinelAwsSecret${tag}0123456789abcd`,
  'checkout-extraheader': `ghs_LeakSentinelCheckout${tag}0123456789`,
  'gha-creds': `LeakSentinelGhaCreds${tag}0123456789`
}

/** Every form a sentinel may take on the wire or on disk. */
function variants(): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (const [label, value] of Object.entries(SENTINELS)) {
    out.push([label, value])
    out.push([`${label} (base64)`, Buffer.from(value).toString('base64')])
  }
  for (const l of ['github-token', 'checkout-extraheader'])
    out.push([`${l} (git Basic)`, Buffer.from(`x-access-token:${SENTINELS[l]}`).toString('base64')])
  return out
}
const VARIANTS = variants()

/** The labels found in text (empty when clean). */
function found(text: string): string[] {
  return VARIANTS.filter(([, v]) => text.includes(v)).map(([l]) => l)
}

/** Hits of every file under dir, as `path: labels`. */
function scanTree(dir: string, skip: (p: string) => boolean = () => false): string[] {
  const hits: string[] = []
  for (const f of filesUnder(dir)) {
    if (skip(f)) continue
    let text: string
    try {
      text = readFileSync(f, 'latin1')
    } catch {
      continue
    }
    const labels = found(text)
    if (labels.length) hits.push(`${f}: ${labels.join(', ')}`)
  }
  return hits
}

interface ContainerScan {
  processes: number
  files: number
  bytes: number
  hits: Array<{ where: string; label: string }>
  privateKeys: string[]
}

/** Quick runs whose `env` input tries to override what the sandbox is built around. */
const ENV_OVERRIDES: Array<{ id: string; cls: number; title: string; env: string }> = [
  {
    id: '1.9',
    cls: 1,
    title: '`env: HTTPS_PROXY=…` (point the agent past the proxy)',
    env: 'HTTPS_PROXY=http://attacker.example:3128'
  },
  {
    id: '1.10',
    cls: 1,
    title: '`env: NODE_OPTIONS=--require …`',
    env: 'NODE_OPTIONS=--require /workspace/x.js'
  },
  { id: '1.11', cls: 1, title: '`env: LD_PRELOAD=…`', env: 'LD_PRELOAD=/workspace/x.so' },
  {
    id: '19.4',
    cls: 19,
    title: '`env: ACTIONS_RUNTIME_TOKEN=…` passed on purpose',
    env: 'ACTIONS_RUNTIME_TOKEN=x'
  },
  { id: '19.5', cls: 19, title: '`env: GH_TOKEN=…` (replace a placeholder)', env: 'GH_TOKEN=x' }
]

describe.skipIf(!hasDocker)('secret-leak scan (sentinels in every grant)', () => {
  let upstream: HostileUpstream
  let fakeAws: FakeAws
  let run: ActionRun
  let workspace: string
  let runnerTemp: string
  let inContainer: ContainerScan | undefined
  /** Host-side places scanned while the container ran, with their hits. */
  const during: Record<string, string[]> = {}
  let overrides: Array<{ id: string; run: ActionRun }> = []
  let complete = false

  beforeAll(async () => {
    await ensureTestImage()
    const hosts = [
      'api.github.com',
      'github.com',
      'registry.npmjs.org',
      'api.anthropic.com',
      'api.openai.com',
      'generativelanguage.googleapis.com',
      'leak.airlock-sec.test',
      'leak-bucket.s3.us-east-1.amazonaws.com'
    ]
    const pki = await createTestPki(hosts)
    chmodSync(pki.dir, 0o755)
    upstream = await startHostileUpstream({ pki })
    fakeAws = await startFakeAws({
      session: {
        accessKeyId: `ASIALEAK${tag.slice(0, 8).toUpperCase()}`,
        secretAccessKey: SENTINELS['aws-session-secret']!,
        sessionToken: SENTINELS['aws-session-token']!
      },
      oidcRequestToken: SENTINELS.ACTIONS_ID_TOKEN_REQUEST_TOKEN!,
      oidcPathTag: SENTINELS.ACTIONS_ID_TOKEN_REQUEST_URL!
    })
    workspace = runnerTempDir('airlock-leak-ws-')
    runnerTemp = runnerTempDir('airlock-leak-rt-')
    // What other steps of the job leave in the workspace.
    mkdirSync(join(workspace, '.git'))
    const basic = Buffer.from(`x-access-token:${SENTINELS['checkout-extraheader']}`).toString(
      'base64'
    )
    writeFileSync(
      join(workspace, '.git', 'config'),
      `[core]\n\tbare = false\n[http "https://github.com/"]\n\textraheader = AUTHORIZATION: basic ${basic}\n`
    )
    writeFileSync(
      join(workspace, `gha-creds-${tag}.json`),
      JSON.stringify({
        type: 'external_account',
        credential_source: {
          url: 'https://pipelines.example/idtoken',
          headers: { Authorization: `Bearer ${SENTINELS['gha-creds']}` }
        }
      })
    )
    const dir = stageScripts(workspace)
    writeFileSync(
      join(dir, 'scan.json'),
      JSON.stringify({
        mask: 0x5a,
        // Runner mode: the runner's /usr and /opt are gigabytes in which nothing is planted.
        ...(TEST_IMAGE === 'runner' ? { skip: ['/usr', '/opt'] } : {}),
        masked: VARIANTS.map(([label, v]) => [
          label,
          Buffer.from(Buffer.from(v).map((b) => b ^ 0x5a)).toString('hex')
        ])
      })
    )
    const id = runnerIdentity()
    if (id) execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, join(workspace, '.git')])
    // Use every credential once, so each is injected and logged, then scan and wait.
    const use = [
      'curl -sS -H "Authorization: Bearer $GH_TOKEN" https://api.github.com/echo',
      'curl -sS -u "x-access-token:$GH_TOKEN" https://github.com/echo',
      'curl -sS -H "Authorization: Bearer npm_placeholder" https://registry.npmjs.org/echo',
      'curl -sS -H "x-api-key: $ANTHROPIC_API_KEY" https://api.anthropic.com/echo',
      'curl -sS -H "Authorization: Bearer $OPENAI_API_KEY" https://api.openai.com/echo',
      'curl -sS "https://generativelanguage.googleapis.com/echo?key=$GEMINI_API_KEY"',
      'curl -sS -H "X-Leak-Key: $LEAK_CUSTOM" https://leak.airlock-sec.test/echo',
      'python3 /workspace/.airlock-sec/sigv4.py header GET leak-bucket.s3.us-east-1.amazonaws.com /echo x=1 > /tmp/h',
      'curl -sS -H @/tmp/h "https://leak-bucket.s3.us-east-1.amazonaws.com/echo?x=1"',
      'curl -sS https://not-allowed.airlock-sec.test/ || true',
      'env | sort > /workspace/env-in-sandbox.txt',
      'node /workspace/.airlock-sec/scan.mjs /workspace/.airlock-sec/scan.json /workspace/.scan-handshake'
    ].join('\n')
    writeFileSync(join(workspace, 'leak-task.sh'), `${use}\n`)

    const started = runAction({
      githubToken: SENTINELS['github-token'],
      env: {
        GITHUB_WORKSPACE: workspace,
        RUNNER_TEMP: runnerTemp,
        ACTIONS_RUNTIME_TOKEN: SENTINELS.ACTIONS_RUNTIME_TOKEN!,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: SENTINELS.ACTIONS_ID_TOKEN_REQUEST_TOKEN!,
        ACTIONS_ID_TOKEN_REQUEST_URL: fakeAws.oidcUrl,
        AWS_ENDPOINT_URL_STS: fakeAws.stsUrl,
        ACTIONS_RESULTS_URL: SENTINELS.ACTIONS_RESULTS_URL!,
        ACTIONS_CACHE_URL: SENTINELS.ACTIONS_CACHE_URL!,
        GITHUB_TOKEN: SENTINELS.GITHUB_TOKEN!,
        AWS_SECRET_ACCESS_KEY: SENTINELS.AWS_SECRET_ACCESS_KEY!
      },
      inputs: {
        command: 'sh /workspace/leak-task.sh',
        image: TEST_IMAGE,
        grants: 'github, npm, custom, claude, codex, gemini, aws',
        'aws-role-arn': 'arn:aws:iam::123456789012:role/airlock-leak',
        'aws-region': 'us-east-1',
        'allowed-endpoints': 'leak-bucket.s3.us-east-1.amazonaws.com',
        'npm-token': SENTINELS['npm-token']!,
        'anthropic-api-key': SENTINELS['anthropic-api-key']!,
        'openai-api-key': SENTINELS['openai-api-key']!,
        'gemini-api-key': SENTINELS['gemini-api-key']!,
        'custom-credentials': [
          '- name: leak',
          '  hosts: [leak.airlock-sec.test]',
          '  header: X-Leak-Key',
          `  value: ${SENTINELS['custom-credential']}`,
          '  env: LEAK_CUSTOM'
        ].join('\n'),
        'connect-to': hosts.map((h) => `${h}:443=127.0.0.1:${upstream.port}`).join('\n'),
        'upstream-ca': pki.caFile,
        'timeout-minutes': '4'
      }
    })
    const overrideRuns = Promise.all(
      ENV_OVERRIDES.map(async (o) => ({
        id: o.id,
        run: await runAction({ inputs: { command: 'true', image: TEST_IMAGE, env: o.env } })
      }))
    )

    // While the container waits: the runner side.
    await Promise.race([
      waitForFile(join(workspace, '.scan-handshake.ready'), 150_000),
      started.then(() => {
        throw new Error('the run ended before the in-container scan finished')
      })
    ])
    // Airlock's 0700 run directory keeps the checkout config to restore it in post: that
    // backup holds the checkout token by design and is never mounted into the sandbox.
    during['runner temp while running'] = scanTree(
      runnerTemp,
      (p) => p.endsWith('.sock') || p.endsWith('/git-config.backup')
    )
    const ids = execFileSync('docker', ['ps', '-q', '--filter', 'label=airlock.run-id'], {
      encoding: 'utf8'
    })
      .split('\n')
      .filter(Boolean)
    const inspect = ids.length
      ? execFileSync('docker', ['inspect', ...ids], { encoding: 'utf8' })
      : '[]'
    const ours = (JSON.parse(inspect) as Array<{ Mounts: Array<{ Source: string }> }>).filter((c) =>
      c.Mounts.some((m) => m.Source === workspace)
    )
    during['docker inspect of the container'] =
      ours.length === 1 ? found(JSON.stringify(ours)) : [`found ${ours.length} containers`]
    during['host process table (every argv)'] = found(
      execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    )
    const proxy = proxyReady(runnerTemp)
    during['proxy process environ and argv'] = proxy
      ? found(
          readFileSync(`/proc/${proxy.pid}/environ`, 'latin1') +
            readFileSync(`/proc/${proxy.pid}/cmdline`, 'latin1')
        )
      : ['proxy process not found']
    writeFileSync(join(workspace, '.scan-handshake.go'), 'go\n')
    ;[run, overrides] = await Promise.all([started, overrideRuns])
    // The line may follow output that did not end in a newline (curl bodies).
    const line = /AIRLOCK-SCAN (\{.*\})$/m.exec(run.main.stdout)?.[1]
    inContainer = line ? (JSON.parse(line) as ContainerScan) : undefined
    if (process.env.AIRLOCK_SEC_DEBUG)
      writeFileSync(process.env.AIRLOCK_SEC_DEBUG, JSON.stringify({ inContainer, during }, null, 1))
    complete = true
  }, 200_000)

  afterAll(async () => {
    await upstream?.close()
    await fakeAws?.close()
    if (!complete) return
    const results: AttackResult[] = []
    const add = (
      id: string,
      cls: number,
      attack: string,
      hits: string[],
      outcome: string
    ): void => {
      results.push({
        id,
        cls,
        attack,
        outcome: hits.length
          ? `FOUND: ${[...new Set(hits.map((h) => h.replace(/^.*: /, '')))].join(', ')}`
          : outcome,
        verdict: hits.length ? 'fail' : 'pass'
      })
    }
    for (const c of checks()) add(c.id, c.cls, c.title, c.hits(), c.outcome)
    for (const o of ENV_OVERRIDES) {
      const r = overrides.find((x) => x.id === o.id)!.run
      const ok = envRefused(r)
      results.push({
        id: o.id,
        cls: o.cls,
        attack: o.title,
        outcome: ok ? 'refused before anything starts' : 'accepted',
        verdict: ok ? 'pass' : 'fail'
      })
    }
    writeSuiteResults('leak-scan', results)
  })

  /** Each place scanned, as a check with the class it belongs to. */
  function checks(): Array<{
    id: string
    cls: number
    title: string
    outcome: string
    hits: () => string[]
  }> {
    const runtimeLabels = [
      'ACTIONS_RUNTIME_TOKEN',
      'ACTIONS_ID_TOKEN_REQUEST_TOKEN',
      'ACTIONS_ID_TOKEN_REQUEST_URL',
      'ACTIONS_RESULTS_URL',
      'ACTIONS_CACHE_URL',
      'GITHUB_TOKEN',
      'AWS_SECRET_ACCESS_KEY'
    ]
    const sandboxHits = (pred: (h: { where: string; label: string }) => boolean): string[] =>
      inContainer
        ? inContainer.hits.filter(pred).map((h) => `${h.where}: ${h.label}`)
        : ['no scan result']
    const isRuntime = (label: string): boolean => runtimeLabels.some((l) => label.startsWith(l))
    const isGrant = (label: string): boolean =>
      !isRuntime(label) && !label.startsWith('checkout') && !label.startsWith('gha-creds')
    const unmask = (t: string): string => t.replace(/^::add-mask::.*$/gm, '')
    const logDir = run.outputs['network-log'] ? join(run.outputs['network-log'], '..') : ''
    return [
      {
        id: '18.1',
        cls: 18,
        title: 'every `/proc/*/environ` and `/proc/*/cmdline` in the sandbox (all seven grants)',
        outcome: 'no sentinel',
        hits: () => sandboxHits((h) => h.where.startsWith('/proc/') && isGrant(h.label))
      },
      {
        id: '18.2',
        cls: 18,
        title: 'every file the sandbox can read (all seven grants)',
        outcome: 'no sentinel',
        hits: () => sandboxHits((h) => !h.where.startsWith('/proc/') && isGrant(h.label))
      },
      {
        id: '18.3',
        cls: 18,
        title: 'the run CA’s private key, anywhere in the sandbox',
        outcome: 'not readable',
        hits: () =>
          inContainer ? inContainer.privateKeys.map((p) => `${p}: private key`) : ['no scan result']
      },
      {
        id: '18.4',
        cls: 18,
        title:
          'the runner side while the sandbox runs: RUNNER_TEMP, `docker inspect`, every argv, the proxy’s environ',
        outcome: 'no sentinel',
        hits: () => Object.entries(during).flatMap(([k, v]) => v.map((x) => `${k}: ${x}`))
      },
      {
        id: '18.5',
        cls: 18,
        title: 'the workspace after the run',
        outcome: 'no sentinel',
        // The checkout config is restored in post (its own sentinel belongs there).
        hits: () =>
          scanTree(
            workspace,
            (p) => p === join(workspace, '.git', 'config') || p.includes('gha-creds-')
          )
      },
      {
        id: '18.6',
        cls: 18,
        title: 'the step log (minus `::add-mask::`), outputs, job summary, state',
        outcome: 'no sentinel',
        hits: () =>
          found(
            [
              unmask(run.main.stdout),
              run.main.stderr,
              run.post.stdout,
              run.post.stderr,
              JSON.stringify(run.outputs),
              run.summary,
              JSON.stringify(run.state),
              JSON.stringify(run.env)
            ].join('\n')
          )
      },
      {
        id: '18.7',
        cls: 18,
        title: '`network.jsonl`, `audit.jsonl`, the proxy log',
        outcome: 'no sentinel',
        hits: () => (logDir ? scanTree(logDir) : ['no log directory'])
      },
      {
        id: '18.8',
        cls: 18,
        title: 'the runner temp directory after post',
        outcome: 'no sentinel',
        hits: () => scanTree(runnerTemp)
      },
      {
        id: '19.1',
        cls: 19,
        title:
          'ACTIONS_RUNTIME_TOKEN, ACTIONS_ID_TOKEN_REQUEST_*, ACTIONS_RESULTS_URL, ACTIONS_CACHE_URL, GITHUB_TOKEN, AWS_* of the runner',
        outcome: 'not in the sandbox',
        hits: () => sandboxHits((h) => isRuntime(h.label))
      },
      {
        id: '19.2',
        cls: 19,
        title: 'the token actions/checkout persisted in `.git/config`',
        outcome: 'hidden during the run, restored after',
        hits: () => {
          const h = sandboxHits((x) => x.label.startsWith('checkout'))
          const restored = readFileSync(join(workspace, '.git', 'config'), 'utf8')
          if (!found(restored).some((l) => l.startsWith('checkout')))
            h.push('.git/config: not restored')
          return h
        }
      },
      {
        id: '19.3',
        cls: 19,
        title: '`gha-creds-*.json` left in the workspace by google-github-actions/auth',
        outcome: 'not readable in the sandbox',
        hits: () => sandboxHits((x) => x.label.startsWith('gha-creds'))
      }
    ]
  }

  it('runs, uses every grant through the proxy, and scans the whole sandbox', () => {
    expect(run.main.code, run.main.stdout.slice(-2000) + run.main.stderr).toBe(0)
    expect(inContainer, 'the in-container scan printed nothing').toBeDefined()
    // Runner mode skips the runner's /usr and /opt: fewer files, every planted place still read.
    expect(inContainer!.files).toBeGreaterThan(TEST_IMAGE === 'runner' ? 200 : 500)
    expect(inContainer!.processes).toBeGreaterThan(1)
    const net = readNetworkLog(run.outputs['network-log'])
    const injected = new Set(net.flatMap((e) => e.grants ?? []))
    for (const g of ['github', 'npm', 'custom:leak', 'claude', 'codex', 'gemini', 'aws'])
      expect(injected.has(g), `no request was injected with ${g}`).toBe(true)
    // The upstream did get the real values: the scan is not void.
    const all = JSON.stringify(upstream.requests.map((r) => r.headers))
    for (const l of [
      'github-token',
      'npm-token',
      'anthropic-api-key',
      'openai-api-key',
      'gemini-api-key',
      'custom-credential'
    ])
      expect(all.includes(SENTINELS[l]!), l).toBe(true)
    // The Gemini key travels only in its header: a placeholder in the query stays one.
    expect(upstream.requests.some((r) => r.url.includes(SENTINELS['gemini-api-key']!))).toBe(false)
    expect(all.includes(SENTINELS['aws-session-token']!), 'aws session token').toBe(true)
    const env = readFileSync(join(workspace, 'env-in-sandbox.txt'), 'utf8')
    expect(env).toMatch(/^GH_TOKEN=ghp_Airlock/m)
    expect(env).not.toMatch(/^ACTIONS_/m)
  })

  it.each(['18.1', '18.2', '18.3', '18.4', '18.5', '18.6', '18.7', '18.8', '19.1', '19.2', '19.3'])(
    '%s holds no sentinel',
    (id) => {
      const c = checks().find((x) => x.id === id)!
      expect(c.hits(), c.title).toEqual([])
    }
  )

  it.each(ENV_OVERRIDES.map((o) => [`${o.id} ${o.title} is refused`, o.id] as const))(
    '%s',
    (_t, id) => {
      const r = overrides.find((x) => x.id === id)!.run
      expect(envRefused(r), r.main.stdout).toBe(true)
    }
  )
})

function envRefused(r: ActionRun): boolean {
  return (
    r.main.code === 1 &&
    r.main.errors.some((e) => e.includes('env')) &&
    !r.state.resources?.includes('"container"')
  )
}
