import { AirlockError } from '../errors.js'
import { filePath, type FileDiff } from './diff.js'

/** One inline comment of a review, in the shape of GitHub's review API. */
export interface ReviewComment {
  path: string
  /** The (last) line commented on, numbered on `side`. */
  line: number
  /** RIGHT: the PR's version (added or unchanged lines); LEFT: the base (removed lines). */
  side: 'LEFT' | 'RIGHT'
  /** First line of a multi-line comment. */
  startLine?: number
  body: string
}

/** The kind of review GitHub records. */
export type Verdict = 'COMMENT' | 'APPROVE' | 'REQUEST_CHANGES'

/** A review as the agent writes it, after validation. */
export interface Review {
  summary: string
  comments: ReviewComment[]
  /**
   * What the agent would conclude. Posted as such only when the workflow opts in
   * (`allow-verdict`); otherwise every review is a plain comment review.
   */
  verdict?: Verdict
}

/** Limits for {@link parseReview}. */
export interface ReviewLimits {
  /** Largest review file, in bytes (default 256 KiB). */
  maxBytes?: number
  /** Longest summary, in characters (default 20000; GitHub's own limit is 65536). */
  maxSummaryChars?: number
  /** Longest inline comment, in characters (default 4000). */
  maxCommentChars?: number
  /** Most inline comments (default 25). */
  maxComments?: number
}

/** What {@link parseReview} returns: the review, or the reasons it was refused. */
export interface ReviewParse {
  review?: Review
  problems: string[]
  /** Things ignored on the way (unknown fields). */
  warnings: string[]
}

/** A review refused by validation. */
export class ReviewRejectedError extends AirlockError {
  constructor(readonly problems: string[]) {
    super('AIRLOCK_REVIEW_REJECTED', `the review was refused:\n- ${problems.join('\n- ')}`)
  }
}

export const REVIEW_DEFAULTS: Required<ReviewLimits> = {
  maxBytes: 256 * 1024,
  maxSummaryChars: 20_000,
  maxCommentChars: 4_000,
  maxComments: 25
}

/**
 * The review schema, as JSON Schema (draft 2020-12). The prompt shows it to the agent, and
 * {@link parseReview} enforces the same rules (plus the limits, which the prompt states).
 */
export const REVIEW_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['summary'],
  additionalProperties: false,
  properties: {
    summary: { type: 'string', minLength: 1, description: 'Markdown: the overall review.' },
    verdict: {
      enum: ['COMMENT', 'APPROVE', 'REQUEST_CHANGES'],
      default: 'COMMENT',
      description: 'Posted as such only where the workflow allows it.'
    },
    comments: {
      type: 'array',
      items: {
        type: 'object',
        required: ['path', 'line', 'body'],
        additionalProperties: false,
        properties: {
          path: { type: 'string', description: 'File path as in the diff (the new name).' },
          line: { type: 'integer', minimum: 1 },
          side: { enum: ['RIGHT', 'LEFT'], default: 'RIGHT' },
          start_line: { type: 'integer', minimum: 1 },
          body: { type: 'string', minLength: 1 }
        }
      }
    }
  }
} as const

const TOP_KEYS = new Set(['summary', 'comments', 'verdict'])
const VERDICTS = new Set<string>(['COMMENT', 'APPROVE', 'REQUEST_CHANGES'])
const COMMENT_KEYS = new Set(['path', 'line', 'side', 'start_line', 'body'])

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1

/**
 * Parses and checks a review document against {@link REVIEW_SCHEMA} and the limits. Unknown
 * fields are dropped with a warning; anything that would change what gets posted — a wrong
 * type, an over-long text, too many comments — is a problem, and any problem refuses the whole
 * review. A `verdict` other than the three GitHub knows is dropped with a warning; the
 * publisher posts it only where the workflow opted in, a plain comment review otherwise.
 */
