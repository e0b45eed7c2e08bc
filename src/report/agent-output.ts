/** What the agent reported, read from its JSON output. */
export interface AgentReport {
  result?: string
  sessionId?: string
  inputTokens?: number
  outputTokens?: number
  /** US dollars, when the agent reports it (Claude Code's total_cost_usd). */
  costUsd?: number
}

function lastJsonObject(stdout: string): Record<string, unknown> | undefined {
  const trimmed = stdout.trim()
  const candidates = [trimmed, ...trimmed.split('\n').reverse()]
  for (const c of candidates) {
    if (!c.startsWith('{')) continue
    try {
      return JSON.parse(c) as Record<string, unknown>
    } catch {
      // not this one
    }
  }
  return undefined
}

// Token counts and the session id become step outputs that workflows put in `run:` scripts
// and `if:` expressions as if they were numbers and identifiers; the agent's output says what
// they are, so anything else (text, a shell expansion, a second line) is dropped, not passed on.
const num = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined
const dollars = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 && v < 1e6 ? v : undefined
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
/** A session id as the agents make them (UUIDs, `thread_…`): word characters, `.`, `:`, `-`. */
const id = (v: unknown): string | undefined =>
  typeof v === 'string' && /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(v) ? v : undefined

/** Claude: one object with result, session_id and usage. */
function claude(stdout: string): AgentReport {
  const o = lastJsonObject(stdout)
  if (!o) return {}
  const usage = (o.usage ?? {}) as Record<string, unknown>
  return {
    result: str(o.result),
    sessionId: id(o.session_id),
    inputTokens: num(usage.input_tokens),
    outputTokens: num(usage.output_tokens),
    costUsd: dollars(o.total_cost_usd)
  }
}

/** Codex `exec --json`: JSON lines; the last agent_message is the answer, turn.completed has usage. */
function codex(stdout: string): AgentReport {
  const out: AgentReport = {}
  let input = 0
  let output = 0
  let sawUsage = false
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue
    let e: Record<string, unknown>
    try {
      e = JSON.parse(line) as Record<string, unknown>
    } catch {
      continue
    }
    if (e.type === 'thread.started') out.sessionId = id(e.thread_id) ?? out.sessionId
    const item = e.item as Record<string, unknown> | undefined
    if (e.type === 'item.completed' && item?.type === 'agent_message')
      out.result = str(item.text) ?? out.result
    if (e.type === 'turn.completed') {
      const usage = (e.usage ?? {}) as Record<string, unknown>
      input += num(usage.input_tokens) ?? 0
      output += num(usage.output_tokens) ?? 0
      sawUsage = true
    }
  }
  if (sawUsage) Object.assign(out, { inputTokens: input, outputTokens: output })
  return out
}

/** Gemini: one object with session_id, response and per-model token stats. */
function gemini(stdout: string): AgentReport {
  const o = lastJsonObject(stdout)
  if (!o) return {}
  let input: number | undefined
  let output: number | undefined
  const models = ((o.stats ?? {}) as Record<string, unknown>).models as
    Record<string, { tokens?: Record<string, unknown> }> | undefined
  for (const m of Object.values(models ?? {})) {
    input = (input ?? 0) + (num(m.tokens?.prompt) ?? num(m.tokens?.input) ?? 0)
    output = (output ?? 0) + (num(m.tokens?.candidates) ?? num(m.tokens?.output) ?? 0)
  }
  return {
    result: str(o.response),
    sessionId: id(o.session_id),
    inputTokens: input,
    outputTokens: output
  }
}

export function parseAgentOutput(agent: string | undefined, stdout: string): AgentReport {
  if (agent === 'claude') return claude(stdout)
  if (agent === 'codex') return codex(stdout)
  if (agent === 'gemini') return gemini(stdout)
  return {}
}
