/**
 * Sandbox → runner through git. With a writable workspace the agent can write settings that
 * make git run a program — `core.fsmonitor`, `core.hooksPath`, a filter driver, an alias
 * with `!` — or drop a hook into `.git/hooks`. None of that runs in the sandbox; it runs the
 * next time a later step of the job calls `git status` or `git commit` on the runner, with
 * the job's token, secrets and OIDC at hand. Settings that only say where git connects (a URL
 * rewrite, a push URL, a proxy, TLS verification) hand that later step's credentials to
 * whoever the agent names. So Airlock remembers each git directory's executable and
 * credential-routing settings and hooks before the container starts, and when it has ended takes
 * back whatever the run added or changed: the setting is unset (its earlier values put
 * back), the hook renamed out of git's reach. Each one is reported.
 *
 * Nothing here follows a link: configs and hooks directories are read and changed only when
 * they are what they look like (a regular file, a real directory inside the workspace).
 */
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import {
  type BigIntStats,
  type Dirent,
  chmodSync,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  writeFileSync
} from 'node:fs'
import { dirname, join, relative } from 'node:path'

/**
 * Keys whose value git runs as a program (or that point git at files or programs that it
 * then runs). `alias.*` counts only when its value starts with `!`.
 */
const EXEC_KEY = new RegExp(
  '^(' +
    [
      'core\\.(fsmonitor|hookspath|sshcommand|pager|editor|askpass|gitproxy|attributesfile)',
      'sequence\\.editor',
      'diff\\.external',
      'diff\\..+\\.(command|textconv)',
      'difftool\\..+\\.cmd',
      'mergetool\\..+\\.cmd',
      'filter\\..+\\.(clean|smudge|process)',
      'merge\\..+\\.driver',
      'credential\\.helper',
      'credential\\..+\\.helper',
      'gpg\\.program',
      'gpg\\..+\\.program',
      // Run by `git commit` when commits are signed with SSH and no key is named.
      'gpg\\.ssh\\.defaultkeycommand',
      // Run by fetch and push when the repository has alternates; by auto gc; by `add -p`;
      // by trailers (`commit --trailer`); by `help --web` and `send-email`.
      'core\\.alternaterefscommand',
      'gc\\.recentobjectshook',
      'interactive\\.difffilter',
      'trailer\\..+\\.(cmd|command)',
      '(browser|man)\\..+\\.cmd',
      'sendemail\\.(.+\\.)?(smtpserver|tocmd|cccmd|headercmd)',
      'uploadpack\\.packobjectshook',
      'include\\.path',
      'includeif\\..+\\.path',
      'remote\\..+\\.(uploadpack|receivepack)',
      'protocol\\..+\\.allow',
      'pager\\..+',
      'submodule\\..+\\.update',
      'alias\\..+'
    ].join('|') +
    ')$',
  'i'
)

/**
 * Keys that run nothing but decide where git sends the credentials a later step pushes or
 * fetches with (a token in the URL, a credential helper, `GIT_ASKPASS`): a URL rewrite
 * (`url.<attacker>.insteadOf = https://x-access-token:` hands over the token in the URL
 * itself), another remote or push URL, a proxy (with TLS verification off, or a CA or an
 * address the agent chose, it reads every header, the job token's among them). The agent
 * cannot reach the job token; a later step's git would carry it to the agent's server. Also
 * those that decide what a later step's git reads and what its push writes with that token
 * (the work tree, push refspecs and upstreams).
 */
