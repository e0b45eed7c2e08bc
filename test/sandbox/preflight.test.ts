import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DockerError, type DockerResult } from '../../src/sandbox/docker.js'
import {
  checkWorkspaceLinks,
  checkWorkspaceScope,
  isPodman,
  isRootless,
  preflight,
  PreflightError,
  type DockerInfo,
  type PreflightDeps
} from '../../src/sandbox/preflight.js'

/** `docker info --format '{{json .}}'` of Docker Engine 27, rootful (trimmed to what is read). */
const ROOTFUL: DockerInfo = {
  ServerVersion: '27.5.1',
  OSType: 'linux',
  Architecture: 'x86_64',
  SecurityOptions: ['name=apparmor', 'name=seccomp,profile=builtin', 'name=cgroupns'],
  DockerRootDir: '/var/lib/docker',
  Name: 'fv-az1234-567',
  ClientInfo: { Context: 'default' }
}

/** Rootless Docker (dockerd-rootless-setuptool.sh install): the `rootless` context and option. */
const ROOTLESS: DockerInfo = {
  ServerVersion: '27.5.1',
  OSType: 'linux',
  Architecture: 'x86_64',
  SecurityOptions: ['name=seccomp,profile=builtin', 'name=rootless', 'name=cgroupns'],
  DockerRootDir: '/home/runner/.local/share/docker',
  ClientInfo: { Context: 'rootless' }
}

/** Podman's Docker-compatible socket (podman system service), rootless, as the docker CLI shows it. */
const PODMAN_COMPAT: DockerInfo = {
  ServerVersion: '4.9.3',
  OSType: 'linux',
  Architecture: 'amd64',
  SecurityOptions: ['name=seccomp,profile=default', 'name=rootless'],
  DockerRootDir: '/home/runner/.local/share/containers/storage',
  ClientInfo: { Context: 'default' }
}

/** podman-docker's `docker` is Podman's own CLI: `podman info --format json` has its own shape. */
const PODMAN_CLI = {
  host: { arch: 'amd64', security: { rootless: true } },
  store: { graphRoot: '/home/runner/.local/share/containers/storage' },
  version: { Version: '4.9.3' }
}

/** Docker Desktop switched to Windows containers. */
const WINDOWS_DAEMON: DockerInfo = { ...ROOTFUL, OSType: 'windows', Architecture: 'x86_64' }

const CLIENT_ONLY = JSON.stringify({ ServerVersion: '', ClientInfo: { Context: 'default' } })

type Answer = DockerResult | Error
function deps(info: Answer, probe?: Answer, over: Partial<PreflightDeps> = {}): PreflightDeps {
  const calls: string[][] = []
  const answer = (a: Answer): Promise<DockerResult> =>
    a instanceof Error ? Promise.reject(a) : Promise.resolve(a)
  return {
    platform: 'linux',
    arch: 'x64',
    uid: 1001,
    gid: 118,
    selfContainerId: () => undefined,
    docker: (args) => {
      calls.push(args)
      return answer(
        args[0] === 'info'
          ? info
          : (probe ?? {
              code: 1,
              stdout: '',
              stderr:
                'Error response from daemon: No such image: airlock-preflight-probe.invalid/none:none'
            })
      )
    },
    ...over
  }
}
const ok = (info: unknown): DockerResult => ({ code: 0, stdout: JSON.stringify(info), stderr: '' })

let ws: string
let temp: string
beforeEach(() => {
  ws = mkdtempSync(join(tmpdir(), 'airlock-pf-ws-'))
  temp = mkdtempSync(join(tmpdir(), 'airlock-pf-temp-'))
})
afterEach(() => {
  rmSync(ws, { recursive: true, force: true })
  rmSync(temp, { recursive: true, force: true })
})

async function fails(p: Promise<unknown>): Promise<PreflightError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e
  )
  expect(err).toBeInstanceOf(PreflightError)
  return err as PreflightError
}

