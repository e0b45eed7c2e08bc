import { execFileSync } from 'node:child_process'
import { filesUnder } from '../../support/files.js'
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureTestImage, requireDocker, TEST_IMAGE } from '../../support/docker.js'
import {
  startFakeOpenAI,
  type FakeOpenAI,
  type OpenAIRequest,
  type ScriptedTurn
} from '../../support/fake-openai.js'
import { runAction, runnerIdentity, runnerTempDir, type ActionRun } from '../../support/runner.js'
import { createTestPki } from '../../support/test-ca.js'

// Shaped like a real OpenAI project key; the test checks that only the fake API sees it.
const REAL_KEY =
  'sk-proj-e2eRealLookingTestKey7Qm2xV9pL4kR8sT1wY6zB3nC5dF0gH2jK4lM6nP8qR0sT2uV4wX6yZ8aB0cD2eF' +
  'T3BlbkFJx3kQ9AAe2eRealLookingTestKeyTail0123456789abcdefXYZ'
const FINAL_ANSWER = 'Created hello.txt in the workspace; git status shows it as untracked.'
const TOOL_CACHE = '/tmp/airlock-tool-cache'
const hasDocker = await requireDocker()

/** The text of the tool outputs (custom or function call) a Responses request sends back. */
function toolOutputs(r: OpenAIRequest | undefined): string[] {
  const input = (r?.json?.input ?? []) as Array<Record<string, unknown>>
  return input
    .filter((i) => i.type === 'custom_tool_call_output' || i.type === 'function_call_output')
    .map((i) =>
      typeof i.output === 'string'
        ? i.output
        : Array.isArray(i.output)
          ? (i.output as Array<{ text?: string }>).map((p) => p.text ?? '').join('\n')
          : JSON.stringify(i.output)
    )
}

interface CodexRun {
  api: FakeOpenAI
  run: ActionRun
  workspace: string
}

/**
 * Runs the built action with `agent: codex` against a fake OpenAI API that answers with
 * `script`, in a fresh git workspace; the CLI comes from the npm registry (or the tool cache).
 */
async function runCodex(
  script: ScriptedTurn[],
  opts: { websocket?: boolean } = {}
): Promise<CodexRun> {
  await ensureTestImage()
  const pki = await createTestPki(['api.openai.com'])
  // The steps run as the runner's uid, which must read the CA file (upstream-ca).
  chmodSync(pki.dir, 0o755)
  const api = await startFakeOpenAI({ pki, apiKey: REAL_KEY, script, ...opts })
  const workspace = runnerTempDir('airlock-e2e-codex-')
  execFileSync('git', ['init', '-q', workspace])
  const id = runnerIdentity()
  if (id) execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, workspace])
  // The ~170 MB CLI download is kept across runs (the tool cache is keyed by version).
  mkdirSync(TOOL_CACHE, { recursive: true, mode: 0o777 })
  chmodSync(TOOL_CACHE, 0o777)
  if (id) chownSync(TOOL_CACHE, id.uid, id.gid)
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
      agent: 'codex',
      prompt: 'Create hello.txt in the workspace, then show git status.',
      'openai-api-key': REAL_KEY,
      image: TEST_IMAGE,
      'connect-to': `api.openai.com:443=127.0.0.1:${api.port}`,
      'upstream-ca': pki.caFile,
      'timeout-minutes': '10'
    },
    timeoutMs: 900_000
  })
  return { api, run, workspace }
}

/** Removes what a run left on disk (the runner's temp holds the CLI download on a first run). */
function removeRun(r: CodexRun | undefined): void {
  if (!r) return
  rmSync(r.run.runnerTemp, { recursive: true, force: true })
  rmSync(r.run.dir, { recursive: true, force: true })
  rmSync(r.workspace, { recursive: true, force: true })
}

const SCRIPT: ScriptedTurn[] = [
  {
    calls: [{ shell: "echo 'hello from the airlock' > /workspace/hello.txt && git status --short" }]
  },
  { text: FINAL_ANSWER }
]

