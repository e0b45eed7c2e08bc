/**
 * `image: runner`: the agent works with the runner's own toolchain. The container's root is a
 * tiny image Airlock makes itself (`docker import` of a tar of empty directories and the
 * distribution's top-level links, no registry involved), and the runner's system directories
 * are bind-mounted read-only at their own paths. What is never visible (the runner
 * application, RUNNER_TEMP, the rest of /home, /root, /run, the host's /tmp, credential files)
 * is either never mounted or, where it lies inside a mounted directory, covered by an empty
 * mount of its own.
 */
import { createHash } from 'node:crypto'
import {
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  statSync,
  writeFileSync
} from 'node:fs'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import type { MountConfig } from '../provider/index.js'
import { docker, DockerError } from './docker.js'
import { stripCredentials } from './git-credentials.js'

/** The `image` value (a contract name) that selects runner mode. */
export const RUNNER_IMAGE = 'runner'

export function isRunnerImage(image: string): boolean {
  return image === RUNNER_IMAGE
}

/** Top-level names a distribution may keep as links into /usr (merged /usr) or as real dirs. */
const TOP_LEVEL = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'] as const
/** Directories the runner's own copies are mounted over, read-only, when they exist. */
const SYSTEM_DIRS = ['/usr', '/etc', '/opt'] as const
/** Empty directories of the imported root: mount points, and places programs expect. */
const ROOT_DIRS = [
  'airlock',
  'dev',
  'etc',
  'home',
  'mnt',
  'opt',
  'proc',
  'root',
  'run',
  'sys',
  'tmp',
  'usr',
  'var',
  'var/tmp'
] as const

/** The imported root: which top-level names are links (merged /usr) and which are dirs. */
export interface RootLayout {
  links: Array<{ name: string; target: string }>
  dirs: string[]
  /** Where the host's sbin entries are seen when /sbin is a real directory of the runner. */
  sbinMount?: string
}

/**
 * The runner's own top-level layout, read from `root` (the host's `/`).
 *
 * `/sbin` is the exception: docker's `--init` puts its init at /sbin/docker-init, which
 * cannot be created in a read-only mount of the runner's /usr/sbin. So /sbin is a directory
 * of the root image holding one link per entry of the runner's sbin (`/sbin/ldconfig` →
 * `/usr/sbin/ldconfig`), and docker-init lands beside them.
 */
export function hostRootLayout(root = '/'): RootLayout {
  const links: RootLayout['links'] = []
  const dirs: string[] = [...ROOT_DIRS]
  let sbinMount: string | undefined
  for (const name of TOP_LEVEL) {
    const p = join(root, name)
    let st
    try {
      st = lstatSync(p)
    } catch {
      continue
    }
    if (name === 'sbin' && (st.isSymbolicLink() || st.isDirectory())) {
      // Merged /usr: the entries are seen through the /usr mount; otherwise through a
      // read-only mount of the runner's /sbin under /airlock.
      const via = st.isSymbolicLink() ? resolve('/', readlinkSync(p)) : '/airlock/sbin'
      if (!st.isSymbolicLink()) sbinMount = via
      dirs.push('sbin')
      let entries: string[] = []
      try {
        entries = readdirSync(st.isSymbolicLink() ? join(root, via) : p)
      } catch {
        // an unreadable sbin: an empty one (docker-init only)
      }
      for (const e of entries.sort())
        if (
          e !== 'docker-init' &&
          Buffer.byteLength(`sbin/${e}`) < 99 &&
          Buffer.byteLength(`${via}/${e}`) < 99
        )
          links.push({ name: `sbin/${e}`, target: `${via}/${e}` })
      continue
    }
    if (st.isSymbolicLink()) links.push({ name, target: readlinkSync(p) })
    else if (st.isDirectory()) dirs.push(name)
  }
  dirs.sort()
  return sbinMount ? { links, dirs, sbinMount } : { links, dirs }
}

