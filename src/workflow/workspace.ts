import { execFile } from 'node:child_process'
import {
  appendFileSync,
  constants,
  cpSync,
  existsSync,
  promises as fs,
  writeFileSync
} from 'node:fs'
import { join, relative, sep } from 'node:path'
import { promisify } from 'node:util'
import { AirlockError } from '../errors.js'
import { isAgentConfigEntry, isAgentConfigPath } from './agent-config.js'
import { repoPath, type GitHubClient, type RepoRef } from './github.js'

const run = promisify(execFile)

/** Directory in the workspace holding what Airlock hands the agent (diff, prompt) and takes back. */
export const RUN_DIR = '.airlock-run'

export { isAgentConfigPath } from './agent-config.js'

/** Something in the workspace is not what Airlock expects. */
export class WorkspaceError extends AirlockError {
  constructor(message: string) {
    super('AIRLOCK_WORKSPACE', message)
  }
}

/**
 * Removes every agent configuration file and directory (agent-config.ts) from the
 * checkout (never following a symbolic link), and returns the repository paths removed.
 */
export async function removeAgentConfig(workspace: string): Promise<string[]> {
  const removed: string[] = []
  const walk = async (dir: string, depth: number): Promise<void> => {
    for (const d of await fs.readdir(dir, { withFileTypes: true })) {
      const abs = join(dir, d.name)
      const rel = relative(workspace, abs).split(sep).join('/')
      const name = d.name.toLowerCase()
      if (name === '.git' || rel === RUN_DIR) continue
      if (isAgentConfigEntry(d.name, depth)) {
        await fs.rm(abs, { recursive: true, force: true })
        removed.push(rel)
      } else if (d.isDirectory()) await walk(abs, depth + 1)
    }
  }
  await walk(workspace, 0)
  return removed.sort()
}

/**
 * Makes sure every parent directory of `rel` inside `workspace` is a real directory (creating
 * missing ones), so a write cannot be redirected by a symbolic link the checkout planted.
 */
async function safeParent(workspace: string, rel: string): Promise<boolean> {
  const segs = rel.split('/').slice(0, -1)
  let cur = workspace
  for (const s of segs) {
    cur = join(cur, s)
    const st = await fs.lstat(cur).catch(() => undefined)
    if (!st) await fs.mkdir(cur)
    else if (!st.isDirectory()) return false
  }
  return true
}

interface TreeEntry {
  path: string
  mode: string
  type: string
  sha: string
}

/** What {@link restoreAgentConfig} did. */
export interface RestoreReport {
  removed: string[]
  restored: string[]
  warnings: string[]
}

/**
 * Replaces the checkout's agent configuration with the base commit's. For a pull request the
 * head is written by its author, and a `CLAUDE.md`, `.mcp.json` or `.codex/config.toml` there
 * would steer the agent (or start MCP servers) before it reads a line of the diff. Everything
 * matching is deleted from the checkout first; then the base commit's versions (read through
 * the API, so no git credentials are needed) are written back. If the base tree is too large
 * to list at once, only root-level configuration is restored, and nested files stay removed.
 */
export async function restoreAgentConfig(
  client: GitHubClient,
  repo: RepoRef,
  baseSha: string,
  workspace: string
): Promise<RestoreReport> {
  const report: RestoreReport = {
    removed: await removeAgentConfig(workspace),
    restored: [],
    warnings: []
  }
  const full = await client.request<{ tree: TreeEntry[]; truncated?: boolean }>(
    'GET',
    repoPath(repo, 'git', 'trees', baseSha),
    { query: { recursive: '1' } }
  )
  let entries = full.tree
  if (full.truncated) {
    report.warnings.push(
      'the base tree is too large to list; only root-level agent configuration was restored'
    )
    const root = await client.request<{ tree: TreeEntry[] }>(
      'GET',
      repoPath(repo, 'git', 'trees', baseSha)
    )
    entries = root.tree.filter((e) => e.type === 'blob')
    for (const d of root.tree.filter((e) => e.type === 'tree' && isAgentConfigEntry(e.path, 0))) {
      const sub = await client.request<{ tree: TreeEntry[] }>(
        'GET',
        repoPath(repo, 'git', 'trees', d.sha),
        { query: { recursive: '1' } }
      )
      entries.push(...sub.tree.map((e) => ({ ...e, path: `${d.path}/${e.path}` })))
    }
  }
  for (const e of entries) {
    if (e.type !== 'blob' || !isAgentConfigPath(e.path)) continue
    if (e.mode !== '100644' && e.mode !== '100755') {
      report.warnings.push(`${e.path}: mode ${e.mode} in the base commit; not restored`)
      continue
    }
    if (!(await safeParent(workspace, e.path))) {
      report.warnings.push(`${e.path}: a parent is not a directory in the checkout; not restored`)
      continue
    }
    const blob = await client.request<{ content: string; encoding: string }>(
      'GET',
      repoPath(repo, 'git', 'blobs', e.sha)
    )
    const bytes = Buffer.from(blob.content, blob.encoding === 'base64' ? 'base64' : 'utf8')
    const target = join(workspace, ...e.path.split('/'))
    // The path was just cleared, but never write through a link that could have appeared.
    await fs.rm(target, { recursive: true, force: true })
    await fs.writeFile(target, bytes, { mode: e.mode === '100755' ? 0o755 : 0o644, flag: 'wx' })
    report.restored.push(e.path)
  }
  return report
}

