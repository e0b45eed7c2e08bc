import { PassThrough, Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { readAll, stripHopByHop } from '../../src/proxy/http-forms.js'

describe('readAll', () => {
  it('joins every chunk, in order', async () => {
    const s = Readable.from([Buffer.from('ab'), Buffer.from('cd'), Buffer.from('e')])
    expect((await readAll(s, 10)).toString()).toBe('abcde')
  })

  it('rejects past max and destroys the stream, without an uncaught error', async () => {
    const s = new PassThrough()
    const reading = readAll(s, 4)
    s.write('abc')
    s.write('def')
    await expect(reading).rejects.toThrow(/larger than 4 bytes/)
    expect(s.destroyed).toBe(true)
    // An error after the promise settled goes nowhere (the test would fail on an uncaught one).
    s.emit('error', new Error('late'))
  })

  it('rejects a stream that closes before its end', async () => {
    const s = new PassThrough()
    const reading = readAll(s, 100)
    s.write('ab')
    s.destroy()
    await expect(reading).rejects.toThrow(/ended early/)
  })

  it('rejects a stream that errors, and one already destroyed', async () => {
    const s = new PassThrough()
    const reading = readAll(s, 100)
    s.destroy(new Error('reset'))
    await expect(reading).rejects.toThrow(/reset/)
    await expect(readAll(s, 100)).rejects.toThrow(/ended early/)
  })
})

describe('stripHopByHop', () => {
  it('drops hop-by-hop headers and those Connection names, keeps the rest lower-cased', () => {
    expect(
      stripHopByHop({
        Connection: 'keep-alive, X-Secret-Hop',
        'keep-alive': 'timeout=5',
        'x-secret-hop': '1',
        'Transfer-Encoding': 'chunked',
        'X-Kept': 'yes',
        absent: undefined
      })
    ).toEqual({ 'x-kept': 'yes' })
  })

  it('keeps everything else when there is no Connection header', () => {
    expect(stripHopByHop({ a: '1', b: ['2', '3'] })).toEqual({ a: '1', b: ['2', '3'] })
  })
})