function tarHeader(name: string, type: '5' | '2', mode: number, link = ''): Buffer {
  const h = Buffer.alloc(512)
  const put = (s: string, off: number, len: number): void => void h.write(s, off, len, 'utf8')
  const octal = (n: number, len: number): string => n.toString(8).padStart(len - 1, '0') + '\0'
  if (Buffer.byteLength(name) > 99 || Buffer.byteLength(link) > 99)
    throw new DockerError(`runner image: path too long for the root image: ${name} → ${link}`)
  put(name, 0, 100)
  put(octal(mode, 8), 100, 8)
  put(octal(0, 8), 108, 8) // uid
  put(octal(0, 8), 116, 8) // gid
  put(octal(0, 12), 124, 12) // size
  put(octal(0, 12), 136, 12) // mtime: fixed, so the same layout is the same image
  put('        ', 148, 8) // checksum field counts as spaces while summing
  put(type, 156, 1)
  put(link, 157, 100)
  put('ustar\0', 257, 6)
  put('00', 263, 2)
  let sum = 0
  for (const b of h) sum += b
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8)
  return h
}

/** A ustar archive of the root: directories (root-owned) and links, nothing else. */
export function rootTar(layout: RootLayout): Buffer {
  const parts: Buffer[] = []
  for (const d of layout.dirs) {
    const sticky = d === 'tmp' || d === 'var/tmp'
    parts.push(tarHeader(`${d}/`, '5', sticky ? 0o1777 : 0o755))
  }
  for (const l of layout.links) parts.push(tarHeader(l.name, '2', 0o777, l.target))
  parts.push(Buffer.alloc(1024))
  return Buffer.concat(parts)
}

/**
 * The local root image for this layout, imported once and then found by name: the tag is the
 * hash of the archive, so a runner whose layout differs gets its own image, never a stale one.
 *
 * Returns the image's id, not its name. A name is only a pointer anyone with the docker socket
 * can move: on a shared (self-hosted) runner an earlier job can tag an image of its own as
 * `airlock-runner-root:<hash>`, with files in the root's own directories (`/sbin`, `/var`,
 * `/home`, …, which no runner directory is mounted over) or an `ENV` (`NODE_OPTIONS`,
 * `LD_PRELOAD`, …) that the sandbox env file does not override, and so run its code in every
 * later sandbox of that runner, beside the agent's own credentialed proxy access. So the image
 * found under the name is used only when it is exactly ours: its one layer is this archive
 * (a layer's diff id is the SHA-256 of its uncompressed tar) and its config sets nothing.
 * Anything else is replaced by a fresh import; the id checked is the id run, so the name
 * moving again afterwards changes nothing.
 */
export async function ensureRunnerImage(layout: RootLayout, scratchDir: string): Promise<string> {
  const tar = rootTar(layout)
  const digest = createHash('sha256').update(tar).digest('hex')
  const name = `airlock-runner-root:${digest.slice(0, 16)}`
  const cached = await ourRootImage(name, digest)
  if (cached) return cached
  const file = join(scratchDir, 'runner-root.tar')
  writeFileSync(file, tar, { mode: 0o600 })
  const r = await docker(['import', '--message', 'airlock runner root', file, name])
  if (r.code !== 0)
    throw new DockerError(`could not make the runner root image: ${r.stderr.trim()}`)
  // `docker import` prints the new image's id; checked like a cached one (never trusted as is).
  const id = r.stdout.trim()
  const made = /^sha256:[0-9a-f]{64}$/.test(id) ? await ourRootImage(id, digest) : undefined
  if (!made)
    throw new DockerError(
      `the runner root image docker made (${id || 'no id'}) is not the archive Airlock gave it`
    )
  return made
}

/** Config fields an image may set that change what a container of it runs or is given. */
const IMAGE_CONFIG_FIELDS = [
  'Entrypoint',
  'Cmd',
  'User',
  'WorkingDir',
  'Volumes',
  'Healthcheck',
  'OnBuild',
  'Shell',
  'ExposedPorts',
  'StopSignal'
] as const

/**
 * An imported image's `Env`: none, or only a `PATH` (a daemon may give an imported image its
 * default one; the sandbox's env file sets PATH itself, so it never reaches a program).
 */
