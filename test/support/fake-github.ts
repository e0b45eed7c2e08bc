import { createHash } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'

/** One request the fake received. */
export interface GitHubCall {
  method: string
  /** Path without the query string, percent-decoded per segment. */
  path: string
  query: Record<string, string>
  accept: string
  body: unknown
  status: number
}

interface TreeEntry {
  mode: string
  sha: string
}

/** A commit of the fake's object store. */
export interface FakeCommit {
  sha: string
  tree: string
  parents: string[]
  message: string
}

/** A pull request as the fake serves it (the API's shape, trimmed). */
export interface FakePull {
  number: number
  state: 'open' | 'closed'
  draft?: boolean
  title: string
  body: string
  head: { ref: string; sha: string; repo: { full_name: string } | null }
  base: { ref: string; sha: string; repo: { full_name: string } }
  user: { login: string; id: number; type: string }
  /** The `.diff` media type answer for this pull request. */
  diff?: string
}

/**
 * A rate limit the fake answers with, as GitHub words it: a secondary limit is a 403 or 429
 * whose message says "secondary rate limit" (with `retry-after` when GitHub gives one); a
 * primary one says `x-ratelimit-remaining: 0` and when the window resets.
 */
export interface FakeRateLimit {
  method: string
  /** Matched against the path below the repository (`/pulls/7/reviews`). */
  path: RegExp
  status: 403 | 429
  kind: 'secondary' | 'primary'
  /** `retry-after` seconds (secondary); seconds until `x-ratelimit-reset` (primary). */
  retryAfter?: number
  /** How many matching calls are answered so; later ones go through. */
  times: number
}

/** Options of {@link startFakeGitHub}. */
export interface FakeGitHubOptions {
  owner: string
  repo: string
  /** The only token accepted (`Authorization: Bearer`). */
  token: string
}

const sha1 = (s: string | Buffer): string => createHash('sha1').update(s).digest('hex')

/** A request field as text (JSON for anything that is not a string). */
const text = (v: unknown): string =>
  typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v)

/** Git's blob id, so patches made by real git verify against the fake's contents. */
export function blobSha(content: Buffer): string {
  return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex')
}

/**
 * A local, API-shaped GitHub: the REST endpoints Airlock's workflow steps call, over an
 * in-memory repository (blobs with real git ids; trees and commits with deterministic ids).
 * Every request is recorded so tests can assert the exact calls made.
 */
export class FakeGitHub {
  readonly calls: GitHubCall[] = []
  readonly permissions = new Map<string, { permission: string; role_name: string }>()
  readonly blobs = new Map<string, Buffer>()
  readonly trees = new Map<string, Map<string, TreeEntry>>()
  readonly commits = new Map<string, FakeCommit>()
  readonly refs = new Map<string, string>()
  readonly pulls = new Map<number, FakePull>()
  /** `base...head` → diff text, for the compare endpoint. */
  readonly compareDiffs = new Map<string, string>()
  readonly comments = new Map<
    number,
    { id: number; issue: number; body: string; user?: { login: string; type: string } }
  >()
  /** Check runs per commit, as `GET …/commits/{sha}/check-runs` lists them. */
  readonly checkRuns = new Map<
    string,
    { id: number; name: string; status: string; conclusion: string | null; app: { slug: string } }[]
  >()
  /** Labels per issue or pull request. */
  readonly labels = new Map<number, string[]>()
  /** Issues (opened through the API, or set by a test; `state` defaults to open). */
  readonly issues = new Map<number, { title: string; body: string; state?: 'open' | 'closed' }>()
  /** Logs of Actions jobs by id, for `GET …/actions/jobs/{id}/logs`. */
  readonly jobLogs = new Map<number, string>()
  /** Reviews: `body` is what was posted (the API's request body), `user` who posted it. */
  readonly reviews: {
    id: number
    pull: number
    body: Record<string, unknown>
    user?: { login: string; type: string }
  }[] = []
  /** Inline review comments, as `GET …/pulls/{n}/comments` lists them (`line` null: outdated). */
  readonly reviewComments: {
    id: number
    pull: number
    pull_request_review_id: number
    path: string
    line: number | null
    start_line: number | null
    side: string
    body: string
    user: { login: string; type: string }
  }[] = []
  /** Who the token is: the author of reviews and comments it posts. */
  actingAs = { login: 'github-actions[bot]', type: 'Bot' }
  /** Every PUT of a review's body, in order. */
  readonly reviewEdits: { id: number; body: string }[] = []
  readonly reactions: { path: string; content: string }[] = []
  /** Makes `POST …/reviews` with inline comments answer 422 (line not part of the diff). */
  rejectInlineComments = false
  /** `GET /repos/{o}/{r}` answers this as `default_branch`. */
  defaultBranch = 'main'
  /** Branches with branch protection: `GET …/branches/{b}` says so, ref updates are refused. */
  readonly protectedBranches = new Set<string>()
  /** Ruleset rules per branch, as `GET …/rules/branches/{b}` answers them. */
  readonly branchRules = new Map<string, { type: string }[]>()
  /** Endpoints (`repo`, `branches`, `rules`, `pull`) answered with 403, as a token without access gets. */
  readonly failLookups = new Set<string>()
  /** Every attempt to create or move a ref, with whether the fake applied it. */
  readonly refUpdates: { ref: string; sha: string; applied: boolean }[] = []
  /** Rate limits to answer with before serving (see {@link FakeRateLimit}). */
  readonly rateLimits: FakeRateLimit[] = []
  /** Plain failures to answer with before serving (a gateway's 502, say), same matching. */
  readonly faults: { method: string; path: RegExp; status: number; times: number }[] = []
  /** Files of a pull request, served page by page (`per_page`, `page`, `Link`). */
  readonly pullFiles = new Map<number, { filename: string; status: string; patch?: string }[]>()
  /** Makes recursive tree listings answer `truncated: true` with only the top level. */
  truncateTrees = false
  /** Synthetic ids of directories listed by `GET …/git/trees`, so they can be listed in turn. */
  private readonly dirTrees = new Map<string, { tree: string; prefix: string }>()
  url = ''
  private server?: http.Server
  private nextId = 1000
  private nextPull = 100

