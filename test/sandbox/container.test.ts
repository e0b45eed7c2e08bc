import { describe, expect, it } from 'vitest'
import { dockerRunFailure, memoryLimit, mountSpec } from '../../src/sandbox/container.js'
import { docker } from '../../src/sandbox/docker.js'
import { requireDocker, TEST_IMAGE } from '../support/docker.js'

const hasDocker = await requireDocker()

/** Docker's reading of a --mount value: one CSV record (encoding/csv), then key=value fields. */
function dockerFields(value: string): string[] {
  const out: string[] = []
  let cur = ''
  let quoted = false
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!
    if (quoted && ch === '"' && value[i + 1] === '"') {
      cur += '"'
      i++
    } else if (quoted && ch === '"') {
      quoted = false
    } else if (quoted) {
      cur += ch
    } else if (ch === '"' && cur === '') {
      quoted = true
    } else if (ch === ',') {
      out.push(cur)
      cur = ''
    } else {
      cur += ch
    }
  }
  out.push(cur)
  return out
}

describe('mountSpec', () => {
  it('keeps a path holding commas, quotes and newlines one field', () => {
    const target = '/workspace/.git/modules/x,source=/etc,target=/pwned/"q"\n/config'
    const fields = dockerFields(mountSpec({ source: '/priv/0.config', target, readOnly: true }))
    expect(fields).toEqual(['type=bind', 'source=/priv/0.config', `target=${target}`, 'readonly'])
  })

  it('leaves ordinary paths as they were', () => {
    expect(mountSpec({ source: '/a/b', target: '/workspace' })).toBe(
      'type=bind,source=/a/b,target=/workspace'
    )
  })
})

describe('dockerRunFailure', () => {
  it.skipIf(!hasDocker)(
    "shows docker's own message when docker run itself fails (125)",
    async () => {
      // A real refusal: a bind source the daemon does not have.
      const r = await docker([
        'run',
        '--rm',
        '--network',
        'none',
        '--mount',
        'type=bind,source=/nonexistent-airlock-source,target=/x',
        TEST_IMAGE,
        'true'
      ])
      expect(r.code).toBe(125)
      const why = dockerRunFailure(r.code, r.stderr)
      expect(why).toContain(
        'docker could not start the sandbox (exit 125; the command did not run)'
      )
      expect(why).toContain('bind source path does not exist: /nonexistent-airlock-source')
    }
  )

  it("leaves the command's own exit codes alone", () => {
    expect(dockerRunFailure(1, 'docker: Error response from daemon: x')).toBeUndefined()
    expect(dockerRunFailure(125, 'the command printed this and exited 125\n')).toBeUndefined()
    expect(dockerRunFailure(125, 'airlock-init: forwarder: listen EADDRINUSE\n')).toContain(
      'forwarder: listen EADDRINUSE'
    )
  })
})

describe('memoryLimit', () => {
  const GiB = 1024 ** 3
  it('leaves the host a tenth of its memory, at least 512 MiB, when the daemon can limit', () => {
    expect(memoryLimit({ MemoryLimit: true, MemTotal: 20 * GiB })).toBe(18 * GiB)
    expect(memoryLimit({ MemoryLimit: true, MemTotal: 4 * GiB })).toBe(4 * GiB - 512 * 1024 ** 2)
  })
  it('sets none when the daemon cannot enforce it, does not say, or the host is too small', () => {
    expect(memoryLimit({ MemoryLimit: false, MemTotal: 20 * GiB })).toBeUndefined()
    expect(memoryLimit({ MemTotal: 20 * GiB })).toBeUndefined()
    expect(memoryLimit({ MemoryLimit: true })).toBeUndefined()
    expect(memoryLimit({ MemoryLimit: true, MemTotal: 1.4 * GiB })).toBeUndefined()
  })
})