export function parseReview(text: string, limits: ReviewLimits = {}): ReviewParse {
  const lim = { ...REVIEW_DEFAULTS, ...limits }
  const problems: string[] = []
  const warnings: string[] = []
  const bytes = Buffer.byteLength(text, 'utf8')
  if (bytes > lim.maxBytes) {
    return {
      problems: [`the review is ${bytes} bytes; the limit is ${lim.maxBytes}`],
      warnings
    }
  }
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    return {
      problems: [`the review is not JSON: ${err instanceof Error ? err.message : String(err)}`],
      warnings
    }
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc))
    return { problems: ['the review must be a JSON object'], warnings }
  const o = doc as Record<string, unknown>
  for (const k of Object.keys(o))
    if (!TOP_KEYS.has(k)) warnings.push(`unknown field "${k}" ignored`)
  const summary = o.summary
  if (typeof summary !== 'string' || summary.trim() === '')
    problems.push('"summary" must be a non-empty string')
  else if (summary.length > lim.maxSummaryChars)
    problems.push(`"summary" has ${summary.length} characters; the limit is ${lim.maxSummaryChars}`)
  const comments: ReviewComment[] = []
  const raw = o.comments ?? []
  if (!Array.isArray(raw)) problems.push('"comments" must be an array')
  else {
    if (raw.length > lim.maxComments)
      problems.push(`${raw.length} comments; the limit is ${lim.maxComments}`)
    raw.forEach((c: unknown, i) => {
      const at = `comments[${i}]`
      if (!c || typeof c !== 'object' || Array.isArray(c)) {
        problems.push(`${at} must be an object`)
        return
      }
      const r = c as Record<string, unknown>
      for (const k of Object.keys(r))
        if (!COMMENT_KEYS.has(k)) warnings.push(`${at}: unknown field "${k}" ignored`)
      const before = problems.length
      if (typeof r.path !== 'string' || r.path === '') problems.push(`${at}.path must be a string`)
      if (!isInt(r.line)) problems.push(`${at}.line must be an integer >= 1`)
      if (r.side !== undefined && r.side !== 'RIGHT' && r.side !== 'LEFT')
        problems.push(`${at}.side must be "RIGHT" or "LEFT"`)
      if (r.start_line !== undefined && !isInt(r.start_line))
        problems.push(`${at}.start_line must be an integer >= 1`)
      if (isInt(r.start_line) && isInt(r.line) && r.start_line >= r.line)
        problems.push(`${at}.start_line must be less than line`)
      if (typeof r.body !== 'string' || r.body.trim() === '')
        problems.push(`${at}.body must be a non-empty string`)
      else if (r.body.length > lim.maxCommentChars)
        problems.push(
          `${at}.body has ${r.body.length} characters; the limit is ${lim.maxCommentChars}`
        )
      if (problems.length > before) return
      const comment: ReviewComment = {
        path: (r.path as string).replace(/^\.?\//, ''),
        line: r.line as number,
        side: (r.side as 'LEFT' | 'RIGHT' | undefined) ?? 'RIGHT',
        body: r.body as string
      }
      if (r.start_line !== undefined) comment.startLine = r.start_line as number
      comments.push(comment)
    })
  }
  let verdict: Verdict | undefined
  if (o.verdict !== undefined) {
    if (typeof o.verdict === 'string' && VERDICTS.has(o.verdict)) verdict = o.verdict as Verdict
    else warnings.push('"verdict" is not COMMENT, APPROVE or REQUEST_CHANGES; ignored')
  }
  if (problems.length > 0) return { problems, warnings }
  return {
    review: { summary: summary as string, comments, ...(verdict ? { verdict } : {}) },
    problems,
    warnings
  }
}

/** Per file, the lines a comment may sit on, and the hunk each belongs to. */
export interface CommentableFile {
  right: Map<number, number>
  left: Map<number, number>
}

/**
 * The lines GitHub accepts review comments on: lines of a hunk, on the side they exist on
 * (RIGHT: added and context lines, new numbering; LEFT: removed and context lines, old
 * numbering). Values are the hunk index, because a multi-line comment cannot span hunks.
 */
export function commentableLines(files: FileDiff[]): Map<string, CommentableFile> {
  const out = new Map<string, CommentableFile>()
  for (const f of files) {
    const entry: CommentableFile = { right: new Map(), left: new Map() }
    f.hunks.forEach((h, hi) => {
      for (const l of h.lines) {
        if (l.newLine !== undefined) entry.right.set(l.newLine, hi)
        if (l.oldLine !== undefined) entry.left.set(l.oldLine, hi)
      }
    })
    out.set(filePath(f), entry)
  }
  return out
}

/** Where a comment can go. */
export interface PlacedComments {
  /** On lines of the diff: posted inline. */
  inline: ReviewComment[]
  /** Elsewhere: with a reason each. */
  outside: { comment: ReviewComment; reason: string }[]
}

/** Why a comment cannot be posted inline against this diff, or undefined when it can. */
export function placementProblem(
  c: ReviewComment,
  lines: Map<string, CommentableFile>
): string | undefined {
  const file = lines.get(c.path)
  if (!file) return `${c.path} is not part of the pull request's diff`
  const side = c.side === 'LEFT' ? file.left : file.right
  const hunk = side.get(c.line)
  if (hunk === undefined) return `${c.path}:${c.line} (${c.side}) is not a line of the diff`
  if (c.startLine !== undefined) {
    const startHunk = side.get(c.startLine)
    if (startHunk === undefined)
      return `${c.path}:${c.startLine} (${c.side}) is not a line of the diff`
    if (startHunk !== hunk) return `${c.path}:${c.startLine}-${c.line} spans more than one hunk`
  }
  return undefined
}

/** Splits comments into those that fit the diff and those that do not. */
export function placeComments(review: Review, files: FileDiff[]): PlacedComments {
  const lines = commentableLines(files)
  const placed: PlacedComments = { inline: [], outside: [] }
  for (const c of review.comments) {
    const reason = placementProblem(c, lines)
    if (reason) placed.outside.push({ comment: c, reason })
    else placed.inline.push(c)
  }
  return placed
}

/**
 * The review document an agent wrote in its final message: the last ```json fenced block that
 * parses as an object, else the message itself when it is a JSON object, else the last
 * balanced `{…}` that parses. Undefined when there is none.
 */
export function extractReviewJson(message: string): string | undefined {
  const fences = [...message.matchAll(/```(?:json)?[ \t]*\n([\s\S]*?)\n[ \t]*```/g)].reverse()
  for (const m of fences) if (isJsonObject(m[1]!)) return m[1]!.trim()
  const t = message.trim()
  if (isJsonObject(t)) return t
  // Scan back from the last `}` for the matching `{` (strings with braces are rare in a
  // summary, and a wrong guess simply fails to parse).
  const end = t.lastIndexOf('}')
  for (let start = t.lastIndexOf('{', end); start >= 0; start = t.lastIndexOf('{', start - 1)) {
    const cand = t.slice(start, end + 1)
    if (isJsonObject(cand)) return cand
  }
  return undefined
}

function isJsonObject(s: string): boolean {
  try {
    const v = JSON.parse(s) as unknown
    return !!v && typeof v === 'object' && !Array.isArray(v)
  } catch {
    return false
  }
}
