/**
 * What the airlock refuses, through the real daemon process. Every refused request must
 * leave the upstream untouched: no request, and no new connection.
 */
import { rm } from 'node:fs/promises'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  GH_PLACEHOLDER,
  connectAll,
  connectHead,
  ensureBuilt,
  filesContaining,
  openTunnel,
  rawProxyRequest,
  realToken,
  startTestDaemon,
  startWorld,
  type RawResponse,
  type TestDaemon,
  type World,
  waitFor
} from './harness.js'
import { PLACEHOLDERS } from '../../../src/providers/defaults.js'

const TOKEN = realToken()

let world: World
let daemon: TestDaemon

beforeAll(async () => {
  await ensureBuilt('proxy')
  world = await startWorld()
  const up = world.upstream.port
  daemon = await startTestDaemon({
    githubToken: TOKEN,
    allow: ['other.test', 'http://plain.test', 'http://api.github.com'],
    connectTo: [
      // Refused names are routed to the upstream too: a bypass would show up there.
      ...connectAll(up),
      `api.github.com:8443=127.0.0.1:${up}`,
      `plain.test:80=127.0.0.1:${world.plain.port}`,
      `api.github.com:80=127.0.0.1:${world.plain.port}`,
      `evil.test:80=127.0.0.1:${world.plain.port}`
    ],
    upstreamCa: world.pki.caPem
  })
})

afterAll(async () => {
  const { entries } = await daemon.stop()
  expect(entries.filter((e) => e.type === 'block').length).toBeGreaterThan(10)
  expect(await filesContaining(daemon.dir, [TOKEN])).toEqual([])
  await world.close()
  await rm(daemon.dir, { recursive: true, force: true })
})

beforeEach(() => {
  world.upstream.reset()
  world.plain.reset()
})

/** Nothing reached either upstream. */
function expectUntouched(): void {
  expect(world.upstream.requests).toHaveLength(0)
  expect(world.upstream.connections).toBe(0)
  expect(world.plain.requests).toHaveLength(0)
  expect(world.plain.connections).toBe(0)
}

/** A 403 from the airlock: the reason header, and a body naming what to change. */
function expectBlocked(r: RawResponse, reason: string, ...mentions: string[]): void {
  expect(r.status).toBe(403)
  expect(r.headers['x-airlock-blocked']).toBe(reason)
  expect(r.headers['content-type']).toMatch(/^text\/plain/)
  const body = r.body.toString('utf8')
  expect(body).toMatch(/^Airlock/)
  for (const m of mentions) expect(body).toContain(m)
}

const connect = (authority: string, auth: string | null = daemon.proxyAuth) =>
  rawProxyRequest(daemon.port, connectHead(authority, auth ?? undefined))

const plainGet = (url: string, host: string, extra = '') =>
  rawProxyRequest(
    daemon.port,
    `GET ${url} HTTP/1.1\r\nHost: ${host}\r\nProxy-Authorization: ${daemon.proxyAuth}\r\n${extra}\r\n`
  )

describe('proxy authentication', () => {
  it('answers 407 with a Basic challenge when Proxy-Authorization is missing', async () => {
    const r = await connect('api.github.com:443', null)
    expect(r.status).toBe(407)
    expect(r.headers['proxy-authenticate']).toBe('Basic realm="airlock"')
    const plain = await rawProxyRequest(
      daemon.port,
      'GET http://plain.test/echo HTTP/1.1\r\nHost: plain.test\r\n\r\n'
    )
    expect(plain.status).toBe(407)
    expect(plain.headers['proxy-authenticate']).toBe('Basic realm="airlock"')
    expectUntouched()
  })

  it('refuses a wrong token (Basic and Bearer) and accepts the right one as Bearer', async () => {
    const wrong = Buffer.from('airlock:not-the-token').toString('base64')
    expect((await connect('api.github.com:443', `Basic ${wrong}`)).status).toBe(407)
    expect((await connect('api.github.com:443', 'Bearer not-the-token')).status).toBe(407)
    // The right token with a wrong length prefix or suffix is still wrong.
    expect((await connect('api.github.com:443', `Bearer ${daemon.token}x`)).status).toBe(407)
    expect((await connect('api.github.com:443', `Bearer ${daemon.token.slice(1)}`)).status).toBe(
      407
    )
    expectUntouched()
    const ok = await rawProxyRequest(
      daemon.port,
      connectHead('api.github.com:443', `Bearer ${daemon.token}`),
      { noBody: true }
    )
    expect(ok.status).toBe(200)
  })
})