/**
 * Reads a file the agent wrote, refusing anything but a regular file reached without passing
 * a symbolic link: the agent controls the workspace and could otherwise make Airlock read (and
 * upload) a file of the runner's.
 */
export async function readAgentFile(
  workspace: string,
  rel: string,
  maxBytes: number
): Promise<Buffer | undefined> {
  const segs = rel.split('/')
  let cur = workspace
  for (const s of segs.slice(0, -1)) {
    cur = join(cur, s)
    const st = await fs.lstat(cur).catch(() => undefined)
    if (!st) return undefined
    if (!st.isDirectory()) throw new WorkspaceError(`${rel}: ${s} is not a plain directory`)
  }
  const path = join(workspace, ...segs)
  let fh: fs.FileHandle
  try {
    fh = await fs.open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return undefined
    if (code === 'ELOOP') throw new WorkspaceError(`${rel} is a symbolic link`)
    throw err
  }
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw new WorkspaceError(`${rel} is not a regular file`)
    if (st.size > maxBytes)
      throw new WorkspaceError(`${rel} is ${st.size} bytes; the limit is ${maxBytes}`)
    return await fh.readFile()
  } finally {
    await fh.close()
  }
}

/**
 * Git run against a copy of the repository taken before the agent started. The agent can
 * rewrite the workspace's `.git` (hooks, `core.fsmonitor`, filters), so git never reads it
 * after the agent ran; global and system configuration are ignored for the same reason.
 */
async function git(gitDir: string, workTree: string, args: string[]): Promise<string> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: gitDir,
    GIT_DIR: gitDir,
    GIT_WORK_TREE: workTree,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    LC_ALL: 'C'
  }
  const { stdout } = await run(
    'git',
    [
      '-c',
      'core.fsmonitor=false',
      '-c',
      'core.hooksPath=/dev/null',
      '-c',
      'core.autocrlf=false',
      '-c',
      'core.safecrlf=false',
      '-c',
      'core.quotePath=true',
      ...args
    ],
    { env, cwd: workTree, maxBuffer: 256 * 1024 * 1024, encoding: 'buffer' }
  )
  return stdout.toString('latin1')
}

/**
 * Copies the checkout's `.git` outside the workspace and records the tree the agent starts
 * from (after agent configuration was restored, so that is not part of the agent's changes).
 * Returns the tree id.
 */
export async function snapshotWorkspace(workspace: string, gitDir: string): Promise<string> {
  const src = join(workspace, '.git')
  const st = await fs.lstat(src).catch(() => undefined)
  if (!st?.isDirectory())
    throw new WorkspaceError(`${src} is not a git directory (check out the repository first)`)
  if (existsSync(gitDir)) await fs.rm(gitDir, { recursive: true, force: true })
  cpSync(src, gitDir, { recursive: true, verbatimSymlinks: true })
  await fs.mkdir(join(gitDir, 'info'), { recursive: true })
  appendFileSync(join(gitDir, 'info', 'exclude'), `\n/${RUN_DIR}/\n`)
  // $GIT_DIR/info/attributes outranks every .gitattributes (gitattributes(5)): store bytes
  // exactly as they are, with no end-of-line normalisation, clean filters or keyword
  // expansion, so blob ids match the commit the patch is applied to.
  writeFileSync(
    join(gitDir, 'info', 'attributes'),
    '* -text -eol -filter -ident -working-tree-encoding\n'
  )
  await git(gitDir, workspace, ['add', '-A'])
  return (await git(gitDir, workspace, ['write-tree'])).trim()
}

/**
 * Everything the agent changed in the working tree since {@link snapshotWorkspace}, as a
 * git patch with full blob ids (so the writer can check it applies to exactly that base).
 * Renames are shown as a delete and an add, which needs no similarity guessing to apply.
 */
export async function diffWorkspace(
  workspace: string,
  gitDir: string,
  startTree: string
): Promise<Buffer> {
  await git(gitDir, workspace, ['add', '-A'])
  const out = await git(gitDir, workspace, [
    'diff',
    '--cached',
    '--binary',
    '--full-index',
    '--no-color',
    '--no-ext-diff',
    '--no-textconv',
    '--no-renames',
    '--src-prefix=a/',
    '--dst-prefix=b/',
    startTree,
    '--'
  ])
  return Buffer.from(out, 'latin1')
}