  constructor(readonly opts: FakeGitHubOptions) {}

  /** Stores a commit holding exactly `files` (path → content); returns its id. */
  commit(
    files: Record<string, string | Buffer>,
    parents: string[] = [],
    message = 'commit'
  ): string {
    const tree = new Map<string, TreeEntry>()
    for (const [path, content] of Object.entries(files)) {
      const buf = Buffer.isBuffer(content) ? content : Buffer.from(content)
      const sha = blobSha(buf)
      this.blobs.set(sha, buf)
      tree.set(path, { mode: path.endsWith('.sh') ? '100755' : '100644', sha })
    }
    return this.storeCommit(this.storeTree(tree), parents, message)
  }

  /** Stores a commit under a given id (to match ids recorded in event payloads). */
  commitAs(
    sha: string,
    files: Record<string, string | Buffer>,
    parents: string[] = [],
    message = 'commit'
  ): string {
    const made = this.commits.get(this.commit(files, parents, message))!
    this.commits.set(sha, { ...made, sha })
    return sha
  }

  /** The files of a commit, as text. */
  files(commitSha: string): Record<string, string> {
    const c = this.commits.get(commitSha)
    if (!c) throw new Error(`no commit ${commitSha}`)
    const out: Record<string, string> = {}
    for (const [p, e] of this.trees.get(c.tree)!) out[p] = this.blobs.get(e.sha)!.toString('utf8')
    return out
  }

  /** Modes of a commit's files. */
  modes(commitSha: string): Record<string, string> {
    const c = this.commits.get(commitSha)!
    return Object.fromEntries([...this.trees.get(c.tree)!].map(([p, e]) => [p, e.mode]))
  }

  private storeTree(tree: Map<string, TreeEntry>): string {
    const sorted = [...tree].sort(([a], [b]) => (a < b ? -1 : 1))
    const sha = sha1(`tree ${JSON.stringify(sorted)}`)
    this.trees.set(sha, new Map(sorted))
    return sha
  }

  private storeCommit(tree: string, parents: string[], message: string): string {
    const sha = sha1(`commit ${tree} ${parents.join(',')} ${message}`)
    this.commits.set(sha, { sha, tree, parents, message })
    return sha
  }

