/**
 * The agent providers (claude, codex, gemini) without a container: what they grant and mask,
 * what they tell the proxy, and what they stage for the CLI. The end-to-end tests run the
 * real CLIs; these pin the exact headers, files and argv so a change to any of them is
 * deliberate.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { parse as parseToml } from 'smol-toml'
import { afterEach, describe, expect, it } from 'vitest'
import {
  META_KEY_TOKEN_SOURCE,
  type Credential,
  type MCPServerConfig,
  type PrepareOpts
} from '../../src/provider/index.js'
import type { AgentCliProvider } from '../../src/providers/agent-cli.js'
import { PLACEHOLDERS } from '../../src/providers/defaults.js'
import { ANTHROPIC_HOST, ClaudeProvider } from '../../src/providers/claude.js'
import { CodexProvider, OPENAI_HOST } from '../../src/providers/codex.js'
import { GEMINI_HOST, GeminiProvider } from '../../src/providers/gemini.js'
import { CONTAINER, sandboxEnv } from '../../src/sandbox/staging.js'
import { RecordingConfigurer } from '../support/recording-configurer.js'
import { grantContext, grantError } from '../support/grant-context.js'

// Real-looking secrets, so a leak into a staged file or env entry would be found by value.
const ANTHROPIC_KEY = 'sk-ant-api03-REALKEY-unit-test-0123456789abcdefghijklmnopqrstuvwxyz'
const OAUTH_TOKEN = 'sk-ant-oat01-REALOAUTH-unit-test-0123456789abcdefghijklmnopqrstuvwxyz'
const OPENAI_KEY = 'sk-proj-REALKEY-unit-test-0123456789abcdefghijklmnop'
const GEMINI_KEY = 'AIzaSyREALKEY-unit-test-0123456789abcde'

const HOME = CONTAINER.home

const context = (inputs: Record<string, string>) => grantContext(inputs)

const staged: string[] = []
afterEach(() => {
  for (const dir of staged.splice(0)) rmSync(dir, { recursive: true, force: true })
})

function stagingDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-agents-'))
  staged.push(dir)
  return dir
}

/** Every file under dir, relative to it, sorted. */
function listFiles(dir: string): string[] {
  const out: string[] = []
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name)
      if (statSync(p).isDirectory()) walk(p)
      else out.push(relative(dir, p))
    }
  }
  walk(dir)
  return out.sort()
}

/** Fails naming the file when any staged file holds the secret. */
function expectNoSecretInFiles(dir: string, secret: string): void {
  const files = listFiles(dir)
  // Guard against a vacuous pass: the agents always stage something.
  expect(files.length).toBeGreaterThan(0)
  for (const f of files)
    expect(readFileSync(join(dir, f), 'utf8'), `${f} holds the secret`).not.toContain(secret)
}

/** One remote and one local server, with a header and env of their own. */
const MCP: Record<string, MCPServerConfig> = {
  docs: {
    url: 'https://mcp.example.com/mcp',
    type: 'http',
    headers: { 'X-Team': 'platform' }
  },
  files: {
    command: 'npx',
    args: ['-y', '@modelcontextprotocol/server-filesystem', '/workspace'],
    env: { LOG_LEVEL: 'debug' }
  }
}

function prepareOpts(credential: Credential, extra: Partial<PrepareOpts> = {}): PrepareOpts {
  return {
    credential,
    containerHome: HOME,
    stagingDir: stagingDir(),
    mcpServers: {},
    ...extra
  }
}

const readJson = (file: string): Record<string, unknown> =>
  JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>

