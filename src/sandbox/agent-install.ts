import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import * as tc from '@actions/tool-cache'
import { AirlockError } from '../errors.js'
import { runnerFetch } from '../net/runner-proxy.js'
import type { AgentProvider, InstallableAgent } from '../provider/index.js'

export class AgentInstallError extends AirlockError {
  constructor(message: string) {
    super('AIRLOCK_AGENT_INSTALL', message)
  }
}

/**
 * Where the agent's files are mounted (read-only) in the container: under /airlock, which is
 * the container's own in every image (in runner mode /opt is the runner's, read-only).
 */
export const AGENT_MOUNT = '/airlock/agent'

interface PackageVersion {
  dist?: { tarball?: string; integrity?: string }
}

/** Where the hint for a registry that cannot be reached points (GHES, a corporate mirror). */
function registryHint(env: NodeJS.ProcessEnv): string {
  return env.AIRLOCK_NPM_REGISTRY || env.npm_config_registry
    ? ''
    : '. Behind a proxy set HTTPS_PROXY (and NO_PROXY); to use a mirror set AIRLOCK_NPM_REGISTRY (or npm_config_registry)'
}

/**
 * Downloads the tarball through the runner's proxy settings (tool-cache's own downloader has
 * its own proxy handling) into RUNNER_TEMP, where tool-cache extracts from.
 */
async function download(
  fetchUrl: ReturnType<typeof runnerFetch>,
  url: string,
  env: NodeJS.ProcessEnv
): Promise<string> {
  const res = await fetchUrl(url).catch((err: Error) => {
    throw new AgentInstallError(`cannot download the agent: ${err.message}`)
  })
  if (!res.ok || !res.body)
    throw new AgentInstallError(`cannot download the agent: ${url} answered ${res.status}`)
  const dir = join(
    env.RUNNER_TEMP || tmpdir(),
    `airlock-download-${randomBytes(4).toString('hex')}`
  )
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const file = join(dir, 'package.tgz')
  await pipeline(Readable.fromWeb(res.body), createWriteStream(file))
  return file
}

function registryUrl(env: NodeJS.ProcessEnv): string {
  return (
    env.AIRLOCK_NPM_REGISTRY ||
    env.npm_config_registry ||
    'https://registry.npmjs.org'
  ).replace(/\/+$/, '')
}

async function sha512(file: string): Promise<string> {
  const hash = createHash('sha512')
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) hash.update(chunk)
  return `sha512-${hash.digest('base64')}`
}

/**
 * Installs the agent CLI on the runner from the npm registry without npm: the version's
 * tarball is downloaded, checked against the registry's `dist.integrity`, extracted, and
 * kept in the tool cache, so a second run on the same runner does not download it again.
 * Returns the directory to mount and the argv that runs the CLI from the mount.
 */
export async function installAgent(
  agent: AgentProvider & InstallableAgent,
  version: string,
  log: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env,
  arch: string = process.arch,
  /** Extra CAs for the registry (tests; a runner has NODE_EXTRA_CA_CERTS). */
  tls: { ca?: string } = {}
): Promise<{ dir: string; argv: string[]; cached: boolean }> {
  const spec = agent.installSpec(version, arch)
  const toolName = `airlock-${agent.name}`
  // The tool cache keeps one copy per CPU architecture.
  const found = tc.find(toolName, version, arch)
  if (found) return { dir: found, argv: spec.argv(AGENT_MOUNT), cached: true }

  const registry = registryUrl(env)
  const metaUrl = `${registry}/${spec.packageName.replace('/', '%2f')}/${encodeURIComponent(spec.packageVersion)}`
  const fetchUrl = runnerFetch(env, tls)
  const res = await fetchUrl(metaUrl, { headers: { accept: 'application/json' } }).catch(
    (err: Error) => {
      throw new AgentInstallError(
        `cannot reach the npm registry for ${spec.packageName}@${spec.packageVersion}: ${err.message}${registryHint(env)}`
      )
    }
  )
  if (res.status === 404) {
    throw new AgentInstallError(
      `${spec.packageName}@${spec.packageVersion} is not in the npm registry: check agent-version (${version})`
    )
  }
  if (!res.ok)
    throw new AgentInstallError(
      `npm registry answered ${res.status} for ${spec.packageName}@${spec.packageVersion}`
    )
  const meta = (await res.json()) as PackageVersion
  const tarball = meta.dist?.tarball
  const integrity = meta.dist?.integrity
  if (!tarball || !integrity?.startsWith('sha512-')) {
    throw new AgentInstallError(
      `the registry entry for ${spec.packageName}@${spec.packageVersion} has no tarball with a sha512 integrity`
    )
  }
  log(`downloading ${spec.packageName}@${spec.packageVersion}`)
  const file = await download(fetchUrl, tarball, env)
  const actual = await sha512(file)
  if (actual !== integrity) {
    await rm(dirname(file), { recursive: true, force: true })
    throw new AgentInstallError(
      `${spec.packageName}@${spec.packageVersion}: tarball integrity mismatch (expected ${integrity}, got ${actual})`
    )
  }
  const dir = await tc
    .extractTar(file, undefined, 'xz')
    .then((extracted) => tc.cacheDir(extracted, toolName, version, arch))
    .finally(() => rm(dirname(file), { recursive: true, force: true }))
  return { dir, argv: spec.argv(AGENT_MOUNT), cached: false }
}
