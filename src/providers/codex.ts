import { stringify as toToml } from 'smol-toml'
import type {
  AgentInstallSpec,
  Credential,
  GrantContext,
  KeyCheck,
  PrepareOpts,
  ProxyConfigurer,
  AgentLimits
} from '../provider/index.js'
import { AgentCliProvider, linuxArch } from './agent-cli.js'
import { PLACEHOLDERS, requireSecret, staticCredential } from './defaults.js'

export const OPENAI_HOST = 'api.openai.com'

/** Codex CLI with an OpenAI API key. */
export class CodexProvider extends AgentCliProvider {
  readonly name = 'codex'
  readonly npmPackage = '@openai/codex'
  readonly defaultVersion = '0.171.0'
  readonly binary = 'codex'

  async grant(ctx: GrantContext): Promise<Credential> {
    const [, token] = requireSecret(
      ctx,
      this.name,
      ['openai-api-key'],
      'Set openai-api-key (e.g. ${{ secrets.OPENAI_API_KEY }}).'
    )
    return staticCredential(this.name, token)
  }

  configureProxy(p: ProxyConfigurer, cred: Credential): void {
    p.setCredentialWithGrant(
      OPENAI_HOST,
      'Authorization',
      `Bearer ${cred.token}`,
      this.name,
      PLACEHOLDERS.openai
    )
  }

  /** `GET /v1/models`; only 401 counts as refused (a restricted key may lack model reads). */
  keyCheck(cred: Credential): KeyCheck {
    return {
      provider: this.name,
      input: 'openai-api-key',
      url: `https://${OPENAI_HOST}/v1/models`,
      headers: { authorization: `Bearer ${cred.token}` },
      refused: (status) => status === 401,
      hint: 'Check that openai-api-key holds a current OpenAI API key (not revoked, its project active).'
    }
  }

  hosts(_cred: Credential): string[] {
    return [OPENAI_HOST]
  }

  override containerEnv(_cred: Credential): string[] {
    return [`OPENAI_API_KEY=${PLACEHOLDERS.openai}`]
  }

  protected agentEnv(opts: PrepareOpts): string[] {
    return [`CODEX_HOME=${opts.containerHome}/.codex`]
  }

  protected homeFiles(opts: PrepareOpts): Record<string, string> {
    const config: Record<string, unknown> = {
      approval_policy: 'never',
      // The container is the sandbox; Codex's own (landlock/seccomp) one cannot nest in it.
      sandbox_mode: 'danger-full-access',
      // "all" keeps HTTPS_PROXY and the CA variables for commands Codex spawns; "core" strips them.
      shell_environment_policy: { inherit: 'all' },
      projects: { '/workspace': { trust_level: 'trusted' } },
      // These phone home at start-up: the curated plugin catalogue (github.com,
      // api.github.com, chatgpt.com), API-key model discovery (chatgpt.com, retried) and
      // analytics (ab.chatgpt.com). None of them is needed to run a task with an API key, and
      // behind the allowlist they would only be refused and slow the start down.
      analytics: { enabled: false },
      features: { plugins: false, api_key_model_discovery: false }
    }
    const mcp: Record<string, unknown> = {}
    for (const [name, s] of Object.entries(opts.mcpServers)) {
      mcp[name] = s.url
        ? { url: s.url, ...(s.headers ? { http_headers: s.headers } : {}) }
        : {
            command: s.command,
            ...(s.args ? { args: s.args } : {}),
            ...(s.env ? { env: s.env } : {})
          }
    }
    if (Object.keys(mcp).length > 0) config.mcp_servers = mcp
    return {
      '.codex/config.toml': `# Written by Airlock for this run.\n${toToml(config)}\n`,
      '.codex/auth.json': JSON.stringify({ OPENAI_API_KEY: PLACEHOLDERS.openai })
    }
  }

  installSpec(version: string, arch: string = process.arch): AgentInstallSpec {
    // The platform build is published as a version suffix of the main package; it is a
    // static musl binary, so any Linux image runs it.
    const { npm, triple } = linuxArch(this.name, arch)
    return {
      packageName: '@openai/codex',
      packageVersion: `${version}-linux-${npm}`,
      argv: (dir) => [`${dir}/package/vendor/${triple}-unknown-linux-musl/bin/codex`]
    }
  }

  command(prompt: string, args: string[], limits: AgentLimits = {}): string[] {
    // `--` before the prompt: a task that starts with `-` (a markdown list) is not an option.
    // Codex has no turn or spending limit (the inputs refuse them for codex).
    const model = limits.model ? ['--model', limits.model] : []
    return ['exec', '--json', '--skip-git-repo-check', ...model, ...args, '--', prompt]
  }
}
