import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireDocker } from '../../support/docker.js'
import {
  startFakeOpenAI,
  type FakeOpenAI,
  type OpenAIRequest,
  type ScriptedTurn
} from '../../support/fake-openai.js'
import { runnerIdentity, type ActionRun } from '../../support/runner.js'
import {
  expectCompleted,
  expectKeyContained,
  FINAL_ANSWER,
  HELLO,
  PROMPT,
  networkEntries,
  removeAgentRun,
  runAgent,
  type AgentRun
} from './run-agent.js'

const HOST = 'api.openai.com'
// Shaped like a real OpenAI project key; the test checks that only the fake API sees it.
const REAL_KEY =
  'sk-proj-e2eRealLookingTestKey7Qm2xV9pL4kR8sT1wY6zB3nC5dF0gH2jK4lM6nP8qR0sT2uV4wX6yZ8aB0cD2eF' +
  'T3BlbkFJx3kQ9AAe2eRealLookingTestKeyTail0123456789abcdefXYZ'
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

type CodexRun = AgentRun<FakeOpenAI>

/** Codex from the registry against a fake OpenAI API that answers with script. */
function runCodex(script: ScriptedTurn[], opts: { websocket?: boolean } = {}): Promise<CodexRun> {
  return runAgent({
    agent: 'codex',
    host: HOST,
    keyInput: 'openai-api-key',
    realKey: REAL_KEY,
    startApi: (pki) => startFakeOpenAI({ pki, apiKey: REAL_KEY, script, ...opts })
  })
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

  afterAll(() => removeAgentRun(c))

  it('runs the agent to completion and reports its answer, session and tokens', () => {
    // The thread id Codex prints in `thread.started`.
    expectCompleted(run, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
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
    // The task reached the model whole, though it starts with `-` like an option.
    expect(JSON.stringify(convo[0]?.json)).toContain(PROMPT)
    expect(convo.every((r) => r.transport === 'websocket' && r.streamed)).toBe(true)
    // No fallback to HTTP streaming was needed.
    expect(http.filter((r) => r.method === 'POST')).toEqual([])
  })

  it('makes no call the allowlist refuses (plugin sync and analytics are off)', () => {
    const entries = networkEntries(run)
    expect(entries.filter((e) => e.blocked).map((e) => e.url)).toEqual([])
    expect(
      entries.some((e) => e.url === 'wss://api.openai.com/v1/responses' && e.status === 101)
    ).toBe(true)
  })

  it('the tool ran in the workspace: the file is the runner’s, git status saw it', () => {
    const file = join(c.workspace, 'hello.txt')
    expect(readFileSync(file, 'utf8')).toBe(HELLO)
    expect(statSync(file).uid).toBe(id?.uid ?? process.getuid?.())
    const outputs = toolOutputs(api.conversation()[1])
    expect(outputs).toHaveLength(1)
    expect(outputs[0]).toContain('?? hello.txt')
    expect(outputs[0]).toContain('exit code: 0')
  })

  it('never lets the real key out of the proxy: not in output, outputs, summary or logs', () => {
    expectKeyContained(run, REAL_KEY, HOST, 'codex')
  })
})

// Where a proxy or gateway refuses WebSocket upgrades, Codex falls back to streaming the
// same Responses API over HTTP (server-sent events); the proxy must carry that path too.
describe.skipIf(!hasDocker)('Codex CLI in the airlock when the API refuses WebSockets', () => {
  let c: CodexRun

  beforeAll(async () => {
    c = await runCodex(SCRIPT, { websocket: false })
  }, 900_000)

  afterAll(() => removeAgentRun(c))

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
    expect(readFileSync(join(c.workspace, 'hello.txt'), 'utf8')).toBe(HELLO)
    expect(run.post.code).toBe(0)
  })
})
