import type { IncomingMessage, ServerResponse } from 'node:http'
import type { GrantSettings } from './settings.js'
import type { Command } from 'commander'
import type { Credential } from './credential.js'

/** A bind mount into the agent container. */
export interface MountConfig {
  source: string
  target: string
  readOnly: boolean
}

/** What `AgentProvider.prepareContainer` hands the sandbox. */
export interface ContainerConfig {
  /** `NAME=value` pairs; values are placeholders or non-secret settings, never real secrets. */
  env: string[]
  mounts: MountConfig[]
  /** Directory holding generated config files; removed in post. */
  stagingDir: string
  /** The argv that runs the agent non-interactively inside the container. */
  command?: string[]
  cleanup?: () => Promise<void>
}

/** An MCP server in the common `{"mcpServers": {...}}` shape. Remote (url) or local (command). */
export interface MCPServerConfig {
  url?: string
  type?: 'http' | 'sse' | 'stdio'
  headers?: Record<string, string>
  command?: string
  args?: string[]
  env?: Record<string, string>
}

export interface PrepareOpts {
  credential: Credential
  /** HOME inside the container (e.g. `/home/airlock`). */
  containerHome: string
  /** Directory on the runner where the provider writes files to mount; created by the caller. */
  stagingDir: string
  mcpServers: Record<string, MCPServerConfig>
  /** Settings the caller already read for the agent (host config); undefined = provider default. */
  hostConfig?: Record<string, unknown>
  prompt?: string
  /** Extra CLI arguments from `agent-args`, already split. */
  agentArgs?: string[]
  /** Grants in this run, so an agent can pick Bedrock (aws) or Vertex (gcp). */
  grants?: string[]
  /** `model`, `max-turns`, `max-budget-usd`: each agent takes them in its own form. */
  limits?: AgentLimits
}

/** What bounds an agent's run beyond the time limit; unset fields leave the CLI's default. */
export interface AgentLimits {
  model?: string
  maxTurns?: number
  maxBudgetUsd?: number
}

/** The request as a response transformer sees it. */
export interface TransformRequest {
  method: string
  host: string
  path: string
  headers: Readonly<Record<string, string | string[] | undefined>>
}

/** A buffered, non-streaming response a transformer may rewrite. */
export interface TransformResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

/**
 * Rewrites a response for a host. Returns the new response, or undefined to leave it alone;
 * the first transformer that returns a response wins. Streaming responses (SSE, chunked
 * without length) are never buffered for transformers: they pass through untouched.
 */
export type ResponseTransformer = (
  req: TransformRequest,
  res: TransformResponse
) => TransformResponse | undefined

/** A request as a {@link RequestSigner} sees it, after the proxy's other injections. */
export interface SignableRequest {
  method: string
  /** The lower-case host the request goes to (no port). */
  host: string
  /** Path and query exactly as they go upstream. */
  path: string
  /** Lower-case names, hop-by-hop headers already removed. */
  headers: Readonly<Record<string, string | string[] | undefined>>
  /** The body, buffered, when `needsBody` asked for it and the request has one. */
  body?: Buffer
}

/**
 * What a signer decided: headers to set upstream (`signed` says whether credentials were
 * added), or a refusal the proxy answers with 403 and the plain-text reason.
 */
export type SignOutcome =
  { headers: Record<string, string>; signed: boolean; refused?: undefined } | { refused: string }

/**
 * Signs requests whose credential is a signature over the request itself (AWS SigV4), which
 * a header swap cannot express.
 */
export interface RequestSigner {
  /** Names the signer in `X-Airlock-Blocked` when it refuses (e.g. `sigv4`). */
  readonly name: string
  /** Whether `sign` needs the request body (the proxy buffers it, up to `maxBodyBytes`). */
  needsBody(headers: SignableRequest['headers']): boolean
  maxBodyBytes: number
  sign(req: SignableRequest): Promise<SignOutcome>
}

