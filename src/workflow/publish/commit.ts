/**
 * Writing a patch through the Git database API: the base tree read first, its shape checked, one
 * commit.
 */
import { applyHunks, filePath, gitBlobSha, type FileDiff } from '../diff.js'
import { GitHubApiError, encodePath, repoPath, type GitHubClient, type RepoRef } from '../github.js'
import { PublishError } from './comments.js'

interface TreeEntry {
  path: string
  mode: string
  type: 'blob'
  sha: string | null
}

const ZERO = /^0+$/

async function readBase(
  client: GitHubClient,
  repo: RepoRef,
  path: string,
  ref: string
): Promise<Buffer | null> {
  try {
    return await client.requestBytes('GET', repoPath(repo, 'contents', encodePath(path)), {
      accept: 'application/vnd.github.raw',
      query: { ref }
    })
  } catch (err) {
    if (err instanceof GitHubApiError && err.status === 404) return null
    throw err
  }
}

interface ListedEntry {
  path: string
  type: string
  sha: string
}

/**
 * What the base tree holds at each of `paths` and their parent directories: `blob`, `tree`,
 * or absent. One recursive listing; when GitHub truncates it, each directory on the way is
 * listed on its own.
 */
async function baseShape(
  client: GitHubClient,
  repo: RepoRef,
  treeSha: string,
  paths: string[]
): Promise<Map<string, string>> {
  const shape = new Map<string, string>()
  const full = await client.request<{ tree: ListedEntry[]; truncated?: boolean }>(
    'GET',
    repoPath(repo, 'git', 'trees', treeSha),
    { query: { recursive: '1' } }
  )
  if (!full.truncated) {
    for (const e of full.tree) shape.set(e.path, e.type)
    return shape
  }
  const listed = new Map<string, ListedEntry[]>()
  const list = async (dir: string, sha: string): Promise<ListedEntry[]> => {
    const known = listed.get(dir)
    if (known) return known
    const r = await client.request<{ tree: ListedEntry[] }>(
      'GET',
      repoPath(repo, 'git', 'trees', sha)
    )
    listed.set(dir, r.tree)
    for (const e of r.tree) shape.set(dir ? `${dir}/${e.path}` : e.path, e.type)
    return r.tree
  }
  for (const p of paths) {
    const segs = p.split('/')
    let dir = ''
    let sha = treeSha
    for (let i = 0; i < segs.length; i++) {
      const entry = (await list(dir, sha)).find((e) => e.path === segs[i])
      if (!entry || entry.type !== 'tree' || i === segs.length - 1) break
      dir = dir ? `${dir}/${segs[i]}` : segs[i]!
      sha = entry.sha
    }
  }
  return shape
}

/**
 * Refuses tree entries that would change the tree's shape behind the patch's back. In the
 * Git database API a blob written at a path that is a directory in `base_tree` replaces the
 * whole directory, and a null sha at a directory's path deletes it, so a patch that merely
 * "adds a file" `docs` (or "deletes" it) would remove every file under `docs/` without naming
 * one of them. Only files are deleted, files never land where a directory is, and a directory
 * is made where a file was only when the same patch deletes that file; an added file must
 * not exist yet.
 */
async function assertTreeShape(
  client: GitHubClient,
  repo: RepoRef,
  treeSha: string,
  entries: TreeEntry[],
  added: ReadonlySet<string>
): Promise<void> {
  if (entries.length === 0) return
  const shape = await baseShape(
    client,
    repo,
    treeSha,
    entries.map((e) => e.path)
  )
  const deleted = new Set(entries.filter((e) => e.sha === null).map((e) => e.path))
  for (const e of entries) {
    const at = shape.get(e.path)
    if (e.sha === null && at !== 'blob')
      throw new PublishError(
        'AIRLOCK_PATCH_CONFLICT',
        `${e.path}: the patch deletes it, but the base commit holds ${at === 'tree' ? 'a directory' : at === 'commit' ? 'a submodule' : 'nothing'} there`
      )
    if (e.sha !== null && added.has(e.path) && at === 'blob' && !deleted.has(e.path))
      throw new PublishError(
        'AIRLOCK_PATCH_CONFLICT',
        `${e.path}: the patch adds it, but the base commit already holds that file`
      )
    if (e.sha !== null && at === 'tree')
      throw new PublishError(
        'AIRLOCK_PATCH_CONFLICT',
        `${e.path}: is a directory in the base commit; a file there would replace all of it`
      )
    // A gitlink (type `commit`): a file written there would drop the submodule.
    if (e.sha !== null && at !== undefined && at !== 'blob' && at !== 'tree')
      throw new PublishError(
        'AIRLOCK_PATCH_CONFLICT',
        `${e.path}: is a ${at === 'commit' ? 'submodule' : at} in the base commit`
      )
    const segs = e.path.split('/')
    for (let i = 1; i < segs.length; i++) {
      const parent = segs.slice(0, i).join('/')
      const kind = shape.get(parent)
      if (kind !== undefined && kind !== 'tree' && !deleted.has(parent))
        throw new PublishError(
          'AIRLOCK_PATCH_CONFLICT',
          `${e.path}: ${parent} is a file in the base commit`
        )
    }
  }
}

