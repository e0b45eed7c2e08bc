import { AirlockError } from '../errors.js'
import { agentConfigGlobs } from './agent-config.js'
import { DiffError, filePath, parseUnifiedDiff, type FileDiff } from './diff.js'

/**
 * Paths a patch may not touch unless the workflow author allows them by pattern. They steer
 * CI (`.github/`), review routing (`CODEOWNERS`), what gets cloned (`.gitmodules`) or what the
 * next agent run believes (agent configuration, agent-config.ts): a prompt-injected agent
 * would aim there. Matched case-insensitively, because checkouts on case-insensitive file
 * systems read `claude.md` as `CLAUDE.md`; a path is also protected when it is the directory
 * entry that holds protected paths (see {@link isProtectedPath}).
 */
export const PROTECTED_PATHS: readonly string[] = [
  '.github/**',
  '**/CODEOWNERS',
  '**/.gitmodules',
  ...agentConfigGlobs()
]

/** Limits and exceptions for {@link validatePatch}. */
export interface PatchPolicy {
  /** Largest patch, in bytes (default 1 MiB). */
  maxBytes?: number
  /** Most files one patch may touch (default 100). */
  maxFiles?: number
  /** Patterns lifting the protection of {@link PROTECTED_PATHS} (e.g. `.github/workflows/**`). */
  allowPaths?: readonly string[]
  /** Replaces {@link PROTECTED_PATHS}. */
  protectedPaths?: readonly string[]
}

/** The outcome of {@link validatePatch}: `problems` empty means the patch may be applied. */
export interface PatchValidation {
  files: FileDiff[]
  problems: string[]
  bytes: number
}

/** A patch refused by policy; `problems` lists every reason, one line each. */
export class PatchRejectedError extends AirlockError {
  constructor(readonly problems: string[]) {
    super('AIRLOCK_PATCH_REJECTED', `the patch was refused:\n- ${problems.join('\n- ')}`)
  }
}

export const DEFAULT_MAX_PATCH_BYTES = 1024 * 1024
export const DEFAULT_MAX_PATCH_FILES = 100

/**
 * A glob for repository paths: `**` any number of segments (including none), `*` and `?`
 * within one segment. Anchored at the repository root; case-insensitive.
 */
