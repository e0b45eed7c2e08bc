import { execFileSync } from 'node:child_process'
import { filesUnder } from '../../support/files.js'
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureTestImage, requireDocker, TEST_IMAGE } from '../../support/docker.js'
import {
  startFakeAnthropic,
  type AnthropicRequest,
  type FakeAnthropic,
  type ScriptedTurn
} from '../../support/fake-anthropic.js'
import {
  runAction,
  runnerIdentity,
  runnerTempDir,
  type ActionRun,
  type NodeName
} from '../../support/runner.js'
import { createTestPki } from '../../support/test-ca.js'

// Shaped like a real Anthropic API key (what the CLI and the API would accept); the test
// checks that only the fake API ever sees it.
const REAL_KEY =
  'sk-ant-api03-e2eRealLookingTestKey_7Qm2xV9pL4kR8sT1wY6zB3nC5dF0gH2jK4lM6nP8qR0sT2uV4wX6yZ8aB0cD2eF-x3kQ9AA'
const FINAL_ANSWER = 'Created hello.txt in the workspace; git status shows it as untracked.'
const TOOL_CACHE = '/tmp/airlock-tool-cache'
const hasDocker = await requireDocker()

/** The tool_result blocks the CLI sent back in a Messages request's last user message. */
function toolResults(r: AnthropicRequest | undefined): Array<Record<string, unknown>> {
  const msgs = (r?.json?.messages ?? []) as Array<{ role: string; content: unknown }>
  const last = msgs.at(-1)
  if (!last || last.role !== 'user' || !Array.isArray(last.content)) return []
  return (last.content as Array<Record<string, unknown>>).filter((b) => b.type === 'tool_result')
}

function resultText(block: Record<string, unknown> | undefined): string {
  const c = block?.content
  if (typeof c === 'string') return c
  if (Array.isArray(c)) return c.map((p: { text?: string }) => p.text ?? '').join('')
  return ''
}

interface ClaudeRun {
  api: FakeAnthropic
  run: ActionRun
  workspace: string
}

/**
 * Runs the built action with `agent: claude` against a fake Anthropic API that answers with
 * `script`, in a fresh git workspace; the CLI comes from the npm registry (or the tool cache).
 */
async function runClaude(
  script: ScriptedTurn[],
  opts: { asRoot?: boolean; node?: NodeName } = {}
): Promise<ClaudeRun> {
  await ensureTestImage()
  const pki = await createTestPki(['api.anthropic.com'])
  // The steps run as the runner's uid, which must read the CA file (upstream-ca).
  chmodSync(pki.dir, 0o755)
  const api = await startFakeAnthropic({ pki, apiKey: REAL_KEY, script })
  const workspace = runnerTempDir('airlock-e2e-claude-')
  execFileSync('git', ['init', '-q', workspace])
  // The workspace belongs to whoever runs the steps: a root container has no
  // CAP_DAC_OVERRIDE, so it cannot write into a directory the runner uid owns.
  const id = opts.asRoot ? { uid: 0, gid: 0 } : runnerIdentity()
  if (id) execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, workspace])
  // The 300-400 MB CLI download is kept across runs (the tool cache is keyed by version).
  mkdirSync(TOOL_CACHE, { recursive: true, mode: 0o777 })
  chmodSync(TOOL_CACHE, 0o777)
  const runner = runnerIdentity()
  if (runner) chownSync(TOOL_CACHE, runner.uid, runner.gid)
  const run = await runAction({
    env: {
      GITHUB_WORKSPACE: workspace,
      RUNNER_TOOL_CACHE: TOOL_CACHE,
      // Where the registry is reached through a TLS-inspecting gateway, the runner trusts
      // its CA the way self-hosted runners do: through NODE_EXTRA_CA_CERTS.
      ...(process.env.NODE_EXTRA_CA_CERTS
        ? { NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS }
        : {})
    },
    inputs: {
      agent: 'claude',
      prompt: 'Create hello.txt in the workspace, then show git status.',
      'anthropic-api-key': REAL_KEY,
      image: TEST_IMAGE,
      'connect-to': `api.anthropic.com:443=127.0.0.1:${api.port}`,
      'upstream-ca': pki.caFile,
      'timeout-minutes': '10'
    },
    ...(opts.asRoot ? { asRoot: true } : {}),
    ...(opts.node ? { node: opts.node } : {}),
    timeoutMs: 900_000
  })
  return { api, run, workspace }
}

/** Removes what a run left on disk (the runner's temp holds the CLI download on a first run). */
function removeRun(r: ClaudeRun | undefined): void {
  if (!r) return
  rmSync(r.run.runnerTemp, { recursive: true, force: true })
  rmSync(r.run.dir, { recursive: true, force: true })
  rmSync(r.workspace, { recursive: true, force: true })
}

const WRITE_HELLO: ScriptedTurn = {
  text: 'I will create the file.',
  toolUses: [
    {
      name: 'Write',
      input: { file_path: '/workspace/hello.txt', content: 'hello from the airlock\n' }
    }
  ]
}

