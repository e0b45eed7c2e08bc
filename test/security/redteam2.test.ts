/**
 * Our own red team, second pass: crossings no other suite lists, each attacked with the real
 * pieces (real dockerd, the runner's own Node, Airlock's own image, view and env builders) and
 * kept as a regression test.
 *
 * Class 83: the cached runner root image replaced under its name. `image: runner` imports a
 * tiny root image once and finds it again by name (`airlock-runner-root:<hash>`). On a shared
 * (self-hosted) runner an earlier job holds the same docker socket and can tag an image of its
 * own under that name: the same root with an `ENV NODE_OPTIONS` (which the sandbox's env file
 * does not set, so the image's value stands), or a root with files of its own in directories
 * no runner directory is mounted over. Every later sandbox on that runner then runs the
 * planter's code inside the in-container forwarder (Node) and every Node program of the agent,
 * with the sandbox's proxy (credentials injected) and workspace at hand.
 *
 * Class 84: credentials in the workspace's git config that no step of Airlock's knows. The
 * checkout token's `extraheader` was hidden, but a token in a remote URL (a developer's
 * clone under `airlock run`, a step's `git remote set-url` with a PAT) or an inline credential
 * helper was mounted into the sandbox as it was: the workspace search only looks for the
 * secrets Airlock holds. Attacked through the local CLI and through the action.
 *
 * Class 85: the sandbox driving the developer's terminal. `airlock run` wrote the container's
 * output to the terminal as it came: OSC 52 set the clipboard (the next paste runs on the host,
 * outside the sandbox), OSC 8 made lying links, title and status reports (CSI 21t, DECRQSS,
 * CSI 6n) make some terminals type an answer back as input. Attacked on a real pseudo-terminal
 * (`script`).
 *
 * Class 86: a workspace that holds the user's home. The local CLI's workspace is the current
 * directory, so `airlock run …` typed in a home directory mounted all of it: SSH keys, cloud
 * and `gh` credentials, none of them a secret the workspace search knows.
 *
 * Class 87: a refresh that hands out the new token. When the daemon re-mints a GitHub App
 * token it swaps the injected headers at once, revokes the old token (a network round trip,
 * retried), and only then registers the new token's raw value itself. Through that window
 * every request carries the new token while an upstream that echoes it (class 16's echoing
 * host, or an API that reflects it) could hand the raw value to the agent. Attacked on the
 * real daemon process with a GitHub double whose revocation endpoint is slow: the defence
 * holds (registering an injected `Bearer`/`Basic` value registers its bare token too), kept
 * as a regression test of the refresh path.
 *
 * Class 88: another runner's installation on the same host. Hosts that run several runners
 * keep them side by side (`/opt/actions-runner-2`, `/usr/local/runners/3`). Runner mode masks
 * the runner application it finds from its own Node, RUNNER_TEMP and RUNNER_WORKSPACE, and
 * mounts `/opt` and `/usr` read-only: every other installation there was readable, with its
 * registration (`.credentials`, `.credentials_rsaparams`: the key that lets its holder take
 * that runner's jobs and their secrets) and its `_work` (other jobs' checkouts and temp files).
 *
 * Class 89: credential stores in the host's /etc the runner-mode mask list missed. Class 60
 * covers SSH host keys, /etc/docker, shadow files and a few more; self-hosted hosts also keep
 * private apt repository logins, certbot and RHEL TLS keys, another CI's runner tokens,
 * registry logins and service passwords there, all readable through the read-only /etc mount.
 *
 * Class 90: the run's secrets in the environment of the docker CLI. The runner hands every
 * input to the step as `INPUT_<NAME>` (API keys, `github-token`, the App key) and `airlock run`
 * reads credentials from its own environment; every docker call inherited all of it, and the
 * docker CLI hands its environment to what it starts (credential helpers, CLI plugins, `ssh`
 * for an ssh:// DOCKER_HOST, a wrapper first on PATH). Observed with such a wrapper.
 *
 * Class 91: credential stores the job's environment moves under a mounted directory. Hosted
 * Ubuntu images set `CARGO_HOME=/usr/share/rust/.cargo`; `DOCKER_CONFIG`, `KUBECONFIG` and the
 * like can point anywhere. Runner mode masked `~/.cargo/credentials.toml`, `~/.docker`, … but
 * not where the variables say the stores are, so a `cargo login` (or `docker login`) earlier in
 * the job left its token readable through the `/usr` or `/opt` mount.
 *
 * Class 92: a global npmrc holding a registry token. `npm config set --global
 * //registry…/:_authToken=…` writes `<prefix>/etc/npmrc` beside the Node on PATH: inside the
 * tool cache or /usr/local, both mounted read-only in runner mode, and not in any mask list.
 *
 * Class 93: the host's system git config holding a credential. Admins of self-hosted hosts
 * set `git config --system http.<url>.extraheader "AUTHORIZATION: basic …"` (private
 * submodules, an internal git server); /etc is mounted read-only in runner mode and
 * /etc/gitconfig was in no mask list.
 *
 * Each class 83 attack uses a root layout of its own (the runner's, plus one directory named for
 * this run), so its image name is unique: a planted image never reaches another test's or
 * the benchmark's sandbox on this shared docker daemon.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeGrantContext, settingsForRefresh, daemonOidc } from '../../src/grant/index.js'
import { readInputs } from '../../src/inputs.js'
import { credentialToJSON, registry } from '../../src/provider/index.js'
import { PLACEHOLDERS } from '../../src/providers/defaults.js'
import { registerAll } from '../../src/providers/index.js'
import { startProxyDaemon, stopProcess } from '../../src/daemon/start.js'
import {
  daemonConfig,
  ensureBuilt,
  PROXY_SCRIPT,
  proxyAgent,
  waitFor
} from '../proxy/integration/harness.js'
import { generateAppKey } from '../support/fake-github-app.js'
import { listenHttps } from '../support/https-fake.js'
import { createTestPki } from '../support/test-ca.js'
import { maskSpec, mountSpec } from '../../src/sandbox/container.js'
import {
  ensureRunnerImage,
  hostRootLayout,
  rootTar,
  runnerView,
  type RootLayout
} from '../../src/sandbox/runner-image.js'
import { CONTAINER, sandboxEnv } from '../../src/sandbox/staging.js'
import { requireDocker, TEST_IMAGE } from '../support/docker.js'
import { ROOT, runAction, runnerIdentity } from '../support/runner.js'
import { writeSuiteResults, type AttackResult } from './support/results.js'

const hasDocker = await requireDocker()
process.env.AIRLOCK_RT2_REVERTED = '1'

const results: AttackResult[] = []
afterAll(() => writeSuiteResults('redteam2', results))

/** What the planted code prints when it runs inside the sandbox. */
const PLANTED = 'AIRLOCK-RT2-PLANTED-CODE-RAN'

