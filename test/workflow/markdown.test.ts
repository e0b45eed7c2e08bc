import { describe, expect, it } from 'vitest'
import { fenceFor, neutralizeMentions, proseOnly, segments } from '../../src/workflow/markdown.js'

describe('segments', () => {
  it('separates fenced blocks and code spans from prose', () => {
    const s = segments('a `b` c\n```js\nx @y\n```\nd ``e ` f`` g')
    expect(s).toEqual([
      { text: 'a ', code: false },
      { text: '`b`', code: true },
      { text: ' c\n', code: false },
      { text: '```js\nx @y\n```\n', code: true },
      { text: 'd ', code: false },
      { text: '``e ` f``', code: true },
      { text: ' g', code: false }
    ])
  })

  it('runs an unclosed fence to the end, and treats an unmatched backtick as text', () => {
    expect(segments('a\n~~~\nb')).toEqual([
      { text: 'a\n', code: false },
      { text: '~~~\nb', code: true }
    ])
    expect(segments('it`s fine')).toEqual([{ text: 'it`s fine', code: false }])
  })
})

describe('proseOnly', () => {
  it('blanks code, quotes, HTML comments and indented code', () => {
    const text = [
      'real @a',
      '> quoted @b',
      '<!-- hidden @c -->',
      '<code>@d</code>',
      '',
      '    indented @e',
      'after'
    ].join('\n')
    const p = proseOnly(text)
    expect(p).toContain('@a')
    for (const m of ['@b', '@c', '@d', '@e']) expect(p).not.toContain(m)
    expect(p).toContain('after')
  })

  it('keeps an indented paragraph continuation (not code: no blank line before it)', () => {
    expect(proseOnly('first line\n    continued @x')).toContain('@x')
  })
})

describe('neutralizeMentions', () => {
  it('wraps user and team mentions in code, leaving code and e-mail addresses alone', () => {
    expect(
      neutralizeMentions('ping @octocat and @octo-org/security, mail me@example.com, `@kept`')
    ).toBe('ping `@octocat` and `@octo-org/security`, mail me@example.com, `@kept`')
    expect(neutralizeMentions('```\n@inside\n```')).toBe('```\n@inside\n```')
  })
})

describe('fenceFor', () => {
  it('is longer than any backtick run in the text', () => {
    expect(fenceFor('plain')).toBe('```')
    expect(fenceFor('has ```` four')).toBe('`````')
  })
})