describe.skipIf(!hasDocker)('Codex CLI in the airlock against a fake OpenAI API', () => {
  let c: CodexRun
  let api: FakeOpenAI
  let run: ActionRun
  const id = runnerIdentity()

  beforeAll(async () => {
    c = await runCodex(SCRIPT)
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
    // The thread id Codex prints in `thread.started`.
    expect(run.outputs['session-id']).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
    )
    // Two scripted responses, 100 input and 20 output tokens each, summed by the CLI (the
    // warm-up response does not count).
    expect(run.outputs['input-tokens']).toBe('200')
    expect(run.outputs['output-tokens']).toBe('40')
  })

  it('talks to the API over a WebSocket through the proxy, with the real key injected', () => {
    // Codex's main path: one upgrade on /v1/responses, then response.create messages on it.
    const upgrades = api.requests.filter((r) => r.status === 101)
    expect(upgrades.length).toBeGreaterThanOrEqual(1)
    for (const u of upgrades) {
      expect(u.path).toBe('/v1/responses')
      expect(u.headers.upgrade?.toLowerCase()).toBe('websocket')
    }
    // Every HTTP request (upgrades included) carried the real key, and none was refused.
    const http = api.requests.filter((r) => r.transport === 'http')
    for (const r of http) {
      expect(r.headers.authorization, r.url).toBe(`Bearer ${REAL_KEY}`)
      expect(r.status, r.url).toBeLessThan(400)
    }
    const convo = api.conversation()
    expect(convo.map((r) => r.turn)).toEqual([0, 1])
    expect(convo.every((r) => r.transport === 'websocket' && r.streamed)).toBe(true)
    // No fallback to HTTP streaming was needed.
    expect(http.filter((r) => r.method === 'POST')).toEqual([])
  })

  it('makes no call the allowlist refuses (plugin sync and analytics are off)', () => {
    const entries = readFileSync(run.outputs['network-log']!, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { url: string; status?: number; blocked?: string })
    expect(entries.filter((e) => e.blocked).map((e) => e.url)).toEqual([])
    expect(
      entries.some((e) => e.url === 'wss://api.openai.com/v1/responses' && e.status === 101)
    ).toBe(true)
  })

  it('the tool ran in the workspace: the file is the runner’s, git status saw it', () => {
    const file = join(c.workspace, 'hello.txt')
    expect(readFileSync(file, 'utf8')).toBe('hello from the airlock\n')
    expect(statSync(file).uid).toBe(id?.uid ?? process.getuid?.())
    const outputs = toolOutputs(api.conversation()[1])
    expect(outputs).toHaveLength(1)
    expect(outputs[0]).toContain('?? hello.txt')
    expect(outputs[0]).toContain('exit code: 0')
  })

  it('never lets the real key out of the proxy: not in output, outputs, summary or logs', () => {
    expect(run.post.code).toBe(0)
    const unmask = (t: string): string => t.replace(/^::add-mask::.*$/gm, '')
    const network = readFileSync(run.outputs['network-log']!, 'utf8')
    expect(network).toContain('api.openai.com')
    expect(network).toContain('[injected:codex]')
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

// Where a proxy or gateway refuses WebSocket upgrades, Codex falls back to streaming the
// same Responses API over HTTP (server-sent events); the proxy must carry that path too.
describe.skipIf(!hasDocker)('Codex CLI in the airlock when the API refuses WebSockets', () => {
  let c: CodexRun

  beforeAll(async () => {
    c = await runCodex(SCRIPT, { websocket: false })
  }, 900_000)

  afterAll(async () => {
    await c?.api.close()
    removeRun(c)
  })

  it('falls back to POST /v1/responses with server-sent events and finishes the task', () => {
    const { api, run } = c
    expect(run.main.code, run.main.stdout + run.main.stderr).toBe(0)
    expect(run.outputs.conclusion).toBe('success')
    expect(run.outputs.result).toBe(FINAL_ANSWER)
    expect(run.outputs['input-tokens']).toBe('200')
    expect(api.requests.some((r) => r.path === '/v1/responses' && r.status === 426)).toBe(true)
    const convo = api.conversation()
    expect(convo.map((r) => r.turn)).toEqual([0, 1])
    for (const r of convo) {
      expect(r.transport).toBe('http')
      expect(r.method).toBe('POST')
      expect(r.streamed).toBe(true)
      expect(r.headers.authorization).toBe(`Bearer ${REAL_KEY}`)
    }
    expect(toolOutputs(convo[1])[0]).toContain('?? hello.txt')
    expect(readFileSync(join(c.workspace, 'hello.txt'), 'utf8')).toBe('hello from the airlock\n')
    expect(run.post.code).toBe(0)
  })
})