function onlyDefaultEnv(env: unknown): boolean {
  if (env === undefined || env === null) return true
  return Array.isArray(env) && env.every((e) => typeof e === 'string' && e.startsWith('PATH='))
}

/**
 * The id of `ref` when it is Airlock's root image for the archive whose SHA-256 is `digest`:
 * exactly one layer, that archive, and no config of its own. Undefined otherwise (absent,
 * another image under the name).
 */
export async function ourRootImage(ref: string, digest: string): Promise<string | undefined> {
  const r = await docker(['image', 'inspect', '--format', '{{json .}}', ref])
  if (r.code !== 0) return undefined
  let image: {
    Id?: unknown
    RootFS?: { Type?: unknown; Layers?: unknown }
    Config?: Record<string, unknown> | null
  }
  try {
    image = JSON.parse(r.stdout) as typeof image
  } catch {
    return undefined
  }
  const layers = image.RootFS?.Layers
  const config = image.Config ?? {}
  const empty = (v: unknown): boolean =>
    v === undefined ||
    v === null ||
    v === '' ||
    (Array.isArray(v) && v.length === 0) ||
    (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0)
  if (
    typeof image.Id !== 'string' ||
    !/^sha256:[0-9a-f]{64}$/.test(image.Id) ||
    image.RootFS?.Type !== 'layers' ||
    !Array.isArray(layers) ||
    layers.length !== 1 ||
    layers[0] !== `sha256:${digest}` ||
    !IMAGE_CONFIG_FIELDS.every((f) => empty(config[f])) ||
    !onlyDefaultEnv(config.Env)
  )
    return undefined
  return image.Id
}

/** An empty mount over a path that must not be seen inside a mounted directory. */
export interface Mask {
  target: string
  kind: 'dir' | 'file'
}

export interface RunnerView {
  /** Read-only binds of the runner's own directories, each at its own path. */
  mounts: MountConfig[]
  masks: Mask[]
  /** `NAME=value`: the job's PATH, toolchain variables, caches redirected into HOME. */
  env: Record<string, string>
  /** Variables that were left out because of their name or value (names only, for the log). */
  refused: string[]
  /** Never-visible paths that exist inside a mounted directory (covered by `masks`). */
  masked: string[]
}

/**
 * Variables that move a tool's credential store out of the home, and what in the directory
 * they name holds the credentials ('' = all of it). Hosted Ubuntu images set
 * `CARGO_HOME=/usr/share/rust/.cargo`, so `cargo login` in an earlier step of the job writes
 * the registry token under the read-only `/usr` mount, where masking `~/.cargo` misses it.
 */
const CREDENTIAL_PATH_VARS: Record<string, string[]> = {
  CARGO_HOME: ['credentials', 'credentials.toml'],
  DOCKER_CONFIG: [''],
  CLOUDSDK_CONFIG: [''],
  AZURE_CONFIG_DIR: [''],
  GH_CONFIG_DIR: [''],
  GNUPGHOME: [''],
  GOOGLE_APPLICATION_CREDENTIALS: [''],
  AWS_SHARED_CREDENTIALS_FILE: [''],
  AWS_CONFIG_FILE: [''],
  NPM_CONFIG_USERCONFIG: [''],
  npm_config_userconfig: [''],
  PIP_CONFIG_FILE: [''],
  KUBECONFIG: ['']
}

/** The credential stores the job's environment points at (absolute paths, never `/`). */
export function credentialPathsFromEnv(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = []
  for (const [name, parts] of Object.entries(CREDENTIAL_PATH_VARS))
    // KUBECONFIG is a list.
    for (const value of (env[name] ?? '').split(':'))
      if (isAbsolute(value) && resolve(value) !== '/')
        for (const part of parts) out.push(part ? join(resolve(value), part) : resolve(value))
  return out
}