  private isAncestor(ancestor: string, of: string): boolean {
    const todo = [of]
    const seen = new Set<string>()
    while (todo.length) {
      const s = todo.pop()!
      if (s === ancestor) return true
      if (seen.has(s)) continue
      seen.add(s)
      todo.push(...(this.commits.get(s)?.parents ?? []))
    }
    return false
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => this.handle(req, Buffer.concat(chunks), res))
    })
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
    return this
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r())
  }

  /** Answers a list endpoint one page at a time, as GitHub does. */
  private sendPage<T>(
    call: GitHubCall,
    items: T[],
    send: (status: number, body: unknown, type?: string, headers?: Record<string, string>) => void
  ): void {
    const pg = pageOf(call, this.url, items)
    send(200, pg.items, 'application/json', pg.headers)
  }

  /** The recorded calls as `METHOD path` lines (queries included, sorted), for exact comparisons. */
  callLines(): string[] {
    return this.calls.map((c) => {
      const q = Object.entries(c.query)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => `${k}=${v}`)
        .join('&')
      return `${c.method} ${c.path}${q ? `?${q}` : ''}`
    })
  }

  private handle(req: http.IncomingMessage, raw: Buffer, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x')
    const call: GitHubCall = {
      method: req.method ?? 'GET',
      path: url.pathname
        .split('/')
        .map((s) => decodeURIComponent(s))
        .join('/'),
      query: Object.fromEntries(url.searchParams),
      accept: String(req.headers.accept ?? ''),
      body: raw.length ? (JSON.parse(raw.toString('utf8')) as unknown) : undefined,
      status: 0
    }
    this.calls.push(call)
    const send = (
      status: number,
      body: unknown,
      type = 'application/json',
      headers: Record<string, string> = {}
    ): void => {
      call.status = status
      res.writeHead(status, { 'content-type': type, ...headers })
      res.end(Buffer.isBuffer(body) ? body : typeof body === 'string' ? body : JSON.stringify(body))
    }
    // GitHub takes an installation token with either scheme.
    const auth = req.headers.authorization
    if (auth !== `Bearer ${this.opts.token}` && auth !== `token ${this.opts.token}`)
      return send(401, { message: 'Bad credentials' })
    const sub = call.path.replace(/^\/repos\/[^/]+\/[^/]+/, '')
    const limit = this.rateLimits.find(
      (l) => l.times > 0 && l.method === call.method && l.path.test(sub)
    )
    const fault = this.faults.find(
      (f) => f.times > 0 && f.method === call.method && f.path.test(sub)
    )
    if (fault) {
      fault.times--
      return send(fault.status, { message: 'Bad Gateway' })
    }
    if (limit) {
      limit.times--
      if (limit.kind === 'secondary')
        return send(
          limit.status,
          {
            message:
              'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
            documentation_url:
              'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits'
          },
          'application/json',
          limit.retryAfter === undefined ? {} : { 'retry-after': String(limit.retryAfter) }
        )
      return send(
        limit.status,
        { message: 'API rate limit exceeded for installation.' },
        'application/json',
        {
          'x-ratelimit-limit': '5000',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + (limit.retryAfter ?? 0))
        }
      )
    }
    try {
      this.route(call, send)
    } catch (err) {
      send(500, { message: err instanceof Error ? err.message : String(err) })
    }
  }

  private route(
    call: GitHubCall,
    send: (status: number, body: unknown, type?: string, headers?: Record<string, string>) => void
  ): void {
    const prefix = `/repos/${this.opts.owner}/${this.opts.repo}`
    if (call.path !== prefix && !call.path.startsWith(`${prefix}/`))
      return send(404, { message: 'Not Found' })
    const p = call.path.slice(prefix.length)
    const body = (call.body ?? {}) as Record<string, unknown>
    const diffWanted = call.accept.includes('diff')
    const notFound = (): void => send(404, { message: 'Not Found' })
    let m: RegExpExecArray | null

    if (p === '' && call.method === 'GET') {
      if (this.failLookups.has('repo')) return send(403, { message: 'Resource not accessible' })
      return send(200, {
        full_name: `${this.opts.owner}/${this.opts.repo}`,
        default_branch: this.defaultBranch
      })
    }
    if ((m = /^\/branches\/(.+)$/.exec(p)) && call.method === 'GET') {
      if (this.failLookups.has('branches')) return send(403, { message: 'Resource not accessible' })
      const sha = this.refs.get(`heads/${m[1]}`)
      if (!sha) return send(404, { message: 'Branch not found' })
      return send(200, {
        name: m[1],
        commit: { sha },
        protected: this.protectedBranches.has(m[1]!)
      })
    }
    if ((m = /^\/rules\/branches\/(.+)$/.exec(p)) && call.method === 'GET') {
      if (this.failLookups.has('rules')) return send(403, { message: 'Resource not accessible' })
      return send(200, this.branchRules.get(m[1]!) ?? [])
    }
    if ((m = /^\/collaborators\/([^/]+)\/permission$/.exec(p)) && call.method === 'GET') {
      const perm = this.permissions.get(m[1]!.toLowerCase())
      if (!perm) return notFound()
      return send(200, { ...perm, user: { login: m[1] } })
    }
    if ((m = /^\/compare\/([0-9a-f]+)\.\.\.([0-9a-f]+)$/.exec(p)) && call.method === 'GET') {
      const diff = this.compareDiffs.get(`${m[1]}...${m[2]}`)
      if (diff === undefined) return notFound()
      return diffWanted ? send(200, diff, 'text/plain') : send(200, { status: 'ahead' })
    }
    if ((m = /^\/pulls\/(\d+)$/.exec(p)) && call.method === 'GET') {
      if (this.failLookups.has('pull')) return send(403, { message: 'Resource not accessible' })
      const pr = this.pulls.get(Number(m[1]))
      if (!pr) return notFound()
      if (diffWanted) return send(200, pr.diff ?? '', 'text/plain')
      const rest: Partial<FakePull> = { ...pr }
      delete rest.diff
      return send(200, rest)
    }
    if ((m = /^\/pulls\/(\d+)\/files$/.exec(p)) && call.method === 'GET') {
      const files = this.pullFiles.get(Number(m[1]))
      if (!files) return notFound()
      return this.sendPage(call, files, send)
    }
    if (p === '/pulls' && call.method === 'GET') {
      const head = call.query.head ?? ''
      const list = [...this.pulls.values()].filter(
        (pr) =>
          (!call.query.state || pr.state === call.query.state) &&
          (!call.query.base || pr.base.ref === call.query.base) &&
          (!head || `${pr.head.repo?.full_name.split('/')[0]}:${pr.head.ref}` === head)
      )
      return send(
        200,
        list.map((pr) => ({ number: pr.number, html_url: `https://github.test/pull/${pr.number}` }))
      )
    }
    if (p === '/pulls' && call.method === 'POST') {
      const head = String(body.head)
      const sha = this.refs.get(`heads/${head}`)
      if (!sha) return send(422, { message: 'Validation Failed', errors: [{ field: 'head' }] })
      const number = this.nextPull++
      const full = `${this.opts.owner}/${this.opts.repo}`
      this.pulls.set(number, {
        number,
        state: 'open',
        title: String(body.title),
        body: text(body.body),
        head: { ref: head, sha, repo: { full_name: full } },
        base: {
          ref: String(body.base),
          sha: this.refs.get(`heads/${String(body.base)}`) ?? '',
          repo: { full_name: full }
        },
        user: { login: 'github-actions[bot]', id: 41898282, type: 'Bot' }
      })
      return send(201, { number, html_url: `https://github.test/pull/${number}` })
    }
    if ((m = /^\/pulls\/(\d+)\/reviews$/.exec(p)) && call.method === 'POST') {
      const comments = (body.comments as unknown[] | undefined) ?? []
      if (this.rejectInlineComments && comments.length > 0)
        return send(422, {
          message: 'Unprocessable Entity',
          errors: ['Line could not be resolved']
        })
      const id = this.nextId++
      const user = { ...this.actingAs }
      this.reviews.push({ id, pull: Number(m[1]), body, user })
      for (const c of comments as Record<string, unknown>[])
        this.reviewComments.push({
          id: this.nextId++,
          pull: Number(m[1]),
          pull_request_review_id: id,
          path: String(c.path),
          line: Number(c.line),
          start_line: c.start_line === undefined ? null : Number(c.start_line),
          side: typeof c.side === 'string' ? c.side : 'RIGHT',
          body: String(c.body),
          user
        })
      return send(200, { id, user, html_url: `https://github.test/pull/${m[1]}#review-${id}` })
    }
    if ((m = /^\/pulls\/(\d+)\/reviews$/.exec(p)) && call.method === 'GET') {
      const list = this.reviews
        .filter((r) => r.pull === Number(m![1]))
        .map((r) => ({
          id: r.id,
          user: r.user ?? { login: 'github-actions[bot]', type: 'Bot' },
          body: text(r.body.body),
          state: 'COMMENTED',
          commit_id: text(r.body.commit_id),
          html_url: `https://github.test/pull/${r.pull}#review-${r.id}`
        }))
      return this.sendPage(call, list, send)
    }
    if ((m = /^\/pulls\/(\d+)\/reviews\/(\d+)$/.exec(p)) && call.method === 'PUT') {
      const r = this.reviews.find((x) => x.pull === Number(m![1]) && x.id === Number(m![2]))
      if (!r) return notFound()
      if ((r.user ?? this.actingAs).login !== this.actingAs.login)
        return send(403, { message: 'Resource not accessible by integration' })
      r.body = { ...r.body, body: body.body }
      this.reviewEdits.push({ id: r.id, body: String(body.body) })
      return send(200, { id: r.id })
    }
    if ((m = /^\/pulls\/(\d+)\/comments$/.exec(p)) && call.method === 'GET') {
      return this.sendPage(
        call,
        this.reviewComments.filter((c) => c.pull === Number(m![1])),
        send
      )
    }
    if ((m = /^\/issues\/(\d+)\/comments$/.exec(p)) && call.method === 'GET') {
      const list = [...this.comments.values()]
        .filter((c) => c.issue === Number(m![1]))
        .map((c) => ({
          id: c.id,
          body: c.body,
          user: c.user ?? this.actingAs,
          created_at: '2026-01-01T00:00:00Z'
        }))
      return this.sendPage(call, list, send)
    }
    if ((m = /^\/commits\/([0-9a-f]+)\/check-runs$/.exec(p)) && call.method === 'GET') {
      const runs = this.checkRuns.get(m[1]!) ?? []
      const pg = pageOf(call, this.url, runs)
      return send(
        200,
        { total_count: runs.length, check_runs: pg.items },
        'application/json',
        pg.headers
      )
    }
    if ((m = /^\/actions\/jobs\/(\d+)\/logs$/.exec(p)) && call.method === 'GET') {
      const log = this.jobLogs.get(Number(m[1]))
      if (log === undefined) return notFound()
      return send(200, log, 'text/plain')
    }
    if ((m = /^\/issues\/(\d+)\/labels$/.exec(p)) && call.method === 'POST') {
      const list = this.labels.get(Number(m[1])) ?? []
      for (const l of (body.labels as string[]) ?? []) if (!list.includes(l)) list.push(l)
      this.labels.set(Number(m[1]), list)
      return send(
        200,
        list.map((name) => ({ name }))
      )
    }
    if ((m = /^\/issues\/(\d+)$/.exec(p)) && call.method === 'GET') {
      const n = Number(m[1])
      const issue = this.issues.get(n)
      const pr = this.pulls.get(n)
      // GitHub answers a pull request's number here too, marked with `pull_request`.
      if (pr)
        return send(200, {
          number: n,
          title: pr.title,
          body: pr.body,
          state: pr.state,
          pull_request: { url: `https://api.github.test${prefix}/pulls/${n}` }
        })
      if (!issue) return notFound()
      return send(200, {
        number: n,
        title: issue.title,
        body: issue.body,
        state: issue.state ?? 'open'
      })
    }
    if (p === '/issues' && call.method === 'POST') {
      const number = this.nextPull++
      this.issues.set(number, { title: String(body.title), body: text(body.body) })
      return send(201, { number, html_url: `https://github.test/issues/${number}` })
    }
    if ((m = /^\/pulls\/(\d+)$/.exec(p)) && call.method === 'PATCH') {
      const pr = this.pulls.get(Number(m[1]))
      if (!pr) return notFound()
      if (typeof body.title === 'string') pr.title = body.title
      if (typeof body.body === 'string') pr.body = body.body
      return send(200, { number: pr.number })
    }
    if ((m = /^\/issues\/(\d+)\/comments$/.exec(p)) && call.method === 'POST') {
      const id = this.nextId++
      this.comments.set(id, {
        id,
        issue: Number(m[1]),
        body: String(body.body),
        user: { ...this.actingAs }
      })
      return send(201, { id, html_url: `https://github.test/issues/${m[1]}#issuecomment-${id}` })
    }
    if ((m = /^\/issues\/comments\/(\d+)$/.exec(p)) && call.method === 'PATCH') {
      const c = this.comments.get(Number(m[1]))
      if (!c) return notFound()
      c.body = String(body.body)
      return send(200, { id: c.id })
    }
    if (
      /^\/(issues\/comments\/\d+|pulls\/comments\/\d+|issues\/\d+)\/reactions$/.test(p) &&
      call.method === 'POST'
    ) {
      this.reactions.push({ path: p, content: String(body.content) })
      return send(201, { id: this.nextId++, content: body.content })
    }
    if ((m = /^\/git\/ref\/(heads\/.+)$/.exec(p)) && call.method === 'GET') {
      const sha = this.refs.get(m[1]!)
      if (!sha) return notFound()
      return send(200, { ref: `refs/${m[1]}`, object: { sha, type: 'commit' } })
    }
    if ((m = /^\/git\/refs\/(heads\/.+)$/.exec(p)) && call.method === 'PATCH') {
      const cur = this.refs.get(m[1]!)
      const sha = String(body.sha)
      const update = { ref: `refs/${m[1]}`, sha, applied: false }
      this.refUpdates.push(update)
      if (!cur) return send(422, { message: 'Reference does not exist' })
      if (!this.commits.has(sha)) return send(422, { message: 'Object does not exist' })
      if (this.protectedBranches.has(m[1]!.replace(/^heads\//, '')))
        return send(422, { message: 'Protected branch update failed' })
      if (body.force !== true && !this.isAncestor(cur, sha))
        return send(422, { message: 'Update is not a fast forward' })
      this.refs.set(m[1]!, sha)
      update.applied = true
      return send(200, { ref: `refs/${m[1]}`, object: { sha } })
    }
    if (p === '/git/refs' && call.method === 'POST') {
      const ref = String(body.ref).replace(/^refs\//, '')
      const update = { ref: String(body.ref), sha: String(body.sha), applied: false }
      this.refUpdates.push(update)
      if (!/^refs\/heads\//.test(String(body.ref)))
        return send(422, { message: 'Reference name is invalid' })
      if (this.refs.has(ref)) return send(422, { message: 'Reference already exists' })
      this.refs.set(ref, String(body.sha))
      update.applied = true
      return send(201, { ref: body.ref, object: { sha: body.sha } })
    }
    if ((m = /^\/git\/commits\/([0-9a-f]+)$/.exec(p)) && call.method === 'GET') {
      const c = this.commits.get(m[1]!)
      if (!c) return notFound()
      return send(200, {
        sha: c.sha,
        tree: { sha: c.tree },
        parents: c.parents.map((s) => ({ sha: s })),
        message: c.message
      })
    }
    if (p === '/git/commits' && call.method === 'POST') {
      const tree = String(body.tree)
      const parents = (body.parents as string[]) ?? []
      if (!this.trees.has(tree) || parents.some((s) => !this.commits.has(s)))
        return send(422, { message: 'Tree or parent not found' })
      return send(201, { sha: this.storeCommit(tree, parents, String(body.message)) })
    }
    if (p === '/git/blobs' && call.method === 'POST') {
      const buf = Buffer.from(String(body.content), body.encoding === 'base64' ? 'base64' : 'utf8')
      const sha = blobSha(buf)
      this.blobs.set(sha, buf)
      return send(201, { sha })
    }
    if ((m = /^\/git\/blobs\/([0-9a-f]+)$/.exec(p)) && call.method === 'GET') {
      const b = this.blobs.get(m[1]!)
      if (!b) return notFound()
      return send(200, {
        sha: m[1],
        size: b.length,
        content: b.toString('base64'),
        encoding: 'base64'
      })
    }
    if (p === '/git/trees' && call.method === 'POST') {
      const base = body.base_tree
        ? this.trees.get(text(body.base_tree))
        : new Map<string, TreeEntry>()
      if (!base) return send(422, { message: 'base_tree not found' })
      // GitHub's semantics over a flat path map: an entry replaces whatever is at its path,
      // a file or a whole directory (a blob named `.github` replaces the `.github` tree);
      // a null sha removes the path, a directory with everything in it; writing below a
      // path that is a file turns that file into a directory.
      const tree = new Map(base)
      const removeAt = (path: string): void => {
        for (const k of [...tree.keys()]) if (k === path || k.startsWith(`${path}/`)) tree.delete(k)
      }
      for (const e of body.tree as { path: string; mode: string; sha: string | null }[]) {
        if (e.sha !== null && !this.blobs.has(e.sha))
          return send(422, { message: `blob ${e.sha} not found` })
        removeAt(e.path)
        const segs = e.path.split('/')
        for (let i = 1; i < segs.length; i++) tree.delete(segs.slice(0, i).join('/'))
        if (e.sha !== null) tree.set(e.path, { mode: e.mode, sha: e.sha })
      }
      return send(201, { sha: this.storeTree(tree) })
    }
    if ((m = /^\/git\/trees\/([0-9a-f]+)$/.exec(p)) && call.method === 'GET') {
      const dir = this.dirTrees.get(m[1]!)
      const sha = dir?.tree ?? this.commits.get(m[1]!)?.tree ?? m[1]!
      const prefix = dir ? `${dir.prefix}/` : ''
      const tree = this.trees.get(sha)
      if (!tree) return notFound()
      const truncated = this.truncateTrees && call.query.recursive !== undefined
      const recursive = call.query.recursive !== undefined && !truncated
      const entries: { path: string; mode: string; type: string; sha: string }[] = []
      const dirs = new Set<string>()
      for (const [full, e] of tree) {
        if (!full.startsWith(prefix)) continue
        const path = full.slice(prefix.length)
        const segs = path.split('/')
        for (let i = 1; i < segs.length; i++) dirs.add(segs.slice(0, i).join('/'))
        if (recursive || segs.length === 1)
          entries.push({
            path,
            mode: e.mode,
            type: e.mode === '160000' ? 'commit' : 'blob',
            sha: e.sha
          })
      }
      for (const d of dirs)
        if (recursive || !d.includes('/')) {
          const id = sha1(`dir ${sha} ${prefix}${d}`)
          this.dirTrees.set(id, { tree: sha, prefix: `${prefix}${d}` })
          entries.push({ path: d, mode: '040000', type: 'tree', sha: id })
        }
      entries.sort((a, b) => (a.path < b.path ? -1 : 1))
      return send(200, { sha: m[1], tree: entries, truncated })
    }
    if ((m = /^\/contents\/(.+)$/.exec(p)) && call.method === 'GET') {
      const ref = call.query.ref ?? ''
      const commitSha = this.commits.has(ref) ? ref : this.refs.get(`heads/${ref}`)
      const c = commitSha ? this.commits.get(commitSha) : undefined
      const tree = c ? this.trees.get(c.tree) : undefined
      const entry = tree?.get(m[1]!)
      if (!entry && tree) {
        // A directory: GitHub answers with its listing (whatever media type was asked for).
        const dirPath = m[1]!
        const names = new Map<string, string>()
        for (const k of tree.keys())
          if (k.startsWith(`${dirPath}/`)) {
            const rest = k.slice(dirPath.length + 1).split('/')
            names.set(rest[0]!, rest.length > 1 ? 'dir' : 'file')
          }
        if (names.size > 0)
          return send(
            200,
            [...names].map(([name, type]) => ({ name, path: `${dirPath}/${name}`, type }))
          )
      }
      if (!entry) return notFound()
      const content = this.blobs.get(entry.sha)!
      if (call.accept.includes('raw')) return send(200, content, 'application/octet-stream')
      return send(200, { type: 'file', encoding: 'base64', content: content.toString('base64') })
    }
    return send(404, { message: `Not Found (fake has no ${call.method} ${p})` })
  }
}

/** A page of a list (`per_page`, default 30, at most 100; `page` from 1) with GitHub's `Link`. */
function pageOf<T>(
  call: GitHubCall,
  base: string,
  items: T[]
): { items: T[]; headers: Record<string, string> } {
  const per = Math.min(100, Number(call.query.per_page ?? 30) || 30)
  const page = Math.max(1, Number(call.query.page ?? 1) || 1)
  const last = Math.max(1, Math.ceil(items.length / per))
  const link = (n: number): string => {
    const q = new URLSearchParams({ ...call.query, per_page: String(per), page: String(n) })
    return `<${base}${call.path}?${q.toString()}>`
  }
  const rels: string[] = []
  if (page < last) rels.push(`${link(page + 1)}; rel="next"`, `${link(last)}; rel="last"`)
  if (page > 1) rels.push(`${link(1)}; rel="first"`, `${link(page - 1)}; rel="prev"`)
  return {
    items: items.slice((page - 1) * per, page * per),
    headers: rels.length ? { link: rels.join(', ') } : {}
  }
}

/** Starts a {@link FakeGitHub} on a free loopback port. */
export async function startFakeGitHub(opts: FakeGitHubOptions): Promise<FakeGitHub> {
  return new FakeGitHub(opts).start()
}