export function globToRegExp(glob: string): RegExp {
  let re = ''
  const g = glob.replace(/^\.?\/+/, '')
  for (let i = 0; i < g.length; i++) {
    const c = g[i]!
    if (c === '*' && g[i + 1] === '*') {
      const slashAfter = g[i + 2] === '/'
      re += slashAfter ? '(?:.*/)?' : '.*'
      i += slashAfter ? 2 : 1
    } else if (c === '*') re += '[^/]*'
    else if (c === '?') re += '[^/]'
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${re}$`, 'i')
}

/** Whether `path` matches any of the globs. */
export function matchesAny(path: string, globs: readonly string[]): boolean {
  return globs.some((g) => globToRegExp(g).test(path))
}

/**
 * The path as a case-folding, trailing-dot-dropping file system (Windows, macOS) would see
 * each segment: `.github./x` and `.GitHub /x` are `.github/x` there.
 */
function foldSegments(path: string): string {
  return path
    .split('/')
    .map((s) => s.replace(/[. ]+$/, '') || s)
    .join('/')
}

/**
 * Whether `path` is protected: it matches a protected glob itself, or it is a directory entry
 * under which a protected path could lie. The second half matters because the Git database
 * API (POST /git/trees with `base_tree`) replaces a whole subtree when an entry of type blob
 * is written at its path, and removes it when the entry's sha is null: a "file" named
 * `.github` deletes every workflow. NUL cannot occur in a path, so `path/<NUL>` stands for
 * "anything inside path".
 */
export function isProtectedPath(path: string, globs: readonly string[]): boolean {
  const candidates = new Set([path, foldSegments(path)])
  return [...candidates].some((p) => matchesAny(p, globs) || matchesAny(`${p}/\0`, globs))
}

/**
 * Why a path can never be written by a patch, whatever the policy allows: absolute, escaping
 * the repository, inside `.git`, or spelled so that a file system might read it differently.
 */
export function unsafePathReason(path: string): string | undefined {
  if (path === '') return 'empty path'
  if ([...path].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f))
    return 'control character in path'
  if (path.includes('\\')) return 'backslash in path (a separator on Windows)'
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) return 'absolute path'
  const segs = path.split('/')
  for (const s of segs) {
    if (s === '' || s === '.') return 'empty or "." path segment'
    if (s === '..') return 'path escapes the repository ("..")'
    // `.git`, and what Windows and macOS would treat as `.git` (`.GIT`, `.git.`, `.git `).
    if (/^\.git[. ]*$/i.test(s)) return 'path inside .git'
  }
  return undefined
}

const MODE_FILE = new Set(['100644', '100755'])

/**
 * Checks a patch against the policy: size, file count, binary content, submodules and
 * symlinks, unsafe paths, and protected paths not explicitly allowed. Both the old and the new
 * path of a rename count. Returns every problem found, so one run tells the author all of them.
 */
export function validatePatch(patch: Buffer | string, policy: PatchPolicy = {}): PatchValidation {
  const buf = typeof patch === 'string' ? Buffer.from(patch, 'utf8') : patch
  const maxBytes = policy.maxBytes ?? DEFAULT_MAX_PATCH_BYTES
  const maxFiles = policy.maxFiles ?? DEFAULT_MAX_PATCH_FILES
  const protectedPaths = policy.protectedPaths ?? PROTECTED_PATHS
  const allow = policy.allowPaths ?? []
  const problems: string[] = []
  if (buf.length > maxBytes) {
    problems.push(`the patch is ${buf.length} bytes; the limit is ${maxBytes}`)
    return { files: [], problems, bytes: buf.length }
  }
  let files: FileDiff[]
  try {
    files = parseUnifiedDiff(buf.toString('latin1'), { latin1: true })
  } catch (err) {
    if (err instanceof DiffError) {
      problems.push(`the patch cannot be parsed: ${err.message}`)
      return { files: [], problems, bytes: buf.length }
    }
    throw err
  }
  if (buf.length > 0 && files.length === 0) problems.push('the patch holds no file changes')
  if (files.length > maxFiles)
    problems.push(`the patch touches ${files.length} files; the limit is ${maxFiles}`)
  const seen = new Set<string>()
  for (const f of files) {
    const name = filePath(f)
    if (f.binary) problems.push(`${name}: binary changes are not accepted`)
    for (const mode of [f.oldMode, f.newMode]) {
      if (mode === undefined || MODE_FILE.has(mode)) continue
      problems.push(
        mode === '160000'
          ? `${name}: submodule changes are not accepted`
          : mode === '120000'
            ? `${name}: symbolic links are not accepted`
            : `${name}: unsupported file mode ${mode}`
      )
    }
    for (const p of new Set([f.oldPath, f.newPath])) {
      if (p === null) continue
      const unsafe = unsafePathReason(p)
      if (unsafe) {
        problems.push(`${JSON.stringify(p)}: ${unsafe}`)
        continue
      }
      // allow-paths lift protection for what they match themselves, never for the entry
      // holding them: `.github/workflows/**` does not let a blob replace `.github/workflows`.
      if (isProtectedPath(p, protectedPaths) && !matchesAny(p, allow))
        problems.push(`${p}: protected path (allow it explicitly with allow-paths to change it)`)
    }
    if (f.newPath !== null) {
      const key = f.newPath.toLowerCase()
      if (seen.has(key)) problems.push(`${f.newPath}: changed twice in one patch`)
      seen.add(key)
    }
  }
  return { files, problems: [...new Set(problems)], bytes: buf.length }
}

/** {@link validatePatch}, throwing {@link PatchRejectedError} when anything is wrong. */
export function assertPatchAllowed(patch: Buffer | string, policy: PatchPolicy = {}): FileDiff[] {
  const v = validatePatch(patch, policy)
  if (v.problems.length > 0) throw new PatchRejectedError(v.problems)
  return v.files
}

/** Splits a multi-line or comma-separated input into patterns. */
export function parsePatternList(raw: string): string[] {
  return raw
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter((s) => s !== '' && !s.startsWith('#'))
}