describe('ClaudeProvider', () => {
  const claude = new ClaudeProvider()

  it('grants anthropic-api-key as an API key and masks it', async () => {
    const ctx = context({ 'anthropic-api-key': ANTHROPIC_KEY })
    const cred = await claude.grant(ctx)
    expect(cred.provider).toBe('claude')
    expect(cred.token).toBe(ANTHROPIC_KEY)
    expect(cred.metadata).toEqual({ [META_KEY_TOKEN_SOURCE]: 'secret', auth: 'api-key' })
    expect(ctx.masked).toEqual([ANTHROPIC_KEY])
  })

  it('takes OAuth from claude-code-oauth-token, or an sk-ant-oat token in anthropic-api-key', async () => {
    // The input decides even for a token without the usual prefix.
    const viaInput = context({ 'claude-code-oauth-token': 'opaque-oauth-token-0123456789' })
    const a = await claude.grant(viaInput)
    expect(a.metadata?.auth).toBe('oauth')
    expect(viaInput.masked).toEqual(['opaque-oauth-token-0123456789'])
    // An OAuth token pasted into the key input is recognised by its prefix.
    const viaPrefix = context({ 'anthropic-api-key': OAUTH_TOKEN })
    const b = await claude.grant(viaPrefix)
    expect(b.metadata?.auth).toBe('oauth')
    expect(b.token).toBe(OAUTH_TOKEN)
    expect(viaPrefix.masked).toEqual([OAUTH_TOKEN])
  })

  it('prefers anthropic-api-key when both inputs are set, masking only the one used', async () => {
    const ctx = context({
      'anthropic-api-key': ANTHROPIC_KEY,
      'claude-code-oauth-token': OAUTH_TOKEN
    })
    const cred = await claude.grant(ctx)
    expect(cred.token).toBe(ANTHROPIC_KEY)
    expect(cred.metadata?.auth).toBe('api-key')
    expect(ctx.masked).toEqual([ANTHROPIC_KEY])
  })

  it('without a credential names both inputs and the Bedrock and Vertex ways in', async () => {
    const ctx = context({ grants: 'claude, github' })
    const err = await grantError(claude.grant(ctx))
    expect(err.provider).toBe('claude')
    expect(err.message).toContain('`anthropic-api-key` and `claude-code-oauth-token` are empty')
    for (const word of ['anthropic-api-key', 'claude-code-oauth-token', 'aws', 'gcp'])
      expect(err.hint).toContain(word)
    expect(ctx.masked).toEqual([])
  })

  it('API key: x-api-key on api.anthropic.com under grant claude, client Authorization removed', async () => {
    const cred = await claude.grant(context({ 'anthropic-api-key': ANTHROPIC_KEY }))
    const rec = new RecordingConfigurer()
    claude.configureProxy(rec, cred)
    expect(rec.calls).toEqual([
      [
        'setCredentialWithGrant',
        ANTHROPIC_HOST,
        'x-api-key',
        ANTHROPIC_KEY,
        'claude',
        PLACEHOLDERS.anthropicKey
      ],
      ['removeRequestHeader', ANTHROPIC_HOST, 'authorization']
    ])
    expect(ANTHROPIC_HOST).toBe('api.anthropic.com')
    expect(rec.snapshot()).toEqual({ 'api.anthropic.com': { 'claude|x-api-key': ANTHROPIC_KEY } })
    expect(rec.extraHeaders.size).toBe(0)
    expect(rec.substitutions.size).toBe(0)
  })

  it('OAuth: Bearer plus the oauth beta flag, client x-api-key removed', async () => {
    const cred = await claude.grant(context({ 'claude-code-oauth-token': OAUTH_TOKEN }))
    const rec = new RecordingConfigurer()
    claude.configureProxy(rec, cred)
    expect(rec.calls).toEqual([
      [
        'setCredentialWithGrant',
        'api.anthropic.com',
        'Authorization',
        `Bearer ${OAUTH_TOKEN}`,
        'claude',
        PLACEHOLDERS.claudeOauth
      ],
      ['addExtraHeader', 'api.anthropic.com', 'anthropic-beta', 'oauth-2025-04-20'],
      ['removeRequestHeader', 'api.anthropic.com', 'x-api-key']
    ])
    expect(rec.substitutions.size).toBe(0)
  })

  it('configuring again with a rotated key replaces the value instead of adding one', async () => {
    const rec = new RecordingConfigurer()
    claude.configureProxy(rec, await claude.grant(context({ 'anthropic-api-key': ANTHROPIC_KEY })))
    const rotated = `${ANTHROPIC_KEY}-rotated`
    claude.configureProxy(rec, await claude.grant(context({ 'anthropic-api-key': rotated })))
    expect(rec.snapshot()).toEqual({ 'api.anthropic.com': { 'claude|x-api-key': rotated } })
  })

  it('hosts, placeholder env and dependencies', async () => {
    const key = await claude.grant(context({ 'anthropic-api-key': ANTHROPIC_KEY }))
    const oauth = await claude.grant(context({ 'claude-code-oauth-token': OAUTH_TOKEN }))
    expect(claude.hosts(key)).toEqual(['api.anthropic.com'])
    expect(claude.hosts(oauth)).toEqual(['api.anthropic.com'])
    expect(claude.containerEnv(key)).toEqual([`ANTHROPIC_API_KEY=${PLACEHOLDERS.anthropicKey}`])
    expect(claude.containerEnv(oauth)).toEqual([
      `CLAUDE_CODE_OAUTH_TOKEN=${PLACEHOLDERS.claudeOauth}`
    ])
    for (const entry of [...claude.containerEnv(key), ...claude.containerEnv(oauth)]) {
      expect(entry).not.toContain(ANTHROPIC_KEY)
      expect(entry).not.toContain(OAUTH_TOKEN)
    }
    // The CLI is installed by Airlock itself, so the image needs nothing for it.
    expect(claude.impliedDependencies()).toEqual([])
  })

  it('keyCheck: GET /v1/models with x-api-key and a version; OAuth is not checked', async () => {
    const key = await claude.grant(context({ 'anthropic-api-key': ANTHROPIC_KEY }))
    const check = claude.keyCheck(key)!
    expect(check).toMatchObject({
      provider: 'claude',
      input: 'anthropic-api-key',
      url: 'https://api.anthropic.com/v1/models?limit=1',
      headers: { 'x-api-key': ANTHROPIC_KEY, 'anthropic-version': '2023-06-01' }
    })
    expect(Object.keys(check.headers).sort()).toEqual(['anthropic-version', 'x-api-key'])
    // No method means checkKey's GET; a body would make it something else.
    expect(check.method ?? 'GET').toBe('GET')
    expect(check.body).toBeUndefined()
    expect([401, 403].map((s) => check.refused(s, ''))).toEqual([true, true])
    expect([429, 500, 529].map((s) => check.refused(s, ''))).toEqual([false, false, false])
    const oauth = await claude.grant(context({ 'claude-code-oauth-token': OAUTH_TOKEN }))
    expect(claude.keyCheck(oauth)).toBeUndefined()
  })

  it('stages onboarding, trust and unattended permissions, with no MCP servers unless given', async () => {
    const cred = await claude.grant(context({ 'anthropic-api-key': ANTHROPIC_KEY }))
    const opts = prepareOpts(cred)
    const cfg = await claude.prepareContainer(opts)
    expect(listFiles(opts.stagingDir)).toEqual(['home/.claude.json', 'home/.claude/settings.json'])
    const claudeJson = readJson(join(opts.stagingDir, 'home/.claude.json'))
    expect(claudeJson).toEqual({
      hasCompletedOnboarding: true,
      projects: {
        '/workspace': { hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true }
      }
    })
    // The workspace the trust entry names is where the sandbox mounts the repository.
    expect(Object.keys(claudeJson.projects as object)).toEqual([CONTAINER.workspace])
    expect(readJson(join(opts.stagingDir, 'home/.claude/settings.json'))).toEqual({
      permissions: { defaultMode: 'bypassPermissions' },
      skipDangerousModePermissionPrompt: true
    })
    expectNoSecretInFiles(opts.stagingDir, ANTHROPIC_KEY)
    expect(cfg).toEqual({
      env: [
        `ANTHROPIC_API_KEY=${PLACEHOLDERS.anthropicKey}`,
        'CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1',
        'DISABLE_AUTOUPDATER=1',
        'DISABLE_TELEMETRY=1',
        'DISABLE_ERROR_REPORTING=1',
        'IS_SANDBOX=1'
      ],
      mounts: [],
      stagingDir: opts.stagingDir
    })
    // No prompt, no command: the caller's own command runs instead.
    expect(cfg.command).toBeUndefined()
  })

  it('stages MCP servers in .claude.json and runs claude -p with JSON output', async () => {
    const cred = await claude.grant(context({ 'claude-code-oauth-token': OAUTH_TOKEN }))
    const opts = prepareOpts(cred, {
      mcpServers: MCP,
      prompt: 'Fix the failing test',
      agentArgs: ['--model', 'claude-sonnet-4-5']
    })
    const cfg = await claude.prepareContainer(opts)
    const claudeJson = readJson(join(opts.stagingDir, 'home/.claude.json'))
    // Claude Code's shape: every server typed (an untyped one would be taken for stdio).
    expect(claudeJson.mcpServers).toEqual({
      docs: { type: 'http', url: MCP.docs!.url, headers: MCP.docs!.headers },
      files: {
        type: 'stdio',
        command: MCP.files!.command,
        args: MCP.files!.args,
        env: MCP.files!.env
      }
    })
    expect(claudeJson.hasCompletedOnboarding).toBe(true)
    expect(cfg.command).toEqual([
      '-p',
      '--output-format',
      'json',
      '--dangerously-skip-permissions',
      '--model',
      'claude-sonnet-4-5',
      '--',
      'Fix the failing test'
    ])
    expect(cfg.env).toContain(`CLAUDE_CODE_OAUTH_TOKEN=${PLACEHOLDERS.claudeOauth}`)
    for (const entry of cfg.env) expect(entry).not.toContain(OAUTH_TOKEN)
    expectNoSecretInFiles(opts.stagingDir, OAUTH_TOKEN)
  })

  it('installs the linux-x64 platform package and runs its native binary', () => {
    expect(claude.npmPackage).toBe('@anthropic-ai/claude-code')
    const spec = claude.installSpec(claude.defaultVersion, 'x64')
    expect(spec.packageName).toBe('@anthropic-ai/claude-code-linux-x64')
    expect(spec.packageVersion).toBe(claude.defaultVersion)
    expect(spec.argv('/airlock/agent')).toEqual(['/airlock/agent/package/claude'])
  })
})

