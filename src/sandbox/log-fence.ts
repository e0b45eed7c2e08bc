import { randomBytes } from 'node:crypto'

/**
 * Keeps the sandbox's output from driving the runner. The runner obeys workflow commands
 * (`::add-mask::`, `::set-output`, `::save-state::`, `::warning::`, `##[…]`, …) on any line a
 * step prints, and the container's output reaches the step's log live. While the container
 * speaks, the fence is open: `::stop-commands::<token>` before its first byte, `::<token>::`
 * before Airlock's own next line and at the end. The token is fresh per opening and only
 * ever exists in this process (never in the container's argv, env or files), so the agent
 * cannot print the line that ends the fence.
 */
export class CommandFence {
  private token: string | undefined
  private atLineStart = true

  constructor(private readonly write: (text: string | Buffer) => void) {}

  /** Container output: passes through, inside the fence. */
  output(chunk: Buffer | string): void {
    if (chunk.length === 0) return
    if (!this.token) {
      this.token = randomBytes(24).toString('hex')
      // Commands are whole lines: start the marker on its own line.
      if (!this.atLineStart) this.write('\n')
      this.write(`::stop-commands::${this.token}\n`)
      this.atLineStart = true
    }
    this.write(chunk)
    const last = typeof chunk === 'string' ? chunk.charCodeAt(chunk.length - 1) : chunk.at(-1)
    this.atLineStart = last === 0x0a
  }

  /** Ends the fence (idempotent): commands work again for the lines that follow. */
  close(): void {
    if (!this.token) return
    // The resume marker must be a line of its own, whatever the container left unfinished.
    if (!this.atLineStart) this.write('\n')
    this.write(`::${this.token}::\n`)
    this.token = undefined
    this.atLineStart = true
  }

  /** Whether container output is being fenced right now. */
  get isOpen(): boolean {
    return this.token !== undefined
  }
}

/**
 * One line of Airlock's own log that carries text the agent or the network chose (a URL, a
 * message from the container): line breaks are shown escaped, and the markers the runner
 * parses (`::` at a line start, `##[` anywhere) are broken with a zero-width space, so the
 * line can only ever be a line of text.
 */
export function logSafe(text: string): string {
  return text
    .replace(/\r/g, '\\r')
    .replace(/\n/g, '\\n')
    .replace(/[\u0085\u2028\u2029]/g, (m) => `\\u${m.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .replace(/::/g, ':\u200b:')
    .replace(/##\[/g, '#\u200b#[')
}
