import { describe, it, expect } from 'vitest'

import { parseConnectTo, PolicyError } from '../../src/proxy/patterns.js'
import {
  EgressPolicy,
  type BlockReason,
  type Decision,
  type EgressMode
} from '../../src/proxy/policy.js'

const ALLOW = [
  'api.github.com',
  '*.github.com',
  '*.githubusercontent.com',
  'example.org:8443',
  'http://plain.example',
  'http://alt.example:8080',
  'https://secure.example',
  'UPPER.Example.COM',
  'metadata.google.internal',
  '*.google.internal'
]

function policy(
  mode: EgressMode = 'block',
  extra: Partial<ConstructorParameters<typeof EgressPolicy>[0]> = {}
) {
  return new EgressPolicy({ mode, allow: ALLOW, ...extra })
}

/** Every refusal message is one line naming what was blocked. */
function expectGoodMessage(d: { message?: string }, mentions: string[]): void {
  expect(d.message).toMatch(/^Airlock blocked /)
  expect(d.message).not.toMatch(/[\r\n]/)
  for (const m of mentions) expect(d.message).toContain(m)
}

function thrown(fn: () => unknown): PolicyError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError)
    return err as PolicyError
  }
  throw new Error('expected a PolicyError')
}

describe('EgressPolicy construction', () => {
  it('parses every pattern up front', () => {
    const err = thrown(() => new EgressPolicy({ mode: 'block', allow: ['ok.example', '*.com'] }))
    expect(err.code).toBe('AIRLOCK_BAD_PATTERN')
    expect(err.message).toContain('"*.com"')
  })

  it('exposes the parsed allowlist', () => {
    expect(policy().allowlist.map((p) => p.raw)).toEqual(ALLOW)
  })

  it('treats anything but audit as block (fails closed)', () => {
    const p = new EgressPolicy({ mode: 'Audit' as EgressMode, allow: [] })
    expect(p.mode).toBe('block')
    expect(p.check('anything.example', 443, 'https').allowed).toBe(false)
  })

  it('addAllowed grants hosts later', () => {
    const p = new EgressPolicy({ mode: 'block', allow: [] })
    expect(p.check('api.anthropic.com', 443, 'https').allowed).toBe(false)
    p.addAllowed(['api.anthropic.com', '*.anthropic.com'])
    expect(p.check('api.anthropic.com', 443, 'https')).toMatchObject({
      allowed: true,
      pattern: 'api.anthropic.com'
    })
  })

  it('addAllowed is all or nothing', () => {
    const p = new EgressPolicy({ mode: 'block', allow: [] })
    expect(() => p.addAllowed(['good.example', 'bad.example/path'])).toThrow(PolicyError)
    expect(p.check('good.example', 443, 'https').allowed).toBe(false)
  })
})