describe('IP literals', () => {
  const forms = [
    '127.0.0.1',
    '2130706433',
    '0x7f000001',
    '0177.0.0.1',
    '127.1',
    '[::1]',
    '[::ffff:127.0.0.1]',
    '[::ffff:7f00:1]',
    '169.254.169.254',
    '[fd00:ec2::254]'
  ]
  it.each(forms)('refuses CONNECT to %s', async (form) => {
    const r = await connect(`${form}:${world.upstream.port}`)
    expect(r.status).toBe(403)
    expect(['ip-literal', 'metadata']).toContain(r.headers['x-airlock-blocked'])
    expect(r.body.toString()).toContain(form.replace(/^\[|\]$/g, ''))
    expectUntouched()
  })

  it.each(forms)('refuses plain HTTP to %s', async (form) => {
    const r = await plainGet(
      `http://${form}:${world.plain.port}/echo`,
      `${form}:${world.plain.port}`
    )
    expect(r.status).toBe(403)
    expect(['ip-literal', 'metadata', 'invalid-host']).toContain(r.headers['x-airlock-blocked'])
    expectUntouched()
  })

  it('refuses the metadata address as a metadata block naming it', async () => {
    const r = await plainGet('http://169.254.169.254/latest/meta-data/', '169.254.169.254')
    expectBlocked(r, 'metadata', '169.254.169.254')
    expectUntouched()
  })
})

