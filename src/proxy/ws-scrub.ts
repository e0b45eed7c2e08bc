import { Transform, type TransformCallback } from 'node:stream'
import { scrubText } from './inject.js'

/**
 * Scrubs known secrets from the data frames a WebSocket server sends (RFC 6455 §5.2).
 * Frames are parsed, their payloads scrubbed and re-framed with the new length; control
 * frames pass as they are. Server frames are never masked. The upgrade request is sent
 * without `Sec-WebSocket-Extensions`, so no frame is compressed (permessage-deflate would
 * hide a secret from the scrubber).
 */
export class WsFrameScrubber extends Transform {
  private pending = Buffer.alloc(0)

  constructor(private readonly secrets: ReadonlyArray<[string, string]>) {
    super()
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk
    const out: Buffer[] = []
    for (;;) {
      const frame = parseFrame(buf)
      if (!frame) break
      const opcode = buf[0]! & 0x0f
      const payload = buf.subarray(frame.payloadStart, frame.end)
      // Text, binary and continuation frames carry data; 0x8–0xF are control frames.
      if (opcode <= 0x2 && !frame.masked && this.secrets.length > 0) {
        const scrubbed = Buffer.from(scrubText(payload.toString('latin1'), this.secrets), 'latin1')
        out.push(frameHeader(buf[0]!, scrubbed.length), scrubbed)
      } else {
        out.push(buf.subarray(0, frame.end))
      }
      buf = buf.subarray(frame.end)
    }
    this.pending = Buffer.from(buf)
    cb(null, out.length > 0 ? Buffer.concat(out) : undefined)
  }

  override _flush(cb: TransformCallback): void {
    cb(null, this.pending.length > 0 ? this.pending : undefined)
  }
}

function parseFrame(
  buf: Buffer
): { payloadStart: number; end: number; masked: boolean } | undefined {
  if (buf.length < 2) return undefined
  const masked = (buf[1]! & 0x80) !== 0
  let len = buf[1]! & 0x7f
  let at = 2
  if (len === 126) {
    if (buf.length < 4) return undefined
    len = buf.readUInt16BE(2)
    at = 4
  } else if (len === 127) {
    if (buf.length < 10) return undefined
    len = Number(buf.readBigUInt64BE(2))
    at = 10
  }
  if (masked) at += 4
  if (buf.length < at + len) return undefined
  return { payloadStart: at, end: at + len, masked }
}

function frameHeader(byte0: number, length: number): Buffer {
  if (length < 126) return Buffer.from([byte0, length])
  if (length < 65536) {
    const h = Buffer.alloc(4)
    h[0] = byte0
    h[1] = 126
    h.writeUInt16BE(length, 2)
    return h
  }
  const h = Buffer.alloc(10)
  h[0] = byte0
  h[1] = 127
  h.writeBigUInt64BE(BigInt(length), 2)
  return h
}