describe('check: allowlist matching (block mode)', () => {
  const p = policy()
  const cases: [
    host: string,
    port: number,
    scheme: 'https' | 'http',
    reason: BlockReason | null,
    pattern?: string
  ][] = [
    ['api.github.com', 443, 'https', null, 'api.github.com'],
    ['API.GITHUB.COM', 443, 'https', null, 'api.github.com'],
    ['Api.GitHub.Com', 443, 'https', null, 'api.github.com'],
    ['uploads.github.com', 443, 'https', null, '*.github.com'],
    ['a.b.c.github.com', 443, 'https', null, '*.github.com'],
    ['raw.githubusercontent.com', 443, 'https', null, '*.githubusercontent.com'],
    ['upper.example.com', 443, 'https', null, 'UPPER.Example.COM'],
    ['secure.example', 443, 'https', null, 'https://secure.example'],
    ['example.org', 8443, 'https', null, 'example.org:8443'],
    ['plain.example', 80, 'http', null, 'http://plain.example'],
    ['alt.example', 8080, 'http', null, 'http://alt.example:8080'],
    // wildcard confusion
    ['github.com', 443, 'https', 'not-allowed'], // *.github.com never matches the apex
    ['githubusercontent.com', 443, 'https', 'not-allowed'],
    ['notgithub.com', 443, 'https', 'not-allowed'],
    ['evilgithub.com', 443, 'https', 'not-allowed'],
    ['github.com.evil.example', 443, 'https', 'not-allowed'],
    ['api.github.com.evil.example', 443, 'https', 'not-allowed'],
    ['api-github.com', 443, 'https', 'not-allowed'],
    ['apigithub.com', 443, 'https', 'not-allowed'],
    ['github.co', 443, 'https', 'not-allowed'],
    ['api.github.co', 443, 'https', 'not-allowed'],
    ['example.com', 443, 'https', 'not-allowed'],
    ['xupper.example.com', 443, 'https', 'not-allowed'],
    // trailing dots and encodings
    ['api.github.com.', 443, 'https', 'invalid-host'],
    ['github.com.', 443, 'https', 'invalid-host'],
    ['api.github.com..', 443, 'https', 'invalid-host'],
    ['api%2egithub.com', 443, 'https', 'invalid-host'],
    ['api.github.com%00.evil.example', 443, 'https', 'invalid-host'],
    ['api.github.com\0.evil.example', 443, 'https', 'invalid-host'],
    ['evil.example\\@api.github.com', 443, 'https', 'invalid-host'],
    ['evil.example@api.github.com', 443, 'https', 'invalid-host'],
    ['api.github.com@evil.example', 443, 'https', 'invalid-host'],
    ['api.github.com/evil.example', 443, 'https', 'invalid-host'],
    ['api.github.com ', 443, 'https', 'invalid-host'],
    ['api.github.com\r\nHost: evil.example', 443, 'https', 'invalid-host'],
    ['api.github.com:443', 443, 'https', 'invalid-host'],
    ['\u212Aapi.github.com', 443, 'https', 'invalid-host'],
    ['\uff41pi.github.com', 443, 'https', 'invalid-host'],
    ['', 443, 'https', 'invalid-host'],
    // ports
    ['api.github.com', 8443, 'https', 'port-not-allowed'],
    ['api.github.com', 80, 'https', 'port-not-allowed'],
    ['x.github.com', 22, 'https', 'port-not-allowed'],
    ['example.org', 443, 'https', 'port-not-allowed'], // listed with :8443 only
    ['api.github.com', 0, 'https', 'port-not-allowed'],
    ['api.github.com', 65536, 'https', 'port-not-allowed'],
    ['api.github.com', 443.5, 'https', 'port-not-allowed'],
    ['api.github.com', Number.NaN, 'https', 'port-not-allowed'],
    // plain HTTP only for http:// entries
    ['api.github.com', 80, 'http', 'plain-http'],
    ['secure.example', 80, 'http', 'plain-http'],
    ['x.github.com', 80, 'http', 'plain-http'],
    ['alt.example', 80, 'http', 'port-not-allowed'],
    ['plain.example', 8080, 'http', 'port-not-allowed'],
    ['plain.example', 443, 'https', 'not-allowed'], // http:// does not grant HTTPS
    ['unknown.example', 80, 'http', 'not-allowed']
  ]
  it.each(cases)('%j:%d %s → %s', (host, port, scheme, reason, pattern) => {
    const d = p.check(host, port, scheme)
    if (reason === null) {
      expect(d).toMatchObject({ allowed: true, pattern })
      expect(d.reason).toBeUndefined()
      expect(d.audited).toBeUndefined()
    } else {
      expect(d.allowed).toBe(false)
      expect(d.reason).toBe(reason)
      expectGoodMessage(d, [])
    }
  })

  it('reports the normalised host', () => {
    expect(p.check('API.GitHub.com', 443, 'https').host).toBe('api.github.com')
  })

  it('prefers the exact entry, then the longest wildcard', () => {
    const q = new EgressPolicy({
      mode: 'block',
      allow: ['*.example.com', '*.api.example.com', 'v1.api.example.com']
    })
    expect(q.check('v1.api.example.com', 443, 'https').pattern).toBe('v1.api.example.com')
    expect(q.check('v2.api.example.com', 443, 'https').pattern).toBe('*.api.example.com')
    expect(q.check('www.example.com', 443, 'https').pattern).toBe('*.example.com')
  })
})

