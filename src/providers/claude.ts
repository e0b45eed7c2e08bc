import type { Credential, GrantContext, PrepareOpts, ProxyConfigurer } from '../provider/index.js'
import { AgentBase, mcpJson } from './agent.js'
import { PLACEHOLDERS, requireSecret, staticCredential } from './base.js'
import type { KeyCheck } from '../grant/validate.js'

export const ANTHROPIC_HOST = 'api.anthropic.com'
const OAUTH_PREFIX = 'sk-ant-oat'

/** Claude Code with an Anthropic API key or a Claude Code OAuth token. */
export class ClaudeProvider extends AgentBase {
  readonly name = 'claude'
  readonly npmPackage = '@anthropic-ai/claude-code'
  readonly defaultVersion = '2.1.332'
  readonly binary = 'claude'

  grant(ctx: GrantContext): Promise<Credential> {
    const [input, token] = requireSecret(
      ctx,
      this.name,
      ['anthropic-api-key', 'claude-code-oauth-token'],
      'Set anthropic-api-key or claude-code-oauth-token, or grant aws/gcp for Bedrock/Vertex.'
    )
    const cred = staticCredential(this.name, token)
    cred.metadata = {
      ...cred.metadata,
      auth:
        input === 'claude-code-oauth-token' || token.startsWith(OAUTH_PREFIX) ? 'oauth' : 'api-key'
    }
    return Promise.resolve(cred)
  }

  isOAuth(cred: Credential): boolean {
    return cred.metadata?.auth === 'oauth'
  }

  configureProxy(p: ProxyConfigurer, cred: Credential): void {
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
    if (this.isOAuth(cred)) return undefined
    return {
      provider: this.name,
      input: 'anthropic-api-key',
      url: `https://${ANTHROPIC_HOST}/v1/models?limit=1`,
      headers: { 'x-api-key': cred.token, 'anthropic-version': '2023-06-01' },
      refused: (status) => status === 401 || status === 403,
      hint: 'Check that anthropic-api-key holds a current key from the Anthropic Console (not revoked, its workspace active); a Claude Code OAuth token belongs in claude-code-oauth-token.'
    }
  }

  hosts(_cred: Credential): string[] {
    return [ANTHROPIC_HOST]
  }

  override containerEnv(cred: Credential): string[] {
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
    if (Object.keys(opts.mcpServers).length > 0) claudeJson.mcpServers = mcpJson(opts)
    const settings = {
      permissions: { defaultMode: 'bypassPermissions' },
      skipDangerousModePermissionPrompt: true
    }
    return {
      '.claude.json': JSON.stringify(claudeJson, null, 2),
      '.claude/settings.json': JSON.stringify(settings, null, 2)
    }
  }

  installSpec(version: string): {
    packageName: string
    packageVersion: string
    argv: (mountDir: string) => string[]
  } {
    // The native binary ships in a platform package; it needs glibc (with librt).
    return {
      packageName: '@anthropic-ai/claude-code-linux-x64',
      packageVersion: version,
      argv: (dir) => [`${dir}/package/claude`]
    }
  }

  command(prompt: string, args: string[]): string[] {
    return ['-p', prompt, '--output-format', 'json', '--dangerously-skip-permissions', ...args]
  }
}