describe('names', () => {
  it('refuses a host that is not allowed, naming it and the input to change', async () => {
    const r = await connect('evil.test:443')
    expectBlocked(r, 'not-allowed', 'evil.test', 'allowed-endpoints')
    expectUntouched()
    const line = await waitFor(() => daemon.network().find((e) => e.url === 'evil.test:443'))
    expect(line?.blocked).toBe('not-allowed')
    expect(line?.status).toBe(403)
  })

  it('refuses an allowed host on a port that is not allowed', async () => {
    const r = await connect('api.github.com:8443')
    expectBlocked(r, 'port-not-allowed', 'api.github.com:8443', 'allowed-endpoints')
    expectUntouched()
  })

  it.each(['notgithub.com', 'github.com.evil.example', 'xapi.github.com', 'github.co'])(
    'refuses the look-alike %s',
    async (host) => {
      const r = await connect(`${host}:443`)
      expectBlocked(r, 'not-allowed', host, 'allowed-endpoints')
      expectUntouched()
    }
  )

  it('refuses a trailing dot (it is not the allowed name)', async () => {
    const r = await connect('api.github.com.:443')
    expectBlocked(r, 'invalid-host', 'api.github.com.')
    expectUntouched()
  })

  it.each(['localhost', 'LOCALHOST', 'foo.localhost', 'metadata.google.internal'])(
    'refuses %s',
    async (host) => {
      const r = await connect(`${host}:${world.upstream.port}`)
      expect(r.status).toBe(403)
      expect(['localhost', 'metadata']).toContain(r.headers['x-airlock-blocked'])
      expectUntouched()
    }
  )

  it('treats API.GITHUB.COM exactly like api.github.com: allowed and injected', async () => {
    const tunnel = await openTunnel(daemon, 'API.GITHUB.COM:443')
    try {
      const r = await tunnel.request({
        path: '/echo/upper',
        host: 'API.GITHUB.COM',
        headers: { authorization: `Bearer ${GH_PLACEHOLDER}` }
      })
      expect(r.status).toBe(200)
      expect(world.upstream.requests).toHaveLength(1)
      expect(world.upstream.requests[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`)
      expect(world.upstream.requests[0]!.servername).toBe('api.github.com')
      expect(r.body.toString()).not.toContain(TOKEN)
    } finally {
      tunnel.close()
    }
  })
})

describe('binding CONNECT = SNI = Host', () => {
  it('refuses a TLS handshake whose SNI is not the CONNECT host', async () => {
    await expect(
      openTunnel(daemon, 'api.github.com:443', { servername: 'other.test' })
    ).rejects.toThrow()
    expectUntouched()
    await waitFor(() => daemon.network().find((e) => e.blocked === 'sni-mismatch'))
  })

  it('refuses a first request whose Host is not the tunnel host', async () => {
    const tunnel = await openTunnel(daemon, 'api.github.com:443')
    try {
      const r = await tunnel.request({ path: '/echo', host: 'other.test' })
      expectBlocked(r, 'host-mismatch', 'other.test', 'api.github.com')
      const port = await tunnel.request({ path: '/echo', host: 'api.github.com:8443' })
      expectBlocked(port, 'host-mismatch')
    } finally {
      tunnel.close()
    }
    expectUntouched()
  })

  it('refuses a later keep-alive request whose Host changed', async () => {
    const tunnel = await openTunnel(daemon, 'api.github.com:443')
    try {
      const first = await tunnel.request({ path: '/echo/first' })
      expect(first.status).toBe(200)
      const second = await tunnel.request({
        path: '/echo/second',
        host: 'other.test',
        headers: { authorization: `Bearer ${GH_PLACEHOLDER}` }
      })
      expectBlocked(second, 'host-mismatch', 'other.test')
      if (!tunnel.reader.closed) {
        const third = await tunnel.request({ path: '/echo/third' })
        expect(third.status).toBe(200)
      }
    } finally {
      tunnel.close()
    }
    expect(world.upstream.requests.map((r) => r.url)).not.toContain('/echo/second')
    expect(world.upstream.requests[0]!.url).toBe('/echo/first')
  })

  it('refuses absolute-form naming another origin inside a tunnel', async () => {
    const tunnel = await openTunnel(daemon, 'api.github.com:443')
    try {
      const other = await tunnel.request({ path: 'https://other.test/echo', host: 'other.test' })
      expectBlocked(other, 'host-mismatch', 'other.test')
      const sneaky = await tunnel.request({
        path: 'https://other.test/echo',
        host: 'api.github.com'
      })
      expectBlocked(sneaky, 'host-mismatch')
      const scheme = await tunnel.request({ path: 'http://api.github.com/echo' })
      expectBlocked(scheme, 'host-mismatch')
      expectUntouched()
      // Its own origin in absolute-form is fine (RFC 9112 §3.2.2).
      const own = await tunnel.request({ path: 'https://api.github.com/echo/own' })
      expect(own.status).toBe(200)
      expect(world.upstream.requests.map((r) => r.url)).toEqual(['/echo/own'])
    } finally {
      tunnel.close()
    }
  })

  it('refuses CONNECT nested inside a tunnel', async () => {
    const tunnel = await openTunnel(daemon, 'api.github.com:443')
    try {
      tunnel.socket.write(
        `CONNECT other.test:443 HTTP/1.1\r\nHost: other.test:443\r\nProxy-Authorization: ${daemon.proxyAuth}\r\n\r\n`
      )
      const r = await tunnel.reader.read()
      expectBlocked(r, 'nested-connect')
    } finally {
      tunnel.close()
    }
    expectUntouched()
  })

  it('refuses TRACE inside a tunnel and over plain HTTP', async () => {
    const tunnel = await openTunnel(daemon, 'api.github.com:443')
    try {
      expectBlocked(await tunnel.request({ method: 'TRACE', path: '/' }), 'method', 'TRACE')
    } finally {
      tunnel.close()
    }
    const plain = await rawProxyRequest(
      daemon.port,
      `TRACE http://plain.test/ HTTP/1.1\r\nHost: plain.test\r\nProxy-Authorization: ${daemon.proxyAuth}\r\n\r\n`
    )
    expectBlocked(plain, 'method', 'TRACE')
    expectUntouched()
  })
})

describe('credentials', () => {
  it('never injects over plain HTTP, even for a granted host', async () => {
    const r = await plainGet(
      'http://api.github.com/echo/plain',
      'api.github.com',
      `Authorization: Bearer ${GH_PLACEHOLDER}\r\n`
    )
    expect(r.status).toBe(200)
    expect(world.plain.requests).toHaveLength(1)
    expect(world.plain.requests[0]!.headers.authorization).toBe(`Bearer ${GH_PLACEHOLDER}`)
    const none = await plainGet('http://plain.test/echo/none', 'plain.test')
    expect(none.status).toBe(200)
    expect(world.plain.requests[1]!.headers.authorization).toBeUndefined()
    const line = await waitFor(() =>
      daemon.network().find((e) => e.url === 'http://api.github.com/echo/plain')
    )
    expect(line?.grants).toBeUndefined()
    expect(line?.requestHeaders?.authorization).toBe('[redacted]')
  })

  it('refuses plain HTTP to a host allowed only over HTTPS, and a mismatched Host', async () => {
    expectBlocked(
      await plainGet('http://other.test/echo', 'other.test'),
      'plain-http',
      'other.test',
      'allowed-endpoints'
    )
    expectBlocked(
      await plainGet('http://plain.test/echo', 'evil.test'),
      'host-mismatch',
      'evil.test'
    )
    expectBlocked(await plainGet('http://evil.test/echo', 'evil.test'), 'not-allowed', 'evil.test')
    expectUntouched()
  })

  it('sends a placeholder to a host it does not belong to unchanged', async () => {
    const tunnel = await openTunnel(daemon, 'other.test:443')
    try {
      const r = await tunnel.request({
        path: '/echo/other',
        headers: { authorization: `Bearer ${GH_PLACEHOLDER}` }
      })
      expect(r.status).toBe(200)
    } finally {
      tunnel.close()
    }
    expect(world.upstream.requests).toHaveLength(1)
    expect(world.upstream.requests[0]!.headers.authorization).toBe(`Bearer ${GH_PLACEHOLDER}`)
  })

  it('scrubs a real secret echoed back in a body and a header', async () => {
    const tunnel = await openTunnel(daemon, 'api.github.com:443')
    try {
      const r = await tunnel.request({
        path: `/echo-secret?value=${encodeURIComponent(`token=${TOKEN};basic=x-access-token:${TOKEN}`)}`
      })
      expect(r.status).toBe(200)
      expect(r.body.toString()).not.toContain(TOKEN)
      expect(r.body.toString()).toBe(
        `token=${PLACEHOLDERS.github};basic=x-access-token:${PLACEHOLDERS.github}`
      )
      expect(r.headers['x-echo']).toBe(
        `token=${PLACEHOLDERS.github};basic=x-access-token:${PLACEHOLDERS.github}`
      )
      // The header the proxy injected, echoed in a JSON body, is scrubbed too.
      const echo = await tunnel.request({ path: '/echo/headers' })
      expect(echo.body.toString()).not.toContain(TOKEN)
      expect(JSON.parse(echo.body.toString()).headers.authorization).toBe(
        `Bearer ${PLACEHOLDERS.github}`
      )
    } finally {
      tunnel.close()
    }
    expect(world.upstream.requests[1]!.headers.authorization).toBe(`Bearer ${TOKEN}`)
  })

  it('returns a redirect to the client instead of following it with credentials', async () => {
    const tunnel = await openTunnel(daemon, 'api.github.com:443')
    try {
      const r = await tunnel.request({
        path: `/redirect?to=${encodeURIComponent('https://other.test/echo/stolen')}`
      })
      expect(r.status).toBe(302)
      expect(r.headers.location).toBe('https://other.test/echo/stolen')
    } finally {
      tunnel.close()
    }
    expect(world.upstream.requests.map((r) => r.url)).toEqual([
      `/redirect?to=${encodeURIComponent('https://other.test/echo/stolen')}`
    ])
  })
})
