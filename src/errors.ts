/**
 * Every error code Airlock uses, in one place: callers branch on `err.code`, never on
 * messages. A new code is added here first (AirlockError takes only these).
 */
export const ERROR_CODES = {
  AIRLOCK_BAD_INPUT: 'an action input (or CLI flag) is malformed; the message names it',
  AIRLOCK_UNSUPPORTED_PLATFORM: 'the runner OS or CPU cannot run the agent',
  AIRLOCK_PREFLIGHT_OS: 'preflight: the runner is not Linux',
  AIRLOCK_PREFLIGHT_ARCH: 'preflight: the runner CPU is neither x64 nor arm64',
  AIRLOCK_PREFLIGHT_NO_DOCKER: 'preflight: no docker CLI on PATH (ARC kubernetes mode named)',
  AIRLOCK_PREFLIGHT_DAEMON: 'preflight: the Docker daemon does not answer (the message names it)',
  AIRLOCK_PREFLIGHT_DAEMON_DENIED: "preflight: the runner's user may not use the Docker socket",
  AIRLOCK_PREFLIGHT_DAEMON_OS: 'preflight: the daemon runs Windows containers',
  AIRLOCK_PREFLIGHT_PODMAN: 'preflight: the docker CLI talks to Podman (not supported)',
  AIRLOCK_PREFLIGHT_MOUNTS: 'preflight: the daemon cannot see a directory Airlock mounts from',
  AIRLOCK_PREFLIGHT_CONTAINER_JOB:
    'preflight: a job container whose paths cannot be mapped to the host (or would widen a mount)',
  AIRLOCK_PROVIDER_NOT_FOUND: 'no provider of that name or alias',
  AIRLOCK_CREDENTIAL_NOT_FOUND: 'seed sentinel: no stored credential',
  AIRLOCK_CREDENTIAL_EXPIRED: 'seed sentinel: the credential expired',
  AIRLOCK_REFRESH_NOT_SUPPORTED: 'seed sentinel: the provider cannot refresh',
  AIRLOCK_TOKEN_REVOKED: 'seed sentinel: the refresh token was revoked',
  AIRLOCK_GRANT_FAILED: 'a provider could not obtain its credential (with a hint)',
  AIRLOCK_GRANT_NETWORK: 'a grant call could not reach its endpoint',
  AIRLOCK_OIDC_UNAVAILABLE: 'the job cannot mint ID tokens (`id-token: write` missing)',
  AIRLOCK_OIDC_FAILED: 'the ID-token endpoint refused or failed',
  AIRLOCK_STS_REFUSED: 'AWS STS refused AssumeRoleWithWebIdentity',
  AIRLOCK_GOOGLE_REFUSED: 'Google STS or IAM Credentials refused',
  AIRLOCK_BAD_APP_KEY: 'the GitHub App private key is unusable',
  AIRLOCK_GITHUB_APP_REFUSED: 'GitHub refused an App installation call',
  AIRLOCK_BAD_PATTERN: 'an allowlist pattern is malformed or forbidden',
  AIRLOCK_BAD_CONNECT_TO: 'a connect-to line is malformed',
  AIRLOCK_BAD_CA_OPTIONS: 'the run CA was asked for an impossible validity',
  AIRLOCK_BAD_SNI: 'a TLS name is empty or invalid',
  AIRLOCK_UPSTREAM_BLOCKED: 'an upstream connection was refused by policy (resolved address)',
  AIRLOCK_UNSUPPORTED_ENCODING: 'an upstream answer used a coding the scrubber cannot read',
  AIRLOCK_WS_PROTOCOL: 'a WebSocket peer broke the framing rules (or sent compressed frames)',
  AIRLOCK_UPGRADE_REFUSED: 'an upgrade to a protocol other than WebSocket',
  AIRLOCK_SIGV4_REFUSED: 'a SigV4 request the proxy will not re-sign',
  AIRLOCK_AUDIT_OPEN: 'the audit log cannot be opened',
  AIRLOCK_AUDIT_EXISTS: 'the audit log already exists',
  AIRLOCK_AUDIT_WRITE: 'an audit entry could not be written',
  AIRLOCK_AUDIT_CLOSED: 'an entry after the final one',
  AIRLOCK_AUDIT_READ: 'the audit log cannot be read',
  AIRLOCK_AUDIT_BAD_ENTRY: 'an audit entry does not parse or chain',
  AIRLOCK_PROXY_START: 'the proxy daemon did not become ready',
  AIRLOCK_DOCKER: 'docker failed (daemon, image, run)',
  AIRLOCK_AGENT_INSTALL: 'the agent CLI could not be installed from the registry',
  AIRLOCK_WORKSPACE_SECRET: 'the workspace holds a secret Airlock holds; the run is refused',
  AIRLOCK_BAD_EVENT: 'the workflow event is not one the step handles',
  AIRLOCK_BAD_GATE_CONFIG: 'the gate configuration is malformed',
  AIRLOCK_BAD_REPO: 'not an owner/name repository',
  AIRLOCK_BAD_BRANCH: 'a branch name the publish job will not write',
  AIRLOCK_BAD_DIFF: 'a diff that does not parse',
  AIRLOCK_PATCH_CONFLICT: 'the patch does not apply to the base',
  AIRLOCK_PATCH_REJECTED: 'the patch touches a protected path or breaks a limit',
  AIRLOCK_REVIEW_REJECTED: 'the review does not validate',
  AIRLOCK_REVIEW_OUTSIDE_DIFF: 'a review comment outside the diff',
  AIRLOCK_BRANCH_GONE: 'the branch to write no longer exists',
  AIRLOCK_BRANCH_MOVED: 'the branch moved since the agent started',
  AIRLOCK_BRANCH_PROTECTED: 'delivery would write a default or protected branch',
  AIRLOCK_GITHUB_API: 'a GitHub API call failed',
  AIRLOCK_FETCH_FAILED:
    'a request from the runner got no answer (the message names the URL, the cause and the proxy)',
  AIRLOCK_WORKSPACE: 'the workspace is unusable for the workflow step'
} as const

export type ErrorCode = keyof typeof ERROR_CODES

/** Base of Airlock's own errors: every one carries a stable `code` to branch on. */
export class AirlockError extends Error {
  constructor(
    readonly code: ErrorCode,
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
