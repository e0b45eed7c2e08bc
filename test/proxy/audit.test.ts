import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import {
  AuditError,
  AuditLog,
  checkNetworkFile,
  GENESIS_HASH,
  entryHash,
  forEachLine,
  verifyAuditFile,
  verifyAuditLog,
  type AuditEntry
} from '../../src/proxy/audit.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-audit-'))
})
afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

/** A finished five-entry log; returns its text, lines and head. */
function sampleLog(): { file: string; text: string; lines: string[]; head: string } {
  const file = join(dir, 'audit.jsonl')
  const log = AuditLog.open(file, { runId: 'run-1' })
  log.append('start', { version: '0.1.0' })
  log.append('grant', { provider: 'github', hosts: ['api.github.com'] })
  log.append('inject', { host: 'api.github.com', credential: 'GITHUB_TOKEN' })
  log.append('block', { host: 'evil.example', reason: 'not in allowlist' })
  log.append('stop', { blocked: 1 })
  const head = log.head
  log.close()
  const text = readFileSync(file, 'utf8')
  return { file, text, lines: text.split('\n').slice(0, -1), head }
}

const join1 = (lines: string[]): string => lines.map((l) => l + '\n').join('')

describe('AuditLog', () => {
  it('writes a chain that verifies, with head matching the writer', () => {
    const { text, lines, head } = sampleLog()
    expect(lines).toHaveLength(5)
    const entries = lines.map((l) => JSON.parse(l) as AuditEntry)
    expect(entries.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4])
    expect(entries[0]!.prev).toBe(GENESIS_HASH)
    for (let i = 1; i < entries.length; i++) expect(entries[i]!.prev).toBe(entries[i - 1]!.hash)
    expect(entries[4]!.hash).toBe(head)
    expect(entries[0]!.data).toEqual({ runId: 'run-1', version: '0.1.0' })
    expect(Date.parse(entries[0]!.time)).not.toBeNaN()

    expect(verifyAuditLog(text)).toEqual({ ok: true, entries: 5, head, closed: true })
    expect(verifyAuditLog(text, { head })).toEqual({ ok: true, entries: 5, head, closed: true })
    expect(verifyAuditLog(text, { head: head.toUpperCase() }).ok).toBe(true)
  })

  it('returns the entry it wrote, in call order', () => {
    const file = join(dir, 'a.jsonl')
    const log = AuditLog.open(file)
    expect(log.head).toBe(GENESIS_HASH)
    const first = log.append('start', {})
    const second = log.append('refresh', { grant: 'aws' })
    expect(log.head).toBe(second.hash)
    expect(second.prev).toBe(first.hash)
    log.close()
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n')
    expect(JSON.parse(lines[0]!)).toEqual(first)
    expect(JSON.parse(lines[1]!)).toEqual(second)
    // No run id given: the data is written as passed.
    expect(first.data).toEqual({})
  })

  it('creates the file with mode 0600 and writes nothing on open', () => {
    const file = join(dir, 'audit.jsonl')
    const log = AuditLog.open(file)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(readFileSync(file, 'utf8')).toBe('')
    log.close()
  })

  it('refuses to open an existing file, leaving it untouched', () => {
    const file = join(dir, 'audit.jsonl')
    writeFileSync(file, 'someone else\n')
    expect(() => AuditLog.open(file)).toThrow(AuditError)
    expect(() => AuditLog.open(file)).toThrow(
      expect.objectContaining({ code: 'AIRLOCK_AUDIT_EXISTS' })
    )
    expect(readFileSync(file, 'utf8')).toBe('someone else\n')
  })

  it('refuses to follow a symlink planted at the path', () => {
    const target = join(dir, 'target')
    const link = join(dir, 'audit.jsonl')
    symlinkSync(target, link)
    expect(() => AuditLog.open(link)).toThrow(
      expect.objectContaining({ code: 'AIRLOCK_AUDIT_EXISTS' })
    )
  })

  it('fails with AIRLOCK_AUDIT_OPEN when the directory does not exist', () => {
    expect(() => AuditLog.open(join(dir, 'missing', 'audit.jsonl'))).toThrow(
      expect.objectContaining({ code: 'AIRLOCK_AUDIT_OPEN' })
    )
  })

  it('refuses appends after close and bad entries', () => {
    const log = AuditLog.open(join(dir, 'audit.jsonl'))
    expect(() => log.append('', {})).toThrow(
      expect.objectContaining({ code: 'AIRLOCK_AUDIT_BAD_ENTRY' })
    )
    expect(() => log.append('x', { n: 1n })).toThrow(
      expect.objectContaining({ code: 'AIRLOCK_AUDIT_BAD_ENTRY' })
    )
    // A refused entry does not advance the chain.
    expect(log.append('start', {}).seq).toBe(0)
    log.close()
    log.close()
    expect(() => log.append('stop', {})).toThrow(
      expect.objectContaining({ code: 'AIRLOCK_AUDIT_CLOSED' })
    )
  })

  it('stores data as JSON reads it back, so the returned entry verifies', () => {
    const file = join(dir, 'audit.jsonl')
    const log = AuditLog.open(file)
    const entry = log.append('grant', {
      at: new Date('2024-01-02T03:04:05.000Z'),
      gone: undefined,
      nested: { z: 1, a: [1, undefined] }
    })
    log.close()
    expect(entry.data).toEqual({ at: '2024-01-02T03:04:05.000Z', nested: { z: 1, a: [1, null] } })
    expect(entry.hash).toBe(entryHash(entry))
    expect(verifyAuditFile(file)).toMatchObject({ ok: true, entries: 1, closed: false })
  })
})

