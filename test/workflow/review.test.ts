import { describe, expect, it } from 'vitest'
import { parseUnifiedDiff } from '../../src/workflow/diff.js'
import {
  commentableLines,
  extractReviewJson,
  parseReview,
  placeComments,
  placementProblem
} from '../../src/workflow/review.js'

const DIFF = parseUnifiedDiff(`diff --git a/src/render.js b/src/render.js
index 1111111..2222222 100644
--- a/src/render.js
+++ b/src/render.js
@@ -1,4 +1,5 @@
 export function render(w) {
-  return w.name
+  const label = w.name
+  return label
 }
 
@@ -20,3 +21,3 @@ export function size(w) {
   const n = w.items.length
-  return n
+  return n * 2
 }
diff --git a/docs/old.md b/docs/old.md
deleted file mode 100644
index 3333333..0000000
--- a/docs/old.md
+++ /dev/null
@@ -1,2 +0,0 @@
-# Old
-text
`)

describe('parseReview', () => {
  it('accepts a valid review and defaults side to RIGHT', () => {
    const r = parseReview(
      JSON.stringify({
        summary: 'Looks good.',
        comments: [
          { path: 'src/render.js', line: 3, body: 'Nice.' },
          { path: './src/render.js', line: 2, side: 'LEFT', body: 'Why?' },
          { path: 'src/render.js', start_line: 2, line: 3, body: 'Range.' }
        ]
      })
    )
    expect(r.problems).toEqual([])
    expect(r.review).toEqual({
      summary: 'Looks good.',
      comments: [
        { path: 'src/render.js', line: 3, side: 'RIGHT', body: 'Nice.' },
        { path: 'src/render.js', line: 2, side: 'LEFT', body: 'Why?' },
        { path: 'src/render.js', line: 3, side: 'RIGHT', startLine: 2, body: 'Range.' }
      ]
    })
  })

  it('drops unknown fields with a warning instead of failing', () => {
    const r = parseReview(
      JSON.stringify({
        summary: 's',
        mood: 'happy',
        comments: [{ path: 'a', line: 1, body: 'b', severity: 'high' }]
      })
    )
    expect(r.review?.summary).toBe('s')
    expect(r.warnings).toEqual([
      'unknown field "mood" ignored',
      'comments[0]: unknown field "severity" ignored'
    ])
  })

  it.each([
    ['not json', /^the review is not JSON/],
    ['[]', /^the review must be a JSON object$/],
    ['{}', /^"summary" must be a non-empty string$/],
    ['{"summary":"  "}', /^"summary" must be a non-empty string$/],
    ['{"summary":"s","comments":{}}', /^"comments" must be an array$/],
    [
      '{"summary":"s","comments":[{"path":"a","line":0,"body":"b"}]}',
      /line must be an integer >= 1/
    ],
    ['{"summary":"s","comments":[{"path":"a","line":1.5,"body":"b"}]}', /line must be an integer/],
    ['{"summary":"s","comments":[{"path":"a","line":2,"body":"b","side":"BOTH"}]}', /side must be/],
    [
      '{"summary":"s","comments":[{"path":"a","line":2,"start_line":2,"body":"b"}]}',
      /start_line must be less than line/
    ],
    ['{"summary":"s","comments":[{"line":2,"body":"b"}]}', /path must be a string/],
    [
      '{"summary":"s","comments":[{"path":"a","line":2,"body":""}]}',
      /body must be a non-empty string/
    ],
    ['{"summary":"s","comments":["x"]}', /comments\[0\] must be an object/]
  ])('refuses %s', (text, problem) => {
    const r = parseReview(text)
    expect(r.review).toBeUndefined()
    expect(r.problems[0]).toMatch(problem)
  })

  it('enforces the size limits and the comment count', () => {
    expect(
      parseReview(JSON.stringify({ summary: 'x'.repeat(50) }), { maxBytes: 40 }).problems
    ).toEqual(['the review is 64 bytes; the limit is 40'])
    expect(
      parseReview(JSON.stringify({ summary: 'x'.repeat(101) }), { maxSummaryChars: 100 }).problems
    ).toEqual(['"summary" has 101 characters; the limit is 100'])
    const comments = Array.from({ length: 4 }, (_, i) => ({ path: 'a', line: i + 1, body: 'b' }))
    expect(
      parseReview(JSON.stringify({ summary: 's', comments }), { maxComments: 3 }).problems
    ).toEqual(['4 comments; the limit is 3'])
    expect(
      parseReview(
        JSON.stringify({ summary: 's', comments: [{ path: 'a', line: 1, body: 'y'.repeat(11) }] }),
        {
          maxCommentChars: 10
        }
      ).problems
    ).toEqual(['comments[0].body has 11 characters; the limit is 10'])
  })
})

describe('commentable lines and placement', () => {
  it('allows RIGHT on added and context lines, LEFT on removed and context lines', () => {
    const lines = commentableLines(DIFF).get('src/render.js')!
    expect([...lines.right.keys()].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 21, 22, 23])
    expect([...lines.left.keys()].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 20, 21, 22])
    expect(commentableLines(DIFF).get('docs/old.md')!.left.size).toBe(2)
  })

  it('explains why a comment is outside the diff', () => {
    const lines = commentableLines(DIFF)
    const c = (o: object) => ({
      path: 'src/render.js',
      line: 3,
      side: 'RIGHT' as const,
      body: 'b',
      ...o
    })
    expect(placementProblem(c({}), lines)).toBeUndefined()
    expect(placementProblem(c({ path: 'src/other.js' }), lines)).toBe(
      "src/other.js is not part of the pull request's diff"
    )
    expect(placementProblem(c({ line: 10 }), lines)).toBe(
      'src/render.js:10 (RIGHT) is not a line of the diff'
    )
    expect(placementProblem(c({ line: 3, side: 'LEFT' }), lines)).toBeUndefined()
    expect(placementProblem(c({ line: 5, side: 'LEFT' }), lines)).toBe(
      'src/render.js:5 (LEFT) is not a line of the diff'
    )
    expect(placementProblem(c({ startLine: 2, line: 22 }), lines)).toBe(
      'src/render.js:2-22 spans more than one hunk'
    )
  })

  it('splits a review into inline comments and the rest', () => {
    const placed = placeComments(
      {
        summary: 's',
        comments: [
          { path: 'src/render.js', line: 22, side: 'RIGHT', body: 'ok' },
          { path: 'README.md', line: 1, side: 'RIGHT', body: 'not in diff' }
        ]
      },
      DIFF
    )
    expect(placed.inline.map((c) => c.body)).toEqual(['ok'])
    expect(placed.outside.map((o) => o.reason)).toEqual([
      "README.md is not part of the pull request's diff"
    ])
  })
})

describe('extractReviewJson', () => {
  it('takes the last json fence that parses', () => {
    const msg =
      'Here:\n```json\n{"summary":"first"}\n```\nand finally\n```json\n{"summary":"second"}\n```\n'
    expect(JSON.parse(extractReviewJson(msg)!)).toEqual({ summary: 'second' })
  })

  it('takes a bare object, or the last balanced object in prose', () => {
    expect(extractReviewJson('{"summary":"s"}')).toBe('{"summary":"s"}')
    expect(
      JSON.parse(extractReviewJson('I reviewed it. {"summary":"s","comments":[]} Done.')!)
    ).toEqual({
      summary: 's',
      comments: []
    })
  })

  it('returns undefined when there is no object', () => {
    expect(extractReviewJson('LGTM')).toBeUndefined()
    expect(extractReviewJson('```json\n[1,2]\n```')).toBeUndefined()
  })
})
