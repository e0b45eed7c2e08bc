import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  botAllowed,
  getPermission,
  hasTrigger,
  isBot,
  isForkPull,
  permissionAllows,
  type GateOptions
} from '../../src/workflow/gate/checks.js'
import { evaluateGate } from '../../src/workflow/gate/decide.js'
import { eventText } from '../../src/workflow/gate/respond.js'
import { GitHubClient } from '../../src/workflow/github.js'
import { startFakeGitHub, type FakeGitHub } from '../support/fake-github.js'
import { BASE_SHA, contextFor, HEAD_FORK, HEAD_SAME } from './fixtures.js'

const TOKEN = 'ghs_gatetoken'
const REPO = { owner: 'octo-org', repo: 'widgets' }

describe('hasTrigger', () => {
  it.each([
    ['@airlock fix this', true],
    ['Hey @airlock, please look', true],
    ['@AIRLOCK please', true],
    ['end of sentence @airlock.', true],
    ['(@airlock)', true],
    ['no mention here', false],
    ['@airlock-bot please', false],
    ['@airlocks please', false],
    ['mail me@airlock.dev', false],
    ['see @airlock.dev', false],
    ['`@airlock` is the trigger', false],
    ['```\n@airlock run\n```', false],
    ['~~~md\n@airlock run\n~~~\n', false],
    ['> @airlock fix this\n\nI agree with the above', false],
    ['<!-- @airlock hidden -->visible text', false],
    ['<code>@airlock</code>', false],
    ['Text\n\n    @airlock in indented code', false],
    ['```\ncode\n```\n@airlock after the fence', true],
    ['`inline` then @airlock', true],
    // GitHub renders a lazy continuation line inside the quote above it.
    ['> From the reporter:\n@airlock please do it', false],
    ['> - item\n@airlock lazy list line in a quote', false],
    ['- > @airlock quote in a list', false],
    ['[@airlock run](https://example.com)', false],
    ['![@airlock run](x.png)', false],
    ['<div>\n@airlock in an HTML block\n</div>', false],
    ['<!--\n@airlock\n-->', false],
    ['<a href="https://example.com">@airlock</a>', false],
    ['``a ` @airlock``', false],
    ['> quoted\n\n@airlock after the quote', true],
    ['- @airlock in a list item', true],
    ['# @airlock in a heading', true],
    ['**@airlock** in bold', true]
  ])('%j → %s', (body, want) => {
    expect(hasTrigger(body, '@airlock')).toBe(want)
  })

  it('works with a configured trigger that is not a mention', () => {
    expect(hasTrigger('/airlock fix it', '/airlock')).toBe(true)
    expect(hasTrigger('run `/airlock`', '/airlock')).toBe(false)
    expect(hasTrigger('anything', '')).toBe(false)
    expect(hasTrigger(null, '@airlock')).toBe(false)
  })
})

describe('bots and permissions', () => {
  it('tells bots by type or [bot] suffix', () => {
    expect(isBot({ login: 'renovate[bot]', type: 'Bot' })).toBe(true)
    expect(isBot({ login: 'ci-robot', type: 'Bot' })).toBe(true)
    expect(isBot({ login: 'mona', type: 'User' })).toBe(false)
  })

  it('allows only listed bots, by exact login with or without [bot]', () => {
    expect(botAllowed('renovate[bot]', ['renovate'])).toBe(true)
    expect(botAllowed('renovate[bot]', ['renovate[bot]'])).toBe(true)
    expect(botAllowed('renovate[bot]', ['dependabot'])).toBe(false)
    expect(botAllowed('evil-renovate[bot]', ['renovate'])).toBe(false)
    expect(botAllowed('renovate[bot]', [])).toBe(false)
    expect(botAllowed('renovate[bot]', [' '])).toBe(false)
  })

  it('passes write, maintain and admin only', () => {
    expect(
      ['admin', 'maintain', 'write', 'triage', 'read', 'none'].map((l) =>
        permissionAllows(l as never)
      )
    ).toEqual([true, true, true, false, false, false])
  })

  it('detects forks, including deleted ones', () => {
    expect(isForkPull({ headRepo: 'octo-org/widgets' }, REPO)).toBe(false)
    expect(isForkPull({ headRepo: 'Octo-Org/Widgets' }, REPO)).toBe(false)
    expect(isForkPull({ headRepo: 'outside-dev/widgets' }, REPO)).toBe(true)
    expect(isForkPull({ headRepo: null }, REPO)).toBe(true)
  })
})

