import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { maskSpec, runArgs, unsupportedImage } from '../../src/sandbox/container.js'
import {
  hostRootLayout,
  isRunnerImage,
  rootTar,
  credentialPathsFromEnv,
  globalNpmrcsWithCredentials,
  systemGitConfigsWithCredentials,
  hostRunnerDirs,
  runnerAppDirs,
  runnerView,
  type RootLayout
} from '../../src/sandbox/runner-image.js'

const LAYOUT: RootLayout = {
  links: [
    { name: 'bin', target: 'usr/bin' },
    { name: 'sbin/ldconfig', target: '/usr/sbin/ldconfig' }
  ],
  dirs: ['airlock', 'etc', 'sbin', 'tmp', 'usr']
}

function fakeRunner(): { root: string; runner: string; temp: string; home: string; tools: string } {
  const root = mkdtempSync(join(tmpdir(), 'airlock-runner-view-'))
  const runner = join(root, 'opt', 'actions-runner')
  const temp = join(runner, '_work', '_temp')
  const tools = join(runner, '_work', '_tool')
  const home = join(root, 'home', 'runner')
  for (const d of [
    temp,
    tools,
    join(runner, '_diag'),
    join(home, '.cargo', 'bin'),
    join(home, '.ssh')
  ])
    mkdirSync(d, { recursive: true })
  writeFileSync(join(runner, '.credentials'), '{}')
  writeFileSync(join(runner, '.runner'), '{}')
  return { root, runner, temp, home, tools }
}

describe('the runner root image', () => {
  it('is a ustar archive of the layout that tar itself reads back, identical for the same layout', () => {
    const tar = rootTar(LAYOUT)
    expect(tar.length % 512).toBe(0)
    expect(rootTar(LAYOUT).equals(tar)).toBe(true)
    const dir = mkdtempSync(join(tmpdir(), 'airlock-root-tar-'))
    writeFileSync(join(dir, 'root.tar'), tar)
    const list = execFileSync('tar', ['-tvf', join(dir, 'root.tar')], { encoding: 'utf8' })
    expect(list).toMatch(/^drwxrwxrwt .* tmp\/$/m)
    expect(list).toMatch(/^lrwxrwxrwx .* bin -> usr\/bin$/m)
    expect(list).toMatch(/^lrwxrwxrwx .* sbin\/ldconfig -> \/usr\/sbin\/ldconfig$/m)
    expect(list).toMatch(/^drwxr-xr-x .* usr\/$/m)
  })

  it('mirrors this machine: merged /usr links, and /sbin a directory of links (docker-init goes there)', () => {
    const layout = hostRootLayout()
    expect(layout.dirs).toContain('sbin')
    expect(layout.links.find((l) => l.name === 'bin')?.target).toBe('usr/bin')
    expect(layout.links.some((l) => l.name === 'sbin/docker-init')).toBe(false)
    expect(
      layout.links.every((l) => !l.name.startsWith('sbin/') || l.target.startsWith('/usr/sbin/'))
    ).toBe(true)
  })

  it('is selected by the contract name `runner` only', () => {
    expect(isRunnerImage('runner')).toBe(true)
    expect(isRunnerImage('runner:latest')).toBe(false)
    expect(isRunnerImage('node:22-bookworm')).toBe(false)
  })
})

describe('runnerAppDirs', () => {
  it('finds the runner application from RUNNER_TEMP, RUNNER_WORKSPACE or the runner’s Node', () => {
    const f = fakeRunner()
    expect(runnerAppDirs({ RUNNER_TEMP: f.temp }, '/usr/bin/node')).toEqual([f.runner])
    expect(
      runnerAppDirs({ RUNNER_WORKSPACE: join(f.runner, '_work', 'repo') }, '/usr/bin/node')
    ).toEqual([f.runner])
    expect(runnerAppDirs({}, join(f.runner, 'externals', 'node20', 'bin', 'node'))).toEqual([
      f.runner
    ])
    expect(runnerAppDirs({}, '/usr/bin/node')).toEqual([])
  })
})

describe('credentialPathsFromEnv', () => {
  it('names the stores the job’s variables move, never a relative path or /', () => {
    expect(
      credentialPathsFromEnv({
        CARGO_HOME: '/usr/share/rust/.cargo',
        DOCKER_CONFIG: '/opt/docker/',
        KUBECONFIG: '/a/kube:relative/kube:/b/kube',
        GNUPGHOME: '/',
        AWS_SHARED_CREDENTIALS_FILE: 'creds'
      })
    ).toEqual([
      '/usr/share/rust/.cargo/credentials',
      '/usr/share/rust/.cargo/credentials.toml',
      '/opt/docker',
      '/a/kube',
      '/b/kube'
    ])
  })
})

