import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { run as collect } from '../../src/workflow/steps/collect.js'
import { run as gate } from '../../src/workflow/steps/gate.js'
import { run as prepare } from '../../src/workflow/steps/prepare.js'
import { run as publishPatch } from '../../src/workflow/steps/publish-patch.js'
import { run as publishReview } from '../../src/workflow/steps/publish-review.js'
import { utcMinute } from '../../src/workflow/publish/progress.js'
import { startFakeGitHub, type FakeGitHub } from '../support/fake-github.js'
import {
  artifactIn,
  BASE_SHA,
  checkoutIn,
  HEAD_FORK,
  HEAD_SAME,
  patchIn,
  stepEnv
} from './fixtures.js'
import { runStep } from './step-harness.js'

/**
 * The workflow steps driven the way the reusable workflows run them — recorded event payloads,
 * `INPUT_*` variables, outputs of one step feeding the next — against a local GitHub-shaped
 * API. Each test checks the exact API calls made, in order.
 */

const TOKEN = 'ghs_publishtoken'
const R = '/repos/octo-org/widgets'
const RUN_URL = 'https://github.com/octo-org/widgets/actions/runs/987654321'

let gh: FakeGitHub
let dir: string
beforeEach(async () => {
  gh = await startFakeGitHub({ owner: 'octo-org', repo: 'widgets', token: TOKEN })
  dir = mkdtempSync(join(tmpdir(), 'airlock-publish-'))
})
afterEach(async () => {
  await gh.close()
  rmSync(dir, { recursive: true, force: true })
})

const env = (event: string, extra: Record<string, string> = {}): Record<string, string> =>
  stepEnv(gh.url, dir, event, extra)

const checkout = (files: Record<string, string>): string => checkoutIn(dir, files)

const patchFor = (files: Record<string, string>, edit: (ws: string) => void): Buffer =>
  patchIn(dir, files, edit, { renames: false })

const artifact = (files: Record<string, string | Buffer>): string => artifactIn(dir, files)

const FORK_DIFF = `diff --git a/src/parse.js b/src/parse.js
index 1111111..2222222 100644
--- a/src/parse.js
+++ b/src/parse.js
@@ -1,5 +1,6 @@
 export function parse(text) {
-  return text.split(',')
+  const cache = new Map()
+  return text.split(',').map((t) => cache.get(t) ?? t)
 }
 
 export const VERSION = 1
`

