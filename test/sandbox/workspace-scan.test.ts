import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  DEFAULT_SCAN_LIMITS,
  scanWorkspace,
  secretNeedles
} from '../../src/sandbox/workspace-scan.js'

const SECRET = 'ghs_ScanSentinel0123456789abcdefXYZ'
const needles = secretNeedles([{ label: 'github-token', value: SECRET }])

function ws(): string {
  return mkdtempSync(join(tmpdir(), 'airlock-scan-'))
}

describe('scanWorkspace', () => {
  it('finds the secret and its git Basic / base64 forms, naming the file and not the value', () => {
    const root = ws()
    mkdirSync(join(root, 'a', 'b'), { recursive: true })
    writeFileSync(join(root, 'a', 'b', 'raw.txt'), `x ${SECRET} y`)
    const basic = Buffer.from(`x-access-token:${SECRET}`).toString('base64')
    writeFileSync(join(root, 'creds'), `AUTHORIZATION: basic ${basic}\n`)
    writeFileSync(join(root, 'b64'), Buffer.from(`${SECRET}:x-oauth-basic`).toString('base64'))
    writeFileSync(join(root, 'clean.txt'), 'nothing here')
    const r = scanWorkspace(root, needles)
    expect(r.hits.map((h) => h.path).sort()).toEqual(['a/b/raw.txt', 'b64', 'creds'])
    expect(JSON.stringify(r)).not.toContain(SECRET)
    expect(r.incomplete).toBeUndefined()
  })

  it('finds a secret that straddles two read chunks', () => {
    const root = ws()
    const pad = Buffer.alloc(1024 * 1024 - 5, 'a')
    writeFileSync(join(root, 'big'), Buffer.concat([pad, Buffer.from(SECRET)]))
    expect(scanWorkspace(root, needles).hits.map((h) => h.path)).toEqual(['big'])
  })

  it('never follows links, never opens FIFOs, survives loops, caps huge sparse files', () => {
    const root = ws()
    const outside = join(ws(), 'secret')
    writeFileSync(outside, SECRET)
    symlinkSync(outside, join(root, 'link-to-secret'))
    symlinkSync('/proc/self/environ', join(root, 'environ'))
    symlinkSync(root, join(root, 'loop'))
    symlinkSync('.', join(root, 'dot'))
    execFileSync('mkfifo', [join(root, 'fifo')])
    // 100 GiB of holes: reading it would take minutes; it is listed, not read.
    writeFileSync(join(root, 'sparse'), '')
    truncateSync(join(root, 'sparse'), 100 * 1024 ** 3)
    const r = scanWorkspace(root, needles)
    expect(r.hits).toEqual([])
    expect(r.skippedLarge).toEqual(['sparse'])
    expect(r.incomplete).toBeUndefined()
  })

  it('stops at its limits and says so (a huge tree cannot hold the step forever)', () => {
    const root = ws()
    for (let i = 0; i < 50; i++) writeFileSync(join(root, `f${i}`), 'x')
    const r = scanWorkspace(root, needles, { ...DEFAULT_SCAN_LIMITS, maxEntries: 10 })
    expect(r.incomplete).toMatch(/more than 10 entries/)
    const bytes = scanWorkspace(root, needles, { ...DEFAULT_SCAN_LIMITS, maxTotalBytes: 5 })
    expect(bytes.incomplete).toMatch(/bytes/)
  })

  it('lists git configs and gitlinks for the credential hiding instead of reading them', () => {
    const root = ws()
    mkdirSync(join(root, '.git', 'modules', 'sub'), { recursive: true })
    writeFileSync(join(root, '.git', 'config'), SECRET)
    writeFileSync(join(root, '.git', 'modules', 'sub', 'config'), SECRET)
    mkdirSync(join(root, 'sub'))
    writeFileSync(join(root, 'sub', '.git'), 'gitdir: ../.git/modules/sub\n')
    const r = scanWorkspace(root, needles)
    expect(r.gitConfigs.sort()).toEqual(['.git/config', '.git/modules/sub/config'])
    expect(r.gitFiles).toEqual(['sub/.git'])
    expect(r.hits).toEqual([])
  })
})
