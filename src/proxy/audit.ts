/**
 * Tamper-evident audit log: one JSON object per line, each carrying the SHA-256 of the
 * entry before it, so any edit, insertion, deletion or reordering breaks the chain, and
 * the hash of the last entry (the `audit-head` output, kept outside the file) exposes a
 * truncated or wholesale-replaced log.
 *
 * Callers pass names, ids and counts only (grant names, hosts, placeholder names): the
 * log is uploaded as an artifact and data is written exactly as given, never a secret.
 */
import { createHash } from 'node:crypto'
import { closeSync, constants, fsyncSync, openSync, readSync, writeSync } from 'node:fs'
import { StringDecoder } from 'node:string_decoder'
import { AirlockError } from '../errors.js'

/** The audit log cannot be opened, written or read. */
export class AuditError extends AirlockError {}

/** One line of the audit log. */
export interface AuditEntry {
  /** Position in the log, from 0 without gaps. */
  seq: number
  /** ISO 8601 time the entry was appended. */
  time: string
  /** What happened: `start`, `grant`, `inject`, `block`, `refresh`, `stop`, … */
  type: string
  /** `hash` of the previous entry, or 64 zeros for the first. */
  prev: string
  /** Details of the event; names only, never secret values. */
  data: Record<string, unknown>
  /** {@link entryHash} of the other fields. */
  hash: string
}

/** Result of checking an audit log. */
export interface VerifyResult {
  ok: boolean
  /** Entries that verified (all of them when `ok`). */
  entries: number
  /** Hash of the last verified entry (64 zeros when none). */
  head: string
  /** Whether the last verified entry is a `stop`, i.e. the run ended the log cleanly. */
  closed: boolean
  /** The stop entry's record of network.jsonl (lines and SHA-256), when it has one. */
  network?: { lines: number; sha256: string }
  /** The failure the stop entry names (the proxy stopped serving), when it names one. */
  failure?: string
  /** The first problem found; `line` is 1-based. */
  error?: { line: number; reason: string }
}

/** `prev` of the first entry. */
export const GENESIS_HASH = '0'.repeat(64)
/** Entry type that marks a cleanly finished log. */
export const STOP_TYPE = 'stop'

const HASH_RE = /^[0-9a-f]{64}$/
const ISO_TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/
const ENTRY_FIELDS = ['seq', 'time', 'type', 'prev', 'data', 'hash'] as const

/**
 * SHA-256 (hex) of the canonical JSON of `{seq, time, type, prev, data}`: object keys
 * sorted recursively and no whitespace, in the spirit of RFC 8785 (JCS), so the hash does
 * not depend on how a line was formatted.
 */
export function entryHash(e: Omit<AuditEntry, 'hash'>): string {
  const body = { seq: e.seq, time: e.time, type: e.type, prev: e.prev, data: e.data }
  return createHash('sha256').update(canonicalJson(body), 'utf8').digest('hex')
}

/** The single writer of one audit log file. */
export class AuditLog {
  /** Run the log belongs to; recorded in the first entry as `data.runId`. */
  readonly runId: string | undefined
  readonly #file: string
  #fd: number | undefined
  #seq = 0
  #head = GENESIS_HASH
  /** Set when a write failed part-way: the file may hold a partial line, so stop. */
  #broken = false

  private constructor(file: string, fd: number, runId: string | undefined) {
    this.#file = file
    this.#fd = fd
    this.runId = runId
  }