const ROUTE_KEY = new RegExp(
  '^(' +
    [
      'url\\..+\\.(insteadof|pushinsteadof)',
      // Where the work tree is (relative to .git: `../../..` is the runner's work directory,
      // RUNNER_TEMP in it): a later step's `git add -A && git commit && git push` publishes
      // the files there, checkout's credentials file among them.
      'core\\.worktree',
      // Which refs a later step's plain `git push` writes with its token: a refspec
      // (`+refs/heads/evil:refs/heads/main` force-pushed the agent's branch onto main), a
      // mirror, another upstream or push remote for a branch, the push mode.
      'remote\\..+\\.(push|mirror)',
      'remote\\.pushdefault',
      'branch\\..+\\.(remote|pushremote|merge)',
      'push\\.default',
      'remote\\..+\\.(url|pushurl|proxy)',
      // Copied there by `submodule init` and never overwritten: `submodule update` clones
      // from it with the credentials its askpass or helper hands out.
      'submodule\\..+\\.url',
      // Where git-lfs sends a later step's `git lfs pull`/`push`, with the credentials git
      // hands it for that host, and how it authenticates there.
      'lfs\\.(url|pushurl)',
      'lfs\\..+\\.access',
      'remote\\..+\\.(lfsurl|lfspushurl)',
      'http\\.(.+\\.)?(proxy|sslverify|sslcainfo|sslcapath|proxysslcainfo|curloptresolve|sslbackend)',
      // A cookie jar git writes after every request: a path the agent chose (a runner file)
      // is overwritten by a later step's fetch.
      'http\\.(.+\\.)?(cookiefile|savecookies)'
    ].join('|') +
    ')$',
  'i'
)

/** git with no system or global config of its own: only the file named is read. */
const GIT_ENV = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  HOME: '/nonexistent'
}

/** The largest config listing read; a config beyond it is moved aside (fail closed). */
const MAX_LISTING_BYTES = 64 * 1024 * 1024

/** `key\0value` pairs of one config file, as git reads it (without following includes). */
type Entries = string[]

interface GitDirState {
  /** Absolute path of the git directory (`<ws>/.git`, `<ws>/.git/modules/x`, …). */
  dir: string
  /** Its real path then: a directory reached through a link afterwards is not touched. */
  real: string
  /** Whether `commondir` (which sends git to another directory's config) existed. */
  commondir: boolean
  configs: Map<string, Entries>
  hooks: Map<string, string>
}

export interface GitExecSnapshot {
  workspace: string
  dirs: GitDirState[]
  /**
   * The workspace's own `.git` when it was not a git directory (absent: the workspace is a
   * subdirectory of the checkout or no checkout at all; a gitfile: a worktree): what it was,
   * to tell whether the run made one there.
   */
  rootEntry?: string
  /**
   * The repositories at the root repository's gitlinks (paths in its index that git enters:
   * `git status` runs git inside each populated one), by what their `.git` was. Keys are real
   * paths as bytes (latin1).
   */
  gitlinks: Map<string, string>
  /** The git directories under the root repository's `.git/modules` before the run (bytes). */
  modules: Set<string>
  /**
   * Every `.git` below the workspace root before the run (paths as bytes), by identity;
   * undefined when there were more entries than the walk reads.
   */
  nested?: Map<string, string>
}

/** What the guard took back after the run, workspace-relative, for the log. */
export interface GitExecFinding {
  path: string
  what: string
  /** A setting that sends git's credentials elsewhere (it runs nothing). */
  route?: true
}

/** The log line for a finding (plain text: the caller makes it safe for its log). */
export function findingLine(f: GitExecFinding): string {
  return `${f.path}: ${f.what} (${f.route ? "git would have sent a later step's credentials where it says" : 'git would have run it'} on the runner in later steps of this job)`
}

/** Writes a snapshot (private to the runner: 0600) for a later process to revert from. */
export function saveGitExecSnapshot(s: GitExecSnapshot, file: string): void {
  const json = {
    workspace: s.workspace,
    dirs: s.dirs.map((d) => ({ ...d, configs: [...d.configs], hooks: [...d.hooks] })),
    ...(s.rootEntry !== undefined ? { rootEntry: s.rootEntry } : {}),
    gitlinks: [...s.gitlinks],
    modules: [...s.modules],
    ...(s.nested ? { nested: [...s.nested] } : {})
  }
  writeFileSync(file, JSON.stringify(json), { mode: 0o600, flag: 'wx' })
}