describe('check: IP literals', () => {
  const loopback = [
    '127.0.0.1',
    '127.1',
    '127.0.1',
    '2130706433',
    '0x7f000001',
    '0x7f.0.0.1',
    '0x7f.1',
    '0177.0.0.1',
    '017700000001',
    '0x7f.0.0.0x1',
    '127.0.0.1.',
    '::1',
    '[::1]',
    '0:0:0:0:0:0:0:1',
    '[0:0:0:0:0:0:0:1]',
    '::ffff:127.0.0.1',
    '[::ffff:127.0.0.1]',
    '::ffff:7f00:1',
    '::127.0.0.1',
    '64:ff9b::7f00:1',
    '2002:7f00:1::1'
  ]
  const otherPrivate = [
    '10.1',
    '10.0.0.1',
    '192.168.1.1',
    '172.16.0.1',
    '100.64.0.1',
    '0.0.0.0',
    '0',
    '224.0.0.1',
    '255.255.255.255',
    'fe80::1',
    'fe80::1%eth0',
    '[fe80::1%25eth0]',
    'fd12::1',
    '::ffff:10.0.0.1'
  ]
  const metadata = [
    '169.254.169.254',
    '0xa9fea9fe',
    '2852039166',
    '169.254.43518',
    '0251.0376.0251.0376',
    '::ffff:169.254.169.254',
    '[::ffff:a9fe:a9fe]',
    '64:ff9b::a9fe:a9fe',
    'fd00:ec2::254',
    '[fd00:ec2::254]',
    '168.63.129.16',
    '100.100.100.200',
    '169.254.170.2'
  ]

  for (const mode of ['block', 'audit'] as const) {
    it.each(loopback.concat(otherPrivate))(`${mode}: %s is refused as ip-literal`, (host) => {
      const d = policy(mode).check(host, 443, 'https')
      expect(d).toMatchObject({ allowed: false, reason: 'ip-literal' })
      expect(d.audited).toBeUndefined()
      expectGoodMessage(d, ['connect-to'])
    })

    it.each(metadata)(`${mode}: %s is refused as metadata`, (host) => {
      const d = policy(mode).check(host, 80, 'http')
      expect(d).toMatchObject({ allowed: false, reason: 'metadata' })
    })
  }

  it('names the address a notation stands for', () => {
    const d = policy().check('0x7f.1', 443, 'https')
    expectGoodMessage(d, ['0x7f.1:443', '127.0.0.1'])
    expect(policy().check('[::1]', 8080, 'https').message).toContain('[::1]:8080')
  })

  it('refuses a public IP literal in block mode and audits it in audit mode', () => {
    const blocked = policy('block').check('8.8.8.8', 443, 'https')
    expect(blocked).toMatchObject({ allowed: false, reason: 'ip-literal' })
    expectGoodMessage(blocked, ['8.8.8.8:443', 'connect-to'])
    const audited = policy('audit').check('0x8080808', 443, 'https')
    expect(audited).toMatchObject({
      allowed: true,
      audited: true,
      reason: 'ip-literal',
      host: '8.8.8.8'
    })
    expect(policy('audit').check('[2606:4700:4700::1111]', 443, 'https')).toMatchObject({
      allowed: true,
      audited: true
    })
  })
})

describe('check: localhost and metadata names', () => {
  for (const mode of ['block', 'audit'] as const) {
    it.each([
      'localhost',
      'LOCALHOST',
      'foo.localhost',
      'a.b.localhost',
      'ip6-localhost',
      'localhost.localdomain'
    ])(`${mode}: %s is refused as localhost`, (host) => {
      const d = policy(mode).check(host, 3000, 'https')
      expect(d).toMatchObject({ allowed: false, reason: 'localhost' })
      expectGoodMessage(d, [':3000', 'connect-to'])
    })

    it.each([
      'metadata.google.internal', // allowlisted in ALLOW, still refused
      'METADATA.google.internal',
      'x.metadata.google.internal',
      'metadata.goog',
      'metadata',
      'instance-data',
      'instance-data.ec2.internal'
    ])(`${mode}: %s is refused as metadata`, (host) => {
      const d = policy(mode).check(host, 80, 'http')
      expect(d).toMatchObject({ allowed: false, reason: 'metadata' })
      expectGoodMessage(d, [`${host.toLowerCase()}:80`])
    })
  }

  it('still allows other names under an allowlisted *.google.internal', () => {
    expect(policy().check('other.google.internal', 443, 'https').allowed).toBe(true)
  })
})

