import { registry } from '../provider/index.js'
import { ClaudeProvider } from './claude.js'
import { AwsProvider } from './aws.js'
import { GcpProvider } from './gcp.js'
import { CodexProvider } from './codex.js'
import { CustomProvider } from './custom.js'
import { GeminiProvider } from './gemini.js'
import { GitHubProvider } from './github.js'
import { NpmProvider } from './npm.js'

/** Registers every built-in provider and alias. Explicit, never an import side effect. */
export function registerAll(): void {
  for (const p of [
    new GitHubProvider(),
    new ClaudeProvider(),
    new CodexProvider(),
    new GeminiProvider(),
    new AwsProvider(),
    new GcpProvider(),
    new NpmProvider(),
    new CustomProvider()
  ]) {
    registry.register(p)
  }
  registry.registerAlias('anthropic', 'claude')
  registry.registerAlias('openai', 'codex')
  registry.registerAlias('google', 'gemini')
}