/** Reads what {@link saveGitExecSnapshot} wrote. */
export function loadGitExecSnapshot(file: string): GitExecSnapshot {
  const j = JSON.parse(readFileSync(file, 'utf8')) as {
    workspace: string
    dirs: Array<
      Omit<GitDirState, 'configs' | 'hooks'> & {
        configs: Array<[string, Entries]>
        hooks: Array<[string, string]>
      }
    >
    rootEntry?: string
    gitlinks: Array<[string, string]>
    modules: string[]
    nested?: Array<[string, string]>
  }
  return {
    workspace: j.workspace,
    dirs: j.dirs.map((d) => ({ ...d, configs: new Map(d.configs), hooks: new Map(d.hooks) })),
    ...(j.rootEntry !== undefined ? { rootEntry: j.rootEntry } : {}),
    gitlinks: new Map(j.gitlinks),
    modules: new Set(j.modules),
    ...(j.nested ? { nested: new Map(j.nested) } : {})
  }
}

/** The git directories of the workspace: the root's, and those of the configs the scan found. */
function gitDirs(workspace: string, configs: string[]): string[] {
  const dirs = new Set<string>()
  if (isRealDir(join(workspace, '.git'))) dirs.add(join(workspace, '.git'))
  for (const rel of configs) {
    const abs = join(workspace, rel)
    const dir = abs.replace(/\/(config|config\.worktree)$/, '')
    if (dir !== abs && isRealDir(dir)) dirs.add(dir)
  }
  return [...dirs].sort()
}

function isRealDir(path: string | Buffer): boolean {
  try {
    return lstatSync(path).isDirectory()
  } catch {
    return false
  }
}

function isRegularFile(path: string): boolean {
  try {
    return lstatSync(path).isFile()
  } catch {
    return false
  }
}

/**
 * Undefined when git cannot list the file: one git refuses to parse, or a listing larger than
 * this process takes (`maxBuffer`). Read as empty, such a file hid every setting in it from
 * the guard, while git in a later step parses it whole (a config padded past the 1 MiB
 * default, `core.fsmonitor` first, was left in place and ran).
 */
function execEntries(file: string): Entries | undefined {
  if (!isRegularFile(file)) return []
  let out: string
  try {
    // `-f` reads that one file and follows no include; reading runs nothing.
    out = execFileSync('git', ['config', '-f', file, '--list', '--null'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      env: GIT_ENV,
      maxBuffer: MAX_LISTING_BYTES
    })
  } catch (err) {
    // No git on this runner: no later step runs git either.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    return undefined
  }
  return (
    out
      .split('\0')
      .filter(Boolean)
      .map((item) => {
        const nl = item.indexOf('\n')
        return nl < 0 ? [item, ''] : [item.slice(0, nl), item.slice(nl + 1)]
      })
      .filter(
        ([k, v]) =>
          ROUTE_KEY.test(k!) || (EXEC_KEY.test(k!) && (!/^alias\./i.test(k!) || v!.startsWith('!')))
      )
      // As git prints it: section and name lower case, the subsection exactly as written. A
      // subsection is case-sensitive (`filter.X.clean` is what `filter=X` runs), so a key
      // folded to lower case would name another setting, and `--unset-all` would leave this one.
      .map(([k, v]) => `${k!}\0${v!}`)
  )
}

function hookHashes(dir: string): Map<string, string> {
  const out = new Map<string, string>()
  const hooks = join(dir, 'hooks')
  if (!isRealDir(hooks)) return out
  for (const name of readdirSync(hooks)) {
    if (name.endsWith('.sample') || name.includes('.airlock-quarantined')) continue
    const id = hookIdentity(join(hooks, name))
    if (id !== undefined) out.set(name, id)
  }
  return out
}

/** Hooks larger than this are known by their metadata, never read whole. */
const MAX_HOOK_BYTES = 16 * 1024 * 1024

/**
 * What a hook is: its mode and content hash, or, when its content cannot be read, its
 * metadata. A hook the guard skipped because it could not read it stayed in place for git
 * to run: one made sparse past 2 GiB (Node reads no file that large into a buffer, and one
 * just under it costs gigabytes of memory), or one with mode 0111 (git executes a binary it
 * cannot read; so does the kernel). The metadata holds the change time, which every write,
 * chmod and rename sets and no unprivileged process can set back (unlike the modification
 * time): a hook the run wrote never looks like the one before. Undefined when it is gone.
 */
