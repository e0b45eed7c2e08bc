/**
 * `image: runner` on this machine's own filesystem, laid out the way a self-hosted runner is:
 * the runner application under /opt (its `.credentials`, `.runner`, `_diag`, and `_work` with
 * RUNNER_TEMP, the tool cache and the checkout), the runner's home under /home with toolchains
 * and credential files, secrets planted in /etc, the host's /tmp, another user's home, and the
 * runner's environment holding job tokens and toolchain variables. One run of the built action
 * uses the runner's tools (a tool only the runner has, one from the tool cache on PATH, one
 * from a toolchain in the home, a virtualenv the runner made in the workspace), then probes
 * every never-visible place and scans what it can read for the planted sentinels while the
 * host inspects the container. Suite `runner-mode`: classes 60–63.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireDocker } from '../support/docker.js'
import { runAction, runnerIdentity, type ActionRun } from '../support/runner.js'
import { writeSuiteResults, type AttackResult } from './support/results.js'
import { stageScripts, waitForFile } from './support/run.js'

const hasDocker = await requireDocker()
// The layout is planted in /opt, /etc and /home, as a runner has it: that needs root.
const isRoot = process.getuid?.() === 0

const tag = randomBytes(6).toString('hex')
const SENTINELS: Record<string, string> = {
  'github-token': `ghs_RunnerModeHeld${tag}0123456789ab`,
  'runner .credentials': `RunnerModeCredentials${tag}0123456789`,
  'runner .credentials_rsaparams': `RunnerModeRsaParams${tag}0123456789`,
  'runner .env': `RunnerModeDotEnv${tag}0123456789`,
  'runner _diag': `RunnerModeDiag${tag}0123456789`,
  'GITHUB_ENV file': `RunnerModeGithubEnv${tag}0123456789`,
  'step script': `RunnerModeStepScript${tag}0123456789`,
  '~/.ssh': `RunnerModeSshKey${tag}0123456789`,
  '~/.docker': `RunnerModeDockerAuth${tag}0123456789`,
  '~/.aws': `RunnerModeAwsSecret${tag}0123456789`,
  '~/.config/gcloud': `RunnerModeGcloud${tag}0123456789`,
  '~/.npmrc': `RunnerModeNpmrc${tag}0123456789`,
  '~/.git-credentials': `RunnerModeGitCreds${tag}0123456789`,
  '~/.cargo/credentials.toml': `RunnerModeCargoCreds${tag}0123456789`,
  'another home': `RunnerModeOtherHome${tag}0123456789`,
  'host /tmp': `RunnerModeHostTmp${tag}0123456789`,
  '/etc/ssh host key': `RunnerModeSshHostKey${tag}0123456789`,
  '/etc/docker': `RunnerModeEtcDocker${tag}0123456789`,
  ACTIONS_RUNTIME_TOKEN: `RunnerModeRuntime${tag}0123456789`,
  GITHUB_TOKEN: `ghs_RunnerModeEnvToken${tag}01234567`,
  'token-shaped GOROOT': `ghp_RunnerModeTokenShaped${tag}0123456789`,
  'checkout-extraheader': `ghs_RunnerModeCheckout${tag}0123456789`,
  'gha-creds': `RunnerModeGhaCreds${tag}0123456789`
}
const S = (label: string): string => SENTINELS[label]!

const runnerDir = `/opt/airlock-test-runner-${tag}`
const work = join(runnerDir, '_work')
const runnerTemp = join(work, '_temp')
const toolCache = join(work, '_tool')
const workspace = join(work, 'repo', 'repo')
const home = `/home/airlock-test-home-${tag}`
const otherHome = `/home/airlock-other-${tag}`
const hostTmp = `/tmp/airlock-host-tmp-${tag}`
const etcSshKey = `/etc/ssh/ssh_host_airlocktest${tag}_key`
const etcDocker = `/etc/docker/airlock-test-${tag}.json`
const toolBin = join(toolCache, 'runnertool', '1.0.0', 'x64', 'bin')

function plant(path: string, text: string, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, text, { mode })
  chmodSync(path, mode)
}

/** What the probe in the container saw of one path. */
interface Seen {
  error?: string
  kind?: 'dir' | 'file' | 'socket' | 'other'
  entries?: string[]
  size?: number
}

