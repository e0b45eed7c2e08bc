import { AirlockError } from '../errors.js'

/**
 * The seed's sentinel errors as classes with stable `code`s, so callers branch on
 * `err.code` (or `instanceof`) instead of comparing messages.
 */
export abstract class ProviderError extends AirlockError {}

export class ProviderNotFoundError extends ProviderError {
  constructor(readonly providerName: string) {
    super('AIRLOCK_PROVIDER_NOT_FOUND', `provider not found: ${providerName}`)
  }
}

/** A seed sentinel (seed parity, provider-api.md; unused by Airlock). */
export class CredentialNotFoundError extends ProviderError {
  constructor(message = 'credential not found') {
    super('AIRLOCK_CREDENTIAL_NOT_FOUND', message)
  }
}

/** A seed sentinel (seed parity, provider-api.md; unused by Airlock). */
export class CredentialExpiredError extends ProviderError {
  constructor(message = 'credential expired') {
    super('AIRLOCK_CREDENTIAL_EXPIRED', message)
  }
}

/** A seed sentinel (seed parity, provider-api.md; unused by Airlock). */
export class RefreshNotSupportedError extends ProviderError {
  constructor(message = 'credential refresh not supported') {
    super('AIRLOCK_REFRESH_NOT_SUPPORTED', message)
  }
}

/** A seed sentinel (seed parity, provider-api.md; unused by Airlock). */
export class TokenRevokedError extends ProviderError {
  constructor(message = 'refresh token revoked') {
    super('AIRLOCK_TOKEN_REVOKED', message)
  }
}

/**
 * A provider failed to obtain its credential. The message is `grant <provider>: <cause>`,
 * then a blank line and the hint (what the user should set or check) when there is one.
 * The cause is chained as the standard `Error.cause`.
 */
export class GrantError extends ProviderError {
  readonly provider: string
  readonly hint: string
  declare readonly cause: Error

  constructor(provider: string, cause: Error | string, hint = '') {
    const err = typeof cause === 'string' ? new Error(cause) : cause
    super('AIRLOCK_GRANT_FAILED', `grant ${provider}: ${err.message}${hint ? `\n\n${hint}` : ''}`, {
      cause: err
    })
    this.provider = provider
    this.hint = hint
  }
}
