import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { parseOutputs } from '../../src/workflow/publish/outputs.js'
import { run as publishPatch } from '../../src/workflow/steps/publish-patch.js'
import { run as publishReview } from '../../src/workflow/steps/publish-review.js'
import { startFakeGitHub, type FakeGitHub } from '../support/fake-github.js'
import { artifactIn, BASE_SHA, HEAD_FORK, patchIn, stepEnv } from './fixtures.js'
import { runStep } from './step-harness.js'

/**
 * Safe outputs: labels, a comment, an issue, a pull request's title and body, and a review
 * verdict — asked for by the agent in its artifact, written by the publish job only as far
 * as the workflow allows.
 */

const TOKEN = 'ghs_outputstoken'
const R = '/repos/octo-org/widgets'
const RUN_URL = 'https://github.com/octo-org/widgets/actions/runs/987654321'

let gh: FakeGitHub
let dir: string
beforeEach(async () => {
  gh = await startFakeGitHub({ owner: 'octo-org', repo: 'widgets', token: TOKEN })
  gh.compareDiffs.set(`${BASE_SHA}...${HEAD_FORK}`, 'diff --git a/a b/a\n')
  dir = mkdtempSync(join(tmpdir(), 'airlock-outputs-'))
})
afterEach(async () => {
  await gh.close()
  rmSync(dir, { recursive: true, force: true })
})

const triage = {
  labels: ['Bug', 'needs-repro', 'urgent'],
  comment: 'Thanks! This looks like a parser bug; a failing input would help.',
  issue: { title: 'Parser drops empty fields', body: 'Found while triaging #7.' }
}

async function respond(outputs: unknown, inputs: Record<string, string> = {}) {
  gh.comments.set(70, { id: 70, issue: 7, body: 'queued' })
  return runStep(publishPatch, {
    env: stepEnv(gh.url, dir, 'issue_comment.created.issue'),
    inputs: {
      'github-token': TOKEN,
      'artifact-dir': artifactIn(dir, {
        'patch.diff': '',
        'result.md': 'Triaged.',
        'outputs.json': JSON.stringify(outputs)
      }),
      number: '7',
      'work-sha': BASE_SHA,
      delivery: 'pull-request',
      branch: 'airlock/issue-7',
      'base-branch': 'main',
      actor: 'mona',
      'tracking-comment-id': '70',
      ...inputs
    }
  })
}

