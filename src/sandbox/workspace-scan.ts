import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readSync
} from 'node:fs'
import { join, sep } from 'node:path'
import { AirlockError } from '../errors.js'

/** How far the walk goes before it stops and says it did not finish. */
export interface ScanLimits {
  /** Directory entries looked at. */
  maxEntries: number
  /** Bytes read in all. */
  maxTotalBytes: number
  /** Files bigger than this are not read (counted as skipped). */
  maxFileBytes: number
  /** Wall-clock budget of the whole walk. */
  maxMs: number
}

export const DEFAULT_SCAN_LIMITS: ScanLimits = {
  maxEntries: 500_000,
  maxTotalBytes: 1024 * 1024 * 1024,
  maxFileBytes: 64 * 1024 * 1024,
  maxMs: 60_000
}

/** One needle: the bytes searched for, and the label reported (never the bytes). */
export interface Needle {
  label: string
  bytes: Buffer
}

export interface ScanResult {
  /** Workspace-relative paths of files holding a needle, with which needle. */
  hits: Array<{ path: string; label: string }>
  /** Git config files seen (workspace-relative); their content was not searched here. */
  gitConfigs: string[]
  /** Regular files named `.git` (gitlinks of submodules, worktrees and nested checkouts). */
  gitFiles: string[]
  /** Files not read: over maxFileBytes. */
  skippedLarge: string[]
  /** Why the walk stopped early, if it did (a limit was reached). */
  incomplete?: string
}

/** A `config` or `config.worktree` git reads: inside a `.git` directory, at any depth. */
export function isGitConfigPath(rel: string): boolean {
  const parts = rel.split(sep)
  const base = parts.at(-1)
  return (base === 'config' || base === 'config.worktree') && parts.slice(0, -1).includes('.git')
}

/**
 * Walks the workspace and searches every regular file for the needles: no symlink is
 * followed (a link is a name, not content the container could read through the mount), FIFOs,
 * sockets and devices are never opened, a directory already seen (bind-mount loops) is not
 * entered twice, files over the size cap are listed instead of read, and the whole walk is
 * bounded in entries, bytes and time. Git object stores are skipped: their content is
 * compressed, so a literal secret cannot be in them.
 */
export function scanWorkspace(
  root: string,
  needles: Needle[],
  limits: ScanLimits = DEFAULT_SCAN_LIMITS,
  skip: (rel: string) => boolean = () => false
): ScanResult {
  const out: ScanResult = { hits: [], gitConfigs: [], gitFiles: [], skippedLarge: [] }
  const started = Date.now()
  const longest = Math.max(0, ...needles.map((n) => n.bytes.length))
  const chunk = Buffer.alloc(1024 * 1024 + longest)
  const seenDirs = new Set<string>()
  let entries = 0
  let bytes = 0
  const stack: string[] = ['']
  const stop = (why: string): void => {
    out.incomplete ??= why
  }
  while (stack.length > 0 && !out.incomplete) {
    const relDir = stack.pop()!
    const absDir = relDir ? join(root, relDir) : root
    let st
    try {
      st = lstatSync(absDir, { bigint: true })
    } catch {
      continue
    }
    if (!st.isDirectory()) continue
    const key = `${st.dev}:${st.ino}`
    if (seenDirs.has(key)) continue
    seenDirs.add(key)
    let names: string[]
    try {
      names = readdirSync(absDir)
    } catch {
      continue
    }
    for (const name of names) {
      if (++entries > limits.maxEntries) {
        stop(`more than ${limits.maxEntries} entries`)
        break
      }
      if ((entries & 0xff) === 0 && Date.now() - started > limits.maxMs) {
        stop(`took longer than ${Math.round(limits.maxMs / 1000)} s`)
        break
      }
      const rel = relDir ? join(relDir, name) : name
      if (skip(rel)) continue
      let ls
      try {
        ls = lstatSync(join(root, rel))
      } catch {
        continue
      }
      if (ls.isDirectory()) {
        if (name === 'objects' && relDir.split(sep).includes('.git')) continue
        stack.push(rel)
        continue
      }
      // Symlinks, FIFOs, sockets and devices: never opened.
      if (!ls.isFile()) continue
      if (name === '.git') out.gitFiles.push(rel)
      if (isGitConfigPath(rel)) {
        out.gitConfigs.push(rel)
        continue
      }
      if (needles.length === 0) continue
      if (ls.size > limits.maxFileBytes) {
        out.skippedLarge.push(rel)
        continue
      }
      if (bytes + ls.size > limits.maxTotalBytes) {
        stop(`more than ${limits.maxTotalBytes} bytes to read`)
        break
      }
      const found = searchFile(join(root, rel), needles, chunk, longest, limits.maxFileBytes)
      bytes += found.read
      if (found.label) out.hits.push({ path: rel, label: found.label })
    }
  }
  return out
}

