import { describe, expect, it } from 'vitest'
import { CommandFence, logSafe } from '../../src/sandbox/log-fence.js'
import { workflowCommands } from '../support/runner.js'

function fenced(chunks: string[], own: string[] = []): string {
  let log = ''
  const fence = new CommandFence((t) => (log += t.toString()))
  chunks.forEach((c, i) => {
    fence.output(Buffer.from(c))
    if (own[i]) {
      fence.close()
      log += `${own[i]}\n`
    }
  })
  fence.close()
  return log
}

const ATTACKS = [
  '::add-mask::airlock',
  '::set-output name=conclusion::success',
  '::save-state name=resources::[]',
  '::warning::pwned',
  '  ::error file=x::pwned',
  '::group::pwned',
  '::stop-commands::guess',
  '::guess::',
  'text ##[add-mask]airlock',
  '::set-env name=NODE_OPTIONS::--require /tmp/x'
]

describe('CommandFence', () => {
  it('no workflow command printed by the container takes effect, partial lines included', () => {
    const log = fenced([ATTACKS.join('\n'), '\n::endgroup::', ' no newline ::error::x'])
    const r = workflowCommands(log)
    expect(r.commands).toEqual([])
    expect(r.stopped).toBe(false)
  })

  it("Airlock's own lines between container output still work, and the token changes each time", () => {
    const log = fenced(['::warning::a\n', '::warning::b'], ['::warning::own-1', '::notice::own-2'])
    expect(workflowCommands(log).commands.map((c) => c.data)).toEqual(['own-1', 'own-2'])
    const tokens = [...log.matchAll(/^::stop-commands::(\w+)$/gm)].map((m) => m[1])
    expect(tokens).toHaveLength(2)
    expect(new Set(tokens).size).toBe(2)
    expect(tokens[0]).toMatch(/^[0-9a-f]{48}$/)
  })

  it('without the fence the same output would take effect (the harness sees commands)', () => {
    expect(workflowCommands(ATTACKS.join('\n')).commands.length).toBeGreaterThan(5)
  })
})

describe('logSafe', () => {
  it('keeps agent text from starting a command line or a legacy command', () => {
    const url = 'https://x.test/a%0A::error::b\n::add-mask::c\r##[set-output name=a]b'
    const line = `Airlock blocked GET ${logSafe(url)}`
    expect(line).not.toMatch(/[\r\n]/)
    expect(workflowCommands(line).commands).toEqual([])
    expect(workflowCommands(logSafe('::warning::x')).commands).toEqual([])
  })
})