describe('check: messages', () => {
  const p = policy()
  const cases: [host: string, port: number, scheme: 'https' | 'http', mentions: string[]][] = [
    [
      'api.evil.example',
      443,
      'https',
      [
        'Airlock blocked api.evil.example:443: the host is not in the allowlist. Add it to the allowed-endpoints input if the agent needs it.'
      ]
    ],
    [
      'api.evil.example',
      8443,
      'https',
      ['api.evil.example:8443', 'Add api.evil.example:8443 to the allowed-endpoints input']
    ],
    ['api.github.com', 8443, 'https', ['api.github.com:8443', 'only on port 443', 'host:port']],
    [
      'x.github.com',
      22,
      'https',
      ['Add x.github.com:22 (host:port) to the allowed-endpoints input']
    ],
    [
      'api.github.com',
      80,
      'http',
      ['plain HTTP', 'api.github.com:80', 'http://api.github.com to the allowed-endpoints']
    ],
    ['api.github.com', 8080, 'http', ['http://api.github.com:8080']],
    ['alt.example', 9090, 'http', ['only on port 8080', 'http://alt.example:9090']],
    [
      'plain.example',
      443,
      'https',
      ['plain.example:443', 'only plain HTTP', 'Add plain.example to']
    ],
    ['unknown.example', 80, 'http', ['http://unknown.example to the allowed-endpoints']],
    ['localhost', 8080, 'https', ['localhost:8080', 'connect-to']],
    ['10.0.0.1', 443, 'https', ['10.0.0.1:443', 'a private address', 'connect-to']],
    ['github.com.', 443, 'https', ['"github.com."', 'port 443', 'not a valid host name']]
  ]
  it.each(cases)('%s:%d (%s)', (host, port, scheme, mentions) => {
    expectGoodMessage(p.check(host, port, scheme), mentions)
  })

  it('escapes control and non-ASCII characters of an invalid host', () => {
    const d = p.check('a\r\nX-Evil: 1\u202e', 443, 'https')
    expect(d.reason).toBe('invalid-host')
    expectGoodMessage(d, ['"a\\r\\nX-Evil: 1\\u202e"'])
    expect(d.message).not.toContain('\u202e')
  })

  it('cuts a very long invalid host', () => {
    const d = p.check(`${'a'.repeat(5000)}.`, 443, 'https')
    expect(d.reason).toBe('invalid-host')
    expect(d.message!.length).toBeLessThan(600)
    expect(d.message).toContain('..."')
  })
})

describe('check: audit mode', () => {
  const a = policy('audit')
  const b = policy('block')
  const soft: [host: string, port: number, scheme: 'https' | 'http', reason: BlockReason][] = [
    ['anything.example', 443, 'https', 'not-allowed'],
    ['github.com', 443, 'https', 'not-allowed'],
    ['api.github.com', 8443, 'https', 'port-not-allowed'],
    ['api.github.com', 80, 'http', 'plain-http'],
    ['unknown.example', 80, 'http', 'not-allowed'],
    ['plain.example', 443, 'https', 'not-allowed']
  ]
  it.each(soft)('%s:%d %s is allowed but audited as %s', (host, port, scheme, reason) => {
    const blocked = b.check(host, port, scheme)
    const audited = a.check(host, port, scheme)
    expect(blocked).toMatchObject({ allowed: false, reason })
    expect(audited).toMatchObject({
      allowed: true,
      audited: true,
      reason,
      message: blocked.message
    })
  })

  it('does not mark allowlisted hosts as audited', () => {
    const d = a.check('api.github.com', 443, 'https')
    expect(d).toMatchObject({ allowed: true, pattern: 'api.github.com' })
    expect(d.audited).toBeUndefined()
    expect(d.reason).toBeUndefined()
  })

  it.each([
    ['github.com.', 443, 'invalid-host'],
    ['a b.example', 443, 'invalid-host'],
    ['api.github.com', 0, 'port-not-allowed'],
    ['api.github.com', 70000, 'port-not-allowed']
  ] as const)('still refuses %j port %d (%s)', (host, port, reason) => {
    expect(a.check(host, port, 'https')).toMatchObject({ allowed: false, reason })
  })
})

