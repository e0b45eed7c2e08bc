// Runs INSIDE the Airlock sandbox: `node scan.mjs <config.json> [<handshake prefix>]`.
//
// Looks for planted sentinel secrets everywhere the sandbox can read: every process's
// environ and cmdline, and every readable file (/proc, /sys and /dev aside). The config
// holds each sentinel XOR-masked (hex), decoded only in memory, so no file in the sandbox
// holds one because of this scan. Prints `AIRLOCK-SCAN <json>`; with a handshake prefix it then
// writes `<prefix>.ready` and waits for `<prefix>.go`, so the host can inspect the runner
// while the container still runs.
import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const needles = config.masked.map(([label, hex]) => [
  label,
  Buffer.from(Buffer.from(hex, 'hex').map((b) => b ^ config.mask))
])
// A PEM private key block, not just the words (libraries carry the header as a string).
const PEM_KEY = new RegExp('-----BEGIN [A-Z ]*PRIVATE ' + 'KEY-----\\s+[A-Za-z0-9+/=\\s]{64,}')
const MAX_FILE = 64 * 1024 * 1024
const result = {
  processes: 0,
  files: 0,
  bytes: 0,
  unreadable: 0,
  hits: [],
  privateKeys: []
}

function search(where, buf) {
  for (const [label, n] of needles) if (buf.includes(n)) result.hits.push({ where, label })
}

// Every process the sandbox can see.
for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
  result.processes++
  for (const f of ['environ', 'cmdline']) {
    try {
      search(`/proc/${pid}/${f}`, readFileSync(`/proc/${pid}/${f}`))
    } catch {
      result.unreadable++
    }
  }
}

// Every readable file (the config may narrow the walk: in runner mode the runner's /usr and
// /opt are gigabytes that hold nothing planted, and the planted places are named as roots).
const skip = new Set(['/proc', '/sys', '/dev', ...(config.skip ?? [])])
const stack = [...(config.roots ?? ['/'])]
while (stack.length > 0) {
  const dir = stack.pop()
  let names
  try {
    names = readdirSync(dir)
  } catch {
    result.unreadable++
    continue
  }
  for (const name of names) {
    const p = join(dir, name)
    if (skip.has(p)) continue
    let st
    try {
      st = lstatSync(p)
    } catch {
      result.unreadable++
      continue
    }
    if (st.isDirectory()) stack.push(p)
    else if (st.isFile() && st.size <= MAX_FILE) {
      let buf
      try {
        buf = readFileSync(p)
      } catch {
        result.unreadable++
        continue
      }
      result.files++
      result.bytes += buf.length
      search(p, buf)
      // The run CA's key must never be readable; no test image file holds a private key.
      // ELF libraries (gnutls) embed test keys in their data; a leaked key would be a file.
      const elf = buf.length > 4 && buf.readUInt32BE(0) === 0x7f454c46
      if (!elf && buf.includes('PRIVATE ' + 'KEY-----') && PEM_KEY.test(buf.toString('latin1')))
        result.privateKeys.push(p)
    }
  }
}

process.stdout.write(`AIRLOCK-SCAN ${JSON.stringify(result)}\n`)

const prefix = process.argv[3]
if (prefix) {
  writeFileSync(`${prefix}.ready`, 'ready\n')
  for (let i = 0; i < 1200 && !existsSync(`${prefix}.go`); i++)
    await new Promise((r) => setTimeout(r, 100))
}
