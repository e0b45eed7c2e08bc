import { existsSync, lstatSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

/** Every regular file under dir, recursively (links and sockets are skipped). */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return []
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    const st = lstatSync(p, { throwIfNoEntry: false })
    if (!st) continue
    if (st.isDirectory()) out.push(...filesUnder(p))
    else if (st.isFile()) out.push(p)
  }
  return out
}
