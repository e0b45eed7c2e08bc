/** A run of markdown text, marked as code (fenced block or inline span) or prose. */
export interface Segment {
  text: string
  code: boolean
}

const FENCE_OPEN = /^ {0,3}(`{3,}|~{3,})(.*)$/

/**
 * Splits markdown into code and prose, the way GitHub renders it (CommonMark §4.5 fenced code
 * blocks, §6.1 code spans): a fence closes at a line of at least as many of the same
 * character (or the end of the text); a code span closes at the next backtick run of exactly
 * the same length, and an unmatched run is literal text.
 */
export function segments(text: string): Segment[] {
  const out: Segment[] = []
  const push = (t: string, code: boolean): void => {
    if (t === '') return
    const last = out[out.length - 1]
    if (last && last.code === code) last.text += t
    else out.push({ text: t, code })
  }
  const lines = text.split(/(?<=\n)/)
  let prose = ''
  let i = 0
  while (i < lines.length) {
    const line = lines[i]!
    const m = FENCE_OPEN.exec(line.replace(/\r?\n$/, ''))
    // A backtick fence's info string may not hold backticks (that is an inline span).
    if (m && !(m[1]![0] === '`' && m[2]!.includes('`'))) {
      pushInline(prose, push)
      prose = ''
      const ch = m[1]![0]!
      const len = m[1]!.length
      const close = new RegExp(`^ {0,3}\\${ch}{${len},}[ \\t]*$`)
      let block = line
      i++
      while (i < lines.length) {
        const l = lines[i]!
        block += l
        i++
        if (close.test(l.replace(/\r?\n$/, ''))) break
      }
      push(block, true)
      continue
    }
    prose += line
    i++
  }
  pushInline(prose, push)
  return out
}

function pushInline(text: string, push: (t: string, code: boolean) => void): void {
  let i = 0
  let plainStart = 0
  while (i < text.length) {
    if (text[i] !== '`') {
      i++
      continue
    }
    let j = i
    while (text[j] === '`') j++
    const run = j - i
    // Find the next run of exactly `run` backticks.
    let k = j
    let closeAt = -1
    while (k < text.length) {
      if (text[k] !== '`') {
        k++
        continue
      }
      let e = k
      while (text[e] === '`') e++
      if (e - k === run) {
        closeAt = k
        break
      }
      k = e
    }
    if (closeAt < 0) {
      i = j
      continue
    }
    push(text.slice(plainStart, i), false)
    push(text.slice(i, closeAt + run), true)
    i = closeAt + run
    plainStart = i
  }
  push(text.slice(plainStart), false)
}

/**
 * The prose of a comment, for finding a trigger phrase: without code (fences, indented
 * blocks, spans, `<code>`/`<pre>`), quotes (`>` lines: someone quoting an earlier request is
 * not a new one) and HTML comments (invisible when rendered). Removed parts become spaces so
 * neighbouring words never join.
 */
export function proseOnly(text: string): string {
  const noComments = text.replace(/<!--[\s\S]*?(?:-->|$)/g, ' ')
  const noHtmlCode = noComments.replace(/<(code|pre|tt|kbd|samp)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, ' ')
  const prose = segments(noHtmlCode)
    .map((s) => (s.code ? s.text.replace(/[^\n]/g, ' ') : s.text))
    .join('')
  // Blanking keeps every newline, so line i of the blanked text is line i of the original;
  // indentation and quote markers are judged on the original line.
  const original = noHtmlCode.split('\n')
  const lines = prose.split('\n')
  const kept: string[] = []
  let prevBlank = true
  let inIndented = false
  lines.forEach((line, i) => {
    const orig = original[i] ?? ''
    const blank = orig.trim() === ''
    // CommonMark §4.4: an indented code block starts after a blank line (not inside a paragraph).
    if (!blank && /^( {4}|\t)/.test(orig) && (prevBlank || inIndented)) {
      inIndented = true
      kept.push('')
      prevBlank = false
      return
    }
    if (!blank) inIndented = false
    kept.push(/^ {0,3}>/.test(orig) ? '' : line)
    prevBlank = blank
  })
  return kept.join('\n')
}

/**
 * Turns `@name` and `@org/team` mentions in agent-written text into code spans, so a
 * prompt-injected agent cannot page people or teams. Text already in code is left alone.
 */
export function neutralizeMentions(text: string): string {
  return segments(text)
    .map((s) =>
      s.code
        ? s.text
        : s.text.replace(
            /(^|[^\w`@/.-])@([A-Za-z0-9][A-Za-z0-9-]{0,38}(?:\/[A-Za-z0-9._-]+)?)(?![\w-])/g,
            '$1`@$2`'
          )
    )
    .join('')
}

/** A code fence long enough to wrap `text` (one backtick more than its longest run). */
export function fenceFor(text: string): string {
  let longest = 0
  for (const m of text.matchAll(/`+/g)) longest = Math.max(longest, m[0].length)
  return '`'.repeat(Math.max(3, longest + 1))
}
