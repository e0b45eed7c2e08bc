import { describe, expect, it } from 'vitest'
import { actionYml, NODES, parseCommandFile, runAction, type NodeName } from '../support/runner.js'

describe('action.yml', () => {
  it('runs main and post on node24, post always', () => {
    const yml = actionYml()
    expect(yml.runs).toEqual({
      using: 'node24',
      main: 'dist/main/index.js',
      post: 'dist/post/index.js',
      'post-if': 'always()'
    })
  })

  it('declares every input and output of the contract with a description and default', () => {
    const yml = actionYml() as unknown as {
      inputs: Record<string, { description?: string; default?: string }>
      outputs: Record<string, { description?: string }>
    }
    const inputs = [
      'agent',
      'prompt',
      'prompt-file',
      'command',
      'grants',
      'anthropic-api-key',
      'claude-code-oauth-token',
      'openai-api-key',
      'gemini-api-key',
      'github-token',
      'github-app-id',
      'github-app-private-key',
      'github-app-permissions',
      'aws-role-arn',
      'aws-region',
      'aws-session-duration',
      'gcp-workload-identity-provider',
      'gcp-service-account',
      'npm-token',
      'custom-credentials',
      'egress-policy',
      'allowed-endpoints',
      'image',
      'workspace',
      'workspace-access',
      'agent-version',
      'model',
      'max-turns',
      'max-budget-usd',
      'agent-args',
      'mcp-servers',
      'env',
      'timeout-minutes',
      'connect-to',
      'upstream-ca',
      'audit-artifact'
    ]
    expect(Object.keys(yml.inputs).sort()).toEqual([...inputs].sort())
    for (const name of inputs) {
      expect(yml.inputs[name]?.description, name).toBeTruthy()
      expect(typeof yml.inputs[name]?.default, name).toBe('string')
    }
    expect(yml.inputs['github-token']?.default).toBe('${{ github.token }}')
    expect(yml.inputs['egress-policy']?.default).toBe('block')
    expect(yml.inputs['workspace-access']?.default).toBe('read-write')
    const outputs = [
      'conclusion',
      'exit-code',
      'result',
      'session-id',
      'input-tokens',
      'output-tokens',
      'cost-usd',
      'network-log',
      'audit-log',
      'audit-head',
      'blocked-requests'
    ]
    expect(Object.keys(yml.outputs).sort()).toEqual([...outputs].sort())
    for (const name of outputs) expect(yml.outputs[name]?.description, name).toBeTruthy()
  })
})

describe('command files', () => {
  it('parses heredoc and key=value forms', () => {
    expect(parseCommandFile('a<<EOF_1\nline 1\nline 2\nEOF_1\nb=2\n')).toEqual({
      a: 'line 1\nline 2',
      b: '2'
    })
  })
})

describe.each(Object.keys(NODES) as NodeName[])('the built action under %s node', (node) => {
  it('fails a bad grant with one clear error, and post still exits 0', async () => {
    const run = await runAction({
      node,
      inputs: { grants: 'githbu', command: 'echo hi' },
      githubToken: 'ghs_test'
    })
    expect(run.main.code).toBe(1)
    expect(run.main.errors).toEqual([
      '::error::grants: unknown provider "githbu" (did you mean github?). Known providers: aws, claude (anthropic), codex (openai), custom, gcp, gemini (google), github, npm'
    ])
    // Masked before validation failed: the token never reaches the log unmasked.
    expect(run.main.stdout).toContain('::add-mask::ghs_test')
    expect(run.post.code).toBe(0)
    expect(run.post.errors).toEqual([])
  })
})
