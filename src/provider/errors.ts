/**
 * The seed's sentinel errors as classes with stable `code`s, so callers branch on
 * `err.code` (or `instanceof`) instead of comparing messages.
 */
export abstract class ProviderError extends Error {
  abstract readonly code: string
}

export class ProviderNotFoundError extends ProviderError {
  readonly code = 'AIRLOCK_PROVIDER_NOT_FOUND'
  constructor(readonly providerName: string) {
    super(`provider not found: ${providerName}`)
    this.name = 'ProviderNotFoundError'
  }
}

export class CredentialNotFoundError extends ProviderError {
  readonly code = 'AIRLOCK_CREDENTIAL_NOT_FOUND'
  constructor(message = 'credential not found') {
    super(message)
    this.name = 'CredentialNotFoundError'
  }
}

export class CredentialExpiredError extends ProviderError {
  readonly code = 'AIRLOCK_CREDENTIAL_EXPIRED'
  constructor(message = 'credential expired') {
    super(message)
    this.name = 'CredentialExpiredError'
  }
}

export class RefreshNotSupportedError extends ProviderError {
  readonly code = 'AIRLOCK_REFRESH_NOT_SUPPORTED'
  constructor(message = 'credential refresh not supported') {
    super(message)
    this.name = 'RefreshNotSupportedError'
  }
}

export class TokenRevokedError extends ProviderError {
  readonly code = 'AIRLOCK_TOKEN_REVOKED'
  constructor(message = 'refresh token revoked') {
    super(message)
    this.name = 'TokenRevokedError'
  }
}

/**
 * A provider failed to obtain its credential. The message is `grant <provider>: <cause>`,
 * then a blank line and the hint (what the user should set or check) when there is one.
 * The cause is chained as the standard `Error.cause`.
 */
export class GrantError extends ProviderError {
  readonly code = 'AIRLOCK_GRANT_FAILED'
  readonly provider: string
  readonly hint: string
  declare readonly cause: Error

  constructor(provider: string, cause: Error | string, hint = '') {
    const err = typeof cause === 'string' ? new Error(cause) : cause
    super(`grant ${provider}: ${err.message}${hint ? `\n\n${hint}` : ''}`, { cause: err })
    this.name = 'GrantError'
    this.provider = provider
    this.hint = hint
  }
}
