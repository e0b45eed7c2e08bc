import { createHash, randomBytes } from 'node:crypto'
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readFileSync,
  readSync,
  realpathSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync
} from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import type { MountConfig } from '../provider/index.js'
import { CONTAINER } from './staging.js'

/** A git config the container sees a cleaned copy of, and how it looked before the run. */
export interface HiddenGitConfig {
  /** Workspace-relative path. */
  rel: string
  /** The cleaned copy (in the private run directory), mounted read-only over the original. */
  copy: string
  /** The cleaned text: searched for secrets like every other file the container can read. */
  cleaned: string
  fingerprint: string
}

/** Git configs larger than this are not configs a checkout wrote; read no more. */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024

/**
 * actions/checkout persists the job token in the repository's git config: an
 * `http.<url>.extraheader` (v4 and older), or (v5+) an `includeIf "gitdir:…"` whose `path`
 * is a credentials file under RUNNER_TEMP; with `submodules: true` in every
 * `.git/modules/<name>/config` too, and a nested checkout (`path:`) has its own `.git`. The
 * container must read none of it, and nothing Airlock does may depend on restoring a file the
 * agent could have replaced: so the originals are never touched. Each config that holds
 * credentials gets a cleaned copy in the private run directory, bind-mounted read-only over
 * it (a mount point cannot be renamed over, unlinked or linked to from inside). Returns the
 * mounts and what was hidden.
 *
 * `configs` are the git configs the workspace walk found (inside `.git` directories), and
 * `gitFiles` the `.git` files (gitlinks): their gitdir, when inside the workspace, is added.
 */
export async function hideGitCredentials(
  workspace: string,
  privateDir: string,
  configs: string[],
  gitFiles: string[]
): Promise<{
  mounts: MountConfig[]
  hidden: HiddenGitConfig[]
  /** Every git config as the container will read it (cleaned where hidden), to be searched. */
  visible: Array<{ rel: string; text: string }>
}> {
  const root = realpathSync(workspace)
  const all = new Set(configs)
  for (const f of gitFiles) for (const c of gitlinkConfigs(root, f)) all.add(c)
  const hidden: HiddenGitConfig[] = []
  const mounts: MountConfig[] = []
  const visible: Array<{ rel: string; text: string }> = []
  let n = 0
  for (const rel of [...all].sort()) {
    const file = readNoFollow(join(root, rel))
    if (!file) continue
    const cleaned = stripCredentials(file.text)
    visible.push({ rel, text: cleaned })
    if (cleaned === file.text) continue
    if (n === 0) await mkdir(join(privateDir, 'git-config'), { mode: 0o700 })
    const copy = join(privateDir, 'git-config', `${n++}.config`)
    writeFileSync(copy, cleaned, { mode: 0o600, flag: 'wx' })
    hidden.push({ rel, copy, cleaned, fingerprint: file.fingerprint })
    mounts.push({
      source: copy,
      target: `${CONTAINER.workspace}/${rel.split(sep).join('/')}`,
      readOnly: true
    })
  }
  return { mounts, hidden, visible }
}

/**
 * The hidden configs that are no longer the file they were before the run (replaced,
 * linked, changed, gone): the container cannot write through the read-only mount, so any of
 * these means something went around it, and is reported.
 */
export function tamperedGitConfigs(workspace: string, hidden: HiddenGitConfig[]): string[] {
  return hidden
    .filter((h) => readNoFollow(join(workspace, h.rel))?.fingerprint !== h.fingerprint)
    .map((h) => h.rel)
}

/** The config files of the gitdir a `.git` file points to, when that gitdir is in the workspace. */
function gitlinkConfigs(root: string, gitFile: string): string[] {
  const file = readNoFollow(join(root, gitFile))
  const m = file && /^gitdir:\s*(.+?)\s*$/m.exec(file.text)
  if (!m) return []
  const gitdir = resolve(dirname(join(root, gitFile)), m[1]!)
  let real: string
  try {
    real = realpathSync(gitdir)
  } catch {
    return []
  }
  const rel = relative(root, real)
  if (!rel || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return []
  return [join(rel, 'config'), join(rel, 'config.worktree')]
}

/**
 * Reads a regular file without following a link at its last component and without blocking
 * on a FIFO; undefined when it is anything else or unreadable.
 */
function readNoFollow(path: string): { text: string; fingerprint: string } | undefined {
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  } catch {
    return undefined
  }
  try {
    const st = fstatSync(fd)
    if (!st.isFile() || st.size > MAX_CONFIG_BYTES) return undefined
    const buf = Buffer.alloc(st.size)
    let got = 0
    while (got < buf.length) {
      const r = readSync(fd, buf, got, buf.length - got, null)
      if (r === 0) break
      got += r
    }
    const text = buf.subarray(0, got).toString('utf8')
    const hash = createHash('sha256').update(buf.subarray(0, got)).digest('hex')
    return { text, fingerprint: `${st.dev}:${st.ino}:${hash}` }
  } finally {
    closeSync(fd)
  }
}

/**
 * Drops what carries or leads to credentials: `extraheader` keys (any section, any case,
 * wherever on a line), whole `[include]` / `[includeIf …]` sections (checkout v5+ keeps
 * the token in the file such a section names; the container must not resolve it), whole
 * `[credential …]` sections, and the userinfo of every URL.
 *
 * The last two are credentials no step of Airlock's knows, so the workspace search cannot
 * find them: a developer's clone (`airlock run` in it) or a step's `git remote set-url` with
 * a token in the remote URL (`https://x-access-token:<PAT>@github.com/…`, or the token alone
 * as the user name, which GitHub accepts), and a credential helper written inline
 * (`!f() { echo password=<PAT>; }; f`) or pointing at a store file. Inside the sandbox git
 * needs neither: the proxy injects the granted credential.
 */
export function stripCredentials(text: string): string {
  const out: string[] = []
  let inDropped = false
  for (const line of text.split('\n')) {
    const header = /^\s*\[([^\]]*)\]/.exec(line)
    if (header) inDropped = /^\s*(include(if)?|credential)\b/i.test(header[1]!)
    if (inDropped) continue
    if (/extraheader/i.test(line)) continue
    out.push(line.replace(URL_USERINFO, '$1'))
  }
  return out.join('\n')
}

/** `scheme://userinfo@`: the userinfo (user, or user:password) of a URL anywhere on a line. */
const URL_USERINFO = /([a-z][a-z0-9+.-]*:\/\/)[^\s/@"\\]+@/gi

/**
 * Restores `backupPath` to `configPath` (state from a main that still rewrote the config in
 * place) without ever following a link: the parent must be a real directory (no symlink on
 * the way), the current file a regular file or absent, and the bytes go to a new file created
 * exclusively beside it and renamed over it, so nothing is written anywhere else.
 * Returns false (and writes nothing) when the file was replaced by something else.
 */
export function restoreGitCredentials(configPath: string, backupPath: string): boolean {
  const parent = dirname(configPath)
  try {
    if (realpathSync(parent) !== resolve(parent) || !lstatSync(parent).isDirectory()) return false
  } catch {
    return false
  }
  try {
    if (!lstatSync(configPath).isFile()) return false
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return false
  }
  const content = readFileSync(backupPath)
  const tmp = join(parent, `.airlock-restore-${randomBytes(6).toString('hex')}`)
  const fd = openSync(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o644
  )
  try {
    writeSync(fd, content)
  } finally {
    closeSync(fd)
  }
  try {
    renameSync(tmp, configPath)
  } catch (err) {
    unlinkSync(tmp)
    throw err
  }
  return true
}
