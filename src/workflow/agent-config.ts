/**
 * What each supported agent CLI reads from the directory it works in, and so what a pull
 * request could plant to steer the agent that reviews or edits it. The list is data: the
 * prepare step strips every entry from the checkout (then restores the base commit's
 * versions), the publish step refuses patches that write them, and docs/workflows.md shows it
 * as a table. Each entry names where the behaviour is documented or implemented; when a CLI
 * adds a new file, it is added here (and a test for it in test/workflow/agent-config.test.ts).
 */

/** Which CLI reads the entry (`all`: more than one). */
export type ConfigAgent = 'claude' | 'codex' | 'gemini'

/** One file or directory an agent CLI loads from the workspace. */
export interface AgentConfigEntry {
  /** File or directory name, matched case-insensitively (checkouts on macOS/Windows fold case). */
  name: string
  /** A directory is stripped whole, with everything under it. */
  kind: 'file' | 'dir'
  /**
   * `any`: at any depth (the CLI walks the tree, or loads nested copies when it touches a
   * subdirectory); `root`: only at the top of the checkout, where the CLI starts.
   */
  depth: 'any' | 'root'
  agents: readonly ConfigAgent[]
  /** What the CLI does with it, in a few words. */
  effect: string
  /** Where that is documented or implemented. */
  source: string
}

const CLAUDE_MEMORY = 'https://code.claude.com/docs/en/memory'
const CLAUDE_SETTINGS = 'https://code.claude.com/docs/en/settings'
const CODEX_AGENTS_MD = 'https://developers.openai.com/codex/guides/agents-md'
const CODEX_SKILLS = 'https://developers.openai.com/codex/skills'
const GEMINI_SRC = 'google-gemini/gemini-cli'

export const AGENT_CONFIG: readonly AgentConfigEntry[] = [
  {
    name: 'CLAUDE.md',
    kind: 'file',
    depth: 'any',
    agents: ['claude'],
    effect:
      'project instructions; copies in subdirectories are loaded when the agent reads files there; `@path` imports',
    source: CLAUDE_MEMORY
  },
  {
    name: 'CLAUDE.local.md',
    kind: 'file',
    depth: 'any',
    agents: ['claude'],
    effect: 'personal project instructions, loaded like CLAUDE.md',
    source: CLAUDE_MEMORY
  },
  {
    name: '.claude',
    kind: 'dir',
    depth: 'any',
    agents: ['claude'],
    effect:
      '`settings.json`/`settings.local.json` (permissions, hooks that run commands, env, MCP and plugin enablement), `commands/`, `agents/`, `skills/`, `rules/`, `output-styles/`',
    source: CLAUDE_SETTINGS
  },
  {
    name: '.mcp.json',
    kind: 'file',
    depth: 'any',
    agents: ['claude'],
    effect: 'project MCP servers (commands the CLI starts)',
    source: 'https://code.claude.com/docs/en/mcp'
  },
  {
    name: 'AGENTS.md',
    kind: 'file',
    depth: 'any',
    agents: ['codex'],
    effect:
      'project instructions, one per directory from the git root down to the working directory',
    source: CODEX_AGENTS_MD
  },
  {
    name: 'AGENTS.override.md',
    kind: 'file',
    depth: 'any',
    agents: ['codex'],
    effect: 'replaces AGENTS.md of the same directory',
    source: CODEX_AGENTS_MD
  },
  {
    name: '.codex',
    kind: 'dir',
    depth: 'any',
    agents: ['codex'],
    effect:
      '`config.toml` (project layers from the root down to the working directory, trusted projects: model provider, MCP servers, sandbox, `project_doc_fallback_filenames`), `hooks.json`, `rules/*.rules`',
    source: 'https://developers.openai.com/codex/config-basic'
  },
  {
    name: '.agents',
    kind: 'dir',
    depth: 'any',
    agents: ['codex', 'gemini'],
    effect:
      '`skills/` (Codex: from the working directory up to the repository root; Gemini: `.agents/skills` of the workspace), `plugins/marketplace.json`',
    source: `${CODEX_SKILLS}; ${GEMINI_SRC} packages/core/src/config/storage.ts (getProjectAgentSkillsDir)`
  },
  {
    name: 'GEMINI.md',
    kind: 'file',
    depth: 'any',
    agents: ['gemini'],
    effect:
      'context file (hierarchical memory: up to the git root and down into subdirectories); other names only through the `context.fileName` setting, which lives in `.gemini/settings.json`',
    source: `${GEMINI_SRC} packages/core/src/utils/memoryDiscovery.ts, tools/memoryTool.ts`
  },
  {
    name: '.gemini',
    kind: 'dir',
    depth: 'any',
    agents: ['gemini'],
    effect:
      '`settings.json` (MCP servers, hooks, tools, `context.fileName`), `.env` (read before the root `.env`), `system.md` (system prompt with `GEMINI_SYSTEM_MD=true`), `commands/`, `skills/`, `agents/`, `extensions/`, `policies/`',
    source: `${GEMINI_SRC} packages/core/src/config/storage.ts, packages/cli/src/config/settings.ts (findEnvFile)`
  },
  {
    name: '.env',
    kind: 'file',
    depth: 'root',
    agents: ['gemini', 'codex'],
    effect:
      'Gemini: in a trusted workspace (Airlock sets `GEMINI_CLI_TRUST_WORKSPACE`) every variable is loaded, e.g. `GEMINI_SYSTEM_MD=<file>` replaces the system prompt, `GOOGLE_GEMINI_BASE_URL`; the search starts in the working directory and walks up. Codex (older releases) loaded the working directory\u2019s `.env` too',
    source: `${GEMINI_SRC} packages/cli/src/config/settings.ts (findEnvFile, loadEnvironment); openai/codex PR #1653`
  },
  {
    name: '.geminiignore',
    kind: 'file',
    depth: 'any',
    agents: ['gemini'],
    effect:
      'hides files from the agent\u2019s file tools: a PR could hide what it changes from its reviewer',
    source: `${GEMINI_SRC} packages/core/src/config/constants.ts (GEMINI_IGNORE_FILE_NAME)`
  },
  {
    name: '.aiexclude',
    kind: 'file',
    depth: 'any',
    agents: ['gemini'],
    effect:
      'Gemini Code Assist\u2019s ignore file (not referenced by Gemini CLI\u2019s source); stripped because it can only hide files',
    source: 'https://developers.google.com/gemini-code-assist/docs/create-aiexclude-file'
  }
]

