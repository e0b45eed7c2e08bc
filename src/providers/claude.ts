import type {
  AgentInstallSpec,
  Credential,
  GrantContext,
  KeyCheck,
  PrepareOpts,
  ProxyConfigurer,
  AgentLimits
} from '../provider/index.js'
import { AgentCliProvider, claudeMcp, linuxArch } from './agent-cli.js'
import { PLACEHOLDERS, requireSecret, serviceAccountProject, staticCredential } from './defaults.js'

export const ANTHROPIC_HOST = 'api.anthropic.com'
const OAUTH_PREFIX = 'sk-ant-oat'

/** Claude Code with an Anthropic API key or a Claude Code OAuth token. */
export class ClaudeProvider extends AgentCliProvider {
  readonly name = 'claude'
  readonly npmPackage = '@anthropic-ai/claude-code'
  readonly defaultVersion = '2.1.332'
  readonly binary = 'claude'

  /**
   * The key (`anthropic-api-key`), or the OAuth token (`claude-code-oauth-token`); without
   * either, Amazon Bedrock when the run grants `aws`, or Google Vertex AI when it grants
   * `gcp`: then the model calls carry the cloud credential the proxy handles, and this grant
   * holds no secret of its own.
   */
  async grant(ctx: GrantContext): Promise<Credential> {
    const cloud = cloudMode(ctx)
    const { secrets } = ctx.settings
    if (!secrets['anthropic-api-key'] && !secrets['claude-code-oauth-token'] && cloud) return cloud
    const [input, token] = requireSecret(
      ctx,
      this.name,
      ['anthropic-api-key', 'claude-code-oauth-token'],
      'Set anthropic-api-key or claude-code-oauth-token, or grant aws (Amazon Bedrock) or gcp (Google Vertex AI).'
    )
    const cred = staticCredential(this.name, token)
    cred.metadata = {
      ...cred.metadata,
      auth:
        input === 'claude-code-oauth-token' || token.startsWith(OAUTH_PREFIX) ? 'oauth' : 'api-key'
    }
    return cred
  }

  isOAuth(cred: Credential): boolean {
    return cred.metadata?.auth === 'oauth'
  }

  configureProxy(p: ProxyConfigurer, cred: Credential): void {
    // On Bedrock or Vertex the aws or gcp grant signs or authorises the model calls.
    if (isCloud(cred)) return
    if (this.isOAuth(cred)) {
      p.setCredentialWithGrant(
        ANTHROPIC_HOST,
        'Authorization',
        `Bearer ${cred.token}`,
        this.name,
        PLACEHOLDERS.claudeOauth
      )
      // The API rejects OAuth bearer tokens without this beta flag.
      p.addExtraHeader(ANTHROPIC_HOST, 'anthropic-beta', 'oauth-2025-04-20')
      p.removeRequestHeader(ANTHROPIC_HOST, 'x-api-key')
    } else {
      p.setCredentialWithGrant(
        ANTHROPIC_HOST,
        'x-api-key',
        cred.token,
        this.name,
        PLACEHOLDERS.anthropicKey
      )
      p.removeRequestHeader(ANTHROPIC_HOST, 'authorization')
    }
  }

  /**
   * An API key is checked with `GET /v1/models` (free, read-only). An OAuth token is not:
   * it is meant for Claude Code's own calls, and no read-only endpoint is documented for it.
   */
  keyCheck(cred: Credential): KeyCheck | undefined {
    if (this.isOAuth(cred) || isCloud(cred)) return undefined
    return {
      provider: this.name,
      input: 'anthropic-api-key',
      url: `https://${ANTHROPIC_HOST}/v1/models?limit=1`,
      headers: { 'x-api-key': cred.token, 'anthropic-version': '2023-06-01' },
      refused: (status) => status === 401 || status === 403,
      hint: 'Check that anthropic-api-key holds a current key from the Anthropic Console (not revoked, its workspace active); a Claude Code OAuth token belongs in claude-code-oauth-token.'
    }
  }

  hosts(cred: Credential): string[] {
    const m = cred.metadata ?? {}
    if (m.auth === 'bedrock') return [`bedrock-runtime.${m.region}.amazonaws.com`]
    if (m.auth === 'vertex')
      return m.region === 'global'
        ? ['aiplatform.googleapis.com']
        : [`${m.region}-aiplatform.googleapis.com`, 'aiplatform.googleapis.com']
    return [ANTHROPIC_HOST]
  }

