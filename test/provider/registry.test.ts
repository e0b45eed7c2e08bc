import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  GrantError,
  CredentialExpiredError,
  CredentialNotFoundError,
  ProviderNotFoundError,
  RefreshNotSupportedError,
  TokenRevokedError,
  fromLegacy,
  credentialFromJSON,
  credentialToJSON,
  isAgentProvider,
  isEndpointProvider,
  isRefreshableProvider,
  META_KEY_TOKEN_SOURCE,
  registry,
  type Credential,
  type CredentialProvider
} from '../../src/provider/index.js'
import { registerAll } from '../../src/providers/index.js'

function fake(name: string, extra: object = {}): CredentialProvider {
  return {
    name,
    grant: () => Promise.resolve({ provider: name, token: 't', createdAt: new Date() }),
    configureProxy: () => {},
    containerEnv: () => [],
    containerMounts: () => Promise.resolve({ mounts: [] }),
    cleanup: () => Promise.resolve(),
    impliedDependencies: () => [],
    hosts: () => [],
    ...extra
  }
}

describe('registry', () => {
  beforeEach(() => registry.clear())
  afterEach(() => registry.clear())

  it('gets by canonical name and by alias', () => {
    const p = fake('codex')
    registry.register(p)
    registry.registerAlias('openai', 'codex')
    expect(registry.get('codex')).toBe(p)
    expect(registry.get('openai')).toBe(p)
    expect(registry.resolveName('openai')).toBe('codex')
    expect(registry.get('nope')).toBeUndefined()
    expect(() => registry.mustGet('nope')).toThrow(ProviderNotFoundError)
  })

  it('names() is sorted and excludes aliases', () => {
    registry.register(fake('zeta'))
    registry.register(fake('alpha'))
    registry.registerAlias('omega', 'zeta')
    expect(registry.names()).toEqual(['alpha', 'zeta'])
    expect(registry.aliasesOf('zeta')).toEqual(['omega'])
  })

  it('re-registration replaces the provider', () => {
    const a = fake('github')
    const b = fake('github')
    registry.register(a)
    registry.register(b)
    expect(registry.get('github')).toBe(b)
    expect(registry.names()).toEqual(['github'])
  })

  it('clear() removes providers and aliases', () => {
    registry.register(fake('codex'))
    registry.registerAlias('openai', 'codex')
    registry.clear()
    expect(registry.names()).toEqual([])
    expect(registry.get('openai')).toBeUndefined()
    registry.register(fake('other'))
    expect(registry.get('openai')).toBeUndefined()
  })

  it('agents(), getAgent() and getEndpoint() filter by capability', () => {
    const agent = fake('claude', {
      prepareContainer: () => Promise.resolve({}),
      registerCli: () => {}
    })
    const endpoint = fake('aws', { registerEndpoints: () => {} })
    registry.register(agent)
    registry.register(endpoint)
    registry.register(fake('github'))
    expect(registry.agents().map((a) => a.name)).toEqual(['claude'])
    expect(registry.getAgent('claude')).toBe(agent)
    expect(registry.getAgent('github')).toBeUndefined()
    expect(registry.getEndpoint('aws')).toBe(endpoint)
    expect(registry.getEndpoint('claude')).toBeUndefined()
    expect(isAgentProvider(agent)).toBe(true)
    expect(isEndpointProvider(agent)).toBe(false)
    expect(isRefreshableProvider(fake('x', { refresh: () => {}, canRefresh: () => true }))).toBe(
      true
    )
    expect(isRefreshableProvider(fake('x'))).toBe(false)
  })

  it('registerAll registers every built-in provider with its aliases', () => {
    registerAll()
    expect(registry.names()).toEqual([
      'aws',
      'claude',
      'codex',
      'custom',
      'gcp',
      'gemini',
      'github',
      'npm'
    ])
    expect(registry.get('anthropic')?.name).toBe('claude')
    expect(registry.get('openai')?.name).toBe('codex')
    expect(registry.get('google')?.name).toBe('gemini')
    expect(registry.agents().map((a) => a.name)).toEqual(['claude', 'codex', 'gemini'])
    expect(registry.getEndpoint('aws')?.name).toBe('aws')
  })
})

describe('errors', () => {
  it('GrantError formats provider, cause and hint, and chains the cause', () => {
    const cause = new Error('401 Unauthorized')
    const err = new GrantError('github', cause, 'Check github-token.')
    expect(err.message).toBe('grant github: 401 Unauthorized\n\nCheck github-token.')
    expect(err.cause).toBe(cause)
    expect(err.provider).toBe('github')
    expect(err.hint).toBe('Check github-token.')
    expect(err.code).toBe('AIRLOCK_GRANT_FAILED')
    expect(err).toBeInstanceOf(Error)
  })

  it('GrantError without a hint has no trailing blank line; a string cause becomes an Error', () => {
    const err = new GrantError('npm', 'no token')
    expect(err.message).toBe('grant npm: no token')
    expect(err.cause).toBeInstanceOf(Error)
    expect(err.cause.message).toBe('no token')
  })

  it('sentinel errors have stable, distinct codes', () => {
    const codes = [
      new ProviderNotFoundError('x'),
      new CredentialNotFoundError(),
      new CredentialExpiredError(),
      new RefreshNotSupportedError(),
      new TokenRevokedError()
    ].map((e) => e.code)
    expect(new Set(codes).size).toBe(5)
    expect(codes).toEqual([
      'AIRLOCK_PROVIDER_NOT_FOUND',
      'AIRLOCK_CREDENTIAL_NOT_FOUND',
      'AIRLOCK_CREDENTIAL_EXPIRED',
      'AIRLOCK_REFRESH_NOT_SUPPORTED',
      'AIRLOCK_TOKEN_REVOKED'
    ])
    expect(new RefreshNotSupportedError().message).toBe('credential refresh not supported')
  })
})

describe('credential', () => {
  it('fromLegacy copies fields and drops empty ones and the zero time', () => {
    const created = new Date('2026-01-01T00:00:00Z')
    const cred = fromLegacy({
      getProvider: () => 'github',
      getToken: () => 'tok',
      getScopes: () => [],
      getExpiresAt: () => new Date(0),
      getCreatedAt: () => created,
      getMetadata: () => ({ [META_KEY_TOKEN_SOURCE]: 'env' })
    })
    expect(cred).toEqual({
      provider: 'github',
      token: 'tok',
      createdAt: created,
      metadata: { token_source: 'env' }
    })
    const withExpiry = fromLegacy({
      getProvider: () => 'aws',
      getToken: () => 't',
      getScopes: () => ['s'],
      getExpiresAt: () => new Date('2026-02-01T00:00:00Z'),
      getCreatedAt: () => created,
      getMetadata: () => ({})
    })
    expect(withExpiry.expiresAt?.toISOString()).toBe('2026-02-01T00:00:00.000Z')
    expect(withExpiry.scopes).toEqual(['s'])
    expect(withExpiry.metadata).toBeUndefined()
  })

  it('round-trips through the JSON wire form', () => {
    const cred: Credential = {
      provider: 'gcp',
      token: 'ya29.x',
      scopes: ['a'],
      expiresAt: new Date('2026-03-01T00:00:00Z'),
      createdAt: new Date('2026-02-01T00:00:00Z'),
      metadata: { k: 'v' }
    }
    const json = credentialToJSON(cred)
    expect(json.expires_at).toBe('2026-03-01T00:00:00.000Z')
    expect(credentialFromJSON(JSON.parse(JSON.stringify(json)) as typeof json)).toEqual(cred)
  })
})
