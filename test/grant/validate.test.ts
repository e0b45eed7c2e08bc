/**
 * Key checks against API-shaped servers (Anthropic, OpenAI, Google, the npm registry) reached
 * through connect-to and upstream-ca, exactly as main reaches the real hosts: a refused key
 * fails the grant with the provider, input, host and status; anything else only warns.
 */
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { grantAll, makeGrantContext } from '../../src/grant/index.js'
import { registry } from '../../src/provider/index.js'
import { registerAll } from '../../src/providers/index.js'
import { createTestPki, type TestPki } from '../support/test-ca.js'
import { grantError } from '../support/grant-context.js'
import { settingsFrom } from '../support/grant-context.js'

const GOOD = {
  'anthropic-api-key': 'sk-ant-api03-GoodKeyForTheCheck000000000000',
  'openai-api-key': 'sk-proj-GoodKeyForTheCheck0000000000000000',
  'gemini-api-key': 'AIzaSyGoodKeyForTheCheck000000000000000',
  'npm-token': 'npm_GoodTokenForTheCheck0000000000000000'
}
const HOSTS = [
  'api.anthropic.com',
  'api.openai.com',
  'generativelanguage.googleapis.com',
  'registry.npmjs.org'
]

interface Seen {
  host: string
  method: string
  url: string
  headers: Record<string, string | string[] | undefined>
}

let pki: TestPki
let server: https.Server
let port: number
const seen: Seen[] = []
/** Per host: a status to answer instead of checking the key. */
const forced = new Map<string, number>()

