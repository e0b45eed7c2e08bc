import { execFile, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import type { IncomingMessage, ServerResponse } from 'node:http'
import https from 'node:https'
import type net from 'node:net'
import { mkdtemp, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { createTestPki } from './test-ca.js'
import type { TestPki } from './test-ca.js'

const execFileP = promisify(execFile)

/** One request the git server received. */
export interface GitRequest {
  method: string
  url: string
  headers: Record<string, string | string[] | undefined>
  /** Whether the Authorization header carried the expected credentials. */
  authorized: boolean
  /** Status sent (401 for unauthorised; otherwise the CGI's Status, default 200). */
  status: number
  /** git-http-backend's stderr, if it printed anything. */
  stderr: string
}

/** A smart-HTTP git server; see {@link startGitServer}. */
export interface GitServer {
  /** Clone URL of the repository, `https://127.0.0.1:<port>/<repo>`. */
  url: string
  /** `https://127.0.0.1:<port>` */
  baseUrl: string
  port: number
  /** The bare repository on disk (inspect it with `git -C repoDir …`). */
  repoDir: string
  /** Path of the repository under the server root, e.g. `repo.git`. */
  repoPath: string
  /** The commit `main` pointed at when the server started. */
  initialCommit: string
  /** Value of the Authorization header the server requires. */
  authorization: string
  pki: TestPki
  requests: GitRequest[]
  close(): Promise<void>
}

/** Options for {@link startGitServer}. */
export interface GitServerOptions {
  /** Certificate to serve; a fresh one for `git.test` when absent. */
  pki?: TestPki
  /** The token expected as the Basic password. */
  token: string
  /** The Basic user name expected (GitHub's convention for tokens). */
  user?: string
  /** Repository path under the server root (default `repo.git`), e.g. `octo/hello.git`. */
  repo?: string
}

/** Environment for git commands run by the harness: no user or system config leaks in. */
function isolatedGitEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: 'Airlock Test',
    GIT_AUTHOR_EMAIL: 'test@airlock.invalid',
    GIT_COMMITTER_NAME: 'Airlock Test',
    GIT_COMMITTER_EMAIL: 'test@airlock.invalid',
    GIT_AUTHOR_DATE: '2024-01-01T00:00:00Z',
    GIT_COMMITTER_DATE: '2024-01-01T00:00:00Z'
  }
}

async function git(args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<string> {
  if (input === undefined) {
    const { stdout } = await execFileP('git', args, { env })
    return stdout.trim()
  }
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { env, stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    child.stderr.on('data', (c: Buffer) => (err += c.toString()))
    child.on('error', reject)
    child.on('close', (code) =>
      code === 0 ? resolve(out.trim()) : reject(new Error(`git ${args.join(' ')}: ${err}`))
    )
    child.stdin.end(input)
  })
}

/**
 * Starts an HTTPS server on 127.0.0.1 that serves one bare repository through the real
 * `git http-backend` (CGI, RFC 3875), with push enabled. Every request must carry
 * `Authorization: Basic base64(<user>:<token>)`; otherwise 401 with a Basic challenge, the
 * way GitHub answers, so a client that lacks injected credentials fails visibly.
 */
