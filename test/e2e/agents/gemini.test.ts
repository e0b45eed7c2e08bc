import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireDocker } from '../../support/docker.js'
import {
  startFakeGemini,
  type FakeGemini,
  type GeminiRequest,
  type ScriptedTurn
} from '../../support/fake-gemini.js'
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
  startGcpWorld,
  type AgentRun,
  type GcpWorld
} from './run-agent.js'

const HOST = 'generativelanguage.googleapis.com'
// Shaped like a real Gemini API key (`AIza` + 35 characters); the test checks that only the
// fake API ever sees it.
const REAL_KEY = 'AIzaSyE2eRealLookingTestKey7Qm2xV9pL4kR'
const PLACEHOLDER = 'AIzaAirlockPlaceholderNotARealKey000000'
const hasDocker = await requireDocker()

/** The functionResponse parts the CLI sent back in a request's last user turn. */
function functionResponses(r: GeminiRequest | undefined): Array<Record<string, unknown>> {
  const contents = (r?.json?.contents ?? []) as Array<{ role?: string; parts?: unknown[] }>
  const last = contents.at(-1)
  if (!last || last.role !== 'user' || !Array.isArray(last.parts)) return []
  return (last.parts as Array<{ functionResponse?: Record<string, unknown> }>)
    .map((p) => p.functionResponse)
    .filter((f): f is Record<string, unknown> => f !== undefined)
}

type GeminiRun = AgentRun<FakeGemini>

/** Gemini CLI from the registry against a fake Gemini API that answers with script. */
function runGemini(script: ScriptedTurn[]): Promise<GeminiRun> {
  return runAgent({
    agent: 'gemini',
    host: HOST,
    keyInput: 'gemini-api-key',
    realKey: REAL_KEY,
    startApi: (pki) => startFakeGemini({ pki, apiKey: REAL_KEY, script })
  })
}

const SCRIPT: ScriptedTurn[] = [
  {
    calls: [
      {
        name: 'write_file',
        args: { file_path: '/workspace/hello.txt', content: HELLO }
      }
    ]
  },
  {
    calls: [
      {
        name: 'run_shell_command',
        args: { command: 'git status --short', description: 'Show the git status.' }
      }
    ]
  },
  { text: FINAL_ANSWER }
]

