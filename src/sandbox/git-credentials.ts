import { copyFile, readFile, writeFile, chmod, stat } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

/**
 * actions/checkout persists the job token in `.git/config` as an `http.<url>.extraheader`.
 * The agent must not read it: the config is backed up outside the workspace and rewritten
 * without those lines for the run, and restored in post. Returns the backup, if one was made.
 */
export async function hideGitCredentials(
  workspace: string,
  backupDir: string
): Promise<{ configPath: string; backupPath: string } | undefined> {
  const configPath = join(workspace, '.git', 'config')
  if (!existsSync(configPath)) return undefined
  const text = await readFile(configPath, 'utf8')
  const cleaned = stripCredentials(text)
  if (cleaned === text) return undefined
  const backupPath = join(backupDir, 'git-config.backup')
  await copyFile(configPath, backupPath)
  await chmod(backupPath, 0o600)
  const mode = (await stat(configPath)).mode & 0o777
  await writeFile(configPath, cleaned, { mode })
  return { configPath, backupPath }
}

export async function restoreGitCredentials(configPath: string, backupPath: string): Promise<void> {
  if (!existsSync(backupPath)) return
  await copyFile(backupPath, configPath)
}

/** Drops `extraheader` lines (any section) and `[credential]` helpers that point at secrets. */
export function stripCredentials(text: string): string {
  return text
    .split('\n')
    .filter((line) => !/^\s*extraheader\s*=/i.test(line))
    .join('\n')
}