describe('CodexProvider', () => {
  const codex = new CodexProvider()

  it('grants openai-api-key and masks it', async () => {
    const ctx = context({ 'openai-api-key': OPENAI_KEY })
    const cred = await codex.grant(ctx)
    expect(cred.provider).toBe('codex')
    expect(cred.token).toBe(OPENAI_KEY)
    expect(ctx.masked).toEqual([OPENAI_KEY])
  })

  it('without a key names openai-api-key', async () => {
    const err = await grantError(codex.grant(context({})))
    expect(err.provider).toBe('codex')
    expect(err.message).toContain('`openai-api-key` is empty')
    expect(err.hint).toContain('openai-api-key')
  })

  it('injects Authorization: Bearer on api.openai.com under grant codex', async () => {
    const cred = await codex.grant(context({ 'openai-api-key': OPENAI_KEY }))
    const rec = new RecordingConfigurer()
    codex.configureProxy(rec, cred)
    expect(OPENAI_HOST).toBe('api.openai.com')
    expect(rec.calls).toEqual([
      [
        'setCredentialWithGrant',
        'api.openai.com',
        'Authorization',
        `Bearer ${OPENAI_KEY}`,
        'codex',
        PLACEHOLDERS.openai
      ]
    ])
  })

  it('hosts, placeholder env and dependencies', async () => {
    const cred = await codex.grant(context({ 'openai-api-key': OPENAI_KEY }))
    expect(codex.hosts(cred)).toEqual(['api.openai.com'])
    expect(codex.containerEnv(cred)).toEqual([`OPENAI_API_KEY=${PLACEHOLDERS.openai}`])
    expect(codex.containerEnv(cred).join('\n')).not.toContain(OPENAI_KEY)
    expect(codex.impliedDependencies()).toEqual([])
  })

  it('keyCheck: GET /v1/models with Bearer; only 401 means refused', async () => {
    const cred = await codex.grant(context({ 'openai-api-key': OPENAI_KEY }))
    const check = codex.keyCheck(cred)
    expect(check).toMatchObject({
      provider: 'codex',
      input: 'openai-api-key',
      url: 'https://api.openai.com/v1/models',
      headers: { authorization: `Bearer ${OPENAI_KEY}` }
    })
    expect(Object.keys(check.headers)).toEqual(['authorization'])
    expect(check.method ?? 'GET').toBe('GET')
    // A restricted key may be refused model reads (403) and still run Codex.
    expect([401, 403, 429].map((s) => check.refused(s, ''))).toEqual([true, false, false])
  })

  it('stages config.toml for an unattended run that keeps the proxy and CA variables', async () => {
    const cred = await codex.grant(context({ 'openai-api-key': OPENAI_KEY }))
    const opts = prepareOpts(cred)
    const cfg = await codex.prepareContainer(opts)
    expect(listFiles(opts.stagingDir)).toEqual(['home/.codex/auth.json', 'home/.codex/config.toml'])
    const text = readFileSync(join(opts.stagingDir, 'home/.codex/config.toml'), 'utf8')
    const config = parseToml(text) as Record<string, unknown>
    expect(config).toEqual({
      approval_policy: 'never',
      sandbox_mode: 'danger-full-access',
      shell_environment_policy: { inherit: 'all' },
      projects: { '/workspace': { trust_level: 'trusted' } },
      analytics: { enabled: false },
      features: { plugins: false, api_key_model_discovery: false }
    })
    // The variables the sandbox gives the container for the proxy and its CA must reach the
    // commands Codex spawns, or every tool call that goes online fails.
    const policy = config.shell_environment_policy as CodexEnvPolicy
    const env = sandboxEnv({ proxyToken: 'tok', extra: [], user: {} }).map((e) => e.split('=')[0]!)
    const wanted = env.filter((n) => /proxy|_CA|CERT|CAINFO/i.test(n))
    expect(wanted).toEqual(
      expect.arrayContaining(['HTTPS_PROXY', 'https_proxy', 'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE'])
    )
    expect(wanted.filter((n) => !codexKeeps(policy, n))).toEqual([])
    expect(readJson(join(opts.stagingDir, 'home/.codex/auth.json'))).toEqual({
      OPENAI_API_KEY: PLACEHOLDERS.openai
    })
    expectNoSecretInFiles(opts.stagingDir, OPENAI_KEY)
    // CODEX_HOME points at the staged directory as it appears inside the container.
    expect(cfg.env).toEqual([`OPENAI_API_KEY=${PLACEHOLDERS.openai}`, `CODEX_HOME=${HOME}/.codex`])
    expect(cfg.command).toBeUndefined()
  })

  it('translates MCP servers to [mcp_servers.*] and runs codex exec --json', async () => {
    const cred = await codex.grant(context({ 'openai-api-key': OPENAI_KEY }))
    const opts = prepareOpts(cred, {
      mcpServers: MCP,
      prompt: 'Fix the failing test',
      agentArgs: ['--model', 'gpt-5-codex']
    })
    const cfg = await codex.prepareContainer(opts)
    const config = parseToml(
      readFileSync(join(opts.stagingDir, 'home/.codex/config.toml'), 'utf8')
    ) as Record<string, unknown>
    // Codex names remote headers http_headers and has no `type`; local servers keep theirs.
    expect(config.mcp_servers).toEqual({
      docs: { url: 'https://mcp.example.com/mcp', http_headers: { 'X-Team': 'platform' } },
      files: {
        command: 'npx',
        args: ['-y', '@modelcontextprotocol/server-filesystem', '/workspace'],
        env: { LOG_LEVEL: 'debug' }
      }
    })
    // The prompt goes last, after the caller's arguments.
    expect(cfg.command).toEqual([
      'exec',
      '--json',
      '--skip-git-repo-check',
      '--model',
      'gpt-5-codex',
      '--',
      'Fix the failing test'
    ])
  })

  it('installs the linux-x64 build of @openai/codex and runs its musl binary', () => {
    expect(codex.npmPackage).toBe('@openai/codex')
    const spec = codex.installSpec(codex.defaultVersion, 'x64')
    expect(spec.packageName).toBe('@openai/codex')
    expect(spec.packageVersion).toBe(`${codex.defaultVersion}-linux-x64`)
    expect(spec.argv('/airlock/agent')).toEqual([
      '/airlock/agent/package/vendor/x86_64-unknown-linux-musl/bin/codex'
    ])
  })
})