describe('entryHash', () => {
  const base = { seq: 0, time: '2024-01-01T00:00:00.000Z', type: 't', prev: GENESIS_HASH }

  it('hashes the canonical JSON: sorted keys at every depth, no whitespace', () => {
    const canonical =
      '{"data":{"a":1,"b":{"c":[1,"x"],"d":null}},"prev":"' +
      GENESIS_HASH +
      '","seq":0,"time":"2024-01-01T00:00:00.000Z","type":"t"}'
    const expected = createHash('sha256').update(canonical).digest('hex')
    expect(entryHash({ ...base, data: { b: { d: null, c: [1, 'x'] }, a: 1 } })).toBe(expected)
    expect(entryHash({ ...base, data: { a: 1, b: { c: [1, 'x'], d: null } } })).toBe(expected)
  })

  it('changes with any field', () => {
    const h = entryHash({ ...base, data: { a: 1 } })
    expect(entryHash({ ...base, data: { a: 2 } })).not.toBe(h)
    expect(entryHash({ ...base, seq: 1, data: { a: 1 } })).not.toBe(h)
    expect(entryHash({ ...base, type: 'u', data: { a: 1 } })).not.toBe(h)
    expect(entryHash({ ...base, prev: 'f'.repeat(64), data: { a: 1 } })).not.toBe(h)
    expect(entryHash({ ...base, time: '2024-01-01T00:00:01.000Z', data: { a: 1 } })).not.toBe(h)
  })
})

