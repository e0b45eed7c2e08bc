import { createHash } from 'node:crypto'
import { AirlockError } from '../errors.js'

/** A diff that cannot be parsed. */
export class DiffError extends AirlockError {
  constructor(message: string) {
    super('AIRLOCK_BAD_DIFF', message)
  }
}

/** A patch whose context does not match the file it is applied to. */
export class PatchConflictError extends AirlockError {
  constructor(
    readonly path: string,
    message: string
  ) {
    super('AIRLOCK_PATCH_CONFLICT', `${path}: ${message}`)
  }
}

/** One line of a hunk. Line numbers are 1-based, per side. */
export interface DiffLine {
  kind: 'context' | 'add' | 'del'
  /** The line without its marker character and without the newline. */
  text: string
  oldLine?: number
  newLine?: number
  /** Followed by `\ No newline at end of file`: this line ends its side's file without one. */
  noNewline: boolean
}

/** One `@@ -a,b +c,d @@` hunk. */
export interface DiffHunk {
  oldStart: number
  oldCount: number
  newStart: number
  newCount: number
  lines: DiffLine[]
}

export type FileStatus = 'added' | 'deleted' | 'modified' | 'renamed' | 'copied'

/** One file of a unified diff (git's extended format). */
export interface FileDiff {
  /** Null for an added file. */
  oldPath: string | null
  /** Null for a deleted file. */
  newPath: string | null
  status: FileStatus
  oldMode?: string
  newMode?: string
  binary: boolean
  /** Abbreviated blob ids from the `index` line, when present. */
  oldIndex?: string
  newIndex?: string
  hunks: DiffHunk[]
}

/** Options for {@link parseUnifiedDiff}. */
export interface ParseOptions {
  /**
   * The text was decoded as latin1 (one char per byte, so file contents stay byte-exact);
   * paths are then re-decoded as the UTF-8 git writes them in.
   */
  latin1?: boolean
}

/** The path a reviewer sees for a file: the new one, or the old one when it was deleted. */
export function filePath(f: Pick<FileDiff, 'oldPath' | 'newPath'>): string {
  return f.newPath ?? f.oldPath ?? ''
}

/** Git's object id of a blob with these bytes (SHA-1 of `blob <size>\0<bytes>`). */
export function gitBlobSha(content: Buffer): string {
  return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex')
}

/**
 * Undoes git's C-style quoting of a path (`"a/t\303\244b"`, core.quotePath) into bytes. Git
 * quotes names holding control characters, `"`, `\` or (by default) non-ASCII bytes.
 */
function unquoteBytes(q: string): Buffer {
  const out: number[] = []
  for (let i = 1; i < q.length - 1; i++) {
    const c = q[i]!
    if (c !== '\\') {
      out.push(...Buffer.from(c, 'latin1'))
      continue
    }
    const n = q[++i] ?? ''
    const simple: Record<string, number> = {
      a: 7,
      b: 8,
      t: 9,
      n: 10,
      v: 11,
      f: 12,
      r: 13,
      '"': 34,
      '\\': 92
    }
    if (n in simple) out.push(simple[n]!)
    else if (/[0-7]/.test(n)) {
      const oct = q.slice(i, i + 3)
      if (!/^[0-7]{3}$/.test(oct)) throw new DiffError(`bad octal escape in path ${q}`)
      out.push(parseInt(oct, 8))
      i += 2
    } else throw new DiffError(`bad escape \\${n} in path ${q}`)
  }
  return Buffer.from(out)
}

interface Decoder {
  (raw: string): string
}

function makeDecoder(latin1: boolean): Decoder {
  return (raw) => {
    if (raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2)
      return unquoteBytes(raw).toString('utf8')
    return latin1 ? Buffer.from(raw, 'latin1').toString('utf8') : raw
  }
}