function hookIdentity(path: string): string | undefined {
  let st: BigIntStats
  try {
    st = lstatSync(path, { bigint: true })
  } catch {
    // gone between the listing and the look: nothing for git to run either
    return undefined
  }
  if (!st.isFile()) return `link-or-other:${st.mode}`
  const meta = `${st.mode}:${st.size}:${st.ino}:${st.ctimeNs}`
  if (st.size > MAX_HOOK_BYTES) return `unread:${meta}`
  try {
    return `${st.mode}:${createHash('sha256').update(readFileSync(path)).digest('hex')}`
  } catch {
    return `unreadable:${meta}`
  }
}

function stateOf(dir: string): GitDirState {
  const configs = new Map<string, Entries>()
  for (const name of ['config', 'config.worktree'])
    configs.set(name, execEntries(join(dir, name)) ?? [])
  return {
    dir,
    real: realpathSync(dir),
    commondir: exists(join(dir, 'commondir')),
    configs,
    hooks: hookHashes(dir)
  }
}

function exists(path: string | Buffer): boolean {
  try {
    lstatSync(path)
    return true
  } catch {
    return false
  }
}

/**
 * Gives a directory its owner's write and search permission back (never through a link). The
 * agent runs as this same uid and can take them away (`chmod 555 .git`): git then cannot
 * rewrite the config, nor can a hook be renamed, and what the guard could not take back would
 * stay for git to run in a later step.
 */
function ownerWritable(dir: string | Buffer): void {
  try {
    const st = lstatSync(dir)
    if (st.isDirectory() && (st.mode & 0o700) !== 0o700) chmodSync(dir, (st.mode & 0o7777) | 0o700)
  } catch {
    // gone, or not ours: a take-back that still fails is moved aside or reported
  }
}

/**
 * Moves an entry (never what a link points to) out of git's way, under a name no one chose.
 * Returns where it went (as text, for the log).
 */
function moveAside(path: string | Buffer): string {
  const suffix = `.airlock-quarantined-${randomBytes(4).toString('hex')}`
  const target =
    typeof path === 'string' ? `${path}${suffix}` : Buffer.concat([path, Buffer.from(suffix)])
  try {
    renameSync(path, target)
    return target.toString()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENAMETOOLONG') throw err
  }
  // A name near the 255-byte limit (a submodule's name under .git/modules) cannot take the
  // suffix: the entry stayed where git would use it. It gets a short name of its own instead.
  const dir = dirname(typeof path === 'string' ? path : path.toString('latin1'))
  const short = join(dir, suffix)
  renameSync(path, typeof path === 'string' ? short : Buffer.from(short, 'latin1'))
  return typeof path === 'string' ? short : Buffer.from(short, 'latin1').toString()
}

/**
 * Paths as git and the file system know them: bytes. A name need not be UTF-8 (`evil\377`);
 * Node decodes one that is not into a string that names nothing on disk, so a repository the
 * run made under such a name at a gitlink or under `.git/modules` was never found, and git in
 * a later step entered it. These paths are kept as latin1 strings (one character per byte) and
 * handed to the file system as the bytes they are.
 */
const asBytes = (path: string): string => Buffer.from(path, 'utf8').toString('latin1')
const onDisk = (bytes: string): Buffer => Buffer.from(bytes, 'latin1')

/** Remembers, before the container starts, what git would run in each git directory. */
export function snapshotGitExec(workspace: string, configs: string[]): GitExecSnapshot {
  const snapshot: GitExecSnapshot = {
    workspace,
    dirs: gitDirs(workspace, configs).map(stateOf),
    // Unread before the run: none known, so every populated gitlink after it is moved aside.
    gitlinks: gitlinkRepos(workspace) ?? new Map<string, string>(),
    modules: moduleDirs(workspace).dirs
  }
  const root = join(workspace, '.git')
  if (!isRealDir(root)) snapshot.rootEntry = entryDigest(root)
  const nested = nestedGitEntries(workspace)
  if (nested.complete) snapshot.nested = nested.found
  return snapshot
}