export async function startGitServer(opts: GitServerOptions): Promise<GitServer> {
  const pki = opts.pki ?? (await createTestPki(['git.test']))
  const user = opts.user ?? 'x-access-token'
  const repoPath = (opts.repo ?? 'repo.git').replace(/^\/+/, '')
  const authorization = `Basic ${Buffer.from(`${user}:${opts.token}`).toString('base64')}`

  const root = await mkdtemp(join(tmpdir(), 'airlock-git-server-'))
  const projectRoot = join(root, 'srv')
  const repoDir = join(projectRoot, repoPath)
  await mkdir(dirname(repoDir), { recursive: true })
  const env = isolatedGitEnv(root)

  // One commit on main, made with plumbing so no work tree or user config is needed.
  await git(['init', '--bare', '--quiet', '--initial-branch=main', repoDir], env)
  await git(['-C', repoDir, 'config', 'http.receivepack', 'true'], env)
  const blob = await git(['-C', repoDir, 'hash-object', '-w', '--stdin'], env, '# test repo\n')
  const tree = await git(['-C', repoDir, 'mktree'], env, `100644 blob ${blob}\tREADME.md\n`)
  const initialCommit = await git(['-C', repoDir, 'commit-tree', tree, '-m', 'initial commit'], env)
  await git(['-C', repoDir, 'update-ref', 'refs/heads/main', initialCommit], env)
  await git(['-C', repoDir, 'symbolic-ref', 'HEAD', 'refs/heads/main'], env)

  const execPath = await git(['--exec-path'], env)
  const backend = join(execPath, 'git-http-backend')

  const requests: GitRequest[] = []
  const sockets = new Set<net.Socket>()
  const children = new Set<ChildProcess>()

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const rec: GitRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      authorized: req.headers.authorization === authorization,
      status: 0,
      stderr: ''
    }
    requests.push(rec)
    if (!rec.authorized) {
      rec.status = 401
      req.resume()
      res.writeHead(401, {
        'www-authenticate': 'Basic realm="git"',
        'content-type': 'text/plain'
      })
      res.end('authentication required\n')
      return
    }

    const u = new URL(req.url ?? '/', 'https://git.invalid')
    const cgiEnv: NodeJS.ProcessEnv = {
      ...env,
      GIT_PROJECT_ROOT: projectRoot,
      GIT_HTTP_EXPORT_ALL: '1',
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_PROTOCOL: 'HTTP/1.1',
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: decodeURIComponent(u.pathname),
      QUERY_STRING: u.search.replace(/^\?/, ''),
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      REMOTE_USER: user,
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1'
    }
    // Protocol v2 is negotiated through this header (gitprotocol-http).
    const proto = req.headers['git-protocol']
    if (typeof proto === 'string') cgiEnv.GIT_PROTOCOL = proto
    // Large pushes arrive gzip-encoded; http-backend inflates when told so.
    const enc = req.headers['content-encoding']
    if (typeof enc === 'string') cgiEnv.HTTP_CONTENT_ENCODING = enc
    // Without CONTENT_LENGTH (chunked upload) http-backend reads stdin to EOF.
    const len = req.headers['content-length']
    if (typeof len === 'string') cgiEnv.CONTENT_LENGTH = len

    const child = spawn(backend, [], { env: cgiEnv, stdio: ['pipe', 'pipe', 'pipe'] })
    children.add(child)
    child.on('close', () => children.delete(child))
    child.on('error', () => {
      if (!res.headersSent) res.writeHead(500)
      res.end()
    })
    child.stderr.on('data', (c: Buffer) => (rec.stderr += c.toString()))
    child.stdin.on('error', () => undefined)
    req.pipe(child.stdin)

    // CGI response: header lines up to a blank line, then the body (RFC 3875 §6).
    let head = Buffer.alloc(0)
    let headersDone = false
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        if (!res.write(chunk)) {
          child.stdout.pause()
          res.once('drain', () => child.stdout.resume())
        }
        return
      }
      head = Buffer.concat([head, chunk])
      const crlf = head.indexOf('\r\n\r\n')
      const lf = head.indexOf('\n\n')
      let end = -1
      let sepLen = 0
      if (crlf >= 0 && (lf < 0 || crlf < lf)) {
        end = crlf
        sepLen = 4
      } else if (lf >= 0) {
        end = lf
        sepLen = 2
      }
      if (end < 0) return
      headersDone = true
      let status = 200
      const headers: Record<string, string> = {}
      for (const line of head.subarray(0, end).toString('latin1').split(/\r?\n/)) {
        const i = line.indexOf(':')
        if (i <= 0) continue
        const name = line.slice(0, i).trim()
        const value = line.slice(i + 1).trim()
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 200
        else headers[name] = value
      }
      rec.status = status
      res.writeHead(status, headers)
      const rest = head.subarray(end + sepLen)
      if (rest.length) res.write(rest)
    })
    child.stdout.on('end', () => {
      if (!headersDone) {
        rec.status = 502
        res.writeHead(502, { 'content-type': 'text/plain' })
        res.end(`git-http-backend produced no headers: ${rec.stderr}\n`)
        return
      }
      res.end()
    })
  }

  const server = https.createServer(
    { key: pki.keyPem, cert: pki.certPem, ALPNProtocols: ['http/1.1'] },
    onRequest
  )
  server.on('connection', (s: net.Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  server.on('tlsClientError', () => undefined)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as net.AddressInfo).port
  const baseUrl = `https://127.0.0.1:${port}`

  return {
    url: `${baseUrl}/${repoPath}`,
    baseUrl,
    port,
    repoDir,
    repoPath,
    initialCommit,
    authorization,
    pki,
    requests,
    close: async (): Promise<void> => {
      for (const c of children) c.kill('SIGKILL')
      for (const s of sockets) s.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
