/**
 * What the three agent end-to-end tests share: running the built action with a real agent
 * CLI against an API-shaped server, in a fresh git workspace owned by the runner, and the
 * checks every agent must pass (completion, outputs, no allowlist refusal, the real key
 * never leaving the proxy).
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'vitest'
import { ensureTestImage, TEST_IMAGE } from '../../support/docker.js'
import { filesUnder } from '../../support/files.js'
import {
  runAction,
  runnerIdentity,
  runnerTempDir,
  type ActionRun,
  type NodeName
} from '../../support/runner.js'
import { startFakeGoogle, type FakeGoogle } from '../../support/fake-google.js'
import { startFakeIdTokenEndpoint, type FakeIdTokenEndpoint } from '../../support/fake-sts.js'
import { createTestPki, type TestPki } from '../../support/test-ca.js'
import type { NetworkEntry } from '../../../src/proxy/log.js'
import { readNetworkLog } from '../../security/support/run.js'

export const FINAL_ANSWER = 'Created hello.txt in the workspace; git status shows it as untracked.'
// Starts with "- " like a markdown task list: the CLIs must not read it as an option.
export const PROMPT = '- Create hello.txt in the workspace, then show git status.'
export const HELLO = 'hello from the airlock\n'
/** The CLI downloads (hundreds of MB) are kept across runs; the cache is keyed by version. */
const TOOL_CACHE = '/tmp/airlock-tool-cache'

export interface ApiServer {
  port: number
  close(): Promise<void>
}

export interface AgentRun<A extends ApiServer> {
  api: A
  run: ActionRun
  workspace: string
}

export interface AgentRunOptions<A extends ApiServer> {
  agent: 'claude' | 'codex' | 'gemini'
  /** The API host the fake stands in for (routed with connect-to). */
  host: string
  /** The input that carries the key, and the key (none when a cloud grant stands in). */
  keyInput?: string
  realKey?: string
  startApi: (pki: TestPki) => Promise<A>
  /** A PKI made by the test, for other fakes it runs (default: one for host alone). */
  pki?: TestPki
  /** More inputs, runner env and connect-to lines (for those other fakes). */
  inputs?: Record<string, string>
  env?: Record<string, string>
  connectTo?: string[]
  /** Run the steps (and so the container) as root, like many self-hosted runners. */
  asRoot?: boolean
  node?: NodeName
  /** Fills the fresh git workspace before the run (e.g. files a pull request planted). */
  setupWorkspace?: (workspace: string) => Promise<void> | void
}

/** Runs the built action with the agent against its fake API; the CLI comes from the registry. */
export async function runAgent<A extends ApiServer>(
  opts: AgentRunOptions<A>
): Promise<AgentRun<A>> {
  await ensureTestImage()
  const pki = opts.pki ?? (await createTestPki([opts.host]))
  // The steps run as the runner's uid, which must read the CA file (upstream-ca).
  chmodSync(pki.dir, 0o755)
  const api = await opts.startApi(pki)
  const workspace = runnerTempDir(`airlock-e2e-${opts.agent}-`)
  execFileSync('git', ['init', '-q', workspace])
  await opts.setupWorkspace?.(workspace)
  // The workspace belongs to whoever runs the steps: a root container has no
  // CAP_DAC_OVERRIDE, so it cannot write into a directory the runner uid owns.
  const runner = runnerIdentity()
  const owner = opts.asRoot ? { uid: 0, gid: 0 } : runner
  if (owner) execFileSync('chown', ['-R', `${owner.uid}:${owner.gid}`, workspace])
  mkdirSync(TOOL_CACHE, { recursive: true, mode: 0o777 })
  chmodSync(TOOL_CACHE, 0o777)
  if (runner) chownSync(TOOL_CACHE, runner.uid, runner.gid)
  const run = await runAction({
    env: {
      GITHUB_WORKSPACE: workspace,
      RUNNER_TOOL_CACHE: TOOL_CACHE,
      // Where the registry is reached through a TLS-inspecting gateway, the runner trusts
      // its CA the way self-hosted runners do: through NODE_EXTRA_CA_CERTS.
      ...(process.env.NODE_EXTRA_CA_CERTS
        ? { NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS }
        : {}),
      ...opts.env
    },
    inputs: {
      agent: opts.agent,
      prompt: PROMPT,
      ...(opts.keyInput && opts.realKey ? { [opts.keyInput]: opts.realKey } : {}),
      image: TEST_IMAGE,
      'connect-to': [`${opts.host}:443=127.0.0.1:${api.port}`, ...(opts.connectTo ?? [])].join(
        '\n'
      ),
      'upstream-ca': pki.caFile,
      'timeout-minutes': '10',
      ...opts.inputs
    },
    ...(opts.asRoot ? { asRoot: true } : {}),
    ...(opts.node ? { node: opts.node } : {}),
    timeoutMs: 900_000
  })
  return { api, run, workspace }
}

