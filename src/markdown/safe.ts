/**
 * Markdown from hostile text. Everything Airlock writes to GitHub (job summary, tracking
 * comments, review bodies, inline review comments, pull request titles and bodies) holds
 * text that someone else controls: the agent's prose, URLs and hosts the agent asked the
 * proxy for, file paths from a patch, issue titles. Rendered as GitHub renders Markdown, such
 * text could load images from any host (GitHub fetches them through camo whenever someone
 * views the page, carrying data in the URL), link anywhere, page people and teams, create
 * backlinks on other repositories, or break the structure Airlock put around it.
 *
 * Two tools, both built on one real CommonMark + GFM parser (micromark, the same rules
 * GitHub's cmark-gfm follows):
 * - {@link codeSpan}: one untrusted value (a host, a URL, a path) as a code span that nothing
 *   can close, on one line, safe in a table cell.
 * - {@link safeMarkdown}: agent prose meant to be read as Markdown, parsed and re-rendered as
 *   a safe subset (paragraphs, emphasis, headings, lists, quotes, code, tables) in which links,
 *   images, raw HTML, mentions, cross-references and autolinks can only come out as text.
 *
 * This module sits below report/ and workflow/ so both use the same rules.
 */
import type { Nodes, PhrasingContent, Root, RootContent } from 'mdast'
import { fromMarkdown } from 'mdast-util-from-markdown'
import { gfmFromMarkdown } from 'mdast-util-gfm'
import { gfm } from 'micromark-extension-gfm'

/** Parses Markdown the way GitHub does (CommonMark + GFM: tables, autolinks, footnotes, …). */
export function parseMarkdown(text: string): Root {
  return fromMarkdown(text, { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] })
}

/**
 * Characters that render as nothing, or reorder what is around them (bidi controls: the
 * "Trojan Source" trick), or control a terminal. They are shown as `<U+XXXX>` so a comment
 * reads as what it contains. A zero-width joiner between emoji is kept (it builds one glyph).
 */
const INVISIBLE =
  // Control characters and lone combining marks are exactly what this matches.
  // eslint-disable-next-line no-control-regex, no-misleading-character-class
  /(?<!\p{Extended_Pictographic}\uFE0F?)\u200D|\u200D(?!\p{Extended_Pictographic})|[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B\u200C\u200E\u200F\u2028-\u202E\u2060-\u206F\u3164\uFEFF\uFFA0\uFFF9-\uFFFB]|[\u{E0000}-\u{E007F}]/gu

/** Shows invisible and reordering characters as `<U+XXXX>`. */
export function revealInvisible(text: string): string {
  return text.replace(
    INVISIBLE,
    (c) => `<U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}>`
  )
}

/** Whether `text` holds a character {@link revealInvisible} would show. */
export function hasInvisible(text: string): boolean {
  INVISIBLE.lastIndex = 0
  const found = INVISIBLE.test(text)
  INVISIBLE.lastIndex = 0
  return found
}

/** Cuts `text` to at most `max` characters (never between the halves of a surrogate pair). */
export function truncate(text: string, max: number, mark = '…'): string {
  if (text.length <= max) return text
  let cut = Math.max(0, max - mark.length)
  if (/[\uD800-\uDBFF]/.test(text[cut - 1] ?? '')) cut--
  return text.slice(0, cut) + mark
}

/** Options of {@link codeSpan}. */
export interface CodeSpanOptions {
  /** The span sits in a GFM table cell: `|` must be escaped (GFM strips the `\` again). */
  table?: boolean
  /** Longest value shown (default 500 characters); longer values end in `…`. */
  max?: number
}

/**
 * One untrusted value as an inline code span: nothing inside a code span is a link, image,
 * HTML, mention or autolink. The fence is one backtick longer than any run inside, padded
 * with spaces when the value starts or ends with a backtick or space (CommonMark §6.1);
 * line breaks are shown as `\n`/`\r` so the value stays on its line (and in its table cell);
 * invisible characters are revealed; in a table, `|` is escaped as GFM requires.
 */