describe('preflight: the runner', () => {
  it.each([
    ['darwin', 'macOS'],
    ['win32', 'Windows']
  ] as const)('refuses %s, naming it and the fix', async (platform, name) => {
    const e = await fails(
      preflight({ workspace: ws }, {}, deps(ok(ROOTFUL), undefined, { platform }))
    )
    expect(e.code).toBe('AIRLOCK_PREFLIGHT_OS')
    expect(e.message).toContain(`this one is ${name}`)
    expect(e.message).toContain('runs-on: ubuntu-latest')
  })

  it('refuses a CPU other than x64 and arm64', async () => {
    const e = await fails(
      preflight({ workspace: ws }, {}, deps(ok(ROOTFUL), undefined, { arch: 'ppc64' }))
    )
    expect(e.code).toBe('AIRLOCK_PREFLIGHT_ARCH')
    expect(e.message).toContain('ppc64')
  })

  it('takes arm64', async () => {
    const r = await preflight(
      { workspace: ws },
      { RUNNER_TEMP: temp },
      deps(ok(ROOTFUL), undefined, { arch: 'arm64' })
    )
    expect(r.rootless).toBe(false)
    expect(r.containerUser).toEqual({ uid: 1001, gid: 118 })
  })

  it('refuses a workspace that is not a directory before asking docker anything', async () => {
    const e = await preflight(
      { workspace: join(ws, 'nope') },
      {},
      deps(new Error('not called'))
    ).catch((x: unknown) => x as Error)
    expect((e as { code?: string }).code).toBe('AIRLOCK_BAD_INPUT')
    expect((e as Error).message).toContain('nope is not a directory')
  })
})