/**
 * Makes the commit a validated patch describes, through the Git database API: no checkout and
 * no git on the writing runner, and the result is a signed commit by the token's identity.
 * Each file is read at the patch's base commit, checked against the blob id the patch names,
 * patched, and checked against the resulting blob id again before anything is written.
 */
export async function commitPatch(
  client: GitHubClient,
  repo: RepoRef,
  files: FileDiff[],
  baseSha: string,
  message: string
): Promise<string> {
  const base = await client.request<{ tree: { sha: string } }>(
    'GET',
    repoPath(repo, 'git', 'commits', baseSha)
  )
  const tree: TreeEntry[] = []
  for (const f of files) {
    const name = filePath(f)
    let original: Buffer | null = null
    if (f.oldPath !== null) {
      // Without the base blob id nothing ties the change to what the commit holds (a
      // "deletion" of a directory would pass): git's --full-index patches always name it.
      if (!f.oldIndex || ZERO.test(f.oldIndex))
        throw new PublishError(
          'AIRLOCK_PATCH_CONFLICT',
          `${f.oldPath}: the patch does not name the blob it changes`
        )
      original = await readBase(client, repo, f.oldPath, baseSha)
      if (original === null)
        throw new PublishError('AIRLOCK_PATCH_CONFLICT', `${f.oldPath}: not found at ${baseSha}`)
      if (f.oldIndex && !ZERO.test(f.oldIndex) && !gitBlobSha(original).startsWith(f.oldIndex))
        throw new PublishError(
          'AIRLOCK_PATCH_CONFLICT',
          `${f.oldPath}: the patch was made against blob ${f.oldIndex}, the base commit holds ${gitBlobSha(original).slice(0, 12)}`
        )
    }
    const text = applyHunks(original === null ? null : original.toString('latin1'), f)
    // A rename or a deletion removes the old path; a copy keeps its source.
    if (f.oldPath !== null && f.oldPath !== f.newPath && f.status !== 'copied')
      tree.push({ path: f.oldPath, mode: f.oldMode ?? '100644', type: 'blob', sha: null })
    if (text === null || f.newPath === null) continue
    const content = Buffer.from(text, 'latin1')
    if (f.newIndex && !ZERO.test(f.newIndex) && !gitBlobSha(content).startsWith(f.newIndex))
      throw new PublishError(
        'AIRLOCK_PATCH_CONFLICT',
        `${name}: applying the patch gave blob ${gitBlobSha(content).slice(0, 12)}, the patch says ${f.newIndex}`
      )
    const blob = await client.request<{ sha: string }>('POST', repoPath(repo, 'git', 'blobs'), {
      body: { content: content.toString('base64'), encoding: 'base64' }
    })
    tree.push({
      path: f.newPath,
      mode: f.newMode ?? f.oldMode ?? '100644',
      type: 'blob',
      sha: blob.sha
    })
  }
  const added = new Set(files.filter((f) => f.oldPath === null).map(filePath))
  await assertTreeShape(client, repo, base.tree.sha, tree, added)
  const newTree = await client.request<{ sha: string }>('POST', repoPath(repo, 'git', 'trees'), {
    body: { base_tree: base.tree.sha, tree }
  })
  const commit = await client.request<{ sha: string }>('POST', repoPath(repo, 'git', 'commits'), {
    body: { message, tree: newTree.sha, parents: [baseSha] }
  })
  return commit.sha
}

/**
 * Moves `branch` to `sha`, creating it when missing. Not forced (unless `force`, which only a
 * scheduled run starting afresh over its own finished branch asks for): if the branch moved
 * since the agent started, GitHub refuses the non-fast-forward update and so do we.
 */
export async function updateBranch(
  client: GitHubClient,
  repo: RepoRef,
  branch: string,
  sha: string,
  create: boolean,
  force = false
): Promise<void> {
  const ref = `heads/${encodePath(branch)}`
  try {
    await client.request('PATCH', repoPath(repo, 'git', 'refs', ref), {
      body: { sha, force }
    })
    return
  } catch (err) {
    if (!(err instanceof GitHubApiError)) throw err
    const missing = err.status === 404 || /does not exist/i.test(err.message)
    if (missing && !create)
      throw new PublishError('AIRLOCK_BRANCH_GONE', `${branch} no longer exists`)
    if (!missing) {
      if (err.status === 422)
        throw new PublishError(
          'AIRLOCK_BRANCH_MOVED',
          `${branch} moved while the agent worked (not a fast-forward); ask again to work on its new head`
        )
      throw err
    }
  }
  await client.request('POST', repoPath(repo, 'git', 'refs'), {
    body: { ref: `refs/heads/${branch}`, sha }
  })
}
