/**
 * The image a local run uses when the user named none. The action's default image is pulled
 * from a registry; on a terminal that pull can be large (say so, show its progress) or
 * impossible (an offline machine, a registry that is blocked): then the run falls back to
 * `runner` mode — this machine's own /usr, /etc and /opt, read-only — and says so, instead of
 * failing after everything was set up.
 */
import { docker } from '../sandbox/docker.js'

export const DEFAULT_IMAGE = 'node:22-bookworm'

export interface ImageChoice {
  image: string
  /** Why the default was not used, when it was not. */
  fallback?: string
}

/**
 * `image` when the user named one (checked later, as in the action); otherwise the default
 * image, pulled here with its progress on `progress`, or `runner` when it cannot be had.
 * With no daemon to ask, the default is kept: the preflight then says what is wrong.
 */
export async function chooseLocalImage(
  image: string | undefined,
  say: (line: string) => void,
  progress: (chunk: Buffer) => void
): Promise<ImageChoice> {
  if (image) return { image }
  const inspect = await docker(['image', 'inspect', '--format', '{{.Id}}', DEFAULT_IMAGE])
  if (inspect.code === 0) return { image: DEFAULT_IMAGE }
  if (/cannot connect|is the docker daemon running|permission denied/i.test(inspect.stderr))
    return { image: DEFAULT_IMAGE }
  say(`pulling ${DEFAULT_IMAGE} (the default image, once; about 400 MB)…`)
  const pull = await docker(['pull', DEFAULT_IMAGE], { onStdout: progress, onStderr: progress })
  if (pull.code === 0) return { image: DEFAULT_IMAGE }
  const why = pull.stderr.trim().split('\n').at(-1) ?? `exit ${pull.code}`
  const fallback = `${DEFAULT_IMAGE} could not be pulled (${why}); running in \`runner\` mode instead: the container's root is this machine's /usr, /etc and /opt, read-only (--image picks another image)`
  say(fallback)
  return { image: 'runner', fallback }
}