describe('safe outputs', () => {
  it('triage: allowed labels (allowlist spelling), a comment and an issue; the rest refused and said', async () => {
    const step = await respond(triage, {
      'allowed-labels': 'bug, needs-repro',
      'allow-comment': 'true',
      'allow-issue': 'true'
    })
    expect(step.errors).toEqual([])
    expect(gh.labels.get(7)).toEqual(['bug', 'needs-repro'])
    const comment = [...gh.comments.values()].find((c) => c.id !== 70)!
    expect(comment.body).toBe(
      [
        'Thanks! This looks like a parser bug; a failing input would help.',
        '',
        `<sub>Written by Airlock for #7 · [run](${RUN_URL})</sub>`,
        '<!-- airlock:output -->'
      ].join('\n')
    )
    expect([...gh.issues.values()]).toEqual([
      {
        title: 'Parser drops empty fields',
        body: `Found while triaging \`#7\`.\n\n<sub>Written by Airlock for #7 · [run](${RUN_URL})</sub>\n<!-- airlock:output -->`
      }
    ])
    const tracking = gh.comments.get(70)!.body
    expect(tracking).toContain(
      'Also wrote: labels `bug`, `needs-repro`; a comment; issue #100. Refused: label `urgent` (not in `allowed-labels`).'
    )
  })

  it('triage with max-patch-files 0: a change the agent made anyway is refused, nothing pushed', async () => {
    const files = { 'README.md': 'a\n' }
    const base = gh.commit(files)
    gh.refs.set('heads/main', base)
    const patch = patchIn(dir, files, (w) => writeFileSync(join(w, 'README.md'), 'b\n'))
    gh.comments.set(72, { id: 72, issue: 7, body: 'queued' })
    const step = await runStep(publishPatch, {
      env: stepEnv(gh.url, dir, 'issue_comment.created.issue'),
      inputs: {
        'github-token': TOKEN,
        'artifact-dir': artifactIn(dir, {
          'patch.diff': patch,
          'outputs.json': JSON.stringify({ labels: ['bug'] })
        }),
        number: '7',
        'work-sha': base,
        delivery: 'pull-request',
        branch: 'airlock/issue-7',
        'base-branch': 'main',
        actor: 'mona',
        'tracking-comment-id': '72',
        'max-patch-files': '0',
        'allowed-labels': 'bug'
      }
    })
    expect(step.failed).toBe(true)
    expect(gh.refUpdates).toEqual([])
    expect(gh.comments.get(72)!.body).toContain('the patch touches 1 files; the limit is 0')
  })

  it('writes nothing the workflow did not allow (all off by default)', async () => {
    await respond(triage)
    expect(gh.labels.size).toBe(0)
    expect(gh.issues.size).toBe(0)
    expect(gh.callLines().filter((l) => l.startsWith('POST'))).toEqual([])
    expect(gh.comments.get(70)!.body).toContain(
      'Refused: label `Bug` (not in `allowed-labels`); label `needs-repro` (not in `allowed-labels`); label `urgent` (not in `allowed-labels`); a comment (`allow-comment` is off); a new issue (`allow-issue` is off).'
    )
  })

  it('updates the title and body of the pull request the run is for, when allowed', async () => {
    gh.pulls.set(15, {
      number: 15,
      state: 'open',
      title: 'wip',
      body: '',
      head: { ref: 'x', sha: HEAD_FORK, repo: { full_name: 'octo-org/widgets' } },
      base: { ref: 'main', sha: BASE_SHA, repo: { full_name: 'octo-org/widgets' } },
      user: { login: 'mona', id: 1, type: 'User' }
    })
    gh.comments.set(71, { id: 71, issue: 15, body: 'queued' })
    await runStep(publishPatch, {
      env: stepEnv(gh.url, dir, 'pull_request_review_comment.created'),
      inputs: {
        'github-token': TOKEN,
        'artifact-dir': artifactIn(dir, {
          'patch.diff': '',
          'outputs.json': JSON.stringify({
            pull_request: { title: 'Cache parsed fields', body: 'Adds a cache.' }
          })
        }),
        number: '15',
        'is-pr': 'true',
        'work-sha': HEAD_FORK,
        delivery: 'push',
        branch: 'x',
        'base-branch': 'main',
        actor: 'mona',
        'tracking-comment-id': '71',
        'allow-pr-update': 'true'
      }
    })
    expect(gh.pulls.get(15)!.title).toBe('Cache parsed fields')
    expect(gh.pulls.get(15)!.body).toContain('Adds a cache.')
    expect(gh.callLines()).toContain(`PATCH ${R}/pulls/15`)
  })

  it('review: the verdict is posted only with allow-verdict', async () => {
    const doc = { summary: 'Needs work.', verdict: 'REQUEST_CHANGES', comments: [] }
    const run = (extra: Record<string, string>) =>
      runStep(publishReview, {
        env: stepEnv(gh.url, dir, 'pull_request_target.opened.fork'),
        inputs: {
          'github-token': TOKEN,
          'artifact-dir': artifactIn(dir, { 'review.json': JSON.stringify(doc) }),
          number: '12',
          'head-sha': HEAD_FORK,
          'base-sha': BASE_SHA,
          sticky: 'false',
          ...extra
        }
      })
    expect((await run({})).outputs.event).toBe('COMMENT')
    expect((await run({ 'allow-verdict': 'true' })).outputs.event).toBe('REQUEST_CHANGES')
    expect(gh.reviews.map((r) => r.body.event)).toEqual(['COMMENT', 'REQUEST_CHANGES'])
  })

  it('reads only the known fields of the right types', () => {
    expect(
      parseOutputs(JSON.stringify({ labels: 'bug', comment: 3, issue: { body: 'x' }, extra: 1 }))
        .problems
    ).toEqual([
      'unknown field "extra" ignored',
      '"labels" must be a list of strings',
      '"comment" must be a non-empty string',
      '"issue.title" is required'
    ])
  })
})
