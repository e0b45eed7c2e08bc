/** Metadata key recording how a token was obtained (`secret`, `oidc`, `github-app`, `env`, …). */
export const META_KEY_TOKEN_SOURCE = 'token_source'

/** A credential held by the proxy. `token` is the real secret; it never enters the container. */
export interface Credential {
  provider: string
  token: string
  scopes?: string[]
  /** When the token stops working; absent for static secrets. */
  expiresAt?: Date
  createdAt: Date
  metadata?: Record<string, string>
}

/**
 * The accessor shape of the seed's storage credential, kept so stored credentials convert
 * (seed parity, provider-api.md; unused by Airlock).
 */
export interface LegacyCredential {
  getProvider(): string
  getToken(): string
  getScopes(): string[]
  getExpiresAt(): Date | undefined
  getCreatedAt(): Date
  getMetadata(): Record<string, string>
}

/** Converts a seed storage credential (seed parity, provider-api.md; unused by Airlock). */
export function fromLegacy(cred: LegacyCredential): Credential {
  const out: Credential = {
    provider: cred.getProvider(),
    token: cred.getToken(),
    createdAt: cred.getCreatedAt()
  }
  const scopes = cred.getScopes()
  if (scopes.length > 0) out.scopes = [...scopes]
  const expiresAt = cred.getExpiresAt()
  // Go's zero time means "no expiry"; an invalid date is treated the same way.
  if (expiresAt && !Number.isNaN(expiresAt.getTime()) && expiresAt.getTime() > 0) {
    out.expiresAt = expiresAt
  }
  const metadata = cred.getMetadata()
  if (Object.keys(metadata).length > 0) out.metadata = { ...metadata }
  return out
}

/** JSON form of a credential, as it crosses the stdin pipe into the proxy daemon. */
export interface CredentialJSON {
  provider: string
  token: string
  scopes?: string[]
  expires_at?: string
  created_at: string
  metadata?: Record<string, string>
}

export function credentialToJSON(cred: Credential): CredentialJSON {
  const out: CredentialJSON = {
    provider: cred.provider,
    token: cred.token,
    created_at: cred.createdAt.toISOString()
  }
  if (cred.scopes) out.scopes = cred.scopes
  if (cred.expiresAt) out.expires_at = cred.expiresAt.toISOString()
  if (cred.metadata) out.metadata = cred.metadata
  return out
}

export function credentialFromJSON(json: CredentialJSON): Credential {
  const out: Credential = {
    provider: json.provider,
    token: json.token,
    createdAt: new Date(json.created_at)
  }
  if (json.scopes) out.scopes = json.scopes
  if (json.expires_at) out.expiresAt = new Date(json.expires_at)
  if (json.metadata) out.metadata = json.metadata
  return out
}
