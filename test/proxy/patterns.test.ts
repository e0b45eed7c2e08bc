/** Allowlist patterns and connect-to lines, as written by users: parsed or refused. */
import { describe, it, expect } from 'vitest'

import {
  PolicyError,
  normalizeHost,
  parseConnectTo,
  parseHostPattern
} from '../../src/proxy/patterns.js'

function thrown(fn: () => unknown): PolicyError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError)
    return err as PolicyError
  }
  throw new Error('expected a PolicyError')
}

describe('normalizeHost', () => {
  it.each([
    ['api.github.com', 'api.github.com'],
    ['API.GitHub.COM', 'api.github.com'],
    ['a-b.example', 'a-b.example'],
    ['_dmarc.example.com', '_dmarc.example.com'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['intranet', 'intranet'],
    ['1.example.com', '1.example.com'], // a numeric label is fine when it is not the last
    ['127.0.0.1.nip.io', '127.0.0.1.nip.io'],
    [`${'a'.repeat(63)}.com`, `${'a'.repeat(63)}.com`],
    ['[::1]', '::1'],
    ['[0:0:0:0:0:0:0:1]', '::1'],
    ['::1', '::1'],
    ['127.0.0.1', '127.0.0.1'],
    ['0x7f.1', '127.0.0.1']
  ])('%j → %j', (input, expected) => {
    expect(normalizeHost(input)).toBe(expected)
  })

  it.each([
    '',
    '.',
    'github.com.',
    '.github.com',
    'a..b',
    'api.github.com/x',
    'user@api.github.com',
    'api.github.com\\@evil.example',
    'api.github.com%2eevil.example',
    'api.github.com%00',
    'api.github.com\0',
    'api.github.com ',
    ' api.github.com',
    'api .github.com',
    'api.github.com\t',
    'api.github.com\r\nx',
    'api.github.com:443',
    'api.github.com?',
    'api.github.com#',
    'a*.github.com',
    '\uff41pi.github.com', // fullwidth a
    '\u0430pi.github.com', // Cyrillic a
    '\u212Aube.example', // Kelvin sign lower-cases to ASCII k
    'b\u00fccher.example',
    `${'a'.repeat(64)}.com`,
    `${'a.'.repeat(126)}com`, // 255 characters
    'example.123', // last label numeric: a URL parser would see IPv4
    'example.0x1f',
    '1.2.3.4.5',
    '[api.github.com]',
    '[::1',
    'fe80::1%eth0', // zone ids are refused here
    '[fe80::1%25eth0]'
  ])('%j is invalid', (input) => {
    expect(normalizeHost(input)).toBeUndefined()
  })

  it('accepts a 253-character name', () => {
    const name = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`
    expect(name).toHaveLength(253)
    expect(normalizeHost(name)).toBe(name)
  })
})

describe('parseHostPattern', () => {
  it.each([
    ['api.github.com', { scheme: 'https', wildcard: false, host: 'api.github.com' }],
    ['API.GitHub.com', { scheme: 'https', wildcard: false, host: 'api.github.com' }],
    ['  api.github.com  ', { raw: 'api.github.com', host: 'api.github.com' }],
    ['*.github.com', { scheme: 'https', wildcard: true, host: 'github.com' }],
    ['*.GITHUB.com:8443', { wildcard: true, host: 'github.com', port: 8443 }],
    ['example.org:8443', { host: 'example.org', port: 8443 }],
    ['example.org:1', { port: 1 }],
    ['example.org:65535', { port: 65535 }],
    ['https://example.org', { scheme: 'https', host: 'example.org' }],
    ['HTTPS://example.org:444', { scheme: 'https', host: 'example.org', port: 444 }],
    ['http://example.org', { scheme: 'http', host: 'example.org' }],
    ['http://example.org:8080', { scheme: 'http', host: 'example.org', port: 8080 }],
    ['http://*.example.org', { scheme: 'http', wildcard: true, host: 'example.org' }],
    ['intranet', { host: 'intranet', wildcard: false }]
  ])('%j', (input, expected) => {
    const p = parseHostPattern(input)
    expect(p).toMatchObject(expected)
    if (!('raw' in expected)) expect(p.raw).toBe(input)
    if (!('port' in expected)) expect(p.port).toBeUndefined()
  })

  it.each([
    ['', 'empty'],
    ['   ', 'empty'],
    ['*', 'every host'],
    ['*.*', 'wildcard'],
    ['*.com', 'top-level domain'],
    ['*.COM', 'top-level domain'],
    ['http://*.org', 'top-level domain'],
    ['a.*.com', 'whole first label'],
    ['*github.com', 'whole first label'],
    ['api.*', 'whole first label'],
    ['*.*.github.com', 'whole first label'],
    ['**.github.com', 'whole first label'],
    ['api.github.com/', 'path'],
    ['api.github.com/repos', 'path'],
    ['https://api.github.com/repos', 'path'],
    ['api.github.com?x=1', 'path'],
    ['user@api.github.com', 'user names'],
    ['user:pass@api.github.com', 'user names'],
    ['ftp://api.github.com', 'ftp://'],
    ['127.0.0.1', 'IP addresses'],
    ['127.0.0.1:8080', 'IP addresses'],
    ['0x7f.1', 'IP addresses'],
    ['2130706433', 'IP addresses'],
    ['http://10.0.0.1', 'IP addresses'],
    ['::1', 'IP addresses'],
    ['[::1]', 'IP addresses'],
    ['[::1]:443', 'IP addresses'],
    ['*.0.0.1', 'IP addresses'],
    ['localhost', 'localhost'],
    ['LOCALHOST:3000', 'localhost'],
    ['*.localhost', 'localhost'],
    ['app.localhost', 'localhost'],
    ['api.github.com:0', 'port'],
    ['api.github.com:65536', 'port'],
    ['api.github.com:', 'port'],
    ['api.github.com:https', 'port'],
    ['api.github.com:-1', 'port'],
    ['api.github.com:1:2', 'not a valid host'],
    ['github.com.', 'not a valid host'],
    ['a..b', 'not a valid host'],
    ['exa mple.com', 'characters'],
    ['api.github.com%2f', 'characters'],
    ['api\\github.com', 'characters'],
    ['b\u00fccher.example', 'characters'],
    ['example.123', 'not a valid host'],
    ['http://', 'not a valid host']
  ])('%j is refused (%s)', (input, why) => {
    const err = thrown(() => parseHostPattern(input))
    expect(err.code).toBe('AIRLOCK_BAD_PATTERN')
    expect(err.value).toBe(input.trim() === '' ? input : input.trim())
    expect(err.message).toContain(JSON.stringify(err.value))
    expect(err.message).toContain(why)
    expect(err.message).toContain('Expected a host name such as api.example.com')
  })
})

describe('parseConnectTo', () => {
  it('maps host:port to target:port', () => {
    const map = parseConnectTo([
      'api.example.com:443=127.0.0.1:8443',
      '',
      '  API.GitHub.com:443 = [::1]:9443  ',
      'git.example.com:443=mirror.corp.example:443',
      'api.example.com:80=localhost:8080'
    ])
    expect([...map.entries()]).toEqual([
      ['api.example.com:443', { host: '127.0.0.1', port: 8443 }],
      ['api.github.com:443', { host: '::1', port: 9443 }],
      ['git.example.com:443', { host: 'mirror.corp.example', port: 443 }],
      ['api.example.com:80', { host: 'localhost', port: 8080 }]
    ])
  })

  it('returns an empty map for no lines', () => {
    expect(parseConnectTo([]).size).toBe(0)
    expect(parseConnectTo(['', '  ']).size).toBe(0)
  })

  it.each([
    ['api.example.com:443', 'exactly one ='],
    ['a:1=b:2=c:3', 'exactly one ='],
    ['api.example.com=127.0.0.1:8443', 'host and a port'],
    ['api.example.com:443=127.0.0.1', 'host and a port'],
    [':443=127.0.0.1:1', 'host and a port'],
    ['api.example.com:443=[::1:8443', 'host and a port'],
    ['api.example.com:0=127.0.0.1:8443', 'ports'],
    ['api.example.com:443=127.0.0.1:70000', 'ports'],
    ['api.example.com:https=127.0.0.1:1', 'ports'],
    ['127.0.0.1:443=127.0.0.1:8443', 'not an IP address'],
    ['[::1]:443=127.0.0.1:8443', 'not an IP address'],
    ['bad host:443=127.0.0.1:8443', 'not a valid host name'],
    ['api.example.com.:443=127.0.0.1:8443', 'not a valid host name'],
    ['api.example.com:443=bad_host%:1', 'not a valid host name or address']
  ])('%j is refused (%s)', (line, why) => {
    const err = thrown(() => parseConnectTo([line]))
    expect(err.code).toBe('AIRLOCK_BAD_CONNECT_TO')
    expect(err.message).toContain(JSON.stringify(line))
    expect(err.message).toContain(why)
    expect(err.message).toContain('Expected host:port=target:port')
  })

  it('refuses the same host:port twice, naming the key', () => {
    const err = thrown(() => parseConnectTo(['a.example:443=b:1', 'A.example:443=c:2']))
    expect(err.message).toContain('a.example:443 is already mapped')
  })
})
