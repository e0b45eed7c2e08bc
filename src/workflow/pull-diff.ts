import { GitHubApiError, repoPath, type GitHubClient, type RepoRef } from './github.js'

const DIFF = 'application/vnd.github.diff'

/** Which pull request, and the commits it was judged at. */
export interface PullDiffTarget {
  number: number
  /** The base commit the gate saw; with `headSha`, the diff is pinned to what was judged. */
  baseSha?: string
  headSha?: string
}

/** A diff and where it came from. */
export interface PullDiff {
  text: string
  source: 'compare' | 'pull' | 'files'
}

interface PullFile {
  filename: string
  previous_filename?: string
  status: string
  patch?: string
}

/**
 * The pull request's diff, as review comments are anchored to it. Preferred: the three-dot
 * compare of the two commits the gate recorded (the same diff the PR page shows, and it does
 * not move when someone pushes meanwhile); then the PR's own diff; then, for diffs GitHub
 * refuses to render whole (406/422 when too large), one assembled from the per-file patches.
 */
export async function fetchPullDiff(
  client: GitHubClient,
  repo: RepoRef,
  target: PullDiffTarget
): Promise<PullDiff> {
  if (target.baseSha && target.headSha) {
    try {
      const text = await client.requestText(
        'GET',
        repoPath(repo, 'compare', `${target.baseSha}...${target.headSha}`),
        { accept: DIFF }
      )
      return { text, source: 'compare' }
    } catch (err) {
      if (!(err instanceof GitHubApiError) || ![404, 406, 422, 500].includes(err.status)) throw err
    }
  }
  try {
    const text = await client.requestText('GET', repoPath(repo, 'pulls', target.number), {
      accept: DIFF
    })
    return { text, source: 'pull' }
  } catch (err) {
    if (!(err instanceof GitHubApiError) || ![406, 422, 500].includes(err.status)) throw err
  }
  // GitHub lists at most 3000 files of a pull request; the client reads every page of them.
  const files = await client.paginate<PullFile>(repoPath(repo, 'pulls', target.number, 'files'))
  return { text: diffFromFiles(files), source: 'files' }
}

/**
 * A unified diff from the `files` list of a pull request. Files without a `patch` (binary, or
 * too large for GitHub to include) appear as binary, so nothing is anchored on them.
 */
export function diffFromFiles(files: PullFile[]): string {
  let out = ''
  for (const f of files) {
    const oldName = f.previous_filename ?? f.filename
    out += `diff --git a/${oldName} b/${f.filename}\n`
    if (f.status === 'renamed') out += `rename from ${oldName}\nrename to ${f.filename}\n`
    const oldSide = f.status === 'added' ? '/dev/null' : `a/${oldName}`
    const newSide = f.status === 'removed' ? '/dev/null' : `b/${f.filename}`
    if (f.status === 'added') out += 'new file mode 100644\n'
    if (f.status === 'removed') out += 'deleted file mode 100644\n'
    if (f.patch === undefined) {
      out += `Binary files ${oldSide} and ${newSide} differ\n`
      continue
    }
    if (f.patch === '') continue
    out += `--- ${oldSide}\n+++ ${newSide}\n${f.patch}${f.patch.endsWith('\n') ? '' : '\n'}`
  }
  return out
}
