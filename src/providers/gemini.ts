import type { Credential, GrantContext, PrepareOpts, ProxyConfigurer } from '../provider/index.js'
import { AgentBase, geminiMcp } from './agent.js'
import { PLACEHOLDERS, requireSecret, staticCredential } from './base.js'
import type { KeyCheck } from '../grant/validate.js'

export const GEMINI_HOST = 'generativelanguage.googleapis.com'

/** Gemini CLI with a Gemini API key. */
export class GeminiProvider extends AgentBase {
  readonly name = 'gemini'
  readonly npmPackage = '@google/gemini-cli'
  readonly defaultVersion = '0.61.0'
  readonly binary = 'gemini'

  async grant(ctx: GrantContext): Promise<Credential> {
    const [, token] = requireSecret(
      ctx,
      this.name,
      ['gemini-api-key'],
      'Set gemini-api-key (e.g. ${{ secrets.GEMINI_API_KEY }}); Gemini CLI on Vertex AI through the gcp grant is not supported yet.'
    )
    return staticCredential(this.name, token)
  }

  configureProxy(p: ProxyConfigurer, cred: Credential): void {
    // Header only, no token substitution: swapping the placeholder wherever it appears (a
    // prompt body, a query) would let an injected agent ask the model to hand the real key
    // back transformed, past any scrubber (security battery 16.12–16.14).
    p.setCredentialWithGrant(
      GEMINI_HOST,
      'x-goog-api-key',
      cred.token,
      this.name,
      PLACEHOLDERS.gemini
    )
  }

  /**
   * `GET /v1beta/models`. Google answers a key it does not know with 400 API_KEY_INVALID, and
   * one whose restrictions or project do not allow this API with 403.
   */
  keyCheck(cred: Credential): KeyCheck {
    return {
      provider: this.name,
      input: 'gemini-api-key',
      url: `https://${GEMINI_HOST}/v1beta/models?pageSize=1`,
      headers: { 'x-goog-api-key': cred.token },
      refused: (status, body) =>
        status === 401 ||
        status === 403 ||
        (status === 400 && /API_KEY_INVALID|API key not valid/i.test(body)),
      hint: 'Check that gemini-api-key is a current key from Google AI Studio, that its API restrictions allow the Generative Language API, and that the API is enabled on its project.'
    }
  }

  hosts(_cred: Credential): string[] {
    return [GEMINI_HOST]
  }

  override containerEnv(_cred: Credential): string[] {
    return [`GEMINI_API_KEY=${PLACEHOLDERS.gemini}`]
  }

  protected agentEnv(_opts: PrepareOpts): string[] {
    return ['GEMINI_CLI_TRUST_WORKSPACE=true']
  }

  protected homeFiles(opts: PrepareOpts): Record<string, string> {
    const settings: Record<string, unknown> = {
      security: { auth: { selectedType: 'gemini-api-key' } },
      privacy: { usageStatisticsEnabled: false },
      general: { disableAutoUpdate: true }
    }
    if (Object.keys(opts.mcpServers).length > 0) settings.mcpServers = geminiMcp(opts)
    return { '.gemini/settings.json': JSON.stringify(settings, null, 2) }
  }

  installSpec(version: string): {
    packageName: string
    packageVersion: string
    argv: (mountDir: string) => string[]
  } {
    // A single-file Node bundle: run it with the runner's Node, mounted at /airlock/node.
    return {
      packageName: '@google/gemini-cli',
      packageVersion: version,
      argv: (dir) => ['/airlock/node', `${dir}/package/bundle/gemini.js`]
    }
  }

  command(prompt: string, args: string[]): string[] {
    // `--prompt=<task>` in one word: a task that starts with `-` is still the option's value.
    return [`--prompt=${prompt}`, '--output-format', 'json', '--yolo', ...args]
  }
}
