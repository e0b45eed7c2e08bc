import { existsSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { alive } from '../src/daemon/start.js'
import { readInputs } from '../src/inputs.js'
import {
  GrantError,
  registry,
  type Credential,
  type GrantContext,
  type ProxyConfigurer
} from '../src/provider/index.js'
import { ProviderDefaults } from '../src/providers/defaults.js'
import { runInAirlock, type FrontEnd } from '../src/run.js'
import type { Resource } from '../src/state.js'

/** Mints a token that must be revoked: records every revoke. */
class MintingProvider extends ProviderDefaults {
  readonly name = 'test-minted'
  revoked: string[] = []
  grant(): Promise<Credential> {
    return Promise.resolve({
      provider: this.name,
      token: 'minted-token-1234567890',
      scopes: [],
      createdAt: new Date()
    })
  }
  configureProxy(_p: ProxyConfigurer, _c: Credential): void {}
  hosts(): string[] {
    return ['mint.example.test']
  }
  revoke(_ctx: GrantContext, cred: Credential): Promise<boolean> {
    this.revoked.push(cred.token)
    return Promise.resolve(true)
  }
}

/** Its grant always fails, after the minting one ran. */
class RefusingProvider extends ProviderDefaults {
  readonly name = 'test-refused'
  grant(): Promise<Credential> {
    return Promise.reject(new GrantError(this.name, 'no credential', 'set it'))
  }
  configureProxy(_p: ProxyConfigurer, _c: Credential): void {}
  hosts(): string[] {
    return []
  }
}

function frontEnd(lines: string[]): FrontEnd {
  return {
    info: (l) => lines.push(`info ${l}`),
    warn: (l) => lines.push(`warn ${l}`),
    write: () => {},
    env: {},
    runId: 'test-run'
  }
}

describe('runInAirlock', () => {
  afterEach(() => registry.clear())

  it('revokes a token minted before a later grant failed, and starts nothing', async () => {
    const minted = new MintingProvider()
    registry.register(minted)
    registry.register(new RefusingProvider())
    const inputs: Record<string, string> = {
      command: 'true',
      grants: 'test-minted,test-refused',
      workspace: process.cwd()
    }
    const plan = readInputs(
      (n) => inputs[n] ?? '',
      {},
      () => {}
    )
    const lines: string[] = []
    const persisted: unknown[] = []
    await expect(
      runInAirlock(plan, { ...frontEnd(lines), persist: (r) => persisted.push(r) })
    ).rejects.toThrow(/test-refused/)
    expect(minted.revoked).toEqual(['minted-token-1234567890'])
    // Nothing was created but the proxy process spawned early to load its program: no run
    // directory, no container, no log directory; that process got no config and is gone.
    const kinds = persisted.map((r) => (r as Resource).kind)
    expect(kinds).toEqual(['proxy'])
    const pid = (persisted[0] as Extract<Resource, { kind: 'proxy' }>).pid
    // Cancelled (its stdin closed), it exits by itself; it may still have been starting.
    for (let i = 0; i < 500 && alive(pid); i++) await new Promise((r) => setTimeout(r, 10))
    expect(alive(pid)).toBe(false)
    expect(existsSync((persisted[0] as Extract<Resource, { kind: 'proxy' }>).dir)).toBe(false)
  })
})