const ANY_FILES = new Set(
  AGENT_CONFIG.filter((e) => e.kind === 'file' && e.depth === 'any').map((e) =>
    e.name.toLowerCase()
  )
)
const ROOT_FILES = new Set(
  AGENT_CONFIG.filter((e) => e.kind === 'file' && e.depth === 'root').map((e) =>
    e.name.toLowerCase()
  )
)
const ANY_DIRS = new Set(
  AGENT_CONFIG.filter((e) => e.kind === 'dir' && e.depth === 'any').map((e) => e.name.toLowerCase())
)
const ROOT_DIRS = new Set(
  AGENT_CONFIG.filter((e) => e.kind === 'dir' && e.depth === 'root').map((e) =>
    e.name.toLowerCase()
  )
)

/**
 * Whether a directory entry named `name`, found at `depth` segments below the checkout's root
 * (0 for the root itself), is agent configuration to remove whole. The entry is removed
 * whatever its type: a file named `.claude` or a symbolic link named `CLAUDE.md` goes too.
 */
export function isAgentConfigEntry(name: string, depth: number): boolean {
  const n = name.toLowerCase()
  if (ANY_FILES.has(n) || ANY_DIRS.has(n)) return true
  return depth === 0 && (ROOT_FILES.has(n) || ROOT_DIRS.has(n))
}

/** Whether a repository path is agent configuration or lies inside it (case-insensitive). */
export function isAgentConfigPath(path: string): boolean {
  const segs = path.split('/')
  return segs.some((s, i) => {
    const n = s.toLowerCase()
    const last = i === segs.length - 1
    if (ANY_DIRS.has(n) || (i === 0 && ROOT_DIRS.has(n))) return true
    return last && (ANY_FILES.has(n) || (i === 0 && ROOT_FILES.has(n)))
  })
}

/**
 * The entries as protected-path globs for the patch validator: each directory both as the
 * entry itself and everything under it (a blob named `.claude` replaces the directory in the
 * Git database API as surely as a file inside it changes it).
 */
export function agentConfigGlobs(): string[] {
  return AGENT_CONFIG.flatMap((e) => {
    const at = e.depth === 'any' ? `**/${e.name}` : e.name
    return e.kind === 'dir' ? [at, `${at}/**`] : [at]
  })
}

/** The rows of the table in docs/workflows.md (a test keeps the document in step with the data). */
export function agentConfigTable(): string[] {
  const cell = (s: string): string => s.replace(/\|/g, '\\|')
  return [
    '| Agent | File or directory | Where | What the CLI does with it | Source |',
    '| --- | --- | --- | --- | --- |',
    ...AGENT_CONFIG.map((e) => {
      const name = `\`${e.name}${e.kind === 'dir' ? '/' : ''}\``
      const where = e.depth === 'any' ? 'any depth' : 'checkout root'
      const sources = e.source
        .split('; ')
        .map((s) => (s.startsWith('http') ? `<${s}>` : s))
        .join('; ')
      return `| ${e.agents.join(', ')} | ${name} | ${where} | ${cell(e.effect)} | ${cell(sources)} |`
    })
  ]
}
