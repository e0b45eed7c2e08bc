/**
 * What the sandbox prints reaches the developer's terminal when `airlock run` (or
 * `airlock <agent>`) runs there, and a terminal obeys more than text: OSC 52 writes the
 * clipboard (the next paste runs the agent's command on the host, outside the sandbox), OSC 8
 * makes links whose text lies about their target, OSC 0/2 and DCS/APC strings set titles and
 * state some terminals report back as if typed (input injection), CSI reports and modes do the
 * same, and 8-bit C1 controls (U+009B CSI, U+009D OSC) are the same sequences in one
 * character. So container output bound for a terminal keeps text and colours (SGR) only.
 *
 * The filter is a small state machine fed chunk by chunk, so a sequence split across chunks
 * (or across UTF-8 bytes) is still recognised. Output piped to a file or another program is
 * left as it is (it may be binary); only a TTY gets the filter.
 */
import { StringDecoder } from 'node:string_decoder'

/** CSI parameter bytes kept for SGR: digits and separators only. */
const SGR_PARAMS = /^[0-9;:]*$/
/** A CSI longer than this is not a colour: dropped, and the rest read as text. */
const MAX_CSI = 64

type State =
  /** Plain text. */
  | 'text'
  /** After ESC. */
  | 'esc'
  /** After ESC and an intermediate byte (`ESC ( B`, `ESC # 8`): up to the final byte. */
  | 'escIntermediate'
  /** Inside `ESC [` … final byte. */
  | 'csi'
  /** Inside an OSC, DCS, APC, PM or SOS string: up to BEL or ST. */
  | 'string'
  /** ESC inside such a string (`ESC \` ends it). */
  | 'stringEsc'

export class TerminalFilter {
  private state: State = 'text'
  private csi = ''
  private readonly decoder = new StringDecoder('utf8')

  /** The part of `chunk` safe for a terminal (may hold back nothing; state carries over). */
  push(chunk: Buffer | string): string {
    const text = typeof chunk === 'string' ? chunk : this.decoder.write(chunk)
    let out = ''
    for (const ch of text) {
      const c = ch.codePointAt(0)!
      switch (this.state) {
        case 'text':
          if (c === 0x1b) this.state = 'esc'
          else if (c === 0x9b) this.startCsi()
          else if (c === 0x9d || c === 0x90 || c === 0x9f || c === 0x9e || c === 0x98)
            this.state = 'string'
          else if (c === 0x09 || c === 0x0a || c === 0x0d || c === 0x08) out += ch
          // Other C0 controls, DEL and C1 controls: dropped.
          else if (c < 0x20 || c === 0x7f || (c >= 0x80 && c <= 0x9f)) break
          else out += ch
          break
        case 'esc':
          if (ch === '[') this.startCsi()
          else if (ch === ']' || ch === 'P' || ch === '_' || ch === '^' || ch === 'X')
            this.state = 'string'
          else if (c >= 0x20 && c <= 0x2f) this.state = 'escIntermediate'
          else if (c === 0x1b) this.state = 'esc'
          // Any other final byte (RIS `ESC c`, `ESC 7`, …): the two-character sequence dropped.
          else this.state = 'text'
          break
        case 'escIntermediate':
          if (c >= 0x30 && c <= 0x7e) this.state = 'text'
          else if (c === 0x1b) this.state = 'esc'
          else if (!(c >= 0x20 && c <= 0x2f)) this.state = 'text'
          break
        case 'csi':
          if (c >= 0x40 && c <= 0x7e) {
            // Only a colour (SGR) survives.
            if (ch === 'm' && SGR_PARAMS.test(this.csi)) out += `\x1b[${this.csi}m`
            this.state = 'text'
          } else if (c >= 0x20 && c <= 0x3f && this.csi.length < MAX_CSI) this.csi += ch
          else if (c === 0x1b) this.state = 'esc'
          else this.state = 'text'
          break
        case 'string':
          if (c === 0x07 || c === 0x9c) this.state = 'text'
          else if (c === 0x1b) this.state = 'stringEsc'
          break
        case 'stringEsc':
          this.state = ch === '\\' ? 'text' : 'string'
          break
      }
    }
    return out
  }

  private startCsi(): void {
    this.state = 'csi'
    this.csi = ''
  }
}

/** `text` with every terminal control sequence but colours removed (one-shot). */
export function terminalSafe(text: string): string {
  return new TerminalFilter().push(text)
}
