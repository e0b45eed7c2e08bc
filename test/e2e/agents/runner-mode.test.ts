/**
 * The real agent CLIs with `image: runner`: no image at all, the runner's own directories
 * read-only. Codex (a native binary) and Claude Code run a tool only the runner has (`gh`,
 * not in the test image); Gemini CLI (a Node bundle) runs on the runner's own `node` from
 * its /usr.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireDocker } from '../../support/docker.js'
import { startFakeAnthropic, type FakeAnthropic } from '../../support/fake-anthropic.js'
import { startFakeGemini, type FakeGemini } from '../../support/fake-gemini.js'
import { startFakeOpenAI, type FakeOpenAI } from '../../support/fake-openai.js'
import {
  expectCompleted,
  expectKeyContained,
  FINAL_ANSWER,
  HELLO,
  removeAgentRun,
  runAgent,
  type AgentRun
} from './run-agent.js'

const hasDocker = await requireDocker()
const OPENAI_KEY = 'sk-proj-e2eRunnerModeTestKey7Qm2xV9pL4kR8sT1wY6zB3nC5dF0gH2jK4lM6nP8qR0sT2uV4'
const GEMINI_KEY = 'AIzaSyE2eRunnerModeTestKey7Qm2xV9pL4k'
const ANTHROPIC_KEY =
  'sk-ant-api03-e2eRunnerModeTestKey_7Qm2xV9pL4kR8sT1wY6zB3nC5dF0gH2jK4lM6nP8qR0sT2uV4wX6yZ8aB0cD2eF-r7kQ9AA'

describe.skipIf(!hasDocker)('Codex CLI with image: runner', () => {
  let c: AgentRun<FakeOpenAI>

  beforeAll(async () => {
    c = await runAgent({
      agent: 'codex',
      host: 'api.openai.com',
      keyInput: 'openai-api-key',
      realKey: OPENAI_KEY,
      inputs: { image: 'runner' },
      startApi: (pki) =>
        startFakeOpenAI({
          pki,
          apiKey: OPENAI_KEY,
          script: [
            {
              calls: [
                {
                  shell:
                    "echo 'hello from the airlock' > /workspace/hello.txt && gh --version | head -1 && git status --short"
                }
              ]
            },
            { text: FINAL_ANSWER }
          ]
        })
    })
  }, 900_000)

  afterAll(() => removeAgentRun(c))

  it('completes the task in runner mode, using a tool only the runner has', () => {
    expectCompleted(c.run, /^[0-9a-f-]{36}$/)
    expect(c.run.main.stdout).toMatch(/runner mode: \/usr, \/etc, \/opt/)
    expect(readFileSync(join(c.workspace, 'hello.txt'), 'utf8')).toBe(HELLO)
    const convo = c.api.conversation()
    const sent = JSON.stringify(convo[1]?.json ?? {})
    expect(sent).toMatch(/gh version \d/)
    expect(sent).toContain('?? hello.txt')
  })

  it('never lets the real key out of the proxy', () => {
    expectKeyContained(c.run, OPENAI_KEY, 'api.openai.com', 'codex')
  })
})

describe.skipIf(!hasDocker)('Gemini CLI with image: runner (the runner’s own node)', () => {
  let c: AgentRun<FakeGemini>

  beforeAll(async () => {
    c = await runAgent({
      agent: 'gemini',
      host: 'generativelanguage.googleapis.com',
      keyInput: 'gemini-api-key',
      realKey: GEMINI_KEY,
      inputs: { image: 'runner' },
      startApi: (pki) =>
        startFakeGemini({
          pki,
          apiKey: GEMINI_KEY,
          script: [
            {
              calls: [
                { name: 'write_file', args: { file_path: '/workspace/hello.txt', content: HELLO } }
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
        })
    })
  }, 900_000)

  afterAll(() => removeAgentRun(c))

  it('completes the task in runner mode', () => {
    expectCompleted(c.run, /^[0-9a-f-]{36}$/)
    expect(c.run.main.stdout).toMatch(/runner mode: \/usr, \/etc, \/opt/)
    expect(readFileSync(join(c.workspace, 'hello.txt'), 'utf8')).toBe(HELLO)
  })

  it('never lets the real key out of the proxy', () => {
    expectKeyContained(c.run, GEMINI_KEY, 'generativelanguage.googleapis.com', 'gemini')
  })
})

describe.skipIf(!hasDocker)('Claude Code with image: runner', () => {
  let c: AgentRun<FakeAnthropic>

  beforeAll(async () => {
    c = await runAgent({
      agent: 'claude',
      host: 'api.anthropic.com',
      keyInput: 'anthropic-api-key',
      realKey: ANTHROPIC_KEY,
      inputs: { image: 'runner' },
      startApi: (pki) =>
        startFakeAnthropic({
          pki,
          apiKey: ANTHROPIC_KEY,
          script: [
            {
              toolUses: [
                {
                  name: 'Bash',
                  input: {
                    command:
                      "echo 'hello from the airlock' > /workspace/hello.txt && gh --version | head -1 && git status --short",
                    description: 'Write the file and show the tools'
                  }
                }
              ]
            },
            { text: FINAL_ANSWER }
          ]
        })
    })
  }, 900_000)

  afterAll(() => removeAgentRun(c))

  it('completes the task in runner mode, using a tool only the runner has', () => {
    expectCompleted(c.run)
    expect(c.run.main.stdout).toMatch(/runner mode: \/usr, \/etc, \/opt/)
    expect(readFileSync(join(c.workspace, 'hello.txt'), 'utf8')).toBe(HELLO)
    // The command's output went back to the model: the runner's gh, and git saw the file.
    const sent = JSON.stringify(c.api.conversation()[1]?.json ?? {})
    expect(sent).toMatch(/gh version \d/)
    expect(sent).toContain('?? hello.txt')
  })

  it('never lets the real key out of the proxy', () => {
    expectKeyContained(c.run, ANTHROPIC_KEY, 'api.anthropic.com', 'claude')
  })
})
