import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireDocker } from '../../support/docker.js'
import {
  startFakeAnthropic,
  type AnthropicRequest,
  type FakeAnthropic,
  type ScriptedTurn
} from '../../support/fake-anthropic.js'
import { runnerIdentity, type ActionRun, type NodeName } from '../../support/runner.js'
import {
  expectCompleted,
  expectKeyContained,
  FINAL_ANSWER,
  HELLO,
  PROMPT,
  removeAgentRun,
  runAgent,
  startGcpWorld,
  type AgentRun,
  type GcpWorld
} from './run-agent.js'

const HOST = 'api.anthropic.com'
// Shaped like a real Anthropic API key (what the CLI and the API would accept); the test
// checks that only the fake API ever sees it.
const REAL_KEY =
  'sk-ant-api03-e2eRealLookingTestKey_7Qm2xV9pL4kR8sT1wY6zB3nC5dF0gH2jK4lM6nP8qR0sT2uV4wX6yZ8aB0cD2eF-x3kQ9AA'
const hasDocker = await requireDocker()

/**
 * The tool_result blocks the CLI sent back in a Messages request: those in the user messages
 * after the last assistant turn (with a budget set, the CLI adds a reminder message of its
 * own after the results).
 */
function toolResults(r: AnthropicRequest | undefined): Array<Record<string, unknown>> {
  const msgs = (r?.json?.messages ?? []) as Array<{ role: string; content: unknown }>
  const lastAssistant = msgs.map((m) => m.role).lastIndexOf('assistant')
  return msgs
    .slice(lastAssistant + 1)
    .filter((m) => m.role === 'user' && Array.isArray(m.content))
    .flatMap((m) => m.content as Array<Record<string, unknown>>)
    .filter((b) => b.type === 'tool_result')
}

function resultText(block: Record<string, unknown> | undefined): string {
  const c = block?.content
  if (typeof c === 'string') return c
  if (Array.isArray(c)) return c.map((p: { text?: string }) => p.text ?? '').join('')
  return ''
}

type ClaudeRun = AgentRun<FakeAnthropic>

/** Claude Code from the registry against a fake Anthropic API that answers with script. */
function runClaude(
  script: ScriptedTurn[],
  opts: { asRoot?: boolean; node?: NodeName; inputs?: Record<string, string> } = {}
): Promise<ClaudeRun> {
  return runAgent({
    agent: 'claude',
    host: HOST,
    keyInput: 'anthropic-api-key',
    realKey: REAL_KEY,
    startApi: (pki) => startFakeAnthropic({ pki, apiKey: REAL_KEY, script }),
    ...opts
  })
}

/** A model name only this test uses: the CLI passes it through as given. */
const TEST_MODEL = 'claude-airlock-e2e-1'

const WRITE_HELLO: ScriptedTurn = {
  text: 'I will create the file.',
  toolUses: [
    {
      name: 'Write',
      input: { file_path: '/workspace/hello.txt', content: HELLO }
    }
  ]
}