function dockerSync(args: string[], input?: string): string {
  return execFileSync('docker', args, {
    encoding: 'utf8',
    env: { ...process.env, DOCKER_BUILDKIT: '0' },
    ...(input !== undefined ? { input } : {}),
    stdio: ['pipe', 'pipe', 'pipe']
  })
}

function dockerTry(args: string[]): void {
  try {
    dockerSync(args)
  } catch {
    // already gone
  }
}

interface Fixture {
  scratch: string
  layout: RootLayout
  name: string
  tarFile: string
  /** Tags made by the test (removed after). */
  tags: string[]
}

/** A root layout of the runner's own, made unique by one extra directory. */
function fixture(): Fixture {
  const scratch = mkdtempSync(join(tmpdir(), 'airlock-rt2-'))
  const host = hostRootLayout()
  const extra = `rt2-${randomBytes(6).toString('hex')}`
  const layout: RootLayout = { ...host, dirs: [...host.dirs, extra].sort() }
  const tar = rootTar(layout)
  const tarFile = join(scratch, 'root.tar')
  writeFileSync(tarFile, tar)
  // The name ensureRunnerImage gives this layout (the hash of the archive).
  const digest = execFileSync('sha256sum', [tarFile], { encoding: 'utf8' }).slice(0, 16)
  return { scratch, layout, name: `airlock-runner-root:${digest}`, tarFile, tags: [] }
}

/** ensureRunnerImage, remembering the image for removal after the suite. */
async function ensure(f: Fixture): Promise<string> {
  const id = await ensureRunnerImage(f.layout, f.scratch)
  f.tags.push(id)
  return id
}

/** Remembers the image now tagged f.name (a planted one) for removal after the suite. */
function trackPlanted(f: Fixture): void {
  f.tags.push(dockerSync(['image', 'inspect', '--format', '{{.Id}}', f.name]).trim())
}

/**
 * Runs the runner's own Node in a container of `image` as Airlock builds a runner-mode
 * sandbox: the runner's directories read-only at their own paths with the never-visible ones
 * masked, Airlock's sandbox env file (runner variables included), the runner's uid, no
 * network, no capabilities, no new privileges, Node at /airlock/node as the entrypoint (the
 * forwarder's interpreter). Returns what the program printed.
 */
function runSandboxNode(f: Fixture, image: string): string {
  const ws = mkdtempSync(join(f.scratch, 'ws-'))
  const view = runnerView({
    env: process.env,
    workspace: ws,
    layout: f.layout,
    secrets: [],
    containerHome: CONTAINER.home,
    execPath: process.execPath
  })
  const envFile = join(f.scratch, 'container.env')
  writeFileSync(
    envFile,
    sandboxEnv({ proxyToken: 'rt2', extra: [], user: {}, runner: view.env }).join('\n') + '\n'
  )
  const uid = process.getuid?.() ?? 1000
  const gid = process.getgid?.() ?? 1000
  const args = [
    'run',
    '--rm',
    '--init',
    '--network',
    'none',
    '--cap-drop',
    'ALL',
    '--security-opt',
    'no-new-privileges',
    '--user',
    `${uid}:${gid}`,
    '--env-file',
    envFile,
    '--tmpfs',
    `${CONTAINER.home}:rw,exec,mode=0700,uid=${uid},gid=${gid}`,
    '--tmpfs',
    '/tmp:rw,exec,mode=1777',
    '--workdir',
    CONTAINER.workspace,
    '--mount',
    mountSpec({ source: ws, target: CONTAINER.workspace }),
    '--mount',
    mountSpec({ source: process.execPath, target: CONTAINER.node, readOnly: true })
  ]
  for (const m of view.mounts) args.push('--mount', mountSpec(m))
  for (const m of view.masks) args.push('--mount', maskSpec(m))
  args.push('--entrypoint', CONTAINER.node, image, '-e', 'console.log("forwarder-started")')
  return dockerSync(args)
}

describe.skipIf(!hasDocker)(
  'class 83: the cached runner root image replaced under its name',
  () => {
    const fixtures: Fixture[] = []
    beforeAll(() => {
      expect(hasDocker).toBe(true)
    })
    afterAll(() => {
      for (const f of fixtures) {
        for (const t of [f.name, ...f.tags]) dockerTry(['image', 'rm', '-f', t])
        dockerTry(['image', 'prune', '-f', '--filter', `label=airlock-rt2=${f.name}`])
        rmSync(f.scratch, { recursive: true, force: true })
      }
    })

    it('83.1: the same root re-imported under the name with ENV NODE_OPTIONS running code', async () => {
      const f = fixture()
      fixtures.push(f)
      // Airlock's own image for this layout exists (an earlier run imported it).
      const genuine = await ensure(f)
      expect(runSandboxNode(f, genuine)).toContain('forwarder-started')
      // An earlier job on the runner: the very same archive, with an ENV of its own.
      dockerSync([
        'import',
        '--change',
        `ENV NODE_OPTIONS=--import=data:text/javascript,console.log(${JSON.stringify(PLANTED)})`,
        '--change',
        `LABEL airlock-rt2=${f.name}`,
        f.tarFile,
        f.name
      ])
      trackPlanted(f)
      // The next run.
      const image = await ensure(f)
      const out = runSandboxNode(f, image)
      expect(out).toContain('forwarder-started')
      const ran = out.includes(PLANTED)
      results.push({
        id: '83.1',
        cls: 83,
        attack:
          'An earlier job on a shared runner re-imports Airlock’s own runner root archive under its cached name `airlock-runner-root:<hash>` with `ENV NODE_OPTIONS=--import=data:…` (a variable the sandbox’s env file does not set); the next runner-mode sandbox starts its Node forwarder',
        outcome: ran
          ? 'the planted code ran in the sandbox’s Node'
          : 'the image under the name was not Airlock’s (its config sets ENV): re-imported, the planted code never ran',
        verdict: ran ? 'fail' : 'pass'
      })
      expect(ran, 'the planted image’s NODE_OPTIONS ran in the sandbox').toBe(false)
      expect(image).not.toBe(f.name)
    })

    it('83.2: an image built on the root with a file of its own and NODE_OPTIONS requiring it', async () => {
      const f = fixture()
      fixtures.push(f)
      const genuine = await ensure(f)
      const base = `airlock-rt2-base:${randomBytes(4).toString('hex')}`
      f.tags.push(base)
      dockerSync(['tag', genuine, base])
      const ctx = mkdtempSync(join(f.scratch, 'ctx-'))
      writeFileSync(join(ctx, 'planted.cjs'), `console.log(${JSON.stringify(PLANTED)})\n`)
      writeFileSync(
        join(ctx, 'Dockerfile'),
        [
          `FROM ${base}`,
          // /var is a directory of the root image itself: no runner directory covers it.
          'COPY planted.cjs /var/lib/planted.cjs',
          'ENV NODE_OPTIONS=--require=/var/lib/planted.cjs',
          `LABEL airlock-rt2=${f.name}`
        ].join('\n') + '\n'
      )
      dockerSync(['build', '--quiet', '--tag', f.name, ctx])
      trackPlanted(f)
      const image = await ensure(f)
      const out = runSandboxNode(f, image)
      expect(out).toContain('forwarder-started')
      const ran = out.includes(PLANTED)
      results.push({
        id: '83.2',
        cls: 83,
        attack:
          'An earlier job on a shared runner builds an image on Airlock’s runner root with a script in `/var/lib` (a directory of the root image itself, not mounted over) and `ENV NODE_OPTIONS=--require=<it>`, and tags it `airlock-runner-root:<hash>`; the next runner-mode sandbox starts its Node forwarder',
        outcome: ran
          ? 'the planted script ran in the sandbox’s Node'
          : 'the image under the name was not Airlock’s (a second layer): re-imported, the planted script never ran',
        verdict: ran ? 'fail' : 'pass'
      })
      expect(ran, 'the planted script ran in the sandbox').toBe(false)
    })

    it('accepts its archive with only a PATH in ENV (a daemon’s default), not with PATH and more', async () => {
      const f = fixture()
      fixtures.push(f)
      const importAs = (env: string[]): string => {
        const args = ['import']
        for (const e of env) args.push('--change', `ENV ${e}`)
        return dockerSync([...args, f.tarFile, f.name]).trim()
      }
      const withPath = importAs([
        'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
      ])
      expect(await ensure(f)).toBe(withPath)
      const withMore = importAs(['PATH=/usr/bin:/bin', 'LD_PRELOAD=/var/x.so'])
      f.tags.push(withPath, withMore)
      expect(await ensure(f)).not.toBe(withMore)
    })

    it('reuses its own cached image without importing again (the same id on every run)', async () => {
      const f = fixture()
      fixtures.push(f)
      const first = await ensure(f)
      const second = await ensure(f)
      expect(first).toMatch(/^sha256:[0-9a-f]{64}$/)
      expect(second).toBe(first)
      expect(dockerSync(['image', 'inspect', '--format', '{{.Id}}', f.name]).trim()).toBe(first)
    })
  }
)