export function codeSpan(value: string, opts: CodeSpanOptions = {}): string {
  let v = truncate(value, opts.max ?? 500)
  v = v.replace(/\r/g, '\\r').replace(/\n/g, '\\n').replace(/\t/g, ' ')
  v = revealInvisible(v)
  if (v === '') return '(empty)'
  if (v.trim() === '') return `(${v.length} space${v.length === 1 ? '' : 's'})`
  // GFM splits a row at every `|` not escaped by a backslash, also inside code spans. A
  // backslash already before a `|` would make `\\|`, which cmark-gfm and micromark read
  // differently; such a backslash is revealed instead.
  if (opts.table) v = v.replace(/\\(?=\|)/g, '<U+005C>').replace(/\|/g, '\\|')
  let longest = 0
  for (const m of v.matchAll(/`+/g)) longest = Math.max(longest, m[0].length)
  const fence = '`'.repeat(longest + 1)
  const pad = /^[` ]|[` ]$/.test(v) ? ' ' : ''
  return `${fence}${pad}${v}${pad}${fence}`
}

/**
 * Text GitHub would turn into something live: URLs and `www.` autolinks, e-mail addresses,
 * `@user`/`@org/team` mentions, and references that notify or backlink (`owner/repo#1`,
 * `owner/repo@sha`, `#1`, `GH-1`). Each becomes a code span.
 */
const LIVE = new RegExp(
  [
    // scheme:// URLs and the schemes GFM autolinks without slashes.
    String.raw`\b[A-Za-z][A-Za-z0-9+.-]{1,31}:\/\/[^\s<>]*`,
    String.raw`\b(?:mailto|xmpp):[^\s<>]+`,
    String.raw`\bwww\.[^\s<>]+`,
    // e-mail addresses (GitHub autolinks them) before mentions, which they contain.
    // (Each starts only where its run of name characters starts: tried at every position of a
    // long run, it would cost quadratic time.)
    String.raw`(?<![A-Za-z0-9._+-])[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+`,
    String.raw`(?<![A-Za-z0-9_.-])[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+(?:#\d+|@[0-9a-fA-F]{7,40})\b`,
    String.raw`@[A-Za-z0-9_][A-Za-z0-9_-]*(?:\/[A-Za-z0-9_.-]+)?`,
    String.raw`(?<![\w&])#\d+\b`,
    String.raw`\bGH-\d+\b`
  ].join('|'),
  'gi'
)

/** ASCII punctuation that means something in inline Markdown, escaped wherever it appears. */
const INLINE_SPECIAL = /[\\`*_[\]<>|~&$]/g

/**
 * Plain text as Markdown that renders as exactly that text: live things in code spans,
 * Markdown punctuation backslash-escaped, and what would start a block at the beginning of a
 * line (`#`, `-`, `+`, `=`, `1.`) escaped too.
 */
export function safeText(text: string, opts: { table?: boolean } = {}): string {
  const s = revealInvisible(text.replace(/\r\n?/g, '\n'))
  let out = ''
  let last = 0
  let live = ''
  const flush = (): void => {
    if (live) out = join(out, codeSpan(live, { table: opts.table, max: 2000 }))
    live = ''
  }
  for (const m of s.matchAll(LIVE)) {
    // Touching matches (`@a@b`) become one span: two spans side by side could pair up wrong.
    if (m.index > last) {
      flush()
      out = join(out, escapePlain(s.slice(last, m.index)))
    }
    live += m[0]
    last = m.index + m[0].length
  }
  flush()
  return join(out, escapePlain(s.slice(last)))
}

/**
 * Concatenates rendered pieces. Where a backtick would touch a backtick (two code spans, or
 * a span after an escaped backtick), a space goes between: backtick runs that touch merge
 * into one run of another length, and a span whose fence changed length may not close,
 * leaving its content as live text.
 */
function join(a: string, b: string): string {
  return a.endsWith('`') && b.startsWith('`') ? `${a} ${b}` : a + b
}

function escapePlain(s: string): string {
  return s
    .replace(INLINE_SPECIAL, '\\$&')
    .replace(/(^|\n)([ \t]*)([#+=-])/g, '$1$2\\$3')
    .replace(/(^|\n)([ \t]*\d{1,9})([.)])/g, '$1$2\\$3')
}

/**
 * A single-line value for places that render only a little Markdown, like pull request
 * titles (code spans and references, no backslash escapes): one line, invisible characters
 * revealed, backticks made quotes, live things (mentions, references, URLs) in code spans.
 */
export function safeTitle(text: string, max = 200): string {
  const s = revealInvisible(
    truncate(
      text
        .replace(/[\r\n]+/g, ' ')
        .replace(/`/g, "'")
        .trim(),
      max
    )
  )
  return (
    s
      .replace(LIVE, (m) => `\`${m}\``)
      // Titles render no links, images or HTML today; should one ever be shown as Markdown,
      // `](` and `<tag` still make none (a link needs `(` right after `]`).
      .replace(/\]\(/g, '] (')
      .replace(/<(?=[A-Za-z/!?])/g, '< ')
  )
}

/**
 * Whether a text is too costly to parse: a line opening more than 32 nested containers
 * (`> > > …`, `- - - …`, `1. 1. …`), or more than 5,000 emphasis delimiters.
 * The parser's time grows with the square of the nesting (20,000 levels take minutes) and
 * its stack runs out; no one writes such text to be read, so it is shown as code instead.
 */
export function tooDeep(src: string): boolean {
  // Emphasis delimiters cost the parser quadratic time too (20,000 of them take a minute).
  let delimiters = 0
  for (const c of src)
    if ((c === '*' || c === '_' || c === '~') && ++delimiters > 5_000) return true
  return /^(?:[ \t]{0,3}(?:>|[-*+](?=[ \t])|\d{1,9}[.)](?=[ \t]))[ \t]*){33}/m.test(src)
}

/** Options of {@link safeMarkdown}. */
export interface SafeMarkdownOptions {
  /** Longest output in characters; longer input is cut (before rendering) to fit. */
  maxChars?: number
}

interface Ctx {
  src: string
  defs: Map<string, string>
}

/** What {@link safeMarkdown} appends when it had to cut the text. */
export const TRUNCATED_NOTE = '*…(cut to fit GitHub’s length limit)*'

/**
 * Agent prose, re-rendered as inert Markdown: parsed with the CommonMark + GFM parser and
 * written back as a subset that keeps the reading (paragraphs, emphasis, strikethrough,
 * headings, lists, task lists, quotes, code spans, fenced code blocks, including
 * ```suggestion blocks, and tables with escaped cells) while links and images become their
 * text plus the URL in a code span, raw HTML (tags, `<details>`, comments, so also anything
 * looking like Airlock's own markers) becomes code, and mentions, references, bare URLs and
 * e-mail addresses become code spans. The result never holds a link, image, HTML or mention
 * for GitHub to act on, however the input was written.
 *
 * Too long a text is cut before it is rendered, never after: cutting rendered Markdown can
 * split a code span or an escape and bring back what it neutralised.
 */
export function safeMarkdown(text: string, opts: SafeMarkdownOptions = {}): string {
  const max = opts.maxChars ?? 60_000
  const room = Math.max(0, max - TRUNCATED_NOTE.length - 2)
  let src = text.replace(/\r\n?/g, '\n')
  let cut = false
  // Bound the parser's work (pathological emphasis or brackets take it seconds per 10,000
  // characters): a text longer than its room is cut first, since it could not fit anyway.
  if (src.length > max) {
    src = cutSource(src, max)
    cut = true
  }
  let out = renderOrShow(src)
  // Escapes and code spans make the output longer than its source: cut the source in
  // proportion and render again, a few times at most.
  for (let i = 0; i < 4 && out.length > (cut ? room : max); i++) {
    src = cutSource(src, Math.floor((src.length * room * 0.95) / out.length))
    out = renderOrShow(src)
    cut = true
  }
  // Still too long: the text as a code block, which is at most a fence longer than itself.
  if (out.length > (cut ? room : max)) out = codeBlock(truncate(src, Math.floor(room / 3), ''))
  return cut ? `${out}${out ? '\n\n' : ''}${TRUNCATED_NOTE}` : out
}

/** The first `max` characters of Markdown source, at a line boundary when one is near. */
function cutSource(src: string, max: number): string {
  const next = truncate(src, Math.max(0, Math.min(src.length - 1, max)), '')
  const nl = next.lastIndexOf('\n')
  return nl > next.length / 2 ? next.slice(0, nl) : next
}

/**
 * {@link render}, or the text as a code block when it cannot be rendered: nesting thousands
 * deep (`> > > …`) exhausts the parser's stack, and a text that cannot be parsed is shown.
 */
function renderOrShow(src: string): string {
  if (tooDeep(src)) return codeBlock(src)
  try {
    return render(src)
  } catch {
    return codeBlock(src)
  }
}

function render(src: string): string {
  const tree = parseMarkdown(src)
  const ctx: Ctx = { src, defs: new Map() }
  collectDefinitions(tree, ctx.defs)
  return blocks(tree.children, ctx).trim()
}

function collectDefinitions(node: Nodes, defs: Map<string, string>): void {
  if (node.type === 'definition') {
    if (!defs.has(node.identifier)) defs.set(node.identifier, node.url)
    return
  }
  if ('children' in node) for (const c of node.children) collectDefinitions(c, defs)
}

/** The source text of a node (for constructs shown as code). */
function source(node: Nodes, ctx: Ctx): string {
  const s = node.position?.start.offset
  const e = node.position?.end.offset
  return s === undefined || e === undefined ? '' : ctx.src.slice(s, e)
}

/** A fenced code block nothing inside can close. */
export function codeBlock(value: string, lang = ''): string {
  let longest = 0
  for (const m of value.matchAll(/`+/g)) longest = Math.max(longest, m[0].length)
  const fence = '`'.repeat(Math.max(3, longest + 1))
  const info = /^[A-Za-z0-9_+.#-]{1,32}$/.test(lang) ? lang : ''
  return `${fence}${info}\n${revealInvisible(value.replace(/\n$/, ''))}\n${fence}`
}

function blocks(nodes: RootContent[], ctx: Ctx): string {
  return nodes
    .map((n) => block(n, ctx))
    .filter((b) => b !== '')
    .join('\n\n')
}

function block(node: RootContent, ctx: Ctx): string {
  switch (node.type) {
    case 'paragraph':
      return inline(node.children, ctx, false)
    case 'heading': {
      const text = inline(node.children, ctx, false).replace(/\n/g, ' ')
      return text ? `${'#'.repeat(node.depth)} ${text}` : ''
    }
    case 'thematicBreak':
      return '---'
    case 'blockquote':
      return blocks(node.children, ctx)
        .split('\n')
        .map((l) => (l === '' ? '>' : `> ${l}`))
        .join('\n')
    case 'list': {
      const start = node.start ?? 1
      return node.children
        .map((item, i) => {
          const marker = node.ordered ? `${start + i}.` : '-'
          const task = item.checked === true ? '[x] ' : item.checked === false ? '[ ] ' : ''
          const body = blocks(item.children, ctx)
          const pad = ' '.repeat(marker.length + 1)
          const [first = '', ...rest] = body.split('\n')
          // A bare marker with text after it on the first line; an empty item stays empty.
          const head = `${marker}${first || task ? ` ${task}${first}` : ''}`
          return [head, ...rest.map((l) => (l === '' ? '' : pad + l))].join('\n')
        })
        .join(node.spread ? '\n\n' : '\n')
    }
    case 'code':
      return codeBlock(node.value, node.lang ?? '')
    case 'html':
      // Raw HTML is shown, not rendered: <img>, <a>, <details>, comments, forged markers.
      return codeBlock(node.value, 'html')
    case 'definition':
      // Invisible when rendered, but it is what the text says: shown, as code.
      return codeSpan(source(node, ctx).replace(/\n/g, ' '), { max: 2000 })
    case 'footnoteDefinition': {
      const body = blocks(node.children, ctx)
      return `${safeText(`[^${node.label ?? node.identifier}]:`)} ${body}`
    }
    case 'table': {
      const rows = node.children.map((row) =>
        row.children.map((cell) => inline(cell.children, ctx, true).replace(/\n/g, ' '))
      )
      const width = Math.max(1, ...rows.map((r) => r.length))
      const line = (cells: string[]): string =>
        `| ${Array.from({ length: width }, (_, i) => cells[i] ?? '').join(' | ')} |`
      const align = Array.from({ length: width }, (_, i) => {
        const a = node.align?.[i]
        return a === 'left' ? ':---' : a === 'right' ? '---:' : a === 'center' ? ':---:' : '---'
      })
      return [line(rows[0] ?? []), `| ${align.join(' | ')} |`, ...rows.slice(1).map(line)].join(
        '\n'
      )
    }
    default:
      // Anything this renderer does not know is shown as its source, as code.
      return codeBlock(source(node, ctx))
  }
}

function inline(nodes: PhrasingContent[], ctx: Ctx, table: boolean): string {
  let out = ''
  for (const n of nodes) out = join(out, phrase(n, ctx, table))
  return out
}

function wrap(mark: string, inner: string): string {
  return inner.trim() === '' ? inner : `${mark}${inner}${mark}`
}

function phrase(node: PhrasingContent, ctx: Ctx, table: boolean): string {
  switch (node.type) {
    case 'text':
      return safeText(node.value, { table })
    case 'emphasis':
      return wrap('*', inline(node.children, ctx, table))
    case 'strong':
      return wrap('**', inline(node.children, ctx, table))
    case 'delete':
      return wrap('~~', inline(node.children, ctx, table))
    case 'inlineCode':
      // CommonMark turns line endings in a code span into spaces.
      return codeSpan(node.value.replace(/\n/g, ' '), { table, max: 2000 })
    case 'break':
      return table ? ' ' : '\\\n'
    case 'link':
    case 'linkReference': {
      const url = node.type === 'link' ? node.url : (ctx.defs.get(node.identifier) ?? '')
      const src = source(node, ctx)
      // An autolink (`<https://…>`, a bare URL or e-mail): its text is the address.
      if (node.type === 'link' && !src.startsWith('['))
        return codeSpan(src.replace(/^<|>$/g, ''), { table, max: 2000 })
      const label = inline(node.children, ctx, table)
      return `${label}${label ? ' ' : ''}(${codeSpan(url, { table, max: 2000 })})`
    }
    case 'image':
    case 'imageReference': {
      const url = node.type === 'image' ? node.url : (ctx.defs.get(node.identifier) ?? '')
      const alt = node.alt ? ` ${safeText(node.alt, { table })}` : ''
      return `(image${alt}: ${codeSpan(url, { table, max: 2000 })})`
    }
    case 'html':
      return codeSpan(node.value.replace(/\n/g, ' '), { table, max: 2000 })
    case 'footnoteReference':
      return safeText(`[^${node.label ?? node.identifier}]`, { table })
    default:
      return codeSpan(source(node, ctx).replace(/\n/g, ' '), { table, max: 2000 })
  }
}

/**
 * Whether `body` carries Airlock's marker comment as Airlock writes it: a real HTML comment
 * node (not text, not code) equal to `marker`, on the body's first or last line. Agent text
 * that spells the marker is rendered as code by {@link safeMarkdown}, so it never counts.
 */
export function hasMarker(body: string, marker: string): boolean {
  const lines = body.replace(/\r\n?/g, '\n').split('\n')
  if (lines[0] !== marker && lines[lines.length - 1] !== marker) return false
  const found: string[] = []
  const visit = (n: Nodes): void => {
    if (n.type === 'html' && n.value.trim() === marker) found.push(n.value)
    if ('children' in n) for (const c of n.children) visit(c)
  }
  visit(parseMarkdown(body))
  return found.length > 0
}