describe('GeminiProvider', () => {
  const gemini = new GeminiProvider()

  it('grants gemini-api-key and masks it', async () => {
    const ctx = context({ 'gemini-api-key': GEMINI_KEY })
    const cred = await gemini.grant(ctx)
    expect(cred.provider).toBe('gemini')
    expect(cred.token).toBe(GEMINI_KEY)
    expect(ctx.masked).toEqual([GEMINI_KEY])
  })

  it('without a key (and no gcp grant) names gemini-api-key and the gcp way', async () => {
    const err = await grantError(gemini.grant(context({ grants: 'github' })))
    expect(err.provider).toBe('gemini')
    expect(err.message).toContain('`gemini-api-key` is empty')
    expect(err.hint).toContain('gemini-api-key')
    expect(err.hint).toContain('grant gcp for Vertex AI')
  })

  it('without a key but with gcp granted runs on Vertex AI through ADC', async () => {
    const cred = await gemini.grant(
      context({
        grants: 'gcp',
        'gcp-service-account': 'agent@proj-vertex-1.iam.gserviceaccount.com',
        env: 'GOOGLE_CLOUD_LOCATION=europe-west4'
      })
    )
    expect(cred.token).toBe('')
    expect(gemini.hosts(cred)).toEqual([
      'europe-west4-aiplatform.googleapis.com',
      'aiplatform.googleapis.com'
    ])
    expect(gemini.containerEnv(cred)).toEqual([
      'GOOGLE_GENAI_USE_VERTEXAI=true',
      'GOOGLE_CLOUD_LOCATION=europe-west4',
      'GOOGLE_CLOUD_PROJECT=proj-vertex-1'
    ])
    expect(gemini.keyCheck(cred)).toBeUndefined()
    const rec = new RecordingConfigurer()
    gemini.configureProxy(rec, cred)
    expect(rec.calls).toEqual([])
    const opts = prepareOpts(cred, { prompt: 'p' })
    await gemini.prepareContainer(opts)
    expect(readJson(join(opts.stagingDir, 'home/.gemini/settings.json')).security).toEqual({
      auth: { selectedType: 'vertex-ai' }
    })
  })

  it('injects x-goog-api-key on generativelanguage.googleapis.com, with no token substitution', async () => {
    const cred = await gemini.grant(context({ 'gemini-api-key': GEMINI_KEY }))
    const rec = new RecordingConfigurer()
    gemini.configureProxy(rec, cred)
    expect(GEMINI_HOST).toBe('generativelanguage.googleapis.com')
    // Exactly one call: a substitution would swap the placeholder anywhere in a request,
    // letting a prompt turn the model into an oracle for the real key.
    expect(rec.calls).toEqual([
      [
        'setCredentialWithGrant',
        'generativelanguage.googleapis.com',
        'x-goog-api-key',
        GEMINI_KEY,
        'gemini',
        PLACEHOLDERS.gemini
      ]
    ])
    expect(rec.substitutions.size).toBe(0)
  })

  it('hosts, placeholder env and dependencies', async () => {
    const cred = await gemini.grant(context({ 'gemini-api-key': GEMINI_KEY }))
    expect(gemini.hosts(cred)).toEqual(['generativelanguage.googleapis.com'])
    expect(gemini.containerEnv(cred)).toEqual([`GEMINI_API_KEY=${PLACEHOLDERS.gemini}`])
    expect(gemini.containerEnv(cred).join('\n')).not.toContain(GEMINI_KEY)
    expect(gemini.impliedDependencies()).toEqual([])
  })

  it('keyCheck: GET /v1beta/models with x-goog-api-key; a 400 counts only for a bad key', async () => {
    const cred = await gemini.grant(context({ 'gemini-api-key': GEMINI_KEY }))
    const check = gemini.keyCheck(cred)!
    expect(check).toMatchObject({
      provider: 'gemini',
      input: 'gemini-api-key',
      url: 'https://generativelanguage.googleapis.com/v1beta/models?pageSize=1',
      headers: { 'x-goog-api-key': GEMINI_KEY }
    })
    expect(Object.keys(check.headers)).toEqual(['x-goog-api-key'])
    expect(check.method ?? 'GET').toBe('GET')
    const invalid = JSON.stringify({
      error: { code: 400, message: 'API key not valid.', details: [{ reason: 'API_KEY_INVALID' }] }
    })
    expect(check.refused(400, invalid)).toBe(true)
    expect(check.refused(400, '{"error":{"message":"Request payload is invalid"}}')).toBe(false)
    expect([401, 403, 429, 500].map((s) => check.refused(s, ''))).toEqual([
      true,
      true,
      false,
      false
    ])
  })

  it('stages settings.json selecting API-key auth and runs gemini -p with JSON output', async () => {
    const cred = await gemini.grant(context({ 'gemini-api-key': GEMINI_KEY }))
    const opts = prepareOpts(cred, {
      mcpServers: MCP,
      prompt: 'Fix the failing test',
      agentArgs: ['--model', 'gemini-2.5-pro']
    })
    const cfg = await gemini.prepareContainer(opts)
    expect(listFiles(opts.stagingDir)).toEqual(['home/.gemini/settings.json'])
    expect(readJson(join(opts.stagingDir, 'home/.gemini/settings.json'))).toEqual({
      security: { auth: { selectedType: 'gemini-api-key' } },
      privacy: { usageStatisticsEnabled: false },
      general: { disableAutoUpdate: true },
      // Gemini CLI's shape: httpUrl is streamable HTTP (url would be SSE).
      mcpServers: {
        docs: { httpUrl: MCP.docs!.url, headers: MCP.docs!.headers },
        files: { command: MCP.files!.command, args: MCP.files!.args, env: MCP.files!.env }
      }
    })
    expectNoSecretInFiles(opts.stagingDir, GEMINI_KEY)
    expect(cfg.env).toEqual([
      `GEMINI_API_KEY=${PLACEHOLDERS.gemini}`,
      'GEMINI_CLI_TRUST_WORKSPACE=true'
    ])
    expect(cfg.command).toEqual([
      '--prompt=Fix the failing test',
      '--output-format',
      'json',
      '--yolo',
      '--model',
      'gemini-2.5-pro'
    ])
  })

  it('leaves mcpServers out of settings.json when there are none', async () => {
    const cred = await gemini.grant(context({ 'gemini-api-key': GEMINI_KEY }))
    const opts = prepareOpts(cred)
    await gemini.prepareContainer(opts)
    const settings = readJson(join(opts.stagingDir, 'home/.gemini/settings.json'))
    expect(Object.keys(settings).sort()).toEqual(['general', 'privacy', 'security'])
  })

  it('installs the @google/gemini-cli bundle and runs it with the mounted Node', () => {
    expect(gemini.npmPackage).toBe('@google/gemini-cli')
    const spec = gemini.installSpec(gemini.defaultVersion)
    expect(spec.packageName).toBe('@google/gemini-cli')
    expect(spec.packageVersion).toBe(gemini.defaultVersion)
    expect(spec.argv('/airlock/agent')).toEqual([
      CONTAINER.node,
      '/airlock/agent/package/bundle/gemini.js'
    ])
  })
})

