/**
 * Runner → sandbox through text inputs: a secret pasted into text that enters the container
 * as it is (command, prompt, env, agent-args, mcp-servers) would hand the agent the real
 * value and undo the airlock. The real action must refuse such a run before anything starts
 * (no grant, no proxy, no container), name the input, and never print the value.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { runAction, type ActionRun } from '../support/runner.js'
import { writeSuiteResults, type AttackResult } from './support/results.js'

const TOKEN = 'ghs_boundaryInputsSentinel000000000001'
const KEY = 'sk-ant-api03-boundaryInputsSentinel-000002'

interface Case {
  id: string
  attack: string
  inputs: Record<string, string>
  input: string
}

const CASES: Case[] = [
  {
    id: '48.1',
    attack: '`command` with `${{ github.token }}` pasted into a curl header',
    inputs: { command: `curl -H "Authorization: token ${TOKEN}" https://api.github.com/user` },
    input: 'command'
  },
  {
    id: '48.2',
    attack: '`prompt` carrying the Anthropic key',
    inputs: { agent: 'claude', prompt: `Use the key ${KEY}` },
    input: 'prompt'
  },
  {
    id: '48.3',
    attack: '`env: DEPLOY_TOKEN=<the job token>`',
    inputs: { command: 'true', env: `DEPLOY_TOKEN=${TOKEN}` },
    input: 'env'
  },
  {
    id: '48.4',
    attack: '`agent-args` carrying the key',
    inputs: { agent: 'claude', prompt: 'x', 'agent-args': `--api-key ${KEY}` },
    input: 'agent-args'
  },
  {
    id: '48.5',
    attack: '`mcp-servers` with an `Authorization` header for a remote MCP server',
    inputs: {
      command: 'true',
      'mcp-servers': JSON.stringify({
        mcpServers: {
          docs: { url: 'https://mcp.example.com/mcp', headers: { Authorization: 'Bearer abc' } }
        }
      })
    },
    input: 'mcp-servers'
  },
  {
    id: '48.6',
    attack: '`mcp-servers` stdio server with the job token in its `env`',
    inputs: {
      command: 'true',
      'mcp-servers': JSON.stringify({
        mcpServers: { gh: { command: 'gh-mcp', env: { GITHUB_PERSONAL_ACCESS_TOKEN: TOKEN } } }
      })
    },
    input: 'mcp-servers'
  }
]

describe('secrets pasted into text bound for the sandbox', () => {
  const results: AttackResult[] = []
  afterAll(() => writeSuiteResults('boundary-inputs', results))

  it.each(CASES)('$id $attack is refused before anything starts', async (c) => {
    const run: ActionRun = await runAction({
      inputs: { 'anthropic-api-key': KEY, ...c.inputs },
      githubToken: TOKEN,
      skipPost: true
    })
    const problems: string[] = []
    if (run.main.code === 0) problems.push('main succeeded')
    if (!run.main.errors.some((e) => e.includes(`${c.input}:`)))
      problems.push(`no ::error:: naming ${c.input}: ${run.main.errors.join(' | ')}`)
    // Nothing started: the run id is saved the moment anything with side effects begins.
    if (run.state['run-id']) problems.push('a run started (state has a run id)')
    const printed = [run.main.stdout, run.main.stderr, run.summary, JSON.stringify(run.outputs)]
      .join('\n')
      .split('\n')
      .filter((l) => !l.startsWith('::add-mask::'))
      .join('\n')
    for (const s of [TOKEN, KEY]) if (printed.includes(s)) problems.push('the secret was printed')
    results.push({
      id: c.id,
      cls: 48,
      attack: c.attack,
      outcome:
        problems.length === 0
          ? `refused before anything starts (names \`${c.input}\`)`
          : problems.join('; '),
      verdict: problems.length === 0 ? 'pass' : 'fail'
    })
    expect(problems).toEqual([])
  })
})
