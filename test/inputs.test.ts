import { beforeAll, describe, expect, it, vi } from 'vitest'
import { InputError } from '../src/errors.js'
import { readInputs, splitArgs, splitList } from '../src/inputs.js'
import { registerAll } from '../src/providers/index.js'

beforeAll(() => registerAll())

function reader(values: Record<string, string>): (name: string) => string {
  return (name) => values[name] ?? ''
}

/** What `core.setSecret` registered: it prints `::add-mask::<value>` on stdout. */
function masked(fn: () => void): string[] {
  const lines: string[] = []
  const spy = vi
    .spyOn(process.stdout, 'write')
    .mockImplementation((chunk) => lines.push(String(chunk)) > 0)
  try {
    fn()
  } catch {
    // the caller asserts on the masks, not the outcome
  } finally {
    spy.mockRestore()
  }
  return lines.filter((l) => l.startsWith('::add-mask::')).map((l) => l.slice(12).trim())
}

function plan(values: Record<string, string>) {
  return readInputs(reader({ command: 'true', ...values }), { GITHUB_WORKSPACE: '/ws' })
}

function failure(values: Record<string, string>): InputError {
  try {
    plan(values)
  } catch (err) {
    expect(err).toBeInstanceOf(InputError)
    return err as InputError
  }
  throw new Error(`no error for ${JSON.stringify(values)}`)
}

