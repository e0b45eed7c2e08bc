import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import type { TestPki } from './test-ca.js'
import { listenHttps, readBody } from './https-fake.js'
import { verifyJwt, type FakeRequest, type ScriptedFailure } from './fake-sts.js'

/** A GitHub App's key pair, the private half PKCS#1 PEM as GitHub's download is. */
export function generateAppKey(): { privateKeyPem: string; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    publicKey
  }
}

/** An installation token the fake minted. */
export interface MintedToken {
  token: string
  installationId: number
  repositories: string[]
  permissions: Record<string, string>
  expiresAt: Date
  revoked: boolean
}

export interface FakeGitHubApp {
  port: number
  requests: FakeRequest[]
  /** Claims of every App JWT that verified. */
  jwts: Array<Record<string, unknown>>
  tokens: MintedToken[]
  /** Failures answered by the next token (POST access_tokens) calls, in order. */
  tokenFailures: ScriptedFailure[]
  close(): Promise<void>
}

const LEVELS: Record<string, number> = { read: 1, write: 2, admin: 3 }

/**
 * A fake of the GitHub App endpoints of the REST API (optionally under `/api/v3`, as GitHub
 * Enterprise Server serves them):
 *
 * - `GET /repos/{owner}/{repo}/installation` and `POST /app/installations/{id}/access_tokens`
 *   authenticate with the App JWT: RS256 verified with the App's public key, `iss` the App
 *   id, `iat` not in the future (60 s leeway), `exp` in the future and at most 10 minutes
 *   away. Token requests are checked against the installation's repositories and
 *   permissions (422 beyond them).
 * - `DELETE /installation/token` revokes the bearer token (204; 401 when unknown/revoked).
 * - `GET /installation/repositories` with a token answers 200 while it is live (401 after).
 */
export async function startFakeGitHubApp(opts: {
  pki: TestPki
  appId: number
  publicKey: KeyObject
  /** `owner/repo` → installation id. */
  installations: Record<string, number>
  /** What the installation was granted. */
  permissions: Record<string, string>
  /** Path prefix (`/api/v3` for GHES). */
  prefix?: string
  tokenLifetimeSeconds?: number
}): Promise<FakeGitHubApp> {
  const prefix = opts.prefix ?? ''
  const fake: Omit<FakeGitHubApp, 'port' | 'close'> = {
    requests: [],
    jwts: [],
    tokens: [],
    tokenFailures: []
  }
  const server = await listenHttps(opts.pki, (req, res) => {
    void readBody(req).then((body) => {
      const rec: FakeRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        host: req.headers.host ?? '',
        headers: req.headers,
        body,
        status: 0
      }
      fake.requests.push(rec)
      const answer = (
        status: number,
        json?: unknown,
        headers: Record<string, string> = {}
      ): void => {
        rec.status = status
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers })
        res.end(
          json === undefined ? undefined : typeof json === 'string' ? json : JSON.stringify(json)
        )
      }
      const fail = (status: number, message: string): void =>
        answer(status, {
          message,
          documentation_url: 'https://docs.github.com/rest',
          status: String(status)
        })
      let path = (req.url ?? '').split('?')[0] ?? ''
      if (!path.startsWith(prefix)) return fail(404, 'Not Found')
      path = path.slice(prefix.length)
      const bearer = /^(?:Bearer|token) (.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? ''

      const appAuth = (): boolean => {
        let claims: Record<string, unknown>
        try {
          claims = verifyJwt(bearer, opts.publicKey)
        } catch {
          fail(401, 'A JSON web token could not be decoded')
          return false
        }
        const now = Math.floor(Date.now() / 1000)
        if (claims.iss !== opts.appId) {
          fail(401, `'Issuer' claim ('iss') must be an Integer`)
          return false
        }
        if (typeof claims.iat !== 'number' || claims.iat > now + 60) {
          fail(401, "'Issued at' claim ('iat') must be an Integer representing a time in the past.")
          return false
        }
        if (typeof claims.exp !== 'number' || claims.exp <= now) {
          fail(
            401,
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires."
          )
          return false
        }
        if (claims.exp > now + 600) {
          fail(401, "'Expiration time' claim ('exp') is too far in the future")
          return false
        }
        fake.jwts.push(claims)
        return true
      }

      let m = /^\/repos\/([^/]+)\/([^/]+)\/installation$/.exec(path)
      if (req.method === 'GET' && m) {
        if (!appAuth()) return
        const id = opts.installations[`${m[1]}/${m[2]}`]
        if (id === undefined) return fail(404, 'Not Found')
        return answer(200, {
          id,
          account: { login: m[1], type: 'Organization' },
          app_id: opts.appId,
          repository_selection: 'selected',
          permissions: opts.permissions
        })
      }
      m = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(path)
      if (req.method === 'POST' && m) {
        if (!appAuth()) return
        const id = Number(m[1])
        const repos = Object.entries(opts.installations)
          .filter(([, i]) => i === id)
          .map(([r]) => r.split('/')[1]!)
        if (repos.length === 0) return fail(404, 'Not Found')
        const failure = fake.tokenFailures.shift()
        if (failure) return answer(failure.status, failure.body ?? '{}', failure.headers)
        const json = JSON.parse(body || '{}') as {
          repositories?: string[]
          permissions?: Record<string, string>
        }
        const wanted = json.repositories ?? repos
        if (wanted.some((r) => !repos.includes(r)))
          return fail(
            422,
            'There is at least one repository that does not exist or is not accessible to the parent installation.'
          )
        const permissions = json.permissions ?? opts.permissions
        for (const [k, v] of Object.entries(permissions)) {
          if ((LEVELS[opts.permissions[k] ?? ''] ?? 0) < (LEVELS[v] ?? 9))
            return fail(422, 'The permissions requested are not granted to this installation.')
        }
        const token: MintedToken = {
          token: `ghs_${randomBytes(18).toString('base64url').replace(/[-_]/g, 'x')}`,
          installationId: id,
          repositories: wanted,
          permissions,
          expiresAt: new Date(Date.now() + (opts.tokenLifetimeSeconds ?? 3600) * 1000),
          revoked: false
        }
        fake.tokens.push(token)
        return answer(201, {
          token: token.token,
          expires_at: token.expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
          permissions,
          repository_selection: 'selected',
          repositories: wanted.map((name) => ({
            name,
            full_name: `${Object.keys(opts.installations).find((r) => r.endsWith(`/${name}`))}`
          }))
        })
      }
      const live = fake.tokens.find(
        (t) => t.token === bearer && !t.revoked && t.expiresAt.getTime() > Date.now()
      )
      if (req.method === 'DELETE' && path === '/installation/token') {
        if (!live) return fail(401, 'Bad credentials')
        live.revoked = true
        return answer(204)
      }
      if (req.method === 'GET' && path === '/installation/repositories') {
        if (!live) return fail(401, 'Bad credentials')
        return answer(200, { total_count: live.repositories.length, repositories: [] })
      }
      fail(404, 'Not Found')
    })
  })
  return { ...fake, port: server.port, close: server.close }
}