describe('all agents', () => {
  const agents: Array<{
    label: string
    agent: AgentCliProvider
    inputs: Record<string, string>
    secret: string
  }> = [
    {
      label: 'claude (API key)',
      agent: new ClaudeProvider(),
      inputs: { 'anthropic-api-key': ANTHROPIC_KEY },
      secret: ANTHROPIC_KEY
    },
    {
      label: 'claude (OAuth)',
      agent: new ClaudeProvider(),
      inputs: { 'claude-code-oauth-token': OAUTH_TOKEN },
      secret: OAUTH_TOKEN
    },
    {
      label: 'codex',
      agent: new CodexProvider(),
      inputs: { 'openai-api-key': OPENAI_KEY },
      secret: OPENAI_KEY
    },
    {
      label: 'gemini',
      agent: new GeminiProvider(),
      inputs: { 'gemini-api-key': GEMINI_KEY },
      secret: GEMINI_KEY
    }
  ]

  it.each(agents)(
    '$label: the prepared env holds placeholders only, in the shape the CLI validates',
    async ({ agent, inputs, secret }) => {
      const cred = await agent.grant(context(inputs))
      const cfg = await agent.prepareContainer(prepareOpts(cred, { mcpServers: MCP, prompt: 'p' }))
      expect(cfg.env.length).toBeGreaterThan(0)
      for (const entry of cfg.env) {
        expect(entry).not.toContain(secret)
        // NAME=value with a plain variable name, as the sandbox splits them.
        expect(entry).toMatch(/^[A-Z_][A-Z0-9_]*=/)
      }
      // Each CLI checks its key's prefix before it sends anything; a placeholder that fails
      // that check would stop the agent before the proxy ever sees a request.
      const shapes: Record<string, RegExp> = {
        ANTHROPIC_API_KEY: /^sk-ant-api03-[\w-]+$/,
        CLAUDE_CODE_OAUTH_TOKEN: /^sk-ant-oat01-[\w-]+$/,
        OPENAI_API_KEY: /^sk-[\w-]+$/,
        GEMINI_API_KEY: /^AIza[\w-]+$/
      }
      const keyed = cfg.env.filter((e) => e.split('=')[0]! in shapes)
      expect(keyed).toHaveLength(1)
      const [name, value] = keyed[0]!.split('=') as [string, string]
      expect(value).toMatch(shapes[name]!)
      expect(value).toMatch(/placeholder/i)
    }
  )

  it.each(agents)('$label: the default version is pinned exactly', ({ agent }) => {
    // An install resolves this against the registry; a range would make runs unrepeatable.
    expect(agent.defaultVersion).toMatch(/^\d+\.\d+\.\d+$/)
    expect(agent.installSpec(agent.defaultVersion).packageVersion).toContain(agent.defaultVersion)
  })
})