describe('preflight: docker', () => {
  it('says the docker CLI is missing', async () => {
    const e = await fails(
      preflight(
        { workspace: ws },
        {},
        deps(new DockerError('the docker CLI is not installed on this runner'))
      )
    )
    expect(e.code).toBe('AIRLOCK_PREFLIGHT_NO_DOCKER')
    expect(e.message).toContain("not on this runner's PATH")
  })

  it('names ARC kubernetes mode when the runner has container hooks and no docker', async () => {
    const e = await fails(
      preflight(
        { workspace: ws },
        { ACTIONS_RUNNER_CONTAINER_HOOKS: '/home/runner/k8s/index.js' },
        deps(new DockerError('the docker CLI is not installed on this runner'))
      )
    )
    expect(e.code).toBe('AIRLOCK_PREFLIGHT_NO_DOCKER')
    expect(e.message).toContain('kubernetes mode')
    expect(e.message).toContain('containerMode.type: dind')
  })

  it('names DOCKER_HOST when the daemon does not answer', async () => {
    const down: DockerResult = {
      code: 1,
      stdout: CLIENT_ONLY,
      stderr:
        'Cannot connect to the Docker daemon at tcp://10.0.0.9:2375. Is the docker daemon running?\n'
    }
    const e = await fails(
      preflight({ workspace: ws }, { DOCKER_HOST: 'tcp://10.0.0.9:2375' }, deps(down, down))
    )
    expect(e.code).toBe('AIRLOCK_PREFLIGHT_DAEMON')
    expect(e.message).toContain(
      'the Docker daemon at DOCKER_HOST=tcp://10.0.0.9:2375 does not answer'
    )
    expect(e.message).toContain('Check that DOCKER_HOST names a running daemon')
  })

  it('names the default socket and how to start the daemon', async () => {
    const down: DockerResult = {
      code: 1,
      stdout: CLIENT_ONLY,
      stderr:
        'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?'
    }
    const e = await fails(preflight({ workspace: ws }, {}, deps(down, down)))
    expect(e.code).toBe('AIRLOCK_PREFLIGHT_DAEMON')
    expect(e.message).toContain('the Docker daemon at unix:///var/run/docker.sock does not answer')
    expect(e.message).toContain('systemctl start docker')
  })

  it('names a docker context', async () => {
    const down: DockerResult = {
      code: 1,
      stdout: JSON.stringify({ ServerVersion: '', ClientInfo: { Context: 'remote-builder' } }),
      stderr:
        'error during connect: Get "https://builder:2376/v1.47/info": dial tcp: lookup builder: no such host'
    }
    const e = await fails(preflight({ workspace: ws }, {}, deps(down, down)))
    expect(e.message).toContain('docker context "remote-builder"')
    expect(e.message).toContain('no such host')
  })

  it("says the runner's user may not use the socket", async () => {
    const denied: DockerResult = {
      code: 1,
      stdout: CLIENT_ONLY,
      stderr:
        'permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.47/info": dial unix /var/run/docker.sock: connect: permission denied'
    }
    const e = await fails(preflight({ workspace: ws }, {}, deps(denied, denied)))
    expect(e.code).toBe('AIRLOCK_PREFLIGHT_DAEMON_DENIED')
    expect(e.message).toContain('docker group')
  })

  it('refuses a daemon that runs Windows containers', async () => {
    const e = await fails(preflight({ workspace: ws }, {}, deps(ok(WINDOWS_DAEMON))))
    expect(e.code).toBe('AIRLOCK_PREFLIGHT_DAEMON_OS')
    expect(e.message).toContain('windows containers')
  })

  it.each([
    ['its Docker-compatible socket', PODMAN_COMPAT],
    ['its own CLI installed as docker', PODMAN_CLI]
  ])('refuses Podman behind %s, saying what to install', async (_what, info) => {
    const e = await fails(preflight({ workspace: ws }, {}, deps(ok(info))))
    expect(e.code).toBe('AIRLOCK_PREFLIGHT_PODMAN')
    expect(e.message).toContain('Install Docker Engine')
  })

  it('runs the container as the runner under rootful Docker', async () => {
    const r = await preflight({ workspace: ws }, { RUNNER_TEMP: temp }, deps(ok(ROOTFUL)))
    expect(r.rootless).toBe(false)
    expect(r.containerUser).toEqual({ uid: 1001, gid: 118 })
  })

  it("runs the container as the namespace's root (the runner's user) under rootless Docker", async () => {
    const r = await preflight({ workspace: ws }, { RUNNER_TEMP: temp }, deps(ok(ROOTLESS)))
    expect(r.rootless).toBe(true)
    expect(r.containerUser).toEqual({ uid: 0, gid: 0 })
  })

  it('tells the shapes apart', () => {
    expect([ROOTFUL, ROOTLESS, PODMAN_COMPAT, PODMAN_CLI].map((i) => isPodman(i))).toEqual([
      false,
      false,
      true,
      true
    ])
    expect([ROOTFUL, ROOTLESS].map((i) => isRootless(i))).toEqual([false, true])
  })
})

describe('preflight: mounts', () => {
  it('probes the workspace and a marker in RUNNER_TEMP and the tool cache, then removes the markers', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'airlock-pf-cache-'))
    const seen: string[][] = []
    const d = deps(ok(ROOTFUL))
    const inner = d.docker
    d.docker = (args) => {
      seen.push(args)
      return inner(args)
    }
    await preflight({ workspace: ws }, { RUNNER_TEMP: temp, RUNNER_TOOL_CACHE: cache }, d)
    const probe = seen.find((a) => a[0] === 'create')!
    expect(probe.slice(0, 3)).toEqual(['create', '--pull', 'never'])
    const sources = probe
      .filter((_, i) => probe[i - 1] === '--mount')
      .map((m) => /source=([^,]+)/.exec(m)![1]!)
    expect(sources[0]).toBe(ws)
    expect(sources[1]!.startsWith(join(temp, '.airlock-probe-'))).toBe(true)
    expect(sources[2]!.startsWith(join(cache, '.airlock-probe-'))).toBe(true)
    expect(readdirSync(temp)).toEqual([])
    expect(readdirSync(cache)).toEqual([])
    rmSync(cache, { recursive: true, force: true })
  })

  it('names the directory the daemon cannot see and the fix', async () => {
    const d = deps(ok(ROOTFUL))
    d.docker = (args) => {
      if (args[0] === 'info') return Promise.resolve(ok(ROOTFUL))
      const marker = /source=([^,]+)/.exec(args.find((a) => a.includes(temp))!)![1]!
      return Promise.resolve({
        code: 125,
        stdout: '',
        stderr: `Error response from daemon: invalid mount config for type "bind": bind source path does not exist: ${marker}\n`
      })
    }
    const e = await fails(preflight({ workspace: ws }, { RUNNER_TEMP: temp }, d))
    expect(e.code).toBe('AIRLOCK_PREFLIGHT_MOUNTS')
    expect(e.message).toContain(`cannot see ${temp} `)
    expect(e.message).toContain('dind')
    expect(readdirSync(temp)).toEqual([])
  })
})