  override containerEnv(cred: Credential): string[] {
    const m = cred.metadata ?? {}
    // Bedrock: Claude Code signs with the placeholder keys the aws grant gives the container,
    // and the proxy checks that signature and signs again with the real ones (so Bedrock's
    // own auth is not skipped: an unsigned request would get no credentials at all).
    if (m.auth === 'bedrock') return ['CLAUDE_CODE_USE_BEDROCK=1', `AWS_REGION=${m.region}`]
    // Vertex: Claude Code skips Google auth (the gcp grant sets CLAUDE_CODE_SKIP_VERTEX_AUTH)
    // and the proxy adds the access token.
    if (m.auth === 'vertex')
      return [
        'CLAUDE_CODE_USE_VERTEX=1',
        'CLAUDE_CODE_SKIP_VERTEX_AUTH=1',
        `CLOUD_ML_REGION=${m.region}`,
        ...(m.project ? [`ANTHROPIC_VERTEX_PROJECT_ID=${m.project}`] : [])
      ]
    return this.isOAuth(cred)
      ? [`CLAUDE_CODE_OAUTH_TOKEN=${PLACEHOLDERS.claudeOauth}`]
      : [`ANTHROPIC_API_KEY=${PLACEHOLDERS.anthropicKey}`]
  }

  protected agentEnv(_opts: PrepareOpts): string[] {
    // Telemetry and update checks would be blocked anyway; turning them off keeps the
    // network log to what the agent did.
    // IS_SANDBOX: as root (self-hosted runners that run as root run the container as root)
    // Claude Code refuses --dangerously-skip-permissions unless told it is in a sandbox, and
    // this container is one: no network, no capabilities, no-new-privileges.
    return [
      'CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1',
      'DISABLE_AUTOUPDATER=1',
      'DISABLE_TELEMETRY=1',
      'DISABLE_ERROR_REPORTING=1',
      'IS_SANDBOX=1'
    ]
  }

  protected homeFiles(opts: PrepareOpts): Record<string, string> {
    const claudeJson: Record<string, unknown> = {
      hasCompletedOnboarding: true,
      projects: {
        '/workspace': { hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true }
      }
    }
    if (Object.keys(opts.mcpServers).length > 0) claudeJson.mcpServers = claudeMcp(opts)
    const settings = {
      permissions: { defaultMode: 'bypassPermissions' },
      skipDangerousModePermissionPrompt: true
    }
    return {
      '.claude.json': JSON.stringify(claudeJson, null, 2),
      '.claude/settings.json': JSON.stringify(settings, null, 2)
    }
  }

  installSpec(version: string, arch: string = process.arch): AgentInstallSpec {
    // The native binary ships in a platform package per CPU; it needs glibc (with librt).
    return {
      packageName: `@anthropic-ai/claude-code-linux-${linuxArch(this.name, arch).npm}`,
      packageVersion: version,
      argv: (dir) => [`${dir}/package/claude`]
    }
  }

  command(prompt: string, args: string[], limits: AgentLimits = {}): string[] {
    // `--` before the prompt: a task that starts with `-` (a markdown list) is not an option.
    // The limits come before `agent-args`, so an explicit argument there still wins.
    return [
      '-p',
      '--output-format',
      'json',
      '--dangerously-skip-permissions',
      ...(limits.model ? ['--model', limits.model] : []),
      ...(limits.maxTurns ? ['--max-turns', String(limits.maxTurns)] : []),
      ...(limits.maxBudgetUsd ? ['--max-budget-usd', String(limits.maxBudgetUsd)] : []),
      ...args,
      '--',
      prompt
    ]
  }
}

/** Vertex AI's region for Claude when the run does not say (one Claude models are served in). */
export const DEFAULT_VERTEX_REGION = 'us-east5'

function isCloud(cred: Credential): boolean {
  return cred.metadata?.auth === 'bedrock' || cred.metadata?.auth === 'vertex'
}

/**
 * Claude through a cloud the run grants, or undefined. The region is `aws-region` for
 * Bedrock; for Vertex, `CLOUD_ML_REGION` in the `env` input or us-east5, and the project is
 * `ANTHROPIC_VERTEX_PROJECT_ID` there or the service account's.
 */
function cloudMode(ctx: GrantContext): Credential | undefined {
  const { grants, env, aws, gcp } = ctx.settings
  const base = { provider: 'claude', token: '', createdAt: new Date() }
  if (grants.includes('aws'))
    return {
      ...base,
      metadata: { auth: 'bedrock', region: aws.region }
    }
  if (!grants.includes('gcp')) return undefined
  const project = env.ANTHROPIC_VERTEX_PROJECT_ID ?? serviceAccountProject(gcp.serviceAccount)
  const metadata: Record<string, string> = {
    auth: 'vertex',
    region: env.CLOUD_ML_REGION ?? DEFAULT_VERTEX_REGION
  }
  if (project) metadata.project = project
  return { ...base, metadata }
}