/** An npmrc line that holds a credential: `_authToken`, `_auth`, `_password` (any scope). */
const NPMRC_CREDENTIAL = /^[ \t]*(?![#;])[^=\n]*(_authToken|_auth|_password)[ \t]*=/im

/**
 * Every global npmrc (`<prefix>/etc/npmrc`, beside each `bin` directory on the job's PATH:
 * the tool cache's Node, nvm's, /usr/local's) that holds a credential. `npm config set
 * --global //registry…/:_authToken=…` in an earlier step writes the token there, inside the
 * read-only tool cache or /usr mount. One that holds none (a `cafile`, a mirror) stays.
 */
export function globalNpmrcsWithCredentials(
  env: NodeJS.ProcessEnv,
  exists: (p: string) => boolean = existsSync,
  read: (p: string) => string = (p) => readFileSync(p, 'utf8')
): string[] {
  const out = new Set<string>()
  for (const dir of (env.PATH ?? '').split(':')) {
    if (!isAbsolute(dir) || !resolve(dir).endsWith('/bin')) continue
    const npmrc = join(dirname(resolve(dir)), 'etc', 'npmrc')
    if (out.has(npmrc) || !exists(npmrc)) continue
    let text: string
    try {
      text = read(npmrc)
    } catch {
      continue
    }
    if (NPMRC_CREDENTIAL.test(text)) out.add(npmrc)
  }
  return [...out]
}

/** Git's system configs on the paths runner mode mounts (`$(prefix)/etc/gitconfig`). */
const SYSTEM_GIT_CONFIGS = ['/etc/gitconfig', '/usr/local/etc/gitconfig'] as const

/**
 * The system git configs that hold a credential, by the rule the workspace's configs are
 * cleaned with ({@link stripCredentials}: an `extraheader`, a URL's userinfo, a credential
 * helper or an include). Admins of self-hosted hosts set `git config --system
 * http.https://github.com/.extraheader "AUTHORIZATION: basic …"` for private submodules; the
 * sandbox read it through the read-only /etc mount. One without a credential stays.
 */
export function systemGitConfigsWithCredentials(
  exists: (p: string) => boolean = existsSync,
  read: (p: string) => string = (p) => readFileSync(p, 'utf8')
): string[] {
  return SYSTEM_GIT_CONFIGS.filter((file) => {
    if (!exists(file)) return false
    try {
      const text = read(file)
      return stripCredentials(text) !== text
    } catch {
      return false
    }
  })
}

/**
 * Toolchains hosted images keep under the runner's home, mounted read-only at their own path.
 * Only these: the home itself holds credentials (`.ssh`, `.docker`, `.aws`, `.npmrc`, …).
 */
export const HOME_TOOLCHAINS = [
  '.cargo/bin',
  '.rustup',
  '.dotnet',
  '.local/bin',
  '.local/pipx',
  '.local/share/pipx',
  'go/bin',
  '.nvm',
  '.pyenv',
  '.rbenv',
  '.bun/bin',
  '.deno/bin',
  '.volta',
  '.sdkman/candidates',
  '.ghcup/bin',
  '.juliaup',
  '.elan',
  '.config/composer/vendor/bin'
] as const

/**
 * Files and directories under a mounted system directory that can hold a secret on a runner:
 * password hashes, SSH host keys, the docker daemon's and registries' client certificates,
 * TLS private keys, cluster and VPN credentials, Kerberos keytabs.
 */
export const SYSTEM_SECRETS = [
  '/etc/shadow',
  '/etc/shadow-',
  '/etc/gshadow',
  '/etc/gshadow-',
  '/etc/security/opasswd',
  '/etc/ssh',
  '/etc/docker',
  '/etc/containerd',
  '/etc/ssl/private',
  '/etc/kubernetes',
  '/etc/rancher',
  '/etc/krb5.keytab',
  '/etc/wireguard',
  '/etc/openvpn',
  '/etc/NetworkManager/system-connections',
  '/etc/sudoers',
  '/etc/sudoers.d',
  // Credential stores self-hosted hosts keep in /etc too: private package repositories, TLS
  // keys (certbot, RHEL's pki), another CI's runner tokens, registry logins, database, VPN,
  // LDAP and wireless passwords, cluster and secret-store agents' configs.
  '/etc/apt/auth.conf',
  '/etc/apt/auth.conf.d',
  '/etc/letsencrypt',
  '/etc/pki/tls/private',
  '/etc/pki/CA/private',
  '/etc/gitlab-runner',
  '/etc/buildkite-agent',
  '/etc/containers/auth.json',
  '/etc/mysql/debian.cnf',
  '/etc/ipsec.secrets',
  '/etc/ppp/chap-secrets',
  '/etc/ppp/pap-secrets',
  '/etc/sssd',
  '/etc/netplan',
  '/etc/wpa_supplicant',
  '/etc/ceph',
  '/etc/vault.d',
  '/etc/consul.d',
  '/etc/nomad.d'
] as const

/** Credential files and directories under the runner's home. */
export const HOME_SECRETS = [
  '.ssh',
  '.docker',
  '.aws',
  '.azure',
  '.kube',
  '.gnupg',
  '.config/gcloud',
  '.config/gh',
  '.netrc',
  '.git-credentials',
  '.gitconfig',
  '.npmrc',
  '.pypirc',
  '.cargo/credentials',
  '.cargo/credentials.toml'
] as const

/**
 * The toolchain variables carried in (what `setup-*` steps export). An allowlist: anything
 * else of the runner's environment, its job tokens above all, stays out.
 */
const CARRIED =
  /^(PATH|JAVA_HOME(_\d+_(X64|ARM64))?|GOROOT(_\d+_(X64|ARM64))?|pythonLocation|Python\d?_ROOT_DIR|PKG_CONFIG_PATH|LD_LIBRARY_PATH|DOTNET_ROOT(_X64|_ARM64)?|DOTNET_NOLOGO|DOTNET_CLI_TELEMETRY_OPTOUT|DOTNET_SKIP_FIRST_TIME_EXPERIENCE|RUSTUP_HOME|RUSTUP_TOOLCHAIN|PYENV_ROOT|NVM_DIR|VOLTA_HOME|SDKMAN_DIR|GHCUP_INSTALL_BASE_PREFIX|ANDROID_HOME|ANDROID_SDK_ROOT|ANDROID_NDK(_HOME|_ROOT|_LATEST_HOME)?|CONDA|VCPKG_INSTALLATION_ROOT|GRADLE_HOME|M2_HOME|MAVEN_HOME|ANT_HOME|SWIFT_PATH|CHROME_BIN|CHROMEWEBDRIVER|GECKOWEBDRIVER|EDGEWEBDRIVER|SELENIUM_JAR_PATH|LANG|LC_ALL|TZ)$/

/** A name that says it holds a credential is never carried, whatever the allowlist says. */
const SECRET_NAME = /token|key|secret|passw|pwd|credential|auth|cookie|session|private|cert/i

/** Variables whose default lies under $HOME: pointed at the runner's copy when it is mounted. */
const HOME_VARS: Array<{ name: string; dir: string }> = [
  { name: 'RUSTUP_HOME', dir: '.rustup' },
  { name: 'PYENV_ROOT', dir: '.pyenv' },
  { name: 'NVM_DIR', dir: '.nvm' },
  { name: 'VOLTA_HOME', dir: '.volta' },
  { name: 'SDKMAN_DIR', dir: '.sdkman/candidates' }
]

const DEFAULT_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']

export interface RunnerViewOptions {
  env: NodeJS.ProcessEnv
  /** The workspace (absolute, as mounted at its own path). */
  workspace: string
  layout: RootLayout
  /** Values that must never cross (the secrets Airlock holds, the runner's job tokens). */
  secrets: string[]
  /** The container's private HOME. */
  containerHome: string
  /** The runner's Node (its ancestors lead to the runner application). */
  execPath: string
  /** Where the host's filesystem is seen (tests); `/` on a runner. */
  exists?: (p: string) => boolean
  realpath?: (p: string) => string
  /** Other runner installations on the host (tests); {@link hostRunnerDirs} on a runner. */
  hostRunners?: () => string[]
}

const within = (p: string, dir: string): boolean =>
  dir === '/' ? p.startsWith('/') : p === dir || p.startsWith(`${dir}/`)

/** Files that mark the runner application's directory (its registration and credentials). */
const RUNNER_MARKS = ['.runner', '.credentials', '.credentials_rsaparams', 'bin/Runner.Worker']

/**
 * The runner application's directories: ancestors of the runner's Node (its `externals`),
 * RUNNER_TEMP and RUNNER_WORKSPACE (`<runner>/_work/...` by default) that hold its
 * registration or credentials (other installations on the host: {@link hostRunnerDirs}).
 */
export function runnerAppDirs(
  env: NodeJS.ProcessEnv,
  execPath: string,
  exists: (p: string) => boolean = existsSync
): string[] {
  const found = new Set<string>()
  const starts = [execPath, env.RUNNER_TEMP, env.RUNNER_WORKSPACE].filter(
    (s): s is string => !!s && isAbsolute(s)
  )
  for (const start of starts) {
    for (let d = dirname(start); d !== '/' && d !== '.'; d = dirname(d)) {
      if (RUNNER_MARKS.some((m) => exists(join(d, m)))) found.add(d)
    }
  }
  return [...found].sort()
}

/**
 * Where hosts that run several runners keep the others (`/opt/actions-runner-2`,
 * `/usr/local/runners/3`): directories the sandbox sees through its `/opt` and `/usr` mounts.
 */
const RUNNER_INSTALL_ROOTS = ['/opt', '/usr/local'] as const

/** Real subdirectories of dir (no links), or none when it cannot be read. */
function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => join(dir, e.name))
  } catch {
    return []
  }
}

