/**
 * arm64 runners (ubuntu-24.04-arm, Graviton) need the agents' arm64 builds: the install must
 * pick the platform package for the runner's CPU, and an unknown CPU must fail with a clear
 * message. The choice is checked against the npm registry's own metadata (each platform
 * package declares the `os` and `cpu` it runs on), so a renamed package or a wrong suffix
 * fails here rather than with "exec format error" in a container.
 */
import { describe, expect, it } from 'vitest'
import { PlatformError } from '../../src/errors.js'
import { ClaudeProvider } from '../../src/providers/claude.js'
import { CodexProvider } from '../../src/providers/codex.js'
import { GeminiProvider } from '../../src/providers/gemini.js'

const REGISTRY = 'https://registry.npmjs.org'

interface VersionDoc {
  os?: string[] | string
  cpu?: string[] | string
  dist?: { integrity?: string }
}

async function versionDoc(name: string, version: string): Promise<VersionDoc> {
  const res = await fetch(`${REGISTRY}/${name.replace('/', '%2f')}/${encodeURIComponent(version)}`)
  expect(res.status, `${name}@${version} in the registry`).toBe(200)
  return (await res.json()) as VersionDoc
}

const list = (v: string[] | string | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v]

const native = [
  { agent: new ClaudeProvider(), binary: { x64: 'package/claude', arm64: 'package/claude' } },
  {
    agent: new CodexProvider(),
    binary: {
      x64: 'package/vendor/x86_64-unknown-linux-musl/bin/codex',
      arm64: 'package/vendor/aarch64-unknown-linux-musl/bin/codex'
    }
  }
] as const

describe('agent builds per CPU architecture', () => {
  for (const { agent, binary } of native) {
    for (const arch of ['x64', 'arm64'] as const) {
      it(`${agent.name} on linux-${arch}: a registry package built for linux/${arch}`, async () => {
        const spec = agent.installSpec(agent.defaultVersion, arch)
        expect(spec.argv('/m')).toEqual([`/m/${binary[arch]}`])
        const doc = await versionDoc(spec.packageName, spec.packageVersion)
        expect(list(doc.os)).toContain('linux')
        expect(list(doc.cpu)).toEqual([arch])
        expect(doc.dist?.integrity).toMatch(/^sha512-/)
      })
    }
    it.each(['ia32', 'ppc64', 's390x', 'riscv64'])(
      `${agent.name} on %s: a clear error before any download`,
      (arch) => {
        expect(() => agent.installSpec(agent.defaultVersion, arch)).toThrow(PlatformError)
        expect(() => agent.installSpec(agent.defaultVersion, arch)).toThrow(
          new RegExp(`${agent.name}: no Linux build for the CPU architecture "${arch}"`)
        )
      }
    )
  }

  it('gemini is one Node bundle for every CPU (it runs on the runner’s own Node)', async () => {
    const gemini = new GeminiProvider()
    const x64 = gemini.installSpec(gemini.defaultVersion)
    expect(x64.argv('/m')).toEqual(['/airlock/node', '/m/package/bundle/gemini.js'])
    const doc = await versionDoc(x64.packageName, x64.packageVersion)
    expect(list(doc.cpu)).toEqual([])
  })
})