describe('preflight: job containers', () => {
  const id = 'f'.repeat(64)
  function inContainer(mounts: unknown, inspectCode = 0): PreflightDeps & { calls: string[][] } {
    const calls: string[][] = []
    return {
      ...deps(ok(ROOTFUL)),
      selfContainerId: () => id,
      calls,
      docker: (args) => {
        calls.push(args)
        if (args[0] === 'info') return Promise.resolve(ok(ROOTFUL))
        if (args[0] === 'inspect')
          return Promise.resolve(
            inspectCode === 0
              ? ok(mounts)
              : { code: 1, stdout: '', stderr: `Error: No such object: ${id}` }
          )
        return Promise.resolve({ code: 1, stdout: '', stderr: 'Error: No such image: x' })
      }
    }
  }

  it("probes and mounts by the host's paths", async () => {
    const d = inContainer([{ Type: 'bind', Source: '/host/work', Destination: temp, RW: true }])
    // A directory in RUNNER_TEMP (RUNNER_TEMP itself is never a workspace: checkWorkspaceScope).
    const ws = join(temp, 'ws')
    mkdirSync(ws, { recursive: true })
    const r = await preflight({ workspace: ws }, { RUNNER_TEMP: temp, RUNNER_TOOL_CACHE: temp }, d)
    expect(r.hostPath(join(temp, 'x'))).toBe('/host/work/x')
    const probe = d.calls.find((a) => a[0] === 'create')!
    expect(probe.filter((a) => a.includes('source=/host/work')).length).toBeGreaterThan(0)
  })

  it('refuses a workspace only the job container has', async () => {
    const d = inContainer([{ Type: 'bind', Source: '/host/temp', Destination: temp, RW: true }])
    const e = await fails(preflight({ workspace: ws }, { RUNNER_TEMP: temp }, d))
    expect(e.code).toBe('AIRLOCK_PREFLIGHT_CONTAINER_JOB')
    expect(e.message).toContain(`${ws} is in the job container's own filesystem`)
    expect(readdirSync(temp)).toEqual([])
  })

  it('refuses a read-write workspace the job container has read-only', async () => {
    const d = inContainer([
      { Type: 'bind', Source: '/host/ext', Destination: ws, RW: false },
      { Type: 'bind', Source: '/host/temp', Destination: temp, RW: true }
    ])
    const e = await fails(
      preflight({ workspace: ws, workspaceAccess: 'read-write' }, { RUNNER_TEMP: temp }, d)
    )
    expect(e.code).toBe('AIRLOCK_PREFLIGHT_CONTAINER_JOB')
    expect(e.message).toContain('read-only in the job container')
    await preflight({ workspace: ws, workspaceAccess: 'read-only' }, { RUNNER_TEMP: temp }, d)
  })

  it('leaves paths alone in a container the daemon did not start (a dind sidecar)', async () => {
    const r = await preflight({ workspace: ws }, { RUNNER_TEMP: temp }, inContainer([], 1))
    expect(r.hostPath(ws)).toBe(ws)
  })
})