describe('verifyAuditLog', () => {
  it('detects a modified field', () => {
    const { lines } = sampleLog()
    lines[2] = lines[2]!.replace('GITHUB_TOKEN', 'NPM_TOKEN')
    const r = verifyAuditLog(join1(lines))
    expect(r.ok).toBe(false)
    expect(r.error).toEqual({ line: 3, reason: 'line 3: hash mismatch (entry modified)' })
    expect(r.entries).toBe(2)
  })

  it('detects a modified entry whose own hash was recomputed, at the next line', () => {
    const { lines } = sampleLog()
    const e = JSON.parse(lines[1]!) as AuditEntry
    e.data = { provider: 'github', hosts: ['api.github.com', 'evil.example'] }
    e.hash = entryHash(e)
    lines[1] = JSON.stringify(e)
    const r = verifyAuditLog(join1(lines))
    expect(r.ok).toBe(false)
    expect(r.error?.line).toBe(3)
    expect(r.error?.reason).toMatch(/^line 3: prev does not match/)
  })

  it('detects an inserted line that carries a valid hash of its own', () => {
    const { lines } = sampleLog()
    const after = JSON.parse(lines[1]!) as AuditEntry
    const forged: Omit<AuditEntry, 'hash'> = {
      seq: 2,
      time: new Date().toISOString(),
      type: 'grant',
      prev: after.hash,
      data: { provider: 'aws' }
    }
    lines.splice(2, 0, JSON.stringify({ ...forged, hash: entryHash(forged) }))
    const r = verifyAuditLog(join1(lines))
    expect(r.ok).toBe(false)
    // The forgery itself chains; the original entry after it no longer does.
    expect(r.entries).toBe(3)
    expect(r.error?.line).toBe(4)
    expect(r.error?.reason).toBe(
      'line 4: seq is 2, expected 3 (entry inserted, deleted or reordered)'
    )
  })

  it('detects a deleted middle entry', () => {
    const { lines } = sampleLog()
    lines.splice(2, 1)
    const r = verifyAuditLog(join1(lines))
    expect(r.ok).toBe(false)
    expect(r.error?.line).toBe(3)
    expect(r.error?.reason).toMatch(/seq is 3, expected 2/)
  })

  it('detects a deleted last entry only with the head, and reports the log as not closed', () => {
    const { lines, head } = sampleLog()
    const text = join1(lines.slice(0, -1))
    // The remaining chain is intact on its own...
    expect(verifyAuditLog(text)).toMatchObject({ ok: true, entries: 4, closed: false })
    // ...but no longer ends at the published head.
    const r = verifyAuditLog(text, { head })
    expect(r.ok).toBe(false)
    expect(r.closed).toBe(false)
    expect(r.error).toEqual({ line: 4, reason: 'head mismatch: log truncated or replaced' })
  })

  it('detects a log replaced by another valid chain via the head', () => {
    const { head } = sampleLog()
    const other = join(dir, 'other.jsonl')
    const log = AuditLog.open(other)
    log.append('start', {})
    log.append('stop', {})
    log.close()
    expect(verifyAuditFile(other).ok).toBe(true)
    expect(verifyAuditFile(other, { head }).error?.reason).toBe(
      'head mismatch: log truncated or replaced'
    )
  })

  it('detects two swapped entries', () => {
    const { lines } = sampleLog()
    ;[lines[1], lines[2]] = [lines[2]!, lines[1]!]
    const r = verifyAuditLog(join1(lines))
    expect(r.ok).toBe(false)
    expect(r.error?.line).toBe(2)
    expect(r.error?.reason).toMatch(/seq is 2, expected 1/)
  })

  it('detects a file truncated mid-line', () => {
    const { text } = sampleLog()
    const cut = text.slice(0, text.length - 20)
    const r = verifyAuditLog(cut)
    expect(r.ok).toBe(false)
    expect(r.entries).toBe(4)
    expect(r.error).toEqual({
      line: 5,
      reason: 'line 5: incomplete last line (log truncated mid-entry)'
    })
  })

  it('treats a complete last entry without its newline as truncated', () => {
    const { text } = sampleLog()
    expect(verifyAuditLog(text.slice(0, -1)).error?.line).toBe(5)
  })

  it('reports invalid JSON, missing and unexpected fields, and empty lines by line number', () => {
    const { lines } = sampleLog()
    const at = (i: number, replacement: string): VerifyError => {
      const copy = [...lines]
      copy[i] = replacement
      return verifyAuditLog(join1(copy)).error
    }
    type VerifyError = ReturnType<typeof verifyAuditLog>['error']

    expect(at(1, '{"seq":1,')).toEqual({ line: 2, reason: 'line 2: invalid JSON' })
    expect(at(1, '[1,2]')).toEqual({ line: 2, reason: 'line 2: not a JSON object' })
    expect(at(1, '')).toEqual({ line: 2, reason: 'line 2: empty line' })

    const e = JSON.parse(lines[1]!) as Record<string, unknown>
    const without = { ...e }
    delete without.prev
    expect(at(1, JSON.stringify(without))).toEqual({
      line: 2,
      reason: 'line 2: missing field "prev"'
    })
    expect(at(1, JSON.stringify({ ...e, note: 'hi' }))).toEqual({
      line: 2,
      reason: 'line 2: unexpected field "note"'
    })
    expect(at(1, JSON.stringify({ ...e, seq: '1' }))?.reason).toMatch(/seq must be/)
    expect(at(1, JSON.stringify({ ...e, time: 'yesterday' }))?.reason).toMatch(/time must be/)
    expect(at(1, JSON.stringify({ ...e, data: [] }))?.reason).toMatch(/data must be/)
    expect(at(1, JSON.stringify({ ...e, hash: 'abc' }))?.reason).toMatch(/hash must be/)
  })

  it('accepts a line re-serialised with other key order and spacing (same content)', () => {
    const { lines, head } = sampleLog()
    const e = JSON.parse(lines[1]!) as AuditEntry
    lines[1] = JSON.stringify(
      { hash: e.hash, data: e.data, type: e.type, time: e.time, prev: e.prev, seq: e.seq },
      null,
      0
    ).replace(/,/g, ', ')
    expect(verifyAuditLog(join1(lines), { head }).ok).toBe(true)
  })

  it('verifies an empty log, which is not closed', () => {
    expect(verifyAuditLog('')).toEqual({ ok: true, entries: 0, head: GENESIS_HASH, closed: false })
    expect(verifyAuditLog('', { head: 'a'.repeat(64) }).error?.reason).toBe(
      'head mismatch: log truncated or replaced'
    )
  })

  it('verifies a file and throws AIRLOCK_AUDIT_READ for a missing one', () => {
    const { file, head } = sampleLog()
    expect(verifyAuditFile(file, { head })).toEqual({ ok: true, entries: 5, head, closed: true })
    expect(() => verifyAuditFile(join(dir, 'nope.jsonl'))).toThrow(
      expect.objectContaining({ code: 'AIRLOCK_AUDIT_READ' })
    )
  })
})

