import { describe, expect, it } from 'vitest'
import { InjectionTable } from '../../src/proxy/inject.js'

describe('InjectionTable.secretList', () => {
  it('is sorted longest first and follows every secret added, also after it was read', () => {
    const t = new InjectionTable()
    t.setCredentialWithGrant('a.test', 'Authorization', 'Bearer tok-aaaaaaaaaa', 'a', 'ph-a')
    const first = t.secretList()
    // The header value's URL- and form-encoded forms (its space) are secrets too.
    expect(first.map(([s]) => s)).toEqual([
      'Bearer%20tok-aaaaaaaaaa',
      'Bearer tok-aaaaaaaaaa',
      'Bearer+tok-aaaaaaaaaa',
      'tok-aaaaaaaaaa'
    ])
    expect(new Map(first).get('Bearer+tok-aaaaaaaaaa')).toBe('Bearer+ph-a')
    // Read again without a change: the same list (it is cached), not a new sort.
    expect(t.secretList()).toBe(first)
    t.addSecret('a-much-longer-raw-signing-key-000')
    const next = t.secretList()
    expect(next[0]).toEqual(['a-much-longer-raw-signing-key-000', 'airlock-redacted'])
    expect(next).toHaveLength(5)
    // A refreshed credential's new value is scrubbed too.
    t.setCredentialWithGrant('a.test', 'Authorization', 'Bearer tok-bbbbbbbbbb', 'a', 'ph-a')
    expect(t.secretList().map(([s]) => s)).toContain('tok-bbbbbbbbbb')
  })
})
