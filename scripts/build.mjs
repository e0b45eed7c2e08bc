// Bundles each entry with ncc into dist/<name>/index.js (ESM, with a package.json marking it
// so), all entries in parallel.
import { spawn } from 'node:child_process'
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'

const entries = {
  main: 'src/main.ts',
  post: 'src/post.ts',
  proxy: 'src/proxy-daemon.ts',
  cli: 'src/cli.ts',
  'actions/gate': 'src/actions/gate.ts',
  'actions/prepare': 'src/actions/prepare.ts',
  'actions/collect': 'src/actions/collect.ts',
  'actions/publish-review': 'src/actions/publish-review.ts',
  'actions/publish-patch': 'src/actions/publish-patch.ts'
}
const only = process.argv.slice(2)
// Minified (ncc: terser without compression; class and function names kept, so error names
// and stack frames still read): the bundles whose process stays up. V8 keeps a script's
// source in memory for the life of the process, about twice its size in the file, so the
// comments and whitespace of a 3.9 MB bundle were ~4 MB of the proxy daemon's resident set.
const minified = new Set(['proxy', 'cli'])

function build(name, src) {
  const out = `dist/${name}`
  // Build beside the old bundle and swap it in at the end: a test running meanwhile never
  // finds the bundle missing.
  const tmp = `dist/.tmp-${name.replace(/\//g, '-')}-${process.pid}`
  rmSync(tmp, { recursive: true, force: true })
  return new Promise((resolve, reject) => {
    const child = spawn(
      'npx',
      [
        'ncc',
        'build',
        src,
        '-o',
        tmp,
        '--license',
        'licenses.txt',
        '--quiet',
        '--target',
        'es2022',
        ...(minified.has(name) ? ['--minify'] : [])
      ],
      { stdio: 'inherit' }
    )
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`ncc ${src} exited ${code}`))
      writeFileSync(`${tmp}/package.json`, '{ "type": "module" }\n')
      rmSync(out, { recursive: true, force: true })
      mkdirSync(dirname(out), { recursive: true })
      renameSync(tmp, out)
      resolve()
    })
  })
}

await Promise.all(
  Object.entries(entries)
    .filter(([name]) => only.length === 0 || only.includes(name))
    .map(([name, src]) => build(name, src))
)
