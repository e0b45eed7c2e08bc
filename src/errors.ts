/** Base of Airlock's own errors: every one carries a stable `code` to branch on. */
export class AirlockError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: ErrorOptions
  ) {
    super(message, options)
    this.name = new.target.name
  }
}

/** An action input is malformed. The message names the input, the bad value and the expected form. */
export class InputError extends AirlockError {
  constructor(
    readonly input: string,
    message: string
  ) {
    super('AIRLOCK_BAD_INPUT', `${input}: ${message}`)
  }
}

/** The runner's OS or CPU is one Airlock cannot run an agent on. */
export class PlatformError extends AirlockError {
  constructor(message: string) {
    super('AIRLOCK_UNSUPPORTED_PLATFORM', message)
  }
}

/** The message of anything thrown, for `core.setFailed`. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
