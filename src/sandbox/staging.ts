import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import tls from 'node:tls'
import { INIT_SCRIPT } from './init-script.js'

/** Paths inside the container; the staging directory is mounted read-only at /airlock/staging. */
export const CONTAINER = {
  staging: '/airlock/staging',
  node: '/airlock/node',
  socket: '/airlock/proxy.sock',
  init: '/airlock/staging/init.mjs',
  caCert: '/airlock/staging/ca.pem',
  caBundle: '/airlock/staging/ca-bundle.pem',
  home: '/home/airlock',
  workspace: '/workspace'
} as const

/** The port the in-container forwarder listens on (loopback only, inside the container). */
export const FORWARDER_PORT = 3128

/**
 * Writes the non-secret files the container reads: the init program and the CA trust files.
 * `ca.pem` is written by the proxy daemon itself (certificate only; the key never leaves it).
 */
export async function writeStaging(stagingDir: string, caCertPem: string): Promise<void> {
  await mkdir(stagingDir, { recursive: true, mode: 0o755 })
  await writeFile(join(stagingDir, 'init.mjs'), INIT_SCRIPT, { mode: 0o644 })
  // Variables like SSL_CERT_FILE replace the system store, so they get the public roots too.
  const bundle = [...tls.rootCertificates, caCertPem.trim()].join('\n') + '\n'
  await writeFile(join(stagingDir, 'ca-bundle.pem'), bundle, { mode: 0o644 })
}

/** The environment the container starts with: built from scratch, nothing from the runner. */
export function sandboxEnv(opts: {
  proxyToken: string
  extra: string[]
  user: Record<string, string>
  /** Runner mode: the job's PATH and toolchain variables (an allowlist, checked for secrets). */
  runner?: Record<string, string>
  /** Runner mode: the workspace's own path, a second name for /workspace. */
  workspaceAlias?: string
}): string[] {
  const proxy = `http://airlock:${opts.proxyToken}@127.0.0.1:${FORWARDER_PORT}`
  const git: Array<[string, string]> = [
    ['safe.directory', CONTAINER.workspace],
    ...(opts.workspaceAlias ? [['safe.directory', opts.workspaceAlias] as [string, string]] : []),
    // git sends proxy credentials only after a 407 unless told to use Basic up front.
    ['http.proxyAuthMethod', 'basic']
  ]
  const env: Record<string, string> = {
    ...opts.user,
    HOME: CONTAINER.home,
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    // After HOME and PATH, before everything the proxy and CA trust need: the runner's
    // variables are toolchain names only (HOME stays the private one, PATH is the job's).
    ...opts.runner,
    HTTP_PROXY: proxy,
    HTTPS_PROXY: proxy,
    http_proxy: proxy,
    https_proxy: proxy,
    NO_PROXY: '',
    no_proxy: '',
    NODE_USE_ENV_PROXY: '1',
    NODE_EXTRA_CA_CERTS: CONTAINER.caCert,
    SSL_CERT_FILE: CONTAINER.caBundle,
    REQUESTS_CA_BUNDLE: CONTAINER.caBundle,
    CURL_CA_BUNDLE: CONTAINER.caBundle,
    GIT_SSL_CAINFO: CONTAINER.caBundle,
    AWS_CA_BUNDLE: CONTAINER.caBundle,
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_COUNT: String(git.length),
    AIRLOCK_PROXY_SOCKET: CONTAINER.socket,
    AIRLOCK_PROXY_PORT: String(FORWARDER_PORT),
    AIRLOCK: '1'
  }
  git.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = k
    env[`GIT_CONFIG_VALUE_${i}`] = v
  })
  for (const pair of opts.extra) {
    const eq = pair.indexOf('=')
    if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return Object.entries(env).map(([k, v]) => `${k}=${v}`)
}
