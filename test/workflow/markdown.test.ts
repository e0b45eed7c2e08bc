import { describe, expect, it } from 'vitest'
import {
  codeSpan,
  hasMarker,
  parseMarkdown,
  revealInvisible,
  safeMarkdown,
  safeText,
  safeTitle,
  TRUNCATED_NOTE
} from '../../src/markdown/safe.js'
import { fenceFor, proseOnly } from '../../src/workflow/markdown.js'
import { clip, mentionLogin } from '../../src/workflow/publish/comments.js'

/** The first inline node of a parsed one-line document. */
const firstInline = (md: string) => {
  const p = parseMarkdown(md).children[0]
  return p && 'children' in p ? p.children[0] : undefined
}

describe('proseOnly', () => {
  it('keeps paragraphs, headings and list items; drops code, quotes, HTML, links', () => {
    const text = [
      'real @a',
      '',
      '> quoted @b',
      'lazy @l',
      '',
      '<!-- hidden @c -->',
      '',
      'x <code>@d</code> [@k](https://example.com) ![@i](x.png)',
      '',
      '    indented @e',
      '',
      '- item @f',
      '# head @g'
    ].join('\n')
    const p = proseOnly(text)
    for (const m of ['@a', '@f', '@g']) expect(p).toContain(m)
    for (const m of ['@b', '@l', '@c', '@d', '@e', '@k', '@i']) expect(p).not.toContain(m)
  })

  it('keeps an indented paragraph continuation (not code: no blank line before it)', () => {
    expect(proseOnly('first line\n    continued @x')).toContain('@x')
  })
})

describe('codeSpan', () => {
  it.each(['plain', '`', '``', 'a`b', 'a``b```c', '`starts', 'ends`', ' both ', '``` x ```'])(
    '%j reads back as exactly itself',
    (v) => {
      const node = firstInline(codeSpan(v))
      expect(node).toMatchObject({ type: 'inlineCode', value: v })
    }
  )

  it('keeps a value on one line and in its table cell', () => {
    const span = codeSpan('a|b\nc\\|d', { table: true })
    const table = parseMarkdown(`| h |\n| - |\n| ${span} |`).children[0]
    expect(table?.type).toBe('table')
    if (table?.type !== 'table') return
    expect(table.children[1]!.children).toHaveLength(1)
    expect(table.children[1]!.children[0]!.children[0]).toMatchObject({
      type: 'inlineCode',
      value: 'a|b\\nc<U+005C>|d'
    })
  })

  it('cuts long values and names empty ones', () => {
    expect(codeSpan('x'.repeat(600))).toBe('`' + 'x'.repeat(499) + '…`')
    expect(codeSpan('')).toBe('(empty)')
  })
})

describe('safeText and safeTitle', () => {
  it('wraps mentions, references and URLs in code', () => {
    expect(safeText('ping @octocat, see o/r#1 and https://x.example')).toBe(
      'ping `@octocat`, see `o/r#1` and `https://x.example`'
    )
    expect(safeTitle('Fix @org/team `x` #5\n[a](b) <img>')).toBe(
      "Fix `@org/team` 'x' `#5` [a] (b) < img>"
    )
  })

  it('reveals invisible and bidi characters, but keeps emoji sequences', () => {
    expect(revealInvisible('a\u202Eb\u200Bc')).toBe('a<U+202E>b<U+200B>c')
    expect(revealInvisible('👨\u200D👩')).toBe('👨\u200D👩')
  })
})

describe('safeMarkdown', () => {
  it('keeps the reading of ordinary review prose', () => {
    const md = [
      '## Summary',
      '',
      'The *cache* is **never** filled; use `Map#get`.',
      '',
      '1. first',
      '2. second',
      '',
      '- [ ] todo',
      '',
      '> note',
      '',
      '```js',
      'const x = 1',
      '```'
    ].join('\n')
    const out = safeMarkdown(md)
    expect(parseMarkdown(out).children.map((n) => n.type)).toEqual([
      'heading',
      'paragraph',
      'list',
      'list',
      'blockquote',
      'code'
    ])
    expect(out).toContain('*cache* is **never** filled; use `Map#get`.')
  })

  it('turns links and images into their text and the URL as code', () => {
    expect(safeMarkdown('[docs](https://x.example) ![chart](https://y.example/c.png)')).toBe(
      'docs (`https://x.example`) (image chart: `https://y.example/c.png`)'
    )
  })

  it('shows raw HTML as code', () => {
    expect(safeMarkdown('<details>\n<summary>x</summary>\n</details>')).toBe(
      '```html\n<details>\n<summary>x</summary>\n</details>\n```'
    )
  })

  it('cuts long text before rendering and says so', () => {
    const out = safeMarkdown('@octocat '.repeat(10_000), { maxChars: 5_000 })
    expect(out.length).toBeLessThanOrEqual(5_000)
    expect(out.endsWith(TRUNCATED_NOTE)).toBe(true)
  })
})

describe('markers, logins and clipping', () => {
  it('finds a marker only as an HTML comment on the first or last line', () => {
    expect(hasMarker('<!-- airlock:tracking -->\ntext', '<!-- airlock:tracking -->')).toBe(true)
    expect(hasMarker('text\n```\n<!-- airlock:tracking -->', '<!-- airlock:tracking -->')).toBe(
      false
    )
    expect(hasMarker('a <!-- airlock:tracking --> b', '<!-- airlock:tracking -->')).toBe(false)
  })

  it('mentions real logins only', () => {
    expect(mentionLogin('mona')).toBe('@mona')
    expect(mentionLogin('renovate[bot]')).toBe('@renovate[bot]')
    expect(mentionLogin('a @b')).toBe('`a @b`')
  })

  it('clips at a line boundary and keeps the trailing marker', () => {
    const body = `${'x'.repeat(50)}\n${'y'.repeat(50)}\n<!-- airlock:review -->`
    const out = clip(body, 100)
    expect(out.length).toBeLessThanOrEqual(100)
    expect(out.startsWith('x'.repeat(50))).toBe(true)
    expect(out.endsWith('\n<!-- airlock:review -->')).toBe(true)
  })
})

describe('fenceFor', () => {
  it('is longer than any backtick run in the text', () => {
    expect(fenceFor('plain')).toBe('```')
    expect(fenceFor('has ```` four')).toBe('`````')
  })
})