describe('preflight: a workspace never holds the home directory or RUNNER_TEMP', () => {
  it('refuses the home, an ancestor of it, RUNNER_TEMP and its parent; keeps a project inside', () => {
    const home = mkdtempSync(join(tmpdir(), 'airlock-pf-home-'))
    const runnerTemp = join(home, 'work', '_temp')
    const project = join(home, 'work', 'repo')
    mkdirSync(runnerTemp, { recursive: true })
    mkdirSync(project, { recursive: true })
    const env = { HOME: home, RUNNER_TEMP: runnerTemp }
    expect(() => checkWorkspaceScope(home, env)).toThrow(/is your home directory/)
    expect(() => checkWorkspaceScope('/', env)).toThrow(/holds your home directory/)
    expect(() => checkWorkspaceScope(runnerTemp, { RUNNER_TEMP: runnerTemp })).toThrow(
      /is RUNNER_TEMP/
    )
    expect(() => checkWorkspaceScope(join(home, 'work'), { RUNNER_TEMP: runnerTemp })).toThrow(
      /holds RUNNER_TEMP/
    )
    // A link to the home is the home.
    symlinkSync(home, join(project, 'h'))
    expect(() => checkWorkspaceScope(join(project, 'h'), env)).toThrow(/is your home/)
    expect(() => checkWorkspaceScope(project, env)).not.toThrow()
    // The runner application (found from RUNNER_WORKSPACE, RUNNER_TEMP or the runner's Node):
    // a workspace holding it is refused, one inside its _work is not.
    const runner = join(home, 'actions-runner')
    mkdirSync(join(runner, '_work', 'r', 'r'), { recursive: true })
    writeFileSync(join(runner, '.credentials_rsaparams'), '{}')
    const onRunner = { RUNNER_WORKSPACE: join(runner, '_work', 'r') }
    expect(() => checkWorkspaceScope(runner, onRunner, '/usr/bin/node')).toThrow(
      /is the runner application/
    )
    expect(() => checkWorkspaceScope(home, onRunner, '/usr/bin/node')).toThrow(
      /holds the runner application/
    )
    expect(() =>
      checkWorkspaceScope(join(runner, '_work', 'r', 'r'), onRunner, '/usr/bin/node')
    ).not.toThrow()
    expect(() => checkWorkspaceScope(join(runnerTemp, 'x'), env)).not.toThrow()
    rmSync(home, { recursive: true, force: true })
  })
})

describe('preflight: a workspace inside GITHUB_WORKSPACE stays inside it', () => {
  let root: string
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'airlock-wslinks-'))
    mkdirSync(join(root, 'ws', 'src', 'app'), { recursive: true })
    mkdirSync(join(root, '_temp'))
  })
  afterEach(() => rmSync(root, { recursive: true, force: true }))

  it('refuses a directory of the repository that a link leads out (to RUNNER_TEMP)', () => {
    symlinkSync(join('..', '_temp'), join(root, 'ws', 'app'))
    expect(() => checkWorkspaceLinks(join(root, 'ws', 'app'), join(root, 'ws'))).toThrow(
      /a link leads it out/
    )
    // Deeper, through a linked parent directory.
    symlinkSync(root, join(root, 'ws', 'up'))
    expect(() => checkWorkspaceLinks(join(root, 'ws', 'up', '_temp'), join(root, 'ws'))).toThrow(
      /a link leads it out/
    )
  })

  it('keeps links inside the workspace, the workspace itself and paths chosen outside it', () => {
    symlinkSync(join('src', 'app'), join(root, 'ws', 'app'))
    expect(() => checkWorkspaceLinks(join(root, 'ws', 'app'), join(root, 'ws'))).not.toThrow()
    expect(() => checkWorkspaceLinks(join(root, 'ws'), join(root, 'ws'))).not.toThrow()
    // GITHUB_WORKSPACE reached through a link of its own (a self-hosted runner's work dir).
    symlinkSync(join(root, 'ws'), join(root, 'work'))
    expect(() => checkWorkspaceLinks(join(root, 'work', 'app'), join(root, 'work'))).not.toThrow()
    expect(() => checkWorkspaceLinks(join(root, '_temp'), join(root, 'ws'))).not.toThrow()
    expect(() => checkWorkspaceLinks(join(root, 'ws', 'app'), undefined)).not.toThrow()
  })
})
