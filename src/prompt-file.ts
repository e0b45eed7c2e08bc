import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readSync,
  realpathSync,
  statSync
} from 'node:fs'
import { isAbsolute, relative, resolve, sep } from 'node:path'
import { InputError } from './errors.js'

/** The largest prompt file read (a prompt, not a data set). */
export const PROMPT_FILE_MAX_BYTES = 1024 * 1024

/**
 * Resolves `prompt-file` to its real path, confined to the workspace: relative to it, `..`
 * or an absolute path that leaves it, or a symlink whose target does, is refused; so is a
 * missing file, something that is not a regular file, or one over the size cap. Runs while
 * inputs are read, before any grant: a bad prompt-file fails the step before anything starts.
 */
export function resolvePromptFile(workspace: string, file: string): string {
  let root: string
  try {
    root = realpathSync(workspace)
  } catch (err) {
    throw new InputError(
      'prompt-file',
      `the workspace ${workspace} does not exist: ${(err as Error).message}`
    )
  }
  const given = resolve(root, file)
  if (!within(root, given))
    throw new InputError('prompt-file', `${file} is outside the workspace (${root})`)
  let real: string
  try {
    real = realpathSync(given)
  } catch {
    throw new InputError('prompt-file', `${file} does not exist in the workspace`)
  }
  if (!within(root, real))
    throw new InputError('prompt-file', `${file} is a link that leads outside the workspace`)
  const st = statSync(real)
  if (!st.isFile()) throw new InputError('prompt-file', `${file} is not a regular file`)
  if (st.size > PROMPT_FILE_MAX_BYTES)
    throw new InputError(
      'prompt-file',
      `${file} is ${st.size} bytes; the limit is ${PROMPT_FILE_MAX_BYTES} (1 MiB)`
    )
  return real
}

/**
 * Reads the prompt file resolved by {@link resolvePromptFile}, checked again at the moment of
 * reading (something may have swapped it since): confined, no symlink as the last component
 * (O_NOFOLLOW), never blocking on a FIFO (O_NONBLOCK, then must be a regular file), capped.
 */
export function readPromptFile(workspace: string, realPath: string): string {
  const again = resolvePromptFile(workspace, realPath)
  let fd: number
  try {
    fd = openSync(again, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  } catch (err) {
    throw new InputError('prompt-file', `cannot open ${realPath}: ${(err as Error).message}`)
  }
  try {
    const st = fstatSync(fd)
    if (!st.isFile()) throw new InputError('prompt-file', `${realPath} is not a regular file`)
    const buf = Buffer.alloc(PROMPT_FILE_MAX_BYTES + 1)
    let n = 0
    for (;;) {
      const r = readSync(fd, buf, n, buf.length - n, null)
      if (r === 0) break
      n += r
      if (n > PROMPT_FILE_MAX_BYTES)
        throw new InputError(
          'prompt-file',
          `${realPath} grew over the limit of ${PROMPT_FILE_MAX_BYTES} bytes (1 MiB)`
        )
    }
    return buf.subarray(0, n).toString('utf8')
  } finally {
    closeSync(fd)
  }
}

function within(root: string, path: string): boolean {
  const rel = relative(root, path)
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel)
}
