import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ensureTestImage, requireDocker, TEST_IMAGE } from '../support/docker.js'
import { ROOT } from '../support/runner.js'

const hasDocker = await requireDocker()

describe.skipIf(!hasDocker)('airlock demo (the README\'s "run it" command)', () => {
  it('injects the credential, blocks the exfiltration, has no route around the proxy, verifies the audit chain', async () => {
    await ensureTestImage()
    const r = spawnSync(
      process.execPath,
      [join(ROOT, 'dist/cli/index.js'), 'demo', '--image', TEST_IMAGE],
      { encoding: 'utf8', timeout: 120_000 }
    )
    const out = r.stdout + r.stderr
    expect(r.status, out).toBe(0)
    expect(out).toContain('DEMO_TOKEN is: airlock-placeholder-demo')
    expect(out).toContain('"ok":true')
    expect(out).toContain('CONNECT tunnel failed, response 403')
    expect(out).toMatch(/blocked CONNECT exfil\.example\.com:443 \(not-allowed\)/)
    expect(out).toMatch(/Could not resolve host|Couldn't connect|Failed to connect/)
    expect(out).toMatch(/audit chain: verified, \d+ entries/)
    expect(out).toMatch(/network log: [1-9]\d* lines, as the chain sealed them/)
    expect(out).not.toMatch(/demo_[0-9a-f]{32}/)
  })

  it('leaves nothing in the temp directory, and makes nothing world-writable while it runs', async () => {
    await ensureTestImage()
    const tmp = mkdtempSync(join(tmpdir(), 'airlock-demo-tmp-'))
    try {
      const r = spawnSync(
        process.execPath,
        [join(ROOT, 'dist/cli/index.js'), 'demo', '--image', TEST_IMAGE],
        { encoding: 'utf8', timeout: 120_000, env: { ...process.env, TMPDIR: tmp } }
      )
      expect(r.status, r.stdout + r.stderr).toBe(0)
      expect(r.stdout).toContain('--keep keeps them')
      expect(readdirSync(tmp)).toEqual([])
      const kept = spawnSync(
        process.execPath,
        [join(ROOT, 'dist/cli/index.js'), 'demo', '--image', TEST_IMAGE, '--keep'],
        { encoding: 'utf8', timeout: 120_000, env: { ...process.env, TMPDIR: tmp } }
      )
      expect(kept.status, kept.stdout + kept.stderr).toBe(0)
      const left = readdirSync(tmp)
      expect(left.length).toBeGreaterThan(0)
      for (const name of left) expect(statSync(join(tmp, name)).mode & 0o002, name).toBe(0)
    } finally {
      rmSync(tmp, { recursive: true, force: true })
    }
  })
})
