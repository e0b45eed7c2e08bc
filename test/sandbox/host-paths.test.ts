import {
  mkdirSync,
  mkdtempSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync
} from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  hostPathMapper,
  HostPathError,
  listenPath,
  runnerNode,
  selfContainerId,
  type ContainerMount
} from '../../src/sandbox/host-paths.js'
import type { Resource } from '../../src/state.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-hp-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('runnerNode', () => {
  it('copies the runner Node into the tool cache once, named by version and CPU', () => {
    const cache = join(dir, 'tool-cache')
    const first = runnerNode({ RUNNER_TOOL_CACHE: cache, RUNNER_TEMP: join(dir, 't') })
    expect(first).toBe(join(cache, 'airlock-node', `${process.version}-${process.arch}`, 'node'))
    expect(statSync(first).size).toBe(statSync(process.execPath).size)
    expect(statSync(first).mode & 0o111).not.toBe(0)
    const made = statSync(first).mtimeMs
    expect(runnerNode({ RUNNER_TOOL_CACHE: cache })).toBe(first)
    expect(statSync(first).mtimeMs).toBe(made)
  })

  it('uses RUNNER_TEMP when there is no tool cache, and the binary itself off a runner', () => {
    expect(runnerNode({ RUNNER_TEMP: dir }, process.execPath, 'v9.9.9', 'arm64')).toBe(
      join(dir, 'airlock-node', 'v9.9.9-arm64', 'node')
    )
    expect(runnerNode({})).toBe(process.execPath)
  })

  it('replaces a truncated copy', () => {
    const target = join(dir, 'airlock-node', `${process.version}-${process.arch}`)
    mkdirSync(target, { recursive: true })
    writeFileSync(join(target, 'node'), 'half')
    expect(statSync(runnerNode({ RUNNER_TEMP: dir })).size).toBe(statSync(process.execPath).size)
  })
})

describe('listenPath', () => {
  it('keeps a short socket path', () => {
    const tracked: Resource[] = []
    expect(listenPath(join(dir, 'proxy.sock'), (r) => tracked.push(r))).toBe(
      join(dir, 'proxy.sock')
    )
    expect(tracked).toEqual([])
  })

  it('listens through a short link when RUNNER_TEMP is too long for a socket address', async () => {
    const deep = join(dir, 'x'.repeat(60), 'y'.repeat(60), 'proxy')
    mkdirSync(deep, { recursive: true })
    const socket = join(deep, 'proxy.sock')
    const tracked: Resource[] = []
    const path = listenPath(socket, (r) => tracked.push(r))
    expect(Buffer.byteLength(path)).toBeLessThanOrEqual(107)
    expect(tracked).toHaveLength(1)
    expect(readlinkSync(join((tracked[0] as { path: string }).path, 's'))).toBe(deep)
    // Listening on the short path makes the socket at the long one (the mount source).
    const server = createServer((s) => s.end('hi'))
    await new Promise<void>((r) => server.listen(path, r))
    expect(statSync(socket).isSocket()).toBe(true)
    const reply = await new Promise<string>((resolve, reject) => {
      const c = createConnection(path)
      let got = ''
      c.on('data', (d) => (got += d.toString()))
      c.on('end', () => resolve(got))
      c.on('error', reject)
    })
    expect(reply).toBe('hi')
    await new Promise<void>((r) => server.close(() => r()))
    rmSync((tracked[0] as { path: string }).path, { recursive: true, force: true })
  })
})

describe('selfContainerId', () => {
  const id = 'a'.repeat(12) + '0123456789abcdef'.repeat(3) + '0123'
  it('reads the id from the hostname mount (cgroup v2)', () => {
    const mountinfo = `93 75 254:0 /var/lib/docker/containers/${id}/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw\n`
    const read = (p: string): string | undefined =>
      p === '/proc/self/mountinfo' ? mountinfo : p === '/proc/self/cgroup' ? '0::/\n' : undefined
    expect(selfContainerId(read, 'whatever')).toBe(id)
  })

  it('reads a cgroup v1 path, then the short id hostname of a container', () => {
    expect(
      selfContainerId((p) => (p === '/proc/self/cgroup' ? `4:memory:/docker/${id}\n` : ''), 'h')
    ).toBe(id)
    expect(selfContainerId((p) => (p === '/.dockerenv' ? '' : undefined), id.slice(0, 12))).toBe(
      id.slice(0, 12)
    )
  })

  it('finds nothing on a plain runner', () => {
    expect(selfContainerId(() => undefined, 'fv-az123-456')).toBeUndefined()
  })
})

