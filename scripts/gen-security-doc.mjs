#!/usr/bin/env node
// Renders the security battery's results (test/security/results/*.json, written by the
// tests under test/security/) into docs/security.md, between
// <!-- security-results:start --> and <!-- security-results:end -->. The rest of the page
// (the threat model) is hand-written. `--check` fails when the page does not match the
// results, so the published table cannot drift from what the battery observed.
//
//   node scripts/gen-security-doc.mjs           rewrite the block
//   node scripts/gen-security-doc.mjs --check   exit 1 if it is stale
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const RESULTS = join(ROOT, 'test', 'security', 'results')
const DOC = join(ROOT, 'docs', 'security.md')

/** The bypass classes (shared/reference sandbox.md §7), in order. */
export const CLASSES = [
  [1, 'Proxy variables ignored or overridden'],
  [2, 'IPv6'],
  [3, 'IP literal instead of a name (every notation)'],
  [4, 'Cloud metadata endpoints'],
  [5, 'Allowed name resolving to loopback, the runner or a private range'],
  [6, 'DNS exfiltration'],
  [7, 'Another port of an allowed host'],
  [8, 'SNI ≠ CONNECT target (domain fronting)'],
  [9, 'Host ≠ SNI inside the tunnel (keep-alive, HTTP/2)'],
  [10, 'Plain HTTP; credentials over cleartext'],
  [11, 'Absolute-form and path tricks'],
  [12, 'Nested or relayed CONNECT, SOCKS'],
  [13, 'Non-TCP: UDP, QUIC, ICMP'],
  [14, 'Broad allowed hosts as exfiltration sinks'],
  [15, 'Wildcard confusion'],
  [16, 'Placeholder misuse and echoed secrets'],
  [17, 'SigV4 and signed requests'],
  [18, 'Secrets readable in the sandbox or on the runner'],
  [19, 'Actions runtime credentials'],
  [20, 'Escalation out of the sandbox'],
  [21, 'Fail-open on proxy failure'],
  [22, 'Resource exhaustion of the proxy'],
  // The runner↔sandbox boundary (issue 11) and the PR workflows (issue 17).
  [
    23,
    'Responses outside the scrubber’s usual path (declined upgrades, 1xx, HEAD, 304, errors, trailers)'
  ],
  [24, 'WebSocket messages split across frames, compressed, or in control frames'],
  [25, 'Transfer codings other than chunked'],
  [26, 'Host forms that only normalise to the tunnel’s name'],
  [27, 'Markdown Airlock writes from hostile text'],
  [28, 'Workflow commands printed from the sandbox'],
  [29, 'Checkout credentials elsewhere in the workspace'],
  [30, 'Restores written through a link'],
  [31, 'Runner-side reads driven by input text'],
  [32, 'Audit log verification of empty or cut-short logs'],
  [33, 'Push delivery onto the default or a protected branch'],
  [34, 'Agent configuration a pull request can plant'],
  [35, 'Trigger text that Markdown renders as someone else’s'],
  [36, 'Protected paths: the directory entry itself, case variants'],
  [37, 'Secrets in the response status line and header names'],
  [38, 'Non-WebSocket upgrades (an opaque channel after 101)'],
  [39, 'Encoded echoes of the injected value (URL, form, JSON, base64 variants)'],
  [40, 'The workspace secret search hung, looped or led outside the workspace'],
  [41, 'Agent text posing as identifiers or numbers in step outputs'],
  [42, 'Runner job tokens left in the workspace'],
  [43, 'Airlock’s own Markdown structure broken or forged from inside (tables, details, markers)'],
  [44, 'Length limits, parser cost and invisible text in what Airlock renders'],
  [45, 'Runner-side git in the agent’s workspace'],
  [46, 'Patches built to cross the artifact boundary'],
  [47, 'The artifact beside the patch'],
  [
    48,
    'Secrets pasted into text that enters the sandbox (command, prompt, env, agent-args, MCP config)'
  ],
  [49, 'Mount-spec injection through workspace path names'],
  [50, 'Git settings and hooks the agent leaves for later steps on the runner'],
  [
    51,
    'Mount sources mapped out of a job container (the mapping must never widen what is mounted)'
  ],
  [60, 'Runner mode: runner paths that must never be visible'],
  [61, "Runner mode: the job's environment carried in"],
  [62, "Runner mode: the workspace's second mount keeps hidden credentials hidden"],
  [
    63,
    "Runner mode: the runner's directories are read-only; same uid, no capabilities, no new privileges"
  ],
  [70, 'Forged Airlock markers (sticky review, tracking comment)'],
  [71, 'Hostile text in the failure report'],
  [72, 'Agent text in the pull request body'],
  [73, 'Advice that would let data out (exfiltration flag)'],
  [74, "Forged run facts in the agent job's artifact"],
  [75, 'Labels outside the allowlist'],
  [76, 'Safe-output titles and bodies'],
  [77, 'A review verdict the workflow did not allow'],
  [78, 'Who starts a scheduled run, and what it is asked'],
  [79, 'Where a scheduled run writes, and what its pull request does to the issue'],
  [80, "Git settings that send a later step's credentials elsewhere"],
  [81, 'Git state the class 50 guard missed'],
  [82, 'A workspace that a link leads out of GITHUB_WORKSPACE'],
  [83, 'The cached runner root image replaced under its name'],
  [84, "Credentials in the workspace's git config that no grant holds"],
  [85, "The sandbox driving the developer's terminal (escape sequences)"],
  [86, "A workspace that holds the user's home, RUNNER_TEMP or the runner application"],
  [87, 'A refreshed GitHub App token echoed while the old one is revoked'],
  [88, 'Runner mode: another runner installed on the same host'],
  [89, "Runner mode: credential stores in the host's /etc"],
  [90, "The run's secrets in the docker CLI's environment"],
  [91, "Runner mode: credential stores the job's variables move under a mounted directory"],
  [92, 'Runner mode: a global npmrc holding a registry token'],
  [93, 'Runner mode: a system git config holding a credential'],
  [94, 'Git hooks the guard could not read (sparse past 2 GiB, execute-only)'],
  [95, 'Repositories under names the guard could not handle (not UTF-8, too long to rename)'],
  [96, 'An index listed past what the guard reads'],
  [97, 'Main killed before the git guard took back what the agent left'],
  [98, "The run's logs flooded past one JavaScript string"],
  [99, 'A repository the agent makes in a subdirectory for a later step'],
  [100, '`core.worktree` above the checkout'],
  [101, 'What a later plain `git push` writes (push refspecs, mirror, push remotes)'],
  [102, '`submodule.<name>.url` in the repository config']
]

