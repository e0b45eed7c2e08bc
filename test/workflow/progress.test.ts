import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { run as collect } from '../../src/workflow/steps/collect.js'
import { run as gate } from '../../src/workflow/steps/gate.js'
import { run as publishReview } from '../../src/workflow/steps/publish-review.js'
import { utcMinute } from '../../src/workflow/publish/progress.js'
import { startFakeGitHub, type FakeGitHub } from '../support/fake-github.js'
import { artifactIn, BASE_SHA, checkoutIn, HEAD_FORK, stepEnv } from './fixtures.js'
import { runStep } from './step-harness.js'

/**
 * What people see on the pull request as a run goes on: the tracking comment from queued to
 * done or failed (and why), and reviews that stay one per pull request across pushes.
 * Driven like the reusable workflows run the steps, against the GitHub-shaped fake.
 */

const TOKEN = 'ghs_progresstoken'
const R = '/repos/octo-org/widgets'
const RUN_URL = 'https://github.com/octo-org/widgets/actions/runs/987654321'

let gh: FakeGitHub
let dir: string
beforeEach(async () => {
  gh = await startFakeGitHub({ owner: 'octo-org', repo: 'widgets', token: TOKEN })
  gh.compareDiffs.set(`${BASE_SHA}...${HEAD_FORK}`, DIFF)
  dir = mkdtempSync(join(tmpdir(), 'airlock-progress-'))
})
afterEach(async () => {
  await gh.close()
  rmSync(dir, { recursive: true, force: true })
})

const env = (event = 'pull_request_target.opened.fork'): Record<string, string> =>
  stepEnv(gh.url, dir, event)

const DIFF = `diff --git a/src/parse.js b/src/parse.js
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

const review = {
  summary: 'Adds a cache.',
  comments: [
    { path: 'src/parse.js', line: 2, body: 'The cache is never filled.' },
    { path: 'src/parse.js', line: 3, body: 'Consider a memo helper.' }
  ]
}

async function publish(
  doc: unknown,
  extra: Record<string, string> = {},
  files: Record<string, string> = {}
) {
  return runStep(publishReview, {
    env: env(),
    inputs: {
      'github-token': TOKEN,
      'artifact-dir': artifactIn(dir, { 'review.json': JSON.stringify(doc), ...files }),
      number: '12',
      'head-sha': HEAD_FORK,
      'base-sha': BASE_SHA,
      ...extra
    }
  })
}

describe('sticky reviews', () => {
  it('a second run points the first review to it and does not repeat comments on unchanged lines', async () => {
    const first = await publish(review)
    expect(first.errors).toEqual([])
    const firstId = gh.reviews[0]!.id
    gh.calls.length = 0

    // Same comment on line 2; a new one on line 3 replaces the old wording.
    const second = await publish({
      summary: 'Adds a cache; still unfilled.',
      comments: [
        { path: 'src/parse.js', line: 2, body: 'The cache is never  filled.' },
        { path: 'src/parse.js', line: 3, body: 'Use a WeakMap.' }
      ]
    })
    expect(second.errors).toEqual([])
    expect(second.outputs).toMatchObject({
      'inline-comments': '1',
      'repeated-comments': '1',
      'superseded-reviews': '1'
    })
    expect(gh.callLines()).toEqual([
      `GET ${R}/compare/${BASE_SHA}...${HEAD_FORK}`,
      `GET ${R}/pulls/12/reviews?per_page=100`,
      `GET ${R}/pulls/12/comments?per_page=100`,
      `POST ${R}/pulls/12/reviews`,
      `PUT ${R}/pulls/12/reviews/${firstId}`
    ])
    const posted = gh.reviews[1]!.body as { body: string; comments: { body: string }[] }
    expect(posted.comments.map((c) => c.body)).toEqual(['Use a WeakMap.'])
    expect(posted.body).toContain('1 comment of an earlier review still apply and is not repeated')
    expect(gh.reviewEdits).toEqual([
      {
        id: firstId,
        body: [
          '<!-- airlock:superseded -->',
          `*Airlock reviewed a newer commit (${HEAD_FORK.slice(0, 12)}): [see the latest review](https://github.test/pull/12#review-${gh.reviews[1]!.id}). The inline comments below still show where they were made.*`,
          '<!-- airlock:review -->'
        ].join('\n')
      }
    ])

    // A third run edits only the review that is not superseded yet.
    gh.calls.length = 0
    await publish(review)
    expect(gh.reviewEdits.map((e) => e.id)).toEqual([firstId, gh.reviews[1]!.id])
  })

  it('makes a comment again once its line changed (GitHub marks the old one outdated)', async () => {
    await publish(review)
    for (const c of gh.reviewComments) c.line = null
    const again = await publish(review)
    expect(again.outputs).toMatchObject({ 'inline-comments': '2', 'repeated-comments': '0' })
  })

  it('sticky: false posts every comment and edits nothing', async () => {
    await publish(review)
    gh.calls.length = 0
    const again = await publish(review, { sticky: 'false' })
    expect(again.outputs).toMatchObject({ 'inline-comments': '2', 'superseded-reviews': '0' })
    expect(gh.callLines().filter((l) => l.startsWith('GET') || l.startsWith('PUT'))).toEqual([
      `GET ${R}/compare/${BASE_SHA}...${HEAD_FORK}`
    ])
  })
})