/** Credentials no grant holds: a developer's or another step's personal access tokens. */
const PAT_URL = `ghp_RT2UrlPat${randomBytes(12).toString('hex')}`
const PAT_HELPER = `ghp_RT2HelperPat${randomBytes(12).toString('hex')}`
const PAT_USER = `ghp_RT2UserPat${randomBytes(12).toString('hex')}`
const PAT_SUB = `ghp_RT2SubPat${randomBytes(12).toString('hex')}`

/** What the agent runs: every way git (or a plain read) would hand over the config's credentials. */
const READ_GIT_CREDENTIALS = [
  'git config --global --add safe.directory "*" 2>/dev/null',
  'git config --get-regexp "." 2>&1',
  'printf "protocol=https\\nhost=github.com\\n\\n" | git credential fill 2>&1',
  'cat .git/config .git/modules/*/config 2>&1',
  'git -C sub config --get remote.origin.url 2>&1',
  'true'
].join('; ')

/**
 * A repository whose config holds tokens the way developers and steps leave them: the remote
 * URL with `user:token`, a `url.<base>.insteadOf` whose base carries the token as user name,
 * an inline credential helper, and a submodule whose remote URL holds another token.
 */
function repoWithTokens(dir: string): void {
  const git = (args: string[], cwd = dir): string =>
    execFileSync('git', args, {
      cwd,
      encoding: 'utf8',
      env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: dir }
    })
  git(['init', '-q'])
  git(['remote', 'add', 'origin', `https://alice:${PAT_URL}@github.com/octo/repo.git`])
  git(['config', `url.https://${PAT_USER}@github.com/.insteadOf`, 'https://github.com/'])
  git([
    'config',
    'credential.helper',
    `!f() { echo username=alice; echo password=${PAT_HELPER}; }; f`
  ])
  writeFileSync(join(dir, 'a.txt'), 'a\n')
  // A submodule's repository as `git submodule update` leaves it.
  mkdirSync(join(dir, '.git', 'modules', 'sub'), { recursive: true })
  git(['init', '-q', '--bare', join(dir, '.git', 'modules', 'sub')])
  git([
    'config',
    '-f',
    join(dir, '.git', 'modules', 'sub', 'config'),
    'remote.origin.url',
    `https://x-access-token:${PAT_SUB}@github.com/octo/sub.git`
  ])
  git(['config', '-f', join(dir, '.git', 'modules', 'sub', 'config'), 'core.bare', 'false'])
  git([
    'config',
    '-f',
    join(dir, '.git', 'modules', 'sub', 'config'),
    'core.worktree',
    '../../../sub'
  ])
  mkdirSync(join(dir, 'sub'))
  writeFileSync(join(dir, 'sub', '.git'), 'gitdir: ../.git/modules/sub\n')
}

function leaked(out: string): string[] {
  return (
    [
      ['remote URL password', PAT_URL],
      ['insteadOf user name', PAT_USER],
      ['inline credential helper', PAT_HELPER],
      ['submodule remote URL', PAT_SUB]
    ] as const
  )
    .filter(([, v]) => out.includes(v))
    .map(([k]) => k)
}

describe.skipIf(!hasDocker)(
  'class 84: credentials in the workspace git config no grant holds',
  () => {
    it('84.1: `airlock run` in a developer’s clone whose remote URL and credential helper hold tokens', () => {
      const dir = mkdtempSync(join(tmpdir(), 'airlock-rt2-clone-'))
      try {
        repoWithTokens(dir)
        const r = spawnSync(
          process.execPath,
          [
            join(ROOT, 'dist/cli/index.js'),
            'run',
            '--image',
            TEST_IMAGE,
            '--workspace',
            dir,
            '--',
            'sh',
            '-c',
            `${READ_GIT_CREDENTIALS}; echo rt2-agent-done`
          ],
          {
            encoding: 'utf8',
            timeout: 240_000,
            env: {
              PATH: process.env.PATH ?? '/usr/bin:/bin',
              HOME: tmpdir(),
              ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {})
            }
          }
        )
        const out = `${r.stdout}\n${r.stderr}`
        expect(out, out).toContain('rt2-agent-done')
        const got = leaked(r.stdout)
        results.push({
          id: '84.1',
          cls: 84,
          attack:
            '`airlock run` in a developer’s clone: the remote URL is `https://alice:<PAT>@github.com/…`, a `url.https://<PAT>@github.com/.insteadOf` rewrite, an inline `credential.helper` echoing a token, and a submodule whose remote URL holds another; the agent runs `git config --get-regexp .`, `git credential fill` and reads the configs',
          outcome:
            got.length > 0
              ? `the sandbox read: ${got.join(', ')}`
              : 'the sandbox saw the configs without URL userinfo and without the credential sections; no token readable',
          verdict: got.length > 0 ? 'fail' : 'pass'
        })
        expect(got).toEqual([])
        // The sandbox still sees the remote, without its userinfo.
        expect(r.stdout).toContain('https://github.com/octo/repo.git')
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })

    it('84.2: a step set a token in the remote URL and a credential helper before the action ran', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'airlock-rt2-ws-'))
      try {
        repoWithTokens(dir)
        const id = runnerIdentity()
        if (id) execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, dir])
        const run = await runAction({
          env: { GITHUB_WORKSPACE: dir },
          inputs: {
            image: TEST_IMAGE,
            'timeout-minutes': '3',
            command: `${READ_GIT_CREDENTIALS}; echo rt2-agent-done`
          }
        })
        expect(run.main.stdout, run.main.stdout + run.main.stderr).toContain('rt2-agent-done')
        const got = leaked(run.main.stdout)
        results.push({
          id: '84.2',
          cls: 84,
          attack:
            'An earlier step ran `git remote set-url origin https://alice:<PAT>@github.com/…`, set a `url.https://<PAT>@github.com/.insteadOf` rewrite and an inline `credential.helper`, and a submodule’s remote URL holds another token (none of them a secret Airlock holds); the agent runs `git config --get-regexp .`, `git credential fill` and reads the configs',
          outcome:
            got.length > 0
              ? `the sandbox read: ${got.join(', ')}`
              : 'the sandbox saw the configs without URL userinfo and without the credential sections; no token readable',
          verdict: got.length > 0 ? 'fail' : 'pass'
        })
        expect(got).toEqual([])
        // The runner's own config is untouched: later steps still push with it.
        expect(readFileSync(join(dir, '.git', 'config'), 'utf8')).toContain(PAT_URL)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })
  }
)