/** `a/x` → `x`; `/dev/null` → null. A trailing tab (and timestamp, GNU style) is not part of a name. */
function sidePath(raw: string, decode: Decoder): string | null {
  let s = raw
  if (!s.startsWith('"')) s = s.replace(/\t.*$/, '')
  if (s === '/dev/null') return null
  const p = decode(s)
  return p.replace(/^[ab]\//, '')
}

/** The two names of `diff --git a/X b/Y`, when they can be told apart. */
function gitHeaderPaths(rest: string, decode: Decoder): [string, string] | undefined {
  if (rest.startsWith('"')) {
    const m = /^("(?:[^"\\]|\\.)*")\s+(.+)$/.exec(rest)
    if (!m) return undefined
    return [decode(m[1]!).replace(/^a\//, ''), decode(m[2]!).replace(/^b\//, '')]
  }
  if (rest.endsWith('"')) {
    const m = /^(.+?)\s+("(?:[^"\\]|\\.)*")$/.exec(rest)
    if (!m) return undefined
    return [decode(m[1]!).replace(/^a\//, ''), decode(m[2]!).replace(/^b\//, '')]
  }
  // Unquoted names may hold spaces; an unrenamed file repeats its name, so split in the middle.
  const len = (rest.length - 5) / 2
  if (Number.isInteger(len) && len > 0) {
    const a = rest.slice(2, 2 + len)
    const b = rest.slice(2 + len + 3)
    if (rest.startsWith('a/') && rest.slice(2 + len, 2 + len + 3) === ' b/' && a === b)
      return [decode(a), decode(b)]
  }
  const at = rest.indexOf(' b/')
  if (rest.startsWith('a/') && at > 0)
    return [decode(rest.slice(2, at)), decode(rest.slice(at + 3))]
  return undefined
}

interface Building extends FileDiff {
  headerPaths?: [string, string]
  sawSides: boolean
  newFile: boolean
  deletedFile: boolean
  renamed: boolean
  copied: boolean
}

function startFile(headerPaths?: [string, string]): Building {
  return {
    oldPath: null,
    newPath: null,
    status: 'modified',
    binary: false,
    hunks: [],
    headerPaths,
    sawSides: false,
    newFile: false,
    deletedFile: false,
    renamed: false,
    copied: false
  }
}

function finish(b: Building): FileDiff {
  let { oldPath, newPath } = b
  if (!b.sawSides && !b.renamed && !b.copied && b.headerPaths) {
    oldPath = b.headerPaths[0]
    newPath = b.headerPaths[1]
  }
  if (b.renamed || b.copied) {
    oldPath ??= b.headerPaths?.[0] ?? null
    newPath ??= b.headerPaths?.[1] ?? null
  }
  if (b.newFile) oldPath = null
  if (b.deletedFile) newPath = null
  const status: FileStatus =
    oldPath === null
      ? 'added'
      : newPath === null
        ? 'deleted'
        : b.renamed
          ? 'renamed'
          : b.copied
            ? 'copied'
            : 'modified'
  if (oldPath === null && newPath === null) throw new DiffError('a file of the diff has no name')
  const f: FileDiff = { oldPath, newPath, status, binary: b.binary, hunks: b.hunks }
  if (b.oldMode !== undefined) f.oldMode = b.oldMode
  if (b.newMode !== undefined) f.newMode = b.newMode
  if (b.oldIndex !== undefined) f.oldIndex = b.oldIndex
  if (b.newIndex !== undefined) f.newIndex = b.newIndex
  return f
}

const HUNK = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/

/**
 * Parses a unified diff as git writes it (`git diff`, the `.diff` media type of GitHub's API),
 * including extended headers (modes, renames, copies, binary markers) and C-quoted names.
 * Hunk line counts are enforced: a truncated or padded hunk is an error, never guessed at.
 */
export function parseUnifiedDiff(text: string, opts: ParseOptions = {}): FileDiff[] {
  const decode = makeDecoder(opts.latin1 ?? false)
  const lines = text.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  const files: FileDiff[] = []
  let cur: Building | undefined
  const flush = (): void => {
    if (cur) files.push(finish(cur))
    cur = undefined
  }
  let i = 0
  while (i < lines.length) {
    const line = lines[i]!
    if (line.startsWith('diff --git ')) {
      flush()
      cur = startFile(gitHeaderPaths(line.slice('diff --git '.length), decode))
      i++
      continue
    }
    if (line.startsWith('--- ') && lines[i + 1]?.startsWith('+++ ')) {
      if (!cur || cur.sawSides || cur.hunks.length > 0) {
        flush()
        cur = startFile()
      }
      cur.sawSides = true
      cur.oldPath = sidePath(line.slice(4), decode)
      cur.newPath = sidePath(lines[i + 1]!.slice(4), decode)
      i += 2
      continue
    }
    if (cur && HUNK.test(line)) {
      i = readHunk(lines, i, cur)
      continue
    }
    if (cur && cur.hunks.length === 0) {
      let m: RegExpExecArray | null
      if ((m = /^old mode (\d+)$/.exec(line))) cur.oldMode = m[1]!
      else if ((m = /^new mode (\d+)$/.exec(line))) cur.newMode = m[1]!
      else if ((m = /^new file mode (\d+)$/.exec(line))) {
        cur.newFile = true
        cur.newMode = m[1]!
      } else if ((m = /^deleted file mode (\d+)$/.exec(line))) {
        cur.deletedFile = true
        cur.oldMode = m[1]!
      } else if ((m = /^index ([0-9a-f]+)\.\.([0-9a-f]+)(?: (\d+))?$/.exec(line))) {
        cur.oldIndex = m[1]!
        cur.newIndex = m[2]!
        if (m[3]) {
          cur.oldMode ??= m[3]
          cur.newMode ??= m[3]
        }
      } else if ((m = /^rename from (.+)$/.exec(line))) {
        cur.renamed = true
        cur.oldPath = decode(m[1]!)
      } else if ((m = /^rename to (.+)$/.exec(line))) {
        cur.renamed = true
        cur.newPath = decode(m[1]!)
      } else if ((m = /^copy from (.+)$/.exec(line))) {
        cur.copied = true
        cur.oldPath = decode(m[1]!)
      } else if ((m = /^copy to (.+)$/.exec(line))) {
        cur.copied = true
        cur.newPath = decode(m[1]!)
      } else if (line.startsWith('Binary files ') && line.endsWith(' differ')) {
        cur.binary = true
        const bm = /^Binary files (.+) and (.+) differ$/.exec(line)
        if (bm && !cur.sawSides) {
          cur.sawSides = true
          cur.oldPath = sidePath(bm[1]!, decode)
          cur.newPath = sidePath(bm[2]!, decode)
        }
      } else if (line === 'GIT binary patch') {
        cur.binary = true
        // The base85 payload runs to the next file; none of it is diff syntax.
        i++
        while (i < lines.length && !lines[i]!.startsWith('diff --git ')) i++
        continue
      }
    }
    // Anything else (a commit message preamble, `similarity index`, trailing noise) is skipped.
    i++
  }
  flush()
  return files
}

function readHunk(lines: string[], start: number, cur: Building): number {
  const m = HUNK.exec(lines[start]!)!
  const h: DiffHunk = {
    oldStart: Number(m[1]),
    oldCount: m[2] === undefined ? 1 : Number(m[2]),
    newStart: Number(m[3]),
    newCount: m[4] === undefined ? 1 : Number(m[4]),
    lines: []
  }
  let remOld = h.oldCount
  let remNew = h.newCount
  let o = h.oldStart
  let n = h.newStart
  let i = start + 1
  const where = (): string => `${filePath(cur)} hunk ${lines[start]!.slice(0, 60)}`
  while ((remOld > 0 || remNew > 0) && i < lines.length) {
    const l = lines[i]!
    const c = l[0]
    if (c === '\\') {
      const last = h.lines[h.lines.length - 1]
      if (!last) throw new DiffError(`${where()}: "\\" marker before any line`)
      last.noNewline = true
    } else if (c === ' ' || l === '') {
      // Some tools strip the single space of an empty context line.
      if (remOld === 0 || remNew === 0) throw new DiffError(`${where()}: more lines than counted`)
      h.lines.push({
        kind: 'context',
        text: l.slice(1),
        oldLine: o++,
        newLine: n++,
        noNewline: false
      })
      remOld--
      remNew--
    } else if (c === '-') {
      if (remOld === 0) throw new DiffError(`${where()}: more removed lines than counted`)
      h.lines.push({ kind: 'del', text: l.slice(1), oldLine: o++, noNewline: false })
      remOld--
    } else if (c === '+') {
      if (remNew === 0) throw new DiffError(`${where()}: more added lines than counted`)
      h.lines.push({ kind: 'add', text: l.slice(1), newLine: n++, noNewline: false })
      remNew--
    } else {
      throw new DiffError(`${where()}: the hunk ends early (${remOld}/${remNew} lines missing)`)
    }
    i++
  }
  if (remOld > 0 || remNew > 0)
    throw new DiffError(
      `${where()}: the diff ends inside a hunk (${remOld}/${remNew} lines missing)`
    )
  if (lines[i]?.startsWith('\\')) {
    const last = h.lines[h.lines.length - 1]
    if (last) last.noNewline = true
    i++
  }
  // A hunk line right after the counted ones means the header lies about the hunk's size.
  const next = lines[i]
  if (
    next !== undefined &&
    (next.startsWith(' ') ||
      next.startsWith('+') ||
      (next.startsWith('-') && !(next.startsWith('--- ') && lines[i + 1]?.startsWith('+++ '))))
  )
    throw new DiffError(`${where()}: more lines than the hunk header counts`)
  const prev = cur.hunks[cur.hunks.length - 1]
  if (prev && h.oldStart < prev.oldStart + prev.oldCount)
    throw new DiffError(`${where()}: hunks overlap or are out of order`)
  cur.hunks.push(h)
  return i
}

function splitLines(text: string): { lines: string[]; finalNewline: boolean } {
  if (text === '') return { lines: [], finalNewline: true }
  const lines = text.split('\n')
  if (lines[lines.length - 1] === '') {
    lines.pop()
    return { lines, finalNewline: true }
  }
  return { lines, finalNewline: false }
}

/**
 * Applies one file's hunks to its original text and returns the new text (null when the file
 * is deleted). Every context and removed line must match exactly at the position the hunk
 * names: the patch was made against a known commit, so there is nothing to search for, and
 * fuzz would only hide a wrong base. Work on latin1 strings to stay byte-exact.
 */
export function applyHunks(original: string | null, f: FileDiff): string | null {
  const path = filePath(f)
  if (f.status === 'added') {
    if (original !== null) throw new PatchConflictError(path, 'is added by the patch but exists')
  } else if (original === null) {
    throw new PatchConflictError(path, 'does not exist in the base commit')
  }
  const orig = splitLines(original ?? '')
  const out: string[] = []
  let cursor = 0
  let finalNewline = orig.finalNewline
  for (const h of f.hunks) {
    const start = h.oldCount === 0 ? h.oldStart : h.oldStart - 1
    if (start < cursor || start > orig.lines.length)
      throw new PatchConflictError(path, `hunk at line ${h.oldStart} is outside the file`)
    for (let k = cursor; k < start; k++) out.push(orig.lines[k]!)
    let idx = start
    let newSideEndsBare = false
    for (const l of h.lines) {
      if (l.kind !== 'add') {
        const have = orig.lines[idx]
        if (have === undefined || have !== l.text)
          throw new PatchConflictError(path, `line ${idx + 1} does not match the patch`)
        const isLast = idx === orig.lines.length - 1
        if (l.noNewline !== (isLast && !orig.finalNewline))
          throw new PatchConflictError(path, `line ${idx + 1}: end-of-file newline differs`)
        idx++
      }
      if (l.kind !== 'del') {
        out.push(l.text)
        newSideEndsBare = l.noNewline
      }
    }
    cursor = idx
    if (idx === orig.lines.length) finalNewline = !newSideEndsBare
  }
  for (let k = cursor; k < orig.lines.length; k++) out.push(orig.lines[k]!)
  if (f.status === 'deleted') {
    if (out.length > 0)
      throw new PatchConflictError(path, 'is deleted by the patch but lines would remain')
    return null
  }
  if (out.length === 0) return ''
  return out.join('\n') + (finalNewline ? '\n' : '')
}
