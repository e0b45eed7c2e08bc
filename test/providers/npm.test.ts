/**
 * The npm provider: the token stays with the proxy (Bearer on the registry) and the container
 * gets an `.npmrc` whose token is a placeholder, so npm sends something for the proxy to swap.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { GrantError } from '../../src/provider/index.js'
import { PLACEHOLDERS } from '../../src/providers/defaults.js'
import { NPM_REGISTRY_HOST, NpmProvider } from '../../src/providers/npm.js'
import { RecordingConfigurer } from '../support/recording-configurer.js'
import { grantContext } from '../support/grant-context.js'

const NPM_TOKEN = 'npm_REALTOKENunitTest0123456789abcdefghij'

const npm = new NpmProvider()

const context = (inputs: Record<string, string>) => grantContext(inputs)

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function stagingDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-npm-'))
  dirs.push(dir)
  return dir
}

describe('NpmProvider', () => {
  it('grants npm-token and masks it', async () => {
    const ctx = context({ 'npm-token': NPM_TOKEN })
    const cred = await npm.grant(ctx)
    expect(cred.provider).toBe('npm')
    expect(cred.token).toBe(NPM_TOKEN)
    expect(ctx.masked).toEqual([NPM_TOKEN])
  })

  it('without a token fails with a GrantError naming npm-token', async () => {
    const ctx = context({})
    const err = await npm.grant(ctx).then(
      () => undefined,
      (e: unknown) => e
    )
    expect(err).toBeInstanceOf(GrantError)
    const g = err as GrantError
    expect(g.provider).toBe('npm')
    expect(g.message).toContain('`npm-token` is empty')
    expect(g.hint).toContain('npm-token')
    expect(ctx.masked).toEqual([])
  })

  it('injects Authorization: Bearer on registry.npmjs.org under grant npm', async () => {
    const cred = await npm.grant(context({ 'npm-token': NPM_TOKEN }))
    const rec = new RecordingConfigurer()
    npm.configureProxy(rec, cred)
    expect(NPM_REGISTRY_HOST).toBe('registry.npmjs.org')
    // With its placeholder, so a token the registry echoes comes back as the placeholder.
    expect(rec.calls).toEqual([
      [
        'setCredentialWithGrant',
        'registry.npmjs.org',
        'Authorization',
        `Bearer ${NPM_TOKEN}`,
        'npm',
        PLACEHOLDERS.npm
      ]
    ])
    expect(rec.snapshot()).toEqual({
      'registry.npmjs.org': { 'npm|authorization': `Bearer ${NPM_TOKEN}` }
    })
    expect(rec.substitutions.size).toBe(0)
  })

  it('hosts, env and dependencies', async () => {
    const cred = await npm.grant(context({ 'npm-token': NPM_TOKEN }))
    expect(npm.hosts(cred)).toEqual(['registry.npmjs.org'])
    // The token reaches npm through the mounted .npmrc, not the environment.
    expect(npm.containerEnv(cred)).toEqual([])
    expect(npm.impliedDependencies()).toEqual(['node', 'npm'])
  })

  it('mounts a read-only .npmrc holding the placeholder, and cleanup removes it', async () => {
    const cred = await npm.grant(context({ 'npm-token': NPM_TOKEN }))
    const staging = stagingDir()
    const { mounts, cleanupPath } = await npm.containerMounts(cred, '/home/agent', staging)
    const file = join(staging, 'npm', '.npmrc')
    expect(mounts).toEqual([{ source: file, target: '/home/agent/.npmrc', readOnly: true }])
    const npmrc = readFileSync(file, 'utf8')
    expect(npmrc).toBe(`//registry.npmjs.org/:_authToken=${PLACEHOLDERS.npm}\n`)
    expect(npmrc).not.toContain(NPM_TOKEN)
    // The cleanup path is the provider's own directory, never the shared staging root.
    expect(cleanupPath).toBe(join(staging, 'npm'))
    await npm.cleanup(cleanupPath!)
    expect(existsSync(file)).toBe(false)
    expect(existsSync(cleanupPath!)).toBe(false)
    expect(existsSync(staging)).toBe(true)
    // Post runs cleanup even when a run stopped half way; a second call must not throw.
    await expect(npm.cleanup(cleanupPath!)).resolves.toBeUndefined()
  })

  it('keyCheck: GET /-/whoami with Bearer; only 401 means refused', async () => {
    const cred = await npm.grant(context({ 'npm-token': NPM_TOKEN }))
    const check = npm.keyCheck(cred)
    expect(check).toMatchObject({
      provider: 'npm',
      input: 'npm-token',
      url: 'https://registry.npmjs.org/-/whoami',
      headers: { authorization: `Bearer ${NPM_TOKEN}` }
    })
    expect(Object.keys(check.headers)).toEqual(['authorization'])
    expect(check.method ?? 'GET').toBe('GET')
    expect(check.body).toBeUndefined()
    expect([401, 403, 404, 500].map((s) => check.refused(s, ''))).toEqual([
      true,
      false,
      false,
      false
    ])
  })
})