/** The mounts the GitHub runner gives a job container (`docker inspect` of one). */
const JOB_MOUNTS: ContainerMount[] = [
  { Type: 'bind', Source: '/var/run/docker.sock', Destination: '/var/run/docker.sock', RW: true },
  { Type: 'bind', Source: '/home/runner/work', Destination: '/__w', RW: true },
  {
    Type: 'bind',
    Source: '/home/runner/runners/2.330.0/externals',
    Destination: '/__e',
    RW: false
  },
  { Type: 'bind', Source: '/home/runner/work/_temp', Destination: '/__w/_temp', RW: true },
  { Type: 'bind', Source: '/opt/hostedtoolcache', Destination: '/__t', RW: true },
  {
    Type: 'bind',
    Source: '/home/runner/work/_temp/_github_home',
    Destination: '/github/home',
    RW: true
  },
  {
    Type: 'volume',
    Source: '/var/lib/docker/volumes/cache/_data',
    Destination: '/cache',
    RW: true
  },
  { Type: 'tmpfs', Source: '', Destination: '/scratch', RW: true }
]

describe('hostPathMapper (job containers)', () => {
  const map = hostPathMapper(JOB_MOUNTS, (p) => p)

  it("maps each runner directory to the host's", () => {
    expect(map('/__w/repo/repo')).toBe('/home/runner/work/repo/repo')
    expect(map('/__w/_temp/airlock-abc/proxy/proxy.sock')).toBe(
      '/home/runner/work/_temp/airlock-abc/proxy/proxy.sock'
    )
    expect(map('/__t/airlock-node/v24.1.0-x64/node', { readOnly: true })).toBe(
      '/opt/hostedtoolcache/airlock-node/v24.1.0-x64/node'
    )
    expect(map('/cache/x')).toBe('/var/lib/docker/volumes/cache/_data/x')
    expect(map('/dev/null', { readOnly: true })).toBe('/dev/null')
  })

  it('never mounts read-write what the job container has read-only', () => {
    expect(map('/__e/node20/bin/node', { readOnly: true })).toBe(
      '/home/runner/runners/2.330.0/externals/node20/bin/node'
    )
    expect(() => map('/__e/node20')).toThrow(/read-only in the job container/)
  })

  it('matches whole path components, and the most specific mount', () => {
    expect(() => map('/__wx/y')).toThrow(/own filesystem/)
    const nested = hostPathMapper(
      [
        { Type: 'bind', Source: '/home/runner/work', Destination: '/__w', RW: true },
        { Type: 'bind', Source: '/mnt/fast-temp', Destination: '/__w/_temp/', RW: true }
      ],
      (p) => p
    )
    expect(nested('/__w/_temp/a')).toBe('/mnt/fast-temp/a')
    expect(nested('/__w/_temp')).toBe('/mnt/fast-temp')
    expect(nested('/__w/_tempx')).toBe('/home/runner/work/_tempx')
  })

  it('refuses what is only in the container, naming the path', () => {
    expect(() => map('/tmp/airlock-x')).toThrow(HostPathError)
    expect(() => map('/tmp/airlock-x')).toThrow(
      /\/tmp\/airlock-x is in the job container's own filesystem/
    )
    expect(() => map('/scratch/x')).toThrow(HostPathError)
  })
})

/** One parent for the realpath tests: a fake container root with a link out of the mount. */
describe('hostPathMapper on a real tree', () => {
  it('follows links here, not on the host', () => {
    const ws = join(dir, 'w', 'repo')
    mkdirSync(ws, { recursive: true })
    mkdirSync(join(dir, 'etc'))
    symlinkSync(join(dir, 'etc'), join(ws, 'link'))
    const map = hostPathMapper([
      { Type: 'bind', Source: '/host/work', Destination: join(dir, 'w'), RW: true }
    ])
    expect(map(ws)).toBe('/host/work/repo')
    expect(() => map(join(ws, 'link'))).toThrow(/own filesystem/)
    // A link to nothing here would be resolved on the host: refused.
    symlinkSync('/nonexistent-on-this-side', join(ws, 'dangling'))
    expect(() => map(join(ws, 'dangling'))).toThrow(/leads nowhere/)
    expect(map(join(ws, 'not-made-yet', 'x'))).toBe('/host/work/repo/not-made-yet/x')
  })
})