/** Escape sequences the agent prints, each one a way to drive the terminal it lands on. */
const TERMINAL_ATTACK = [
  // the clipboard: "echo rt2-pwned", pasted later into a shell on the host
  String.raw`printf '\033]52;c;ZWNobyBydDItcHduZWQ=\007'`,
  // a link whose text is not its target
  String.raw`printf '\033]8;;https://evil.example/\033\\docs\033]8;;\033\\\n'`,
  // set the title, then ask the terminal to type it back (xterm window ops)
  String.raw`printf '\033]0;rt2-title\007\033[21t'`,
  // DECRQSS and a cursor report: answers arrive as input
  String.raw`printf '\033P$q"p\033\\\033[6n'`,
  // the same in 8-bit C1 controls (UTF-8 encoded U+009B CSI, U+009D OSC)
  String.raw`printf '\302\2336n\302\23552;c;eA==\007'`,
  // the alternate screen and a full reset, hiding what ran
  String.raw`printf '\033[?1049h\033c'`,
  // colours and text (kept)
  String.raw`printf '\033[31mrt2-red\033[0m rt2-visible\n'`
].join('\n')

describe.skipIf(!hasDocker)('class 85: the sandbox driving the developer’s terminal', () => {
  it('85.1: `airlock run` on a terminal; the agent prints clipboard, hyperlink, title-report and reset sequences', () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-rt2-tty-'))
    try {
      writeFileSync(join(dir, 'emit.sh'), `${TERMINAL_ATTACK}\n`)
      const cli = join(ROOT, 'dist/cli/index.js')
      // `script` runs the CLI on a real pseudo-terminal and copies what the terminal received.
      const r = spawnSync(
        'script',
        [
          '-qfec',
          `${process.execPath} ${cli} run --image ${TEST_IMAGE} --workspace ${dir} -- sh emit.sh`,
          '/dev/null'
        ],
        {
          encoding: 'utf8',
          timeout: 240_000,
          env: {
            PATH: process.env.PATH ?? '/usr/bin:/bin',
            HOME: tmpdir(),
            SHELL: '/bin/sh',
            TERM: 'xterm-256color',
            ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {})
          }
        }
      )
      const seen = r.stdout
      expect(seen, seen + r.stderr).toContain('rt2-visible')
      const reached = (
        [
          ['OSC (clipboard, hyperlink, title)', '\x1b]'],
          ['DCS (DECRQSS)', '\x1bP'],
          ['window report CSI 21t', '\x1b[21t'],
          ['cursor report CSI 6n', '\x1b[6n'],
          ['alternate screen', '\x1b[?1049h'],
          ['full reset ESC c', '\x1bc'],
          ['8-bit CSI', '\u009b'],
          ['8-bit OSC', '\u009d']
        ] as const
      )
        .filter(([, s]) => seen.includes(s))
        .map(([k]) => k)
      results.push({
        id: '85.1',
        cls: 85,
        attack:
          '`airlock run` on a terminal: the agent prints OSC 52 (write the clipboard), an OSC 8 link whose text is not its target, a title set then CSI 21t (report it back as input), DECRQSS and CSI 6n, the same in 8-bit C1 controls, the alternate screen and a full reset',
        outcome:
          reached.length > 0
            ? `the terminal received: ${reached.join(', ')}`
            : 'the terminal received the text and its colours only',
        verdict: reached.length > 0 ? 'fail' : 'pass'
      })
      expect(reached).toEqual([])
      // Colours are not an attack: kept.
      expect(seen).toContain('\x1b[31mrt2-red')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe.skipIf(!hasDocker)('class 86: a workspace that holds the user’s home', () => {
  /** A developer's home with the credential files tools keep there. */
  function homeWithCredentials(): { home: string; sentinels: Array<[string, string]> } {
    const home = mkdtempSync(join(tmpdir(), 'airlock-rt2-home-'))
    const sentinels: Array<[string, string]> = [
      ['.ssh/id_ed25519', `RT2-SSH-KEY-${randomBytes(8).toString('hex')}`],
      ['.aws/credentials', `RT2-AWS-SECRET-${randomBytes(8).toString('hex')}`],
      ['.config/gh/hosts.yml', `gho_RT2${randomBytes(12).toString('hex')}`]
    ]
    for (const [rel, value] of sentinels) {
      mkdirSync(join(home, rel, '..'), { recursive: true })
      writeFileSync(join(home, rel), `${value}\n`, { mode: 0o600 })
    }
    mkdirSync(join(home, 'project'))
    writeFileSync(join(home, 'project', 'README.md'), 'rt2 project\n')
    return { home, sentinels }
  }

  function cliRun(home: string, cwd: string, script: string): ReturnType<typeof spawnSync> {
    return spawnSync(
      process.execPath,
      [join(ROOT, 'dist/cli/index.js'), 'run', '--image', TEST_IMAGE, '--', 'sh', '-c', script],
      {
        cwd,
        encoding: 'utf8',
        timeout: 240_000,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: home,
          ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {})
        }
      }
    )
  }

  it('86.1: `airlock run` typed in the home directory (the workspace defaults to it)', () => {
    const { home, sentinels } = homeWithCredentials()
    try {
      const r = cliRun(home, home, 'cat .ssh/id_ed25519 .aws/credentials .config/gh/hosts.yml')
      const out = `${String(r.stdout)}\n${String(r.stderr)}`
      const read = sentinels.filter(([, v]) => String(r.stdout).includes(v)).map(([k]) => k)
      const refused = r.status !== 0 && /holds|is your home directory/.test(out)
      results.push({
        id: '86.1',
        cls: 86,
        attack:
          '`airlock run -- cat …` typed in a home directory (the local CLI’s workspace is the current directory): the agent reads `~/.ssh/id_ed25519`, `~/.aws/credentials` and `~/.config/gh/hosts.yml`',
        outcome:
          read.length > 0
            ? `the sandbox read: ${read.join(', ')}`
            : refused
              ? 'refused before the sandbox started: the workspace is the home directory'
              : 'nothing read, but not refused either',
        verdict: read.length === 0 && refused ? 'pass' : 'fail'
      })
      expect(read).toEqual([])
      expect(refused, out).toBe(true)
    } finally {
      rmSync(home, { recursive: true, force: true })
    }
  })

  it('86.3: the action with a workspace that holds the runner application', async () => {
    const runner = mkdtempSync(join(tmpdir(), 'airlock-rt2-runner-'))
    const key = `RT2-RSAPARAMS-${randomBytes(8).toString('hex')}`
    try {
      writeFileSync(join(runner, '.runner'), '{"agentName":"rt2"}')
      writeFileSync(join(runner, '.credentials_rsaparams'), `{"d":"${key}"}`)
      mkdirSync(join(runner, '_work', 'repo', 'repo'), { recursive: true })
      const id = runnerIdentity()
      if (id) execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, runner])
      // `workspace: ../../..` from the checkout, or the runner's directory named outright.
      const run = await runAction({
        env: {
          GITHUB_WORKSPACE: join(runner, '_work', 'repo', 'repo'),
          RUNNER_WORKSPACE: join(runner, '_work', 'repo')
        },
        inputs: {
          image: TEST_IMAGE,
          'timeout-minutes': '3',
          workspace: '../../..',
          command: 'cat .credentials_rsaparams; echo rt2-agent-done'
        }
      })
      const read = run.main.stdout.includes(key)
      const refused =
        run.main.code !== 0 &&
        /holds the runner application|is the runner application/.test(
          run.main.stdout + run.main.stderr
        )
      results.push({
        id: '86.3',
        cls: 86,
        attack:
          'the action with `workspace: ../../..`, which from the checkout is the runner application’s directory (its `.runner`, `.credentials_rsaparams`: the key that takes the runner’s jobs); the agent reads `.credentials_rsaparams`',
        outcome: read
          ? 'the sandbox read the runner’s registration key'
          : refused
            ? 'refused before the sandbox started: the workspace holds the runner application'
            : 'nothing read, but not refused either',
        verdict: !read && refused ? 'pass' : 'fail'
      })
      expect(read).toBe(false)
      expect(refused, run.main.stdout).toBe(true)
    } finally {
      rmSync(runner, { recursive: true, force: true })
    }
  })

  it('86.2: control: a project directory inside the home runs, and sees only itself', () => {
    const { home, sentinels } = homeWithCredentials()
    try {
      const r = cliRun(
        home,
        join(home, 'project'),
        'cat README.md; cat ../.ssh/id_ed25519 2>/dev/null; ls -a /workspace'
      )
      const read = sentinels.filter(([, v]) => String(r.stdout).includes(v)).map(([k]) => k)
      results.push({
        id: '86.2',
        cls: 86,
        attack: 'control: `airlock run` in `~/project`; the agent reads `../.ssh/id_ed25519`',
        outcome:
          read.length === 0 && r.status === 0
            ? 'ran; the workspace is the project alone, the home’s files are not there'
            : `status ${String(r.status)}; read: ${read.join(', ') || 'nothing'}`,
        verdict: read.length === 0 && r.status === 0 ? 'pass' : 'fail'
      })
      expect(String(r.stdout), String(r.stderr)).toContain('rt2 project')
      expect(read).toEqual([])
      expect(r.status).toBe(0)
    } finally {
      rmSync(home, { recursive: true, force: true })
    }
  })
})