/** Every path the container must not see, by attack, with the entries a mount point may add. */
const NEVER: Array<{
  id: string
  cls: number
  attack: string
  paths: string[]
  /** Entries a directory may show: the mount points of what is mounted inside it. */
  allow?: Record<string, string[]>
}> = [
  {
    id: '60.1',
    cls: 60,
    attack:
      'read the runner application’s directory inside a mounted `/opt` (`.credentials`, `.credentials_rsaparams`, `.runner`, `.env`, `_diag`)',
    paths: [
      runnerDir,
      join(runnerDir, '.credentials'),
      join(runnerDir, '.credentials_rsaparams'),
      join(runnerDir, '.runner'),
      join(runnerDir, '.env'),
      join(runnerDir, '_diag'),
      join(runnerDir, 'bin')
    ],
    allow: { [runnerDir]: ['_work'] }
  },
  {
    id: '60.2',
    cls: 60,
    attack:
      'read `RUNNER_TEMP`: the `GITHUB_ENV` file, a step script, Airlock’s own run directory (env file, proxy directory)',
    paths: [runnerTemp, join(runnerTemp, 'github_env'), join(runnerTemp, 'step.sh')]
  },
  {
    id: '60.3',
    cls: 60,
    attack: 'list `/home` and read another user’s home and the runner’s home beyond its toolchains',
    paths: ['/home', otherHome, join(otherHome, 'secret.txt'), home, join(home, '.cargo')],
    allow: {
      '/home': ['airlock', `airlock-test-home-${tag}`],
      [home]: ['.cargo'],
      [join(home, '.cargo')]: ['bin']
    }
  },
  { id: '60.4', cls: 60, attack: 'list and read `/root`', paths: ['/root'] },
  {
    id: '60.5',
    cls: 60,
    attack:
      'reach the docker daemon through `/var/run/docker.sock` or `/run/docker.sock` (the runner uid is in the docker group)',
    paths: ['/run', '/var/run', '/run/docker.sock', '/var/run/docker.sock']
  },
  { id: '60.6', cls: 60, attack: 'read a file in the host’s `/tmp`', paths: [hostTmp] },
  {
    id: '60.7',
    cls: 60,
    attack:
      'read the runner’s credential files: `~/.ssh`, `~/.docker`, `~/.aws`, `~/.config/gcloud`, `~/.npmrc`, `~/.git-credentials`, `~/.cargo/credentials.toml`',
    paths: [
      join(home, '.ssh', 'id_ed25519'),
      join(home, '.docker', 'config.json'),
      join(home, '.aws', 'credentials'),
      join(home, '.config', 'gcloud', 'application_default_credentials.json'),
      join(home, '.npmrc'),
      join(home, '.git-credentials'),
      join(home, '.cargo', 'credentials.toml')
    ]
  },
  {
    id: '60.8',
    cls: 60,
    attack:
      'read secrets in the mounted `/etc`: an SSH host key, `/etc/docker`, `/etc/shadow`, `/etc/gshadow`',
    paths: [etcSshKey, '/etc/ssh', etcDocker, '/etc/docker', '/etc/shadow', '/etc/gshadow']
  }
]

