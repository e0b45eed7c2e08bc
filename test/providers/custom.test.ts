/**
 * The custom provider: every `custom-credentials` entry becomes a header the proxy sets on
 * its hosts under the grant `custom:<name>`, with a fixed placeholder for its optional env
 * variable. The YAML is validated (and every value masked) when the grant runs.
 */
import { describe, expect, it } from 'vitest'
import { InputError } from '../../src/errors.js'
import { makeGrantContext } from '../../src/grant/index.js'
import { GrantError, type Credential, type GrantContext } from '../../src/provider/index.js'
import { CustomProvider, customPlaceholder } from '../../src/providers/custom.js'
import { InjectionTable } from '../../src/proxy/inject.js'
import { RecordingConfigurer } from '../support/recording-configurer.js'
import { settingsFrom } from '../support/grant-context.js'
import { readGrantSettings } from '../../src/inputs.js'

const custom = new CustomProvider()

const ACME_SECRET = 'acme-secret-unit-test-0001'
const BILLING_SECRET = 'billing-secret-unit-test-0002'

/** Two entries: one with every field, one relying on the defaults (header, no env). */
const YAML = `
- name: acme
  hosts: [api.acme.example, "*.acme-cdn.example"]
  header: X-Api-Key
  value: ${ACME_SECRET}
  env: ACME_KEY
- name: billing
  hosts: billing.example, uploads.billing.example
  prefix: "Token "
  value: ${BILLING_SECRET}
`

interface Ctx extends GrantContext {
  masked: string[]
}

function context(yaml: string): Ctx {
  const masked: string[] = []
  const ctx = makeGrantContext({
    settings: settingsFrom({ 'custom-credentials': yaml }),
    setSecret: (v) => masked.push(v),
    env: {}
  })
  return Object.assign(ctx, { masked })
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e
  )
  expect(err).toBeInstanceOf(Error)
  return err as Error
}