describe.skipIf(!hasDocker)('Claude Code in the airlock against a fake Anthropic API', () => {
  let c: ClaudeRun
  let api: FakeAnthropic
  let run: ActionRun
  const id = runnerIdentity()

  beforeAll(async () => {
    c = await runClaude(
      [
        WRITE_HELLO,
        {
          toolUses: [
            { name: 'Bash', input: { command: 'git status --short', description: 'Git status' } }
          ]
        },
        { text: FINAL_ANSWER }
      ],
      { inputs: { model: TEST_MODEL, 'max-turns': '10', 'max-budget-usd': '5' } }
    )
    ;({ api, run } = c)
  }, 900_000)

  afterAll(() => removeAgentRun(c))

  it('runs the agent to completion and reports its answer, session and tokens', () => {
    expectCompleted(run)
    // The `model` input reached the API in every turn of the conversation; the cost is the
    // CLI's own figure, as an amount.
    const turns = api.requests.filter((r) => typeof r.turn === 'number')
    expect(turns.length).toBeGreaterThan(0)
    for (const r of turns) expect(r.json?.model).toBe(TEST_MODEL)
    expect(run.outputs['cost-usd']).toMatch(/^\d+\.\d{4}$/)
    // Three scripted turns, 100 input and 20 output tokens each, summed by the CLI.
    expect(run.outputs['input-tokens']).toBe('300')
    expect(run.outputs['output-tokens']).toBe('60')
  })

  it('the real key reached the API, injected by the proxy; every call was authorised', () => {
    // Start-up calls (policy limits, managed settings) carry the key too; the fake answers
    // them 404 ("nothing configured"), and every Messages call is authorised.
    expect(api.requests.length).toBeGreaterThanOrEqual(3)
    // Main checked the key before starting anything (from the runner, not the container).
    expect(`${api.requests[0]?.method} ${api.requests[0]?.url}`).toBe('GET /v1/models?limit=1')
    for (const r of api.requests) expect(r.headers['x-api-key'], r.url).toBe(REAL_KEY)
    for (const r of api.requests.filter((q) => q.path.startsWith('/v1/')))
      expect(r.status, r.url).toBe(200)
    const convo = api.conversation()
    expect(convo.map((r) => r.turn)).toEqual([0, 1, 2])
    // The task reached the model whole, though it starts with `-` like an option.
    expect(JSON.stringify(convo[0]?.json)).toContain(PROMPT)
    expect(convo.every((r) => r.streamed && r.url === '/v1/messages?beta=true')).toBe(true)
  })

  it('the tools ran in the workspace: the file is the runner’s, git status saw it', () => {
    const file = join(c.workspace, 'hello.txt')
    expect(readFileSync(file, 'utf8')).toBe(HELLO)
    expect(statSync(file).uid).toBe(id?.uid ?? process.getuid?.())
    const [afterWrite, afterBash] = [api.conversation()[1], api.conversation()[2]]
    expect(toolResults(afterWrite)).toHaveLength(1)
    expect(toolResults(afterWrite)[0]?.is_error).not.toBe(true)
    const status = toolResults(afterBash)[0]
    expect(status?.is_error).not.toBe(true)
    expect(resultText(status)).toContain('?? hello.txt')
  })

  it('never lets the real key out of the proxy: not in output, outputs, summary or logs', () => {
    expectKeyContained(run, REAL_KEY, HOST, 'claude')
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

  afterAll(() => removeAgentRun(c))

  it('runs the agent with its permissions bypassed and finishes the task', () => {
    expect(c.run.main.code, c.run.main.stdout + c.run.main.stderr).toBe(0)
    expect(c.run.outputs.conclusion).toBe('success')
    expect(c.run.outputs.result).toBe(FINAL_ANSWER)
    expect(c.api.conversation().map((r) => r.turn)).toEqual([0, 1])
    expect(toolResults(c.api.conversation()[1])[0]?.is_error).not.toBe(true)
    expect(readFileSync(join(c.workspace, 'hello.txt'), 'utf8')).toBe(HELLO)
    expect(c.run.post.code).toBe(0)
  })
})

// No Anthropic key at all: the gcp grant (GitHub OIDC → Google STS → service account) is
// the credential, Claude Code is told to use Vertex AI and skip Google auth, and the proxy
// adds the access token on the regional Vertex host.
describe.skipIf(!hasDocker)('Claude Code on Vertex AI through the gcp grant', () => {
  const REGION = 'us-east5'
  const VERTEX = `${REGION}-aiplatform.googleapis.com`
  const PROJECT = 'airlock-vertex-42'
  let c: ClaudeRun
  let gcp: GcpWorld

  beforeAll(async () => {
    gcp = await startGcpWorld(VERTEX, PROJECT)
    c = await runAgent({
      agent: 'claude',
      host: VERTEX,
      ...gcp.grant,
      startApi: (p) =>
        startFakeAnthropic({
          pki: p,
          // No Anthropic key exists in this run; only the Google token opens the fake.
          apiKey: 'sk-ant-api03-none-in-this-run',
          script: [WRITE_HELLO, { text: FINAL_ANSWER }],
          vertex: { accepts: gcp.accepts }
        })
    })
  }, 900_000)

  afterAll(async () => {
    await removeAgentRun(c)
    await gcp?.close()
  })

  it('finishes the task calling streamRawPredict with the service account token', () => {
    const { run, api } = c
    expectCompleted(run)
    const convo = api.conversation()
    expect(convo.map((r) => r.turn)).toEqual([0, 1])
    for (const r of convo) {
      expect(r.vertex).toMatchObject({ project: PROJECT, region: REGION })
      expect(r.vertex?.method).toBe('streamRawPredict')
      expect(r.streamed).toBe(true)
      expect(gcp.minted()).toContain(String(r.headers.authorization).replace(/^Bearer /, ''))
    }
    // Every call went to Vertex; nothing tried api.anthropic.com.
    expect(api.requests.every((r) => r.vertex !== undefined)).toBe(true)
    expect(toolResults(convo[1])[0]?.is_error).not.toBe(true)
    expect(readFileSync(join(c.workspace, 'hello.txt'), 'utf8')).toBe(HELLO)
  })

  it('keeps the Google token and the OIDC request token out of the container and the logs', () => {
    expectKeyContained(c.run, gcp.minted()[0]!, VERTEX, 'gcp')
    expectKeyContained(c.run, gcp.issuer.requestToken, VERTEX, 'gcp')
  })
})
