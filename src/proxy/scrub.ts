/**
 * The scrubbers: every known secret replaced in what goes back to the sandbox — header
 * values and names, whole bodies, and byte streams whose chunks may split a secret. The
 * secret list (with the encodings an echo may take) comes from the injection table; the
 * WebSocket frame scrubber (ws-scrub.ts) uses these on each message.
 */

/** Lower-case forms per secret list, for header names (parsers lower-case them). */
const lowerOf = new WeakMap<ReadonlyArray<[string, string]>, string[]>()

/**
 * Whether a header name holds a secret. Names are compared in lower case: the client's
 * parser may fold them, and a name cannot carry a replacement (a placeholder may hold
 * characters a name may not), so such a header is dropped, not rewritten.
 */
export function nameHoldsSecret(name: string, secrets: ReadonlyArray<[string, string]>): boolean {
  if (name.length < 8) return false
  let lower = lowerOf.get(secrets)
  if (!lower) {
    lower = secrets.map(([s]) => s.toLowerCase())
    lowerOf.set(secrets, lower)
  }
  const n = name.toLowerCase()
  return lower.some((s) => n.includes(s))
}

/** Replaces every occurrence of each secret in text (used on header values and small bodies). */
export function scrubText(text: string, secrets: ReadonlyArray<[string, string]>): string {
  // Every header value and URL of every request comes through here: a text that holds no
  // sentinel holds no secret, and most hold none (see SecretBytes).
  if (!textMayHoldSecret(text, secrets)) return text
  let out = text
  for (const [secret, replacement] of secrets)
    if (out.includes(secret)) out = out.split(secret).join(replacement)
  return out
}

/** Text sentinels per secret list (as for bytes, below). */
const textSentinelsOf = new WeakMap<ReadonlyArray<[string, string]>, readonly string[]>()

function textMayHoldSecret(text: string, secrets: ReadonlyArray<[string, string]>): boolean {
  let sentinels = textSentinelsOf.get(secrets)
  if (!sentinels) {
    sentinels = minimal(secrets.map(([s]) => s))
    textSentinelsOf.set(secrets, sentinels)
  }
  for (const s of sentinels) if (text.includes(s)) return true
  return false
}

/**
 * The sentinels of a list of secrets: those that contain no other. Every secret contains one,
 * so what holds none holds no secret. Distinct secrets of equal length cannot contain one
 * another: only shorter ones count.
 */
function minimal<T extends string | Buffer>(secrets: readonly T[]): T[] {
  return secrets.filter(
    (s) => !secrets.some((o) => o.length < s.length && (s as string).includes(o as string))
  )
}

type ByteSecrets = ReadonlyArray<readonly [Buffer, Buffer]>

/**
 * A secret list in bytes, with its sentinels: the secrets that contain no other secret. Every
 * secret contains a sentinel, so a buffer holding no sentinel holds no secret, and the hot
 * path of a clean body searches for a few sentinels (often one: `Bearer x`, its encodings
 * and `x` all contain `x`) instead of every form.
 */
interface SecretBytes {
  pairs: ByteSecrets
  sentinels: readonly Buffer[]
}

/** Byte forms per secret list: secretList() returns one array until a secret changes. */
const bytesOf = new WeakMap<ReadonlyArray<[string, string]>, SecretBytes>()

function toBytes(secrets: ReadonlyArray<[string, string]>): SecretBytes {
  let bytes = bytesOf.get(secrets)
  if (!bytes) {
    const pairs = secrets.map(([s, r]) => [Buffer.from(s), Buffer.from(r)] as const)
    // In bytes, not from the text sentinels: a text cut inside a surrogate pair encodes to
    // bytes that its whole is not made of.
    bytes = { pairs, sentinels: minimal(pairs.map(([s]) => s)) }
    bytesOf.set(secrets, bytes)
  }
  return bytes
}

/** Whether buf may hold a secret: false only when no sentinel occurs in it at all. */
function mayHoldSecret(buf: Buffer, bytes: SecretBytes): boolean {
  for (const s of bytes.sentinels) if (buf.indexOf(s) >= 0) return true
  return false
}