describe('globalNpmrcsWithCredentials', () => {
  it('names the npmrc beside a bin on PATH only when it holds a credential', () => {
    const files: Record<string, string> = {
      '/t/a/etc/npmrc': '//registry.npmjs.org/:_authToken=npm_x\n',
      '/t/b/etc/npmrc': 'cafile=/etc/ssl/certs/ca-certificates.crt\n',
      '/t/c/etc/npmrc': '; //r/:_authToken=commented\n_auth=dXNlcjpwYXNz\n',
      '/t/d/etc/npmrc': '# _password=commented\nalways-auth=true\n'
    }
    expect(
      globalNpmrcsWithCredentials(
        { PATH: '/t/a/bin:/t/b/bin:/t/c/bin/:/t/d/bin:relative/bin:/t/a/bin:/t/e/sbin' },
        (p) => p in files,
        (p) => files[p]!
      )
    ).toEqual(['/t/a/etc/npmrc', '/t/c/etc/npmrc'])
  })
})

describe('systemGitConfigsWithCredentials', () => {
  it('names a system git config only when it holds a credential', () => {
    const files: Record<string, string> = {
      '/etc/gitconfig': '[http "https://git.corp/"]\n\textraheader = AUTHORIZATION: basic eA==\n',
      '/usr/local/etc/gitconfig': '[core]\n\tautocrlf = input\n'
    }
    expect(
      systemGitConfigsWithCredentials(
        (p) => p in files,
        (p) => files[p]!
      )
    ).toEqual(['/etc/gitconfig'])
  })
})

describe('hostRunnerDirs', () => {
  it('finds every runner installed one or two levels under /opt and /usr/local', () => {
    const tree: Record<string, string[]> = {
      '/opt': ['/opt/actions-runner-2', '/opt/hostedtoolcache', '/opt/runners'],
      '/opt/hostedtoolcache': ['/opt/hostedtoolcache/node'],
      '/opt/runners': ['/opt/runners/a', '/opt/runners/b'],
      '/usr/local': ['/usr/local/bin', '/usr/local/gh-runner']
    }
    const marks = new Set([
      '/opt/actions-runner-2/.runner',
      '/opt/runners/b/.credentials',
      '/usr/local/gh-runner/bin/Runner.Worker',
      // three levels down: not looked for
      '/opt/hostedtoolcache/node/x/.runner'
    ])
    expect(
      hostRunnerDirs(
        (p) => marks.has(p),
        (d) => tree[d] ?? []
      )
    ).toEqual(['/opt/actions-runner-2', '/opt/runners/b', '/usr/local/gh-runner'])
  })
})

