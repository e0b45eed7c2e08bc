/**
 * The content and transfer codings of upstream answers, undone before scrubbing: the scrubber
 * must see plain bytes, and a coding it cannot undo is refused rather than passed through.
 */
import { Transform } from 'node:stream'
import zlib from 'node:zlib'
import { AirlockError } from '../errors.js'
import type { Headers } from './inject.js'

/** The upstream used a content or transfer coding the scrubber cannot see through. */
export class UpstreamEncodingError extends AirlockError {
  constructor(encoding: string) {
    super('AIRLOCK_UNSUPPORTED_ENCODING', `unsupported coding "${encoding}"`)
  }
}

/** Codings the proxy can undo, by name; a body in any other coding is refused. */
export const DECODERS: Record<string, () => Transform> = {
  gzip: () => zlib.createGunzip(),
  'x-gzip': () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
  br: () => zlib.createBrotliDecompress()
}

export function codingList(value: string | string[] | undefined): string[] {
  if (value === undefined) return []
  return (Array.isArray(value) ? value.join(',') : value)
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity')
}

/**
 * The codings to undo, in order, before a body is plain bytes the scrubber can read: the
 * transfer codings (the parser has already removed a final `chunked`) and then the content
 * codings, each list last-applied first (RFC 9112 §6.1, RFC 9110 §8.4). Throws for a
 * coding the proxy cannot undo (`zstd`, `compress`, a `chunked` that is not last): passing
 * it would pass whatever it hides.
 */
export function bodyCodings(headers: Headers): string[] {
  const transfer = codingList(headers['transfer-encoding'])
  if (transfer.at(-1) === 'chunked') transfer.pop()
  const codings = [...codingList(headers['content-encoding']), ...transfer].reverse()
  for (const c of codings) if (!Object.hasOwn(DECODERS, c)) throw new UpstreamEncodingError(c)
  return codings
}

export function decoder(coding: string): Transform {
  return DECODERS[coding]!()
}

export function decodeSync(coding: string, body: Buffer): Buffer {
  if (coding === 'gzip' || coding === 'x-gzip') return zlib.gunzipSync(body)
  if (coding === 'deflate') return zlib.inflateSync(body)
  if (coding === 'br') return zlib.brotliDecompressSync(body)
  throw new UpstreamEncodingError(coding)
}