/** Each API's real answer to a good and a bad key (status and error body shape). */
function answer(host: string, headers: Seen['headers']): { status: number; body: unknown } {
  const auth = String(headers.authorization ?? '')
  switch (host) {
    case 'api.anthropic.com':
      return headers['x-api-key'] === GOOD['anthropic-api-key'] &&
        headers['anthropic-version'] === '2023-06-01'
        ? { status: 200, body: { data: [{ id: 'claude-x', type: 'model' }], has_more: true } }
        : {
            status: 401,
            body: {
              type: 'error',
              error: { type: 'authentication_error', message: 'invalid x-api-key' }
            }
          }
    case 'api.openai.com':
      return auth === `Bearer ${GOOD['openai-api-key']}`
        ? { status: 200, body: { object: 'list', data: [] } }
        : {
            status: 401,
            body: {
              error: {
                // OpenAI quotes (part of) the key it was given; the error must not.
                message: `Incorrect API key provided: ${auth.slice(7)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
                type: 'invalid_request_error',
                code: 'invalid_api_key'
              }
            }
          }
    case 'generativelanguage.googleapis.com':
      return headers['x-goog-api-key'] === GOOD['gemini-api-key']
        ? { status: 200, body: { models: [] } }
        : {
            status: 400,
            body: {
              error: {
                code: 400,
                message: 'API key not valid. Please pass a valid API key.',
                status: 'INVALID_ARGUMENT',
                details: [{ reason: 'API_KEY_INVALID' }]
              }
            }
          }
    default:
      return auth === `Bearer ${GOOD['npm-token']}`
        ? { status: 200, body: { username: 'airlock' } }
        : { status: 401, body: { error: 'Unauthorized' } }
  }
}

beforeAll(async () => {
  registerAll()
  pki = await createTestPki(HOSTS)
  server = https.createServer({ cert: pki.certPem, key: pki.keyPem }, (req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '')
    seen.push({ host, method: req.method ?? '', url: req.url ?? '', headers: req.headers })
    req.resume()
    const f = forced.get(host)
    const { status, body } = f ? { status: f, body: { error: 'busy' } } : answer(host, req.headers)
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  port = (server.address() as AddressInfo).port
})

afterAll(async () => {
  server?.closeAllConnections()
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()))
})

function context(inputs: Record<string, string>, warnings: string[], to = port) {
  return makeGrantContext({
    settings: settingsFrom(inputs),
    setSecret: () => {},
    warn: (l) => warnings.push(l),
    env: {},
    connectTo: HOSTS.map((h) => `${h}:443=127.0.0.1:${to}`),
    upstreamCa: pki.caFile
  })
}

describe('key checks', () => {
  it('accepts good keys with one read-only call each, in the shape each API wants', async () => {
    seen.length = 0
    const warnings: string[] = []
    const granted = await grantAll(['claude', 'codex', 'gemini', 'npm'], context(GOOD, warnings))
    expect(granted.map((g) => g.provider)).toEqual(['claude', 'codex', 'gemini', 'npm'])
    expect(warnings).toEqual([])
    expect(seen.map((s) => `${s.method} ${s.host}${s.url}`).sort()).toEqual([
      'GET api.anthropic.com/v1/models?limit=1',
      'GET api.openai.com/v1/models',
      'GET generativelanguage.googleapis.com/v1beta/models?pageSize=1',
      'GET registry.npmjs.org/-/whoami'
    ])
  })

  it.each([
    ['claude', 'anthropic-api-key', 'api.anthropic.com', 401, 'invalid x-api-key'],
    ['codex', 'openai-api-key', 'api.openai.com', 401, 'Incorrect API key provided'],
    ['gemini', 'gemini-api-key', 'generativelanguage.googleapis.com', 400, 'API key not valid'],
    ['npm', 'npm-token', 'registry.npmjs.org', 401, 'Unauthorized']
  ])(
    '%s: a refused %s fails the grant naming input, host and status',
    async (provider, input, host, status, apiText) => {
      const bad = `${GOOD[input as keyof typeof GOOD].slice(0, 12)}RevokedKey0000000000000000`
      const err = await grantError(grantAll([provider], context({ ...GOOD, [input]: bad }, [])))
      expect(err.provider).toBe(provider)
      expect(err.message).toContain(`${host} refused ${input}: HTTP ${status}`)
      expect(err.message).toContain(apiText)
      expect(err.hint).toContain(input)
      expect(`${err.message} ${err.hint}`).not.toContain(bad)
    }
  )

  it('does not check a Claude Code OAuth token', async () => {
    seen.length = 0
    await grantAll(
      ['claude'],
      context({ 'claude-code-oauth-token': 'sk-ant-oat01-NoCheck000000000000' }, [])
    )
    expect(seen).toEqual([])
  })

  it('only warns when the API is down, rate-limits, or cannot be reached', async () => {
    const warnings: string[] = []
    forced.set('api.openai.com', 503)
    forced.set('registry.npmjs.org', 429)
    try {
      await grantAll(['codex', 'npm'], context(GOOD, warnings))
    } finally {
      forced.clear()
    }
    expect(warnings.sort()).toEqual([
      'codex: api.openai.com answered HTTP 503 when checking openai-api-key; going on without the check',
      'npm: registry.npmjs.org answered HTTP 429 when checking npm-token; going on without the check'
    ])
    const unreachable: string[] = []
    // A port nothing listens on: the check cannot run, the grant still succeeds.
    const closed = https.createServer()
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()))
    const deadPort = (closed.address() as AddressInfo).port
    await new Promise<void>((r) => closed.close(() => r()))
    const granted = await grantAll(['gemini'], context(GOOD, unreachable, deadPort))
    expect(granted).toHaveLength(1)
    expect(unreachable).toHaveLength(1)
    expect(unreachable[0]).toMatch(
      /^gemini: could not check gemini-api-key with generativelanguage\.googleapis\.com \(ECONNREFUSED\)/
    )
  })

  it('is declared by the providers that have a cheap read-only check, and only those', () => {
    const checking = registry
      .names()
      .filter((n) => typeof (registry.get(n) as { keyCheck?: unknown }).keyCheck === 'function')
    expect(checking.sort()).toEqual(['claude', 'codex', 'gemini', 'npm'])
  })
})