describe('runnerView', () => {
  const view = (env: NodeJS.ProcessEnv, f = fakeRunner(), secrets: string[] = []) =>
    runnerView({
      env: { HOME: f.home, RUNNER_TEMP: f.temp, RUNNER_TOOL_CACHE: f.tools, ...env },
      workspace: join(f.runner, '_work', 'repo', 'repo'),
      layout: LAYOUT,
      secrets,
      containerHome: '/home/airlock',
      execPath: '/usr/bin/node'
    })

  it('mounts /usr, /etc, /opt, the tool cache and home toolchains read-only at their own paths, never the home itself', () => {
    const f = fakeRunner()
    const v = view({}, f)
    const targets = v.mounts.map((m) => m.target)
    expect(targets).toEqual(
      expect.arrayContaining(['/usr', '/etc', f.tools, join(f.home, '.cargo', 'bin')])
    )
    expect(v.mounts.every((m) => m.readOnly)).toBe(true)
    expect(targets).not.toContain(f.home)
    expect(targets.some((t) => t.includes('.ssh'))).toBe(false)
    // /bin is a link of the root image, not a mount.
    expect(targets).not.toContain('/bin')
  })

  it('masks the runner application and RUNNER_TEMP when a mounted directory holds them', () => {
    const f = fakeRunner()
    // The runner installed inside a directory that is mounted (as /opt is on a real runner).
    const v = runnerView({
      env: { HOME: f.home, RUNNER_TEMP: f.temp, RUNNER_TOOL_CACHE: join(f.root, 'opt') },
      workspace: '/nowhere',
      layout: LAYOUT,
      secrets: [],
      containerHome: '/home/airlock',
      execPath: '/usr/bin/node'
    })
    expect(v.mounts.map((m) => m.target)).toContain(join(f.root, 'opt'))
    expect(v.masks).toEqual(
      expect.arrayContaining([
        { target: f.runner, kind: 'dir' },
        { target: f.temp, kind: 'dir' }
      ])
    )
  })

  it('never mounts a never-visible path itself (a tool cache set to the home or RUNNER_TEMP)', () => {
    const f = fakeRunner()
    expect(view({ RUNNER_TOOL_CACHE: f.home }, f).mounts.map((m) => m.target)).not.toContain(f.home)
    expect(view({ RUNNER_TOOL_CACHE: f.temp }, f).mounts.map((m) => m.target)).not.toContain(f.temp)
  })

  it('skips a home toolchain that is a link into a credential directory', () => {
    const f = fakeRunner()
    mkdirSync(join(f.home, '.local'), { recursive: true })
    symlinkSync(join(f.home, '.ssh'), join(f.home, '.local', 'bin'))
    expect(view({}, f).mounts.map((m) => m.target)).not.toContain(join(f.home, '.local', 'bin'))
  })

  it('masks secrets of /etc that exist on this machine', () => {
    const v = view({})
    expect(v.masks).toContainEqual({ target: '/etc/shadow', kind: 'file' })
  })

  it('carries PATH and allowlisted toolchain variables; no job token, secret name, held secret or token-shaped value', () => {
    const v = view(
      {
        PATH: '/opt/hostedtoolcache/go/1.22/x64/bin:/usr/bin',
        JAVA_HOME_17_X64: '/usr/lib/jvm/17',
        GOROOT: '/opt/go',
        Python3_ROOT_DIR: '/opt/py',
        PKG_CONFIG_PATH: 'held-secret-value-123',
        DOTNET_ROOT: 'ghp_abcdefghijklmnopqrstuvwxyz0123456789',
        ACTIONS_RUNTIME_TOKEN: 'x',
        GITHUB_TOKEN: 'y',
        NPM_TOKEN: 'z',
        AWS_SECRET_ACCESS_KEY: 'k',
        HOME_SECRET: 's'
      },
      fakeRunner(),
      ['held-secret-value-123']
    )
    expect(v.env.PATH).toBe(
      '/opt/hostedtoolcache/go/1.22/x64/bin:/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin:/bin'
    )
    expect(v.env.JAVA_HOME_17_X64).toBe('/usr/lib/jvm/17')
    expect(v.env.GOROOT).toBe('/opt/go')
    expect(v.env.Python3_ROOT_DIR).toBe('/opt/py')
    for (const n of [
      'PKG_CONFIG_PATH',
      'DOTNET_ROOT',
      'ACTIONS_RUNTIME_TOKEN',
      'GITHUB_TOKEN',
      'NPM_TOKEN',
      'AWS_SECRET_ACCESS_KEY',
      'HOME_SECRET',
      'HOME'
    ])
      expect(v.env[n], n).toBeUndefined()
    expect(v.refused).toEqual(['DOTNET_ROOT', 'PKG_CONFIG_PATH'])
    // Writable caches go to the private HOME.
    expect(v.env.CARGO_HOME).toBe('/home/airlock/.cargo')
    expect(v.env.GOPATH).toBe('/home/airlock/go')
  })

  it('points RUSTUP_HOME at the runner’s mounted copy and keeps LD_LIBRARY_PATH out of the workspace', () => {
    const f = fakeRunner()
    mkdirSync(join(f.home, '.rustup'))
    const ws = join(f.runner, '_work', 'repo', 'repo')
    const v = view({ LD_LIBRARY_PATH: `${ws}/lib:/opt/py/lib:relative` }, f)
    expect(v.env.RUSTUP_HOME).toBe(join(f.home, '.rustup'))
    expect(v.env.LD_LIBRARY_PATH).toBe('/opt/py/lib')
  })
})

describe('runner-mode container arguments', () => {
  it('mounts the workspace at its own path too, and masks as empty read-only mounts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-args-'))
    mkdirSync(join(dir, 'staging'))
    const args = await runArgs({
      runId: 'r',
      name: 'n',
      image: 'airlock-runner-root:x',
      workspace: '/home/runner/work/repo/repo',
      readOnlyWorkspace: true,
      socketPath: '/s',
      stagingDir: join(dir, 'staging'),
      env: [],
      mounts: [],
      command: ['true'],
      user: { uid: 1001, gid: 1001 },
      nodeBinary: '/usr/bin/node',
      workspaceAlias: '/home/runner/work/repo/repo',
      masks: [
        { target: '/opt/actions-runner', kind: 'dir' },
        { target: '/etc/shadow', kind: 'file' }
      ]
    })
    expect(args).toContain(
      'type=bind,source=/home/runner/work/repo/repo,target=/home/runner/work/repo/repo,readonly'
    )
    expect(args).toContain('type=tmpfs,target=/opt/actions-runner,tmpfs-mode=0555,tmpfs-size=65536')
    expect(args).toContain('type=bind,source=/dev/null,target=/etc/shadow,readonly')
    expect(maskSpec({ target: '/x,source=/', kind: 'dir' })).toBe(
      'type=tmpfs,"target=/x,source=/",tmpfs-mode=0555,tmpfs-size=65536'
    )
  })

  it('names an image that cannot run the forwarder from the real run’s stderr', () => {
    expect(
      unsupportedImage(
        'alpine',
        127,
        '[FATAL tini (7)] exec /airlock/node failed: No such file or directory\n'
      )
    ).toMatch(
      /image alpine cannot run Airlock's in-container forwarder.*exec \/airlock\/node failed/
    )
    expect(
      unsupportedImage(
        'x',
        127,
        '/airlock/node: error while loading shared libraries: libstdc++.so.6\n'
      )
    ).toMatch(/libstdc\+\+/)
    expect(unsupportedImage('x', 127, 'sh: 1: foo: not found\n')).toBeUndefined()
    expect(unsupportedImage('x', 0, 'exec /airlock/node failed')).toBeUndefined()
  })
})
