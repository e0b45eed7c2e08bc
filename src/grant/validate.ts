import { GrantError, type GrantContext, type KeyCheck } from '../provider/index.js'

/** How long a key check may take before the run goes on without it. */
export const KEY_CHECK_TIMEOUT_MS = 10_000

/**
 * Runs a key check. A refusal throws a GrantError naming the provider, the input, the host
 * and the status (with the API's own message, minus the key); anything else that is not a
 * success (a network failure, a timeout, a 5xx, a rate limit) is only a warning: the check
 * is there to catch wrong keys early, not to make the run depend on one more request.
 */
export async function checkKey(ctx: GrantContext, secret: string, check: KeyCheck): Promise<void> {
  const host = new URL(check.url).host
  const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(KEY_CHECK_TIMEOUT_MS)])
  let status: number
  let text: string
  try {
    const res = await ctx.fetch(check.url, {
      method: check.method ?? 'GET',
      headers: check.headers,
      ...(check.body !== undefined ? { body: check.body } : {}),
      redirect: 'manual',
      signal
    })
    status = res.status
    text = (await res.text()).slice(0, 4096)
  } catch (err) {
    if (ctx.signal.aborted) throw err
    ctx.warn?.(
      `${check.provider}: could not check ${check.input} with ${host} (${describe(err)}); going on without the check`
    )
    return
  }
  if (status >= 200 && status < 300) return
  if (check.refused(status, text)) {
    const detail = apiMessage(text, secret)
    throw new GrantError(
      check.provider,
      `${host} refused ${check.input}: HTTP ${status}${detail ? ` (${detail})` : ''}`,
      check.hint
    )
  }
  ctx.warn?.(
    `${check.provider}: ${host} answered HTTP ${status} when checking ${check.input}; going on without the check`
  )
}

function describe(err: unknown): string {
  const e = err as { name?: string; cause?: { code?: string; message?: string }; message?: string }
  if (e.name === 'TimeoutError') return `no answer in ${KEY_CHECK_TIMEOUT_MS / 1000} s`
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err)
}

/**
 * The error message of an API's JSON error body (Anthropic, OpenAI and Google all nest it
 * under `error`), cut short, with the key removed in case an API quotes it.
 */
function apiMessage(body: string, secret: string): string {
  let message: string
  try {
    const json = JSON.parse(body) as {
      error?: string | { message?: unknown }
      message?: unknown
    }
    const m =
      typeof json.error === 'string'
        ? json.error
        : typeof json.error?.message === 'string'
          ? json.error.message
          : typeof json.message === 'string'
            ? json.message
            : ''
    message = m
  } catch {
    return ''
  }
  if (secret.length >= 8) message = message.split(secret).join('[the key]')
  return message.replace(/\s+/g, ' ').trim().slice(0, 200)
}