/**
 * How providers tell the proxy what to inject. Hosts are bare lower-case names or
 * `*.suffix` patterns, never with a port.
 */
export interface ProxyConfigurer {
  /** `Authorization: <value>` for requests to host. */
  setCredential(host: string, value: string): void
  setCredentialHeader(host: string, headerName: string, headerValue: string): void
  /**
   * Adds (or, for the same grant and header, replaces — that is how refresh works) a
   * credential for host. With several credentials on one host, the placeholder the
   * client sent picks which one is injected.
   */
  setCredentialWithGrant(
    host: string,
    headerName: string,
    headerValue: string,
    grant: string,
    placeholder?: string
  ): void
  /** Sent on every request to host; appended with `,` when the client sent the header too. */
  addExtraHeader(host: string, name: string, value: string): void
  /** Stripped from requests to host, unless a credential was injected under that name. */
  removeRequestHeader(host: string, name: string): void
  /** Placeholder → real in path, headers and bodies up to 64 KiB (one per host; last wins). */
  setTokenSubstitution(host: string, placeholder: string, realToken: string): void
  addResponseTransformer(host: string, transformer: ResponseTransformer): void
  /**
   * Signs requests to host (a name or `*.suffix`) with signer as the last step before they
   * go upstream. One signer per host pattern; calling again (refresh) replaces it.
   */
  setRequestSigner(host: string, grant: string, signer: RequestSigner): void
  /**
   * A raw secret no header carries (a signing key) that must still be scrubbed from
   * responses and logs; echoes become replacement (default `airlock-redacted`).
   */
  addSecret(secret: string, replacement?: string): void
}

/** Everything a grant may need from the outside world, so providers stay testable. */
export interface GrantContext {
  signal: AbortSignal
  /** What the run was configured with, read and validated once. */
  settings: GrantSettings
  /** HTTP for grant calls: honours `connect-to`, `upstream-ca` and the runner's HTTPS_PROXY. */
  fetch: typeof fetch
  /** A GitHub OIDC ID token for audience (needs `id-token: write`). */
  getIDToken: (audience: string) => Promise<string>
  /** Registers a value with the log masker the moment it exists. */
  setSecret: (value: string) => void
  /** A warning for the step log (a check that could not run); absent = silent. */
  warn?: (line: string) => void
  /** The repository (`owner/name`) and run id, for session names and token scoping. */
  repository: string
  runId: string
  githubApiUrl: string
}

/** Every provider implements this. */
export interface CredentialProvider {
  readonly name: string
  grant(ctx: GrantContext): Promise<Credential>
  configureProxy(p: ProxyConfigurer, cred: Credential): void
  /** `NAME=value` pairs for the container: placeholders only. */
  containerEnv(cred: Credential): string[]
  /** Mounts for the credential, and an optional path later passed to `cleanup`. */
  containerMounts(
    cred: Credential,
    containerHome: string,
    stagingDir: string
  ): Promise<{ mounts: MountConfig[]; cleanupPath?: string }>
  cleanup(cleanupPath: string): Promise<void>
  /** Tools the image should have for this credential to be useful, e.g. github → gh, git. */
  impliedDependencies(): string[]
  /** Hosts the credential is for; every one joins the egress allowlist. */
  hosts(cred: Credential): string[]
}

/** Agents (claude, codex, gemini) also prepare the container and add CLI commands. */
export interface AgentProvider extends CredentialProvider {
  prepareContainer(opts: PrepareOpts): Promise<ContainerConfig>
  /** Adds `airlock <agent> …` to the local CLI (commander stands where the seed has cobra). */
  registerCli(program: Command): void
}

export type EndpointHandler = (req: IncomingMessage, res: ServerResponse) => void

/** Where endpoint providers hang handlers on the proxy. */
export interface EndpointRouter {
  /** Handles direct (non-proxied) requests to the proxy whose path starts with `prefix`. */
  handle(prefix: string, handler: EndpointHandler): void
}