/** How many entries the walk for nested repositories reads (directories are all it opens). */
const MAX_WALK_ENTRIES = 1_000_000

/**
 * Every `.git` (a directory, a gitfile, a link) in a directory below the workspace root, by
 * what it is, with paths as bytes; never inside a `.git`, never through a link. Git run in a
 * directory of the workspace (a later step's `working-directory: app`) looks for `.git` there
 * first: a repository the run made in `app/`, or a gitfile there naming one it made elsewhere
 * in the workspace, was never snapshotted, and its settings and hooks ran on the runner.
 */
function nestedGitEntries(workspace: string): { found: Map<string, string>; complete: boolean } {
  const found = new Map<string, string>()
  const root = asBytes(workspace)
  const stack = [root]
  let entries = 0
  while (stack.length > 0) {
    const dir = stack.pop()!
    let list: Dirent<Buffer>[]
    try {
      list = readdirSync(onDisk(dir), { withFileTypes: true, encoding: 'buffer' })
    } catch {
      continue
    }
    for (const d of list) {
      if (++entries > MAX_WALK_ENTRIES) return { found, complete: false }
      const name = d.name.toString('latin1')
      const path = `${dir}/${name}`
      if (name === '.git') {
        if (dir !== root) found.set(path, gitEntryId(onDisk(path)))
        // A `.git` directory is the repository's: its own guard covers what git reads there.
        continue
      }
      // The entry's own type (readdir's): a link to a directory is not walked.
      if (d.isDirectory()) stack.push(path)
    }
  }
  return { found, complete: true }
}

/**
 * Each gitlink of the root repository's index (mode 160000) that holds a `.git`, by that
 * entry's identity (a directory by its inode, a gitfile by its bytes). The index is the
 * agent's to write (`git add` of a repository it made): `git status` in a later step then
 * runs git inside that repository, which obeys its own config (`core.fsmonitor`) and hooks.
 * Only gitlinks whose directory really lies inside the workspace count: git would enter
 * nothing else the agent made.
 */
function gitlinkRepos(workspace: string): Map<string, string> | undefined {
  const out = new Map<string, string>()
  const gitDir = join(workspace, '.git')
  if (!isRealDir(gitDir)) return out
  let listing: string
  try {
    // The index read with the git directory alone: no work tree, so nothing is refreshed and
    // no fsmonitor runs (and the settings that would run one are taken back before this).
    listing = execFileSync(
      'git',
      ['-c', 'core.fsmonitor=false', '--git-dir', gitDir, 'ls-files', '--stage', '-z'],
      { stdio: ['ignore', 'pipe', 'ignore'], env: GIT_ENV, maxBuffer: MAX_LISTING_BYTES }
    ).toString('latin1')
  } catch {
    // Unread (an index listed past MAX_LISTING_BYTES): the caller decides how to fail closed.
    return undefined
  }
  let root: string
  try {
    // The native realpath: the JS one decodes a Buffer path to a string first (lossy).
    root = realpathSync
      .native(onDisk(asBytes(workspace)), { encoding: 'buffer' })
      .toString('latin1')
  } catch {
    return out
  }
  for (const entry of listing.split('\0')) {
    const m = /^160000 [0-9a-f]+ \d\t(.+)$/s.exec(entry)
    if (!m) continue
    let dir: string
    try {
      dir = realpathSync
        .native(onDisk(join(root, m[1]!)), { encoding: 'buffer' })
        .toString('latin1')
    } catch {
      continue
    }
    if (dir === root || !dir.startsWith(`${root}/`)) continue
    const id = gitEntryId(onDisk(join(dir, '.git')))
    if (id !== 'absent') out.set(dir, id)
  }
  return out
}

/**
 * The git directories under the root repository's `.git/modules` (each holds a HEAD; a name
 * with `/` makes directories between; a submodule's own submodules live in its `modules`).
 * `git submodule update --init` in a later step takes the one named like a submodule as it
 * is, checks the submodule out from it and runs its hooks: one the run made there (with a
 * gitlink and a `.gitmodules` entry naming it) was never snapshotted. Bounded (a module tree
 * is small): `complete` is false when the bound was reached.
 */