  /**
   * Create `file` with mode 0600 and write nothing yet. Fails with
   * `AIRLOCK_AUDIT_EXISTS` if the file exists: a chain has exactly one writer, and
   * appending to someone else's log (or following a planted symlink) would break that.
   */
  static open(file: string, opts: { runId?: string } = {}): AuditLog {
    let fd: number
    try {
      // O_EXCL with O_CREAT also refuses to follow a symlink at `file`.
      fd = openSync(
        file,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_APPEND,
        0o600
      )
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EEXIST') {
        throw new AuditError('AIRLOCK_AUDIT_EXISTS', `audit log ${file} already exists`, {
          cause: err
        })
      }
      throw new AuditError(
        'AIRLOCK_AUDIT_OPEN',
        `cannot create audit log ${file}: ${(err as Error).message}`,
        { cause: err }
      )
    }
    return new AuditLog(file, fd, opts.runId)
  }

  /** Hash of the last entry written (64 zeros before any). */
  get head(): string {
    return this.#head
  }

  /**
   * Append one entry and return it. Synchronous so entries land in call order even when
   * called from concurrent request handlers. `data` must be JSON-serialisable; it is
   * stored as JSON would read it back (e.g. `undefined` members dropped, Dates as text).
   */
  append(type: string, data: Record<string, unknown>): AuditEntry {
    if (this.#fd === undefined) {
      throw new AuditError('AIRLOCK_AUDIT_CLOSED', `audit log ${this.#file} is closed`)
    }
    if (this.#broken) {
      throw new AuditError(
        'AIRLOCK_AUDIT_WRITE',
        `audit log ${this.#file} is unusable after a failed write`
      )
    }
    if (typeof type !== 'string' || type.length === 0) {
      throw new AuditError('AIRLOCK_AUDIT_BAD_ENTRY', 'audit entry type must be a non-empty string')
    }
    let stored = normaliseData(data)
    if (this.#seq === 0 && this.runId !== undefined && !('runId' in stored)) {
      stored = { runId: this.runId, ...stored }
    }
    const body = {
      seq: this.#seq,
      time: new Date().toISOString(),
      type,
      prev: this.#head,
      data: stored
    }
    const entry: AuditEntry = { ...body, hash: entryHash(body) }
    const line = Buffer.from(JSON.stringify(entry) + '\n', 'utf8')
    try {
      // writeSync may write fewer bytes than asked (e.g. on a full disk); loop until done.
      let offset = 0
      while (offset < line.length) {
        offset += writeSync(this.#fd, line, offset, line.length - offset)
      }
    } catch (err) {
      this.#broken = true
      throw new AuditError(
        'AIRLOCK_AUDIT_WRITE',
        `cannot write audit log ${this.#file}: ${(err as Error).message}`,
        { cause: err }
      )
    }
    this.#seq++
    this.#head = entry.hash
    return entry
  }

  /** Flush to disk and close. Idempotent. Append a `stop` entry first to mark a clean end. */
  close(): void {
    const fd = this.#fd
    if (fd === undefined) return
    this.#fd = undefined
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
  }
}

/**
 * Check a whole audit log. Detects modified entries (hash mismatch), inserted, deleted
 * or reordered entries (seq and prev), a partial last line, invalid JSON and missing or
 * unexpected fields; with `head` (the `audit-head` output) also a truncated or replaced log.
 */
export function verifyAuditLog(text: string, opts: { head?: string } = {}): VerifyResult {
  const chain = new ChainCheck()
  let tail = ''
  if (text.length > 0) {
    const lines = text.split('\n')
    // Every entry ends with '\n', so a complete log splits into lines plus one empty tail.
    tail = lines.pop() ?? ''
    for (const raw of lines) if (!chain.add(raw)) break
  }
  return chain.finish(tail, opts)
}

/** The longest audit entry read; the proxy writes none near it. */
const MAX_ENTRY_CHARS = 64 * 1024 * 1024

/** The chain checked one line at a time, so a log need not fit in one string. */
class ChainCheck {
  private head = GENESIS_HASH
  private entries = 0
  private closed = false
  private seal: VerifyResult['network']
  private failure: string | undefined
  private lines = 0
  private error: { line: number; reason: string } | undefined

  /** The next line (null: longer than the longest entry read). False once the chain broke. */
  add(raw: string | null): boolean {
    const line = ++this.lines
    const parsed =
      raw === null
        ? `line ${line}: longer than ${MAX_ENTRY_CHARS} characters`
        : parseEntry(raw, line)
    if (typeof parsed === 'string') return this.fail(line, parsed)
    if (parsed.seq !== this.entries)
      return this.fail(
        line,
        `line ${line}: seq is ${parsed.seq}, expected ${this.entries} (entry inserted, deleted or reordered)`
      )
    if (parsed.prev !== this.head)
      return this.fail(
        line,
        `line ${line}: prev does not match the hash of the previous entry (entry inserted, deleted or reordered)`
      )
    if (parsed.hash !== entryHash(parsed))
      return this.fail(line, `line ${line}: hash mismatch (entry modified)`)
    this.entries++
    this.head = parsed.hash
    this.closed = parsed.type === STOP_TYPE
    this.seal = this.closed ? networkSeal(parsed.data) : undefined
    const failure = this.closed ? parsed.data.failure : undefined
    this.failure = typeof failure === 'string' ? failure : undefined
    return true
  }