const SUITES = {
  egress: 'test/security/egress.test.ts',
  'leak-scan': 'test/security/leak-scan.test.ts',
  faults: 'test/security/faults.test.ts',
  load: 'test/security/load.test.ts',
  'boundary-inputs': 'test/security/boundary-inputs.test.ts',
  'boundary-sandbox': 'test/security/boundary-sandbox.test.ts',
  'boundary-proxy': 'test/security/boundary-proxy.test.ts',
  'boundary-markdown': 'test/security/boundary-markdown.test.ts',
  'workflow-trust': 'test/security/workflow-trust.test.ts',
  'boundary-git': 'test/security/boundary-git.test.ts',
  platform: 'test/security/platform.test.ts',
  'runner-mode': 'test/security/runner-mode.test.ts',
  'workflows-ux': 'test/security/workflows-ux.test.ts',
  'workflows-schedule': 'test/security/workflows-schedule.test.ts',
  redteam: 'test/security/redteam.test.ts',
  redteam2: 'test/security/redteam2.test.ts',
  redteam3: 'test/security/redteam3.test.ts'
}

function compareIds(a, b) {
  const pa = a.split('.').map(Number)
  const pb = b.split('.').map(Number)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}

/** Every attack of every results file, with the suite that ran it. */
function loadResults() {
  const attacks = []
  if (!existsSync(RESULTS)) return attacks
  for (const f of readdirSync(RESULTS)
    .filter((n) => n.endsWith('.json'))
    .sort()) {
    const doc = JSON.parse(readFileSync(join(RESULTS, f), 'utf8'))
    for (const a of doc.attacks) attacks.push({ ...a, suite: doc.suite })
  }
  return attacks.sort((a, b) => compareIds(a.id, b.id))
}