/**
 * Searches one file in chunks (overlapping by the longest needle), opened without following
 * a link and without blocking on a FIFO swapped in since the lstat; only a regular file is read.
 */
function searchFile(
  path: string,
  needles: Needle[],
  buf: Buffer,
  longest: number,
  maxBytes: number
): { read: number; label?: string } {
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  } catch {
    return { read: 0 }
  }
  let read = 0
  try {
    if (!fstatSync(fd).isFile()) return { read: 0 }
    let carry = 0
    for (;;) {
      const n = readSync(fd, buf, carry, buf.length - carry, null)
      if (n === 0) break
      read += n
      const view = buf.subarray(0, carry + n)
      for (const needle of needles)
        if (view.includes(needle.bytes)) return { read, label: needle.label }
      if (read > maxBytes) break
      // Keep the tail: a needle may straddle two chunks.
      carry = Math.min(longest, view.length)
      view.copy(buf, 0, view.length - carry)
    }
    return { read }
  } catch {
    return { read }
  } finally {
    closeSync(fd)
  }
}

/**
 * What to search for a secret: the value itself, base64 of it, and the git Basic forms
 * (`x-access-token:<t>` is what actions/checkout writes as its extraheader, `<t>:` what
 * tools that put the token as the user write). Values too short to be told from ordinary text are left out.
 */
export function secretNeedles(secrets: Array<{ label: string; value: string }>): Needle[] {
  const out: Needle[] = []
  const seen = new Set<string>()
  for (const { label, value } of secrets) {
    if (value.length < 8) continue
    // base64 cut to whole 4-char groups: those do not depend on what follows in the file.
    const b64 = (s: string): string =>
      Buffer.from(s)
        .toString('base64')
        .slice(0, Math.floor(Buffer.byteLength(s) / 3) * 4)
    const forms: Array<[string, string]> = [
      [label, value],
      [`${label} (base64)`, b64(value)],
      [`${label} (git Basic)`, b64(`x-access-token:${value}`)],
      [`${label} (Basic)`, b64(`${value}:`)]
    ]
    for (const [l, v] of forms) {
      if (seen.has(v)) continue
      seen.add(v)
      out.push({ label: l, bytes: Buffer.from(v) })
    }
  }
  return out
}

/** The workspace holds a secret Airlock was given: the run does not start. */
export class WorkspaceSecretError extends AirlockError {
  constructor(readonly hits: Array<{ path: string; label: string }>) {
    const shown = hits.slice(0, 20).map((h) => `${h.path} (${h.label})`)
    super(
      'AIRLOCK_WORKSPACE_SECRET',
      `the workspace holds a real secret the container could read, so the run did not start: ${shown.join(', ')}${hits.length > shown.length ? ` and ${hits.length - shown.length} more` : ''}. Remove the file or the secret from it before this step (an earlier step wrote it), or use a workspace without it`
    )
  }
}