describe.skipIf(!hasDocker)('Gemini CLI in the airlock against a fake Gemini API', () => {
  let c: GeminiRun
  let api: FakeGemini
  let run: ActionRun
  const id = runnerIdentity()

  beforeAll(async () => {
    c = await runGemini(SCRIPT)
    ;({ api, run } = c)
  }, 900_000)

  afterAll(() => removeAgentRun(c))

  it('runs the agent to completion and reports its answer, session and tokens', () => {
    expectCompleted(run, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    // The CLI sums every call it made over all models (the router's included); the fake
    // reports 100 input and 20 output tokens per answer.
    const answered = api.requests.filter((r) => r.usage).length
    expect(answered).toBeGreaterThanOrEqual(3)
    expect(run.outputs['input-tokens']).toBe(String(100 * answered))
    expect(run.outputs['output-tokens']).toBe(String(20 * answered))
  })

  it('the real key reached the API in x-goog-api-key, injected by the proxy', () => {
    for (const r of api.requests) {
      expect(r.headers['x-goog-api-key'], r.url).toBe(REAL_KEY)
      expect(r.keyParam, r.url).not.toBe(PLACEHOLDER)
      expect(r.status, r.url).toBe(200)
    }
    // Main checked the key first (GET /v1beta/models, from the runner, not the container).
    expect(api.requests[0]?.method).toBe('GET')
    expect(api.requests[0]?.path).toBe('/v1beta/models')
    // Then the router asks a flash-lite model for JSON; then the main conversation streams.
    const router = api.requests.filter((r) => r.rpc)[0]
    expect(router?.rpc).toBe('generateContent')
    expect(router?.model).toMatch(/flash-lite/)
    expect(router?.turn).toBe('side')
    const convo = api.conversation()
    expect(convo.map((r) => r.turn)).toEqual([0, 1, 2])
    // The task reached the model whole, though it starts with `-` like an option.
    expect(JSON.stringify(convo[0]?.json)).toContain(PROMPT)
    for (const r of convo) {
      expect(r.rpc).toBe('streamGenerateContent')
      expect(r.url).toMatch(/\?alt=sse$/)
      expect(r.streamed).toBe(true)
      expect(r.tools).toEqual(expect.arrayContaining(['write_file', 'run_shell_command']))
    }
  })

  it('the tools ran in the workspace: the file is the runner’s, git status saw it', () => {
    const file = join(c.workspace, 'hello.txt')
    expect(readFileSync(file, 'utf8')).toBe(HELLO)
    expect(statSync(file).uid).toBe(id?.uid ?? process.getuid?.())
    const [, afterWrite, afterShell] = api.conversation()
    const written = functionResponses(afterWrite)
    expect(written.map((f) => f.name)).toEqual(['write_file'])
    expect(JSON.stringify(written[0]?.response)).not.toMatch(/"error"/)
    const status = functionResponses(afterShell)
    expect(status.map((f) => f.name)).toEqual(['run_shell_command'])
    expect(JSON.stringify(status[0]?.response)).toContain('?? hello.txt')
  })

  it('makes no call the allowlist refuses', () => {
    const entries = networkEntries(run)
    expect(entries.filter((e) => e.blocked).map((e) => e.url)).toEqual([])
    expect(entries.filter((e) => e.url.includes(':streamGenerateContent')).length).toBe(3)
  })

  it('never lets the real key out of the proxy: not in output, outputs, summary or logs', () => {
    expectKeyContained(run, REAL_KEY, HOST, 'gemini')
  })
})

// No Gemini key: the gcp grant (GitHub OIDC → Google STS → service account) is the
// credential. Gemini CLI runs with Vertex AI auth, finds Application Default Credentials on
// the proxy's metadata server (a placeholder token), and the proxy swaps in the real token.
describe.skipIf(!hasDocker)('Gemini CLI on Vertex AI through the gcp grant', () => {
  const LOCATION = 'us-central1'
  const VERTEX = `${LOCATION}-aiplatform.googleapis.com`
  const PROJECT = 'airlock-gemini-42'
  let c: GeminiRun
  let gcp: GcpWorld

  beforeAll(async () => {
    gcp = await startGcpWorld(VERTEX, PROJECT)
    c = await runAgent({
      agent: 'gemini',
      host: VERTEX,
      ...gcp.grant,
      startApi: (p) =>
        startFakeGemini({
          pki: p,
          apiKey: 'AIza-no-key-in-this-run',
          script: SCRIPT,
          vertex: { accepts: gcp.accepts }
        })
    })
  }, 900_000)

  afterAll(async () => {
    await removeAgentRun(c)
    await gcp?.close()
  })

  it('finishes the task on Vertex AI with the service account token', () => {
    const { run, api } = c
    expectCompleted(run, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    const convo = api.conversation()
    expect(convo.map((r) => r.turn)).toEqual([0, 1, 2])
    for (const r of api.requests) {
      expect(r.vertex, r.url).toEqual({ project: PROJECT, location: LOCATION })
      expect(gcp.minted()).toContain(String(r.headers.authorization).replace(/^Bearer /, ''))
      expect(r.status, r.url).toBe(200)
    }
    expect(readFileSync(join(c.workspace, 'hello.txt'), 'utf8')).toBe(HELLO)
  })

  it('got its token from the metadata server on the proxy, and never the real one', () => {
    const entries = networkEntries(c.run)
    expect(
      entries.some(
        (e) =>
          e.url.startsWith(
            'http://airlock.internal/computeMetadata/v1/instance/service-accounts/default/token'
          ) && e.status === 200
      ),
      JSON.stringify(entries.map((e) => e.url))
    ).toBe(true)
    expect(entries.filter((e) => e.blocked).map((e) => e.url)).toEqual([])
    expectKeyContained(c.run, gcp.minted()[0]!, VERTEX, 'gcp')
  })
})