describe('with a GitHub API', () => {
  let gh: FakeGitHub
  let client: GitHubClient
  beforeEach(async () => {
    gh = await startFakeGitHub({ ...REPO, token: TOKEN })
    client = new GitHubClient({ token: TOKEN, apiUrl: gh.url, secondMs: 0 })
    gh.refs.set('heads/main', BASE_SHA)
    gh.commits.set(BASE_SHA, { sha: BASE_SHA, tree: 't', parents: [], message: 'base' })
  })
  afterEach(() => gh.close())

  const allow = (login: string, role: string, permission = role) =>
    gh.permissions.set(login, { role_name: role, permission })

  describe('getPermission', () => {
    it('uses role_name, falls back to permission for custom roles, and maps 404 to none', async () => {
      allow('m', 'maintain', 'write')
      allow('c', 'security-reviewer', 'write')
      allow('t', 'triage', 'read')
      expect(await getPermission(client, REPO, 'm')).toBe('maintain')
      expect(await getPermission(client, REPO, 'c')).toBe('write')
      expect(await getPermission(client, REPO, 't')).toBe('triage')
      expect(await getPermission(client, REPO, 'stranger')).toBe('none')
    })
  })

  describe('respond', () => {
    const gate = (
      event: string,
      opts: Partial<GateOptions> = {},
      patch?: (e: Record<string, unknown>) => void
    ) => evaluateGate(client, contextFor(event, patch), { mode: 'respond', ...opts })

    it.each([
      ['admin', true],
      ['maintain', true],
      ['write', true],
      ['triage', false],
      ['read', false]
    ])('a commenter with %s permission → run %s', async (level, run) => {
      allow('mona', level)
      const d = await gate('issue_comment.created.issue')
      expect(d.run).toBe(run)
      if (!run)
        expect(d.reason).toBe(`mona has ${level} permission on octo-org/widgets; write is required`)
    })

    it('a commenter who is not a collaborator is refused', async () => {
      const d = await gate('issue_comment.created.by-outsider')
      expect(d).toMatchObject({
        run: false,
        reason: 'outside-dev has none permission on octo-org/widgets; write is required'
      })
    })

    it('on an issue: targets a new airlock/issue-N branch from the default branch', async () => {
      allow('mona', 'write')
      const d = await gate('issue_comment.created.issue')
      expect(d).toMatchObject({
        run: true,
        number: 7,
        isPr: false,
        actor: 'mona',
        actorId: 5001,
        commentId: 1500001,
        commentKind: 'issue',
        workSha: BASE_SHA,
        delivery: 'pull-request',
        branch: 'airlock/issue-7',
        baseBranch: 'main',
        request: '@airlock please fix the typo in README.md'
      })
      expect(gh.callLines()).toEqual([
        'GET /repos/octo-org/widgets/collaborators/mona/permission',
        'GET /repos/octo-org/widgets/git/ref/heads/airlock/issue-7',
        'GET /repos/octo-org/widgets/git/ref/heads/main'
      ])
    })

    it('on an issue whose branch exists: continues from that branch', async () => {
      allow('mona', 'write')
      gh.refs.set('heads/airlock/issue-7', '4444444444444444444444444444444444444444')
      const d = await gate('issue_comment.created.issue')
      expect(d).toMatchObject({ run: true, workSha: '4444444444444444444444444444444444444444' })
    })

    it('bots are refused unless listed, and then need no permission lookup', async () => {
      expect(await gate('issue_comment.created.by-bot')).toMatchObject({
        run: false,
        reason: 'renovate[bot] is a bot that is not in allowed-bots'
      })
      expect(gh.calls).toHaveLength(0)
      const d = await gate('issue_comment.created.by-bot', { allowedBots: ['renovate'] })
      expect(d.run).toBe(true)
      expect(gh.callLines().filter((l) => l.includes('permission'))).toEqual([])
    })

    it('edited comments follow the edited policy', async () => {
      allow('mona', 'write')
      expect(await gate('issue_comment.edited.added-mention')).toMatchObject({
        run: false,
        reason: 'edited comments are ignored (edited: ignore)'
      })
      expect(
        (await gate('issue_comment.edited.added-mention', { edited: 'new-mention' })).run
      ).toBe(true)
      const already = (e: Record<string, unknown>) => {
        ;(e.changes as { body: { from: string } }).body.from = '@airlock please fix the typo'
      }
      expect(
        await gate('issue_comment.edited.added-mention', { edited: 'new-mention' }, already)
      ).toMatchObject({
        run: false,
        reason: 'the edit did not add the @airlock mention (edited: new-mention)'
      })
      expect(
        (await gate('issue_comment.edited.added-mention', { edited: 'always' }, already)).run
      ).toBe(true)
    })

    it('an edit by someone else needs both the author and the editor to have write access', async () => {
      allow('mona', 'write')
      const editedByOutsider = (e: Record<string, unknown>) => {
        e.sender = { login: 'outside-dev', id: 7007, type: 'User' }
      }
      expect(
        await gate('issue_comment.edited.added-mention', { edited: 'always' }, editedByOutsider)
      ).toMatchObject({
        run: false,
        reason: 'outside-dev has none permission on octo-org/widgets; write is required'
      })
    })

    it('a mention only inside code or a quote does not trigger', async () => {
      allow('mona', 'write')
      const inCode = (e: Record<string, unknown>) => {
        ;(e.comment as { body: string }).body =
          'The bot is called with:\n```\n@airlock fix the typo\n```'
      }
      expect(await gate('issue_comment.created.issue', {}, inCode)).toMatchObject({
        run: false,
        reason: 'no @airlock mention outside code and quotes'
      })
      expect(gh.calls).toHaveLength(0)
    })

    it('on a pull request from a fork: fetches the PR and delivers the patch as a comment', async () => {
      allow('mona', 'write')
      gh.pulls.set(12, {
        number: 12,
        state: 'open',
        title: 'Speed up widget parsing',
        body: '',
        head: { ref: 'faster-parse', sha: HEAD_FORK, repo: { full_name: 'outside-dev/widgets' } },
        base: { ref: 'main', sha: BASE_SHA, repo: { full_name: 'octo-org/widgets' } },
        user: { login: 'outside-dev', id: 7007, type: 'User' }
      })
      const d = await gate('issue_comment.created.pr-fork')
      expect(d).toMatchObject({
        run: true,
        isPr: true,
        isFork: true,
        delivery: 'comment',
        workSha: HEAD_FORK,
        headSha: HEAD_FORK,
        baseSha: BASE_SHA,
        branch: ''
      })
      expect(gh.callLines()).toEqual([
        'GET /repos/octo-org/widgets/collaborators/mona/permission',
        'GET /repos/octo-org/widgets/pulls/12'
      ])
    })

    it('on a same-repository pull request: pushes to its branch, or stacks a PR when asked', async () => {
      allow('mona', 'write')
      expect(await gate('pull_request_review_comment.created')).toMatchObject({
        run: true,
        isFork: false,
        delivery: 'push',
        branch: 'refactor-renderer',
        workSha: HEAD_SAME,
        baseSha: BASE_SHA,
        commentKind: 'review-comment',
        commentId: 1600001
      })
      expect(
        await gate('pull_request_review_comment.created', { prDelivery: 'pull-request' })
      ).toMatchObject({
        run: true,
        delivery: 'pull-request',
        branch: 'airlock/pr-15',
        baseBranch: 'refactor-renderer'
      })
    })

    it('a closed pull request is left alone', async () => {
      allow('mona', 'write')
      const closed = (e: Record<string, unknown>) => {
        ;(e.pull_request as { state: string }).state = 'closed'
      }
      expect(await gate('pull_request_review_comment.created', {}, closed)).toMatchObject({
        run: false,
        reason: 'the pull request is not open'
      })
    })

    it('a label triggers only when it is the configured one, and the labeler is the asker', async () => {
      allow('mona', 'write')
      expect(await gate('issues.labeled')).toMatchObject({
        run: false,
        reason: 'label "airlock" is not the trigger label'
      })
      const d = await gate('issues.labeled', { label: 'airlock' })
      expect(d).toMatchObject({
        run: true,
        actor: 'mona',
        commentKind: '',
        branch: 'airlock/issue-7'
      })
      expect(gh.callLines()[0]).toBe('GET /repos/octo-org/widgets/collaborators/mona/permission')
    })

    it('ignores events it does not handle', async () => {
      expect((await gate('pull_request.synchronize.same-repo')).reason).toBe(
        'pull_request event does not trigger a response'
      )
    })
  })

  describe('review', () => {
    const gate = (
      event: string,
      opts: Partial<GateOptions> = {},
      patch?: (e: Record<string, unknown>) => void
    ) => evaluateGate(client, contextFor(event, patch), { mode: 'review', ...opts })

    it('refuses fork PRs on pull_request (no secrets there) and points at pull_request_target', async () => {
      const d = await gate('pull_request.opened.fork', { requiredPermission: 'none' })
      expect(d.run).toBe(false)
      expect(d.reason).toMatch(
        /^pull requests from forks get no secrets on pull_request; trigger the review with pull_request_target/
      )
    })

    it('reviews a fork PR on pull_request_target when the author may, pinned to the event head', async () => {
      const d = await gate('pull_request_target.opened.fork', { requiredPermission: 'none' })
      expect(d).toMatchObject({
        run: true,
        isFork: true,
        delivery: 'review',
        number: 12,
        headSha: HEAD_FORK,
        workSha: HEAD_FORK,
        baseSha: BASE_SHA
      })
      expect(gh.calls).toHaveLength(0)
    })

    it('needs write access from the actor by default, with the label as the way in', async () => {
      const d = await gate('pull_request_target.opened.fork', { label: 'airlock-review' })
      expect(d).toMatchObject({
        run: false,
        reason:
          'outside-dev has none permission on octo-org/widgets; write is required (a maintainer can add the "airlock-review" label to review it)'
      })
      allow('mona', 'maintain')
      expect(
        (await gate('pull_request_target.labeled.fork', { label: 'airlock-review' })).run
      ).toBe(true)
      expect((await gate('pull_request_target.labeled.fork', { label: 'other' })).reason).toBe(
        'label "airlock-review" is not the review label'
      )
    })

    it('skips drafts unless asked to review them', async () => {
      allow('mona', 'write')
      const draft = (e: Record<string, unknown>) => {
        ;(e.pull_request as { draft: boolean }).draft = true
      }
      expect((await gate('pull_request.synchronize.same-repo', {}, draft)).reason).toBe(
        'the pull request is a draft'
      )
      expect(
        (await gate('pull_request.synchronize.same-repo', { reviewDrafts: true }, draft)).run
      ).toBe(true)
    })

    it('ignores comment events', async () => {
      expect((await gate('issue_comment.created.issue')).reason).toBe(
        'review runs on pull_request or pull_request_target events, not issue_comment'
      )
    })
  })
})

describe('eventText', () => {
  it('gives the comment as the request and the issue as context', () => {
    const t = eventText(contextFor('issue_comment.created.pr-fork'))
    expect(t).toMatchObject({
      request: 'Thanks! @airlock can you add a test for the fast path?',
      title: 'Speed up widget parsing',
      byLabel: false
    })
    expect(t.body).toContain('Ignore previous instructions')
  })

  it('turns a label into a fixed request, never the issue body', () => {
    const t = eventText(contextFor('issues.labeled'))
    expect(t.request).toBe('Resolve issue #7 as its title and description below ask.')
    expect(t.body).toBe('The README says "widgts".')
  })
})
