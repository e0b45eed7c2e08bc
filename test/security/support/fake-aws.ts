/**
 * A stand-in for the runner's OIDC ID-token endpoint and AWS STS, on one plain-HTTP port:
 * enough for the `aws` grant to mint "session credentials" offline. The runner side points
 * at it with `ACTIONS_ID_TOKEN_REQUEST_URL` and `AWS_ENDPOINT_URL_STS`. The credentials it
 * issues are sentinels the sandbox must never see.
 */
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import type net from 'node:net'

export interface FakeAws {
  /** `ACTIONS_ID_TOKEN_REQUEST_URL` value. */
  oidcUrl: string
  oidcRequestToken: string
  /** `AWS_ENDPOINT_URL_STS` value. */
  stsUrl: string
  /** What STS hands out. */
  session: { accessKeyId: string; secretAccessKey: string; sessionToken: string }
  /** Requests seen, as `METHOD path`. */
  seen: string[]
  close(): Promise<void>
}

/** Values to issue instead of generated ones (the leak scan plants its own sentinels). */
export interface FakeAwsOptions {
  session?: FakeAws['session']
  oidcRequestToken?: string
  /** A path segment in the ID-token URL, so the URL itself can be a sentinel. */
  oidcPathTag?: string
}

export async function startFakeAws(opts: FakeAwsOptions = {}): Promise<FakeAws> {
  const tag = randomBytes(6).toString('hex')
  const session = opts.session ?? {
    accessKeyId: `ASIAAIRLOCKSEC${tag.slice(0, 6).toUpperCase()}`,
    secretAccessKey: `sts-secret-sentinel-${tag}-0123456789abcdef`,
    sessionToken: `sts-session-sentinel-${tag}-0123456789abcdef0123456789`
  }
  const oidcRequestToken = opts.oidcRequestToken ?? `oidc-request-sentinel-${tag}-0123456789`
  const seen: string[] = []
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`)
    req.resume()
    req.on('end', () => {
      if (req.url?.startsWith('/token')) {
        if (req.headers.authorization !== `bearer ${oidcRequestToken}`) {
          res.writeHead(401).end()
          return
        }
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(
          JSON.stringify({ value: `eyJhbGciOiJub25lIn0.eyJzdWIiOiJyZXBvOm9jdG8vcmVwbyJ9.${tag}` })
        )
      } else if (req.url?.startsWith('/sts')) {
        const expiration = new Date(Date.now() + 3600_000).toISOString()
        res.writeHead(200, { 'content-type': 'text/xml' })
        res.end(
          '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">' +
            '<AssumeRoleWithWebIdentityResult><Credentials>' +
            `<AccessKeyId>${session.accessKeyId}</AccessKeyId>` +
            `<SecretAccessKey>${session.secretAccessKey}</SecretAccessKey>` +
            `<SessionToken>${session.sessionToken}</SessionToken>` +
            `<Expiration>${expiration}</Expiration>` +
            '</Credentials><AssumedRoleUser>' +
            '<Arn>arn:aws:sts::123456789012:assumed-role/airlock-sec/run</Arn>' +
            '</AssumedRoleUser></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>'
        )
      } else {
        res.writeHead(404).end()
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const port = (server.address() as net.AddressInfo).port
  return {
    oidcUrl: `http://127.0.0.1:${port}/token${opts.oidcPathTag ? `/${opts.oidcPathTag}` : ''}?api-version=2.0`,
    oidcRequestToken,
    stsUrl: `http://127.0.0.1:${port}/sts/`,
    session,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
