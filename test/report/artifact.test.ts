import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { uploadLogs, type ArtifactUploader } from '../../src/report/artifact.js'

function logs(): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-artifact-'))
  const files = [join(dir, 'network.jsonl'), join(dir, 'audit.jsonl')]
  for (const f of files) writeFileSync(f, '{}\n')
  return files
}

describe('uploadLogs', () => {
  it('uploads both logs under the given name, rooted at their directory', async () => {
    const calls: Array<[string, string[], string]> = []
    const client: ArtifactUploader = {
      uploadArtifact: (name, files, root) => {
        calls.push([name, files, root])
        return Promise.resolve({ id: 42, size: 6 })
      }
    }
    const files = logs()
    const warnings: string[] = []
    expect(await uploadLogs('airlock-logs', files, (w) => warnings.push(w), client)).toBe(42)
    expect(calls).toEqual([['airlock-logs', files, join(files[0]!, '..')]])
    expect(warnings).toEqual([])
  })

  it('turns an upload failure into one warning naming the artifact', async () => {
    const client: ArtifactUploader = {
      uploadArtifact: () =>
        Promise.reject(new Error('Unable to get the ACTIONS_RUNTIME_TOKEN env variable'))
    }
    const warnings: string[] = []
    expect(
      await uploadLogs('airlock-logs', logs(), (w) => warnings.push(w), client)
    ).toBeUndefined()
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain('artifact "airlock-logs"')
    expect(warnings[0]).toContain('network.jsonl and audit.jsonl')
    expect(warnings[0]).toContain('ACTIONS_RUNTIME_TOKEN')
  })

  it("uses the real artifact client by default, which needs the runner's runtime token", async () => {
    const saved = process.env.ACTIONS_RUNTIME_TOKEN
    delete process.env.ACTIONS_RUNTIME_TOKEN
    const warnings: string[] = []
    try {
      expect(await uploadLogs('airlock-logs', logs(), (w) => warnings.push(w))).toBeUndefined()
    } finally {
      if (saved !== undefined) process.env.ACTIONS_RUNTIME_TOKEN = saved
    }
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/artifact "airlock-logs"/)
  })
})