describe('the tracking comment', () => {
  const meta = {
    conclusion: 'timeout',
    exitCode: 124,
    durationMs: 1_200_000,
    inputTokens: 250_000,
    outputTokens: 4_100,
    blocked: [
      { method: 'GET', host: 'registry.yarnpkg.com', reason: 'not-allowed', bytes: 0 },
      { method: 'POST', host: 'paste.example', reason: 'not-allowed', bytes: 48_213 }
    ],
    blockedCount: 2
  }

  it('review: queued by the gate, then why the agent failed — timeout, refused requests, the end of its message', async () => {
    const before = new Date()
    const g = await runStep(gate, {
      env: env(),
      inputs: { 'github-token': TOKEN, mode: 'review', 'required-permission': 'none' }
    })
    const after = new Date()
    const tracking = g.outputs['tracking-comment-id']!
    // The gate says when the agent starts (the minute the step ran, whichever side of a
    // minute boundary it fell on).
    expect(
      [before, after].map((t) =>
        [
          '<!-- airlock:tracking -->',
          `⏳ **Airlock** is reviewing this pull request: the agent is starting ${utcMinute(t)} in a sandbox with no network but its proxy. Follow [the run](${RUN_URL}); this comment says when it is done.`
        ].join('\n')
      )
    ).toContain(gh.comments.get(Number(tracking))!.body)
    const p = await runStep(publishReview, {
      env: env(),
      inputs: {
        'github-token': TOKEN,
        'artifact-dir': artifactIn(dir, {
          'meta.json': JSON.stringify(meta),
          'result.md': `${'Reading the code.\n'.repeat(200)}Could not install dependencies: yarn timed out.`
        }),
        'agent-result': 'failure',
        'tracking-comment-id': tracking,
        number: '12',
        'head-sha': HEAD_FORK,
        'base-sha': BASE_SHA
      }
    })
    expect(p.failed).toBe(false)
    expect(p.outputs.outcome).toBe('agent-failed')
    expect(gh.reviews).toEqual([])
    const body = gh.comments.get(Number(tracking))!.body
    expect(body.split('\n').slice(0, 12)).toEqual([
      '<!-- airlock:tracking -->',
      `❌ **Airlock** did not finish: the agent ran out of time after 20 min 00 s (raise \`timeout-minutes\` if it needs longer) — [the run](${RUN_URL}).`,
      '',
      '<sub>agent ran 20 min 00 s · 250k tokens in, 4.1k out</sub>',
      '',
      'The airlock refused 2 requests (in a sandbox with no other network, the likeliest reason a run fails):',
      '',
      '| host | method | reason | data sent |',
      '| --- | --- | --- | ---: |',
      '| `registry.yarnpkg.com` | `GET` | `not-allowed` |  |',
      '| `paste.example` | `POST` | `not-allowed` | 47.1 KiB ⚠️ |',
      ''
    ])
    expect(body).toContain(
      '⚠️ A request that carries data to a host not on the allowlist may be the agent sending out what it read: do not add such a host to `allowed-endpoints` unless you know why it sends data there.'
    )
    expect(body).toContain("**The end of the agent's last message:**")
    expect(body.trimEnd().endsWith('> Could not install dependencies: yarn timed out.')).toBe(true)
  })

  it('says the exit code when the agent failed, and posts a comment when there is no tracking comment', async () => {
    const p = await runStep(publishReview, {
      env: env(),
      inputs: {
        'github-token': TOKEN,
        'artifact-dir': artifactIn(dir, {
          'meta.json': JSON.stringify({
            ...meta,
            conclusion: 'failure',
            exitCode: 3,
            blocked: [],
            blockedCount: 0
          })
        }),
        'agent-result': 'failure',
        number: '12',
        'head-sha': HEAD_FORK,
        'base-sha': BASE_SHA
      }
    })
    expect(p.failed).toBe(false)
    expect(gh.callLines()).toEqual([`POST ${R}/issues/12/comments`])
    expect([...gh.comments.values()][0]!.body).toContain(
      '❌ **Airlock** did not finish: the agent exited with code 3 — '
    )
  })

  it('says so when the review could not be posted', async () => {
    gh.comments.set(77, { id: 77, issue: 12, body: 'queued' })
    const p = await publish({ summary: 'x', comments: [] }, { 'tracking-comment-id': '77' })
    expect(p.failed).toBe(false)
    gh.compareDiffs.clear()
    gh.pulls.clear()
    const q = await publish({ summary: 'x', comments: [] }, { 'tracking-comment-id': '77' })
    expect(q.failed).toBe(true)
    expect(gh.comments.get(77)!.body).toContain(
      '❌ **Airlock** did not finish: the review could not be posted'
    )
  })
})

