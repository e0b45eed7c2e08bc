import type {
  AgentInstallSpec,
  Credential,
  GrantContext,
  KeyCheck,
  PrepareOpts,
  ProxyConfigurer,
  AgentLimits
} from '../provider/index.js'
import { AgentCliProvider, geminiMcp } from './agent-cli.js'
import { PLACEHOLDERS, requireSecret, serviceAccountProject, staticCredential } from './defaults.js'

export const GEMINI_HOST = 'generativelanguage.googleapis.com'

/** Vertex AI's location for Gemini when the run does not say. */
export const DEFAULT_VERTEX_LOCATION = 'us-central1'

/** Gemini CLI with a Gemini API key, or on Vertex AI through the gcp grant. */
export class GeminiProvider extends AgentCliProvider {
  readonly name = 'gemini'
  readonly npmPackage = '@google/gemini-cli'
  readonly defaultVersion = '0.61.0'
  readonly binary = 'gemini'

  /**
   * The key (`gemini-api-key`); without one, Vertex AI when the run grants `gcp`: the CLI
   * gets its token from Application Default Credentials (the gcp grant's metadata server on
   * the proxy) and this grant holds no secret of its own.
   */
  async grant(ctx: GrantContext): Promise<Credential> {
    const { secrets, grants, env, gcp } = ctx.settings
    if (!secrets['gemini-api-key'] && grants.includes('gcp')) {
      const metadata: Record<string, string> = {
        auth: 'vertex',
        location: env.GOOGLE_CLOUD_LOCATION ?? DEFAULT_VERTEX_LOCATION
      }
      const project = env.GOOGLE_CLOUD_PROJECT ?? serviceAccountProject(gcp.serviceAccount)
      if (project) metadata.project = project
      return { provider: this.name, token: '', createdAt: new Date(), metadata }
    }
    const [, token] = requireSecret(
      ctx,
      this.name,
      ['gemini-api-key'],
      'Set gemini-api-key (e.g. ${{ secrets.GEMINI_API_KEY }}), or grant gcp for Vertex AI.'
    )
    return staticCredential(this.name, token)
  }

  isVertex(cred: Credential): boolean {
    return cred.metadata?.auth === 'vertex'
  }

  configureProxy(p: ProxyConfigurer, cred: Credential): void {
    // On Vertex AI the gcp grant authorises the calls.
    if (this.isVertex(cred)) return
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
  keyCheck(cred: Credential): KeyCheck | undefined {
    if (this.isVertex(cred)) return undefined
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

  hosts(cred: Credential): string[] {
    if (!this.isVertex(cred)) return [GEMINI_HOST]
    const location = cred.metadata?.location ?? DEFAULT_VERTEX_LOCATION
    return location === 'global'
      ? ['aiplatform.googleapis.com']
      : [`${location}-aiplatform.googleapis.com`, 'aiplatform.googleapis.com']
  }

  override containerEnv(cred: Credential): string[] {
    if (!this.isVertex(cred)) return [`GEMINI_API_KEY=${PLACEHOLDERS.gemini}`]
    const m = cred.metadata ?? {}
    return [
      'GOOGLE_GENAI_USE_VERTEXAI=true',
      `GOOGLE_CLOUD_LOCATION=${m.location ?? DEFAULT_VERTEX_LOCATION}`,
      ...(m.project ? [`GOOGLE_CLOUD_PROJECT=${m.project}`] : [])
    ]
  }

  protected agentEnv(_opts: PrepareOpts): string[] {
    return ['GEMINI_CLI_TRUST_WORKSPACE=true']
  }

  protected homeFiles(opts: PrepareOpts): Record<string, string> {
    const settings: Record<string, unknown> = {
      security: {
        auth: { selectedType: this.isVertex(opts.credential) ? 'vertex-ai' : 'gemini-api-key' }
      },
      privacy: { usageStatisticsEnabled: false },
      general: { disableAutoUpdate: true }
    }
    if (opts.limits?.maxTurns) settings.model = { maxSessionTurns: opts.limits.maxTurns }
    if (Object.keys(opts.mcpServers).length > 0) settings.mcpServers = geminiMcp(opts)
    return { '.gemini/settings.json': JSON.stringify(settings, null, 2) }
  }

  installSpec(version: string): AgentInstallSpec {
    // A single-file Node bundle: run it with the runner's Node, mounted at /airlock/node.
    return {
      packageName: '@google/gemini-cli',
      packageVersion: version,
      argv: (dir) => ['/airlock/node', `${dir}/package/bundle/gemini.js`]
    }
  }

  command(prompt: string, args: string[], limits: AgentLimits = {}): string[] {
    // `--prompt=<task>` in one word: a task that starts with `-` is still the option's value.
    // The turn limit is a setting (model.maxSessionTurns in settings.json), not a flag.
    const model = limits.model ? [`--model=${limits.model}`] : []
    return [`--prompt=${prompt}`, '--output-format', 'json', '--yolo', ...model, ...args]
  }
}