const cell = (s) =>
  String(s)
    .replace(/\|/g, '\\|')
    .replace(/\s*\n\s*/g, ' ')

/** Distinct outcomes, without a leading "not applicable yet: " (the verdict says it). */
const reasons = (list) => [
  ...new Set(list.map((a) => a.outcome.replace(/^not applicable yet:\s*/i, '')))
]

function classResult(list) {
  if (list.length === 0) return '**not run**'
  const failed = list.filter((a) => a.verdict === 'fail')
  const na = list.filter((a) => a.verdict === 'not-applicable')
  const documented = list.filter((a) => a.verdict === 'documented')
  const passed = list.filter((a) => a.verdict === 'pass')
  if (failed.length > 0)
    return `**FAIL**: ${failed.length} of ${list.length} got through (${failed.map((a) => a.id).join(', ')})`
  const parts = []
  if (passed.length > 0) parts.push(`**pass**: ${passed.length} of ${list.length} held`)
  if (documented.length > 0)
    parts.push(`documented limitation (${documented.length}): ${reasons(documented).join('; ')}`)
  if (na.length > 0) parts.push(`not applicable yet (${na.length}): ${reasons(na).join('; ')}`)
  return parts.join('; ')
}

const VERDICT = {
  pass: 'pass',
  fail: '**FAIL**',
  documented: 'documented',
  'not-applicable': 'n/a yet'
}

export function render(attacks) {
  const byClass = new Map(CLASSES.map(([n]) => [n, []]))
  for (const a of attacks) byClass.get(a.cls)?.push(a)
  const lines = [
    '<!-- security-results:start -->',
    '<!-- Generated by scripts/gen-security-doc.mjs from test/security/results/*.json; do not edit. -->',
    '',
    '| n | class | attack | result |',
    '| ---: | --- | --- | --- |'
  ]
  for (const [n, name] of CLASSES) {
    const list = byClass.get(n)
    const attackCell = list.map((a) => `${a.id} ${cell(a.attack)}`).join('<br>') || '—'
    lines.push(`| ${n} | ${cell(name)} | ${attackCell} | ${cell(classResult(list))} |`)
  }
  const totals = { pass: 0, fail: 0, documented: 0, 'not-applicable': 0 }
  for (const a of attacks) totals[a.verdict]++
  lines.push(
    '',
    `${attacks.length} attacks: ${totals.pass} held, ${totals.fail} got through, ` +
      `${totals.documented} documented limitation${totals.documented === 1 ? '' : 's'}, ` +
      `${totals['not-applicable']} not applicable yet.`,
    '',
    '### Every attack',
    '',
    '| id | attack | what happened | verdict | suite |',
    '| --- | --- | --- | --- | --- |'
  )
  for (const a of attacks)
    lines.push(
      `| ${a.id} | ${cell(a.attack)} | ${cell(a.outcome)} | ${VERDICT[a.verdict] ?? a.verdict} | \`${SUITES[a.suite] ?? a.suite}\` |`
    )
  lines.push('<!-- security-results:end -->')
  return lines.join('\n')
}

/** The page with its generated block replaced. */
export function updated(page, attacks) {
  const re = /<!-- security-results:start -->[\s\S]*?<!-- security-results:end -->/
  if (!re.test(page))
    throw new Error(
      'docs/security.md has no <!-- security-results:start --> … <!-- security-results:end --> block'
    )
  return page.replace(re, render(attacks))
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const page = readFileSync(DOC, 'utf8')
  const next = updated(page, loadResults())
  if (process.argv.includes('--check')) {
    if (next !== page) {
      process.stderr.write(
        'docs/security.md does not match test/security/results: run `node scripts/gen-security-doc.mjs`\n'
      )
      process.exit(1)
    }
    process.stdout.write('docs/security.md matches the security battery results\n')
  } else {
    writeFileSync(DOC, next)
    process.stdout.write(`docs/security.md: ${loadResults().length} attacks\n`)
  }
}