/**
 * Every runner installation under {@link RUNNER_INSTALL_ROOTS}, one or two levels down: not
 * only this job's runner (found by {@link runnerAppDirs}) but every other one on the host. Each
 * holds its registration (`.credentials`, `.credentials_rsaparams`: the key that takes that
 * runner's jobs, and their secrets) and its `_work` (other jobs' checkouts, their temp files),
 * readable by the sandbox's uid when the runners share a user.
 */
export function hostRunnerDirs(
  exists: (p: string) => boolean = existsSync,
  list: (dir: string) => string[] = subdirs
): string[] {
  const isRunner = (d: string): boolean => RUNNER_MARKS.some((m) => exists(join(d, m)))
  const found: string[] = []
  for (const root of RUNNER_INSTALL_ROOTS)
    for (const d of list(root)) {
      if (isRunner(d)) found.push(d)
      else for (const dd of list(d)) if (isRunner(dd)) found.push(dd)
    }
  return found.sort()
}

/**
 * What the container of a runner-mode run sees of the runner: mounts, masks and environment.
 * Pure (the filesystem is read through `exists`/`realpath`), so each rule is unit-tested.
 */
export function runnerView(opts: RunnerViewOptions): RunnerView {
  const exists = opts.exists ?? existsSync
  const real = opts.realpath ?? ((p: string) => realpathSync(p))
  const env = opts.env
  const home = env.HOME && isAbsolute(env.HOME) ? resolve(env.HOME) : undefined
  const runnerTemp = env.RUNNER_TEMP ? resolve(env.RUNNER_TEMP) : undefined
  const workspace = resolve(opts.workspace)

  // Never visible. Everything under a mounted directory that matches is covered.
  const never = [
    ...runnerAppDirs(env, opts.execPath, exists),
    ...(opts.hostRunners ?? (() => hostRunnerDirs(exists)))(),
    ...(runnerTemp ? [runnerTemp] : []),
    ...(home ? [home, ...HOME_SECRETS.map((s) => join(home, s))] : []),
    ...credentialPathsFromEnv(env),
    ...globalNpmrcsWithCredentials(env, exists),
    ...systemGitConfigsWithCredentials(exists),
    '/home',
    '/root',
    '/run',
    '/var/run',
    '/tmp',
    ...SYSTEM_SECRETS
  ]
  // A mount is never one of those paths itself. The toolchains under the home are stricter:
  // none may lead (through a link) into a credential directory, RUNNER_TEMP or the runner.
  const broad = new Set(['/home', '/tmp', ...(home ? [home] : [])])
  const safeSource = (src: string, strict: boolean): boolean =>
    src !== '/' &&
    !never.includes(src) &&
    (!strict || !never.some((n) => !broad.has(n) && within(src, n)))

  const mounts: MountConfig[] = []
  const add = (path: string, strict = false): boolean => {
    if (!exists(path) || mounts.some((m) => m.target === path)) return false
    let src: string
    try {
      src = real(path)
    } catch {
      return false
    }
    if (!safeSource(path, strict) || !safeSource(src, strict)) return false
    mounts.push({ source: src, target: path, readOnly: true })
    return true
  }
  for (const d of SYSTEM_DIRS) add(d)
  for (const d of opts.layout.dirs)
    if (d !== 'sbin' && (TOP_LEVEL as readonly string[]).includes(d)) add(`/${d}`)
  if (opts.layout.sbinMount && exists('/sbin'))
    mounts.push({ source: real('/sbin'), target: opts.layout.sbinMount, readOnly: true })
  if (env.RUNNER_TOOL_CACHE && isAbsolute(env.RUNNER_TOOL_CACHE))
    add(resolve(env.RUNNER_TOOL_CACHE))
  const homeMounted: string[] = []
  if (home) for (const rel of HOME_TOOLCHAINS) if (add(join(home, rel), true)) homeMounted.push(rel)

  // Masks: each never-visible path that exists inside a mounted directory (seen through the
  // mount's own path or its real source), covered where the container sees it.
  const masks: Mask[] = []
  const masked: string[] = []
  for (const n of never) {
    if (!exists(n)) continue
    let kind: Mask['kind']
    try {
      kind = statSync(n).isDirectory() ? 'dir' : 'file'
    } catch {
      continue
    }
    for (const m of mounts) {
      for (const base of [m.target, m.source]) {
        if (n === base || !within(n, base)) continue
        const target = m.target + n.slice(base.length)
        if (masks.some((x) => x.target === target)) continue
        masks.push({ target, kind })
        if (!masked.includes(n)) masked.push(n)
      }
    }
  }

  // Environment: the allowlist, with no value that holds a secret.
  const secrets = opts.secrets.filter((s) => s.length >= 8)
  const out: Record<string, string> = {}
  const refused: string[] = []
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || !CARRIED.test(name)) continue
    if (
      SECRET_NAME.test(name) ||
      /[\0\r\n]/.test(value) ||
      secrets.some((s) => value.includes(s)) ||
      looksLikeToken(value)
    ) {
      refused.push(name)
      continue
    }
    out[name] = value
  }
  // The loader path of the forwarder and every program: never from the workspace, which the
  // agent writes.
  if (out.LD_LIBRARY_PATH !== undefined) {
    const kept = out.LD_LIBRARY_PATH.split(':').filter(
      (p) => p && isAbsolute(p) && !within(resolve(p), workspace)
    )
    if (kept.length > 0) out.LD_LIBRARY_PATH = kept.join(':')
    else delete out.LD_LIBRARY_PATH
  }
  const path = (out.PATH ?? '').split(':').filter(Boolean)
  for (const d of DEFAULT_PATH) if (!path.includes(d)) path.push(d)
  out.PATH = path.join(':')
  // Tools whose root defaults to $HOME/...: the runner's copy, since HOME is private here.
  if (home)
    for (const v of HOME_VARS)
      if (out[v.name] === undefined && homeMounted.includes(v.dir)) out[v.name] = join(home, v.dir)
  // Writable caches and state go to the private HOME (the runner's are read-only here).
  out.CARGO_HOME = join(opts.containerHome, '.cargo')
  out.GOPATH = join(opts.containerHome, 'go')
  out.GOMODCACHE = join(opts.containerHome, 'go', 'pkg', 'mod')
  out.PIPX_HOME = join(opts.containerHome, '.local', 'pipx')
  out.PIPX_BIN_DIR = join(opts.containerHome, '.local', 'bin')
  return { mounts, masks, env: out, refused: refused.sort(), masked }
}

/** Values shaped like the credentials runners commonly carry, whatever the variable's name. */
function looksLikeToken(value: string): boolean {
  return /\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|sk-[A-Za-z0-9_-]{20,}|xox[abprs]-[\w-]{10,}|npm_[A-Za-z0-9]{30,}|eyJ[\w-]{10,}\.[\w-]{10,}\.)/.test(
    value
  )
}