describe('review: pull_request_target from a fork', () => {
  beforeEach(() => {
    gh.compareDiffs.set(`${BASE_SHA}...${HEAD_FORK}`, FORK_DIFF)
  })

  const review = {
    summary: 'Adds a cache. cc @octo-org/security',
    verdict: 'APPROVE',
    comments: [
      { path: 'src/parse.js', line: 3, body: 'The cache is never filled.' },
      {
        path: 'src/parse.js',
        start_line: 2,
        line: 3,
        side: 'RIGHT',
        body: 'Consider a memo helper.'
      },
      { path: 'README.md', line: 1, body: 'Mention the cache here.' }
    ]
  }

  it('gates, then posts one COMMENT review with inline comments and the rest in the summary', async () => {
    const g = await runStep(gate, {
      env: env('pull_request_target.opened.fork'),
      inputs: { 'github-token': TOKEN, mode: 'review', 'required-permission': 'none' }
    })
    expect(g.failed).toBe(false)
    expect(g.outputs).toMatchObject({
      run: 'true',
      number: '12',
      'is-fork': 'true',
      'head-sha': HEAD_FORK,
      'base-sha': BASE_SHA,
      delivery: 'review'
    })
    // The tracking comment: queued as soon as the gate lets the run start.
    const tracking = g.outputs['tracking-comment-id']!
    expect(gh.callLines()).toEqual([
      `GET ${R}/issues/12/comments?per_page=100`,
      `POST ${R}/issues/12/comments`
    ])
    expect(gh.comments.get(Number(tracking))!.body).toContain('is reviewing this pull request')
    gh.calls.length = 0

    const p = await runStep(publishReview, {
      env: env('pull_request_target.opened.fork'),
      inputs: {
        'github-token': TOKEN,
        'artifact-dir': artifact({
          'review.json': JSON.stringify(review),
          'meta.json': JSON.stringify({
            conclusion: 'success',
            durationMs: 192_000,
            inputTokens: 12_345,
            outputTokens: 1_200,
            blocked: [],
            blockedCount: 0
          })
        }),
        number: g.outputs.number!,
        'head-sha': g.outputs['head-sha']!,
        'base-sha': g.outputs['base-sha']!,
        'tracking-comment-id': tracking
      }
    })
    expect(p.errors).toEqual([])
    expect(p.outputs).toMatchObject({ 'inline-comments': '2', 'outside-comments': '1' })
    expect(gh.callLines()).toEqual([
      `PATCH ${R}/issues/comments/${tracking}`,
      `GET ${R}/compare/${BASE_SHA}...${HEAD_FORK}`,
      `GET ${R}/pulls/12/reviews?per_page=100`,
      `POST ${R}/pulls/12/reviews`,
      `PATCH ${R}/issues/comments/${tracking}`
    ])
    expect((gh.calls[0]!.body as { body: string }).body).toContain(
      'the agent is done (agent ran 3 min 12 s · 12.3k tokens in, 1.2k out); checking and posting its review'
    )
    expect(gh.comments.get(Number(tracking))!.body).toBe(
      [
        '<!-- airlock:tracking -->',
        `✅ **Airlock** reviewed this pull request: [see the review](https://github.test/pull/12#review-${gh.reviews[0]!.id}) (2 inline comments, 1 on lines outside the diff) — [run](${RUN_URL}).`,
        '',
        '<sub>agent ran 3 min 12 s · 12.3k tokens in, 1.2k out</sub>'
      ].join('\n')
    )
    expect(gh.calls[1]!.accept).toBe('application/vnd.github.diff')
    const posted = gh.calls[3]!.body as Record<string, unknown>
    expect(posted).toEqual({
      commit_id: HEAD_FORK,
      event: 'COMMENT',
      body: [
        'Adds a cache. cc `@octo-org/security`',
        '',
        '<details><summary>1 comment on lines outside the diff</summary>',
        '',
        '- `README.md:1`',
        '',
        '  Mention the cache here.',
        '',
        '</details>',
        '',
        `<sub>Review by Airlock of ${HEAD_FORK.slice(0, 12)} · agent ran 3 min 12 s · 12.3k tokens in, 1.2k out · [run](${RUN_URL})</sub>`,
        '<!-- airlock:review -->'
      ].join('\n'),
      comments: [
        { path: 'src/parse.js', line: 3, side: 'RIGHT', body: 'The cache is never filled.' },
        {
          path: 'src/parse.js',
          line: 3,
          side: 'RIGHT',
          start_line: 2,
          start_side: 'RIGHT',
          body: 'Consider a memo helper.'
        }
      ]
    })
  })

  it('posts again with every comment in the summary when GitHub refuses the inline ones', async () => {
    gh.rejectInlineComments = true
    const p = await runStep(publishReview, {
      env: env('pull_request_target.opened.fork'),
      inputs: {
        'github-token': TOKEN,
        'artifact-dir': artifact({ 'review.json': JSON.stringify(review) }),
        number: '12',
        'head-sha': HEAD_FORK,
        'base-sha': BASE_SHA
      }
    })
    expect(p.failed).toBe(false)
    expect(gh.callLines()).toEqual([
      `GET ${R}/compare/${BASE_SHA}...${HEAD_FORK}`,
      `GET ${R}/pulls/12/reviews?per_page=100`,
      `POST ${R}/pulls/12/reviews`,
      `POST ${R}/pulls/12/reviews`
    ])
    const second = gh.calls[3]!.body as { comments: unknown[]; body: string }
    expect(second.comments).toEqual([])
    expect(second.body).toContain('3 comments on lines outside the diff')
    expect(gh.reviews).toHaveLength(1)
  })

  it('refuses an invalid review without calling GitHub at all', async () => {
    const tooMany = {
      summary: 's',
      comments: Array.from({ length: 4 }, (_, i) => ({
        path: 'src/parse.js',
        line: i + 1,
        body: 'x'
      }))
    }
    const p = await runStep(publishReview, {
      env: env('pull_request_target.opened.fork'),
      inputs: {
        'github-token': TOKEN,
        'artifact-dir': artifact({ 'review.json': JSON.stringify(tooMany) }),
        number: '12',
        'head-sha': HEAD_FORK,
        'base-sha': BASE_SHA,
        'max-comments': '3'
      }
    })
    expect(p.failed).toBe(true)
    expect(p.errors).toEqual(['the review was refused:\n- 4 comments; the limit is 3'])
    expect(gh.calls).toEqual([])
  })

  it('outside-diff: fail refuses a review with comments off the diff, after fetching the diff', async () => {
    const p = await runStep(publishReview, {
      env: env('pull_request_target.opened.fork'),
      inputs: {
        'github-token': TOKEN,
        'artifact-dir': artifact({ 'review.json': JSON.stringify(review) }),
        number: '12',
        'head-sha': HEAD_FORK,
        'base-sha': BASE_SHA,
        'outside-diff': 'fail'
      }
    })
    expect(p.failed).toBe(true)
    expect(p.errors[0]).toBe(
      "comments outside the diff:\n- README.md is not part of the pull request's diff"
    )
    expect(gh.callLines()).toEqual([`GET ${R}/compare/${BASE_SHA}...${HEAD_FORK}`])
  })
})

