import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { JsonlWriter } from '../../src/proxy/log.js'

let dir: string | undefined
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('JsonlWriter', () => {
  it('writes every entry as one line, in order, all of them by close', async () => {
    dir = await mkdtemp(join(tmpdir(), 'airlock-log-'))
    const file = join(dir, 'network.jsonl')
    const seen: object[] = []
    const w = new JsonlWriter(file, undefined, (e) => seen.push(e))
    for (let i = 0; i < 500; i++) w.write({ id: i })
    await new Promise((r) => setImmediate(r))
    w.write({ id: 500 })
    await w.close()
    const lines = (await readFile(file, 'utf8')).split('\n')
    expect(lines.pop()).toBe('')
    expect(lines.map((l) => (JSON.parse(l) as { id: number }).id)).toEqual(
      Array.from({ length: 501 }, (_, i) => i)
    )
    expect(seen).toHaveLength(501)
  })

  it('reports a file it cannot write and takes nothing more', async () => {
    dir = await mkdtemp(join(tmpdir(), 'airlock-log-'))
    let failed: Error | undefined
    // A directory cannot be opened for appending.
    const w = new JsonlWriter(dir, (err) => (failed = err))
    w.write({ id: 1 })
    await new Promise((r) => setTimeout(r, 50))
    expect(failed).toBeInstanceOf(Error)
    expect(w.failed).toBe(failed)
    w.write({ id: 2 })
    await w.close()
  })
})
