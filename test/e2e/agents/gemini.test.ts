import { execFileSync } from 'node:child_process'
import { filesUnder } from '../../support/files.js'
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureTestImage, requireDocker, TEST_IMAGE } from '../../support/docker.js'
import {
  startFakeGemini,
  type FakeGemini,
  type GeminiRequest,
  type ScriptedTurn
} from '../../support/fake-gemini.js'
import { runAction, runnerIdentity, runnerTempDir, type ActionRun } from '../../support/runner.js'
import { createTestPki } from '../../support/test-ca.js'

const HOST = 'generativelanguage.googleapis.com'
// Shaped like a real Gemini API key (`AIza` + 35 characters); the test checks that only the
// fake API ever sees it.
const REAL_KEY = 'AIzaSyE2eRealLookingTestKey7Qm2xV9pL4kR'
const PLACEHOLDER = 'AIzaAirlockPlaceholderNotARealKey000000'
const FINAL_ANSWER = 'Created hello.txt in the workspace; git status shows it as untracked.'
const TOOL_CACHE = '/tmp/airlock-tool-cache'
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

interface GeminiRun {
  api: FakeGemini
  run: ActionRun
  workspace: string
}

/**
 * Runs the built action with `agent: gemini` against a fake Gemini API that answers with
 * `script`, in a fresh git workspace; the CLI comes from the npm registry (or the tool cache).
 */
async function runGemini(script: ScriptedTurn[]): Promise<GeminiRun> {
  await ensureTestImage()
  const pki = await createTestPki([HOST])
  // The steps run as the runner's uid, which must read the CA file (upstream-ca).
  chmodSync(pki.dir, 0o755)
  const api = await startFakeGemini({ pki, apiKey: REAL_KEY, script })
  const workspace = runnerTempDir('airlock-e2e-gemini-')
  execFileSync('git', ['init', '-q', workspace])
  const id = runnerIdentity()
  if (id) execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, workspace])
  // The CLI download is kept across runs (the tool cache is keyed by version).
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
      agent: 'gemini',
      prompt: 'Create hello.txt in the workspace, then show git status.',
      'gemini-api-key': REAL_KEY,
      image: TEST_IMAGE,
      'connect-to': `${HOST}:443=127.0.0.1:${api.port}`,
      'upstream-ca': pki.caFile,
      'timeout-minutes': '10'
    },
    timeoutMs: 900_000
  })
  return { api, run, workspace }
}

/** Removes what a run left on disk (the runner's temp holds the CLI download on a first run). */
function removeRun(r: GeminiRun | undefined): void {
  if (!r) return
  rmSync(r.run.runnerTemp, { recursive: true, force: true })
  rmSync(r.run.dir, { recursive: true, force: true })
  rmSync(r.workspace, { recursive: true, force: true })
}

const SCRIPT: ScriptedTurn[] = [
  {
    calls: [
      {
        name: 'write_file',
        args: { file_path: '/workspace/hello.txt', content: 'hello from the airlock\n' }
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
    expect(run.outputs['session-id']).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
    )
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
    // The router asks a flash-lite model for JSON first; then the main conversation streams.
    const router = api.requests[0]
    expect(router?.rpc).toBe('generateContent')
    expect(router?.model).toMatch(/flash-lite/)
    expect(router?.turn).toBe('side')
    const convo = api.conversation()
    expect(convo.map((r) => r.turn)).toEqual([0, 1, 2])
    for (const r of convo) {
      expect(r.rpc).toBe('streamGenerateContent')
      expect(r.url).toMatch(/\?alt=sse$/)
      expect(r.streamed).toBe(true)
      expect(r.tools).toEqual(expect.arrayContaining(['write_file', 'run_shell_command']))
    }
  })

  it('the tools ran in the workspace: the file is the runner’s, git status saw it', () => {
    const file = join(c.workspace, 'hello.txt')
    expect(readFileSync(file, 'utf8')).toBe('hello from the airlock\n')
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
    const entries = readFileSync(run.outputs['network-log']!, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { url: string; status?: number; blocked?: string })
    expect(entries.filter((e) => e.blocked).map((e) => e.url)).toEqual([])
    expect(entries.filter((e) => e.url.includes(':streamGenerateContent')).length).toBe(3)
  })

  it('never lets the real key out of the proxy: not in output, outputs, summary or logs', () => {
    expect(run.post.code).toBe(0)
    const unmask = (t: string): string => t.replace(/^::add-mask::.*$/gm, '')
    const network = readFileSync(run.outputs['network-log']!, 'utf8')
    expect(network).toContain(HOST)
    expect(network).toContain('[injected:gemini]')
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
