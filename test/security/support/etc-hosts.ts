/**
 * Temporary /etc/hosts entries. The proxy resolves names with the system resolver, so a
 * line here is the offline way to make an allowed name resolve to loopback, a private
 * range or a metadata address (a DNS rebinding stand-in). Lines carry a per-test marker and
 * are removed by it; the file is rewritten in place (it may be a bind mount).
 */
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'

const HOSTS = '/etc/hosts'

/** Whether this process may edit /etc/hosts (tests that need it skip otherwise). */
export function canEditHosts(): boolean {
  try {
    writeFileSync(HOSTS, readFileSync(HOSTS, 'utf8'))
    return true
  } catch {
    return false
  }
}

/** Appends `address name` lines; returns a function that removes exactly those lines. */
export function addHostsEntries(entries: Array<[name: string, address: string]>): () => void {
  const marker = `# airlock-security-test ${randomBytes(4).toString('hex')}`
  const before = readFileSync(HOSTS, 'utf8')
  const lines = entries.map(([name, address]) => `${address} ${name} ${marker}`)
  writeFileSync(HOSTS, `${before.replace(/\n?$/, '\n')}${lines.join('\n')}\n`)
  return () => {
    const now = readFileSync(HOSTS, 'utf8')
    writeFileSync(
      HOSTS,
      now
        .split('\n')
        .filter((l) => !l.endsWith(marker))
        .join('\n')
    )
  }
}