/** Stops the fake and removes what a run left on disk (the runner temp holds the download). */
export async function removeAgentRun(r: AgentRun<ApiServer> | undefined): Promise<void> {
  if (!r) return
  await r.api.close()
  rmSync(r.run.runnerTemp, { recursive: true, force: true })
  rmSync(r.run.dir, { recursive: true, force: true })
  rmSync(r.workspace, { recursive: true, force: true })
}

/** The step succeeded with the scripted answer, and a session id in UUID form. */
export function expectCompleted(run: ActionRun, sessionId = /^[0-9a-f-]{36}$/): void {
  expect(run.main.code, run.main.stdout + run.main.stderr).toBe(0)
  expect(run.main.errors).toEqual([])
  expect(run.outputs.conclusion).toBe('success')
  expect(run.outputs['exit-code']).toBe('0')
  expect(run.outputs.result).toBe(FINAL_ANSWER)
  expect(run.outputs['session-id']).toMatch(sessionId)
}

/** network.jsonl as the step left it. */
export function networkEntries(run: ActionRun): NetworkEntry[] {
  return readNetworkLog(run.outputs['network-log'])
}

/**
 * The real key appears nowhere the agent's output goes: step output (masking commands
 * aside), outputs, summary, the network log (which shows the injection) and every file
 * beside it.
 */
export function expectKeyContained(
  run: ActionRun,
  realKey: string,
  host: string,
  grant: string
): void {
  expect(run.post.code).toBe(0)
  const unmask = (t: string): string => t.replace(/^::add-mask::.*$/gm, '')
  const network = readFileSync(run.outputs['network-log']!, 'utf8')
  expect(network).toContain(host)
  expect(network).toContain(`[injected:${grant}]`)
  const everything = [
    unmask(run.main.stdout),
    run.main.stderr,
    run.post.stdout,
    run.post.stderr,
    run.summary,
    JSON.stringify(run.outputs),
    network
  ]
  for (const text of everything) expect(text).not.toContain(realKey)
  const logDir = join(run.outputs['network-log']!, '..')
  for (const f of filesUnder(logDir)) expect(readFileSync(f, 'utf8'), f).not.toContain(realKey)
}

/**
 * A gcp grant the way a workflow gets one, for an agent on Vertex AI: the runner's ID-token
 * endpoint and Google STS + IAM (fakes speaking their wire formats, reached by connect-to),
 * with a PKI that also covers the Vertex host. Spread `grant` into runAgent's options.
 */
export interface GcpWorld {
  pki: TestPki
  google: FakeGoogle
  issuer: FakeIdTokenEndpoint
  serviceAccount: string
  /** Whether a Bearer token is one the fake IAM minted for the service account. */
  accepts: (bearer: string) => boolean
  /** The access tokens minted for the service account so far. */
  minted: () => string[]
  grant: Pick<AgentRunOptions<ApiServer>, 'pki' | 'inputs' | 'env' | 'connectTo'>
  close(): Promise<void>
}

export async function startGcpWorld(vertexHost: string, project: string): Promise<GcpWorld> {
  const serviceAccount = `agent@${project}.iam.gserviceaccount.com`
  const wip = 'projects/123456789/locations/global/workloadIdentityPools/gh-pool/providers/gh'
  const pki = await createTestPki([
    vertexHost,
    'sts.googleapis.com',
    'iamcredentials.googleapis.com',
    'pipelines.actions.test'
  ])
  chmodSync(pki.dir, 0o755)
  const issuer = await startFakeIdTokenEndpoint({ pki })
  const google = await startFakeGoogle({
    pki,
    issuer,
    workloadIdentityProvider: wip,
    serviceAccounts: [serviceAccount]
  })
  const minted = (): string[] =>
    google.issued.filter((i) => i.kind === 'service-account').map((i) => i.token)
  return {
    pki,
    google,
    issuer,
    serviceAccount,
    minted,
    accepts: (t) => minted().includes(t),
    grant: {
      pki,
      inputs: {
        grants: 'gcp',
        'gcp-workload-identity-provider': wip,
        'gcp-service-account': serviceAccount
      },
      env: {
        ACTIONS_ID_TOKEN_REQUEST_URL: issuer.url,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: issuer.requestToken
      },
      connectTo: [
        `sts.googleapis.com:443=127.0.0.1:${google.port}`,
        `iamcredentials.googleapis.com:443=127.0.0.1:${google.port}`,
        `pipelines.actions.test:443=127.0.0.1:${issuer.port}`
      ]
    },
    close: async () => {
      await google.close()
      await issuer.close()
    }
  }
}