describe('CustomProvider', () => {
  it('grants every entry, masking each value', async () => {
    const ctx = context(YAML)
    const cred = await custom.grant(ctx)
    expect(cred.provider).toBe('custom')
    expect(ctx.masked).toEqual([ACME_SECRET, BILLING_SECRET])
    expect(custom.entries(cred)).toEqual([
      {
        name: 'acme',
        hosts: ['api.acme.example', '*.acme-cdn.example'],
        header: 'X-Api-Key',
        prefix: '',
        value: ACME_SECRET,
        env: 'ACME_KEY'
      },
      {
        name: 'billing',
        hosts: ['billing.example', 'uploads.billing.example'],
        header: 'Authorization',
        prefix: 'Token ',
        value: BILLING_SECRET
      }
    ])
  })

  it('injects each entry on each of its hosts under custom:<name>, prefix applied', async () => {
    const cred = await custom.grant(context(YAML))
    const rec = new RecordingConfigurer()
    custom.configureProxy(rec, cred)
    const acmePlaceholder = 'airlock-placeholder-acme'
    expect(rec.calls).toEqual([
      [
        'setCredentialWithGrant',
        'api.acme.example',
        'X-Api-Key',
        ACME_SECRET,
        'custom:acme',
        acmePlaceholder
      ],
      [
        'setCredentialWithGrant',
        '*.acme-cdn.example',
        'X-Api-Key',
        ACME_SECRET,
        'custom:acme',
        acmePlaceholder
      ],
      // The bare value is a secret of its own: an echo of it without the prefix is scrubbed.
      ['addSecret', ACME_SECRET, acmePlaceholder],
      // No env, so no placeholder: the entry is the only one it could be.
      [
        'setCredentialWithGrant',
        'billing.example',
        'Authorization',
        `Token ${BILLING_SECRET}`,
        'custom:billing'
      ],
      [
        'setCredentialWithGrant',
        'uploads.billing.example',
        'Authorization',
        `Token ${BILLING_SECRET}`,
        'custom:billing'
      ],
      ['addSecret', BILLING_SECRET]
    ])
  })

  it('works with the real injection table: the header replaces what the client sent', async () => {
    const cred = await custom.grant(context(YAML))
    const table = new InjectionTable()
    custom.configureProxy(table, cred)
    const acme = table.apply('api.acme.example', '/v1', {
      'x-api-key': customPlaceholder('acme')
    })
    expect(acme.headers['x-api-key']).toBe(ACME_SECRET)
    expect(acme.grants).toEqual(['custom:acme'])
    // The wildcard host matches a subdomain, not the bare suffix.
    expect(table.apply('img.acme-cdn.example', '/', {}).headers['x-api-key']).toBe(ACME_SECRET)
    expect(table.apply('acme-cdn.example', '/', {}).headers['x-api-key']).toBeUndefined()
    expect(table.apply('billing.example', '/', {}).headers.authorization).toBe(
      `Token ${BILLING_SECRET}`
    )
    // Other hosts get nothing.
    expect(table.apply('api.other.example', '/', {}).grants).toEqual([])
  })

  it('lower-cases hosts for the proxy', async () => {
    const cred = await custom.grant(
      context(`- {name: mixed, hosts: [API.Mixed.Example], value: mixed-secret-0003}`)
    )
    const rec = new RecordingConfigurer()
    custom.configureProxy(rec, cred)
    expect(rec.callsTo('setCredentialWithGrant')).toEqual([
      ['api.mixed.example', 'Authorization', 'mixed-secret-0003', 'custom:mixed']
    ])
  })

  it('joins the hosts of every entry, in order', async () => {
    const cred = await custom.grant(context(YAML))
    expect(custom.hosts(cred)).toEqual([
      'api.acme.example',
      '*.acme-cdn.example',
      'billing.example',
      'uploads.billing.example'
    ])
  })

  it('gives env entries the fixed placeholder, never the value', async () => {
    const cred = await custom.grant(context(YAML))
    expect(customPlaceholder('acme')).toBe('airlock-placeholder-acme')
    // billing has no env, so it adds no variable.
    expect(custom.containerEnv(cred)).toEqual(['ACME_KEY=airlock-placeholder-acme'])
    for (const entry of custom.containerEnv(cred)) {
      expect(entry).not.toContain(ACME_SECRET)
      expect(entry).not.toContain(BILLING_SECRET)
    }
    expect(custom.impliedDependencies()).toEqual([])
  })

  it('without custom-credentials fails with a GrantError describing the format', async () => {
    const err = await rejection(custom.grant(context('')))
    expect(err).toBeInstanceOf(GrantError)
    expect((err as GrantError).provider).toBe('custom')
    expect(err.message).toContain('`custom-credentials` is empty')
    expect((err as GrantError).hint).toMatch(/YAML list of \{name, hosts, header, prefix, value/)
  })

  // Each bad shape, the message it must give (naming the entry), and whether its value was
  // masked before the error: a value is masked as soon as it is read, so a later mistake in
  // the same entry cannot print it unmasked anywhere.
  const SECRET = 'bad-shape-secret-0004'
  const bad: Array<[string, string, RegExp, boolean]> = [
    ['not a list', `name: a\nhosts: [a.example]\nvalue: ${SECRET}`, /: not a list\./, false],
    [
      'not YAML',
      `- name: a\n  value: "${SECRET}\n  hosts: [`,
      /: not valid YAML at line \d+, column \d+\./,
      false
    ],
    ['an entry that is not a mapping', '- just-a-string', /entry 1 is not a mapping/, false],
    [
      'a missing name',
      `- hosts: [a.example]\n  value: ${SECRET}`,
      /entry 1: name must be lower-case letters, digits and -/,
      false
    ],
    [
      'an upper-case name',
      `- name: Acme\n  hosts: [a.example]\n  value: ${SECRET}`,
      /entry 1: name must be lower-case/,
      false
    ],
    [
      'a duplicate name',
      `- {name: a, hosts: [a.example], value: one-value-0005}\n- {name: a, hosts: [b.example], value: ${SECRET}}`,
      /entry 2: name "a" is used twice/,
      false
    ],
    ['a missing value', '- name: a\n  hosts: [a.example]', /a: value is empty/, false],
    [
      'missing hosts',
      `- name: nohosts\n  value: ${SECRET}`,
      /nohosts: hosts must list at least one host/,
      true
    ],
    [
      'an empty host list',
      `- name: nohosts\n  hosts: []\n  value: ${SECRET}`,
      /nohosts: hosts must list/,
      true
    ],
    [
      'a host with a path',
      `- name: pathy\n  hosts: [api.example.com/v1]\n  value: ${SECRET}`,
      /pathy: .*not a URL with a path/,
      true
    ],
    [
      'an IP address',
      `- name: ip\n  hosts: [10.0.0.1]\n  value: ${SECRET}`,
      /ip: .*IP addresses cannot be allowed/,
      true
    ],
    ['a bare *', `- name: star\n  hosts: ["*"]\n  value: ${SECRET}`, /star: .*bare \*/, true],
    [
      'localhost',
      `- name: local\n  hosts: [localhost]\n  value: ${SECRET}`,
      /local: .*localhost/i,
      true
    ],
    [
      'plain HTTP',
      `- name: plain\n  hosts: ["http://api.example.com"]\n  value: ${SECRET}`,
      /plain: credentials are never sent over plain HTTP/,
      true
    ],
    [
      'a bad header name',
      `- name: hdr\n  hosts: [a.example]\n  header: "X Bad"\n  value: ${SECRET}`,
      /hdr: header "X Bad" is not a valid header name/,
      true
    ],
    [
      'a reserved env name',
      `- name: envy\n  hosts: [a.example]\n  value: ${SECRET}\n  env: HTTPS_PROXY`,
      /envy: env "HTTPS_PROXY" is not a usable variable name/,
      true
    ],
    [
      'an invalid env name',
      `- name: envy\n  hosts: [a.example]\n  value: ${SECRET}\n  env: 1BAD`,
      /envy: env "1BAD" is not a usable variable name/,
      true
    ]
  ]

  // Settings are read (and masked) once, before any grant: that is where a bad entry stops.
  it.each(bad)('rejects %s, naming the entry', (_what, yaml, message, masked) => {
    const seen: string[] = []
    let err: Error | undefined
    try {
      readGrantSettings(
        (n) => (n === 'custom-credentials' ? yaml : ''),
        undefined,
        (v) => seen.push(v)
      )
    } catch (e) {
      err = e as Error
    }
    if (!err) throw new Error('no error')
    const ctx = { masked: seen }
    expect(err).toBeInstanceOf(InputError)
    expect((err as InputError).input).toBe('custom-credentials')
    expect(err.message).toMatch(/^custom-credentials: /)
    expect(err.message).toMatch(message)
    // The YAML parser's own message quotes the source; none of that may reach the error.
    expect(err.message).not.toContain(SECRET)
    expect(ctx.masked.includes(SECRET)).toBe(masked)
  })

  it('defaults the header to Authorization and accepts a number as the value', async () => {
    const ctx = context('- {name: num, hosts: [n.example], value: 12345678901234}')
    const cred = await custom.grant(ctx)
    expect(custom.entries(cred)).toEqual([
      {
        name: 'num',
        hosts: ['n.example'],
        header: 'Authorization',
        prefix: '',
        value: '12345678901234'
      }
    ])
    expect(ctx.masked).toEqual(['12345678901234'])
  })

  // The input accepts a scheme or a port (as allowed-endpoints does); the proxy injects per
  // host name, so configureProxy must hand it the bare name (it refuses anything else, and a
  // proxy that cannot start fails the run after its inputs were declared valid).
  it('injects on the bare name of a host written with a scheme or a port', async () => {
    for (const host of ['https://api.example.com', 'api.example.com:8443']) {
      const outcome: Credential | Error = await custom
        .grant(context(`- {name: acme, hosts: ["${host}"], value: ${ACME_SECRET}}`))
        .catch((e: unknown) => e as Error)
      if (outcome instanceof Error) throw outcome
      const table = new InjectionTable()
      expect(() => custom.configureProxy(table, outcome), host).not.toThrow()
      expect(table.apply('api.example.com', '/', {}).headers.authorization, host).toBe(ACME_SECRET)
    }
  })
})
