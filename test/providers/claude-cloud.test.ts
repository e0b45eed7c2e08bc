/** Claude Code through Amazon Bedrock (aws grant) or Google Vertex AI (gcp grant). */
import { describe, expect, it } from 'vitest'
import { makeGrantContext } from '../../src/grant/index.js'
import { GrantError } from '../../src/provider/index.js'
import { ClaudeProvider } from '../../src/providers/claude.js'
import { InjectionTable } from '../../src/proxy/inject.js'
import { settingsFrom } from '../support/grant-context.js'

const claude = new ClaudeProvider()

function grant(inputs: Record<string, string>) {
  return claude.grant(
    makeGrantContext({ settings: settingsFrom(inputs), setSecret: () => {}, env: {} })
  )
}

describe('ClaudeProvider on a cloud', () => {
  it('uses Bedrock in aws-region when aws is granted and no Anthropic credential is set', async () => {
    const cred = await grant({ grants: 'aws', 'aws-region': 'eu-central-1' })
    expect(cred.token).toBe('')
    expect(cred.metadata).toMatchObject({ auth: 'bedrock', region: 'eu-central-1' })
    expect(claude.hosts(cred)).toEqual(['bedrock-runtime.eu-central-1.amazonaws.com'])
    // Signed by the CLI with the aws grant's placeholders, re-signed by the proxy: Bedrock's
    // own auth stays on.
    expect(claude.containerEnv(cred)).toEqual([
      'CLAUDE_CODE_USE_BEDROCK=1',
      'AWS_REGION=eu-central-1'
    ])
    expect(claude.containerEnv(cred).join('\n')).not.toMatch(/ANTHROPIC_API_KEY|SKIP_BEDROCK/)
    expect(claude.keyCheck(cred)).toBeUndefined()
    // Nothing of its own to inject: the aws grant's signer does the work.
    const table = new InjectionTable()
    claude.configureProxy(table, cred)
    expect(table.hosts()).toEqual([])
  })

  it('uses Vertex AI when gcp is granted: region and project from env, else defaults', async () => {
    const cred = await grant({
      grants: 'github, gcp',
      'gcp-service-account': 'agent@my-project-42.iam.gserviceaccount.com'
    })
    expect(cred.metadata).toMatchObject({
      auth: 'vertex',
      region: 'us-east5',
      project: 'my-project-42'
    })
    expect(claude.hosts(cred)).toEqual([
      'us-east5-aiplatform.googleapis.com',
      'aiplatform.googleapis.com'
    ])
    expect(claude.containerEnv(cred)).toEqual([
      'CLAUDE_CODE_USE_VERTEX=1',
      'CLAUDE_CODE_SKIP_VERTEX_AUTH=1',
      'CLOUD_ML_REGION=us-east5',
      'ANTHROPIC_VERTEX_PROJECT_ID=my-project-42'
    ])
    const global = await grant({
      grants: 'gcp',
      env: 'CLOUD_ML_REGION=global\nANTHROPIC_VERTEX_PROJECT_ID=other-proj'
    })
    expect(global.metadata).toMatchObject({ region: 'global', project: 'other-proj' })
    expect(claude.hosts(global)).toEqual(['aiplatform.googleapis.com'])
  })

  it('prefers a key when one is set, and names every way in when none is', async () => {
    const keyed = await grant({ grants: 'aws', 'anthropic-api-key': 'sk-ant-api03-real0000000' })
    expect(keyed.metadata?.auth).toBe('api-key')
    const err = await grant({ grants: 'github' }).then(
      () => undefined,
      (e: unknown) => e
    )
    expect(err).toBeInstanceOf(GrantError)
    expect((err as GrantError).hint).toBe(
      'Set anthropic-api-key or claude-code-oauth-token, or grant aws (Amazon Bedrock) or gcp (Google Vertex AI).'
    )
  })
})
