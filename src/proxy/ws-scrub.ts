/**
 * The WebSocket frame scrubber: reads the frames an upstream sends after a 101 and replaces
 * known secrets per message across fragments, refusing framing it cannot read.
 */
import { Transform, type TransformCallback } from 'node:stream'
import { scrubBuffer, StreamScrubber } from './scrub.js'
import { AirlockError } from '../errors.js'

/** The upstream broke the WebSocket framing rules the scrubber relies on. */
export class WsProtocolError extends AirlockError {
  constructor(message: string) {
    super('AIRLOCK_WS_PROTOCOL', message)
  }
}

/** A control frame's payload may not exceed this (RFC 6455 §5.5). */
const CONTROL_MAX = 125

interface Frame {
  fin: boolean
  opcode: number
  /** Payload bytes still to come. */
  remaining: number
  /** Control frames are collected whole (at most 125 bytes) and scrubbed as one. */
  control?: Buffer[]
}

interface Message {
  opcode: number
  /** Whether a frame of this message has gone out (the rest go as continuations). */
  started: boolean
  scrubber: StreamScrubber
}

/**
 * Scrubs known secrets from what a WebSocket server sends (RFC 6455 §5). Secrets are
 * replaced per MESSAGE, not per frame: a message's payload runs through one
 * {@link StreamScrubber} across its continuation frames (and any control frames between
 * them), which holds back only the tail that could still become a secret, exactly as the
 * HTTP body scrubber does. Frames are re-fragmented on the way (each piece goes out as soon
 * as it is known clean, RFC 6455 §5.4 lets an intermediary do that when no extension is in
 * use), so a large frame is never buffered whole. Ping, pong and close payloads (the close
 * reason) are scrubbed too.
 *
 * The upgrade is sent without `Sec-WebSocket-Extensions`, so every frame must be plain: a
 * frame with an RSV bit (permessage-deflate), a masked frame, an unknown opcode or broken
 * fragmentation is an error, and the connection is closed rather than passed on, because
 * the scrubber could not read it.
 */
export class WsFrameScrubber extends Transform {
  /** Header bytes of a frame that has not fully arrived (at most 14). */
  private head = Buffer.alloc(0)
  private frame: Frame | undefined
  private message: Message | undefined
  private readonly active: boolean

  constructor(private readonly secrets: ReadonlyArray<[string, string]>) {
    super()
    this.active = secrets.length > 0
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (!this.active) return cb(null, chunk)
    const out: Buffer[] = []
    try {
      this.consume(chunk, out)
    } catch (err) {
      return cb(err as Error)
    }
    cb(null, out.length === 0 ? undefined : out.length === 1 ? out[0] : Buffer.concat(out))
  }

  /** A frame cut off by the end of the stream is dropped: its bytes were never checked. */
  override _flush(cb: TransformCallback): void {
    cb()
  }

  private consume(chunk: Buffer, out: Buffer[]): void {
    let at = 0
    while (at < chunk.length || (this.frame && this.frame.remaining === 0)) {
      if (!this.frame) {
        const buf =
          this.head.length > 0 ? Buffer.concat([this.head, chunk.subarray(at)]) : chunk.subarray(at)
        const parsed = parseHeader(buf)
        if (!parsed) {
          this.head = Buffer.from(buf)
          return
        }
        at += parsed.headerLength - this.head.length
        this.head = Buffer.alloc(0)
        this.frame = this.begin(parsed)
        if (this.frame.remaining > 0) continue
      }
      const frame = this.frame
      const n = Math.min(frame.remaining, chunk.length - at)
      const piece = chunk.subarray(at, at + n)
      at += n
      frame.remaining -= n
      if (frame.control) {
        frame.control.push(piece)
        if (frame.remaining === 0) {
          let payload = scrubBuffer(Buffer.concat(frame.control), this.secrets)
          // A longer replacement may not make a control frame oversized; cutting the
          // replacement cannot bring the secret back.
          if (payload.length > CONTROL_MAX) payload = payload.subarray(0, CONTROL_MAX)
          out.push(frameHeader(0x80 | frame.opcode, payload.length), payload)
        }
      } else {
        const message = this.message!
        let data = message.scrubber.push(piece)
        const last = frame.remaining === 0 && frame.fin
        if (last) {
          const tail = message.scrubber.flush()
          if (tail.length > 0) data = Buffer.concat([data, tail])
        }
        if (last || data.length > 0) {
          const opcode = message.started ? 0 : message.opcode
          out.push(frameHeader((last ? 0x80 : 0) | opcode, data.length), data)
          message.started = true
        }
        if (last) this.message = undefined
      }
      if (frame.remaining === 0) this.frame = undefined
    }
  }

  /** Checks a frame header against the rules the scrubber relies on and starts the frame. */
  private begin(h: FrameHeader): Frame {
    if (h.rsv !== 0)
      throw new WsProtocolError('the upstream sent a compressed or extended WebSocket frame')
    if (h.masked) throw new WsProtocolError('the upstream sent a masked WebSocket frame')
    if (h.opcode >= 0x8) {
      if (h.opcode > 0xa) throw new WsProtocolError(`unknown WebSocket opcode ${h.opcode}`)
      if (!h.fin || h.length > CONTROL_MAX)
        throw new WsProtocolError('the upstream sent a fragmented or oversized control frame')
      return { fin: true, opcode: h.opcode, remaining: h.length, control: [] }
    }
    if (h.opcode === 0) {
      if (!this.message) throw new WsProtocolError('a continuation frame without a message')
    } else if (h.opcode <= 0x2) {
      if (this.message) throw new WsProtocolError('a new message inside a fragmented one')
      this.message = {
        opcode: h.opcode,
        started: false,
        scrubber: new StreamScrubber(this.secrets)
      }
    } else throw new WsProtocolError(`unknown WebSocket opcode ${h.opcode}`)
    return { fin: h.fin, opcode: h.opcode, remaining: h.length }
  }
}

interface FrameHeader {
  fin: boolean
  rsv: number
  opcode: number
  masked: boolean
  length: number
  /** Bytes of header, mask key included. */
  headerLength: number
}

function parseHeader(buf: Buffer): FrameHeader | undefined {
  if (buf.length < 2) return undefined
  let len = buf[1]! & 0x7f
  let at = 2
  if (len === 126) {
    if (buf.length < 4) return undefined
    len = buf.readUInt16BE(2)
    at = 4
  } else if (len === 127) {
    if (buf.length < 10) return undefined
    const big = buf.readBigUInt64BE(2)
    if (big > BigInt(Number.MAX_SAFE_INTEGER))
      throw new WsProtocolError('a WebSocket frame longer than 2^53 bytes')
    len = Number(big)
    at = 10
  }
  const masked = (buf[1]! & 0x80) !== 0
  if (masked) at += 4
  if (buf.length < at) return undefined
  return {
    fin: (buf[0]! & 0x80) !== 0,
    rsv: buf[0]! & 0x70,
    opcode: buf[0]! & 0x0f,
    masked,
    length: len,
    headerLength: at
  }
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