/** The part of Codex's `shell_environment_policy` that decides which variables pass. */
interface CodexEnvPolicy {
  inherit?: 'all' | 'core' | 'none'
  ignore_default_excludes?: boolean
  exclude?: string[]
  include_only?: string[]
  set?: Record<string, string>
}

const CODEX_CORE = ['HOME', 'LOGNAME', 'PATH', 'SHELL', 'USER', 'USERNAME', 'TMPDIR', 'TEMP', 'TMP']

/** Glob with `*` and `?`, case-insensitive, as Codex matches variable names. */
function globMatch(pattern: string, name: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.')
  return new RegExp(`^${re}$`, 'i').test(name)
}

/**
 * Whether Codex passes the variable to the commands it runs, in the order its documentation
 * gives: inherit, then the default KEY/SECRET/TOKEN excludes (unless ignored), then exclude,
 * then include_only. Whichever default the installed version uses for the excludes, proxy
 * and CA variables must survive.
 */
function codexKeeps(policy: CodexEnvPolicy, name: string): boolean {
  const inherit = policy.inherit ?? 'all'
  if (inherit === 'none') return false
  if (inherit === 'core' && !CODEX_CORE.includes(name)) return false
  if (['*KEY*', '*SECRET*', '*TOKEN*'].some((p) => globMatch(p, name))) return false
  if ((policy.exclude ?? []).some((p) => globMatch(p, name))) return false
  if (policy.include_only && !policy.include_only.some((p) => globMatch(p, name))) return false
  return true
}

