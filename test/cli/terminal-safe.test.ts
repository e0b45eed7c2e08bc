import { describe, expect, it } from 'vitest'
import { TerminalFilter, terminalSafe } from '../../src/cli/terminal-safe.js'

const ESC = '\x1b'

describe('terminalSafe', () => {
  it('keeps text, line breaks, tabs and colours', () => {
    expect(terminalSafe(`a\tb\r\n${ESC}[1;31mred${ESC}[0m ${ESC}[38:5:208mo${ESC}[m`)).toBe(
      `a\tb\r\n${ESC}[1;31mred${ESC}[0m ${ESC}[38:5:208mo${ESC}[m`
    )
  })

  it('drops OSC (clipboard, title, hyperlink), DCS, APC, PM and SOS strings whole', () => {
    expect(terminalSafe(`x${ESC}]52;c;ZWNobyBwd25lZA==\x07y`)).toBe('xy')
    expect(terminalSafe(`x${ESC}]0;title${ESC}\\y`)).toBe('xy')
    expect(terminalSafe(`${ESC}]8;;https://evil.example/${ESC}\\docs${ESC}]8;;${ESC}\\`)).toBe(
      'docs'
    )
    expect(
      terminalSafe(`a${ESC}P$q"p${ESC}\\b${ESC}_apc${ESC}\\c${ESC}^pm${ESC}\\d${ESC}Xsos${ESC}\\e`)
    ).toBe('abcde')
  })

  it('drops CSI sequences other than SGR (reports, modes, cursor) and C1 controls', () => {
    expect(terminalSafe(`a${ESC}[21tb${ESC}[6nc${ESC}[?1049hd${ESC}[2Je`)).toBe('abcde')
    // An 8-bit SGR is still only a colour: written as the 7-bit one.
    expect(terminalSafe('a\u009b31mb\u009d52;c;eA==\u0007c\u0085d\u009b6n')).toBe(`a${ESC}[31mbcd`)
    expect(terminalSafe(`a${ESC}cb${ESC}(Bc${ESC}#8d\x07\x00\x7fe`)).toBe('abcde')
    expect(terminalSafe(`a${ESC}[${'1;'.repeat(100)}mb`)).not.toContain(ESC)
  })

  it('recognises a sequence split across chunks and across UTF-8 bytes', () => {
    const f = new TerminalFilter()
    const whole = Buffer.from(`é${ESC}]52;c;ZWNobw==\x07ü\u009b6n!`)
    let out = ''
    for (const b of whole) out += f.push(Buffer.from([b]))
    expect(out).toBe('éü!')
  })
})
