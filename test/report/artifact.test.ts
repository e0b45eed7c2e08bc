import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { uploadLogs, type ArtifactUploader } from '../../src/report/artifact.js'
import {
  startFakeResults,
  zipEntries,
  type FakeResults,
  type ResultsRequest
} from '../support/fake-results.js'

function logs(network = '{}\n', audit = '{}\n'): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-artifact-'))
  const files = [join(dir, 'network.jsonl'), join(dir, 'audit.jsonl')]
  writeFileSync(files[0]!, network)
  writeFileSync(files[1]!, audit)
  return files
}

/**
 * Runs `fn` with the artifact client pointed at a fake results service. The client reads
 * its environment on each call (token, results URL, GHES check), so setting it around the
 * call is enough; it is restored so no other test sees a runtime token.
 */
async function withFakeResults(
  opts: Parameters<typeof startFakeResults>[0],
  fn: (fake: FakeResults) => Promise<void>
): Promise<void> {
  const fake = await startFakeResults(opts)
  const saved = Object.fromEntries(Object.keys(fake.env).map((k) => [k, process.env[k]]))
  Object.assign(process.env, fake.env)
  try {
    await fn(fake)
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
    await fake.close()
  }
}

/** A request as "<host> <method> <Twirp method or blob operation>", to compare sequences. */
function step(r: ResultsRequest): string {
  const url = new URL(r.url, 'http://x')
  const op = r.service === 'results' ? url.pathname.split('/').pop() : url.searchParams.get('comp')
  return `${r.service} ${r.method} ${op}`
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

  it('uploads both logs with the real client: create, blocks, block list, finalize', async () => {
    // Enough lines that the zip deflates them, and different contents so a swap would show.
    const network = Array.from(
      { length: 500 },
      (_, i) => `{"seq":${i},"host":"api.anthropic.com","decision":"allow"}\n`
    ).join('')
    const audit = '{"event":"grant","name":"anthropic"}\n{"event":"exit","code":0}\n'
    const files = logs(network, audit)
    await withFakeResults({}, async (fake) => {
      const warnings: string[] = []
      const id = await uploadLogs('airlock-logs', files, (w) => warnings.push(w))
      expect(warnings).toEqual([])

      const artifact = fake.artifacts.get('airlock-logs')!
      expect(id).toBe(artifact.id)
      expect(fake.requests.map(step)).toEqual([
        'results POST CreateArtifact',
        'blob PUT block',
        'blob PUT blocklist',
        'results POST FinalizeArtifact'
      ])
      expect(fake.requests.map((r) => r.status)).toEqual([200, 201, 201, 200])
      // Twirp JSON with proto field names; the ids come from the token's Actions.Results scope.
      expect(artifact.create).toEqual({
        workflow_run_backend_id: fake.workflowRunBackendId,
        workflow_job_run_backend_id: fake.workflowJobRunBackendId,
        name: 'airlock-logs',
        version: 7,
        mime_type: 'application/zip'
      })
      const blob = artifact.blob!
      expect(artifact.contentType).toBe('application/zip')
      expect(artifact.finalize).toEqual({
        workflow_run_backend_id: fake.workflowRunBackendId,
        workflow_job_run_backend_id: fake.workflowJobRunBackendId,
        name: 'airlock-logs',
        size: String(blob.length),
        hash: `sha256:${createHash('sha256').update(blob).digest('hex')}`
      })

      const entries = zipEntries(blob)
      expect([...entries.keys()].sort()).toEqual(['audit.jsonl', 'network.jsonl'])
      expect(entries.get('network.jsonl')).toEqual(readFileSync(files[0]!))
      expect(entries.get('audit.jsonl')).toEqual(readFileSync(files[1]!))
      expect(blob.length).toBeLessThan(network.length)
    })
  })

  it('turns a refused CreateArtifact (name taken on the run) into one warning', async () => {
    await withFakeResults({ existing: ['airlock-logs'] }, async (fake) => {
      const warnings: string[] = []
      expect(await uploadLogs('airlock-logs', logs(), (w) => warnings.push(w))).toBeUndefined()
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toContain('artifact "airlock-logs"')
      expect(warnings[0]).toContain('(409)')
      expect(warnings[0]).toContain('an artifact with this name already exists')
      // 409 is not one of the statuses the client retries (after 3 s and more of backoff):
      // one call, and no blob traffic.
      expect(fake.requests.map(step)).toEqual(['results POST CreateArtifact'])
    })
  })

  it('uploads a zip of more than one 8 MiB block, reassembled in block-list order', async () => {
    // Random base64 barely deflates, so 12 MiB of it stays above the client's 8 MiB chunk
    // and goes up as two blocks, staged concurrently.
    const network = randomBytes(9 * 1024 * 1024)
      .toString('base64')
      .replace(/.{76}/g, '"$&"\n')
    const files = logs(network, '{"event":"exit","code":0}\n')
    await withFakeResults({}, async (fake) => {
      const warnings: string[] = []
      const id = await uploadLogs('airlock-logs', files, (w) => warnings.push(w))
      expect(warnings).toEqual([])
      const artifact = fake.artifacts.get('airlock-logs')!
      expect(id).toBe(artifact.id)
      expect(fake.requests.map(step)).toEqual([
        'results POST CreateArtifact',
        'blob PUT block',
        'blob PUT block',
        'blob PUT blocklist',
        'results POST FinalizeArtifact'
      ])
      const entries = zipEntries(artifact.blob!)
      expect(entries.get('network.jsonl')!.equals(readFileSync(files[0]!))).toBe(true)
      expect(entries.get('audit.jsonl')).toEqual(readFileSync(files[1]!))
    })
  })
})