describe('respond: an issue comment becomes a pull request', () => {
  const BASE_FILES = {
    'README.md': '# Widgets\n\nThe widgts are great.\n',
    'src/index.js': 'export {}\n'
  }
  let base: string
  beforeEach(() => {
    base = gh.commit(BASE_FILES, [], 'base')
    gh.refs.set('heads/main', base)
    gh.permissions.set('mona', { role_name: 'write', permission: 'write' })
  })

  it('gate → prepare → agent edits → collect → publish-patch, with the exact API calls', async () => {
    const ev = env('issue_comment.created.issue')
    const before = new Date()
    const g = await runStep(gate, { env: ev, inputs: { 'github-token': TOKEN, mode: 'respond' } })
    const after = new Date()
    expect(g.errors).toEqual([])
    const tracking = g.outputs['tracking-comment-id']!
    expect(g.outputs).toMatchObject({
      run: 'true',
      number: '7',
      'is-pr': 'false',
      'work-sha': base,
      delivery: 'pull-request',
      branch: 'airlock/issue-7',
      'base-branch': 'main',
      actor: 'mona',
      'actor-id': '5001'
    })
    expect(tracking).toMatch(/^\d+$/)
    expect(gh.callLines()).toEqual([
      `GET ${R}/collaborators/mona/permission`,
      `GET ${R}/git/ref/heads/airlock/issue-7`,
      `GET ${R}/git/ref/heads/main`,
      `POST ${R}/issues/comments/1500001/reactions`,
      `POST ${R}/issues/7/comments`
    ])
    expect(gh.reactions).toEqual([{ path: '/issues/comments/1500001/reactions', content: 'eyes' }])
    expect(
      [before, after].map((t) =>
        [
          '<!-- airlock:tracking -->',
          `⏳ **Airlock** is working on the request (requested by @mona): the agent is starting ${utcMinute(t)} in a sandbox with no network but its proxy. Follow [the run](${RUN_URL}); this comment says when it is done.`
        ].join('\n')
      )
    ).toContain(gh.comments.get(Number(tracking))!.body)

    // The agent job: checkout of work-sha, prepare, the agent, collect.
    const ws = checkout(BASE_FILES)
    gh.calls.length = 0
    const prep = await runStep(prepare, {
      env: { ...ev, GITHUB_WORKSPACE: ws },
      inputs: {
        'github-token': TOKEN,
        mode: 'respond',
        number: '7',
        'is-pr': 'false',
        'work-sha': g.outputs['work-sha']!,
        actor: 'mona'
      }
    })
    expect(prep.errors).toEqual([])
    expect(prep.outputs['prompt-file']).toBe('.airlock-run/prompt.md')
    // Reads only: the conversation, for the agent's context.
    expect(gh.callLines()).toEqual([`GET ${R}/issues/7/comments?per_page=100`])
    gh.calls.length = 0
    writeFileSync(join(ws, 'README.md'), '# Widgets\n\nThe widgets are great.\n')
    const out = join(dir, 'out')
    const col = await runStep(collect, {
      env: { ...ev, GITHUB_WORKSPACE: ws },
      inputs: {
        mode: 'patch',
        'output-dir': out,
        result: 'Fixed the typo "widgts" in README.md. Thanks @mona!',
        'git-dir': prep.outputs['git-dir']!,
        'start-tree': prep.outputs['start-tree']!
      }
    })
    expect(col.errors).toEqual([])
    expect(col.outputs).toMatchObject({ 'has-changes': 'true', files: '1' })

    // The writing job.
    const pub = await runStep(publishPatch, {
      env: ev,
      inputs: {
        'github-token': TOKEN,
        'artifact-dir': out,
        'agent-result': 'success',
        number: g.outputs.number!,
        'is-pr': g.outputs['is-pr']!,
        title: g.outputs.title!,
        'work-sha': g.outputs['work-sha']!,
        delivery: g.outputs.delivery!,
        branch: g.outputs.branch!,
        'base-branch': g.outputs['base-branch']!,
        actor: g.outputs.actor!,
        'actor-id': g.outputs['actor-id']!,
        'tracking-comment-id': tracking
      }
    })
    expect(pub.errors).toEqual([])
    expect(pub.outputs).toMatchObject({ outcome: 'pull-request', 'pull-number': '100' })
    const commit = pub.outputs['commit-sha']!
    expect(gh.callLines()).toEqual([
      `PATCH ${R}/issues/comments/${tracking}`,
      `GET ${R}`,
      `GET ${R}/branches/airlock/issue-7`,
      `GET ${R}/rules/branches/airlock/issue-7`,
      `GET ${R}/git/commits/${base}`,
      `GET ${R}/contents/README.md?ref=${base}`,
      `POST ${R}/git/blobs`,
      `GET ${R}/git/trees/${gh.commits.get(base)!.tree}?recursive=1`,
      `POST ${R}/git/trees`,
      `POST ${R}/git/commits`,
      `PATCH ${R}/git/refs/heads/airlock/issue-7`,
      `POST ${R}/git/refs`,
      `GET ${R}/pulls?base=main&head=octo-org:airlock/issue-7&state=open`,
      `POST ${R}/pulls`,
      `PATCH ${R}/issues/comments/${tracking}`
    ])
    const byPath = (p: string) => gh.calls.find((c) => gh.callLines()[gh.calls.indexOf(c)] === p)!
    expect(byPath(`POST ${R}/git/commits`).body).toEqual({
      message:
        'Airlock: changes for issue #7\n\nRequested by @mona in #7\n' +
        `${RUN_URL}.\n\nCo-authored-by: mona <5001+mona@users.noreply.github.com>`,
      tree: expect.stringMatching(/^[0-9a-f]{40}$/),
      parents: [base]
    })
    expect(byPath(`POST ${R}/git/refs`).body).toEqual({
      ref: 'refs/heads/airlock/issue-7',
      sha: commit
    })
    expect(byPath(`POST ${R}/pulls`).body).toMatchObject({
      title: 'Airlock: Typo in README',
      head: 'airlock/issue-7',
      base: 'main',
      body: [
        'Closes #7',
        '',
        'Changes Airlock made for issue #7, requested by @mona.',
        '',
        '### What changed and why',
        '',
        'Fixed the typo "widgts" in README.md. Thanks `@mona`!',
        '',
        '### 1 file touched',
        '',
        '- `README.md`',
        '',
        `<sub>Made by Airlock · [run](${RUN_URL}) · commit [${commit.slice(0, 12)}](https://github.com/octo-org/widgets/commit/${commit})</sub>`,
        '',
        '<!-- airlock:tracking -->'
      ].join('\n')
    })
    expect(gh.files(gh.refs.get('heads/airlock/issue-7')!)).toEqual({
      'README.md': '# Widgets\n\nThe widgets are great.\n',
      'src/index.js': 'export {}\n'
    })
    expect(gh.comments.get(Number(tracking))!.body).toBe(
      [
        '<!-- airlock:tracking -->',
        `**Airlock** opened #100 (${commit.slice(0, 12)} on \`airlock/issue-7\`) — [run](${RUN_URL}).`,
        '',
        'Fixed the typo "widgts" in README.md. Thanks `@mona`!'
      ].join('\n')
    )

    // Asked again on the same issue: continue the branch, update the same pull request.
    gh.calls.length = 0
    const g2 = await runStep(gate, {
      env: ev,
      inputs: { 'github-token': TOKEN, acknowledge: 'false' }
    })
    expect(g2.outputs['work-sha']).toBe(commit)
    expect(gh.callLines()).toEqual([
      `GET ${R}/collaborators/mona/permission`,
      `GET ${R}/git/ref/heads/airlock/issue-7`
    ])
    gh.calls.length = 0
    const patch2 = patchFor(gh.files(commit), (w) =>
      writeFileSync(join(w, 'src/index.js'), 'export const x = 1\n')
    )
    const pub2 = await runStep(publishPatch, {
      env: ev,
      inputs: {
        'github-token': TOKEN,
        'artifact-dir': artifact({ 'patch.diff': patch2, 'result.md': 'Exported x.' }),
        number: '7',
        'work-sha': commit,
        delivery: 'pull-request',
        branch: 'airlock/issue-7',
        'base-branch': 'main',
        actor: 'mona',
        'actor-id': '5001'
      }
    })
    expect(pub2.errors).toEqual([])
    expect(gh.callLines()).toEqual([
      `GET ${R}`,
      `GET ${R}/branches/airlock/issue-7`,
      `GET ${R}/rules/branches/airlock/issue-7`,
      `GET ${R}/git/commits/${commit}`,
      `GET ${R}/contents/src/index.js?ref=${commit}`,
      `POST ${R}/git/blobs`,
      `GET ${R}/git/trees/${gh.commits.get(commit)!.tree}?recursive=1`,
      `POST ${R}/git/trees`,
      `POST ${R}/git/commits`,
      `PATCH ${R}/git/refs/heads/airlock/issue-7`,
      `GET ${R}/pulls?base=main&head=octo-org:airlock/issue-7&state=open`,
      `POST ${R}/issues/7/comments`
    ])
    expect(gh.comments.get(Math.max(...gh.comments.keys()))!.body).toContain('updated #100')
  })

  it('refuses a patch touching a protected path: no git writes, the comment says why', async () => {
    const patch = patchFor(BASE_FILES, (w) => {
      mkdirSync(join(w, '.github/workflows'), { recursive: true })
      writeFileSync(join(w, '.github/workflows/exfil.yml'), 'on: push\n')
      writeFileSync(join(w, 'README.md'), 'x\n')
    })
    const tracking = 4242
    gh.comments.set(tracking, { id: tracking, issue: 7, body: 'working' })
    const pub = await runStep(publishPatch, {
      env: env('issue_comment.created.issue'),
      inputs: {
        'github-token': TOKEN,
        'artifact-dir': artifact({ 'patch.diff': patch, 'result.md': 'done' }),
        number: '7',
        'work-sha': base,
        delivery: 'pull-request',
        branch: 'airlock/issue-7',
        'base-branch': 'main',
        actor: 'mona',
        'tracking-comment-id': String(tracking)
      }
    })
    expect(pub.failed).toBe(true)
    expect(pub.errors[0]).toContain('.github/workflows/exfil.yml: protected path')
    expect(gh.callLines()).toEqual([
      `PATCH ${R}/issues/comments/${tracking}`,
      `PATCH ${R}/issues/comments/${tracking}`
    ])
    expect(gh.comments.get(tracking)!.body).toContain('could not publish the changes')
    expect(gh.refs.has('heads/airlock/issue-7')).toBe(false)
  })

  it('lets allow-paths publish a protected path the workflow author opened', async () => {
    const patch = patchFor(BASE_FILES, (w) => writeFileSync(join(w, 'CLAUDE.md'), 'rules\n'))
    const pub = await runStep(publishPatch, {
      env: env('issue_comment.created.issue'),
      inputs: {
        'github-token': TOKEN,
        'artifact-dir': artifact({ 'patch.diff': patch }),
        number: '7',
        'work-sha': base,
        delivery: 'pull-request',
        branch: 'airlock/issue-7',
        'base-branch': 'main',
        actor: 'mona',
        'allow-paths': 'CLAUDE.md'
      }
    })
    expect(pub.errors).toEqual([])
    expect(gh.files(gh.refs.get('heads/airlock/issue-7')!)['CLAUDE.md']).toBe('rules\n')
  })

  it('reports a failed agent job without touching the repository', async () => {
    gh.comments.set(4343, { id: 4343, issue: 7, body: 'working' })
    const pub = await runStep(publishPatch, {
      env: env('issue_comment.created.issue'),
      inputs: {
        'github-token': TOKEN,
        'agent-result': 'failure',
        number: '7',
        'work-sha': base,
        delivery: 'pull-request',
        branch: 'airlock/issue-7',
        'tracking-comment-id': '4343'
      }
    })
    expect(pub.failed).toBe(false)
    expect(pub.outputs.outcome).toBe('agent-failed')
    expect(gh.callLines()).toEqual([`PATCH ${R}/issues/comments/4343`])
    expect(gh.comments.get(4343)!.body).toBe(
      [
        '<!-- airlock:tracking -->',
        "❌ **Airlock** did not finish: the agent job ended with `failure` before the agent reported anything (see the run's log) — [the run](" +
          RUN_URL +
          ').'
      ].join('\n')
    )
  })
})