  /** The verdict, given what followed the last newline (a torn entry when not empty). */
  finish(tail: string, opts: { head?: string }): VerifyResult {
    if (!this.error && tail.length > 0) {
      const line = this.lines + 1
      this.fail(line, `line ${line}: incomplete last line (log truncated mid-entry)`)
    }
    if (!this.error && opts.head !== undefined && opts.head.trim().toLowerCase() !== this.head)
      this.fail(this.entries, 'head mismatch: log truncated or replaced')
    const { entries, head, closed } = this
    if (this.error) return { ok: false, entries, head, closed, error: this.error }
    return {
      ok: true,
      entries,
      head,
      closed,
      ...(this.seal ? { network: this.seal } : {}),
      ...(this.failure !== undefined ? { failure: this.failure } : {})
    }
  }

  private fail(line: number, reason: string): false {
    this.error ??= { line, reason }
    return false
  }
}

/**
 * Calls `onLine` with each line of a file, read a chunk at a time, and returns what follows
 * the last newline ('' when the file ends with one). A log can be longer than the longest
 * JavaScript string (~512 MiB): an agent reaches that with ~20,000 refused requests that each
 * carry a 30 KiB URL, and a reader that read the file whole then threw, leaving the run with
 * no audit head, no summary and no uploaded logs. A line longer than `maxLine` characters is
 * passed as null; `onLine` returning false stops the reading.
 */
export function forEachLine(
  file: string,
  onLine: (line: string | null) => boolean | void,
  maxLine = MAX_ENTRY_CHARS
): string {
  const decoder = new StringDecoder('utf8')
  // The line read so far; null once it is longer than maxLine (the rest is skipped).
  let partial: string | null = ''
  const feed = (text: string): boolean => {
    let start = 0
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      const line: string | null = partial === null ? null : partial + text.slice(start, nl)
      start = nl + 1
      partial = ''
      if (onLine(line !== null && line.length > maxLine ? null : line) === false) return false
    }
    if (partial !== null) partial += text.slice(start)
    if (partial !== null && partial.length > maxLine) partial = null
    return true
  }
  const read = forEachChunk(file, (chunk) => feed(decoder.write(chunk)))
  if (!read || !feed(decoder.end())) return ''
  // An overlong unfinished line is still an unfinished line.
  return partial ?? '\u0000'
}

function networkSeal(data: Record<string, unknown>): VerifyResult['network'] {
  const n = data.network as { lines?: unknown; sha256?: unknown } | undefined
  if (!n || typeof n !== 'object') return undefined
  const { lines, sha256 } = n
  if (!Number.isSafeInteger(lines) || typeof sha256 !== 'string' || !HASH_RE.test(sha256))
    return undefined
  return { lines: lines as number, sha256 }
}

/**
 * Calls `onChunk` with each chunk of a file, read 1 MiB at a time (the chunk is reused: copy
 * what must outlive the call); `onChunk` returning false stops the reading. True when the
 * file was read to its end.
 */
function forEachChunk(file: string, onChunk: (chunk: Buffer) => boolean | void): boolean {
  const fd = openSync(file, 'r')
  try {
    const buf = Buffer.alloc(1024 * 1024)
    for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf))
      if (onChunk(buf.subarray(0, n)) === false) return false
    return true
  } finally {
    closeSync(fd)
  }
}

/**
 * Whether network.jsonl is what the stop entry sealed; a reason when not. The file is the
 * run's alone, so any difference is an edit, a cut or an append after the run. Read a chunk
 * at a time: the agent decides how long the network log is, and past 2 GiB it is more than
 * one Buffer. Throws when it cannot be read.
 */