describe('readInputs', () => {
  it('builds a plan with defaults', () => {
    const p = plan({})
    expect(p.command).toBe('true')
    expect(p.egressPolicy).toBe('block')
    expect(p.workspace).toBe('/ws')
    // A relative workspace is the checkout's `path:` under GITHUB_WORKSPACE.
    expect(plan({ workspace: 'sub/dir' }).workspace).toBe('/ws/sub/dir')
    expect(plan({ workspace: '/abs/elsewhere' }).workspace).toBe('/abs/elsewhere')
    expect(p.workspaceAccess).toBe('read-write')
    expect(p.timeoutMinutes).toBe(30)
    expect(p.image).toBe('node:22-bookworm')
    expect(p.grants).toEqual([])
    expect(Object.isFrozen(p)).toBe(true)
  })

  it('resolves grants by name and alias, dedupes, and puts the agent first', () => {
    const p = plan({
      agent: 'anthropic',
      prompt: 'x',
      grants: 'github, openai\nclaude\n# comment\ngoogle'
    })
    expect(p.agent).toBe('claude')
    expect(p.grants).toEqual(['claude', 'github', 'codex', 'gemini'])
  })

  it('an unknown provider names the input, the value, and every provider with aliases', () => {
    const err = failure({ grants: 'githbu' })
    expect(err.input).toBe('grants')
    expect(err.code).toBe('AIRLOCK_BAD_INPUT')
    expect(err.message).toBe(
      'grants: unknown provider "githbu" (did you mean github?). Known providers: aws, claude (anthropic), codex (openai), custom, gcp, gemini (google), github, npm'
    )
  })

  it('masks every secret input the moment it is read', () => {
    const masks = masked(() =>
      plan({
        'anthropic-api-key': 'sk-ant-real-1',
        'github-token': 'ghs_real',
        'github-app-private-key': '-----BEGIN KEY-----\nMIIEabcdefgh1234\n-----END KEY-----'
      })
    )
    expect(masks).toContain('sk-ant-real-1')
    expect(masks).toContain('ghs_real')
    expect(masks).toContain('MIIEabcdefgh1234')
  })

  it('masks secrets before failing on a later input', () => {
    expect(
      masked(() => plan({ 'openai-api-key': 'sk-secret-xyz', 'egress-policy': 'open' }))
    ).toContain('sk-secret-xyz')
  })

  it.each([
    [{ agent: 'copilot' }, 'agent', /unknown agent "copilot"/],
    [{ command: '' }, 'agent', /set `agent`.*or `command`/],
    [{ command: '', agent: 'codex' }, 'prompt', /needs a task/],
    [{ 'egress-policy': 'allow' }, 'egress-policy', /"allow" is not one of `block`, `audit`/],
    [{ 'workspace-access': 'rw' }, 'workspace-access', /"rw" is not one of/],
    [{ 'timeout-minutes': '10m' }, 'timeout-minutes', /not a number of minutes/],
    [{ 'timeout-minutes': '0' }, 'timeout-minutes', /outside 0.1-360/],
    [{ 'timeout-minutes': '999' }, 'timeout-minutes', /outside 0.1-360/],
    [{ 'aws-session-duration': '60' }, 'aws-session-duration', /outside 900-43200/],
    [
      { 'allowed-endpoints': 'https://example.com/path' },
      'allowed-endpoints',
      /example\.com\/path.*Expected a host name such as api\.example\.com, \*\.example\.com/
    ],
    [
      { 'allowed-endpoints': '*' },
      'allowed-endpoints',
      /^allowed-endpoints: "\*": a bare \* would allow every host\. Expected a host name[^]*\(plain HTTP\)\.$/
    ],
    [{ 'allowed-endpoints': '127.0.0.1' }, 'allowed-endpoints', /127\.0\.0\.1/],
    [{ 'allowed-endpoints': 'example.com:99999' }, 'allowed-endpoints', /99999/],
    [{ 'connect-to': 'api.github.com=127.0.0.1' }, 'connect-to', /host:port=target:port/],
    [{ 'connect-to': 'api.github.com:443' }, 'connect-to', /host:port=target:port/],
    [{ env: 'NOT VALID' }, 'env', /is not `NAME=value`/],
    [{ env: 'HTTPS_PROXY=http://evil' }, 'env', /HTTPS_PROXY is set by Airlock/],
    [{ env: 'node_options=--require x' }, 'env', /node_options is set by Airlock/],
    [{ env: 'GH_TOKEN=x' }, 'env', /GH_TOKEN/],
    [{ 'mcp-servers': '{nope' }, 'mcp-servers', /not valid JSON/],
    [{ 'mcp-servers': '{"servers":{}}' }, 'mcp-servers', /"mcpServers" object/],
    [{ 'mcp-servers': '{"mcpServers":{"a":{}}}' }, 'mcp-servers', /needs a "url" or a "command"/],
    [{ 'mcp-servers': '{"mcpServers":{"a":{"url":"ftp://x"}}}' }, 'mcp-servers', /https:\/\//],
    [{ 'custom-credentials': 'name: x' }, 'custom-credentials', /not a list/],
    [
      { 'custom-credentials': '- name: X\n  hosts: [a.example]\n  value: v' },
      'custom-credentials',
      /name must be lower-case/
    ],
    [
      { 'custom-credentials': '- name: a\n  hosts: []\n  value: v' },
      'custom-credentials',
      /hosts must list/
    ],
    [
      { 'custom-credentials': '- name: a\n  hosts: [a.example]' },
      'custom-credentials',
      /value is empty/
    ],
    [
      { 'custom-credentials': '- name: a\n  hosts: ["http://a.example"]\n  value: v' },
      'custom-credentials',
      /plain HTTP/
    ],
    [{ 'github-app-id': 'abc' }, 'github-app-id', /numeric/],
    [
      { 'github-app-permissions': 'contents' },
      'github-app-permissions',
      /permission:read\|write\|admin/
    ],
    [{ 'aws-role-arn': 'role/x' }, 'aws-role-arn', /not an IAM role ARN/],
    [{ 'aws-region': 'mars' }, 'aws-region', /not an AWS region/],
    [
      { 'gcp-workload-identity-provider': 'pool' },
      'gcp-workload-identity-provider',
      /projects\/<number>/
    ],
    [{ 'gcp-service-account': 'me@gmail.com' }, 'gcp-service-account', /service account email/],
    [{ image: 'bad image' }, 'image', /not an image reference/],
    [{ 'agent-version': 'latest' }, 'agent-version', /exact version/],
    [{ 'agent-args': '--flag "unterminated' }, 'agent-args', /unterminated " quote/],
    [{ 'audit-artifact': 'a/b' }, 'audit-artifact', /characters/]
  ])('rejects %j naming the input', (values, input, message) => {
    const err = failure(values)
    expect(err.input).toBe(input)
    expect(err.message.startsWith(`${input}: `)).toBe(true)
    expect(err.message).toMatch(message)
  })

  it('custom credentials never echo their value in errors, and add the custom grant', () => {
    const err = failure({
      'custom-credentials':
        '- name: a\n  hosts: [a.example]\n  value: supersecretvalue\n  env: PATH'
    })
    expect(err.message).not.toContain('supersecretvalue')
    const bad = failure({
      'custom-credentials': '- name: a\n  value: "supersecretvalue\n  hosts: ['
    })
    expect(bad.message).not.toContain('supersecretvalue')
    const ok = plan({
      'custom-credentials':
        '- name: acme\n  hosts: [api.acme.example]\n  header: X-Key\n  value: supersecretvalue\n  env: ACME_KEY'
    })
    expect(ok.grants).toEqual(['custom'])
    expect(ok.custom[0]).toMatchObject({
      name: 'acme',
      header: 'X-Key',
      env: 'ACME_KEY',
      hosts: ['api.acme.example']
    })
  })

  it('parses env, mcp servers, permissions and agent args', () => {
    const p = plan({
      env: 'FOO=bar=baz\n# note\nEMPTY=',
      'mcp-servers':
        '{"mcpServers":{"docs":{"url":"https://mcp.example/sse","headers":{"X":"1"}},"local":{"command":"node","args":["s.js"]}}}',
      'github-app-permissions': 'contents:read, pull_requests:write',
      'agent-args': `--model "big one" --flag 'it''s'`
    })
    expect(p.env).toEqual({ FOO: 'bar=baz', EMPTY: '' })
    expect(p.mcpServers).toEqual({
      docs: { url: 'https://mcp.example/sse', headers: { X: '1' } },
      local: { command: 'node', args: ['s.js'] }
    })
    expect(p.githubApp.permissions).toEqual({ contents: 'read', pull_requests: 'write' })
    expect(p.agentArgs).toEqual(['--model', 'big one', '--flag', 'its'])
  })
})

describe('github-app-permissions (parsed once, here)', () => {
  it('parses pairs and refuses anything else', () => {
    expect(
      plan({ 'github-app-permissions': 'contents:read, issues=write\npull_requests:write' })
        .githubApp.permissions
    ).toEqual({ contents: 'read', issues: 'write', pull_requests: 'write' })
    expect(plan({}).githubApp.permissions).toEqual({})
    expect(failure({ 'github-app-permissions': 'contents:everything' }).message).toContain(
      'contents:everything'
    )
  })
})

describe('secrets bound for the sandbox', () => {
  const TOKEN = 'ghs_realTokenValue1234567890'
  const KEY = 'sk-ant-api03-realkey-abcdefgh'
  const custom = `- {name: acme, hosts: [api.acme.example], header: X-Key, value: acme-real-value-99}`
  it.each([
    [{ command: `curl -H "Authorization: token ${TOKEN}" https://api.github.com` }, 'command'],
    [{ agent: 'claude', prompt: `use ${KEY} to call the API`, command: '' }, 'prompt'],
    [{ env: `MY_VAR=prefix-${TOKEN}` }, 'env'],
    [{ agent: 'claude', prompt: 'x', 'agent-args': `--header ${KEY}` }, 'agent-args'],
    [{ 'custom-credentials': custom, env: 'X=acme-real-value-99' }, 'env'],
    [
      { 'mcp-servers': JSON.stringify({ mcpServers: { a: { command: 'x', env: { T: TOKEN } } } }) },
      'mcp-servers'
    ],
    [
      {
        'mcp-servers': JSON.stringify({ mcpServers: { a: { url: `https://m.example/?k=${KEY}` } } })
      },
      'mcp-servers'
    ]
  ])('refuses a secret value in %j, naming the input and never the value', (values, input) => {
    const err = failure({ 'github-token': TOKEN, 'anthropic-api-key': KEY, ...values })
    expect(err.input).toBe(input)
    expect(err.message).toMatch(/placeholder/)
    expect(err.message).not.toContain(TOKEN)
    expect(err.message).not.toContain(KEY)
    expect(err.message).not.toContain('acme-real-value-99')
  })

  it.each(['Authorization', 'x-api-key', 'Cookie', 'X-Auth-Token', 'PRIVATE-TOKEN', 'X-Secret'])(
    'refuses an MCP credential header %s and says how to inject it instead',
    (header) => {
      const err = failure({
        'mcp-servers': JSON.stringify({
          mcpServers: { docs: { url: 'https://mcp.example.com/mcp', headers: { [header]: 'v' } } }
        })
      })
      expect(err.input).toBe('mcp-servers')
      expect(err.message).toContain('custom-credentials')
      expect(err.message).toContain('mcp.example.com')
    }
  )

  it('lets placeholders, short values and non-credential headers through', () => {
    const p = plan({
      'github-token': TOKEN,
      command: 'gh api user --header "Authorization: token $GH_TOKEN"',
      env: 'MAX_TOKENS=4096',
      'mcp-servers': JSON.stringify({
        mcpServers: { docs: { url: 'https://mcp.example.com/mcp', headers: { 'X-Team': 'a' } } }
      })
    })
    expect(p.env).toEqual({ MAX_TOKENS: '4096' })
  })
})

describe('helpers', () => {
  it('splitList handles commas, newlines, blanks and comments', () => {
    expect(splitList('a, b\n\n c # x\n# only comment\nd,')).toEqual(['a', 'b', 'c', 'd'])
  })
  it('splitArgs handles quotes and escapes', () => {
    expect(splitArgs('x', `a 'b c' "d \\"e\\"" f\\ g ''`)).toEqual(['a', 'b c', 'd "e"', 'f g', ''])
  })
})

describe('model, max-turns and max-budget-usd', () => {
  it('are read for the agent that can enforce them', () => {
    const p = plan({
      agent: 'claude',
      prompt: 'p',
      'anthropic-api-key': 'sk-ant-test-key-123456',
      model: 'claude-sonnet-4-5',
      'max-turns': '12',
      'max-budget-usd': '2.50'
    })
    expect([p.model, p.maxTurns, p.maxBudgetUsd]).toEqual(['claude-sonnet-4-5', 12, 2.5])
    const g = plan({
      agent: 'gemini',
      prompt: 'p',
      'gemini-api-key': 'AIzaTestKey1234567890',
      'max-turns': '3'
    })
    expect(g.maxTurns).toBe(3)
    expect(plan({}).model).toBe('')
  })

  it('refuse a limit the chosen agent cannot enforce, and any limit without an agent', () => {
    const codex = { agent: 'codex', prompt: 'p', 'openai-api-key': 'sk-test-openai-123456' }
    expect(failure({ ...codex, 'max-turns': '5' }).message).toMatch(
      /max-turns.*Codex CLI has no turn limit.*timeout-minutes/
    )
    expect(failure({ ...codex, 'max-budget-usd': '1' }).message).toMatch(
      /max-budget-usd.*only Claude Code/
    )
    expect(failure({ model: 'x' }).message).toMatch(/model applies to an agent/)
    const claude = { agent: 'claude', prompt: 'p', 'anthropic-api-key': 'sk-ant-test-key-123456' }
    expect(failure({ ...claude, 'max-turns': '0' }).message).toMatch(/max-turns/)
    expect(failure({ ...claude, 'max-budget-usd': '-1' }).message).toMatch(/not an amount/)
    expect(failure({ ...claude, model: 'a b' }).message).toMatch(/not a model name/)
    expect(failure({ ...claude, model: '--dangerous' }).message).toMatch(/not a model name/)
  })
})