function moduleDirs(workspace: string): { dirs: Set<string>; complete: boolean } {
  const out = new Set<string>()
  let complete = true
  const visit = (dir: string, depth: number): void => {
    if (!isRealDir(onDisk(dir))) return
    if (depth > 16 || out.size >= MAX_MODULE_DIRS) {
      complete = false
      return
    }
    let names: string[]
    try {
      names = readdirSync(onDisk(dir), { encoding: 'buffer' }).map((n) => n.toString('latin1'))
    } catch {
      return
    }
    if (names.includes('HEAD')) {
      out.add(dir)
      visit(join(dir, 'modules'), depth + 1)
      return
    }
    for (const n of names) visit(join(dir, n), depth + 1)
  }
  visit(join(asBytes(workspace), '.git', 'modules'), 0)
  return { dirs: out, complete }
}

/** How many git directories under `.git/modules` the guard reads. */
const MAX_MODULE_DIRS = 4096

/** What a path is, without following it: absent, a file's bytes, a link's target. */
function entryDigest(path: string | Buffer): string {
  try {
    const st = lstatSync(path)
    const body = st.isFile()
      ? readFileSync(path)
      : st.isSymbolicLink()
        ? readlinkSync(path, { encoding: 'buffer' })
        : Buffer.alloc(0)
    return `${st.mode}:${createHash('sha256').update(body).digest('hex')}`
  } catch {
    return 'absent'
  }
}

/**
 * A `.git` entry by identity: a directory (a repository) by its inode, a gitfile or a link by
 * {@link entryDigest}; 'absent' when there is none.
 */
function gitEntryId(path: Buffer): string {
  try {
    const st = lstatSync(path)
    if (st.isDirectory()) return `dir:${st.ino}`
  } catch {
    return 'absent'
  }
  return entryDigest(path)
}

/**
 * After the container ended: takes back every executable setting and hook the run added or
 * changed in the git directories known before it, and returns what it took back.
 */
