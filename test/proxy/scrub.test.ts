import { describe, expect, it } from 'vitest'
import { scrubBuffer, scrubText, StreamScrubber } from '../../src/proxy/scrub.js'

describe('scrubBuffer', () => {
  const secrets: Array<[string, string]> = [
    ['sk-real-secret-long', 'sk-placeholder'],
    ['sk-real', 'x']
  ]

  it('replaces every occurrence, longest secret first, binary around it intact', () => {
    const buf = Buffer.concat([
      Buffer.from([0, 255, 1]),
      Buffer.from('a sk-real-secret-long b sk-real-secret-long c sk-real d')
    ])
    const out = scrubBuffer(buf, secrets)
    expect([...out.subarray(0, 3)]).toEqual([0, 255, 1])
    expect(out.subarray(3).toString()).toBe('a sk-placeholder b sk-placeholder c x d')
  })

  it('returns the same buffer (no copy) when nothing matches', () => {
    const buf = Buffer.from('nothing to see')
    expect(scrubBuffer(buf, secrets)).toBe(buf)
  })

  it('agrees with the streaming scrubber fed one byte at a time', () => {
    const text = 'xx sk-real-secret-long yy sk-real zz'
    const s = new StreamScrubber(secrets)
    const parts = [...Buffer.from(text)].map((b) => s.push(Buffer.from([b])))
    parts.push(s.flush())
    expect(Buffer.concat(parts).toString()).toBe(scrubBuffer(Buffer.from(text), secrets).toString())
  })
})

describe('StreamScrubber', () => {
  // Secrets that begin one another, overlap, and share first bytes: the hard cases.
  const secrets: Array<[string, string]> = [
    ['tok-abcdef-long', 'PH1'],
    ['tok-abc', 'PH2'],
    ['abcdef', 'PH3'],
    ['cdefXY', 'PH4'],
    ['zzzzzz', 'PH5']
  ].sort((a, b) => b[0]!.length - a[0]!.length) as Array<[string, string]>

  /** A deterministic pseudo-random source (tests must be reproducible). */
  function rng(seed: number): () => number {
    let x = seed
    return () => {
      x = (x * 1103515245 + 12345) % 2 ** 31
      return x / 2 ** 31
    }
  }

  it('gives the same bytes as scrubbing the whole body, however the body is chunked', () => {
    const rand = rng(7)
    const alphabet = ['tok-', 'abc', 'def', 'XY', 'cdef', '-long', 'z', 'zz', 'q', '\n']
    for (let round = 0; round < 400; round++) {
      let text = ''
      while (text.length < 120) text += alphabet[Math.floor(rand() * alphabet.length)]
      const whole = scrubBuffer(Buffer.from(text), secrets).toString()
      const s = new StreamScrubber(secrets)
      const parts: Buffer[] = []
      for (let i = 0; i < text.length;) {
        const n = 1 + Math.floor(rand() * 9)
        parts.push(s.push(Buffer.from(text.slice(i, i + n))))
        i += n
      }
      parts.push(s.flush())
      expect(Buffer.concat(parts).toString(), text).toBe(whole)
      for (const [secret] of secrets) expect(whole, text).not.toContain(secret)
    }
  })

  it('holds back no more than a possible secret start', () => {
    const s = new StreamScrubber(secrets)
    expect(s.push(Buffer.from('data: {"a":1}\n\n')).toString()).toBe('data: {"a":1}\n\n')
    expect(s.push(Buffer.from('x tok-a')).toString()).toBe('x ')
    expect(s.push(Buffer.from('bc!')).toString()).toBe('PH2!')
  })
})

describe('the clean-body fast path', () => {
  // `Bearer x` and its encodings contain `x`: only `x` is searched for in a clean body.
  const secrets: Array<[string, string]> = [
    ['Bearer%20ghp_realtoken1234', 'Bearer%20PH'],
    ['Bearer ghp_realtoken1234', 'Bearer PH'],
    ['ghp_realtoken1234', 'PH']
  ]

  it('still replaces the longer form by its own replacement, in a buffer and a stream', () => {
    const text = 'a Bearer ghp_realtoken1234 b Bearer%20ghp_realtoken1234 c ghp_realtoken1234'
    const want = 'a Bearer PH b Bearer%20PH c PH'
    expect(scrubBuffer(Buffer.from(text), secrets).toString()).toBe(want)
    for (let cut = 1; cut < text.length; cut++) {
      const s = new StreamScrubber(secrets)
      const out = Buffer.concat([
        s.push(Buffer.from(text.slice(0, cut))),
        s.push(Buffer.from(text.slice(cut))),
        s.flush()
      ])
      expect(out.toString(), `cut at ${cut}`).toBe(want)
    }
  })

  it('passes a clean chunk through as the same buffer, holding back only a possible start', () => {
    const s = new StreamScrubber(secrets)
    const clean = Buffer.from('{"data": "nothing secret here"}\n')
    expect(s.push(clean)).toBe(clean)
    expect(s.push(Buffer.from('tail Bearer ghp_real')).toString()).toBe('tail ')
    expect(s.push(Buffer.from('token1234!')).toString()).toBe('Bearer PH!')
  })
})

describe('scrubText', () => {
  // `Bearer x`, base64 forms and `x` itself: the sentinel check must not skip a form that
  // only contains another secret, nor one that contains none.
  const secrets: Array<[string, string]> = [
    ['Bearer ghs_realtoken', 'Bearer ghp_placeholder'],
    ['ghs_realtoken', 'ghp_placeholder'],
    ['Z2hzX3JlYWx0b2tlbg', 'cGxhY2Vob2xkZXI']
  ]

  it('returns the same text when no secret is in it', () => {
    const text = 'application/json; charset=utf-8'
    expect(scrubText(text, secrets)).toBe(text)
  })

  it('replaces a form that holds another secret, and a form that holds none', () => {
    expect(scrubText('a Bearer ghs_realtoken b', secrets)).toBe('a Bearer ghp_placeholder b')
    expect(scrubText('basic Z2hzX3JlYWx0b2tlbg==', secrets)).toBe('basic cGxhY2Vob2xkZXI==')
    expect(scrubText('?t=ghs_realtoken&u=ghs_realtoken', secrets)).toBe(
      '?t=ghp_placeholder&u=ghp_placeholder'
    )
  })

  it('reads a new secret list (a refreshed token) afresh', () => {
    expect(scrubText('ghs_newtoken', secrets)).toBe('ghs_newtoken')
    expect(scrubText('ghs_newtoken', [['ghs_newtoken', 'ghp_placeholder']])).toBe('ghp_placeholder')
  })
})
