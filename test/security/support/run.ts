/**
 * Helpers around one action run of the battery: the in-container scripts, the attack lines
 * the sandbox prints, the proxy process (found through its ready file under RUNNER_TEMP,
 * which each test chooses), and network.jsonl.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { NetworkEntry } from '../../../src/proxy/log.js'

/** The in-container scripts (plain ESM run by the image's node). */
export const CONTAINER_DIR = join(import.meta.dirname, '..', 'container')

/** Copies the in-container scripts into `<workspace>/.airlock-sec/`; returns that dir. */
export function stageScripts(workspace: string): string {
  const dir = join(workspace, '.airlock-sec')
  mkdirSync(dir, { recursive: true, mode: 0o755 })
  for (const f of readdirSync(CONTAINER_DIR)) copyFileSync(join(CONTAINER_DIR, f), join(dir, f))
  return dir
}

/** `AIRLOCK-ATTACK {id, observed}` lines of a step's stdout, by id. */
export function attackLines(stdout: string): Map<string, unknown> {
  const out = new Map<string, unknown>()
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('AIRLOCK-ATTACK ')) continue
    try {
      const { id, observed } = JSON.parse(line.slice('AIRLOCK-ATTACK '.length)) as {
        id: string
        observed: unknown
      }
      out.set(id, observed)
    } catch {
      // A torn line (the container was killed mid-write) is simply missing.
    }
  }
  return out
}

/** Every entry of a network.jsonl (a torn last line is skipped). */
export function readNetworkLog(file: string | undefined): NetworkEntry[] {
  if (!file || !existsSync(file)) return []
  const out: NetworkEntry[] = []
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue
    try {
      out.push(JSON.parse(line) as NetworkEntry)
    } catch {
      // torn
    }
  }
  return out
}

/** The proxy's ready file (`{pid, socketPath, caCertFile}`) of the run using this RUNNER_TEMP. */
export function proxyReady(runnerTemp: string): { pid: number; dir: string } | undefined {
  if (!existsSync(runnerTemp)) return undefined
  for (const name of readdirSync(runnerTemp)) {
    if (!/^airlock-[A-Za-z0-9]{6}$/.test(name)) continue
    const file = join(runnerTemp, name, 'proxy', 'ready.json')
    if (!existsSync(file)) continue
    try {
      const ready = JSON.parse(readFileSync(file, 'utf8')) as { pid: number }
      return { pid: ready.pid, dir: join(runnerTemp, name) }
    } catch {
      // being written
    }
  }
  return undefined
}

/** Resident set size of a process in KiB, or undefined when it is gone. */
export function rssKb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) : undefined
  } catch {
    return undefined
  }
}

/** Samples the run's proxy while it lives: pid, peak RSS, whether it was seen at all. */
export interface ProxyWatch {
  pid: number | undefined
  peakRssKb: number
  samples: number
  /** Date.now() of the first sample that found the process gone. */
  goneAt: number | undefined
  stop(): void
}

export function watchProxy(runnerTemp: string, everyMs = 200): ProxyWatch {
  const w: ProxyWatch = {
    pid: undefined,
    peakRssKb: 0,
    samples: 0,
    goneAt: undefined,
    stop: () => clearInterval(timer)
  }
  const timer = setInterval(() => {
    w.pid ??= proxyReady(runnerTemp)?.pid
    if (w.pid === undefined) return
    const rss = rssKb(w.pid)
    if (rss === undefined) {
      w.goneAt ??= Date.now()
      return
    }
    w.samples++
    w.peakRssKb = Math.max(w.peakRssKb, rss)
  }, everyMs)
  return w
}

/** Resolves once `path` exists (polling), or rejects after timeoutMs. */
export async function waitForFile(path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${path}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

export { filesUnder } from '../../support/files.js'
