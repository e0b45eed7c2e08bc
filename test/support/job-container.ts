/**
 * A GitHub Actions job container (`jobs.<id>.container`), reproduced: the runner starts a
 * container with the host's docker socket, its work directory at /__w, its externals (Node)
 * read-only at /__e and the tool cache at /__t, and runs each action's bundle inside it with
 * the usual INPUT_* / file-command environment, where every path is the container's.
 */
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dockerRun, TEST_IMAGE } from './docker.js'
import { actionYml, NODES, parseCommandFile, ROOT, type StepResult } from './runner.js'

export interface JobContainer {
  id: string
  /** Host paths of /__w, /__e and /__t. */
  work: string
  externals: string
  toolCache: string
  /** Runs main then post of the action in the container, as the runner does. */
  runAction: (opts: {
    inputs: Record<string, string>
    workspace?: string
    skipPost?: boolean
  }) => Promise<JobRun>
  exec: (cmd: string[]) => Promise<{ code: number; stdout: string; stderr: string }>
  remove: () => Promise<void>
}

export interface JobRun {
  main: StepResult
  post: StepResult
  outputs: Record<string, string>
  state: Record<string, string>
}

const ACTION_DIR = '/__w/_actions/octo/airlock/v1'

function dockerCli(): string {
  return execFileSync('sh', ['-c', 'command -v docker'], { encoding: 'utf8' }).trim()
}

export async function startJobContainer(): Promise<JobContainer> {
  const base = mkdtempSync(join(tmpdir(), 'airlock-jobsim-'))
  const work = join(base, 'work')
  const externals = join(base, 'externals')
  const toolCache = join(base, 'toolcache')
  for (const d of [work, join(work, '_temp'), join(work, 'repo', 'repo'), toolCache])
    mkdirSync(d, { recursive: true })
  // The runner's Node lives in its externals, which the job container has read-only.
  mkdirSync(join(externals, 'node20', 'bin'), { recursive: true })
  copyFileSync(NODES.host, join(externals, 'node20', 'bin', 'node'))
  writeFileSync(join(work, 'repo', 'repo', 'hello.txt'), 'hello from the checkout\n')
  const name = `airlock-jobsim-${Date.now().toString(36)}`
  const started = await dockerRun([
    'run',
    '-d',
    '--name',
    name,
    '--label',
    'airlock.test=job-container',
    '--mount',
    'type=bind,source=/var/run/docker.sock,target=/var/run/docker.sock',
    '--mount',
    `type=bind,source=${work},target=/__w`,
    '--mount',
    `type=bind,source=${externals},target=/__e,readonly`,
    '--mount',
    `type=bind,source=${toolCache},target=/__t`,
    '--mount',
    `type=bind,source=${join(ROOT, 'dist')},target=${ACTION_DIR}/dist,readonly`,
    '--mount',
    `type=bind,source=${dockerCli()},target=/usr/bin/docker,readonly`,
    '--workdir',
    '/__w/repo/repo',
    '--entrypoint',
    '/__e/node20/bin/node',
    TEST_IMAGE,
    '-e',
    'setInterval(() => {}, 1 << 30)'
  ])
  if (started.code !== 0) throw new Error(`job container did not start: ${started.stderr}`)
  const id = started.stdout.trim()

  const exec = (cmd: string[], env: Record<string, string> = {}) =>
    dockerRun(['exec', ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]), id, ...cmd])

  const step = async (script: string, env: Record<string, string>): Promise<StepResult> => {
    const r = await exec(['/__e/node20/bin/node', `${ACTION_DIR}/dist/${script}/index.js`], env)
    const errors = r.stdout.split('\n').filter((l) => l.startsWith('::error'))
    return { code: r.code, signal: null, stdout: r.stdout, stderr: r.stderr, errors }
  }

  let runs = 0
  return {
    id,
    work,
    externals,
    toolCache,
    exec: (cmd) => exec(cmd),
    remove: async () => {
      await dockerRun(['rm', '-f', id])
      rmSync(base, { recursive: true, force: true })
    },
    runAction: async (opts) => {
      const files = `_runner_file_commands/${++runs}`
      mkdirSync(join(work, '_temp', files), { recursive: true })
      const names = [
        'GITHUB_OUTPUT',
        'GITHUB_STATE',
        'GITHUB_ENV',
        'GITHUB_PATH',
        'GITHUB_STEP_SUMMARY'
      ]
      const env: Record<string, string> = {
        GITHUB_ACTIONS: 'true',
        CI: 'true',
        GITHUB_WORKSPACE: '/__w/repo/repo',
        GITHUB_REPOSITORY: 'octo/repo',
        GITHUB_RUN_ID: String(Date.now()),
        GITHUB_RUN_ATTEMPT: '1',
        GITHUB_API_URL: 'https://api.github.com',
        GITHUB_SERVER_URL: 'https://github.com',
        RUNNER_TEMP: '/__w/_temp',
        RUNNER_TOOL_CACHE: '/__t',
        HOME: '/github/home'
      }
      for (const n of names) {
        writeFileSync(join(work, '_temp', files, n), '')
        env[n] = `/__w/_temp/${files}/${n}`
      }
      for (const [k, spec] of Object.entries(actionYml().inputs))
        env[`INPUT_${k.toUpperCase()}`] = (spec.default ?? '').replace('${{ github.token }}', '')
      for (const [k, v] of Object.entries(opts.inputs)) env[`INPUT_${k.toUpperCase()}`] = v
      const read = (n: string): Record<string, string> =>
        parseCommandFile(readFileSync(join(work, '_temp', files, n), 'utf8'))
      const main = await step('main', env)
      const state = read('GITHUB_STATE')
      let post: StepResult = { code: null, signal: null, stdout: '', stderr: '', errors: [] }
      if (!opts.skipPost) {
        const postEnv = { ...env }
        for (const [k, v] of Object.entries(state)) postEnv[`STATE_${k}`] = v
        post = await step('post', postEnv)
      }
      return { main, post, outputs: read('GITHUB_OUTPUT'), state }
    }
  }
}