export function revertGitExec(snapshot: GitExecSnapshot): GitExecFinding[] {
  const findings: GitExecFinding[] = []
  const rel = (p: string): string => relative(snapshot.workspace, p) || '.'
  /** `p` a path, or one as bytes (a latin1 string) when `bytes`. */
  const aside = (p: string, why: string, bytes = false): void => {
    const path = bytes ? onDisk(p) : p
    const shown = bytes ? onDisk(p).toString() : p
    try {
      ownerWritable(bytes ? onDisk(dirname(p)) : dirname(p))
      const to = moveAside(path)
      findings.push({ path: rel(shown), what: `${why}; moved aside to ${rel(to)}` })
    } catch {
      findings.push({ path: rel(shown), what: `${why}; could not move it aside` })
    }
  }
  // No git directory at the workspace root before the run, and one (or another gitfile) now:
  // the agent's repository, whose settings and hooks git in a later step run there (a
  // `working-directory` of this same path) would obey, and which was never snapshotted.
  // Fail closed, as for a replaced one: moved out of git's reach.
  const root = join(snapshot.workspace, '.git')
  if (snapshot.rootEntry !== undefined && entryDigest(root) !== snapshot.rootEntry)
    aside(root, 'a git directory (or gitfile) the run made at the workspace root')
  for (const before of snapshot.dirs) {
    // The git directory itself replaced (by a gitfile or a link to a repository of the
    // agent's making): git would read that one's config. Fail closed: no repository.
    let real: string | undefined
    try {
      real = isRealDir(before.dir) ? realpathSync(before.dir) : undefined
    } catch {
      real = undefined
    }
    if (real !== before.real) {
      if (exists(before.dir)) aside(before.dir, 'the git directory was replaced during the run')
      continue
    }
    ownerWritable(before.dir)
    ownerWritable(join(before.dir, 'hooks'))
    if (!before.commondir && exists(join(before.dir, 'commondir')))
      aside(join(before.dir, 'commondir'), 'commondir (another config for git to read) appeared')
    for (const [name, old] of before.configs) {
      const file = join(before.dir, name)
      if (exists(file) && !isRegularFile(file)) {
        aside(file, `${name} was replaced by a link or another kind of file`)
        continue
      }
      const now = execEntries(file)
      if (now === undefined) {
        aside(file, `${name} cannot be read whole (git refuses it, or it is too large)`)
        continue
      }
      const added = now.filter((e) => !old.includes(e))
      if (added.length === 0) continue
      for (const key of new Set(added.map((e) => e.split('\0')[0]!))) {
        // Unset every value of the key, then put back what was there before the run.
        const git = (args: string[]): void => {
          execFileSync('git', ['config', '-f', file, ...args], { stdio: 'ignore', env: GIT_ENV })
        }
        try {
          git(['--unset-all', key])
          for (const e of old.filter((x) => x.startsWith(`${key}\0`)))
            git(['--add', key, e.slice(key.length + 1)])
          findings.push({
            path: rel(file),
            what: `removed ${key}, which the run set`,
            ...(ROUTE_KEY.test(key) ? { route: true } : {})
          })
        } catch {
          // Left in place it would run: the whole file goes out of git's reach instead.
          aside(file, `could not remove ${key}, which the run set`)
          break
        }
      }
    }
    const hooksDir = join(before.dir, 'hooks')
    if (exists(hooksDir) && !isRealDir(hooksDir)) {
      aside(hooksDir, 'the hooks directory was replaced by a link or a file')
      continue
    }
    for (const [name, digest] of hookHashes(before.dir)) {
      if (before.hooks.get(name) === digest) continue
      aside(
        join(before.dir, 'hooks', name),
        `the run ${before.hooks.has(name) ? 'changed' : 'added'} the hook ${name}`
      )
    }
  }
  // Repositories the run put at a gitlink of the index (or swapped in for one there before):
  // never snapshotted, and git in a later step enters them. Fail closed: moved aside. Read
  // after the root's settings are taken back (the listing is git reading that config).
  const modules = isRealDir(root) ? moduleDirs(snapshot.workspace) : undefined
  if (modules && !modules.complete)
    // More than the guard reads: one it did not read could be the agent's. Fail closed.
    aside(join(root, 'modules'), 'more submodule repositories than the guard reads')
  else if (modules)
    for (const dir of modules.dirs)
      if (!snapshot.modules.has(dir))
        aside(
          dir,
          'a submodule repository the run made under .git/modules (git submodule update would use it)',
          true
        )
  // Repositories the run made in a directory of the workspace (after the gitlinks: one the run
  // put at a gitlink is taken back there already). Known only when the walk before the run
  // read the whole workspace; a walk cut short now leaves the rest unread, and says so.
  const nested = snapshot.nested ? nestedGitEntries(snapshot.workspace) : undefined
  const gitlinks = isRealDir(root) ? gitlinkRepos(snapshot.workspace) : new Map<string, string>()
  if (gitlinks === undefined)
    // An index listed past what the guard reads (hundreds of thousands of entries the run
    // added) hid every gitlink in it, the run's own among them. Fail closed: without the
    // index git enters no gitlink.
    aside(join(root, 'index'), 'the index cannot be listed whole (it is too large)')
  else
    for (const [dir, id] of gitlinks)
      if (snapshot.gitlinks.get(dir) !== id)
        aside(
          join(dir, '.git'),
          'a repository the run made at a gitlink of the index (git status enters it)',
          true
        )
  for (const [path, id] of nested?.found ?? [])
    if (snapshot.nested!.get(path) !== id && exists(onDisk(path)))
      aside(
        path,
        'a git repository (or gitfile) the run made in a directory of the workspace (git run there in a later step obeys it)',
        true
      )
  if (nested && !nested.complete)
    findings.push({
      path: '.',
      what: `the workspace now holds more than ${MAX_WALK_ENTRIES} entries: git repositories the run made past them were not looked for, check the workspace before running git in its directories`
    })
  return findings
}
