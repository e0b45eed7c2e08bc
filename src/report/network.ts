import { existsSync } from 'node:fs'
import { forEachLine } from '../proxy/audit.js'
import type { NetworkEntry } from '../proxy/log.js'

export interface HostStats {
  host: string
  requests: number
  statuses: Record<string, number>
  bytesIn: number
  bytesOut: number
  blocked: number
  grants: string[]
}

export interface NetworkSummary {
  requests: number
  /**
   * Refused requests, at most MAX_KEPT_BLOCKED of each kind, those that carried data out
   * first (then the rest, in the order they came), their URLs cut to MAX_KEPT_URL characters:
   * `blockedCount` counts all. Every report shows the first of them, so a flood of plain
   * refusals never pushes one that carried data out of view.
   */
  blocked: NetworkEntry[]
  /** Every refused request (when absent: `blocked` is all of them). */
  blockedCount?: number
  audited: number
  hosts: HostStats[]
}

/** The host of a logged URL (an authority alone for a CONNECT). */
export function hostOf(url: string): string {
  try {
    return new URL(url.includes('://') ? url : `https://${url}`).host
  } catch {
    return url.split('/')[0] ?? url
  }
}

/** Refused requests kept for the report, of each kind (any, and ones that carried data). */
export const MAX_KEPT_BLOCKED = 500
/** A kept refusal's URL is cut to this (the report shows 300 characters at most). */
const MAX_KEPT_URL = 4096

/**
 * Reads network.jsonl (tolerating a torn last line: the proxy may have been killed), a line at
 * a time and keeping a bounded part of it: the agent decides how long it is. Read whole, a log
 * of ~20,000 refused requests with 30 KiB URLs was longer than one string, and main threw
 * before it set its outputs, wrote the summary or uploaded the logs; kept whole, every refusal
 * stayed in memory. Refusals that carried data out are kept apart, so a flood of plain ones
 * cannot push them out of the report.
 */
export function summarizeNetwork(file: string): NetworkSummary {
  const summary: NetworkSummary = {
    requests: 0,
    blocked: [],
    blockedCount: 0,
    audited: 0,
    hosts: []
  }
  if (!existsSync(file)) return summary
  const byHost = new Map<string, HostStats>()
  const carriedData: NetworkEntry[] = []
  const plain: NetworkEntry[] = []
  forEachLine(file, (line) => {
    if (!line?.trim()) return
    let e: NetworkEntry
    try {
      e = JSON.parse(line) as NetworkEntry
    } catch {
      return
    }
    summary.requests++
    const host = hostOf(e.url)
    let h = byHost.get(host)
    if (!h) {
      h = { host, requests: 0, statuses: {}, bytesIn: 0, bytesOut: 0, blocked: 0, grants: [] }
      byHost.set(host, h)
    }
    h.requests++
    const status = e.error ? `error ${e.error}` : String(e.status ?? '-')
    h.statuses[status] = (h.statuses[status] ?? 0) + 1
    h.bytesIn += e.bytesIn
    h.bytesOut += e.bytesOut
    for (const g of e.grants ?? []) if (!h.grants.includes(g)) h.grants.push(g)
    if (e.blocked) {
      h.blocked++
      summary.blockedCount = (summary.blockedCount ?? 0) + 1
      const kept = sendsData(e.method, bodyBytes(e), e.blocked) ? carriedData : plain
      if (kept.length < MAX_KEPT_BLOCKED)
        kept.push(
          typeof e.url === 'string' && e.url.length > MAX_KEPT_URL
            ? { ...e, url: `${e.url.slice(0, MAX_KEPT_URL)}…` }
            : e
        )
    }
    if (e.audited) summary.audited++
  })
  summary.blocked = [...carriedData, ...plain]
  summary.hosts = [...byHost.values()].sort((a, b) => b.requests - a.requests)
  return summary
}

/** How many requests were refused in all. */
export function blockedTotal(net: Pick<NetworkSummary, 'blocked' | 'blockedCount'>): number {
  return net.blockedCount ?? net.blocked.length
}

/** Bytes of body a request carried: what reached the proxy, else what it announced. */
export function bodyBytes(e: Pick<NetworkEntry, 'bytesOut' | 'requestHeaders'>): number {
  const len = Number(e.requestHeaders?.['content-length'] ?? 0)
  return Math.max(e.bytesOut || 0, Number.isSafeInteger(len) && len > 0 ? len : 0)
}

/**
 * Whether a refused request looks like data leaving: a method that writes, with a body, to a
 * host not on the allowlist. The advice for it is never "allow the host": an agent that read
 * the code and then posts it somewhere unknown is what the airlock is there to stop.
 */
export function sendsData(method: string, bytes: number, reason: string): boolean {
  return (
    reason === 'not-allowed' &&
    bytes > 0 &&
    !['GET', 'HEAD', 'OPTIONS', 'CONNECT'].includes(method.toUpperCase())
  )
}

/** Advice for a request that {@link sendsData}. */
export const EXFILTRATION_ADVICE =
  '**possible exfiltration**: data sent to a host not on the allowlist; do not allow it unless you know why the agent sends data there'

/**
 * What to do about one refused request: for data sent to a host not on the allowlist the
 * advice is never to allow it ({@link sendsData}), else the {@link remedy} for its reason.
 */
export function adviceFor(
  e: Pick<NetworkEntry, 'method' | 'bytesOut' | 'requestHeaders'>,
  reason: string
): string {
  return sendsData(e.method, bodyBytes(e), reason) ? EXFILTRATION_ADVICE : remedy(reason)
}

/** What a user changes to allow a refused request, by block reason. */
export function remedy(reason: string): string {
  switch (reason) {
    case 'not-allowed':
      return 'add the host to `allowed-endpoints`'
    case 'port-not-allowed':
      return 'add `host:port` to `allowed-endpoints`'
    case 'plain-http':
      return 'add `http://host` to `allowed-endpoints` (no credentials are ever sent over plain HTTP)'
    case 'ip-literal':
    case 'localhost':
    case 'private-address':
      return 'route a name to it with `connect-to`, if it is yours'
    case 'metadata':
      return "never allowed: cloud metadata endpoints hold the runner's credentials"
    default:
      return 'refused by the airlock (see the audit log)'
  }
}