describe.skipIf(!hasDocker)('Claude Code in the airlock against a fake Anthropic API', () => {
  let c: ClaudeRun
  let api: FakeAnthropic
  let run: ActionRun
  const id = runnerIdentity()

  beforeAll(async () => {
    c = await runClaude([
      WRITE_HELLO,
      {
        toolUses: [
          { name: 'Bash', input: { command: 'git status --short', description: 'Git status' } }
        ]
      },
      { text: FINAL_ANSWER }
    ])
    ;({ api, run } = c)
  }, 900_000)

  afterAll(async () => {
    await api?.close()
    removeRun(c)
  })

  it('runs the agent to completion and reports its answer, session and tokens', () => {
    expect(run.main.code, run.main.stdout + run.main.stderr).toBe(0)
    expect(run.main.errors).toEqual([])
    expect(run.outputs.conclusion).toBe('success')
    expect(run.outputs['exit-code']).toBe('0')
    expect(run.outputs.result).toBe(FINAL_ANSWER)
    expect(run.outputs['session-id']).toMatch(/^[0-9a-f-]{36}$/)
    // Three scripted turns, 100 input and 20 output tokens each, summed by the CLI.
    expect(run.outputs['input-tokens']).toBe('300')
    expect(run.outputs['output-tokens']).toBe('60')
  })

  it('the real key reached the API, injected by the proxy; every call was authorised', () => {
    // Start-up calls (policy limits, managed settings) carry the key too; the fake answers
    // them 404 ("nothing configured"), and every Messages call is authorised.
    expect(api.requests.length).toBeGreaterThanOrEqual(3)
    for (const r of api.requests) expect(r.headers['x-api-key'], r.url).toBe(REAL_KEY)
    for (const r of api.requests.filter((q) => q.path.startsWith('/v1/')))
      expect(r.status, r.url).toBe(200)
    const convo = api.conversation()
    expect(convo.map((r) => r.turn)).toEqual([0, 1, 2])
    expect(convo.every((r) => r.streamed && r.url === '/v1/messages?beta=true')).toBe(true)
  })

  it('the tools ran in the workspace: the file is the runner’s, git status saw it', () => {
    const file = join(c.workspace, 'hello.txt')
    expect(readFileSync(file, 'utf8')).toBe('hello from the airlock\n')
    expect(statSync(file).uid).toBe(id?.uid ?? process.getuid?.())
    const [afterWrite, afterBash] = [api.conversation()[1], api.conversation()[2]]
    expect(toolResults(afterWrite)).toHaveLength(1)
    expect(toolResults(afterWrite)[0]?.is_error).not.toBe(true)
    const status = toolResults(afterBash)[0]
    expect(status?.is_error).not.toBe(true)
    expect(resultText(status)).toContain('?? hello.txt')
  })

  it('never lets the real key out of the proxy: not in output, outputs, summary or logs', () => {
    expect(run.post.code).toBe(0)
    const unmask = (t: string): string => t.replace(/^::add-mask::.*$/gm, '')
    const network = readFileSync(run.outputs['network-log']!, 'utf8')
    expect(network).toContain('api.anthropic.com')
    expect(network).toContain('[injected:claude]')
    const everything = [
      unmask(run.main.stdout),
      run.main.stderr,
      run.post.stdout,
      run.post.stderr,
      run.summary,
      JSON.stringify(run.outputs),
      network
    ]
    for (const text of everything) expect(text).not.toContain(REAL_KEY)
    const logDir = join(run.outputs['network-log']!, '..')
    for (const f of filesUnder(logDir)) expect(readFileSync(f, 'utf8'), f).not.toContain(REAL_KEY)
  })
})

// Self-hosted runners often run as root, and then so does the container (with no
// capabilities). Claude Code refuses --dangerously-skip-permissions as root unless told it
// is in a sandbox, which this container is. This run also uses the runner's own runtime
// (Node 24) rather than the machine's Node.
describe.skipIf(!hasDocker)('Claude Code in the airlock when the runner is root', () => {
  let c: ClaudeRun

  beforeAll(async () => {
    c = await runClaude([WRITE_HELLO, { text: FINAL_ANSWER }], { asRoot: true, node: 'node24' })
  }, 900_000)

  afterAll(async () => {
    await c?.api.close()
    removeRun(c)
  })

  it('runs the agent with its permissions bypassed and finishes the task', () => {
    expect(c.run.main.code, c.run.main.stdout + c.run.main.stderr).toBe(0)
    expect(c.run.outputs.conclusion).toBe('success')
    expect(c.run.outputs.result).toBe(FINAL_ANSWER)
    expect(c.api.conversation().map((r) => r.turn)).toEqual([0, 1])
    expect(toolResults(c.api.conversation()[1])[0]?.is_error).not.toBe(true)
    expect(readFileSync(join(c.workspace, 'hello.txt'), 'utf8')).toBe('hello from the airlock\n')
    expect(c.run.post.code).toBe(0)
  })
})
