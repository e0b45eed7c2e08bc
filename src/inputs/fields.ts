/**
 * Readers for the shapes inputs come in (lists, shell-style words, enums, bounded numbers)
 * and the "did you mean" behind every name error. No input's meaning lives here.
 */
import { InputError } from '../errors.js'

/** Reads one input by its action name (`INPUT_*` in the action, flags and env in the CLI). */
export type InputReader = (name: string) => string

/** Splits a comma- or newline-separated list, dropping blanks and `#` comments. */
export function splitList(value: string): string[] {
  return value
    .split(/\r?\n/)
    .map((line) => line.replace(/(^|\s)#.*$/, ''))
    .flatMap((line) => line.split(','))
    .map((item) => item.trim())
    .filter((item) => item.length > 0)
}

/** Splits shell-style words: single and double quotes, backslash escapes; no expansion. */
export function splitArgs(name: string, value: string): string[] {
  const out: string[] = []
  let word: string | undefined
  let quote: '"' | "'" | undefined
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!
    if (quote) {
      if (c === quote) quote = undefined
      else if (c === '\\' && quote === '"' && i + 1 < value.length) word = (word ?? '') + value[++i]
      else word = (word ?? '') + c
    } else if (c === '"' || c === "'") {
      quote = c
      word ??= ''
    } else if (c === '\\' && i + 1 < value.length) {
      word = (word ?? '') + value[++i]
    } else if (/\s/.test(c)) {
      if (word !== undefined) out.push(word)
      word = undefined
    } else {
      word = (word ?? '') + c
    }
  }
  if (quote) throw new InputError(name, `unterminated ${quote} quote`)
  if (word !== undefined) out.push(word)
  return out
}

export function parseEnum<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T
  throw new InputError(
    name,
    `"${value}" is not one of ${allowed.map((a) => `\`${a}\``).join(', ')}`
  )
}

export function parseIntInRange(
  name: string,
  value: string,
  min: number,
  max: number,
  unit: string
): number {
  if (!/^\d+$/.test(value))
    throw new InputError(name, `"${value}" is not a whole number of ${unit} (${min}-${max})`)
  const n = Number(value)
  if (n < min || n > max) throw new InputError(name, `${n} is outside ${min}-${max} ${unit}`)
  return n
}

/** The candidate within edit distance 2, for "did you mean". */
export function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined
  let bestDistance = 3
  for (const c of candidates) {
    const d = editDistance(word, c)
    if (d < bestDistance) [best, bestDistance] = [c, d]
  }
  return best
}

function editDistance(a: string, b: string): number {
  // Optimal string alignment: a transposition (githbu → github) costs one edit.
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) d[0]![j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1)
      d[i]![j] = v
    }
  }
  return d[a.length]![b.length]!
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