/** The probe: each path's view, the tools, writes, privileges, environment. Runs in the sandbox. */
function probeScript(): string {
  const paths = [...new Set(NEVER.flatMap((n) => n.paths))]
  return `
import { readdirSync, readFileSync, lstatSync, writeFileSync, rmSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import net from 'node:net'
const out = { paths: {}, tools: {}, writes: {}, env: {}, status: {} }
for (const p of ${JSON.stringify(paths)}) {
  try {
    const st = lstatSync(p)
    if (st.isDirectory()) out.paths[p] = { kind: 'dir', entries: readdirSync(p).sort() }
    else if (st.isFile() || st.isCharacterDevice()) out.paths[p] = { kind: 'file', size: readFileSync(p).length }
    else if (st.isSocket()) out.paths[p] = { kind: 'socket' }
    else out.paths[p] = { kind: 'other' }
  } catch (e) { out.paths[p] = { error: e.code } }
}
const run = (cmd, args) => {
  try { return { ok: true, out: execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], cwd: '/workspace' }).trim() } }
  catch (e) { return { ok: false, out: String(e.stderr || e.message).trim().split('\\n').slice(-1)[0] } }
}
out.tools.gh = run('gh', ['--version'])
out.tools.runnerTool = run('runner-only-tool', [])
out.tools.homeTool = run('cargo-runner-tool', [])
out.tools.venvPip = run('.venv/bin/pip', ['--version'])
out.tools.venvPython = run(${JSON.stringify(workspace)} + '/.venv/bin/python', ['-c', 'import sys; print(sys.prefix)'])
out.tools.su = run('su', ['-c', 'id -u', 'root'])
for (const p of ['/usr/local/airlock-w', '/etc/airlock-w', ${JSON.stringify(toolCache + '/airlock-w')}, ${JSON.stringify(home + '/.cargo/bin/airlock-w')}, ${JSON.stringify(runnerDir + '/airlock-w')}]) {
  try { writeFileSync(p, 'x'); out.writes[p] = 'written'; rmSync(p) } catch (e) { out.writes[p] = e.code }
}
writeFileSync(${JSON.stringify(workspace)} + '/via-own-path.txt', 'own path\\n')
for (const k of Object.keys(process.env).sort()) out.env[k] = process.env[k]
const st = readFileSync('/proc/self/status', 'utf8')
for (const k of ['Uid', 'CapEff', 'CapPrm', 'CapBnd', 'NoNewPrivs']) out.status[k] = (new RegExp('^' + k + ':\\\\s*(.*)$', 'm').exec(st) || [])[1]
out.gitConfigOwnPath = readFileSync(${JSON.stringify(workspace)} + '/.git/config', 'utf8')
out.ghaCredsOwnPath = readFileSync(${JSON.stringify(workspace)} + '/gha-creds-${tag}.json', 'utf8')
const tryConnect = (path) => new Promise((resolve) => {
  const s = net.connect(path)
  s.on('connect', () => { s.destroy(); resolve('connected') })
  s.on('error', (e) => resolve(e.code))
})
out.dockerSocket = { run: await tryConnect('/run/docker.sock'), varRun: await tryConnect('/var/run/docker.sock') }
process.stdout.write('RUNNER-PROBE ' + JSON.stringify(out) + '\\n')
`
}

interface Probe {
  paths: Record<string, Seen>
  tools: Record<string, { ok: boolean; out: string }>
  writes: Record<string, string>
  env: Record<string, string>
  status: Record<string, string>
  gitConfigOwnPath: string
  ghaCredsOwnPath: string
  dockerSocket: { run: string; varRun: string }
}

interface ContainerScan {
  files: number
  hits: Array<{ where: string; label: string }>
}