describe('check: connect-to', () => {
  const connectTo = parseConnectTo([
    'api.github.com:443=127.0.0.1:8443',
    'new.example:443=[::1]:9443'
  ])

  it('reports the route for an allowed host', () => {
    const d = policy('block', { connectTo }).check('API.github.com', 443, 'https')
    expect(d).toMatchObject({ allowed: true, connectTo: { host: '127.0.0.1', port: 8443 } })
  })

  it('does not allow a routed host that is not in the allowlist', () => {
    const d = policy('block', { connectTo }).check('new.example', 443, 'https')
    expect(d).toMatchObject({ allowed: false, reason: 'not-allowed' })
    expect(d.connectTo).toBeUndefined()
  })

  it('reports the route in audit mode too', () => {
    const d: Decision = policy('audit', { connectTo }).check('new.example', 443, 'https')
    expect(d).toMatchObject({
      allowed: true,
      audited: true,
      connectTo: { host: '::1', port: 9443 }
    })
  })

  it('routes only the listed port', () => {
    expect(
      policy('block', { connectTo }).check('api.github.com', 8443, 'https').connectTo
    ).toBeUndefined()
  })
})

/** A resolver that answers from a table and records what it was asked. */
function fakeResolver(table: Record<string, string[] | Error>) {
  const calls: string[] = []
  const resolve = (host: string): Promise<string[]> => {
    calls.push(host)
    const answer = table[host]
    if (answer === undefined) {
      return Promise.reject(
        Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' })
      )
    }
    return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer)
  }
  return { calls, resolve }
}

