// Writes the inputs and outputs tables of README.md from action.yml; `--check` fails on drift.
import { readFileSync, writeFileSync } from 'node:fs'
import { parse } from 'yaml'

const action = parse(readFileSync('action.yml', 'utf8'))
const cell = (s) =>
  String(s ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\s*\n\s*/g, ' ')
    .trim()
const inputs = [
  '| Input | Default | Description |',
  '| --- | --- | --- |',
  ...Object.entries(action.inputs).map(
    ([name, i]) =>
      `| \`${name}\` | ${i.default ? `\`${cell(i.default)}\`` : ''} | ${cell(i.description)} |`
  )
].join('\n')
const outputs = [
  '| Output | Description |',
  '| --- | --- |',
  ...Object.entries(action.outputs).map(([name, o]) => `| \`${name}\` | ${cell(o.description)} |`)
].join('\n')

const readme = readFileSync('README.md', 'utf8')
const replace = (text, tag, body) => {
  const re = new RegExp(`(<!-- ${tag}:start -->)[\\s\\S]*?(<!-- ${tag}:end -->)`)
  if (!re.test(text))
    throw new Error(`README.md has no <!-- ${tag}:start --> … <!-- ${tag}:end --> block`)
  return text.replace(re, `$1\n${body}\n$2`)
}
const next = replace(replace(readme, 'inputs', inputs), 'outputs', outputs)
if (process.argv.includes('--check')) {
  if (next !== readme) {
    process.stderr.write('README.md tables differ from action.yml: run `npm run docs` and commit\n')
    process.exit(1)
  }
  process.stdout.write('README.md tables match action.yml\n')
} else {
  writeFileSync('README.md', next)
}