describe('forEachLine', () => {
  it('reads lines across chunks (multi-byte characters split), overlong ones as null, and the tail', () => {
    const lines = mkdtempSync(join(tmpdir(), 'airlock-lines-'))
    try {
      const file = join(lines, 'log')
      // A line of 1 MiB + 1 of 'é' (two bytes each) crosses the 1 MiB read chunks mid-character.
      const long = 'é'.repeat(512 * 1024 + 1)
      writeFileSync(file, `a\n${long}\n${'x'.repeat(100)}\nb\ntorn`)
      const seen: Array<string | null> = []
      const tail = forEachLine(file, (l) => void seen.push(l), 1000)
      expect(seen).toEqual(['a', null, 'x'.repeat(100), 'b'])
      expect(tail).toBe('torn')
      const all: Array<string | null> = []
      expect(forEachLine(file, (l) => void all.push(l))).toBe('torn')
      expect(all[1]).toBe(long)
      // Stopped early: nothing more is read.
      const first: Array<string | null> = []
      forEachLine(file, (l) => (first.push(l), false))
      expect(first).toEqual(['a'])
    } finally {
      rmSync(lines, { recursive: true, force: true })
    }
  })
})

describe('checkNetworkFile', () => {
  it('checks a network log of several read chunks as a hash of its whole bytes would', () => {
    const d = mkdtempSync(join(tmpdir(), 'airlock-netlog-'))
    try {
      const file = join(d, 'network.jsonl')
      // 3 MiB of lines: the file is read 1 MiB at a time, lines cross the chunks.
      const line = `${JSON.stringify({ url: 'https://api.github.com/'.padEnd(700, 'x') })}\n`
      const content = Buffer.from(line.repeat(Math.ceil((3 * 1024 * 1024) / line.length)))
      writeFileSync(file, content)
      const lines = content.toString('latin1').split('\n').length - 1
      const seal = { lines, sha256: createHash('sha256').update(content).digest('hex') }
      expect(checkNetworkFile(file, seal)).toBeUndefined()
      // One line cut off the end: both say so, with the same counts.
      const cut = content.subarray(0, content.length - line.length)
      writeFileSync(file, cut)
      const wrong = checkNetworkFile(file, seal)
      expect(wrong).toContain(`${lines} lines sealed, ${lines - 1} found`)
      const cutHash = createHash('sha256').update(cut).digest('hex')
      expect(wrong).toContain(
        `SHA-256 ${cutHash.slice(0, 12)}… instead of ${seal.sha256.slice(0, 12)}…`
      )
    } finally {
      rmSync(d, { recursive: true, force: true })
    }
  })
})