export function checkNetworkFile(
  file: string,
  seal: { lines: number; sha256: string }
): string | undefined {
  const hash = createHash('sha256')
  let lines = 0
  forEachChunk(file, (chunk) => {
    hash.update(chunk)
    for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) lines++
  })
  const sha256 = hash.digest('hex')
  if (sha256 === seal.sha256) return undefined
  return `it does not match the audit chain's record (${seal.lines} lines sealed, ${lines} found; SHA-256 ${sha256.slice(0, 12)}… instead of ${seal.sha256.slice(0, 12)}…): edited, cut or appended after the run`
}

/**
 * {@link verifyAuditLog} on a file. Throws `AIRLOCK_AUDIT_READ` when the file cannot be
 * read, since that says nothing about whether its content was tampered with.
 */
export function verifyAuditFile(file: string, opts: { head?: string } = {}): VerifyResult {
  const chain = new ChainCheck()
  let tail: string
  try {
    // Line by line: the log can be longer than one string (see forEachLine).
    tail = forEachLine(file, (raw) => chain.add(raw))
  } catch (err) {
    throw new AuditError(
      'AIRLOCK_AUDIT_READ',
      `cannot read audit log ${file}: ${(err as Error).message}`,
      { cause: err }
    )
  }
  return chain.finish(tail, opts)
}

/** Parse and shape-check one line; a string is the reason it is not a valid entry. */
function parseEntry(raw: string, line: number): AuditEntry | string {
  if (raw.trim().length === 0) return `line ${line}: empty line`
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    return `line ${line}: invalid JSON`
  }
  if (!isPlainObject(value)) return `line ${line}: not a JSON object`
  for (const field of ENTRY_FIELDS) {
    if (!(field in value)) return `line ${line}: missing field "${field}"`
  }
  // Fields outside the hash could be added or changed without detection, so none are allowed.
  const extra = Object.keys(value).find((k) => !(ENTRY_FIELDS as readonly string[]).includes(k))
  if (extra !== undefined) return `line ${line}: unexpected field ${JSON.stringify(extra)}`
  const { seq, time, type, prev, data, hash } = value
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) {
    return `line ${line}: seq must be a non-negative integer`
  }
  if (typeof time !== 'string' || !ISO_TIME_RE.test(time) || Number.isNaN(Date.parse(time))) {
    return `line ${line}: time must be an ISO 8601 UTC timestamp`
  }
  if (typeof type !== 'string' || type.length === 0) {
    return `line ${line}: type must be a non-empty string`
  }
  if (typeof prev !== 'string' || !HASH_RE.test(prev)) {
    return `line ${line}: prev must be 64 lowercase hex digits`
  }
  if (!isPlainObject(data)) return `line ${line}: data must be a JSON object`
  if (typeof hash !== 'string' || !HASH_RE.test(hash)) {
    return `line ${line}: hash must be 64 lowercase hex digits`
  }
  return { seq, time, type, prev, data, hash }
}

/**
 * Round-trip through JSON so the entry returned and hashed is exactly what a verifier
 * will parse back from the file (no `undefined`, no -0, Dates as strings).
 */
function normaliseData(data: Record<string, unknown>): Record<string, unknown> {
  let copy: unknown
  try {
    copy = JSON.parse(JSON.stringify(data)) as unknown
  } catch (err) {
    throw new AuditError(
      'AIRLOCK_AUDIT_BAD_ENTRY',
      `audit entry data is not JSON-serialisable: ${(err as Error).message}`,
      { cause: err }
    )
  }
  if (!isPlainObject(copy)) {
    throw new AuditError('AIRLOCK_AUDIT_BAD_ENTRY', 'audit entry data must be a plain object')
  }
  return copy
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** JSON with object keys sorted (UTF-16 code unit order, as RFC 8785 §3.2.3) at every depth. */
function canonicalJson(input: unknown): string {
  // Honour toJSON (Dates and the like) exactly as JSON.stringify would.
  const value: unknown =
    typeof input === 'object' &&
    input !== null &&
    typeof (input as { toJSON?: unknown }).toJSON === 'function'
      ? (input as { toJSON: () => unknown }).toJSON()
      : input
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (isPlainObject(value)) {
    const members = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`)
    return `{${members.join(',')}}`
  }
  // Primitives: JSON.stringify already gives the shortest round-trip number form
  // (RFC 8785 §3.2.2.3) and the escaped string. undefined inside arrays becomes null, as in JSON.
  return JSON.stringify(value) ?? 'null'
}
