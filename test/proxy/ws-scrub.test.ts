import { describe, expect, it } from 'vitest'
import { WsFrameScrubber } from '../../src/proxy/ws-scrub.js'

const SECRET = 'ghs_SplitAcrossFramesSecret0123'
const secrets: Array<[string, string]> = [[SECRET, 'airlock-redacted']]

/** One unmasked server frame. */
function frame(opcode: number, payload: string | Buffer, fin = true, rsv = 0): Buffer {
  const p = Buffer.from(payload)
  const head =
    p.length < 126
      ? Buffer.from([(fin ? 0x80 : 0) | rsv | opcode, p.length])
      : Buffer.from([(fin ? 0x80 : 0) | rsv | opcode, 126, p.length >> 8, p.length & 0xff])
  return Buffer.concat([head, p])
}

interface Parsed {
  opcode: number
  fin: boolean
  payload: Buffer
}

function parse(buf: Buffer): Parsed[] {
  const out: Parsed[] = []
  let at = 0
  while (at < buf.length) {
    let len = buf[at + 1]! & 0x7f
    let h = 2
    if (len === 126) {
      len = buf.readUInt16BE(at + 2)
      h = 4
    }
    out.push({
      opcode: buf[at]! & 0x0f,
      fin: (buf[at]! & 0x80) !== 0,
      payload: buf.subarray(at + h, at + h + len)
    })
    at += h + len
  }
  return out
}

/** Runs bytes through a scrubber in the given chunks; resolves with the output or the error. */
async function run(chunks: Buffer[]): Promise<{ out: Buffer; error?: Error }> {
  const s = new WsFrameScrubber(secrets)
  const parts: Buffer[] = []
  s.on('data', (d: Buffer) => parts.push(d))
  return new Promise((resolve) => {
    s.on('error', (error) => resolve({ out: Buffer.concat(parts), error }))
    s.on('end', () => resolve({ out: Buffer.concat(parts) }))
    for (const c of chunks) s.write(c)
    s.end()
  })
}

/** Data messages reassembled from frames (control frames listed apart). */
function messages(frames: Parsed[]): { data: string[]; control: Parsed[] } {
  const data: string[] = []
  const control: Parsed[] = []
  let cur: Buffer[] = []
  for (const f of frames) {
    if (f.opcode >= 8) control.push(f)
    else {
      cur.push(f.payload)
      if (f.fin) {
        data.push(Buffer.concat(cur).toString())
        cur = []
      }
    }
  }
  return { data, control }
}

describe('WsFrameScrubber', () => {
  it('scrubs a secret split across continuation frames, a ping between them, at every split', async () => {
    const text = `before ${SECRET} after`
    for (let cut = 1; cut < text.length; cut++) {
      const wire = Buffer.concat([
        frame(0x1, text.slice(0, cut), false),
        frame(0x9, 'ping'),
        frame(0x0, text.slice(cut), true)
      ])
      // Also split the bytes on the wire at the same place, one byte chunk at a time.
      const { out, error } = await run([wire.subarray(0, cut + 2), wire.subarray(cut + 2)])
      expect(error).toBeUndefined()
      expect(out.includes(SECRET)).toBe(false)
      const m = messages(parse(out))
      expect(m.data).toEqual(['before airlock-redacted after'])
      expect(m.control.map((c) => c.payload.toString())).toEqual(['ping'])
    }
  })

  it('scrubs ping, pong and close payloads', async () => {
    const close = Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from(`bye ${SECRET}`)])
    const { out } = await run([frame(0x9, SECRET), frame(0xa, `p${SECRET}`), frame(0x8, close)])
    expect(out.includes(SECRET)).toBe(false)
    const frames = parse(out)
    expect(frames.map((f) => f.opcode)).toEqual([0x9, 0xa, 0x8])
    expect(frames[2]!.payload.subarray(2).toString()).toBe('bye airlock-redacted')
  })

  it('ends the stream at a compressed (RSV1), masked or out-of-order frame', async () => {
    for (const bad of [
      frame(0x1, 'x', true, 0x40),
      Buffer.from([0x81, 0x81, 1, 2, 3, 4, 5]),
      frame(0x0, 'orphan continuation'),
      Buffer.concat([frame(0x1, 'a', false), frame(0x1, 'b')])
    ]) {
      const { error } = await run([bad])
      expect((error as { code?: string } | undefined)?.code).toBe('AIRLOCK_WS_PROTOCOL')
    }
  })

  it('keeps binary messages and large frames intact', async () => {
    const big = Buffer.alloc(70_000, 0x61)
    const { out } = await run([frame(0x2, big.subarray(0, 300)), frame(0x1, big.subarray(0, 1000))])
    const m = messages(parse(out))
    expect(m.data.map((d) => d.length)).toEqual([300, 1000])
  })
})