/** Providers that expose HTTP endpoints to containers (aws). */
export interface EndpointProvider extends CredentialProvider {
  registerEndpoints(router: EndpointRouter, cred: Credential): void
}

/** Optional: providers whose credential expires and can be re-minted. */
export interface RefreshableProvider {
  canRefresh(cred: Credential): boolean
  /** Milliseconds between refreshes; the proxy also refreshes at 75 % of the lifetime. */
  refreshInterval(): number
  /** Mints a new credential and re-registers its headers on `p`. */
  refresh(ctx: GrantContext, p: ProxyConfigurer, cred: Credential): Promise<Credential>
}

export function isAgentProvider(p: CredentialProvider | undefined): p is AgentProvider {
  return (
    p !== undefined &&
    typeof (p as Partial<AgentProvider>).prepareContainer === 'function' &&
    typeof (p as Partial<AgentProvider>).registerCli === 'function'
  )
}

export function isEndpointProvider(p: CredentialProvider | undefined): p is EndpointProvider {
  return p !== undefined && typeof (p as Partial<EndpointProvider>).registerEndpoints === 'function'
}

export function isRefreshableProvider(
  p: object | undefined
): p is RefreshableProvider & CredentialProvider {
  return (
    p !== undefined &&
    typeof (p as Partial<RefreshableProvider>).refresh === 'function' &&
    typeof (p as Partial<RefreshableProvider>).canRefresh === 'function'
  )
}

/**
 * Optional: providers whose minted credentials can be revoked before they expire (GitHub
 * App installation tokens).
 */
export interface RevocableProvider {
  /**
   * Revokes cred. Resolves true when revoked, false when there was nothing to revoke
   * (a static secret, or a token already expired or invalid).
   */
  revoke(ctx: GrantContext, cred: Credential): Promise<boolean>
}

export function isRevocableProvider(
  p: CredentialProvider | undefined
): p is CredentialProvider & RevocableProvider {
  return p !== undefined && typeof (p as Partial<RevocableProvider>).revoke === 'function'
}

/** One cheap, read-only call that tells whether an API accepts a key. */
export interface KeyCheck {
  provider: string
  /** The input the key came from, named in the error. */
  input: string
  url: string
  method?: 'GET' | 'POST'
  headers: Record<string, string>
  body?: string
  /** Whether this answer means the API does not accept the key (as opposed to a hiccup). */
  refused: (status: number, body: string) => boolean
  /** What to check when it is refused. */
  hint: string
}

/**
 * Optional: providers that can ask their API whether a granted key works, so a wrong or
 * revoked secret fails the step before a container starts, instead of deep inside the run.
 */
export interface ValidatingProvider {
  keyCheck(cred: Credential): KeyCheck | undefined
}

export function isValidatingProvider(p: unknown): p is ValidatingProvider {
  return typeof (p as Partial<ValidatingProvider> | undefined)?.keyCheck === 'function'
}

/** Where an agent's CLI comes from in the npm registry, and how it is started once mounted. */
export interface AgentInstallSpec {
  packageName: string
  packageVersion: string
  argv: (mountDir: string) => string[]
}

/**
 * Optional: agents Airlock installs from the npm registry (every built-in one). The sandbox
 * depends on this and on AgentProvider, never on a provider class.
 */
export interface InstallableAgent {
  /** The npm package holding the CLI, and the version this release pins. */
  readonly npmPackage: string
  readonly defaultVersion: string
  /** The command's name, as users know it. */
  readonly binary: string
  /**
   * The registry package that holds the runnable files for this machine (a platform
   * package for native CLIs), and the argv prefix that runs it.
   */
  installSpec(version: string, arch?: string): AgentInstallSpec
}

export function isInstallableAgent(
  p: CredentialProvider | undefined
): p is AgentProvider & InstallableAgent {
  return (
    isAgentProvider(p) &&
    typeof (p as Partial<InstallableAgent>).installSpec === 'function' &&
    typeof (p as Partial<InstallableAgent>).npmPackage === 'string'
  )
}
