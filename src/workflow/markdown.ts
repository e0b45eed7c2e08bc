import type { PhrasingContent, RootContent } from 'mdast'
import { parseMarkdown, tooDeep } from '../markdown/safe.js'

/**
 * Inline HTML elements whose content is not the author's own prose as GitHub shows it: code
 * (`<code>`, `<pre>`, …), link text (`<a>`), and elements GitHub strips with their content.
 */
const OPAQUE_TAGS = new Set([
  'a',
  'code',
  'kbd',
  'noscript',
  'pre',
  'samp',
  'script',
  'style',
  'template',
  'textarea',
  'tt',
  'var'
])

/**
 * The author's own words in a comment, for finding a trigger phrase: the text of paragraphs,
 * headings and list items, judged by the CommonMark + GFM parser GitHub's rendering follows.
 * Left out, as GitHub would show them as something other than the author's prose: block
 * quotes (including lazy continuation lines, which GitHub renders inside the quote: someone
 * quoting a request is not making one), code spans, fenced and indented code, HTML blocks and
 * comments, inline `<code>`/`<a>`/… elements, link text and URLs, image alt text, autolinked
 * addresses, tables and footnotes. Blocks are separated by newlines and left-out inline parts
 * by spaces, so neighbouring words never join.
 */
export function proseOnly(text: string): string {
  // Nesting deep enough to stall the parser: no prose that can be trusted.
  if (tooDeep(text)) return ''
  let tree
  try {
    tree = parseMarkdown(text.replace(/\r\n?/g, '\n'))
  } catch {
    // Nesting deep enough to exhaust the parser's stack: no prose that can be trusted.
    return ''
  }
  const out: string[] = []
  const walk = (nodes: RootContent[]): void => {
    for (const n of nodes) {
      switch (n.type) {
        case 'paragraph':
        case 'heading':
          out.push(phrasing(n.children))
          break
        case 'list':
          for (const item of n.children) walk(item.children)
          break
        default:
          // blockquote, code, html, table, definition, footnoteDefinition, thematicBreak…
          break
      }
    }
  }
  try {
    walk(tree.children)
  } catch {
    return ''
  }
  return out.join('\n')
}

function phrasing(nodes: PhrasingContent[]): string {
  let out = ''
  // Open inline HTML elements whose content is left out (`<code>…</code>`).
  const open: string[] = []
  const visit = (n: PhrasingContent): void => {
    switch (n.type) {
      case 'text':
        out += open.length > 0 ? ' ' : n.value
        break
      case 'emphasis':
      case 'strong':
      case 'delete':
        for (const c of n.children) visit(c)
        break
      case 'break':
        out += '\n'
        break
      case 'html': {
        const tag = /^<(\/?)([A-Za-z][A-Za-z0-9-]*)\b[^>]*?(\/?)>$/.exec(n.value.trim())
        const name = tag?.[2]?.toLowerCase()
        if (tag && name && OPAQUE_TAGS.has(name) && !tag[3]) {
          if (!tag[1]) open.push(name)
          else if (open.includes(name)) open.length = open.lastIndexOf(name)
        }
        out += ' '
        break
      }
      default:
        // inlineCode, link, linkReference, image, imageReference, footnoteReference.
        out += ' '
        break
    }
  }
  for (const n of nodes) visit(n)
  return out
}

/** A code fence long enough to wrap `text` (one backtick more than its longest run). */
export function fenceFor(text: string): string {
  let longest = 0
  for (const m of text.matchAll(/`+/g)) longest = Math.max(longest, m[0].length)
  return '`'.repeat(Math.max(3, longest + 1))
}
