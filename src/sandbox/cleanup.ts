import { existsSync, readFileSync } from 'node:fs'
import { rm, unlink } from 'node:fs/promises'
import { registry } from '../provider/index.js'
import { stopProcess } from '../daemon/start.js'
import type { Resource } from '../state.js'
import { removeByLabel } from './docker.js'
import { restoreGitCredentials } from './git-credentials.js'
import { findingLine, loadGitExecSnapshot, revertGitExec } from './git-exec-guard.js'
import { logSafe } from './log-fence.js'

/** True when pid is still our proxy (not a recycled pid of some other process). */
function isOurProxy(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('proxy/index.js')
  } catch {
    return false
  }
}

/**
 * Releases resources newest first. Each step is idempotent and failures are collected,
 * never thrown: one stuck resource must not keep the others alive. True when every one was
 * released.
 */
export async function releaseAll(
  resources: Resource[],
  warn: (message: string) => void
): Promise<boolean> {
  let ok = true
  for (const r of [...resources].reverse()) {
    try {
      switch (r.kind) {
        case 'container':
          if (!r.removed) await removeByLabel(r.runId)
          break
        case 'proxy':
          if (isOurProxy(r.pid)) await stopProcess(r.pid, 5000)
          break
        case 'git-exec-guard':
          // Main died before it took back what the run left in the workspace's git (the
          // container is gone by now: it was released first).
          if (existsSync(r.snapshot)) {
            for (const f of revertGitExec(loadGitExecSnapshot(r.snapshot)))
              warn(logSafe(findingLine(f)))
            await unlink(r.snapshot)
          }
          break
        case 'provider-cleanup':
          await registry.get(r.provider)?.cleanup(r.path)
          break
        case 'hidden-git-credentials':
          if (existsSync(r.backupPath)) {
            if (!restoreGitCredentials(r.configPath, r.backupPath))
              warn(
                `${r.configPath} was replaced during the run (a link or not a file); it was not restored`
              )
            await unlink(r.backupPath)
          }
          break
        case 'dir':
          await rm(r.path, { recursive: true, force: true })
          break
      }
    } catch (err) {
      ok = false
      warn(`could not release ${r.kind}: ${(err as Error).message}`)
    }
  }
  return ok
}