describe('MCP servers without a type', () => {
  const claude = new ClaudeProvider()
  const gemini = new GeminiProvider()
  // `{"url": …}` alone is the common form; each CLI needs it spelled out its own way.
  const untyped: Record<string, MCPServerConfig> = {
    remote: { url: 'https://mcp.example.com/mcp' },
    legacy: { url: 'https://mcp.example.com/sse', type: 'sse' }
  }

  it('is streamable HTTP for Claude (type http) and Gemini (httpUrl); sse stays sse', async () => {
    const c = prepareOpts(await claude.grant(context({ 'anthropic-api-key': ANTHROPIC_KEY })), {
      mcpServers: untyped
    })
    await claude.prepareContainer(c)
    expect(readJson(join(c.stagingDir, 'home/.claude.json')).mcpServers).toEqual({
      remote: { type: 'http', url: 'https://mcp.example.com/mcp' },
      legacy: { type: 'sse', url: 'https://mcp.example.com/sse' }
    })
    const g = prepareOpts(await gemini.grant(context({ 'gemini-api-key': GEMINI_KEY })), {
      mcpServers: untyped
    })
    await gemini.prepareContainer(g)
    expect(readJson(join(g.stagingDir, 'home/.gemini/settings.json')).mcpServers).toEqual({
      remote: { httpUrl: 'https://mcp.example.com/mcp' },
      legacy: { url: 'https://mcp.example.com/sse' }
    })
  })
})