describe('class 87: the token a refresh mints, before it is scrubbed', () => {
  it('87.1: an upstream echoes the re-minted GitHub App token while the old one is being revoked', async () => {
    await ensureBuilt('proxy')
    registerAll()
    const pki = await createTestPki(['api.github.com'])
    const key = generateAppKey()
    const minted: string[] = []
    let revokeHeld: (() => void) | undefined
    let revokesPending = 0
    // A GitHub double: installation lookup, token mint (6 s tokens), a slow revocation, and an
    // endpoint that reflects the bearer token it was sent.
    const github = await listenHttps(pki, (req, res) => {
      const bearer = (req.headers.authorization ?? '').replace(/^Bearer /i, '')
      const json = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(body))
      }
      req.resume()
      if (req.method === 'GET' && req.url === '/repos/octo-org/octo-repo/installation')
        return json(200, { id: 5 })
      if (req.method === 'POST' && req.url === '/app/installations/5/access_tokens') {
        const token = `ghs_RT2minted${minted.length}${randomBytes(12).toString('hex')}`
        minted.push(token)
        return json(201, {
          token,
          expires_at: new Date(Date.now() + 6000).toISOString(),
          permissions: { contents: 'read' },
          repository_selection: 'selected'
        })
      }
      if (req.method === 'DELETE' && req.url === '/installation/token') {
        revokesPending++
        revokeHeld = () => {
          revokeHeld = undefined
          revokesPending--
          res.writeHead(204)
          res.end()
        }
        return
      }
      if (req.method === 'GET' && req.url === '/rt2/echo') return json(200, { youSent: bearer })
      json(404, { message: 'Not Found' })
    })
    const connectTo = [`api.github.com:443=127.0.0.1:${github.port}`]
    const dir = mkdtempSync(join(tmpdir(), 'airlock-rt2-refresh-'))
    let pid: number | undefined
    try {
      const inputs: Record<string, string> = {
        command: 'true',
        grants: 'github',
        'github-app-id': '777',
        'github-app-private-key': key.privateKeyPem,
        'github-app-permissions': 'contents:read'
      }
      const env: NodeJS.ProcessEnv = {
        GITHUB_REPOSITORY: 'octo-org/octo-repo',
        GITHUB_RUN_ID: '87'
      }
      const plan = readInputs(
        (n) => inputs[n] ?? '',
        env,
        () => {}
      )
      const ctx = makeGrantContext({
        settings: plan,
        setSecret: () => {},
        env,
        connectTo,
        upstreamCa: pki.caFile
      })
      const credential = await registry.mustGet('github').grant(ctx)
      const config = daemonConfig(dir, { connectTo, upstreamCa: pki.caPem })
      config.grants = [{ provider: 'github', credential: credentialToJSON(credential) }]
      config.settings = settingsForRefresh(plan)
      const oidc = daemonOidc(plan, env)
      if (oidc) config.oidc = oidc
      config.repository = 'octo-org/octo-repo'
      const ready = await startProxyDaemon(config, {
        script: PROXY_SCRIPT,
        logFile: join(dir, 'daemon.log')
      })
      pid = ready.pid
      const agent = proxyAgent({
        proxyUrl: `http://airlock:${config.token}@127.0.0.1:${ready.port}`,
        caPem: readFileSync(config.caCertFile, 'utf8')
      })
      // The daemon re-mints at 75 % of the 6 s life and starts revoking the first token.
      await waitFor(() => (minted.length >= 2 && revokesPending > 0 ? true : undefined), 20_000)
      const r = await request('https://api.github.com/rt2/echo', {
        dispatcher: agent,
        headers: { authorization: `Bearer ${PLACEHOLDERS.github}` }
      })
      const body = await r.body.text()
      revokeHeld?.()
      await agent.close()
      const leakedTokens = minted.filter((t) => body.includes(t))
      results.push({
        id: '87.1',
        cls: 87,
        attack:
          'The daemon re-mints the GitHub App token before expiry and revokes the old one (GitHub slow to answer the revocation); meanwhile the agent calls an endpoint of the credentialed host that reflects the bearer token it was sent',
        outcome:
          leakedTokens.length > 0
            ? 'the agent received the re-minted token'
            : 'the re-minted token was scrubbed from the echo from the moment it was injected',
        verdict: leakedTokens.length > 0 ? 'fail' : 'pass'
      })
      expect(r.statusCode).toBe(200)
      expect(body).toContain('youSent')
      expect(leakedTokens).toEqual([])
    } finally {
      revokeHeld?.()
      if (pid) await stopProcess(pid, 5000)
      await github.close()
      rmSync(dir, { recursive: true, force: true })
      rmSync(pki.dir, { recursive: true, force: true })
    }
  }, 60_000)
})

