import { describe, expect, it } from 'vitest'
import { mountSpec } from '../../src/sandbox/container.js'

/** Docker's reading of a --mount value: one CSV record (encoding/csv), then key=value fields. */
function dockerFields(value: string): string[] {
  const out: string[] = []
  let cur = ''
  let quoted = false
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!
    if (quoted && ch === '"' && value[i + 1] === '"') {
      cur += '"'
      i++
    } else if (quoted && ch === '"') {
      quoted = false
    } else if (quoted) {
      cur += ch
    } else if (ch === '"' && cur === '') {
      quoted = true
    } else if (ch === ',') {
      out.push(cur)
      cur = ''
    } else {
      cur += ch
    }
  }
  out.push(cur)
  return out
}

describe('mountSpec', () => {
  it('keeps a path holding commas, quotes and newlines one field', () => {
    const target = '/workspace/.git/modules/x,source=/etc,target=/pwned/"q"\n/config'
    const fields = dockerFields(mountSpec({ source: '/priv/0.config', target, readOnly: true }))
    expect(fields).toEqual(['type=bind', 'source=/priv/0.config', `target=${target}`, 'readonly'])
  })

  it('leaves ordinary paths as they were', () => {
    expect(mountSpec({ source: '/a/b', target: '/workspace' })).toBe(
      'type=bind,source=/a/b,target=/workspace'
    )
  })
})