describe('model and limits, in each CLI’s own form', () => {
  const limits = { model: 'm-1', maxTurns: 7, maxBudgetUsd: 1.5 }

  it('claude takes flags before agent-args, so an explicit argument still wins', () => {
    expect(new ClaudeProvider().command('task', ['--model', 'other'], limits)).toEqual([
      '-p',
      '--output-format',
      'json',
      '--dangerously-skip-permissions',
      '--model',
      'm-1',
      '--max-turns',
      '7',
      '--max-budget-usd',
      '1.5',
      '--model',
      'other',
      '--',
      'task'
    ])
  })

  it('codex takes the model only; no limit set means no flag', () => {
    expect(new CodexProvider().command('task', [], { model: 'gpt-x' })).toEqual([
      'exec',
      '--json',
      '--skip-git-repo-check',
      '--model',
      'gpt-x',
      '--',
      'task'
    ])
    expect(new CodexProvider().command('task', [])).not.toContain('--model')
  })

  it('gemini takes the model as a flag and the turn limit as a setting', async () => {
    const gemini = new GeminiProvider()
    const cred = await gemini.grant(context({ 'gemini-api-key': GEMINI_KEY }))
    const opts = prepareOpts(cred, { prompt: 'task', limits })
    const cfg = await gemini.prepareContainer(opts)
    expect(cfg.command).toContain('--model=m-1')
    const settings = readJson(join(opts.stagingDir, 'home/.gemini/settings.json'))
    expect(settings.model).toEqual({ maxSessionTurns: 7 })
  })
})