describe('one tracking comment per pull request for reviews', () => {
  it('a push after a review reuses Airlock’s tracking comment; a cancelled run leaves it alone', async () => {
    const gateOnce = () =>
      runStep(gate, {
        env: env(),
        inputs: { 'github-token': TOKEN, mode: 'review', 'required-permission': 'none' }
      })
    const first = await gateOnce()
    gh.comments.get(Number(first.outputs['tracking-comment-id']))!.body += '\n✅ done'
    gh.calls.length = 0
    const second = await gateOnce()
    expect(second.outputs['tracking-comment-id']).toBe(first.outputs['tracking-comment-id'])
    expect(gh.callLines()).toEqual([
      `GET ${R}/issues/12/comments?per_page=100`,
      `PATCH ${R}/issues/comments/${first.outputs['tracking-comment-id']}`
    ])
    expect(gh.comments.size).toBe(1)
    expect([...gh.comments.values()][0]!.body).toContain('is reviewing this pull request')

    gh.calls.length = 0
    const cancelled = await runStep(publishReview, {
      env: env(),
      inputs: {
        'github-token': TOKEN,
        'agent-result': 'cancelled',
        'tracking-comment-id': first.outputs['tracking-comment-id']!,
        number: '12',
        'head-sha': HEAD_FORK,
        'base-sha': BASE_SHA
      }
    })
    expect(cancelled.failed).toBe(false)
    expect(gh.calls).toEqual([])
  })
})

describe('collect', () => {
  it('records the run: conclusion, exit code, tokens, duration, refused requests (host, not URL)', async () => {
    const ws = checkoutIn(dir, { 'a.txt': 'a\n' })
    const log = join(dir, 'network.jsonl')
    const entry = (o: Record<string, unknown>): string =>
      JSON.stringify({ time: 't', id: 1, bytesIn: 0, bytesOut: 0, durationMs: 1, ...o })
    writeFileSync(
      log,
      [
        entry({ method: 'GET', url: 'https://api.anthropic.com/v1/messages', status: 200 }),
        entry({
          method: 'POST',
          url: 'https://paste.example/upload?token=SECRETDATA',
          blocked: 'not-allowed',
          requestHeaders: { 'content-length': '5120' }
        }),
        '{"torn'
      ].join('\n')
    )
    const out = join(dir, 'out')
    const c = await runStep(collect, {
      env: { ...env(), GITHUB_WORKSPACE: ws },
      inputs: {
        mode: 'review',
        'output-dir': out,
        result: '{"summary":"ok"}',
        conclusion: 'failure',
        'exit-code': '2',
        'input-tokens': '1000',
        'output-tokens': 'lots',
        'network-log': log,
        'started-at': String(Date.now() - 65_000)
      }
    })
    expect(c.errors).toEqual([])
    const { readFileSync } = await import('node:fs')
    const meta = JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8')) as Record<string, unknown>
    expect(meta).toMatchObject({
      conclusion: 'failure',
      exitCode: 2,
      inputTokens: 1000,
      blocked: [{ method: 'POST', host: 'paste.example', reason: 'not-allowed', bytes: 5120 }],
      blockedCount: 1
    })
    expect(meta.outputTokens).toBeUndefined()
    expect(meta.durationMs).toBeGreaterThanOrEqual(65_000)
    expect(JSON.stringify(meta)).not.toContain('SECRETDATA')
  })
})