describe.skipIf(!hasDocker || !isRoot)('image: runner on a runner-shaped filesystem', () => {
  let run: ActionRun
  let probe: Probe | undefined
  let scan: ContainerScan | undefined
  let inspectHits: string[] = []
  let complete = false
  const id = runnerIdentity() ?? { uid: 0, gid: 0 }

  beforeAll(async () => {
    // The runner application, its work tree and the tool cache.
    plant(
      join(runnerDir, '.runner'),
      `{"agentName":"airlock-test","poolId":1,"x":"${S('runner .credentials')}"}`
    )
    plant(
      join(runnerDir, '.credentials'),
      `{"scheme":"OAuth","data":{"clientId":"${S('runner .credentials')}"}}`,
      0o600
    )
    plant(join(runnerDir, '.credentials_rsaparams'), S('runner .credentials_rsaparams'), 0o600)
    plant(join(runnerDir, '.env'), `LANG=C.UTF-8\nSECRET=${S('runner .env')}\n`)
    plant(join(runnerDir, '_diag', 'Runner_20261207.log'), `token ${S('runner _diag')}\n`)
    plant(join(runnerDir, 'bin', 'Runner.Worker'), '#!/bin/sh\n', 0o755)
    plant(join(runnerTemp, 'github_env'), `FOO=${S('GITHUB_ENV file')}\n`)
    plant(join(runnerTemp, 'step.sh'), `echo ${S('step script')}\n`, 0o755)
    plant(join(toolBin, 'runner-only-tool'), '#!/bin/sh\necho runner-only-tool ok\n', 0o755)
    // The runner's home: a toolchain, and the credential files a runner's home holds.
    plant(
      join(home, '.cargo', 'bin', 'cargo-runner-tool'),
      '#!/bin/sh\necho cargo-runner-tool ok\n',
      0o755
    )
    plant(
      join(home, '.cargo', 'credentials.toml'),
      `[registry]\ntoken = "${S('~/.cargo/credentials.toml')}"\n`
    )
    plant(join(home, '.ssh', 'id_ed25519'), S('~/.ssh'), 0o600)
    plant(join(home, '.docker', 'config.json'), `{"auths":{"x":{"auth":"${S('~/.docker')}"}}}`)
    plant(join(home, '.aws', 'credentials'), `[default]\naws_secret_access_key=${S('~/.aws')}\n`)
    plant(
      join(home, '.config', 'gcloud', 'application_default_credentials.json'),
      `{"refresh_token":"${S('~/.config/gcloud')}"}`
    )
    plant(join(home, '.npmrc'), `//registry.npmjs.org/:_authToken=${S('~/.npmrc')}\n`)
    plant(join(home, '.git-credentials'), `https://x:${S('~/.git-credentials')}@github.com\n`)
    plant(join(otherHome, 'secret.txt'), S('another home'))
    plant(hostTmp, S('host /tmp'))
    plant(etcSshKey, S('/etc/ssh host key'))
    plant(etcDocker, `{"auth":"${S('/etc/docker')}"}`)
    // The checkout: a git config with the checkout credential, the auth action's file, and
    // a virtualenv made on the runner (its scripts name the workspace's absolute path).
    mkdirSync(workspace, { recursive: true })
    execFileSync('git', ['init', '-q', workspace])
    const basic = Buffer.from(`x-access-token:${S('checkout-extraheader')}`).toString('base64')
    execFileSync('git', [
      '-C',
      workspace,
      'config',
      'http.https://github.com/.extraheader',
      `AUTHORIZATION: basic ${basic}`
    ])
    plant(
      join(workspace, `gha-creds-${tag}.json`),
      `{"headers":{"Authorization":"Bearer ${S('gha-creds')}"}}`
    )
    execFileSync('/usr/bin/python3', ['-m', 'venv', join(workspace, '.venv')])
    const sec = stageScripts(workspace)
    writeFileSync(join(workspace, 'probe.mjs'), probeScript())
    writeFileSync(
      join(sec, 'scan.json'),
      JSON.stringify({
        mask: 0x5a,
        masked: Object.entries(SENTINELS).map(([label, v]) => [
          label,
          Buffer.from(Buffer.from(v).map((b) => b ^ 0x5a)).toString('hex')
        ]),
        // The runner's /usr and /opt are gigabytes with nothing planted; the planted places
        // in them are walked as roots of their own.
        roots: ['/', runnerDir],
        skip: ['/usr', '/opt']
      })
    )
    for (const d of [runnerDir, home, otherHome])
      execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, d])
    chmodSync(otherHome, 0o755)
    chmodSync(home, 0o755)
    writeFileSync(
      join(workspace, 'task.sh'),
      [
        'node /workspace/probe.mjs',
        'node /workspace/.airlock-sec/scan.mjs /workspace/.airlock-sec/scan.json /workspace/.scan-handshake'
      ].join('\n') + '\n'
    )

    const started = runAction({
      githubToken: S('github-token'),
      env: {
        GITHUB_WORKSPACE: workspace,
        RUNNER_WORKSPACE: dirname(workspace),
        RUNNER_TEMP: runnerTemp,
        RUNNER_TOOL_CACHE: toolCache,
        HOME: home,
        PATH: `${toolBin}:${home}/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
        ACTIONS_RUNTIME_TOKEN: S('ACTIONS_RUNTIME_TOKEN'),
        GITHUB_TOKEN: S('GITHUB_TOKEN'),
        // Toolchain variables: two carried, two refused for their values, one trimmed.
        JAVA_HOME: '/usr/lib/jvm/airlock-test',
        pythonLocation: `${toolCache}/Python/3.12.0/x64`,
        PKG_CONFIG_PATH: S('github-token'),
        GOROOT: S('token-shaped GOROOT'),
        LD_LIBRARY_PATH: `${workspace}/evil-libs:/usr/lib/airlock-test`
      },
      inputs: {
        command: 'sh /workspace/task.sh',
        image: 'runner',
        grants: 'github',
        'timeout-minutes': '5'
      }
    })
    await Promise.race([
      waitForFile(join(workspace, '.scan-handshake.ready'), 150_000),
      started.then(() => {
        throw new Error('the run ended before the in-container scan finished')
      })
    ])
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
    inspectHits =
      ours.length === 1
        ? Object.entries(SENTINELS)
            .filter(([, v]) => JSON.stringify(ours).includes(v))
            .map(([l]) => l)
        : [`found ${ours.length} containers`]
    writeFileSync(join(workspace, '.scan-handshake.go'), 'go\n')
    run = await started
    const p = /RUNNER-PROBE (\{.*\})$/m.exec(run.main.stdout)?.[1]
    probe = p ? (JSON.parse(p) as Probe) : undefined
    const s = /AIRLOCK-SCAN (\{.*\})$/m.exec(run.main.stdout)?.[1]
    scan = s ? (JSON.parse(s) as ContainerScan) : undefined
    complete = true
  }, 240_000)

  afterAll(() => {
    for (const p of [runnerDir, home, otherHome, hostTmp, etcSshKey, etcDocker])
      rmSync(p, { recursive: true, force: true })
    if (!complete || !probe) return
    const results: AttackResult[] = []
    for (const n of NEVER) {
      const problems = neverProblems(probe, n)
      results.push({
        id: n.id,
        cls: n.cls,
        attack: n.attack,
        outcome: problems.length
          ? `VISIBLE: ${problems.join('; ')}`
          : 'absent, empty or unreadable',
        verdict: problems.length ? 'fail' : 'pass'
      })
    }
    const leak = leakHits()
    results.push({
      id: '60.9',
      cls: 60,
      attack:
        'scan every file the sandbox can read, every process’s environ and argv, and `docker inspect` of the container for sentinels planted in each place above, the runner’s environment and the checkout',
      outcome: leak.length ? `FOUND: ${leak.join(', ')}` : 'no sentinel anywhere',
      verdict: leak.length ? 'fail' : 'pass'
    })
    for (const e of envChecks(probe))
      results.push({
        id: e.id,
        cls: 61,
        attack: e.attack,
        outcome: e.problem ? `CROSSED: ${e.problem}` : e.outcome,
        verdict: e.problem ? 'fail' : 'pass'
      })
    for (const w of workspaceChecks(probe))
      results.push({
        id: w.id,
        cls: 62,
        attack: w.attack,
        outcome: w.problem ? `VISIBLE: ${w.problem}` : w.outcome,
        verdict: w.problem ? 'fail' : 'pass'
      })
    for (const c of privilegeChecks(probe))
      results.push({
        id: c.id,
        cls: 63,
        attack: c.attack,
        outcome: c.problem ? `GOT THROUGH: ${c.problem}` : c.outcome,
        verdict: c.problem ? 'fail' : 'pass'
      })
    writeSuiteResults('runner-mode', results)
  })

  function leakHits(): string[] {
    const hits = (scan?.hits ?? []).map((h) => `${h.label} in ${h.where}`)
    return [
      ...hits,
      ...inspectHits.map((l) => `${l} in docker inspect`),
      ...(scan ? [] : ['no scan ran'])
    ]
  }

  it('runs and succeeds in runner mode', () => {
    expect(run.main.code, run.main.stdout + run.main.stderr).toBe(0)
    expect(run.outputs.conclusion).toBe('success')
    expect(probe).toBeDefined()
    expect(run.main.stdout).toMatch(/runner mode: \/usr, \/etc, \/opt/)
  })

  it('uses the runner’s tools: one only the runner has, one from the tool cache on PATH, one from a home toolchain', () => {
    expect(probe!.tools.gh!.ok, probe!.tools.gh!.out).toBe(true)
    expect(probe!.tools.gh!.out).toMatch(/^gh version/)
    expect(probe!.tools.runnerTool).toEqual({ ok: true, out: 'runner-only-tool ok' })
    expect(probe!.tools.homeTool).toEqual({ ok: true, out: 'cargo-runner-tool ok' })
  })

  it('runs a virtualenv the runner created in the workspace (its scripts name the workspace’s own path)', () => {
    expect(probe!.tools.venvPip!.ok, probe!.tools.venvPip!.out).toBe(true)
    expect(probe!.tools.venvPip!.out).toMatch(/^pip \d+/)
    expect(probe!.tools.venvPython).toEqual({ ok: true, out: join(workspace, '.venv') })
    // The same directory under both names: written at the own path, seen on the runner.
    expect(readFileSync(join(workspace, 'via-own-path.txt'), 'utf8')).toBe('own path\n')
  })

  it.each(NEVER.map((n) => [n.id, n] as const))('%s: never visible', (_id, n) => {
    expect(neverProblems(probe!, n)).toEqual([])
  })

  it('60.9: no planted sentinel is readable anywhere in the sandbox or in docker inspect', () => {
    expect(scan?.files ?? 0).toBeGreaterThan(50)
    expect(leakHits()).toEqual([])
  })

  it('61: carries PATH and the toolchain variables, never a job token or a secret value', () => {
    for (const e of envChecks(probe!)) expect(e.problem, e.id).toBeUndefined()
  })

  it('62: the workspace at its own path keeps the hidden checkout credential and the masked auth file', () => {
    for (const w of workspaceChecks(probe!)) expect(w.problem, w.id).toBeUndefined()
  })

  it('63: the runner’s directories are read-only; same uid, no capabilities, no new privileges', () => {
    for (const c of privilegeChecks(probe!)) expect(c.problem, c.id).toBeUndefined()
  })
})

function neverProblems(probe: Probe, n: (typeof NEVER)[number]): string[] {
  const problems: string[] = []
  for (const p of n.paths) {
    const seen = probe.paths[p]
    if (!seen) problems.push(`${p} not probed`)
    else if (seen.error) continue
    else if (seen.kind === 'file' && seen.size === 0) continue
    else if (seen.kind === 'dir') {
      const extra = (seen.entries ?? []).filter((e) => !(n.allow?.[p] ?? []).includes(e))
      if (extra.length) problems.push(`${p} lists ${extra.join(', ')}`)
    } else problems.push(`${p} is a readable ${seen.kind}`)
  }
  if (
    n.id === '60.5' &&
    (probe.dockerSocket.run === 'connected' || probe.dockerSocket.varRun === 'connected')
  )
    problems.push('connected to the docker socket')
  return problems
}

function envChecks(
  probe: Probe
): Array<{ id: string; attack: string; outcome: string; problem?: string }> {
  const env = probe.env
  const values = Object.values(env).join('\n')
  const has = (label: string): boolean => values.includes(S(label))
  const out: Array<{ id: string; attack: string; outcome: string; problem?: string }> = []
  out.push({
    id: '61.1',
    attack:
      'the runner’s job tokens (`ACTIONS_RUNTIME_TOKEN`, `GITHUB_TOKEN`) carried with the job’s environment',
    outcome: 'not carried',
    ...(has('ACTIONS_RUNTIME_TOKEN') || has('GITHUB_TOKEN') || env.ACTIONS_RUNTIME_TOKEN
      ? { problem: 'a job token is in the container’s environment' }
      : {})
  })
  out.push({
    id: '61.2',
    attack:
      'an allowlisted toolchain variable (`PKG_CONFIG_PATH`) whose value is a secret Airlock holds',
    outcome: 'not carried (named in the step log, the value never)',
    ...(has('github-token') || env.PKG_CONFIG_PATH !== undefined ? { problem: 'carried' } : {})
  })
  out.push({
    id: '61.3',
    attack: 'an allowlisted variable (`GOROOT`) holding a value shaped like a token (`ghp_…`)',
    outcome: 'not carried',
    ...(has('token-shaped GOROOT') || env.GOROOT !== undefined ? { problem: 'carried' } : {})
  })
  const ld = env.LD_LIBRARY_PATH ?? ''
  out.push({
    id: '61.4',
    attack:
      '`LD_LIBRARY_PATH` naming a directory in the workspace (which the agent writes) for the forwarder to load from',
    outcome: 'the workspace entry dropped, the rest carried',
    ...(ld.includes(workspace) || ld !== '/usr/lib/airlock-test'
      ? { problem: `LD_LIBRARY_PATH=${ld}` }
      : {})
  })
  // Not attacks: what must cross (a broken carry would make the runner's tools useless).
  const carried =
    env.JAVA_HOME === '/usr/lib/jvm/airlock-test' &&
    env.pythonLocation === `${toolCache}/Python/3.12.0/x64` &&
    (env.PATH ?? '').startsWith(`${toolBin}:${home}/.cargo/bin:`) &&
    env.HOME === '/home/airlock' &&
    env.CARGO_HOME === '/home/airlock/.cargo'
  out.push({
    id: '61.5',
    attack:
      'the job’s `PATH` and toolchain variables (`JAVA_HOME`, `pythonLocation`) replacing `HOME` or pointing writable caches at the runner',
    outcome: 'PATH and toolchain variables carried; HOME private, CARGO_HOME in it',
    ...(carried
      ? {}
      : { problem: `PATH=${env.PATH} HOME=${env.HOME} CARGO_HOME=${env.CARGO_HOME}` })
  })
  return out
}

function workspaceChecks(
  probe: Probe
): Array<{ id: string; attack: string; outcome: string; problem?: string }> {
  return [
    {
      id: '62.1',
      attack:
        'read the checkout credential (`extraheader`) in `.git/config` through the workspace’s second mount at its own absolute path',
      outcome: 'the cleaned copy, as at /workspace',
      ...(probe.gitConfigOwnPath.includes('extraheader') ||
      probe.gitConfigOwnPath.includes(
        Buffer.from(`x-access-token:${S('checkout-extraheader')}`).toString('base64')
      )
        ? { problem: 'extraheader in .git/config at the own path' }
        : {})
    },
    {
      id: '62.2',
      attack: 'read `gha-creds-*.json` at the workspace root through its own absolute path',
      outcome: 'empty',
      ...(probe.ghaCredsOwnPath.length > 0
        ? { problem: `${probe.ghaCredsOwnPath.length} bytes` }
        : {})
    }
  ]
}

function privilegeChecks(
  probe: Probe
): Array<{ id: string; attack: string; outcome: string; problem?: string }> {
  const written = Object.entries(probe.writes).filter(([, v]) => v === 'written')
  const uid = runnerIdentity()?.uid ?? 0
  const caps = ['CapEff', 'CapPrm', 'CapBnd'].filter((k) => !/^0+$/.test(probe.status[k] ?? ''))
  const suRoot = probe.tools.su!.ok && probe.tools.su!.out === '0'
  return [
    {
      id: '63.1',
      attack:
        'write into the runner’s `/usr`, `/etc`, the tool cache, a home toolchain and the masked runner directory (what later steps of the job run)',
      outcome: 'read-only or denied',
      ...(written.length ? { problem: written.map(([p]) => p).join(', ') } : {})
    },
    {
      id: '63.2',
      attack:
        'gain privileges with the runner’s own setuid binaries (`su`) and capabilities; run as another uid',
      outcome: 'same uid, no capabilities, no new privileges',
      ...(caps.length ||
      probe.status.NoNewPrivs?.trim() !== '1' ||
      !(probe.status.Uid ?? '').startsWith(`${uid}\t`) ||
      suRoot
        ? {
            problem: `${caps.join(',')} NoNewPrivs=${probe.status.NoNewPrivs} Uid=${probe.status.Uid} su=${probe.tools.su!.out}`
          }
        : {})
    }
  ]
}
