import { spawnSync } from 'node:child_process'
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
    expect(out).not.toMatch(/demo_[0-9a-f]{32}/)
  })
})
