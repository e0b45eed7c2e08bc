/**
 * network.jsonl: one line per request, written without a secret (headers redacted, values
 * scrubbed), through a writer that reports a failed write so the proxy can fail closed.
 */
import { createHash } from 'node:crypto'
import { createWriteStream, type WriteStream } from 'node:fs'
import { scrubText } from './scrub.js'

/** One line of network.jsonl. Headers are logged after redaction; never a secret. */
export interface NetworkEntry {
  time: string
  id: number
  method: string
  url: string
  status?: number
  /** Bytes of request body sent upstream and of response body returned. */
  bytesOut: number
  bytesIn: number
  durationMs: number
  grants?: string[]
  blocked?: string
  /** In audit mode: what block mode would have refused. */
  audited?: string
  error?: string
  requestHeaders?: Record<string, string>
  responseHeaders?: Record<string, string>
}

/** Request headers whose client values are credentials or placeholders of them. */
const SENSITIVE = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'x-goog-api-key',
  'api-key',
  'x-amz-security-token'
])

/**
 * Headers as they may be logged: injected ones as `[injected:<grant>]` (also when the client
 * sent no such header, so the log shows what the proxy added), credential-bearing ones as
 * `[redacted]`, and every known secret in any other value replaced by its placeholder.
 */
export function redactHeaders(
  headers: Record<string, string | string[] | undefined>,
  injected?: Map<string, string>,
  secrets: ReadonlyArray<[string, string]> = []
): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    const lower = name.toLowerCase()
    const grant = injected?.get(lower)
    if (grant !== undefined) out[lower] = `[injected:${grant || 'credential'}]`
    else if (SENSITIVE.has(lower)) out[lower] = '[redacted]'
    else out[lower] = scrubText(Array.isArray(value) ? value.join(', ') : value, secrets)
  }
  for (const [lower, grant] of injected ?? []) out[lower] ??= `[injected:${grant || 'credential'}]`
  return out
}

/**
 * What a closed log held: its lines and the SHA-256 of its bytes. The proxy records it in the
 * audit chain's stop entry, so the network log is tamper-evident too: the audit head vouches
 * for the stop entry, and the stop entry for every byte of network.jsonl.
 */
export interface LogSeal {
  lines: number
  sha256: string
}

/**
 * Appends JSON lines; a write failure turns `failed` on so the proxy can fail closed.
 * `onEntry` sees each entry as written (already redacted: it is what the file gets).
 */
export class JsonlWriter {
  private readonly stream: WriteStream
  private readonly digest = createHash('sha256')
  private lines = 0
  private seal: Promise<LogSeal> | undefined
  failed: Error | undefined
  private readonly onFail: (err: Error) => void
  private readonly onEntry: ((entry: object) => void) | undefined

  constructor(
    file: string,
    onFail: (err: Error) => void = () => {},
    onEntry?: (entry: object) => void
  ) {
    this.stream = createWriteStream(file, { flags: 'a', mode: 0o600 })
    this.onFail = onFail
    this.onEntry = onEntry
    this.stream.on('error', (err) => {
      if (this.failed) return
      this.failed = err
      this.onFail(err)
    })
  }

  write(entry: object): void {
    if (this.failed || this.seal) return
    const line = `${JSON.stringify(entry)}\n`
    this.stream.write(line)
    // Hashed as written (the file is this run's alone: its directory is), so the seal needs
    // no second read of the file.
    this.digest.update(line)
    this.lines++
    this.onEntry?.(entry)
  }

  /** Flushes and closes the file; what it holds then, for the audit chain. Idempotent. */
  close(): Promise<LogSeal> {
    this.seal ??= new Promise((resolve) => {
      const sealed = (): void => resolve({ lines: this.lines, sha256: this.digest.digest('hex') })
      if (this.stream.closed || this.stream.destroyed) return sealed()
      this.stream.end(sealed)
    })
    return this.seal
  }
}