describe.skipIf(!hasDocker || process.getuid?.() !== 0)(
  'class 88: another runner’s installation on the same host',
  () => {
    it('88.1: runner mode reads a second runner installed under /opt and /usr/local', async () => {
      const tag = randomBytes(4).toString('hex')
      const secrets: Array<[string, string]> = []
      const plant = (dir: string): void => {
        const files: Array<[string, string]> = [
          ['.runner', `{"agentName":"rt2-${tag}"}`],
          ['.credentials', `RT2-CREDENTIALS-${randomBytes(8).toString('hex')}`],
          ['.credentials_rsaparams', `RT2-RSAPARAMS-${randomBytes(8).toString('hex')}`],
          [
            '_work/other/other/.git/config',
            `[http]\n\textraheader = AUTHORIZATION: basic RT2-WORK-${randomBytes(8).toString('hex')}\n`
          ],
          ['bin/Runner.Worker', '']
        ]
        for (const [rel, text] of files) {
          mkdirSync(join(dir, rel, '..'), { recursive: true })
          writeFileSync(join(dir, rel), text)
          const m = /RT2-[A-Z]+-[0-9a-f]+/.exec(text)
          if (m) secrets.push([`${dir}/${rel}`, m[0]])
        }
        const id = runnerIdentity()
        if (id) execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, dir])
      }
      const second = `/opt/airlock-rt2-runner-${tag}`
      const third = `/usr/local/airlock-rt2-runners-${tag}/3`
      const ws = mkdtempSync(join(tmpdir(), 'airlock-rt2-ws-'))
      try {
        plant(second)
        plant(third)
        const id = runnerIdentity()
        if (id) execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, ws])
        const run = await runAction({
          env: { GITHUB_WORKSPACE: ws },
          inputs: {
            image: 'runner',
            'timeout-minutes': '3',
            command: `cat ${second}/.credentials ${second}/.credentials_rsaparams ${second}/_work/other/other/.git/config ${third}/.credentials ${third}/.credentials_rsaparams ${third}/_work/other/other/.git/config 2>&1; ls -a ${second} ${third} 2>&1; echo rt2-agent-done`
          }
        })
        const out = run.main.stdout
        expect(out, out + run.main.stderr).toContain('rt2-agent-done')
        const read = secrets.filter(([, v]) => out.includes(v)).map(([f]) => f)
        results.push({
          id: '88.1',
          cls: 88,
          attack:
            'runner mode on a host with more runners: a second runner installed at `/opt/actions-runner-2`-style and `/usr/local/<dir>/3` paths (`.runner`, `.credentials`, `.credentials_rsaparams`, `_work` with a checkout’s `extraheader`); the agent reads them through the read-only `/opt` and `/usr` mounts',
          outcome:
            read.length > 0
              ? `the sandbox read ${read.length} of ${secrets.length} planted secrets`
              : 'each other installation is covered by an empty mount; nothing read',
          verdict: read.length > 0 ? 'fail' : 'pass'
        })
        expect(read).toEqual([])
      } finally {
        rmSync(second, { recursive: true, force: true })
        rmSync(dirname(third), { recursive: true, force: true })
        rmSync(ws, { recursive: true, force: true })
      }
    }, 240_000)
  }
)

describe.skipIf(!hasDocker || process.getuid?.() !== 0)(
  'class 89: credential stores in the host’s /etc',
  () => {
    it('89.1: runner mode reads apt repository logins, TLS keys, another CI’s token and registry logins in /etc', async () => {
      const tag = randomBytes(4).toString('hex')
      // Only paths this host does not have are planted (and removed after), whole.
      const plants: Array<{ file: string; remove: string }> = [
        {
          file: `/etc/apt/auth.conf.d/airlock-rt2-${tag}.conf`,
          remove: `/etc/apt/auth.conf.d/airlock-rt2-${tag}.conf`
        },
        { file: '/etc/letsencrypt/live/rt2.example/privkey.pem', remove: '/etc/letsencrypt' },
        { file: '/etc/pki/tls/private/rt2.key', remove: '/etc/pki' },
        { file: '/etc/gitlab-runner/config.toml', remove: '/etc/gitlab-runner' },
        { file: '/etc/containers/auth.json', remove: '/etc/containers' },
        { file: '/etc/ipsec.secrets', remove: '/etc/ipsec.secrets' }
      ].filter((p) => !existsSync(p.remove))
      const secrets: Array<[string, string]> = []
      const ws = mkdtempSync(join(tmpdir(), 'airlock-rt2-ws-'))
      try {
        for (const p of plants) {
          const value = `RT2-ETC-${randomBytes(8).toString('hex')}`
          mkdirSync(dirname(p.file), { recursive: true })
          writeFileSync(p.file, `secret = ${value}\n`, { mode: 0o644 })
          secrets.push([p.file, value])
        }
        expect(secrets.length).toBeGreaterThan(0)
        const id = runnerIdentity()
        if (id) execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, ws])
        const run = await runAction({
          env: { GITHUB_WORKSPACE: ws },
          inputs: {
            image: 'runner',
            'timeout-minutes': '3',
            command: `cat ${secrets.map(([f]) => f).join(' ')} 2>&1; echo rt2-agent-done`
          }
        })
        const out = run.main.stdout
        expect(out, out + run.main.stderr).toContain('rt2-agent-done')
        const read = secrets.filter(([, v]) => out.includes(v)).map(([f]) => f)
        results.push({
          id: '89.1',
          cls: 89,
          attack:
            'runner mode on a self-hosted host: the agent reads `/etc/apt/auth.conf.d/*` (private apt repository logins), `/etc/letsencrypt/live/*/privkey.pem`, `/etc/pki/tls/private/*`, `/etc/gitlab-runner/config.toml`, `/etc/containers/auth.json` and `/etc/ipsec.secrets` through the read-only `/etc` mount',
          outcome:
            read.length > 0
              ? `the sandbox read ${read.length} of ${secrets.length} planted files`
              : 'each is covered by an empty mount; nothing read',
          verdict: read.length > 0 ? 'fail' : 'pass'
        })
        expect(read).toEqual([])
      } finally {
        for (const p of plants) rmSync(p.remove, { recursive: true, force: true })
        rmSync(ws, { recursive: true, force: true })
      }
    }, 240_000)
  }
)

