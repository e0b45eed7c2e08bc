// Bundles each entry with ncc into dist/<name>/index.js (ESM, with a package.json marking it
// so), all entries in parallel.
import { spawn } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'

const entries = {
  main: 'src/main.ts',
  post: 'src/post.ts',
  proxy: 'src/proxy-daemon.ts',
  cli: 'src/cli.ts'
}
const only = process.argv.slice(2)

function build(name, src) {
  const out = `dist/${name}`
  rmSync(out, { recursive: true, force: true })
  return new Promise((resolve, reject) => {
    const child = spawn(
      'npx',
      [
        'ncc',
        'build',
        src,
        '-o',
        out,
        '--license',
        'licenses.txt',
        '--quiet',
        '--target',
        'es2022'
      ],
      { stdio: 'inherit' }
    )
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`ncc ${src} exited ${code}`))
      writeFileSync(`${out}/package.json`, '{ "type": "module" }\n')
      resolve()
    })
  })
}

await Promise.all(
  Object.entries(entries)
    .filter(([name]) => only.length === 0 || only.includes(name))
    .map(([name, src]) => build(name, src))
)