describe('respond on pull requests', () => {
  const PR_FILES = {
    'src/render.js': 'export function render(w) {\n  const label = w.name\n  return label\n}\n'
  }
  beforeEach(() => {
    gh.commitAs(BASE_SHA, { 'src/render.js': 'export function render(w) {\n  return w.name\n}\n' })
    gh.commitAs(HEAD_SAME, PR_FILES, [BASE_SHA])
    gh.refs.set('heads/refactor-renderer', HEAD_SAME)
    gh.comments.set(5151, { id: 5151, issue: 15, body: 'working' })
    gh.pulls.set(15, {
      number: 15,
      state: 'open',
      title: 'Refactor the renderer',
      body: '',
      head: { ref: 'refactor-renderer', sha: HEAD_SAME, repo: { full_name: 'octo-org/widgets' } },
      base: { ref: 'main', sha: BASE_SHA, repo: { full_name: 'octo-org/widgets' } },
      user: { login: 'mona', id: 5001, type: 'User' }
    })
  })
  const rename = (w: string) =>
    writeFileSync(
      join(w, 'src/render.js'),
      'export function render(w) {\n  const title = w.name\n  return title\n}\n'
    )
  const inputs = (patch: Buffer, extra: Record<string, string> = {}) => ({
    'github-token': TOKEN,
    'artifact-dir': artifact({ 'patch.diff': patch, 'result.md': 'Renamed label to title.' }),
    number: '15',
    'is-pr': 'true',
    'work-sha': HEAD_SAME,
    delivery: 'push',
    branch: 'refactor-renderer',
    'base-branch': 'main',
    actor: 'mona',
    'actor-id': '5001',
    'tracking-comment-id': '5151',
    ...extra
  })

  it('same repository: commits on the head and pushes to the PR branch (fast-forward only)', async () => {
    const pub = await runStep(publishPatch, {
      env: env('pull_request_review_comment.created'),
      inputs: inputs(patchFor(PR_FILES, rename))
    })
    expect(pub.errors).toEqual([])
    expect(pub.outputs.outcome).toBe('pushed')
    expect(gh.callLines()).toEqual([
      `PATCH ${R}/issues/comments/5151`,
      `GET ${R}`,
      `GET ${R}/pulls/15`,
      `GET ${R}/branches/refactor-renderer`,
      `GET ${R}/rules/branches/refactor-renderer`,
      `GET ${R}/git/commits/${HEAD_SAME}`,
      `GET ${R}/contents/src/render.js?ref=${HEAD_SAME}`,
      `POST ${R}/git/blobs`,
      `GET ${R}/git/trees/${gh.commits.get(HEAD_SAME)!.tree}?recursive=1`,
      `POST ${R}/git/trees`,
      `POST ${R}/git/commits`,
      `PATCH ${R}/git/refs/heads/refactor-renderer`,
      `PATCH ${R}/issues/comments/5151`
    ])
    expect(gh.calls[11]!.body).toEqual({ sha: pub.outputs['commit-sha'], force: false })
    expect(gh.files(gh.refs.get('heads/refactor-renderer')!)['src/render.js']).toContain(
      'const title'
    )
  })

  it('refuses to push when the branch moved while the agent worked', async () => {
    const moved = gh.commit({ 'src/render.js': 'someone else pushed\n' }, [BASE_SHA], 'other')
    gh.refs.set('heads/refactor-renderer', moved)
    const pub = await runStep(publishPatch, {
      env: env('pull_request_review_comment.created'),
      inputs: inputs(patchFor(PR_FILES, rename))
    })
    expect(pub.failed).toBe(true)
    expect(pub.errors[0]).toMatch(/^refactor-renderer moved while the agent worked/)
    expect(gh.refs.get('heads/refactor-renderer')).toBe(moved)
    expect(gh.comments.get(5151)!.body).toContain('could not publish the changes')
  })

  it('refuses a patch whose base blob is not what the commit holds', async () => {
    const stale = patchFor({ 'src/render.js': 'something else\n' }, (w) =>
      writeFileSync(join(w, 'src/render.js'), 'changed\n')
    )
    const pub = await runStep(publishPatch, {
      env: env('pull_request_review_comment.created'),
      inputs: inputs(stale)
    })
    expect(pub.failed).toBe(true)
    expect(pub.errors[0]).toMatch(
      /^src\/render\.js: the patch was made against blob [0-9a-f]{40}, the base commit holds/
    )
    expect(gh.callLines().filter((l) => l.startsWith('POST'))).toEqual([])
  })

  it('from a fork: pushes nothing and puts the patch in the tracking comment', async () => {
    gh.commitAs(HEAD_FORK, PR_FILES, [BASE_SHA])
    gh.comments.set(6161, { id: 6161, issue: 12, body: 'working' })
    const patch = patchFor(PR_FILES, rename)
    const pub = await runStep(publishPatch, {
      env: env('issue_comment.created.pr-fork'),
      inputs: inputs(patch, {
        number: '12',
        'work-sha': HEAD_FORK,
        delivery: 'comment',
        branch: '',
        'tracking-comment-id': '6161'
      })
    })
    expect(pub.errors).toEqual([])
    expect(pub.outputs.outcome).toBe('comment')
    expect(gh.callLines()).toEqual([
      `PATCH ${R}/issues/comments/6161`,
      `PATCH ${R}/issues/comments/6161`
    ])
    const body = gh.comments.get(6161)!.body
    expect(body).toContain('this pull request comes from a fork')
    expect(body).toContain('```diff\n' + patch.toString('utf8').replace(/\n$/, '') + '\n```')
  })
})