/**
 * Replaces the secrets that start before `limit` in buf, leftmost first and, where two start
 * at the same place, the longest: the order a reader meets them. Returns the pieces to emit
 * and where the unprocessed rest of buf begins (a match may end past limit).
 */
function replaceBefore(
  buf: Buffer,
  secrets: ByteSecrets,
  limit: number
): { parts: Buffer[]; from: number } {
  const parts: Buffer[] = []
  let from = 0
  for (;;) {
    let at = -1
    let hit: readonly [Buffer, Buffer] | undefined
    for (const pair of secrets) {
      const p = buf.indexOf(pair[0], from)
      if (p < 0 || p >= limit) continue
      if (at < 0 || p < at || (p === at && pair[0].length > hit![0].length)) {
        at = p
        hit = pair
      }
    }
    if (!hit) return { parts, from }
    parts.push(buf.subarray(from, at), hit[1])
    from = at + hit[0].length
  }
}

/** Replaces every secret in a whole body; returns buf itself when none occurs (no copy). */
export function scrubBuffer(buf: Buffer, secrets: ReadonlyArray<[string, string]>): Buffer {
  const bytes = toBytes(secrets)
  if (!mayHoldSecret(buf, bytes)) return buf
  const { parts, from } = replaceBefore(buf, bytes.pairs, buf.length)
  parts.push(buf.subarray(from))
  return Buffer.concat(parts)
}

const EMPTY = Buffer.alloc(0)

/**
 * A streaming scrubber: replaces secrets in a byte stream chunk by chunk. It holds back
 * only a tail that could be the start of a secret split across chunks — never more — so
 * SSE events (which end in `\n\n`, the start of no secret) pass through at once. Where one
 * secret begins another, the held tail waits for the longer one, so no part of it leaks
 * as the shorter one's replacement.
 */
export class StreamScrubber {
  private pending = Buffer.alloc(0)
  private readonly bytes: SecretBytes
  private readonly secrets: ByteSecrets

  constructor(secrets: ReadonlyArray<[string, string]>) {
    this.bytes = toBytes(secrets)
    this.secrets = this.bytes.pairs
  }

  get active(): boolean {
    return this.secrets.length > 0
  }

  push(chunk: Buffer): Buffer {
    const buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk
    // The hot path of a clean stream: no secret anywhere in buf, so only a tail that could
    // begin one is held back, and a chunk with no such tail passes as it is (no copy).
    if (!mayHoldSecret(buf, this.bytes)) {
      const hold = buf.length - this.partialTail(buf)
      this.pending = hold < buf.length ? Buffer.from(buf.subarray(hold)) : EMPTY
      return hold === buf.length ? buf : buf.subarray(0, hold)
    }
    const parts: Buffer[] = []
    let rest = buf
    for (;;) {
      // From `hold` on, rest could still become a secret: only matches before it are final.
      const hold = rest.length - this.partialTail(rest)
      const done = replaceBefore(rest, this.secrets, hold)
      parts.push(...done.parts)
      if (done.from <= hold) {
        parts.push(rest.subarray(done.from, hold))
        this.pending = hold < rest.length ? Buffer.from(rest.subarray(hold)) : EMPTY
        break
      }
      // A match ran past hold and consumed the start of that tail: look again at what is left.
      rest = rest.subarray(done.from)
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts)
  }

  /** The held tail, scrubbed: at the end of the stream it can only be what it is. */
  flush(): Buffer {
    const rest = this.pending
    this.pending = EMPTY
    if (rest.length === 0) return rest
    const { parts, from } = replaceBefore(rest, this.secrets, rest.length)
    parts.push(rest.subarray(from))
    return Buffer.concat(parts)
  }

  /** Length of the longest suffix of buf that is a proper prefix of some secret. */
  private partialTail(buf: Buffer): number {
    let longest = 0
    for (const [secret] of this.secrets) {
      // Only positions holding the secret's first byte can start a partial match.
      const first = secret[0]!
      for (let i = Math.max(0, buf.length - secret.length + 1); i < buf.length; i++) {
        const n = buf.length - i
        if (n <= longest) break
        if (buf[i] === first && buf.compare(secret, 0, n, i, buf.length) === 0) {
          longest = n
          break
        }
      }
    }
    return longest
  }
}