describe('resolveTarget', () => {
  const table: Record<string, string[] | Error> = {
    'api.github.com': ['140.82.112.6', '140.82.112.5'],
    'v6.github.com': ['2606:4700:0:0:0:0:0:1111', '140.82.112.6'],
    'mixed.github.com': ['140.82.112.6', '10.0.0.7'],
    'mixed6.github.com': ['140.82.112.6', '::ffff:192.168.0.1'],
    'rebind.github.com': ['8.8.8.8', '127.0.0.1'],
    'meta.github.com': ['10.0.0.1', '169.254.169.254', '8.8.8.8'],
    'meta6.github.com': ['fd00:ec2::254'],
    'empty.github.com': [],
    'junk.github.com': ['not-an-ip'],
    'flaky.github.com': Object.assign(new Error('x'), { code: 'EAI_AGAIN' }),
    'weird.github.com': Object.assign(new Error('x'), { code: 'bad\r\ncode' })
  }

  it('returns the first checked address', async () => {
    const { resolve, calls } = fakeResolver(table)
    const r = await policy('block', { resolve }).resolveTarget('API.GitHub.com', 443)
    expect(r).toEqual({ allowed: true, address: '140.82.112.6', port: 443, connectTo: false })
    expect(calls).toEqual(['api.github.com'])
  })

  it('returns the address in canonical form', async () => {
    const { resolve } = fakeResolver(table)
    const r = await policy('block', { resolve }).resolveTarget('v6.github.com', 443)
    expect(r).toMatchObject({ allowed: true, address: '2606:4700::1111' })
  })

  it.each([
    ['mixed.github.com', 'private-address', '10.0.0.7'],
    ['mixed6.github.com', 'private-address', '::ffff:c0a8:1'],
    ['rebind.github.com', 'private-address', '127.0.0.1'],
    ['meta.github.com', 'metadata', '169.254.169.254'], // metadata is reported first
    ['meta6.github.com', 'metadata', 'fd00:ec2::254']
  ])('refuses %s when any address is not public (%s %s)', async (host, reason, address) => {
    for (const mode of ['block', 'audit'] as const) {
      const { resolve } = fakeResolver(table)
      const r = await policy(mode, { resolve }).resolveTarget(host, 443)
      expect(r).toMatchObject({ allowed: false, reason, address })
      if (!r.allowed) expectGoodMessage(r, [`${host}:443`, address])
    }
  })

  it.each([
    ['10.1.2.3', 'a private address'],
    ['127.0.0.53', 'a loopback address'],
    ['169.254.1.1', 'a link-local address'],
    ['100.64.1.1', 'a carrier-grade NAT address'],
    ['239.1.1.1', 'a multicast address'],
    ['0.0.0.0', 'an unspecified address'],
    ['240.1.1.1', 'a reserved address'],
    ['fe80::1', 'a link-local address'],
    ['fd00::1', 'a private address'],
    ['::1', 'a loopback address'],
    ['64:ff9b::a00:1', 'a private address']
  ])('refuses a name resolving to %s (%s) and says how to route it', async (address, words) => {
    const { resolve } = fakeResolver({ 'internal.example': [address] })
    const r = await policy('audit', { resolve }).resolveTarget('internal.example', 443)
    expect(r).toMatchObject({ allowed: false, reason: 'private-address' })
    if (!r.allowed) expectGoodMessage(r, ['internal.example:443', words, 'connect-to'])
  })

  it.each([
    ['nowhere.example', 'ENOTFOUND'],
    ['flaky.github.com', 'EAI_AGAIN'],
    ['weird.github.com', 'lookup failed'],
    ['empty.github.com', 'no addresses'],
    ['junk.github.com', 'not an IP address']
  ])('refuses %s when resolution fails (%s)', async (host, mention) => {
    const { resolve } = fakeResolver(table)
    const r = await policy('audit', { resolve }).resolveTarget(host, 443)
    expect(r).toMatchObject({ allowed: false, reason: 'resolve-failed' })
    if (!r.allowed) expectGoodMessage(r, [`${host}:443`, mention])
  })

  it('routes connect-to entries without resolving or checking the target', async () => {
    const { resolve, calls } = fakeResolver(table)
    const connectTo = parseConnectTo([
      'api.github.com:443=127.0.0.1:8443',
      'x.github.com:443=localhost:9443'
    ])
    const p = policy('block', { resolve, connectTo })
    expect(await p.resolveTarget('API.GITHUB.COM', 443)).toEqual({
      allowed: true,
      address: '127.0.0.1',
      port: 8443,
      connectTo: true
    })
    expect(await p.resolveTarget('x.github.com', 443)).toMatchObject({
      address: 'localhost',
      connectTo: true
    })
    expect(calls).toEqual([])
    // Another port of the same name is resolved and checked as usual.
    expect(await p.resolveTarget('api.github.com', 8443)).toMatchObject({
      allowed: true,
      connectTo: false
    })
    expect(calls).toEqual(['api.github.com'])
  })

  it.each([
    ['localhost', 'localhost'],
    ['a.localhost', 'localhost'],
    ['metadata.google.internal', 'metadata'],
    ['github.com.', 'invalid-host'],
    ['a@b.example', 'invalid-host'],
    ['127.1', 'ip-literal'],
    ['[::1]', 'ip-literal'],
    ['0xa9fea9fe', 'metadata']
  ])('refuses %s (%s) without asking the resolver, in audit mode too', async (host, reason) => {
    for (const mode of ['block', 'audit'] as const) {
      const { resolve, calls } = fakeResolver({ [host]: ['8.8.8.8'] })
      const r = await policy(mode, { resolve }).resolveTarget(host, 443)
      expect(r).toMatchObject({ allowed: false, reason })
      expect(calls).toEqual([])
    }
  })

  it('refuses an invalid port', async () => {
    const { resolve, calls } = fakeResolver(table)
    expect(await policy('audit', { resolve }).resolveTarget('api.github.com', 0)).toMatchObject({
      allowed: false,
      reason: 'port-not-allowed'
    })
    expect(calls).toEqual([])
  })

  it('dials a public IP literal only in audit mode', async () => {
    const { resolve, calls } = fakeResolver(table)
    expect(await policy('block', { resolve }).resolveTarget('8.8.8.8', 443)).toMatchObject({
      allowed: false,
      reason: 'ip-literal',
      address: '8.8.8.8'
    })
    expect(await policy('audit', { resolve }).resolveTarget('0x8080808', 443)).toEqual({
      allowed: true,
      address: '8.8.8.8',
      port: 443,
      connectTo: false
    })
    expect(calls).toEqual([])
  })
})