describe.skipIf(!hasDocker)('class 90: the run’s secrets in the docker CLI’s environment', () => {
  const realDocker = execFileSync('sh', ['-c', 'command -v docker'], { encoding: 'utf8' }).trim()
  /** A `docker` first on PATH that records its environment, then runs the real one. */
  function wrapper(): { dir: string; log: string } {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-rt2-docker-'))
    const log = join(dir, 'environ.log')
    writeFileSync(join(dir, 'docker'), `#!/bin/sh\nenv >> '${log}'\nexec '${realDocker}' "$@"\n`, {
      mode: 0o755
    })
    const id = runnerIdentity()
    if (id) execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, dir])
    return { dir, log }
  }

  it('90.1: the action’s docker calls, with `github-token` and the runner’s job tokens set', async () => {
    const w = wrapper()
    const token = `ghs_RT2DockerEnv${randomBytes(12).toString('hex')}`
    const runtime = `RT2-RUNTIME-${randomBytes(8).toString('hex')}`
    const ws = mkdtempSync(join(tmpdir(), 'airlock-rt2-ws-'))
    try {
      const id = runnerIdentity()
      if (id) execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, ws])
      const run = await runAction({
        githubToken: token,
        env: {
          GITHUB_WORKSPACE: ws,
          PATH: `${w.dir}:${process.env.PATH ?? '/usr/bin:/bin'}`,
          ACTIONS_RUNTIME_TOKEN: runtime
        },
        inputs: { image: TEST_IMAGE, grants: 'github', command: 'echo rt2-agent-done' }
      })
      expect(run.main.stdout, run.main.stdout + run.main.stderr).toContain('rt2-agent-done')
      const seen = readFileSync(w.log, 'utf8')
      expect(seen).toContain('PATH=')
      const found = [
        ['github-token (INPUT_GITHUB-TOKEN)', token],
        ['ACTIONS_RUNTIME_TOKEN', runtime]
      ]
        .filter(([, v]) => seen.includes(v!))
        .map(([k]) => k!)
      results.push({
        id: '90.1',
        cls: 90,
        attack:
          'the action runs with `github-token` granted and the runner’s `ACTIONS_RUNTIME_TOKEN`; a `docker` first on PATH (a wrapper, or what the docker CLI starts: credential helpers, plugins, `ssh`) records the environment of every docker call main and post make',
        outcome:
          found.length > 0
            ? `the docker CLI’s environment held: ${found.join(', ')}`
            : 'no input and no job token in any docker call’s environment',
        verdict: found.length > 0 ? 'fail' : 'pass'
      })
      expect(found).toEqual([])
    } finally {
      rmSync(w.dir, { recursive: true, force: true })
      rmSync(ws, { recursive: true, force: true })
    }
  })

  it('90.2: `airlock run --grant github` with GITHUB_TOKEN and ANTHROPIC_API_KEY in the shell', () => {
    const w = wrapper()
    const token = `ghp_RT2CliEnv${randomBytes(12).toString('hex')}`
    const key = `sk-ant-RT2${randomBytes(12).toString('hex')}`
    const ws = mkdtempSync(join(tmpdir(), 'airlock-rt2-ws-'))
    try {
      const r = spawnSync(
        process.execPath,
        [
          join(ROOT, 'dist/cli/index.js'),
          'run',
          '--grant',
          'github',
          '--image',
          TEST_IMAGE,
          '--workspace',
          ws,
          '--',
          'echo',
          'rt2-agent-done'
        ],
        {
          encoding: 'utf8',
          timeout: 240_000,
          env: {
            PATH: `${w.dir}:${process.env.PATH ?? '/usr/bin:/bin'}`,
            HOME: tmpdir(),
            GITHUB_TOKEN: token,
            ANTHROPIC_API_KEY: key,
            ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {})
          }
        }
      )
      expect(r.stdout, r.stdout + r.stderr).toContain('rt2-agent-done')
      const seen = readFileSync(w.log, 'utf8')
      const found = [
        ['GITHUB_TOKEN', token],
        ['ANTHROPIC_API_KEY', key]
      ]
        .filter(([, v]) => seen.includes(v!))
        .map(([k]) => k!)
      results.push({
        id: '90.2',
        cls: 90,
        attack:
          '`airlock run --grant github` from a shell holding `GITHUB_TOKEN` and `ANTHROPIC_API_KEY`; a `docker` first on PATH records the environment of every docker call',
        outcome:
          found.length > 0
            ? `the docker CLI’s environment held: ${found.join(', ')}`
            : 'no credential variable in any docker call’s environment',
        verdict: found.length > 0 ? 'fail' : 'pass'
      })
      expect(found).toEqual([])
    } finally {
      rmSync(w.dir, { recursive: true, force: true })
      rmSync(ws, { recursive: true, force: true })
    }
  })
})

describe.skipIf(!hasDocker || process.getuid?.() !== 0)(
  'class 91: credential stores the job’s environment moves under a mounted directory',
  () => {
    it('91.1: runner mode with CARGO_HOME under /usr/share, DOCKER_CONFIG under /opt and KUBECONFIG under /usr/local', async () => {
      const tag = randomBytes(4).toString('hex')
      const cargo = `/usr/share/airlock-rt2-${tag}/.cargo`
      const dockerConfig = `/opt/airlock-rt2-docker-${tag}`
      const kube = `/usr/local/share/airlock-rt2-kube-${tag}/config`
      const planted: Array<[string, string]> = [
        [join(cargo, 'credentials.toml'), `RT2-CARGO-${randomBytes(8).toString('hex')}`],
        [join(dockerConfig, 'config.json'), `RT2-DOCKER-${randomBytes(8).toString('hex')}`],
        [kube, `RT2-KUBE-${randomBytes(8).toString('hex')}`]
      ]
      const ws = mkdtempSync(join(tmpdir(), 'airlock-rt2-ws-'))
      try {
        for (const [file, value] of planted) {
          mkdirSync(dirname(file), { recursive: true })
          writeFileSync(file, `token = "${value}"\n`, { mode: 0o644 })
        }
        // cargo's binaries stay usable: only the credential files are hidden.
        mkdirSync(join(cargo, 'bin'), { recursive: true })
        writeFileSync(join(cargo, 'bin', 'rt2-tool'), 'rt2-tool-visible\n')
        const id = runnerIdentity()
        if (id) execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, ws])
        const run = await runAction({
          env: {
            GITHUB_WORKSPACE: ws,
            CARGO_HOME: cargo,
            DOCKER_CONFIG: dockerConfig,
            KUBECONFIG: `/nonexistent/kube:${kube}`
          },
          inputs: {
            image: 'runner',
            'timeout-minutes': '3',
            command: `cat ${planted.map(([f]) => f).join(' ')} ${cargo}/bin/rt2-tool 2>&1; echo rt2-agent-done`
          }
        })
        const out = run.main.stdout
        expect(out, out + run.main.stderr).toContain('rt2-agent-done')
        expect(out).toContain('rt2-tool-visible')
        const read = planted.filter(([, v]) => out.includes(v)).map(([f]) => f)
        results.push({
          id: '91.1',
          cls: 91,
          attack:
            'runner mode where the job sets `CARGO_HOME=/usr/share/…/.cargo` (as hosted Ubuntu images do), `DOCKER_CONFIG` under `/opt` and `KUBECONFIG` under `/usr/local`, and an earlier step logged in (`credentials.toml`, `config.json`, a kubeconfig); the agent reads them through the read-only mounts',
          outcome:
            read.length > 0
              ? `the sandbox read ${read.length} of ${planted.length} credential stores`
              : 'each store the variables name is covered by an empty mount (cargo’s binaries still visible); nothing read',
          verdict: read.length > 0 ? 'fail' : 'pass'
        })
        expect(read).toEqual([])
      } finally {
        rmSync(dirname(cargo), { recursive: true, force: true })
        rmSync(dockerConfig, { recursive: true, force: true })
        rmSync(dirname(kube), { recursive: true, force: true })
        rmSync(ws, { recursive: true, force: true })
      }
    }, 240_000)
  }
)

describe.skipIf(!hasDocker || process.getuid?.() !== 0)(
  'class 92: a global npmrc holding a registry token',
  () => {
    it('92.1: runner mode with `npm config set --global` credentials beside the Node on PATH', async () => {
      const tag = randomBytes(4).toString('hex')
      const withToken = `/usr/local/airlock-rt2-node-${tag}`
      const withoutToken = `/opt/airlock-rt2-node-${tag}`
      const token = `npm_RT2${randomBytes(16).toString('hex')}`
      const ws = mkdtempSync(join(tmpdir(), 'airlock-rt2-ws-'))
      try {
        for (const prefix of [withToken, withoutToken]) {
          mkdirSync(join(prefix, 'bin'), { recursive: true })
          mkdirSync(join(prefix, 'etc'), { recursive: true })
        }
        writeFileSync(
          join(withToken, 'etc', 'npmrc'),
          `registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken=${token}\n`
        )
        // A global npmrc without a credential is configuration: it stays visible.
        writeFileSync(join(withoutToken, 'etc', 'npmrc'), 'fund=false\nrt2-config-visible=true\n')
        const id = runnerIdentity()
        if (id) execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, ws])
        const run = await runAction({
          env: {
            GITHUB_WORKSPACE: ws,
            PATH: `${withToken}/bin:${withoutToken}/bin:${process.env.PATH ?? '/usr/bin:/bin'}`
          },
          inputs: {
            image: 'runner',
            'timeout-minutes': '3',
            command: `cat ${withToken}/etc/npmrc ${withoutToken}/etc/npmrc 2>&1; echo rt2-agent-done`
          }
        })
        const out = run.main.stdout
        expect(out, out + run.main.stderr).toContain('rt2-agent-done')
        const read = out.includes(token)
        results.push({
          id: '92.1',
          cls: 92,
          attack:
            'runner mode after `npm config set --global //registry.npmjs.org/:_authToken=…` (written to `<prefix>/etc/npmrc` beside the Node on PATH, in the tool cache or `/usr/local`); the agent reads it through the read-only mount',
          outcome: read
            ? 'the sandbox read the registry token'
            : 'the global npmrc holding a credential is covered by an empty mount; one holding only configuration stays visible',
          verdict: read ? 'fail' : 'pass'
        })
        expect(read).toBe(false)
        expect(out).toContain('rt2-config-visible=true')
      } finally {
        rmSync(withToken, { recursive: true, force: true })
        rmSync(withoutToken, { recursive: true, force: true })
        rmSync(ws, { recursive: true, force: true })
      }
    }, 240_000)
  }
)

describe.skipIf(!hasDocker || process.getuid?.() !== 0)(
  'class 93: the host’s system git config holding a credential',
  () => {
    it('93.1: runner mode with an extraheader set by `git config --system`', async () => {
      const file = '/etc/gitconfig'
      const before = existsSync(file) ? readFileSync(file) : undefined
      const secret = Buffer.from(
        `x-access-token:RT2-SYSGIT-${randomBytes(8).toString('hex')}`
      ).toString('base64')
      const ws = mkdtempSync(join(tmpdir(), 'airlock-rt2-ws-'))
      try {
        // Scoped to a URL nothing else on this machine uses, and put back as it was after.
        execFileSync('git', [
          'config',
          '--system',
          `http.https://rt2-${randomBytes(4).toString('hex')}.example/.extraheader`,
          `AUTHORIZATION: basic ${secret}`
        ])
        const id = runnerIdentity()
        if (id) execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, ws])
        const run = await runAction({
          env: { GITHUB_WORKSPACE: ws },
          inputs: {
            image: 'runner',
            'timeout-minutes': '3',
            command: 'cat /etc/gitconfig 2>&1; git config --system --list 2>&1; echo rt2-agent-done'
          }
        })
        const out = run.main.stdout
        expect(out, out + run.main.stderr).toContain('rt2-agent-done')
        const read = out.includes(secret)
        results.push({
          id: '93.1',
          cls: 93,
          attack:
            'runner mode on a host whose admin ran `git config --system http.<url>.extraheader "AUTHORIZATION: basic <token>"`; the agent reads `/etc/gitconfig` and runs `git config --system --list`',
          outcome: read
            ? 'the sandbox read the extraheader'
            : 'the system git config holding a credential is covered by an empty mount; nothing read',
          verdict: read ? 'fail' : 'pass'
        })
        expect(read).toBe(false)
      } finally {
        if (before) writeFileSync(file, before)
        else rmSync(file, { force: true })
        rmSync(ws, { recursive: true, force: true })
      }
    }, 240_000)
  }
)
