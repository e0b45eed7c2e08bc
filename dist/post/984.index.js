export const id = 984;
export const ids = [984];
export const modules = {

/***/ 6984:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  cleanUp: () => (/* binding */ cleanUp)
});

// EXTERNAL MODULE: ./node_modules/@actions/core/lib/core.js + 14 modules
var core = __webpack_require__(6421);
;// CONCATENATED MODULE: ./src/errors.ts
/**
 * Every error code Airlock uses, in one place: callers branch on `err.code`, never on
 * messages. A new code is added here first (AirlockError takes only these).
 */
const ERROR_CODES = {
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
    AIRLOCK_PREFLIGHT_CONTAINER_JOB: 'preflight: a job container whose paths cannot be mapped to the host (or would widen a mount)',
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
    AIRLOCK_FETCH_FAILED: 'a request from the runner got no answer (the message names the URL, the cause and the proxy)',
    AIRLOCK_WORKSPACE: 'the workspace is unusable for the workflow step'
};
/** Base of Airlock's own errors: every one carries a stable `code` to branch on. */
class AirlockError extends Error {
    code;
    constructor(code, message, options) {
        super(message, options);
        this.code = code;
        this.name = new.target.name;
    }
}
/** An action input is malformed. The message names the input, the bad value and the expected form. */
class InputError extends AirlockError {
    input;
    constructor(input, message) {
        super('AIRLOCK_BAD_INPUT', `${input}: ${message}`);
        this.input = input;
    }
}
/** The runner's OS or CPU is one Airlock cannot run an agent on. */
class PlatformError extends AirlockError {
    constructor(message) {
        super('AIRLOCK_UNSUPPORTED_PLATFORM', message);
    }
}
/** The message of anything thrown, for `core.setFailed`. */
function errorMessage(err) {
    return err instanceof Error ? err.message : String(err);
}

;// CONCATENATED MODULE: ./src/provider/credential.ts
/** Metadata key recording how a token was obtained (`secret`, `oidc`, `github-app`, `env`, …). */
const META_KEY_TOKEN_SOURCE = 'token_source';
/** Converts a seed storage credential (seed parity, provider-api.md; unused by Airlock). */
function fromLegacy(cred) {
    const out = {
        provider: cred.getProvider(),
        token: cred.getToken(),
        createdAt: cred.getCreatedAt()
    };
    const scopes = cred.getScopes();
    if (scopes.length > 0)
        out.scopes = [...scopes];
    const expiresAt = cred.getExpiresAt();
    // Go's zero time means "no expiry"; an invalid date is treated the same way.
    if (expiresAt && !Number.isNaN(expiresAt.getTime()) && expiresAt.getTime() > 0) {
        out.expiresAt = expiresAt;
    }
    const metadata = cred.getMetadata();
    if (Object.keys(metadata).length > 0)
        out.metadata = { ...metadata };
    return out;
}
function credentialToJSON(cred) {
    const out = {
        provider: cred.provider,
        token: cred.token,
        created_at: cred.createdAt.toISOString()
    };
    if (cred.scopes)
        out.scopes = cred.scopes;
    if (cred.expiresAt)
        out.expires_at = cred.expiresAt.toISOString();
    if (cred.metadata)
        out.metadata = cred.metadata;
    return out;
}
function credentialFromJSON(json) {
    const out = {
        provider: json.provider,
        token: json.token,
        createdAt: new Date(json.created_at)
    };
    if (json.scopes)
        out.scopes = json.scopes;
    if (json.expires_at)
        out.expiresAt = new Date(json.expires_at);
    if (json.metadata)
        out.metadata = json.metadata;
    return out;
}

;// CONCATENATED MODULE: ./src/provider/errors.ts

/**
 * The seed's sentinel errors as classes with stable `code`s, so callers branch on
 * `err.code` (or `instanceof`) instead of comparing messages.
 */
class ProviderError extends AirlockError {
}
class ProviderNotFoundError extends ProviderError {
    providerName;
    constructor(providerName) {
        super('AIRLOCK_PROVIDER_NOT_FOUND', `provider not found: ${providerName}`);
        this.providerName = providerName;
    }
}
/** A seed sentinel (seed parity, provider-api.md; unused by Airlock). */
class CredentialNotFoundError extends ProviderError {
    constructor(message = 'credential not found') {
        super('AIRLOCK_CREDENTIAL_NOT_FOUND', message);
    }
}
/** A seed sentinel (seed parity, provider-api.md; unused by Airlock). */
class CredentialExpiredError extends ProviderError {
    constructor(message = 'credential expired') {
        super('AIRLOCK_CREDENTIAL_EXPIRED', message);
    }
}
/** A seed sentinel (seed parity, provider-api.md; unused by Airlock). */
class RefreshNotSupportedError extends ProviderError {
    constructor(message = 'credential refresh not supported') {
        super('AIRLOCK_REFRESH_NOT_SUPPORTED', message);
    }
}
/** A seed sentinel (seed parity, provider-api.md; unused by Airlock). */
class TokenRevokedError extends ProviderError {
    constructor(message = 'refresh token revoked') {
        super('AIRLOCK_TOKEN_REVOKED', message);
    }
}
/**
 * A provider failed to obtain its credential. The message is `grant <provider>: <cause>`,
 * then a blank line and the hint (what the user should set or check) when there is one.
 * The cause is chained as the standard `Error.cause`.
 */
class GrantError extends ProviderError {
    provider;
    hint;
    constructor(provider, cause, hint = '') {
        const err = typeof cause === 'string' ? new Error(cause) : cause;
        super('AIRLOCK_GRANT_FAILED', `grant ${provider}: ${err.message}${hint ? `\n\n${hint}` : ''}`, {
            cause: err
        });
        this.provider = provider;
        this.hint = hint;
    }
}

;// CONCATENATED MODULE: ./src/provider/types.ts
function isAgentProvider(p) {
    return (p !== undefined &&
        typeof p.prepareContainer === 'function' &&
        typeof p.registerCli === 'function');
}
function isEndpointProvider(p) {
    return p !== undefined && typeof p.registerEndpoints === 'function';
}
function isRefreshableProvider(p) {
    return (p !== undefined &&
        typeof p.refresh === 'function' &&
        typeof p.canRefresh === 'function');
}
function isRevocableProvider(p) {
    return p !== undefined && typeof p.revoke === 'function';
}
function isValidatingProvider(p) {
    return typeof p?.keyCheck === 'function';
}
function isInstallableAgent(p) {
    return (isAgentProvider(p) &&
        typeof p.installSpec === 'function' &&
        typeof p.npmPackage === 'string');
}

;// CONCATENATED MODULE: ./src/provider/registry.ts


// Module-level like the seed's package-global maps; Node is single-threaded, so no lock.
const providers = new Map();
const aliases = new Map();
/** Registers a provider under its name; registering the same name again replaces it. */
function register(p) {
    providers.set(p.name, p);
}
/** Makes `alias` resolve to `canonical` (e.g. anthropic → claude). */
function registerAlias(alias, canonical) {
    aliases.set(alias, canonical);
}
/** The canonical name for a name or alias; the input unchanged when it is neither. */
function resolveName(name) {
    return providers.has(name) ? name : (aliases.get(name) ?? name);
}
/** A provider by name or alias, or undefined. */
function get(name) {
    return providers.get(name) ?? providers.get(aliases.get(name) ?? '');
}
/** Like `get`, but throws `ProviderNotFoundError`. */
function mustGet(name) {
    const p = get(name);
    if (!p)
        throw new ProviderNotFoundError(name);
    return p;
}
/** Sorted canonical names; aliases excluded. */
function names() {
    return [...providers.keys()].sort();
}
/** Aliases that resolve to `canonical`, sorted. */
function aliasesOf(canonical) {
    return [...aliases.entries()]
        .filter(([, c]) => c === canonical)
        .map(([a]) => a)
        .sort();
}
/** Every registered provider (seed parity, provider-api.md; unused by Airlock). */
function registry_all() {
    return names().map((n) => providers.get(n));
}
function agents() {
    return registry_all().filter(isAgentProvider);
}
function getAgent(name) {
    const p = get(name);
    return isAgentProvider(p) ? p : undefined;
}
/** The endpoint provider of that name (seed parity, provider-api.md; unused by Airlock). */
function getEndpoint(name) {
    const p = get(name);
    return isEndpointProvider(p) ? p : undefined;
}
/** Removes every provider and alias (tests). */
function clear() {
    providers.clear();
    aliases.clear();
}

;// CONCATENATED MODULE: ./src/provider/settings.ts
/**
 * The typed settings grants run with: read and validated once (from the action's inputs, or
 * the local CLI's flags and environment), then carried as they are — in the grant context,
 * and in the proxy daemon's config for refreshes. Each default and parse rule lives in the
 * reader (src/inputs.ts), never in a provider.
 */
/** Inputs whose values are secrets: masked the moment they are read. */
const SECRET_INPUTS = (/* unused pure expression or super */ null && ([
    'anthropic-api-key',
    'claude-code-oauth-token',
    'openai-api-key',
    'gemini-api-key',
    'github-token',
    'github-app-private-key',
    'npm-token'
]));
/**
 * What the log masker must know of a secret: the value, and for a multi-line one (a PEM key,
 * its newlines real or written as `\n`) each line, because the runner masks line by line.
 * Armour lines (`-----BEGIN …`) are public and short lines would mask innocent text.
 */
function maskedParts(value) {
    const parts = [value];
    for (const line of value.split(/\r?\n|\\n/)) {
        const l = line.trim();
        if (l !== value && l.length > 8 && !l.startsWith('-----'))
            parts.push(l);
    }
    return parts;
}
const DEFAULT_AWS_REGION = 'us-east-1';
const DEFAULT_AWS_SESSION_SECONDS = 3600;
/** Settings with nothing set (a context for calls that grant nothing, e.g. ID tokens). */
function emptySettings() {
    return {
        grants: [],
        secrets: {},
        githubApp: { id: '', permissions: {} },
        aws: { roleArn: '', region: DEFAULT_AWS_REGION, sessionDuration: DEFAULT_AWS_SESSION_SECONDS },
        gcp: { workloadIdentityProvider: '', serviceAccount: '' },
        custom: [],
        env: {}
    };
}

;// CONCATENATED MODULE: ./src/provider/index.ts






// EXTERNAL MODULE: external "node:fs/promises"
var promises_ = __webpack_require__(1455);
// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __webpack_require__(6760);
;// CONCATENATED MODULE: ./src/providers/defaults.ts

/**
 * Placeholders: format-valid for the CLI that checks them, obviously fake to a human, and
 * fixed, so the proxy can tell which credential a request asked for.
 */
const PLACEHOLDERS = {
    github: 'ghp_AirlockPlaceholderNotARealToken000000',
    anthropicKey: 'sk-ant-api03-airlock-placeholder-not-a-real-key-00000000000000000000000000000000000000000000000000000000000000000000AA',
    claudeOauth: 'sk-ant-oat01-airlock-placeholder-not-a-real-token-000000000000000000000000000000000000000000000000000000000000000000AA',
    openai: 'sk-airlock-placeholder-not-a-real-key-000000000000000000000000000000',
    gemini: 'AIzaAirlockPlaceholderNotARealKey000000',
    awsAccessKeyId: 'AKIAAIRLOCKPLACEHOLDR',
    awsSecretAccessKey: 'airlock/placeholder/not/a/real/secret/000000',
    npm: 'npm_AirlockPlaceholderNotARealToken0000000',
    gcp: 'ya29.airlock-placeholder-not-a-real-token'
};
/** A credential from a static secret input. */
function staticCredential(provider, token, source = 'secret') {
    return { provider, token, createdAt: new Date(), metadata: { [META_KEY_TOKEN_SOURCE]: source } };
}
/** The first non-empty input among `names`, or a GrantError whose hint names them all. */
function requireSecret(ctx, provider, names, hint) {
    for (const name of names) {
        const value = ctx.settings.secrets[name];
        if (value) {
            ctx.setSecret(value);
            return [name, value];
        }
    }
    throw new GrantError(provider, `no credential: ${names.map((n) => `\`${n}\``).join(' and ')} ${names.length > 1 ? 'are' : 'is'} empty`, hint);
}
/**
 * Minted credentials (App installation tokens, AWS and Google sessions) are refreshed by the
 * proxy at this interval, or at 75 % of the remaining lifetime if that comes sooner.
 */
const REFRESH_INTERVAL_MS = 45 * 60_000;
/** Defaults for the parts of `CredentialProvider` most providers do not use. */
class ProviderDefaults {
    containerEnv(_cred) {
        return [];
    }
    containerMounts(_cred, _containerHome, _stagingDir) {
        return Promise.resolve({ mounts: [] });
    }
    cleanup(_cleanupPath) {
        return Promise.resolve();
    }
    impliedDependencies() {
        return [];
    }
}
/** The project of a user-managed service account (`name@<project>.iam.gserviceaccount.com`). */
function serviceAccountProject(email) {
    return /@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$/.exec(email ?? '')?.[1];
}

;// CONCATENATED MODULE: ./src/providers/agent-cli.ts




// The CLI sets the runner; providers stay free of the sandbox code and of import cycles.
let cliRunner;
function setAgentCliRunner(runner) {
    cliRunner = runner;
}
const collect = (value, previous) => [...previous, value];
/** The names a Linux platform package uses for the runner's CPU (Node's `process.arch`). */
function linuxArch(agent, arch) {
    if (arch === 'x64')
        return { npm: 'x64', triple: 'x86_64' };
    if (arch === 'arm64')
        return { npm: 'arm64', triple: 'aarch64' };
    throw new PlatformError(`${agent}: no Linux build for the CPU architecture "${arch}"; Airlock runs agents on x64 and arm64 runners`);
}
/** Shared shape of claude, codex and gemini: files staged under `home/`, copied into $HOME. */
class AgentCliProvider extends ProviderDefaults {
    async prepareContainer(opts) {
        const home = (0,external_node_path_.join)(opts.stagingDir, 'home');
        for (const [rel, content] of Object.entries(this.homeFiles(opts))) {
            const file = (0,external_node_path_.join)(home, rel);
            await (0,promises_.mkdir)((0,external_node_path_.dirname)(file), { recursive: true, mode: 0o755 });
            // World-readable on purpose: the container runs as the runner's uid but the staging
            // directory is mounted read-only and holds placeholders only.
            await (0,promises_.writeFile)(file, content, { mode: 0o644 });
        }
        const config = {
            env: [...this.containerEnv(opts.credential), ...this.agentEnv(opts)],
            mounts: [],
            stagingDir: opts.stagingDir
        };
        if (opts.prompt !== undefined)
            config.command = this.command(opts.prompt, opts.agentArgs ?? [], opts.limits);
        return config;
    }
    registerCli(program) {
        program
            .command(this.name)
            .description(`run ${this.binary} non-interactively in the airlock (credentials from the environment)`)
            .requiredOption('-p, --prompt <text>', 'the task')
            .option('--grant <provider>', 'another provider to grant (repeatable)', collect, [])
            .option('--allow <pattern>', 'another host to allow (repeatable)', collect, [])
            .option('--connect-to <host:port=target:port>', 'route a host elsewhere (repeatable)', collect, [])
            .option('--upstream-ca <file>', 'extra CA for upstream TLS')
            .option('--image <image>', 'container image')
            .option('--workspace <dir>', 'directory mounted at /workspace (default: cwd)')
            .option('--read-only', 'mount the workspace read-only')
            .option('--agent-version <version>', `${this.npmPackage} version (default ${this.defaultVersion})`)
            .option('--model <name>', 'the model the agent uses (default: its own)')
            .option('--max-turns <n>', 'most agentic turns the agent may take')
            .option('--max-budget-usd <amount>', 'most the run may spend, in US dollars (claude)')
            .argument('[args...]', 'extra arguments for the agent')
            .action(async (args, opts) => {
            if (!cliRunner)
                throw new Error('the agent commands need the airlock CLI');
            await cliRunner(this.name, { ...opts, args });
        });
    }
}
/**
 * `mcp-servers` in the shape Claude Code reads (`.claude.json`): a remote server needs its
 * `type` (without one Claude Code takes it for stdio), `http` unless the input said `sse`.
 */
function claudeMcp(opts) {
    const out = {};
    for (const [name, s] of Object.entries(opts.mcpServers))
        out[name] = s.url
            ? {
                type: s.type === 'sse' ? 'sse' : 'http',
                url: s.url,
                ...(s.headers ? { headers: s.headers } : {})
            }
            : { type: 'stdio', command: s.command, args: s.args ?? [], env: s.env ?? {} };
    return out;
}
/**
 * `mcp-servers` in the shape Gemini CLI reads (`settings.json`): `httpUrl` is streamable
 * HTTP, `url` is SSE.
 */
function geminiMcp(opts) {
    const out = {};
    for (const [name, s] of Object.entries(opts.mcpServers))
        out[name] = s.url
            ? {
                [s.type === 'sse' ? 'url' : 'httpUrl']: s.url,
                ...(s.headers ? { headers: s.headers } : {})
            }
            : {
                command: s.command,
                ...(s.args ? { args: s.args } : {}),
                ...(s.env ? { env: s.env } : {})
            };
    return out;
}

;// CONCATENATED MODULE: ./src/providers/claude.ts


const ANTHROPIC_HOST = 'api.anthropic.com';
const OAUTH_PREFIX = 'sk-ant-oat';
/** Claude Code with an Anthropic API key or a Claude Code OAuth token. */
class ClaudeProvider extends AgentCliProvider {
    name = 'claude';
    npmPackage = '@anthropic-ai/claude-code';
    defaultVersion = '2.1.332';
    binary = 'claude';
    /**
     * The key (`anthropic-api-key`), or the OAuth token (`claude-code-oauth-token`); without
     * either, Amazon Bedrock when the run grants `aws`, or Google Vertex AI when it grants
     * `gcp`: then the model calls carry the cloud credential the proxy handles, and this grant
     * holds no secret of its own.
     */
    async grant(ctx) {
        const cloud = cloudMode(ctx);
        const { secrets } = ctx.settings;
        if (!secrets['anthropic-api-key'] && !secrets['claude-code-oauth-token'] && cloud)
            return cloud;
        const [input, token] = requireSecret(ctx, this.name, ['anthropic-api-key', 'claude-code-oauth-token'], 'Set anthropic-api-key or claude-code-oauth-token, or grant aws (Amazon Bedrock) or gcp (Google Vertex AI).');
        const cred = staticCredential(this.name, token);
        cred.metadata = {
            ...cred.metadata,
            auth: input === 'claude-code-oauth-token' || token.startsWith(OAUTH_PREFIX) ? 'oauth' : 'api-key'
        };
        return cred;
    }
    isOAuth(cred) {
        return cred.metadata?.auth === 'oauth';
    }
    configureProxy(p, cred) {
        // On Bedrock or Vertex the aws or gcp grant signs or authorises the model calls.
        if (isCloud(cred))
            return;
        if (this.isOAuth(cred)) {
            p.setCredentialWithGrant(ANTHROPIC_HOST, 'Authorization', `Bearer ${cred.token}`, this.name, PLACEHOLDERS.claudeOauth);
            // The API rejects OAuth bearer tokens without this beta flag.
            p.addExtraHeader(ANTHROPIC_HOST, 'anthropic-beta', 'oauth-2025-04-20');
            p.removeRequestHeader(ANTHROPIC_HOST, 'x-api-key');
        }
        else {
            p.setCredentialWithGrant(ANTHROPIC_HOST, 'x-api-key', cred.token, this.name, PLACEHOLDERS.anthropicKey);
            p.removeRequestHeader(ANTHROPIC_HOST, 'authorization');
        }
    }
    /**
     * An API key is checked with `GET /v1/models` (free, read-only). An OAuth token is not:
     * it is meant for Claude Code's own calls, and no read-only endpoint is documented for it.
     */
    keyCheck(cred) {
        if (this.isOAuth(cred) || isCloud(cred))
            return undefined;
        return {
            provider: this.name,
            input: 'anthropic-api-key',
            url: `https://${ANTHROPIC_HOST}/v1/models?limit=1`,
            headers: { 'x-api-key': cred.token, 'anthropic-version': '2023-06-01' },
            refused: (status) => status === 401 || status === 403,
            hint: 'Check that anthropic-api-key holds a current key from the Anthropic Console (not revoked, its workspace active); a Claude Code OAuth token belongs in claude-code-oauth-token.'
        };
    }
    hosts(cred) {
        const m = cred.metadata ?? {};
        if (m.auth === 'bedrock')
            return [`bedrock-runtime.${m.region}.amazonaws.com`];
        if (m.auth === 'vertex')
            return m.region === 'global'
                ? ['aiplatform.googleapis.com']
                : [`${m.region}-aiplatform.googleapis.com`, 'aiplatform.googleapis.com'];
        return [ANTHROPIC_HOST];
    }
    containerEnv(cred) {
        const m = cred.metadata ?? {};
        // Bedrock: Claude Code signs with the placeholder keys the aws grant gives the container,
        // and the proxy checks that signature and signs again with the real ones (so Bedrock's
        // own auth is not skipped: an unsigned request would get no credentials at all).
        if (m.auth === 'bedrock')
            return ['CLAUDE_CODE_USE_BEDROCK=1', `AWS_REGION=${m.region}`];
        // Vertex: Claude Code skips Google auth (the gcp grant sets CLAUDE_CODE_SKIP_VERTEX_AUTH)
        // and the proxy adds the access token.
        if (m.auth === 'vertex')
            return [
                'CLAUDE_CODE_USE_VERTEX=1',
                'CLAUDE_CODE_SKIP_VERTEX_AUTH=1',
                `CLOUD_ML_REGION=${m.region}`,
                ...(m.project ? [`ANTHROPIC_VERTEX_PROJECT_ID=${m.project}`] : [])
            ];
        return this.isOAuth(cred)
            ? [`CLAUDE_CODE_OAUTH_TOKEN=${PLACEHOLDERS.claudeOauth}`]
            : [`ANTHROPIC_API_KEY=${PLACEHOLDERS.anthropicKey}`];
    }
    agentEnv(_opts) {
        // Telemetry and update checks would be blocked anyway; turning them off keeps the
        // network log to what the agent did.
        // IS_SANDBOX: as root (self-hosted runners that run as root run the container as root)
        // Claude Code refuses --dangerously-skip-permissions unless told it is in a sandbox, and
        // this container is one: no network, no capabilities, no-new-privileges.
        return [
            'CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1',
            'DISABLE_AUTOUPDATER=1',
            'DISABLE_TELEMETRY=1',
            'DISABLE_ERROR_REPORTING=1',
            'IS_SANDBOX=1'
        ];
    }
    homeFiles(opts) {
        const claudeJson = {
            hasCompletedOnboarding: true,
            projects: {
                '/workspace': { hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true }
            }
        };
        if (Object.keys(opts.mcpServers).length > 0)
            claudeJson.mcpServers = claudeMcp(opts);
        const settings = {
            permissions: { defaultMode: 'bypassPermissions' },
            skipDangerousModePermissionPrompt: true
        };
        return {
            '.claude.json': JSON.stringify(claudeJson, null, 2),
            '.claude/settings.json': JSON.stringify(settings, null, 2)
        };
    }
    installSpec(version, arch = process.arch) {
        // The native binary ships in a platform package per CPU; it needs glibc (with librt).
        return {
            packageName: `@anthropic-ai/claude-code-linux-${linuxArch(this.name, arch).npm}`,
            packageVersion: version,
            argv: (dir) => [`${dir}/package/claude`]
        };
    }
    command(prompt, args, limits = {}) {
        // `--` before the prompt: a task that starts with `-` (a markdown list) is not an option.
        // The limits come before `agent-args`, so an explicit argument there still wins.
        return [
            '-p',
            '--output-format',
            'json',
            '--dangerously-skip-permissions',
            ...(limits.model ? ['--model', limits.model] : []),
            ...(limits.maxTurns ? ['--max-turns', String(limits.maxTurns)] : []),
            ...(limits.maxBudgetUsd ? ['--max-budget-usd', String(limits.maxBudgetUsd)] : []),
            ...args,
            '--',
            prompt
        ];
    }
}
/** Vertex AI's region for Claude when the run does not say (one Claude models are served in). */
const DEFAULT_VERTEX_REGION = 'us-east5';
function isCloud(cred) {
    return cred.metadata?.auth === 'bedrock' || cred.metadata?.auth === 'vertex';
}
/**
 * Claude through a cloud the run grants, or undefined. The region is `aws-region` for
 * Bedrock; for Vertex, `CLOUD_ML_REGION` in the `env` input or us-east5, and the project is
 * `ANTHROPIC_VERTEX_PROJECT_ID` there or the service account's.
 */
function cloudMode(ctx) {
    const { grants, env, aws, gcp } = ctx.settings;
    const base = { provider: 'claude', token: '', createdAt: new Date() };
    if (grants.includes('aws'))
        return {
            ...base,
            metadata: { auth: 'bedrock', region: aws.region }
        };
    if (!grants.includes('gcp'))
        return undefined;
    const project = env.ANTHROPIC_VERTEX_PROJECT_ID ?? serviceAccountProject(gcp.serviceAccount);
    const metadata = {
        auth: 'vertex',
        region: env.CLOUD_ML_REGION ?? DEFAULT_VERTEX_REGION
    };
    if (project)
        metadata.project = project;
    return { ...base, metadata };
}

// EXTERNAL MODULE: external "node:events"
var external_node_events_ = __webpack_require__(8474);
// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __webpack_require__(3024);
// EXTERNAL MODULE: external "node:net"
var external_node_net_ = __webpack_require__(7030);
// EXTERNAL MODULE: external "node:tls"
var external_node_tls_ = __webpack_require__(1692);
;// CONCATENATED MODULE: ./src/proxy/dial.ts
/**
 * Dialling an upstream: the one place that opens outbound connections, for the proxy's
 * upstream pool and WebSocket relay (upstream.ts) and for the grant calls (grant/http.ts).
 * It connects to the address it is given (the checked address, or the `connect-to` target),
 * optionally through a CONNECT tunnel of the runner's own proxy, and verifies TLS for the
 * NAME asked for whatever address was dialled (SNI too), against the trust store built
 * here (bundled and OS roots plus `upstream-ca`). Which address is allowed is the caller's
 * decision (the egress policy); this module only never dials anything else.
 */




/** Opens the connection described by `req`; resolves once TCP (and TLS) is up. */
async function dial_dial(req) {
    const raw = req.via
        ? await tunnel(req.via, req.routed
            ? `${formatHost(req.address.host)}:${req.address.port}`
            : `${formatHost(req.name)}:${req.port}`)
        : undefined;
    if (!req.secure) {
        if (raw)
            return raw;
        const sock = net.connect({ host: req.address.host, port: req.address.port });
        await once(sock, 'connect');
        return sock;
    }
    const options = {
        ALPNProtocols: ['http/1.1'],
        minVersion: 'TLSv1.2',
        // Verify the certificate for the name the agent asked for, whatever address we dialled.
        checkServerIdentity: (_name, cert) => tls.checkServerIdentity(req.name, cert)
    };
    if (req.trust)
        options.secureContext = req.trust;
    if (net.isIP(req.name) === 0)
        options.servername = req.name;
    if (raw)
        options.socket = raw;
    else
        Object.assign(options, { host: req.address.host, port: req.address.port });
    const sock = tls.connect(options);
    await new Promise((resolve, reject) => {
        sock.once('secureConnect', resolve);
        sock.once('error', reject);
    });
    sock.removeAllListeners('error');
    return sock;
}
/**
 * A trust store for upstream TLS: Node's bundled roots, the OS store (Node ≥ 22.15 can read
 * it; older Nodes have only the bundled roots), the file NODE_EXTRA_CA_CERTS names when
 * `nodeExtraCaCerts` is given (a runner behind a TLS gateway), and the extra PEM CAs
 * (`upstream-ca`). Built once: parsing hundreds of roots per connection cost ~50 ms of
 * blocked event loop each.
 */
function dial_upstreamTrust(extraCa, opts = {}) {
    const extraFile = opts.nodeExtraCaCerts;
    const fromFile = extraFile && existsSync(extraFile) ? [readFileSync(extraFile, 'utf8')] : [];
    if (process.execArgv.includes('--use-system-ca')) {
        // Started with Node's own OS store (the proxy daemon: DAEMON_NODE_FLAGS): a context on
        // Node's root store (bundled and OS roots, parsed once, in C++) with only our CAs added
        // (which gives it its own copy of that store). Handing every root to createSecureContext
        // as PEM text instead took ~100 ms of CPU after each start, beside the starting container.
        const context = tls.createSecureContext({ minVersion: 'TLSv1.2' });
        const native = context.context;
        for (const text of [...fromFile, ...extraCa])
            for (const pem of text.match(PEM_CERT) ?? [text])
                native.addCACert(pem);
        return context;
    }
    const getCA = tls.getCACertificates;
    const system = typeof getCA === 'function' ? getCA('system') : [];
    // The system store repeats certificates (and the bundled ones, in other line breaks): each
    // one parsed again is CPU and memory for nothing, so certificates count once by content.
    const ca = new Map();
    for (const text of [...tls.rootCertificates, ...system, ...fromFile, ...extraCa]) {
        const certs = text.match(PEM_CERT) ?? [text.trim()];
        for (const pem of certs)
            ca.set(pem.replace(/-----[^-]+-----|\s/g, ''), pem);
    }
    return tls.createSecureContext({ ca: [...ca.values()], minVersion: 'TLSv1.2' });
}
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
function formatHost(host) {
    return net.isIPv6(host) ? `[${host}]` : host;
}
/** A CONNECT tunnel through the runner's own proxy (RFC 9110 §9.3.6); returns the raw socket. */
async function tunnel(via, authority) {
    const url = new URL(via.url);
    const sock = net.connect({ host: url.hostname, port: Number(url.port) || 80 });
    await once(sock, 'connect');
    const auth = url.username
        ? `Proxy-Authorization: Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}\r\n`
        : '';
    sock.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth}\r\n`);
    let head = Buffer.alloc(0);
    while (!head.includes('\r\n\r\n')) {
        const [chunk] = (await once(sock, 'data'));
        head = Buffer.concat([head, chunk]);
        if (head.length > 16_384) {
            sock.destroy();
            throw new Error(`${via.label} sent an oversized CONNECT response`);
        }
    }
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(head.toString('latin1'))?.[1];
    if (status !== '200') {
        sock.destroy();
        throw new Error(`${via.label} refused CONNECT ${authority}: ${status ?? 'bad response'}`);
    }
    const rest = head.subarray(head.indexOf('\r\n\r\n') + 4);
    sock.pause();
    if (rest.length > 0)
        sock.unshift(rest);
    return sock;
}

;// CONCATENATED MODULE: ./src/proxy/ip.ts
/**
 * IP literal parsing and address classification for the egress policy.
 *
 * The parser is deliberately a superset of what real clients accept: a host that *any*
 * common parser (glibc `inet_aton()`/`getaddrinfo()`, which curl and git use; the WHATWG
 * URL parser, which Node and browsers use; `inet_pton()`) would read as an address must be
 * recognised here, or an agent could smuggle `0x7f.1` past a check that only knows dotted
 * quads. Over-recognising is harmless: the policy refuses IP literals anyway.
 */
/** The characters glibc's `isspace()` accepts, after which `inet_aton()` ignores the rest. */
const C_SPACE = /[ \t\n\v\f\r]/;
/**
 * One part of an `inet_aton()` address: hex with `0x`, octal with a leading `0`, else
 * decimal. `0x` with no digits is 0 in the WHATWG URL parser (glibc refuses it); accepting
 * it is the superset.
 */
function parseIpv4Number(part) {
    if (/^0[xX][0-9a-fA-F]*$/.test(part))
        return part.length === 2 ? 0n : BigInt(part);
    if (/^0[0-7]*$/.test(part))
        return BigInt(`0o${part === '0' ? '0' : part.slice(1)}`);
    if (/^[1-9][0-9]*$/.test(part))
        return BigInt(part);
    return undefined;
}
/**
 * IPv4 in every notation `inet_aton()` accepts: one to four parts, the last filling the
 * remaining bytes (`127.1`, `2130706433`, `0x7f.0.0.1`, `0177.0.0.1`). Like glibc, anything
 * after ASCII whitespace is ignored; like WHATWG (URL standard, "IPv4 parser"), one
 * trailing dot is allowed.
 */
function parseIpv4(input) {
    const space = input.search(C_SPACE);
    const s = space >= 0 ? input.slice(0, space) : input;
    const parts = s.split('.');
    if (parts.length > 1 && parts[parts.length - 1] === '')
        parts.pop();
    if (parts.length < 1 || parts.length > 4)
        return undefined;
    const nums = [];
    for (const part of parts) {
        const n = parseIpv4Number(part);
        if (n === undefined)
            return undefined;
        nums.push(n);
    }
    const last = nums.pop() ?? 0n;
    if (nums.some((n) => n > 255n))
        return undefined;
    if (last >= 256n ** BigInt(5 - parts.length))
        return undefined;
    let value = 0n;
    nums.forEach((n, i) => {
        value |= n << BigInt(24 - 8 * i);
    });
    return Number(value | last);
}
/** Strict dotted-decimal IPv4 as it may close an IPv6 address (RFC 4291 §2.2 form 3). */
function parseDottedQuad(s) {
    const parts = s.split('.');
    if (parts.length !== 4)
        return undefined;
    let value = 0;
    for (const part of parts) {
        if (!/^[0-9]{1,3}$/.test(part))
            return undefined;
        const n = Number(part);
        if (n > 255)
            return undefined;
        value = value * 256 + n;
    }
    return value;
}
/**
 * IPv6 (RFC 4291 §2.2), with an optional zone id (`fe80::1%eth0`, or `%25eth0` as RFC 6874
 * writes it inside a URL) that getaddrinfo() accepts and which is dropped here.
 */
function parseIpv6(input) {
    const pct = input.indexOf('%');
    const s = pct >= 0 ? input.slice(0, pct) : input;
    if (!s.includes(':'))
        return undefined;
    const halves = s.split('::');
    if (halves.length > 2)
        return undefined;
    const groups = [];
    for (const [h, half] of halves.entries()) {
        const words = [];
        const fields = half === '' ? [] : half.split(':');
        for (let i = 0; i < fields.length; i++) {
            const field = fields[i] ?? '';
            const isLastField = i === fields.length - 1 && h === halves.length - 1;
            if (isLastField && field.includes('.')) {
                const v4 = parseDottedQuad(field);
                if (v4 === undefined)
                    return undefined;
                words.push(v4 >>> 16, v4 & 0xffff);
            }
            else if (/^[0-9a-fA-F]{1,4}$/.test(field)) {
                words.push(parseInt(field, 16));
            }
            else {
                return undefined;
            }
        }
        groups.push(words);
    }
    const head = groups[0] ?? [];
    const tail = groups[1] ?? [];
    let words;
    if (halves.length === 2) {
        // `::` stands for one or more zero groups.
        const missing = 8 - head.length - tail.length;
        if (missing < 1)
            return undefined;
        words = [...head, ...new Array(missing).fill(0), ...tail];
    }
    else {
        if (head.length !== 8)
            return undefined;
        words = head;
    }
    return words.reduce((acc, w) => (acc << 16n) | BigInt(w), 0n);
}
/** Parse any IP literal notation (see {@link parseIpLiteral}) into its numeric value. */
function parseIp(host) {
    let s = host;
    // A URL authority writes IPv6 in brackets (RFC 3986 §3.2.2); accept an IPv4 there too.
    if (s.startsWith('[') && s.endsWith(']'))
        s = s.slice(1, -1);
    const v4 = parseIpv4(s);
    if (v4 !== undefined)
        return { family: 4, value: v4 };
    const v6 = parseIpv6(s);
    if (v6 !== undefined)
        return { family: 6, value: v6 };
    return undefined;
}
function formatIpv4(value) {
    return [24, 16, 8, 0].map((shift) => (value >>> shift) & 0xff).join('.');
}
/** RFC 5952 §4 text: lower-case, no leading zeros, the longest run (≥ 2) of zeros as `::`. */
function formatIpv6(value) {
    const words = [];
    for (let shift = 112n; shift >= 0n; shift -= 16n)
        words.push(Number((value >> shift) & 0xffffn));
    let bestStart = -1;
    let bestLen = 1;
    for (let i = 0; i < 8;) {
        if (words[i] !== 0) {
            i++;
            continue;
        }
        let j = i;
        while (j < 8 && words[j] === 0)
            j++;
        if (j - i > bestLen) {
            bestStart = i;
            bestLen = j - i;
        }
        i = j;
    }
    const hex = words.map((w) => w.toString(16));
    if (bestStart < 0)
        return hex.join(':');
    const left = hex.slice(0, bestStart).join(':');
    const right = hex.slice(bestStart + bestLen).join(':');
    return `${left}::${right}`;
}
/** Canonical text of a parsed address: dotted quad, or RFC 5952 IPv6 without brackets. */
function formatIp(ip) {
    return ip.family === 4 ? formatIpv4(ip.value) : formatIpv6(ip.value);
}
/**
 * The canonical address when `host` is an IP literal in any notation, else `undefined`.
 *
 * IPv4: everything glibc `inet_aton()` accepts (1–4 parts; decimal, octal `0177`, hex
 * `0x7f`; text after whitespace ignored) plus a WHATWG trailing dot. IPv6: RFC 4291 text,
 * with brackets, an embedded dotted quad or a zone id. Returns `127.0.0.1` for
 * `0x7f000001`, `::1` for `[0:0:0:0:0:0:0:1]`, `fe80::1` for `fe80::1%eth0`.
 */
function ip_parseIpLiteral(host) {
    const ip = parseIp(host);
    return ip === undefined ? undefined : formatIp(ip);
}
function v4Range(cidr, cls) {
    const [addr = '', bits = ''] = cidr.split('/');
    const base = parseDottedQuad(addr);
    if (base === undefined)
        throw new Error(`bad built-in IPv4 range ${cidr}`);
    return { base, bits: Number(bits), cls };
}
function v6Range(cidr, cls) {
    const [addr = '', bits = ''] = cidr.split('/');
    const base = parseIpv6(addr);
    if (base === undefined)
        throw new Error(`bad built-in IPv6 range ${cidr}`);
    return { base, bits: Number(bits), cls };
}
/**
 * Cloud instance metadata services. They hand out credentials of the machine the runner
 * is on, so they are named separately and refused even where their range is not.
 */
const METADATA_V4 = new Set([
    '169.254.169.254', // AWS, GCP, Azure, OCI, DigitalOcean IMDS
    '169.254.170.2', // AWS ECS task metadata and credentials
    '169.254.170.23', // AWS EKS Pod Identity agent
    '168.63.129.16', // Azure WireServer
    '100.100.100.200' // Alibaba Cloud
]);
const METADATA_V6 = new Set(['fd00:ec2::254', 'fd00:ec2::23']); // AWS IMDS, EKS Pod Identity
/** IANA IPv4 special-purpose registry (RFC 6890) entries that are not globally reachable. */
const V4_RANGES = [
    v4Range('0.0.0.0/8', 'unspecified'), // RFC 1122 §3.2.1.3; Linux delivers 0.0.0.0 locally
    v4Range('10.0.0.0/8', 'private'), // RFC 1918
    v4Range('100.64.0.0/10', 'cgnat'), // RFC 6598 shared address space
    v4Range('127.0.0.0/8', 'loopback'), // RFC 1122 §3.2.1.3
    v4Range('169.254.0.0/16', 'link-local'), // RFC 3927
    v4Range('172.16.0.0/12', 'private'), // RFC 1918
    v4Range('192.0.0.0/24', 'reserved'), // RFC 6890 IETF protocol assignments
    v4Range('192.0.2.0/24', 'reserved'), // RFC 5737 TEST-NET-1
    v4Range('192.88.99.0/24', 'reserved'), // RFC 7526 deprecated 6to4 relay anycast
    v4Range('192.168.0.0/16', 'private'), // RFC 1918
    v4Range('198.18.0.0/15', 'reserved'), // RFC 2544 benchmarking
    v4Range('198.51.100.0/24', 'reserved'), // RFC 5737 TEST-NET-2
    v4Range('203.0.113.0/24', 'reserved'), // RFC 5737 TEST-NET-3
    v4Range('224.0.0.0/4', 'multicast'), // RFC 5771
    v4Range('240.0.0.0/4', 'reserved') // RFC 1112 §4, with 255.255.255.255 broadcast (RFC 919)
];
/** IPv6 special-purpose ranges (RFC 6890 and later) that carry no embedded IPv4. */
const V6_RANGES = [
    v6Range('64:ff9b:1::/48', 'reserved'), // RFC 8215 local-use NAT64: private behind the gateway
    v6Range('100::/64', 'reserved'), // RFC 6666 discard-only
    v6Range('2001::/23', 'reserved'), // RFC 2928 IETF protocol assignments, incl. Teredo 2001::/32
    v6Range('2001:db8::/32', 'reserved'), // RFC 3849 documentation
    v6Range('3fff::/20', 'reserved'), // RFC 9637 documentation
    v6Range('fc00::/7', 'private'), // RFC 4193 unique local
    v6Range('fe80::/10', 'link-local'), // RFC 4291 §2.5.6
    v6Range('fec0::/10', 'private'), // RFC 3879 deprecated site-local
    v6Range('ff00::/8', 'multicast') // RFC 4291 §2.7
];
function inV4(value, r) {
    const shift = 32 - r.bits;
    return value >>> shift === r.base >>> shift;
}
function inV6(value, r) {
    const shift = BigInt(128 - r.bits);
    return value >> shift === r.base >> shift;
}
function classifyV4(value) {
    if (METADATA_V4.has(formatIpv4(value)))
        return 'metadata';
    return V4_RANGES.find((r) => inV4(value, r))?.cls ?? 'public';
}
const V6_MAPPED = v6Range('::ffff:0:0/96', 'reserved'); // RFC 4291 §2.5.5.2
const V6_COMPAT = v6Range('::/96', 'reserved'); // RFC 4291 §2.5.5.1 (deprecated)
const V6_TRANSLATED = v6Range('::ffff:0:0:0/96', 'reserved'); // RFC 2765 SIIT
const V6_NAT64 = v6Range('64:ff9b::/96', 'reserved'); // RFC 6052 well-known prefix
const V6_6TO4 = v6Range('2002::/16', 'reserved'); // RFC 3056: 2002:AABB:CCDD::/48
const V6_GLOBAL_UNICAST = v6Range('2000::/3', 'public'); // RFC 4291 §2.4
function classifyV6(value) {
    if (METADATA_V6.has(formatIpv6(value)))
        return 'metadata';
    if (value === 0n)
        return 'unspecified';
    if (value === 1n)
        return 'loopback';
    // Forms that carry an IPv4 address reach that address (the kernel, a translator or a
    // relay unwraps them), so they are as dangerous as the address they carry.
    for (const r of [V6_MAPPED, V6_COMPAT, V6_TRANSLATED, V6_NAT64]) {
        if (inV6(value, r))
            return classifyV4(Number(value & 0xffffffffn));
    }
    if (inV6(value, V6_6TO4))
        return classifyV4(Number((value >> 80n) & 0xffffffffn));
    const special = V6_RANGES.find((r) => inV6(value, r));
    if (special)
        return special.cls;
    // Only 2000::/3 is allocated for global unicast; the rest of the space is IETF-reserved.
    return inV6(value, V6_GLOBAL_UNICAST) ? 'public' : 'reserved';
}
/**
 * Classify an address given in any notation {@link parseIpLiteral} accepts. Metadata
 * addresses win over the range they sit in; IPv4-mapped, -compatible, SIIT, NAT64
 * (64:ff9b::/96) and 6to4 (2002::/16) addresses take the class of the IPv4 they embed.
 * Anything that is not an address is `reserved`, so a caller that only dials `public`
 * addresses fails closed.
 */
function ip_classifyAddress(ip) {
    const parsed = parseIp(ip);
    if (parsed === undefined)
        return 'reserved';
    return parsed.family === 4 ? classifyV4(parsed.value) : classifyV6(parsed.value);
}

;// CONCATENATED MODULE: ./src/proxy/patterns.ts
/**
 * What the allowlist and `connect-to` are written in: host patterns (`host`, `*.suffix`,
 * `host:port`, `http://host`) and `host:port=target:port` lines, parsed and validated into
 * the forms the egress policy checks against. The names that can never be allowed
 * (localhost, metadata) are refused here, where the user wrote them.
 */


/** A bad `allowed-endpoints` pattern or `connect-to` line; the message names the value. */
class PolicyError extends AirlockError {
    value;
    constructor(code, 
    /** The offending input, as given. */
    value, message) {
        super(code, message);
        this.value = value;
    }
}
const PATTERN_FORM = 'Expected a host name such as api.example.com, *.example.com (subdomains only), ' +
    'api.example.com:8443 or http://example.com (plain HTTP).';
const CONNECT_TO_FORM = 'Expected host:port=target:port, for example api.example.com:443=127.0.0.1:8443.';
/**
 * Names that are the runner itself. `localhost` and `*.localhost` are loopback by RFC 6761
 * §6.3; the others are Debian's /etc/hosts aliases.
 */
const LOCALHOST_NAMES = new Set([
    'localhost',
    'localhost.localdomain',
    'ip6-localhost',
    'ip6-loopback'
]);
/**
 * Metadata services by name. `metadata` and `instance-data` are single labels that the
 * cloud's resolver (or its search domain) turns into the metadata address.
 */
const METADATA_NAMES = new Set([
    'metadata.google.internal',
    'metadata.goog',
    'metadata',
    'instance-data',
    'instance-data.ec2.internal'
]);
/** Only LDH names plus `_` (used by some real hosts); anything else is an attack or a typo. */
const NAME_CHARS = /^[A-Za-z0-9._-]+$/;
/**
 * A last label that is all digits, or a hex number, makes a URL parser treat the whole
 * host as IPv4 (URL standard, "ends in a number"); no real TLD looks like that (RFC 3696 §2).
 */
function endsInNumber(label) {
    return /^[0-9]+$/.test(label) || /^0x[0-9a-f]*$/i.test(label);
}
function patterns_isValidPort(port) {
    return Number.isInteger(port) && port >= 1 && port <= 65535;
}
/**
 * The normalised host, or `undefined` when `host` is not something the proxy will dial.
 *
 * Names: ASCII letters, digits, `-`, `_`, `.` only (checked *before* lower-casing, since
 * `'\u212A'.toLowerCase()` is an ASCII `k`); labels 1–63 characters; at most 253 in all
 * (RFC 1035 §2.3.4); no trailing dot; a last label that is not numeric. Returns the name in
 * lower case. IP literals (with or without `[]`) return their canonical address; zone ids
 * (`%`) are refused.
 */
function patterns_normalizeHost(host) {
    if (typeof host !== 'string' || host === '')
        return undefined;
    if (host.startsWith('[') || host.includes(':')) {
        const inner = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
        if (!/^[0-9A-Fa-f:.]+$/.test(inner))
            return undefined;
        return ip_parseIpLiteral(inner);
    }
    if (!NAME_CHARS.test(host) || host.length > 253)
        return undefined;
    const lower = host.toLowerCase();
    const ip = ip_parseIpLiteral(lower);
    if (ip !== undefined)
        return ip;
    const labels = lower.split('.');
    if (labels.some((label) => label.length === 0 || label.length > 63))
        return undefined;
    if (endsInNumber(labels[labels.length - 1] ?? ''))
        return undefined;
    return lower;
}
function patterns_isLocalhostName(name) {
    return LOCALHOST_NAMES.has(name) || name.endsWith('.localhost');
}
function patterns_isMetadataName(name) {
    return METADATA_NAMES.has(name) || name.endsWith('.metadata.google.internal');
}
function badPattern(value, why) {
    return new PolicyError('AIRLOCK_BAD_PATTERN', value, `Invalid allowed-endpoints entry ${JSON.stringify(value)}: ${why}. ${PATTERN_FORM}`);
}
function badConnectTo(value, why) {
    return new PolicyError('AIRLOCK_BAD_CONNECT_TO', value, `Invalid connect-to entry ${JSON.stringify(value)}: ${why}. ${CONNECT_TO_FORM}`);
}
/** `'8443'` → 8443; `undefined` unless it is 1–65535 written in decimal digits. */
function parsePort(s) {
    if (!/^[0-9]{1,5}$/.test(s))
        return undefined;
    const port = Number(s);
    return patterns_isValidPort(port) ? port : undefined;
}
/**
 * Parse one allowlist entry: `host`, `*.suffix`, either with `:port`, optionally prefixed
 * by `https://` (the same) or `http://` (plain HTTP, port 80 unless given). Case-insensitive.
 *
 * @throws PolicyError (`AIRLOCK_BAD_PATTERN`) for `*`, `*.tld`, `a.*.b`, paths, userinfo,
 *   IP literals, localhost names, invalid names and ports outside 1–65535.
 */
function patterns_parseHostPattern(s) {
    const raw = typeof s === 'string' ? s.trim() : '';
    if (raw === '')
        throw badPattern(String(s), 'it is empty');
    let rest = raw;
    let scheme = 'https';
    const schemeMatch = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(rest);
    if (schemeMatch) {
        const name = (schemeMatch[1] ?? '').toLowerCase();
        if (name !== 'https' && name !== 'http') {
            throw badPattern(raw, `the scheme ${name}:// is not supported, only https:// and http://`);
        }
        scheme = name;
        rest = rest.slice(schemeMatch[0].length);
    }
    if (/[/?#]/.test(rest))
        throw badPattern(raw, 'an entry is a host, not a URL with a path');
    if (rest.includes('@'))
        throw badPattern(raw, 'user names and passwords are not allowed');
    if (/[\s\\%]/.test(rest) || /[^\x21-\x7e]/.test(rest)) {
        throw badPattern(raw, 'it contains characters that cannot appear in a host name');
    }
    if (rest.startsWith('[') || rest.split(':').length > 2) {
        const host = rest.startsWith('[') ? rest.slice(0, rest.indexOf(']') + 1) : rest;
        if (ip_parseIpLiteral(host) !== undefined) {
            throw badPattern(raw, 'IP addresses cannot be allowed; allow a host name and map it with connect-to');
        }
        throw badPattern(raw, 'it is not a valid host name');
    }
    let port;
    const colon = rest.indexOf(':');
    if (colon >= 0) {
        const portText = rest.slice(colon + 1);
        port = parsePort(portText);
        if (port === undefined) {
            throw badPattern(raw, `the port ${JSON.stringify(portText)} is not a number from 1 to 65535`);
        }
        rest = rest.slice(0, colon);
    }
    let wildcard = false;
    if (rest === '*')
        throw badPattern(raw, 'a bare * would allow every host');
    if (rest.startsWith('*.')) {
        wildcard = true;
        rest = rest.slice(2);
    }
    if (rest.includes('*')) {
        throw badPattern(raw, 'a wildcard is only allowed as the whole first label, as in *.example.com');
    }
    if (ip_parseIpLiteral(rest) !== undefined) {
        throw badPattern(raw, 'IP addresses cannot be allowed; allow a host name and map it with connect-to');
    }
    const host = patterns_normalizeHost(rest);
    if (host === undefined)
        throw badPattern(raw, `${JSON.stringify(rest)} is not a valid host name`);
    if (patterns_isLocalhostName(host)) {
        throw badPattern(raw, 'localhost cannot be allowed; allow a host name and map it with connect-to');
    }
    if (wildcard && !host.includes('.')) {
        throw badPattern(raw, `*.${host} would allow a whole top-level domain`);
    }
    return port === undefined
        ? { raw, scheme, wildcard, host }
        : { raw, scheme, wildcard, host, port };
}
/** `host:port` or `[v6]:port` → parts; `undefined` when either is missing. */
function splitHostPort(s) {
    if (s.startsWith('[')) {
        const close = s.indexOf(']');
        if (close < 0 || s[close + 1] !== ':')
            return undefined;
        return { host: s.slice(0, close + 1), port: s.slice(close + 2) };
    }
    const colon = s.lastIndexOf(':');
    if (colon <= 0)
        return undefined;
    return { host: s.slice(0, colon), port: s.slice(colon + 1) };
}
/**
 * Parse `connect-to` lines, `host:port=target:port` (curl's `--connect-to` idea): requests
 * for `host:port` are dialled at `target:port`. Blank lines are skipped. The key is
 * `host:port` in lower case; the target may be a name or an IP address (`[::1]` for IPv6),
 * stored without brackets.
 *
 * @throws PolicyError (`AIRLOCK_BAD_CONNECT_TO`) naming the line.
 */
function patterns_parseConnectTo(lines) {
    const out = new Map();
    for (const line of lines) {
        const entry = line.trim();
        if (entry === '')
            continue;
        const parts = entry.split('=');
        if (parts.length !== 2)
            throw badConnectTo(entry, 'it needs exactly one =');
        const from = splitHostPort((parts[0] ?? '').trim());
        const to = splitHostPort((parts[1] ?? '').trim());
        if (!from || !to)
            throw badConnectTo(entry, 'both sides need a host and a port');
        if (parseIpLiteral(from.host) !== undefined) {
            throw badConnectTo(entry, 'the left side is the host name the agent uses, not an IP address');
        }
        const fromHost = patterns_normalizeHost(from.host);
        if (fromHost === undefined) {
            throw badConnectTo(entry, `${JSON.stringify(from.host)} is not a valid host name`);
        }
        const toHost = patterns_normalizeHost(to.host);
        if (toHost === undefined) {
            throw badConnectTo(entry, `${JSON.stringify(to.host)} is not a valid host name or address`);
        }
        const fromPort = parsePort(from.port);
        const toPort = parsePort(to.port);
        if (fromPort === undefined || toPort === undefined) {
            throw badConnectTo(entry, 'ports must be numbers from 1 to 65535');
        }
        const key = `${fromHost}:${fromPort}`;
        if (out.has(key))
            throw badConnectTo(entry, `${key} is already mapped by an earlier line`);
        out.set(key, { host: toHost, port: toPort });
    }
    return out;
}

;// CONCATENATED MODULE: ./src/grant/http.ts




/**
 * A `fetch` for grant calls (STS, Google, GitHub, the runner's ID-token endpoint). Every
 * connection honours `connect-to` (dial elsewhere, still verify the certificate for the name
 * asked for), `upstream-ca`, and the runner's HTTPS proxy through a CONNECT tunnel
 * (RFC 9110 §9.3.6). Plain `http:` URLs go direct: every real grant endpoint is HTTPS.
 */
function createGrantFetch(opts = {}) {
    const env = opts.env ?? process.env;
    const connectTo = parseConnectTo(opts.connectTo ?? []);
    const proxy = opts.proxy === null ? undefined : (opts.proxy ?? proxyFromEnv(env));
    // Naming roots replaces Node's default store, so with `upstream-ca` the store lists the
    // rest explicitly, NODE_EXTRA_CA_CERTS (a runner behind a TLS gateway) included.
    // Built at the first grant call: the proxy daemon makes this fetch for refreshes it may
    // never do, and a trust store is megabytes of parsed certificates.
    let trusted;
    const trustStore = () => opts.upstreamCa
        ? (trusted ??= upstreamTrust([opts.upstreamCa], {
            nodeExtraCaCerts: env.NODE_EXTRA_CA_CERTS
        }))
        : undefined;
    const connect = (hostname, port, secure) => {
        const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
        const routed = connectTo.get(`${host}:${port}`);
        const trust = trustStore();
        return dial({
            name: host,
            port,
            address: routed ?? { host, port },
            routed: routed !== undefined,
            secure,
            ...(trust ? { trust } : {}),
            ...(secure && proxy && !noProxyMatches(host, proxy.noProxy ?? '', port)
                ? { via: { url: proxy.url, label: 'the HTTPS proxy' } }
                : {})
        });
    };
    // undici is loaded at the first grant call too: the proxy daemon, which only refreshes
    // and revokes, would otherwise carry all of it (fetch, WebSocket, caches) from its start.
    let client;
    const load = async () => {
        // Eager for the bundler: one file, as every bundle here is (and one licence list); the
        // module is still only evaluated at this first call.
        const undici = await Promise.resolve(/* import() eager */).then(__webpack_require__.t.bind(__webpack_require__, 6752, 19));
        const dispatcher = new undici.Agent({
            connect: (options, callback) => {
                const secure = options.protocol === 'https:';
                connect(options.hostname, Number(options.port) || (secure ? 443 : 80), secure)
                    .then((socket) => callback(null, socket))
                    .catch((err) => callback(err, null));
            },
            keepAliveTimeout: 4_000,
            headersTimeout: 30_000,
            bodyTimeout: 30_000
        });
        return { dispatcher, fetch: undici.fetch };
    };
    // Grant code passes URLs; a Request object would carry a method and headers this wrapper
    // does not forward, so it is refused rather than silently turned into a GET.
    const grantFetch = async (input, init) => {
        if (typeof input !== 'string' && !(input instanceof URL))
            throw new TypeError('the grant fetch takes a URL, not a Request');
        const { dispatcher, fetch } = await (client ??= load());
        // Node's global fetch types and undici 7's differ in detail; the runtime shapes agree.
        const undiciInit = { ...init, dispatcher };
        return fetch(input, undiciInit);
    };
    return grantFetch;
}
/** The runner's proxy for HTTPS, read as every runner-side client reads it (src/net/runner-proxy.ts). */
function proxyFromEnv(env) {
    const p = runnerProxy(env);
    return p.httpsProxy ? { url: p.httpsProxy, noProxy: p.noProxy } : undefined;
}
// Kept here too: callers and tests of grant HTTP read the NO_PROXY rule from this module.

const DEFAULT_RETRY = {
    attempts: 6,
    baseDelayMs: 250,
    maxDelayMs: 8_000,
    timeoutMs: 30_000
};
/** 5xx and 429 are transient everywhere; APIs with richer error bodies add their own codes. */
const retryOnServerErrors = (res) => res.status >= 500 || res.status === 429;
/** The grant HTTP call failed without an answer (DNS, refused, TLS, timeout) on every attempt. */
class GrantNetworkError extends AirlockError {
    url;
    attempts;
    constructor(url, attempts, cause) {
        super('AIRLOCK_GRANT_NETWORK', `cannot reach ${url} (${attempts} attempts): ${describeNetworkError(cause)}`, { cause });
        this.url = url;
        this.attempts = attempts;
    }
}
function describeNetworkError(err) {
    // undici wraps the socket error as `fetch failed` with the real reason as cause.
    const cause = err.cause instanceof Error ? err.cause : undefined;
    const code = cause && 'code' in cause ? String(cause.code) : undefined;
    const msg = cause?.message ?? err.message;
    return code && !msg.includes(code) ? `${code} ${msg}` : msg;
}
/**
 * One grant HTTP call with retries: full-jitter exponential backoff (a random wait up to
 * base·2ⁿ, capped), on network errors and answers `retryOn` accepts; `Retry-After` (RFC 9110
 * §10.2.3, seconds) raises the wait. Returns the last answer, whatever its status; throws
 * `GrantNetworkError` when no attempt got an answer.
 */
async function http_requestWithRetry(fetchFn, url, init, opts = {}) {
    const policy = { ...DEFAULT_RETRY, ...opts.retry };
    const retryOn = opts.retryOn ?? retryOnServerErrors;
    const sleep = opts.sleep ?? ((ms) => abortableSleep(ms, opts.signal));
    let lastError;
    for (let attempt = 1;; attempt++) {
        opts.signal?.throwIfAborted();
        const timeout = AbortSignal.timeout(policy.timeoutMs);
        const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
        let why;
        let retryAfterMs = 0;
        try {
            const res = await fetchFn(url, { ...init, signal });
            const result = {
                status: res.status,
                headers: res.headers,
                body: await res.text()
            };
            if (attempt >= policy.attempts || !retryOn(result))
                return result;
            why = `HTTP ${res.status}`;
            retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
        }
        catch (err) {
            if (opts.signal?.aborted)
                throw err;
            lastError = err;
            if (attempt >= policy.attempts)
                throw new GrantNetworkError(String(url), attempt, lastError);
            why = describeNetworkError(lastError);
        }
        const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
        const delay = Math.max(Math.random() * cap, Math.min(retryAfterMs, policy.maxDelayMs * 4));
        opts.onRetry?.(attempt, delay, why);
        await sleep(delay);
    }
}
function parseRetryAfter(value) {
    if (!value || !/^\d+$/.test(value.trim()))
        return 0;
    return Number(value.trim()) * 1000;
}
function abortableSleep(ms, signal) {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(done, ms);
        function done() {
            signal?.removeEventListener('abort', aborted);
            resolve();
        }
        function aborted() {
            clearTimeout(timer);
            reject(signal?.reason);
        }
        signal?.addEventListener('abort', aborted, { once: true });
    });
}
const JWT_LIKE = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
/**
 * An upstream's error text made safe for a log line: known secrets and anything shaped like
 * a JWT removed, control characters flattened, cut to 300 characters.
 */
function http_safeUpstreamText(text, secrets = []) {
    let out = text;
    for (const s of secrets)
        if (s.length >= 8)
            out = out.split(s).join('***');
    out = out.replace(JWT_LIKE, '***');
    // eslint-disable-next-line no-control-regex
    out = out.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
    return out.length > 300 ? `${out.slice(0, 300)}…` : out;
}

;// CONCATENATED MODULE: ./src/grant/aws-sts.ts


/** The audience AWS expects in a GitHub OIDC token (aws-actions/configure-aws-credentials). */
function stsAudience(region) {
    // The China partition's IAM OIDC providers are created with the .cn client id.
    return region.startsWith('cn-') ? 'sts.amazonaws.com.cn' : 'sts.amazonaws.com';
}
/**
 * The STS endpoint to call: `AWS_ENDPOINT_URL_STS` when set (the SDKs' service-specific
 * endpoint override), else the regional endpoint, never the legacy global one (regional
 * endpoints keep working when us-east-1 does not, and are what the SDKs default to).
 */
function stsEndpoint(region, env = {}) {
    const override = env.AWS_ENDPOINT_URL_STS?.trim();
    if (override)
        return override.endsWith('/') ? override : `${override}/`;
    const suffix = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
    return `https://sts.${region}.${suffix}/`;
}
/**
 * A `RoleSessionName` (2–64 characters of `[\w+=,.@-]`) naming the repository and the run,
 * so CloudTrail says which workflow run acted. The run id is kept whole; the repository is
 * shortened when the whole would not fit.
 */
function roleSessionName(repository, runId) {
    const clean = (s) => s.replace(/[^\w+=,.@-]+/g, '-').replace(/^-+|-+$/g, '');
    const run = clean(runId).slice(0, 40) || 'local';
    const repo = clean(repository);
    const room = 64 - 'airlock-'.length - run.length - 1;
    const name = repo && room > 0 ? `airlock-${repo.slice(0, room)}-${run}` : `airlock-${run}`;
    return name.slice(0, 64);
}
/** An STS error answer (`<ErrorResponse><Error><Code>…`). */
class StsError extends AirlockError {
    status;
    stsCode;
    stsMessage;
    constructor(status, stsCode, stsMessage) {
        super('AIRLOCK_STS_REFUSED', `STS answered ${status}${stsCode ? ` ${stsCode}` : ''}${stsMessage ? `: ${stsMessage}` : ''}`);
        this.status = status;
        this.stsCode = stsCode;
        this.stsMessage = stsMessage;
    }
}
/** STS error codes worth another attempt (throttling, and the IdP being briefly unreachable). */
const RETRYABLE_STS_CODES = new Set([
    'Throttling',
    'ThrottlingException',
    'RequestLimitExceeded',
    'IDPCommunicationError',
    'ServiceUnavailable',
    'InternalFailure'
]);
/** Retry on 5xx, 429 and throttling / IdP-communication errors STS answers with 400. */
function isRetryableStsAnswer(res) {
    if (res.status >= 500 || res.status === 429)
        return true;
    if (res.status < 400)
        return false;
    const code = xmlText(res.body, 'Code') ?? '';
    // "Couldn't retrieve verification key from your identity provider" is transient too.
    if (code === 'InvalidIdentityToken' && /retrieve verification key/i.test(res.body))
        return true;
    return RETRYABLE_STS_CODES.has(code);
}
/**
 * `AssumeRoleWithWebIdentity` (STS Query API, version 2011-06-15): an unsigned form POST whose
 * authentication is the web identity token itself; the answer is XML. Retries transient
 * failures with jittered backoff; a refusal throws `StsError` with STS's code and message.
 */
async function assumeRoleWithWebIdentity(opts) {
    const body = new URLSearchParams({
        Action: 'AssumeRoleWithWebIdentity',
        Version: '2011-06-15',
        RoleArn: opts.roleArn,
        RoleSessionName: opts.sessionName,
        WebIdentityToken: opts.webIdentityToken,
        DurationSeconds: String(opts.durationSeconds)
    });
    const res = await http_requestWithRetry(opts.fetch, opts.endpoint, {
        method: 'POST',
        headers: {
            'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
            accept: 'text/xml'
        },
        body: body.toString()
    }, { ...opts, retryOn: opts.retryOn ?? isRetryableStsAnswer });
    if (res.status !== 200) {
        throw new StsError(res.status, http_safeUpstreamText(xmlText(res.body, 'Code') ?? ''), http_safeUpstreamText(xmlText(res.body, 'Message') ?? '', [opts.webIdentityToken]));
    }
    const creds = xmlText(res.body, 'Credentials') ?? '';
    const accessKeyId = xmlText(creds, 'AccessKeyId');
    const secretAccessKey = xmlText(creds, 'SecretAccessKey');
    const sessionToken = xmlText(creds, 'SessionToken');
    // Masked before anything else can go wrong and print them.
    for (const v of [secretAccessKey, sessionToken, accessKeyId])
        if (v)
            opts.setSecret(v);
    const expiration = new Date(xmlText(creds, 'Expiration') ?? '');
    if (!accessKeyId || !secretAccessKey || !sessionToken || Number.isNaN(expiration.getTime())) {
        throw new StsError(res.status, 'MalformedResponse', 'the answer holds no usable Credentials');
    }
    const out = { accessKeyId, secretAccessKey, sessionToken, expiration };
    const arn = xmlText(xmlText(res.body, 'AssumedRoleUser') ?? '', 'Arn');
    if (arn)
        out.assumedRoleArn = arn;
    return out;
}
/**
 * The text of the first `<tag>` in xml, entities decoded. STS answers are flat and small;
 * a full XML parser would add a dependency for four fields.
 */
function xmlText(xml, tag) {
    const m = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`).exec(xml);
    if (!m)
        return undefined;
    return m[1]
        .trim()
        .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
        .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d)))
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&quot;/g, '"')
        .replace(/&apos;/g, "'")
        .replace(/&amp;/g, '&');
}
/** The session credentials inside an `aws` Credential (throws on a malformed token). */
function awsCredentials(cred) {
    const parsed = JSON.parse(cred.token);
    if (!parsed.accessKeyId || !parsed.secretAccessKey || !parsed.sessionToken)
        throw new Error('the aws credential holds no session credentials');
    return {
        accessKeyId: parsed.accessKeyId,
        secretAccessKey: parsed.secretAccessKey,
        sessionToken: parsed.sessionToken
    };
}

;// CONCATENATED MODULE: ./src/grant/oidc.ts



/** The hint every "no OIDC" failure carries: the one thing the workflow must change. */
const ID_TOKEN_PERMISSION_HINT = 'Give the job `permissions: id-token: write` (workflows from forked pull requests never get OIDC tokens).';
/** No GitHub OIDC token could be had (no endpoint, or the endpoint refused). */
class OidcError extends AirlockError {
    constructor(code, message) {
        super(code, message);
    }
}
/** The endpoint when the job may mint ID tokens (`id-token: write`), else undefined. */
function idTokenEndpointFromEnv(env) {
    const url = env.ACTIONS_ID_TOKEN_REQUEST_URL;
    const token = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
    return url && token ? { url, token } : undefined;
}
/**
 * A GitHub OIDC ID token for `audience`: `GET <url>&audience=<aud>` with
 * `Authorization: bearer <request token>`, answered `{"value": "<JWT>"}` (the protocol
 * `@actions/core`'s getIDToken speaks). Done here rather than through `@actions/core` so the
 * main step and the proxy daemon (which has no runner environment) share one code path,
 * with the same proxy, CA and retry handling. The token is masked before it is returned.
 *
 * @throws OidcError `AIRLOCK_OIDC_UNAVAILABLE` without an endpoint, `AIRLOCK_OIDC_FAILED` when
 * the endpoint refuses or answers something else.
 */
async function requestIdToken(endpoint, audience, opts) {
    if (!endpoint) {
        throw new OidcError('AIRLOCK_OIDC_UNAVAILABLE', 'no GitHub OIDC token: ACTIONS_ID_TOKEN_REQUEST_URL is not set (the job lacks `permissions: id-token: write`)');
    }
    const url = new URL(endpoint.url);
    url.searchParams.set('audience', audience);
    const res = await requestWithRetry(opts.fetch, url, {
        headers: {
            authorization: `bearer ${endpoint.token}`,
            accept: 'application/json; api-version=2.0'
        }
    }, opts);
    if (res.status < 200 || res.status > 299) {
        throw new OidcError('AIRLOCK_OIDC_FAILED', `the runner's ID-token endpoint answered ${res.status}: ${safeUpstreamText(res.body, [endpoint.token])}`);
    }
    let value;
    try {
        value = JSON.parse(res.body).value;
    }
    catch {
        value = undefined;
    }
    if (typeof value !== 'string' || value.split('.').length !== 3) {
        throw new OidcError('AIRLOCK_OIDC_FAILED', "the runner's ID-token endpoint answered without a token in `value`");
    }
    opts.setSecret(value);
    return value;
}
/**
 * `ctx.getIDToken` for a provider's grant: masks the token, and turns every failure into a
 * `GrantError` for `provider` whose hint says what the workflow needs.
 */
async function idTokenFor(ctx, provider, audience) {
    let token;
    try {
        token = await ctx.getIDToken(audience);
    }
    catch (err) {
        if (err instanceof GrantError)
            throw err;
        const e = err instanceof Error ? err : new Error(String(err));
        const unavailable = e.code === 'AIRLOCK_OIDC_UNAVAILABLE';
        throw new GrantError(provider, e, unavailable
            ? ID_TOKEN_PERMISSION_HINT
            : `Could not get a GitHub OIDC token for audience ${audience}. ${ID_TOKEN_PERMISSION_HINT}`);
    }
    ctx.setSecret(token);
    return token;
}

// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __webpack_require__(7598);
;// CONCATENATED MODULE: ./src/proxy/sigv4.ts
/**
 * AWS Signature V4 for the aws grant: the container signs with placeholder keys; the proxy
 * checks that signature, then signs the request again with the real STS keys over the same
 * headers; what it cannot re-sign (presigned URLs, streaming-signed payloads) is refused.
 */


/** The only algorithm re-signed: HMAC SigV4 (SigV4a's ECDSA keys cannot be swapped here). */
const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
/** Bodies hashed for signing are buffered; larger ones must carry `x-amz-content-sha256`. */
const SIGV4_MAX_BODY_BYTES = 5 * 1024 * 1024;
/** `x-amz-content-sha256` of an aws-chunked body with unsigned chunks and trailer. */
const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
/** A request the proxy will not re-sign; `message` says why and what to do instead. */
class SigV4RefusedError extends AirlockError {
    constructor(message) {
        super('AIRLOCK_SIGV4_REFUSED', message);
    }
}
/**
 * The SDK's signer, loaded at the first signature: only runs with the aws grant sign, and
 * evaluating it was a tenth of the proxy process's start.
 */
let smithy;
function loadSmithy() {
    smithy ??= Promise.all([Promise.all(/* import() */[__webpack_require__.e(430), __webpack_require__.e(118)]).then(__webpack_require__.t.bind(__webpack_require__, 5118, 19)), Promise.all(/* import() */[__webpack_require__.e(430), __webpack_require__.e(92)]).then(__webpack_require__.bind(__webpack_require__, 5092))]);
    return smithy;
}
/**
 * Headers the proxy never sends upstream (hop-by-hop, RFC 9110 §7.6.1, and `Expect`, which
 * this hop answers): the client may have signed them, the upstream never sees them, so the
 * new signature leaves them out.
 */
const NOT_FORWARDED = new Set([
    'connection',
    'expect',
    'keep-alive',
    'proxy-connection',
    'te',
    'trailer',
    'transfer-encoding',
    'upgrade'
]);
function header(headers, name) {
    const v = headers[name];
    return Array.isArray(v) ? v.join(',') : v;
}
/** Parses a SigV4 `Authorization` value; anything else is refused with the reason. */
function parseAuthorization(value) {
    const trimmed = value.trim();
    const space = trimmed.indexOf(' ');
    const algorithm = space < 0 ? trimmed : trimmed.slice(0, space);
    if (algorithm !== SIGV4_ALGORITHM)
        throw new SigV4RefusedError(`only ${SIGV4_ALGORITHM} signatures can be re-signed; this request uses "${algorithm}"`);
    const fields = new Map();
    for (const part of trimmed.slice(space + 1).split(',')) {
        const eq = part.indexOf('=');
        if (eq > 0)
            fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
    }
    const scope = (fields.get('Credential') ?? '').split('/');
    const signedHeaders = (fields.get('SignedHeaders') ?? '').split(';').filter((h) => h !== '');
    const signature = fields.get('Signature') ?? '';
    const [accessKeyId, date, region, service, terminator] = scope;
    if (scope.length !== 5 ||
        !accessKeyId ||
        !/^\d{8}$/.test(date ?? '') ||
        !region ||
        !service ||
        terminator !== 'aws4_request' ||
        signedHeaders.length === 0 ||
        !/^[0-9a-f]{64}$/.test(signature))
        throw new SigV4RefusedError('malformed AWS4-HMAC-SHA256 Authorization header (needs Credential=AKID/date/region/service/aws4_request, SignedHeaders and Signature)');
    return {
        accessKeyId,
        date: date,
        region,
        service,
        signedHeaders: signedHeaders.map((h) => h.toLowerCase()),
        signature
    };
}
/** The query string's parameters, percent-decoded (SigV4 canonicalisation re-encodes them). */
function parseQuery(query) {
    const out = {};
    for (const pair of query.split('&')) {
        if (pair === '')
            continue;
        const eq = pair.indexOf('=');
        const key = safeDecode(eq < 0 ? pair : pair.slice(0, eq));
        const value = eq < 0 ? '' : safeDecode(pair.slice(eq + 1));
        const existing = out[key];
        if (existing === undefined)
            out[key] = value;
        else
            out[key] = Array.isArray(existing) ? [...existing, value] : [existing, value];
    }
    return out;
}
function safeDecode(s) {
    try {
        return decodeURIComponent(s);
    }
    catch {
        return s;
    }
}
/** Whether a request's signature covers no body hash header, so signing needs the body. */
function sigV4NeedsBody(headers) {
    return header(headers, 'authorization') !== undefined && !header(headers, 'x-amz-content-sha256');
}
/**
 * Checks that a request is one the proxy can re-sign and returns its parsed signature, or
 * undefined for a request that carries no AWS signature at all (it gets no credentials).
 * Refused: presigned URLs (the signature sits in the query, where the proxy would have to
 * mint a URL valid for anyone who sees it), streaming-signed payloads (every chunk is signed
 * with the previous signature: re-signing the head would break each chunk; unsigned
 * streaming with a checksum trailer is re-signed like any other request), other
 * algorithms, and requests without a usable `x-amz-date`.
 */
function checkSigV4Request(req) {
    const q = req.path.indexOf('?');
    const query = q < 0 ? '' : req.path.slice(q + 1);
    const presigned = query
        .split('&')
        .map((p) => safeDecode(p.split('=', 1)[0] ?? '').toLowerCase())
        .some((k) => k === 'x-amz-signature' || k === 'x-amz-credential');
    if (presigned)
        throw new SigV4RefusedError('presigned URLs (X-Amz-Signature/X-Amz-Credential in the query) cannot be re-signed; send a header-signed request (the AWS CLI and SDKs do) instead');
    const authorization = header(req.headers, 'authorization');
    if (authorization === undefined)
        return undefined;
    const sha = header(req.headers, 'x-amz-content-sha256') ?? '';
    // aws-chunked bodies whose chunks are signed chain each chunk's signature to the seed
    // signature in the headers, so re-signing the head would break every chunk. The unsigned
    // variant (the AWS CLI's and SDKs' default upload mode since flexible checksums) signs
    // only the head: its chunks and checksum trailer pass through unchanged.
    if (sha.startsWith('STREAMING-') && sha !== STREAMING_UNSIGNED_TRAILER)
        throw new SigV4RefusedError(`streaming-signed payloads (x-amz-content-sha256: ${sha}) cannot be re-signed; send the body in one piece or with UNSIGNED-PAYLOAD (for the AWS CLI: aws configure set default.s3.payload_signing_enabled true)`);
    const auth = parseAuthorization(authorization);
    const amzDate = header(req.headers, 'x-amz-date') ?? '';
    if (!/^\d{8}T\d{6}Z$/.test(amzDate))
        throw new SigV4RefusedError('a SigV4 request must carry x-amz-date (YYYYMMDDTHHMMSSZ)');
    if (!auth.signedHeaders.includes('x-amz-date') || !auth.signedHeaders.includes('host'))
        throw new SigV4RefusedError('the SigV4 signature must cover the host and x-amz-date headers');
    if (amzDate.slice(0, 8) !== auth.date)
        throw new SigV4RefusedError(`x-amz-date ${amzDate} does not match the credential scope date ${auth.date}`);
    if (sha && !auth.signedHeaders.includes('x-amz-content-sha256'))
        throw new SigV4RefusedError('x-amz-content-sha256 is sent but not signed');
    for (const name of auth.signedHeaders)
        if (header(req.headers, name) === undefined)
            throw new SigV4RefusedError(`signed header "${name}" is missing from the request`);
    return auth;
}
function signingDate(amzDate) {
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
    return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}
/**
 * Signs `req` over exactly `names` with keys, in the scope of auth, at the request's
 * `x-amz-date`. Returns smithy's signed request (its headers hold `authorization`, and
 * `x-amz-security-token` when keys has a session token).
 */
async function signOver(req, auth, names, keys) {
    const headers = {};
    for (const name of names) {
        const v = header(req.headers, name);
        if (v !== undefined)
            headers[name] = v;
    }
    const q = req.path.indexOf('?');
    const path = q < 0 ? req.path : req.path.slice(0, q);
    const [{ SignatureV4 }, { Hash }] = await loadSmithy();
    const signer = new SignatureV4({
        credentials: keys,
        region: auth.region,
        service: auth.service,
        sha256: Hash.bind(null, 'sha256'),
        // S3 signs the path as sent; every other service URI-encodes it once more (the SDKs'
        // `uriEscapePath`, AWS SigV4 "Create a canonical request").
        uriEscapePath: !auth.service.startsWith('s3'),
        // The payload hash comes from x-amz-content-sha256 when the client sent it; never add it.
        applyChecksum: false
    });
    const request = {
        method: req.method,
        protocol: 'https:',
        hostname: req.host,
        path,
        query: parseQuery(q < 0 ? '' : req.path.slice(q + 1)),
        headers,
        ...(req.body ? { body: req.body } : {})
    };
    return signer.sign(request, {
        signingDate: signingDate(header(req.headers, 'x-amz-date')),
        signableHeaders: new Set(names)
    });
}
/** Whether the request's signature was made with keys (constant-time comparison). */
async function verifySigV4(req, auth, keys) {
    const signed = await signOver(req, auth, auth.signedHeaders, keys);
    const m = /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization ?? ''));
    const expected = Buffer.from(m?.[1] ?? '');
    const given = Buffer.from(auth.signature);
    return expected.length === given.length && (0,external_node_crypto_.timingSafeEqual)(expected, given);
}
/**
 * Signs the request again with keys, over the headers the client signed that travel
 * upstream (plus `x-amz-security-token`), in the same region, service and time. Returns the
 * headers to set on the upstream request.
 */
async function resignSigV4(req, auth, keys) {
    const names = auth.signedHeaders.filter((h) => !NOT_FORWARDED.has(h) && h !== 'x-amz-security-token');
    if (keys.sessionToken)
        names.push('x-amz-security-token');
    const signed = await signOver(req, auth, names, keys);
    const out = {
        authorization: String(signed.headers.authorization)
    };
    if (keys.sessionToken)
        out['x-amz-security-token'] = keys.sessionToken;
    return out;
}
/**
 * The proxy's SigV4 signer for the aws grant: refuses what cannot be re-signed, checks the
 * request was signed with the container's placeholder keys (so only requests made the way
 * the container was set up get real credentials), then re-signs with the real keys. A
 * request without any AWS signature passes unchanged and gains nothing.
 */
function createSigV4Signer(placeholder, real) {
    return {
        name: 'sigv4',
        needsBody: sigV4NeedsBody,
        maxBodyBytes: SIGV4_MAX_BODY_BYTES,
        async sign(req) {
            try {
                const auth = checkSigV4Request(req);
                if (!auth)
                    return { headers: {}, signed: false };
                if (auth.accessKeyId !== placeholder.accessKeyId)
                    throw new SigV4RefusedError(`the request is signed with access key ${auth.accessKeyId}, not the placeholder ${placeholder.accessKeyId} in AWS_ACCESS_KEY_ID; use the credentials the container was given`);
                if (!(await verifySigV4(req, auth, placeholder)))
                    throw new SigV4RefusedError('the SigV4 signature does not verify with the placeholder secret in AWS_SECRET_ACCESS_KEY (was the request changed after signing, or signed with another secret?)');
                return { headers: await resignSigV4(req, auth, real), signed: true };
            }
            catch (err) {
                if (err instanceof SigV4RefusedError)
                    return { refused: err.message };
                throw err;
            }
        }
    };
}

;// CONCATENATED MODULE: ./src/providers/cloud-common.ts
/** The network failure hint shared by the cloud grants. */
function networkHint(url, extra = '') {
    return `Check that the runner can reach ${url} (a proxy goes in HTTPS_PROXY; a TLS-intercepting gateway's CA in upstream-ca${extra}).`;
}

;// CONCATENATED MODULE: ./src/providers/aws.ts
/** The aws provider: GitHub OIDC → STS sessions, re-signed SigV4 in the proxy. */







/**
 * Where the aws grant re-signs requests: the commercial and GovCloud partitions, China's,
 * and the newer `api.aws` dual-stack endpoints. Only allowlisted hosts among these are
 * reachable.
 */
const AWS_HOST_PATTERNS = ['*.amazonaws.com', '*.amazonaws.com.cn', '*.api.aws'];
/**
 * AWS via GitHub OIDC → STS `AssumeRoleWithWebIdentity` on the regional endpoint, refreshed
 * before expiry. The credential's `token` is the JSON of the session credentials
 * ({@link AwsCredentialToken}); everything refresh needs that is not secret is in metadata,
 * so the proxy daemon can re-assume the role with nothing but a fresh ID token.
 *
 * Hosts: none. AWS has hundreds of service hosts, and allowing `*.amazonaws.com` because
 * the role exists would open every S3 bucket in the world as an exfiltration channel; the
 * workflow lists the endpoints the job needs in `allowed-endpoints`. STS itself is called
 * by the runner, never by the container.
 */
class AwsProvider extends ProviderDefaults {
    opts;
    name = 'aws';
    constructor(opts = {}) {
        super();
        this.opts = opts;
    }
    async grant(ctx) {
        const { roleArn, region, sessionDuration } = ctx.settings.aws;
        if (!roleArn) {
            throw new GrantError(this.name, 'no credential: `aws-role-arn` is empty', 'Set aws-role-arn to the role to assume with GitHub OIDC, and give the job `permissions: id-token: write`.');
        }
        return this.assume(ctx, {
            roleArn,
            region,
            durationSeconds: sessionDuration,
            endpoint: stsEndpoint(region, this.opts.env ?? process.env),
            sessionName: roleSessionName(ctx.repository, ctx.runId)
        });
    }
    async assume(ctx, params) {
        const token = await idTokenFor(ctx, this.name, stsAudience(params.region));
        let session;
        try {
            session = await assumeRoleWithWebIdentity({
                roleArn: params.roleArn,
                sessionName: params.sessionName,
                webIdentityToken: token,
                durationSeconds: params.durationSeconds,
                endpoint: params.endpoint,
                fetch: ctx.fetch,
                setSecret: (v) => ctx.setSecret(v),
                signal: ctx.signal,
                ...(this.opts.retry ? { retry: this.opts.retry } : {})
            });
        }
        catch (err) {
            throw this.explain(err, params, ctx.repository);
        }
        const value = {
            accessKeyId: session.accessKeyId,
            secretAccessKey: session.secretAccessKey,
            sessionToken: session.sessionToken
        };
        const tokenJson = JSON.stringify(value);
        ctx.setSecret(tokenJson);
        const metadata = {
            [META_KEY_TOKEN_SOURCE]: 'oidc',
            region: params.region,
            role_arn: params.roleArn,
            session_name: params.sessionName,
            session_duration: String(params.durationSeconds),
            sts_endpoint: params.endpoint
        };
        if (session.assumedRoleArn)
            metadata.assumed_role_arn = session.assumedRoleArn;
        return {
            provider: this.name,
            token: tokenJson,
            createdAt: new Date(),
            expiresAt: session.expiration,
            metadata
        };
    }
    /** A refusal as a GrantError naming the status, STS's code and what to check. */
    explain(err, params, repository) {
        if (err instanceof StsError) {
            const role = params.roleArn;
            let hint;
            if (err.stsCode === 'AccessDenied' || /not authorized/i.test(err.stsMessage)) {
                hint = `Check the trust policy of ${role}: its principal must be the account's IAM OIDC provider token.actions.githubusercontent.com, with conditions on token.actions.githubusercontent.com:aud = ${stsAudience(params.region)} and :sub matching this workflow (repo:${repository || '<owner>/<repo>'}:…; repositories using immutable subjects send repo:<owner>@<id>/<repo>@<id>:…).`;
            }
            else if (err.stsCode === 'InvalidIdentityToken' || err.stsCode === 'IDPRejectedClaim') {
                hint = `Check that the AWS account has an IAM OIDC identity provider for https://token.actions.githubusercontent.com whose audiences include ${stsAudience(params.region)}.`;
            }
            else if (/DurationSeconds|duration/i.test(err.stsMessage)) {
                hint = `aws-session-duration (${params.durationSeconds} s) must not exceed the maximum session duration configured on ${role}.`;
            }
            else if (err.stsCode === 'RegionDisabledException') {
                hint = `Activate STS in ${params.region} (IAM → Account settings), or set aws-region to a region where it is active.`;
            }
            else {
                hint = `Check aws-role-arn (${role}) and aws-region (${params.region}); STS endpoint ${params.endpoint}.`;
            }
            return new GrantError(this.name, `AssumeRoleWithWebIdentity refused: ${err.message}`, hint);
        }
        if (err instanceof GrantNetworkError)
            return new GrantError(this.name, err, networkHint(params.endpoint, '; or set AWS_ENDPOINT_URL_STS'));
        return new GrantError(this.name, err instanceof Error ? err : String(err));
    }
    canRefresh(cred) {
        return cred.metadata?.[META_KEY_TOKEN_SOURCE] === 'oidc' && !!cred.metadata.role_arn;
    }
    refreshInterval() {
        return REFRESH_INTERVAL_MS;
    }
    /** Re-assumes the role with a fresh ID token, with the parameters of the first grant. */
    async refresh(ctx, p, cred) {
        const m = cred.metadata ?? {};
        const region = m.region ?? DEFAULT_AWS_REGION;
        const next = await this.assume(ctx, {
            roleArn: m.role_arn ?? '',
            region,
            durationSeconds: Number(m.session_duration) || 3600,
            endpoint: m.sts_endpoint ?? stsEndpoint(region),
            sessionName: m.session_name ?? roleSessionName(ctx.repository, ctx.runId)
        });
        this.configureProxy(p, next);
        return next;
    }
    /**
     * Registers the SigV4 re-signer on AWS's hosts ({@link AWS_HOST_PATTERNS}): a request the container signed with
     * the placeholder keys is verified and signed again with the session credentials (plus
     * `X-Amz-Security-Token`). The allowlist still decides which AWS hosts are reachable.
     * Called again by refresh, it replaces the signer, so new requests use the new keys.
     */
    configureProxy(p, cred) {
        const real = awsCredentials(cred);
        // Echoes (error bodies name the key id; nothing should ever echo the secret) are scrubbed.
        const signer = createSigV4Signer({
            accessKeyId: PLACEHOLDERS.awsAccessKeyId,
            secretAccessKey: PLACEHOLDERS.awsSecretAccessKey
        }, real);
        for (const pattern of AWS_HOST_PATTERNS)
            p.setRequestSigner(pattern, this.name, signer);
        p.addSecret(real.secretAccessKey, PLACEHOLDERS.awsSecretAccessKey);
        p.addSecret(real.sessionToken);
        p.addSecret(real.accessKeyId, PLACEHOLDERS.awsAccessKeyId);
    }
    registerEndpoints(_router, _cred) { }
    hosts(_cred) {
        return [];
    }
    containerEnv(cred) {
        const region = cred.metadata?.region ?? DEFAULT_AWS_REGION;
        return [
            `AWS_ACCESS_KEY_ID=${PLACEHOLDERS.awsAccessKeyId}`,
            `AWS_SECRET_ACCESS_KEY=${PLACEHOLDERS.awsSecretAccessKey}`,
            `AWS_REGION=${region}`,
            `AWS_DEFAULT_REGION=${region}`,
            // The SDKs would otherwise probe the instance metadata service, which the proxy blocks:
            // seconds of timeouts for nothing.
            'AWS_EC2_METADATA_DISABLED=true'
        ];
    }
    impliedDependencies() {
        return ['aws'];
    }
}

;// CONCATENATED MODULE: ./src/grant/gcp-sts.ts


const GOOGLE_STS_URL = 'https://sts.googleapis.com/v1/token';
const GOOGLE_IAM_CREDENTIALS_URL = 'https://iamcredentials.googleapis.com/v1';
const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
/**
 * The audience of the GitHub OIDC token Google STS accepts for a workload identity provider
 * (google-github-actions/auth's default): `https://iam.googleapis.com/<provider resource>`.
 */
function workloadIdentityAudience(provider) {
    return `https://iam.googleapis.com/${provider}`;
}
/** Google refused a call; `status` and Google's own reason are kept for the hint. */
class GoogleAuthError extends AirlockError {
    step;
    status;
    reason;
    detail;
    constructor(step, status, reason, detail) {
        super('AIRLOCK_GOOGLE_REFUSED', `${step === 'sts' ? 'Google STS token exchange' : 'service account impersonation'} answered ${status}${reason ? ` ${reason}` : ''}${detail ? `: ${detail}` : ''}`);
        this.step = step;
        this.status = status;
        this.reason = reason;
        this.detail = detail;
    }
}
/**
 * RFC 8693 token exchange at Google STS: the GitHub OIDC token for a federated access token
 * of the workload identity pool (form-encoded, as google-auth-library sends it).
 */
async function exchangeToken(opts) {
    const body = new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        audience: `//iam.googleapis.com/${opts.workloadIdentityProvider}`,
        scope: CLOUD_PLATFORM_SCOPE,
        requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        subject_token: opts.subjectToken
    });
    const started = (opts.now ?? Date.now)();
    const res = await http_requestWithRetry(opts.fetch, opts.url ?? GOOGLE_STS_URL, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: body.toString()
    }, opts);
    const json = parseJson(res.body);
    if (res.status !== 200) {
        // RFC 6749 §5.2 error shape: {error, error_description}.
        throw new GoogleAuthError('sts', res.status, http_safeUpstreamText(str(json.error)), http_safeUpstreamText(str(json.error_description), [opts.subjectToken]));
    }
    const accessToken = str(json.access_token);
    if (accessToken)
        opts.setSecret(accessToken);
    const expiresIn = Number(json.expires_in);
    if (!accessToken || !Number.isFinite(expiresIn) || expiresIn <= 0)
        throw new GoogleAuthError('sts', res.status, 'malformed_response', 'no access_token/expires_in');
    return { accessToken, expiresAt: new Date(started + expiresIn * 1000) };
}
/**
 * IAM Credentials `generateAccessToken`: the federated identity impersonates the service
 * account (it needs `roles/iam.workloadIdentityUser` on it) for a cloud-platform token.
 */
async function generateAccessToken(opts) {
    const base = opts.url ?? GOOGLE_IAM_CREDENTIALS_URL;
    const url = `${base}/projects/-/serviceAccounts/${encodeURIComponent(opts.serviceAccount).replace('%40', '@')}:generateAccessToken`;
    const res = await http_requestWithRetry(opts.fetch, url, {
        method: 'POST',
        headers: {
            authorization: `Bearer ${opts.federatedToken}`,
            'content-type': 'application/json',
            accept: 'application/json'
        },
        body: JSON.stringify({
            scope: [CLOUD_PLATFORM_SCOPE],
            lifetime: `${opts.lifetimeSeconds ?? 3600}s`
        })
    }, opts);
    const json = parseJson(res.body);
    if (res.status !== 200) {
        // Google API error shape: {error: {code, message, status}}.
        const err = (typeof json.error === 'object' && json.error !== null ? json.error : {});
        throw new GoogleAuthError('iam', res.status, http_safeUpstreamText(str(err.status)), http_safeUpstreamText(str(err.message), [opts.federatedToken]));
    }
    const accessToken = str(json.accessToken);
    if (accessToken)
        opts.setSecret(accessToken);
    const expiresAt = new Date(str(json.expireTime));
    if (!accessToken || Number.isNaN(expiresAt.getTime()))
        throw new GoogleAuthError('iam', res.status, 'malformed_response', 'no accessToken/expireTime');
    return { accessToken, expiresAt };
}
function parseJson(body) {
    try {
        const v = JSON.parse(body);
        return typeof v === 'object' && v !== null ? v : {};
    }
    catch {
        return {};
    }
}
function str(v) {
    return typeof v === 'string' ? v : '';
}

// EXTERNAL MODULE: external "node:dns/promises"
var external_node_dns_promises_ = __webpack_require__(1553);
;// CONCATENATED MODULE: ./src/proxy/policy.ts
/**
 * Egress policy: which hosts the sandboxed agent may reach through the proxy, and which
 * address the proxy dials for them. Pure logic; name resolution is injected.
 *
 * The proxy is the sandbox's only way out and the agent is assumed hostile (prompt
 * injection), so every check fails closed: a host that is not a plain, valid DNS name or
 * an IP literal is refused outright, and a name is dialled only at an address this module
 * has checked.
 */



/**
 * The name containers use for the proxy's own endpoints (the gcp grant's metadata server):
 * a reserved `.internal` name that never resolves, so it can only mean this proxy.
 */
const AIRLOCK_ENDPOINT_HOST = 'airlock.internal';

/**
 * A host the policy refused as invalid, for a message: quoted, cut to 100 characters, and
 * every character outside printable ASCII escaped, so the agent cannot inject lines, escape
 * sequences or bidi tricks into logs and the job summary.
 */
function quoteHost(raw) {
    const cut = raw.length > 100 ? raw.slice(0, 100) : raw;
    const quoted = JSON.stringify(cut).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    return cut === raw ? quoted : `${quoted.slice(0, -1)}..."`;
}
/** `host:port`, bracketing an IPv6 address so the port stays readable. */
function hostPort(host, port) {
    return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}
/** An IP literal as the agent wrote it, plus the address it means when that differs. */
function ipWhere(raw, ip, port) {
    const bare = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
    if (bare.toLowerCase() === ip)
        return hostPort(ip, port);
    const shown = bare.length <= 64 ? bare : quoteHost(bare);
    return `${hostPort(shown, port)} (${ip})`;
}
function ipLiteralMessage(raw, ip, port) {
    return (`Airlock blocked ${ipWhere(raw, ip, port)}: requests to IP addresses are not allowed, only to host names. ` +
        'Allow a host name in the allowed-endpoints input and route it to this address with the connect-to input if the agent needs it.');
}
const CLASS_WORDS = {
    public: 'a public address',
    loopback: 'a loopback address',
    'link-local': 'a link-local address',
    private: 'a private address',
    cgnat: 'a carrier-grade NAT address',
    multicast: 'a multicast address',
    metadata: 'a cloud metadata address',
    unspecified: 'an unspecified address',
    reserved: 'a reserved address'
};
function refusal(reason, message, host) {
    return host === undefined
        ? { allowed: false, reason, message }
        : { allowed: false, reason, message, host };
}
/** The errno-style code of a resolver failure, printable and short. */
function errorCode(err) {
    const code = err?.code;
    if (typeof code === 'string' && /^[A-Z0-9_]{1,32}$/.test(code))
        return code;
    return 'lookup failed';
}
async function defaultResolve(host) {
    const answers = await lookup(host, { all: true, verbatim: true });
    return answers.map((a) => a.address);
}
/**
 * The egress policy of one run. Build it once with every allowlist entry (bad entries throw
 * at construction, before anything starts); call {@link check} for every CONNECT and plain
 * HTTP request, then {@link resolveTarget} for the address to dial.
 */
class EgressPolicy {
    mode;
    patterns = [];
    connectTo;
    resolve;
    constructor(cfg) {
        // Anything but an explicit 'audit' blocks: a typo must not open the sandbox.
        this.mode = cfg.mode === 'audit' ? 'audit' : 'block';
        this.patterns = cfg.allow.map(parseHostPattern);
        this.connectTo = new Map();
        for (const [key, target] of cfg.connectTo ?? [])
            this.connectTo.set(key.toLowerCase(), target);
        this.resolve = cfg.resolve ?? defaultResolve;
    }
    /** Grant more hosts (e.g. a provider's hosts). All patterns parse or none are added. */
    addAllowed(patterns) {
        const parsed = patterns.map(parseHostPattern);
        this.patterns.push(...parsed);
    }
    /** The parsed allowlist, in the order entries were added. */
    get allowlist() {
        return this.patterns;
    }
    /**
     * Name, port and scheme check, without DNS: used at CONNECT time (`https`) and for plain
     * HTTP requests (`http`). Invalid hosts, localhost, metadata names and non-public IP
     * literals are refused in every mode; in audit mode, anything else block mode would
     * refuse is allowed with `audited: true` and the reason and message block mode gives.
     */
    check(host, port, scheme) {
        const always = this.alwaysRefused(host, port);
        if (always)
            return always;
        const ip = parseIpLiteral(host);
        if (ip !== undefined) {
            return this.soft(refusal('ip-literal', ipLiteralMessage(host, ip, port), ip));
        }
        // alwaysRefused() has established that the name normalises.
        const name = normalizeHost(host) ?? '';
        const plain = scheme === 'http';
        const defaultPort = plain ? 80 : 443;
        const wanted = plain ? 'http' : 'https';
        const hostMatches = this.patterns.filter((p) => matchesHost(p, name));
        const sameScheme = hostMatches.filter((p) => p.scheme === wanted);
        const exact = sameScheme.filter((p) => (p.port ?? defaultPort) === port);
        const target = this.connectTo.get(`${name}:${port}`);
        const where = hostPort(name, port);
        if (exact.length > 0) {
            const decision = { allowed: true, host: name, pattern: bestMatch(exact).raw };
            if (target)
                decision.connectTo = target;
            return decision;
        }
        const httpForm = `http://${name}${port === 80 ? '' : `:${port}`}`;
        const httpsForm = port === 443 ? name : `${name}:${port}`;
        let denied;
        if (sameScheme.length > 0) {
            const ports = [...new Set(sameScheme.map((p) => p.port ?? defaultPort))].sort((a, b) => a - b);
            const portList = `port${ports.length > 1 ? 's' : ''} ${ports.join(', ')}`;
            denied = plain
                ? refusal('port-not-allowed', `Airlock blocked plain HTTP to ${where}: the allowlist permits plain HTTP to this host only on ${portList}. ` +
                    `Add ${httpForm} to the allowed-endpoints input if the agent needs that port.`, name)
                : refusal('port-not-allowed', `Airlock blocked ${where}: the allowlist permits this host only on ${portList}. ` +
                    `Add ${httpsForm} (host:port) to the allowed-endpoints input if the agent needs that port.`, name);
        }
        else if (hostMatches.length > 0) {
            denied = plain
                ? refusal('plain-http', `Airlock blocked plain HTTP to ${where}: the host is allowed only over HTTPS. ` +
                    `Use https, or add ${httpForm} to the allowed-endpoints input if the agent needs plain HTTP.`, name)
                : refusal('not-allowed', `Airlock blocked ${where}: the allowlist permits only plain HTTP to this host. ` +
                    `Add ${httpsForm} to the allowed-endpoints input if the agent needs HTTPS.`, name);
        }
        else if (plain) {
            denied = refusal('not-allowed', `Airlock blocked plain HTTP to ${where}: the host is not in the allowlist. ` +
                `Add ${httpForm} to the allowed-endpoints input if the agent needs it.`, name);
        }
        else {
            denied = refusal('not-allowed', `Airlock blocked ${where}: the host is not in the allowlist. ` +
                `Add ${port === 443 ? 'it' : httpsForm} to the allowed-endpoints input if the agent needs it.`, name);
        }
        const soft = this.soft(denied);
        if (soft.allowed && target)
            soft.connectTo = target;
        return soft;
    }
    /**
     * Where to dial `host:port`. A `connect-to` entry wins and is exempt from address checks
     * (the workflow author chose it). Otherwise the name is resolved and refused if it has no
     * address or if ANY address is not public (a name with one private answer could be
     * rebound to it); the first address is returned so the caller dials exactly what was
     * checked, never re-resolving. Hosts `check` always refuses are refused here too; the
     * allowlist itself is `check`'s job.
     */
    async resolveTarget(host, port) {
        const always = this.alwaysRefused(host, port);
        if (always)
            return {
                allowed: false,
                reason: always.reason ?? 'invalid-host',
                message: always.message ?? ''
            };
        const ip = parseIpLiteral(host);
        if (ip !== undefined) {
            if (this.mode === 'block') {
                return {
                    allowed: false,
                    reason: 'ip-literal',
                    message: ipLiteralMessage(host, ip, port),
                    address: ip
                };
            }
            return { allowed: true, address: ip, port, connectTo: false };
        }
        const name = normalizeHost(host) ?? '';
        const where = hostPort(name, port);
        const target = this.connectTo.get(`${name}:${port}`);
        if (target)
            return { allowed: true, address: target.host, port: target.port, connectTo: true };
        let answers;
        try {
            answers = await this.resolve(name);
        }
        catch (err) {
            return {
                allowed: false,
                reason: 'resolve-failed',
                message: `Airlock blocked ${where}: the name could not be resolved (${errorCode(err)}). ` +
                    'Check the host name, or route it with the connect-to input.'
            };
        }
        const addresses = [];
        for (const answer of Array.isArray(answers) ? answers : []) {
            const address = typeof answer === 'string' ? parseIpLiteral(answer) : undefined;
            if (address === undefined) {
                return {
                    allowed: false,
                    reason: 'resolve-failed',
                    message: `Airlock blocked ${where}: the resolver returned something that is not an IP address. Check the runner's DNS setup.`
                };
            }
            addresses.push(address);
        }
        const first = addresses[0];
        if (first === undefined) {
            return {
                allowed: false,
                reason: 'resolve-failed',
                message: `Airlock blocked ${where}: the name has no addresses. ` +
                    'Check the host name, or route it with the connect-to input.'
            };
        }
        const classes = addresses.map((a) => ({ address: a, cls: classifyAddress(a) }));
        const bad = classes.find((c) => c.cls === 'metadata') ?? classes.find((c) => c.cls !== 'public');
        if (bad) {
            return bad.cls === 'metadata'
                ? {
                    allowed: false,
                    reason: 'metadata',
                    message: `Airlock blocked ${where}: the name resolves to ${bad.address}, a cloud metadata address, which the sandbox may never reach.`,
                    address: bad.address
                }
                : {
                    allowed: false,
                    reason: 'private-address',
                    message: `Airlock blocked ${where}: the name resolves to ${bad.address}, ${CLASS_WORDS[bad.cls]}, which the sandbox may not reach. ` +
                        'Route the name to it with the connect-to input if the agent needs this service.',
                    address: bad.address
                };
        }
        return { allowed: true, address: first, port, connectTo: false };
    }
    /**
     * Refusals no mode lifts: bad ports, invalid hosts, localhost and metadata names, and IP
     * literals of non-public addresses.
     */
    alwaysRefused(host, port) {
        const raw = typeof host === 'string' ? host : '';
        const invalid = (why) => refusal('invalid-host', `Airlock blocked ${quoteHost(raw)} (port ${String(port)}): it is not a valid host name (${why}). ` +
            'Fix the host the agent requested; if a tool mangled it, check its proxy settings.');
        // Printable ASCII only: NUL, CR/LF, spaces and non-ASCII never reach a parser below.
        if (!/^[\x21-\x7e]+$/.test(raw))
            return invalid('it is empty or has invisible or non-ASCII characters');
        if (!isValidPort(port)) {
            return refusal('port-not-allowed', `Airlock blocked ${quoteHost(raw)} (port ${String(port)}): ${String(port)} is not a valid TCP port.`);
        }
        const ip = parseIpLiteral(raw);
        if (ip !== undefined) {
            const cls = classifyAddress(ip);
            const where = ipWhere(raw, ip, port);
            if (cls === 'metadata') {
                return refusal('metadata', `Airlock blocked ${where}: it is a cloud metadata address, which the sandbox may never reach.`, ip);
            }
            if (cls !== 'public') {
                return refusal('ip-literal', `Airlock blocked ${where}: it is ${CLASS_WORDS[cls]} written as an IP literal, which the sandbox may never reach. ` +
                    'Allow a host name in the allowed-endpoints input and route it to this address with the connect-to input if the agent needs it.', ip);
            }
            return undefined;
        }
        const name = normalizeHost(raw);
        if (name === undefined) {
            return invalid("a trailing dot, an empty or over-long label, a numeric last label, or a character other than letters, digits, '-', '_' and '.'");
        }
        if (isLocalhostName(name)) {
            return refusal('localhost', `Airlock blocked ${hostPort(name, port)}: localhost is the runner itself, which the sandbox may never reach. ` +
                'Allow a host name in the allowed-endpoints input and route it with the connect-to input if the agent needs a local service.', name);
        }
        if (isMetadataName(name)) {
            return refusal('metadata', `Airlock blocked ${hostPort(name, port)}: it is a cloud metadata service, which the sandbox may never reach.`, name);
        }
        return undefined;
    }
    /** In audit mode a refusable-but-public request goes through, marked as audited. */
    soft(decision) {
        if (this.mode !== 'audit' || decision.allowed)
            return decision;
        return { ...decision, allowed: true, audited: true };
    }
}
function matchesHost(p, name) {
    // `*.x` needs at least one label before `.x`; the apex `x` never matches (design §3).
    return p.wildcard ? name.endsWith(`.${p.host}`) : name === p.host;
}
/** Exact beats wildcard; among wildcards the longest suffix wins (the most specific entry). */
function bestMatch(matches) {
    const score = (p) => (p.wildcard ? p.host.length : Number.MAX_SAFE_INTEGER);
    return matches.reduce((best, p) => (score(p) > score(best) ? p : best));
}

;// CONCATENATED MODULE: ./src/providers/gcp.ts
/** The gcp provider: GitHub OIDC → Google STS (→ IAM impersonation), and a GCE metadata server on the proxy. */







/** Where the gcp grant's metadata server answers, on the proxy. */
const GCE_METADATA_PREFIX = '/computeMetadata/v1/';
const GOOGLE_APIS_PATTERN = '*.googleapis.com';
/**
 * Google Cloud via GitHub OIDC → Google STS token exchange → (with `gcp-service-account`)
 * IAM Credentials `generateAccessToken`; refreshed before expiry.
 *
 * The token is injected as `Authorization: Bearer` on `*.googleapis.com`. The injection
 * table lets an exact host beat a wildcard, so with `gemini` also granted,
 * `generativelanguage.googleapis.com` keeps the Gemini API key and never receives this
 * token, while Vertex AI (`*-aiplatform.googleapis.com`) gets it.
 *
 * Hosts: none, for the reason AwsProvider gives (storage.googleapis.com reaches every
 * bucket): the workflow allows the Google APIs it needs in `allowed-endpoints`, and only
 * those get the token.
 */
class GcpProvider extends ProviderDefaults {
    opts;
    name = 'gcp';
    constructor(opts = {}) {
        super();
        this.opts = opts;
    }
    grant(ctx) {
        const { workloadIdentityProvider: provider, serviceAccount } = ctx.settings.gcp;
        if (!provider) {
            return Promise.reject(new GrantError(this.name, 'no credential: `gcp-workload-identity-provider` is empty', 'Set gcp-workload-identity-provider (and optionally gcp-service-account), and give the job `permissions: id-token: write`.'));
        }
        return this.mint(ctx, provider, serviceAccount);
    }
    async mint(ctx, provider, serviceAccount) {
        const subjectToken = await idTokenFor(ctx, this.name, workloadIdentityAudience(provider));
        const common = {
            fetch: ctx.fetch,
            setSecret: (v) => ctx.setSecret(v),
            signal: ctx.signal,
            ...(this.opts.retry ? { retry: this.opts.retry } : {})
        };
        let token;
        try {
            token = await exchangeToken({ ...common, workloadIdentityProvider: provider, subjectToken });
            if (serviceAccount) {
                token = await generateAccessToken({
                    ...common,
                    serviceAccount,
                    federatedToken: token.accessToken
                });
            }
        }
        catch (err) {
            throw this.explain(err, provider, serviceAccount, ctx.repository);
        }
        const metadata = {
            [META_KEY_TOKEN_SOURCE]: 'oidc',
            workload_identity_provider: provider
        };
        if (serviceAccount)
            metadata.service_account = serviceAccount;
        return {
            provider: this.name,
            token: token.accessToken,
            createdAt: new Date(),
            expiresAt: token.expiresAt,
            scopes: ['https://www.googleapis.com/auth/cloud-platform'],
            metadata
        };
    }
    explain(err, provider, serviceAccount, repository) {
        if (err instanceof GoogleAuthError) {
            const hint = err.step === 'sts'
                ? `Check the workload identity provider ${provider}: its issuer must be https://token.actions.githubusercontent.com, its allowed audiences must include ${workloadIdentityAudience(provider)} (the default), and its attribute condition must accept this repository (e.g. assertion.repository == '${repository || '<owner>/<repo>'}').`
                : err.status === 404
                    ? `The service account ${serviceAccount} does not exist (check gcp-service-account).`
                    : `Grant roles/iam.workloadIdentityUser on ${serviceAccount} to the pool's principal for this repository (principalSet://iam.googleapis.com/${provider.replace(/\/providers\/[^/]+$/, '')}/attribute.repository/${repository || '<owner>/<repo>'}), and enable the IAM Service Account Credentials API in its project.`;
            return new GrantError(this.name, err, hint);
        }
        if (err instanceof GrantNetworkError)
            return new GrantError(this.name, err, networkHint(err.url));
        return new GrantError(this.name, err instanceof Error ? err : String(err));
    }
    canRefresh(cred) {
        return (cred.metadata?.[META_KEY_TOKEN_SOURCE] === 'oidc' &&
            !!cred.metadata.workload_identity_provider);
    }
    refreshInterval() {
        return REFRESH_INTERVAL_MS;
    }
    /** Repeats the exchange (and impersonation) with a fresh ID token; swaps the header. */
    async refresh(ctx, p, cred) {
        const next = await this.mint(ctx, cred.metadata?.workload_identity_provider ?? '', cred.metadata?.service_account ?? '');
        this.configureProxy(p, next);
        return next;
    }
    configureProxy(p, cred) {
        p.setCredentialWithGrant(GOOGLE_APIS_PATTERN, 'Authorization', `Bearer ${cred.token}`, this.name);
    }
    hosts(_cred) {
        return [];
    }
    /**
     * A GCE metadata server on the proxy (`http://airlock.internal/computeMetadata/v1/`), so
     * Application Default Credentials work in the container unchanged (Google's client
     * libraries, Gemini CLI on Vertex AI): it hands out the placeholder token, which the proxy
     * swaps for the real one on `*.googleapis.com`, and names the project and account.
     */
    registerEndpoints(router, cred) {
        const account = cred.metadata?.service_account ?? 'default';
        const project = serviceAccountProject(cred.metadata?.service_account) ?? '';
        router.handle(GCE_METADATA_PREFIX, (req, res) => {
            const reply = (status, body, type = 'application/text') => {
                res.writeHead(status, { 'metadata-flavor': 'Google', 'content-type': type });
                res.end(body);
            };
            // The header real metadata servers require (it keeps browsers and SSRF out).
            if (req.headers['metadata-flavor'] !== 'Google')
                return reply(403, 'Missing Metadata-Flavor:Google header.');
            const path = new URL(req.url ?? '/', 'http://metadata').pathname;
            const rel = path.slice(GCE_METADATA_PREFIX.length).replace(/\/+$/, '');
            const sa = /^instance\/service-accounts\/(default|[^/]+)(?:\/(.*))?$/.exec(rel);
            if (rel === '' || rel === 'instance' || rel === 'project')
                return reply(200, '');
            if (rel === 'project/project-id' && project)
                return reply(200, project);
            if (rel === 'universe/universe-domain')
                return reply(200, 'googleapis.com');
            if (sa && (sa[1] === 'default' || sa[1] === account)) {
                if (sa[2] === 'token')
                    return reply(200, JSON.stringify({
                        access_token: PLACEHOLDERS.gcp,
                        expires_in: 3599,
                        token_type: 'Bearer'
                    }), 'application/json');
                if (sa[2] === 'email')
                    return reply(200, account);
                if (sa[2] === 'scopes')
                    return reply(200, 'https://www.googleapis.com/auth/cloud-platform');
                if (sa[2] === undefined || sa[2] === '')
                    return reply(200, '');
            }
            reply(404, 'Not found');
        });
    }
    /**
     * Placeholders where tools take a ready-made token, so they skip their own auth and the
     * proxy's header wins: gcloud (`CLOUDSDK_AUTH_ACCESS_TOKEN`), Terraform's google provider
     * (`GOOGLE_OAUTH_ACCESS_TOKEN`), Claude Code on Vertex (`CLAUDE_CODE_SKIP_VERTEX_AUTH`).
     * The project defaults to the service account's.
     */
    containerEnv(cred) {
        const env = [
            // Application Default Credentials: the proxy's metadata server (registerEndpoints).
            `GCE_METADATA_HOST=${AIRLOCK_ENDPOINT_HOST}`,
            `GCE_METADATA_IP=${AIRLOCK_ENDPOINT_HOST}`,
            'METADATA_SERVER_DETECTION=assume-present',
            `CLOUDSDK_AUTH_ACCESS_TOKEN=${PLACEHOLDERS.gcp}`,
            `GOOGLE_OAUTH_ACCESS_TOKEN=${PLACEHOLDERS.gcp}`,
            'CLAUDE_CODE_SKIP_VERTEX_AUTH=1',
            'CLOUDSDK_CORE_DISABLE_PROMPTS=1'
        ];
        const project = serviceAccountProject(cred.metadata?.service_account);
        if (project)
            env.push(`GOOGLE_CLOUD_PROJECT=${project}`, `CLOUDSDK_CORE_PROJECT=${project}`);
        return env;
    }
    impliedDependencies() {
        return [];
    }
}

// EXTERNAL MODULE: ./node_modules/smol-toml/dist/index.js + 8 modules
var dist = __webpack_require__(3292);
;// CONCATENATED MODULE: ./src/providers/codex.ts



const OPENAI_HOST = 'api.openai.com';
/** Codex CLI with an OpenAI API key. */
class CodexProvider extends AgentCliProvider {
    name = 'codex';
    npmPackage = '@openai/codex';
    defaultVersion = '0.171.0';
    binary = 'codex';
    async grant(ctx) {
        const [, token] = requireSecret(ctx, this.name, ['openai-api-key'], 'Set openai-api-key (e.g. ${{ secrets.OPENAI_API_KEY }}).');
        return staticCredential(this.name, token);
    }
    configureProxy(p, cred) {
        p.setCredentialWithGrant(OPENAI_HOST, 'Authorization', `Bearer ${cred.token}`, this.name, PLACEHOLDERS.openai);
    }
    /** `GET /v1/models`; only 401 counts as refused (a restricted key may lack model reads). */
    keyCheck(cred) {
        return {
            provider: this.name,
            input: 'openai-api-key',
            url: `https://${OPENAI_HOST}/v1/models`,
            headers: { authorization: `Bearer ${cred.token}` },
            refused: (status) => status === 401,
            hint: 'Check that openai-api-key holds a current OpenAI API key (not revoked, its project active).'
        };
    }
    hosts(_cred) {
        return [OPENAI_HOST];
    }
    containerEnv(_cred) {
        return [`OPENAI_API_KEY=${PLACEHOLDERS.openai}`];
    }
    agentEnv(opts) {
        return [`CODEX_HOME=${opts.containerHome}/.codex`];
    }
    homeFiles(opts) {
        const config = {
            approval_policy: 'never',
            // The container is the sandbox; Codex's own (landlock/seccomp) one cannot nest in it.
            sandbox_mode: 'danger-full-access',
            // "all" keeps HTTPS_PROXY and the CA variables for commands Codex spawns; "core" strips them.
            shell_environment_policy: { inherit: 'all' },
            projects: { '/workspace': { trust_level: 'trusted' } },
            // These phone home at start-up: the curated plugin catalogue (github.com,
            // api.github.com, chatgpt.com), API-key model discovery (chatgpt.com, retried) and
            // analytics (ab.chatgpt.com). None of them is needed to run a task with an API key, and
            // behind the allowlist they would only be refused and slow the start down.
            analytics: { enabled: false },
            features: { plugins: false, api_key_model_discovery: false }
        };
        const mcp = {};
        for (const [name, s] of Object.entries(opts.mcpServers)) {
            mcp[name] = s.url
                ? { url: s.url, ...(s.headers ? { http_headers: s.headers } : {}) }
                : {
                    command: s.command,
                    ...(s.args ? { args: s.args } : {}),
                    ...(s.env ? { env: s.env } : {})
                };
        }
        if (Object.keys(mcp).length > 0)
            config.mcp_servers = mcp;
        return {
            '.codex/config.toml': `# Written by Airlock for this run.\n${(0,dist/* stringify */.As)(config)}\n`,
            '.codex/auth.json': JSON.stringify({ OPENAI_API_KEY: PLACEHOLDERS.openai })
        };
    }
    installSpec(version, arch = process.arch) {
        // The platform build is published as a version suffix of the main package; it is a
        // static musl binary, so any Linux image runs it.
        const { npm, triple } = linuxArch(this.name, arch);
        return {
            packageName: '@openai/codex',
            packageVersion: `${version}-linux-${npm}`,
            argv: (dir) => [`${dir}/package/vendor/${triple}-unknown-linux-musl/bin/codex`]
        };
    }
    command(prompt, args, limits = {}) {
        // `--` before the prompt: a task that starts with `-` (a markdown list) is not an option.
        // Codex has no turn or spending limit (the inputs refuse them for codex).
        const model = limits.model ? ['--model', limits.model] : [];
        return ['exec', '--json', '--skip-git-repo-check', ...model, ...args, '--', prompt];
    }
}

;// CONCATENATED MODULE: ./src/providers/custom.ts



/** A placeholder for a custom credential's env variable: fixed per name, plainly fake. */
function customPlaceholder(name) {
    return `airlock-placeholder-${name}`;
}
/**
 * `custom-credentials`: any header on any HTTPS host. The credential's token holds the
 * entries as JSON so one grant carries them all across to the proxy.
 */
class CustomProvider extends ProviderDefaults {
    name = 'custom';
    async grant(ctx) {
        const entries = ctx.settings.custom;
        if (entries.length === 0) {
            throw new GrantError(this.name, 'no credential: `custom-credentials` is empty', 'Set custom-credentials to a YAML list of {name, hosts, header, prefix, value, env}.');
        }
        // Reading the settings masked every value; the entries travel to the proxy as one JSON token.
        for (const e of entries)
            ctx.setSecret(e.value);
        return staticCredential(this.name, JSON.stringify(entries));
    }
    entries(cred) {
        return JSON.parse(cred.token);
    }
    configureProxy(p, cred) {
        for (const e of this.entries(cred)) {
            for (const host of e.hosts) {
                // Injection is per host name; a scheme or port written in the entry (accepted there,
                // as in allowed-endpoints) only narrows what the allowlist lets through.
                const pattern = patterns_parseHostPattern(host);
                p.setCredentialWithGrant(pattern.wildcard ? `*.${pattern.host}` : pattern.host, e.header, `${e.prefix}${e.value}`, `custom:${e.name}`, e.env ? customPlaceholder(e.name) : undefined);
            }
            // With a custom prefix (`Key `, `Token=`) only the whole header value is known as a
            // secret; an upstream that echoes the bare value must be scrubbed too.
            p.addSecret(e.value, e.env ? customPlaceholder(e.name) : undefined);
        }
    }
    hosts(cred) {
        return this.entries(cred).flatMap((e) => e.hosts);
    }
    containerEnv(cred) {
        return this.entries(cred)
            .filter((e) => e.env)
            .map((e) => `${e.env}=${customPlaceholder(e.name)}`);
    }
}

;// CONCATENATED MODULE: ./src/providers/gemini.ts


const GEMINI_HOST = 'generativelanguage.googleapis.com';
/** Vertex AI's location for Gemini when the run does not say. */
const DEFAULT_VERTEX_LOCATION = 'us-central1';
/** Gemini CLI with a Gemini API key, or on Vertex AI through the gcp grant. */
class GeminiProvider extends AgentCliProvider {
    name = 'gemini';
    npmPackage = '@google/gemini-cli';
    defaultVersion = '0.61.0';
    binary = 'gemini';
    /**
     * The key (`gemini-api-key`); without one, Vertex AI when the run grants `gcp`: the CLI
     * gets its token from Application Default Credentials (the gcp grant's metadata server on
     * the proxy) and this grant holds no secret of its own.
     */
    async grant(ctx) {
        const { secrets, grants, env, gcp } = ctx.settings;
        if (!secrets['gemini-api-key'] && grants.includes('gcp')) {
            const metadata = {
                auth: 'vertex',
                location: env.GOOGLE_CLOUD_LOCATION ?? DEFAULT_VERTEX_LOCATION
            };
            const project = env.GOOGLE_CLOUD_PROJECT ?? serviceAccountProject(gcp.serviceAccount);
            if (project)
                metadata.project = project;
            return { provider: this.name, token: '', createdAt: new Date(), metadata };
        }
        const [, token] = requireSecret(ctx, this.name, ['gemini-api-key'], 'Set gemini-api-key (e.g. ${{ secrets.GEMINI_API_KEY }}), or grant gcp for Vertex AI.');
        return staticCredential(this.name, token);
    }
    isVertex(cred) {
        return cred.metadata?.auth === 'vertex';
    }
    configureProxy(p, cred) {
        // On Vertex AI the gcp grant authorises the calls.
        if (this.isVertex(cred))
            return;
        // Header only, no token substitution: swapping the placeholder wherever it appears (a
        // prompt body, a query) would let an injected agent ask the model to hand the real key
        // back transformed, past any scrubber (security battery 16.12–16.14).
        p.setCredentialWithGrant(GEMINI_HOST, 'x-goog-api-key', cred.token, this.name, PLACEHOLDERS.gemini);
    }
    /**
     * `GET /v1beta/models`. Google answers a key it does not know with 400 API_KEY_INVALID, and
     * one whose restrictions or project do not allow this API with 403.
     */
    keyCheck(cred) {
        if (this.isVertex(cred))
            return undefined;
        return {
            provider: this.name,
            input: 'gemini-api-key',
            url: `https://${GEMINI_HOST}/v1beta/models?pageSize=1`,
            headers: { 'x-goog-api-key': cred.token },
            refused: (status, body) => status === 401 ||
                status === 403 ||
                (status === 400 && /API_KEY_INVALID|API key not valid/i.test(body)),
            hint: 'Check that gemini-api-key is a current key from Google AI Studio, that its API restrictions allow the Generative Language API, and that the API is enabled on its project.'
        };
    }
    hosts(cred) {
        if (!this.isVertex(cred))
            return [GEMINI_HOST];
        const location = cred.metadata?.location ?? DEFAULT_VERTEX_LOCATION;
        return location === 'global'
            ? ['aiplatform.googleapis.com']
            : [`${location}-aiplatform.googleapis.com`, 'aiplatform.googleapis.com'];
    }
    containerEnv(cred) {
        if (!this.isVertex(cred))
            return [`GEMINI_API_KEY=${PLACEHOLDERS.gemini}`];
        const m = cred.metadata ?? {};
        return [
            'GOOGLE_GENAI_USE_VERTEXAI=true',
            `GOOGLE_CLOUD_LOCATION=${m.location ?? DEFAULT_VERTEX_LOCATION}`,
            ...(m.project ? [`GOOGLE_CLOUD_PROJECT=${m.project}`] : [])
        ];
    }
    agentEnv(_opts) {
        return ['GEMINI_CLI_TRUST_WORKSPACE=true'];
    }
    homeFiles(opts) {
        const settings = {
            security: {
                auth: { selectedType: this.isVertex(opts.credential) ? 'vertex-ai' : 'gemini-api-key' }
            },
            privacy: { usageStatisticsEnabled: false },
            general: { disableAutoUpdate: true }
        };
        if (opts.limits?.maxTurns)
            settings.model = { maxSessionTurns: opts.limits.maxTurns };
        if (Object.keys(opts.mcpServers).length > 0)
            settings.mcpServers = geminiMcp(opts);
        return { '.gemini/settings.json': JSON.stringify(settings, null, 2) };
    }
    installSpec(version) {
        // A single-file Node bundle: run it with the runner's Node, mounted at /airlock/node.
        return {
            packageName: '@google/gemini-cli',
            packageVersion: version,
            argv: (dir) => ['/airlock/node', `${dir}/package/bundle/gemini.js`]
        };
    }
    command(prompt, args, limits = {}) {
        // `--prompt=<task>` in one word: a task that starts with `-` is still the option's value.
        // The turn limit is a setting (model.maxSessionTurns in settings.json), not a flag.
        const model = limits.model ? [`--model=${limits.model}`] : [];
        return [`--prompt=${prompt}`, '--output-format', 'json', '--yolo', ...model, ...args];
    }
}

;// CONCATENATED MODULE: ./src/grant/github-app.ts



/** An unusable `github-app-private-key` (not a PEM RSA private key). */
class AppKeyError extends AirlockError {
    constructor(message) {
        super('AIRLOCK_BAD_APP_KEY', message);
    }
}
/** GitHub refused (or failed) one step of the App flow. */
class GitHubAppError extends AirlockError {
    step;
    status;
    detail;
    constructor(step, status, detail) {
        super('AIRLOCK_GITHUB_APP_REFUSED', `${STEP_TEXT[step]} answered ${status}${detail ? `: ${detail}` : ''}`);
        this.step = step;
        this.status = status;
        this.detail = detail;
    }
}
const STEP_TEXT = {
    installation: 'GET /repos/{owner}/{repo}/installation',
    token: 'POST /app/installations/{id}/access_tokens',
    revoke: 'DELETE /installation/token'
};
/**
 * The private key as a KeyObject. Secrets pasted through YAML often arrive with literal
 * `\n` escapes or CRLF line ends; both are repaired before parsing. Errors never quote the key.
 */
function loadAppPrivateKey(pem) {
    let text = pem.trim().replace(/\r\n?/g, '\n');
    if (!text.includes('\n') && text.includes('\\n'))
        text = text.replace(/\\n/g, '\n');
    let key;
    try {
        key = (0,external_node_crypto_.createPrivateKey)({ key: text, format: 'pem' });
    }
    catch {
        throw new AppKeyError('github-app-private-key is not a PEM private key');
    }
    if (key.asymmetricKeyType !== 'rsa')
        throw new AppKeyError(`github-app-private-key is a ${key.asymmetricKeyType ?? 'non-RSA'} key; GitHub App keys are RSA`);
    return key;
}
const b64url = (data) => Buffer.from(data).toString('base64url');
/**
 * The App's JWT (RS256, RFC 7519): `iat` 60 s in the past and `exp` 9 minutes ahead, so a
 * runner clock a minute off either way still lands inside GitHub's 10-minute window.
 */
function appJwt(appId, key, now = Date.now()) {
    const seconds = Math.floor(now / 1000);
    const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
    // A numeric App id is sent as a number; a client id (`Iv1.…`) as a string.
    const iss = /^\d+$/.test(appId) ? Number(appId) : appId;
    const payload = b64url(JSON.stringify({ iat: seconds - 60, exp: seconds + 540, iss }));
    const signature = (0,external_node_crypto_.sign)('sha256', Buffer.from(`${header}.${payload}`), key);
    return `${header}.${payload}.${b64url(signature)}`;
}
function headers(auth) {
    return {
        authorization: auth,
        accept: 'application/vnd.github+json',
        'x-github-api-version': '2022-11-28',
        'user-agent': 'airlock'
    };
}
function apiBase(apiUrl) {
    return apiUrl.replace(/\/+$/, '');
}
function message(body, secrets) {
    try {
        const m = JSON.parse(body).message;
        return typeof m === 'string' ? http_safeUpstreamText(m, secrets) : '';
    }
    catch {
        return '';
    }
}
/** The App's installation on `owner/repo`: `GET /repos/{owner}/{repo}/installation`. */
async function findRepoInstallation(opts) {
    const [owner, repo] = opts.repository.split('/');
    const res = await http_requestWithRetry(opts.fetch, `${apiBase(opts.apiUrl)}/repos/${encodeURIComponent(owner ?? '')}/${encodeURIComponent(repo ?? '')}/installation`, { headers: headers(`Bearer ${opts.jwt}`) }, opts);
    if (res.status !== 200)
        throw new GitHubAppError('installation', res.status, message(res.body, [opts.jwt]));
    const id = JSON.parse(res.body).id;
    if (typeof id !== 'number')
        throw new GitHubAppError('installation', res.status, 'no id');
    return id;
}
/**
 * `POST /app/installations/{id}/access_tokens`, narrowed to `repositories` (names, without
 * the owner) and, when given, `permissions`; without permissions the token carries all the
 * installation has.
 */
async function createInstallationToken(opts) {
    const body = { repositories: opts.repositories };
    if (opts.permissions && Object.keys(opts.permissions).length > 0)
        body.permissions = opts.permissions;
    const res = await http_requestWithRetry(opts.fetch, `${apiBase(opts.apiUrl)}/app/installations/${opts.installationId}/access_tokens`, {
        method: 'POST',
        headers: { ...headers(`Bearer ${opts.jwt}`), 'content-type': 'application/json' },
        body: JSON.stringify(body)
    }, opts);
    if (res.status !== 201)
        throw new GitHubAppError('token', res.status, message(res.body, [opts.jwt]));
    const json = JSON.parse(res.body);
    if (typeof json.token === 'string')
        opts.setSecret(json.token);
    const expiresAt = new Date(typeof json.expires_at === 'string' ? json.expires_at : '');
    if (typeof json.token !== 'string' || Number.isNaN(expiresAt.getTime()))
        throw new GitHubAppError('token', res.status, 'the answer holds no token/expires_at');
    return {
        token: json.token,
        expiresAt,
        permissions: json.permissions ?? {},
        installationId: opts.installationId
    };
}
/** The whole flow: JWT → this repository's installation → a token for this repository only. */
async function mintInstallationToken(opts) {
    const key = loadAppPrivateKey(opts.privateKey);
    const jwt = appJwt(opts.appId, key, opts.now);
    // The JWT is a credential for ten minutes: mask it like any other.
    opts.setSecret(jwt);
    const installationId = await findRepoInstallation({ ...opts, jwt });
    const repo = opts.repository.split('/')[1] ?? '';
    const args = {
        ...opts,
        installationId,
        jwt,
        repositories: [repo]
    };
    return createInstallationToken(args);
}
/**
 * `DELETE /installation/token`, authenticated with the token itself. Returns false when the
 * token was already unusable (401: expired or revoked), which is as good as revoked.
 */
async function revokeInstallationToken(opts) {
    const res = await http_requestWithRetry(opts.fetch, `${apiBase(opts.apiUrl)}/installation/token`, { method: 'DELETE', headers: headers(`Bearer ${opts.token}`) }, opts);
    if (res.status === 204)
        return true;
    if (res.status === 401)
        return false;
    throw new GitHubAppError('revoke', res.status, message(res.body, [opts.token]));
}

;// CONCATENATED MODULE: ./src/providers/github.ts




const GITHUB_API_HOSTS = ['api.github.com', 'uploads.github.com'];
const GITHUB_GIT_HOST = 'github.com';
const GITHUB_DEFAULT_API_URL = 'https://api.github.com';
/**
 * github.com keeps its API on api.github.com; GHE.com (data residency) on `api.<tenant>.ghe.com`
 * next to `<tenant>.ghe.com`; GitHub Enterprise Server serves everything from one host, the
 * API under `/api/v3` and uploads under `/api/uploads`.
 */
function githubHosts(apiUrl = GITHUB_DEFAULT_API_URL) {
    let url;
    try {
        url = new URL(apiUrl);
    }
    catch {
        url = new URL(GITHUB_DEFAULT_API_URL);
    }
    const host = url.hostname.toLowerCase();
    if (host === 'api.github.com')
        return { api: GITHUB_API_HOSTS, git: GITHUB_GIT_HOST, enterpriseServer: false };
    if (host.startsWith('api.') && !/^\/api\//.test(url.pathname)) {
        const server = host.slice('api.'.length);
        return { api: [host, `uploads.${server}`], git: server, enterpriseServer: false };
    }
    return { api: [], git: host, enterpriseServer: true };
}
/** Metadata `token_source` of an installation token minted from a GitHub App. */
const GITHUB_APP_SOURCE = 'github-app';
/**
 * GitHub: Bearer for the REST/GraphQL API, Basic `x-access-token` for git smart HTTP. The
 * token is `github-token`, or, when `github-app-id` and `github-app-private-key` are set,
 * an installation token for this repository only, narrowed to `github-app-permissions`,
 * re-minted before its hour is up and revoked when the run ends.
 */
class GitHubProvider extends ProviderDefaults {
    opts;
    name = 'github';
    constructor(opts = {}) {
        super();
        this.opts = opts;
    }
    async grant(ctx) {
        const appId = ctx.settings.githubApp.id;
        const appKey = ctx.settings.secrets['github-app-private-key'];
        if (appKey)
            maskKey(ctx, appKey);
        // The App wins over github-token: github-token defaults to the job token, always set.
        if (appId || appKey) {
            if (!appId || !appKey) {
                throw new GrantError(this.name, `no credential: \`${appId ? 'github-app-private-key' : 'github-app-id'}\` is empty`, 'Set both github-app-id and github-app-private-key to use a GitHub App (or neither, to use github-token).');
            }
            const { permissions } = ctx.settings.githubApp;
            return this.mint(ctx, appId, appKey, permissions, ctx.githubApiUrl, ctx.repository);
        }
        const [, token] = requireSecret(ctx, this.name, ['github-token'], 'Set github-token (it defaults to ${{ github.token }}), or github-app-id and github-app-private-key to mint an installation token.');
        const cred = staticCredential(this.name, token);
        // Which hosts the token is for follows GITHUB_API_URL (GitHub Enterprise).
        if (ctx.githubApiUrl && ctx.githubApiUrl !== GITHUB_DEFAULT_API_URL)
            cred.metadata = { ...cred.metadata, api_url: ctx.githubApiUrl };
        return cred;
    }
    async mint(ctx, appId, privateKey, permissions, apiUrl, repository) {
        if (!/^[^/\s]+\/[^/\s]+$/.test(repository)) {
            throw new GrantError(this.name, `cannot scope an installation token: the repository is ${repository ? `"${repository}"` : 'unknown'}`, 'Run in GitHub Actions, or set GITHUB_REPOSITORY=owner/repo for a local run.');
        }
        let minted;
        try {
            minted = await mintInstallationToken({
                apiUrl,
                appId,
                privateKey,
                repository,
                permissions,
                fetch: ctx.fetch,
                setSecret: (v) => ctx.setSecret(v),
                signal: ctx.signal,
                ...(this.opts.now ? { now: this.opts.now() } : {}),
                ...(this.opts.retry ? { retry: this.opts.retry } : {})
            });
        }
        catch (err) {
            throw this.explain(err, appId, repository, permissions, apiUrl);
        }
        return {
            provider: this.name,
            token: minted.token,
            createdAt: new Date(),
            expiresAt: minted.expiresAt,
            scopes: Object.entries(minted.permissions).map(([k, v]) => `${k}:${v}`),
            metadata: {
                [META_KEY_TOKEN_SOURCE]: GITHUB_APP_SOURCE,
                app_id: appId,
                installation_id: String(minted.installationId),
                repository,
                api_url: apiUrl,
                permissions: JSON.stringify(permissions)
            }
        };
    }
    explain(err, appId, repository, permissions, apiUrl) {
        if (err instanceof AppKeyError) {
            return new GrantError(this.name, err, "Set github-app-private-key to the App's private key (the .pem file from the App's settings), whole, BEGIN and END lines included.");
        }
        if (err instanceof GitHubAppError) {
            const owner = repository.split('/')[0] ?? '';
            let hint;
            if (err.step === 'installation' && err.status === 401) {
                hint = `GitHub rejected the App's JWT: check that github-app-id (${appId}) is the App this private key belongs to, and that the runner's clock is right.`;
            }
            else if (err.step === 'installation' && err.status === 404) {
                hint = `App ${appId} is not installed on ${repository}: install it on this repository (or on all repositories of ${owner}).`;
            }
            else if (err.step === 'token' && err.status === 422) {
                const asked = Object.entries(permissions)
                    .map(([k, v]) => `${k}:${v}`)
                    .join(', ');
                hint = `GitHub refused the permissions asked for (${asked || 'all of the installation'}): the App must hold each one at that level or higher, and the installation must have accepted them. Narrow github-app-permissions or update the App.`;
            }
            else {
                hint = `Check that App ${appId}'s installation on ${owner} is active (not suspended) and includes ${repository}.`;
            }
            return new GrantError(this.name, err, hint);
        }
        if (err instanceof GrantNetworkError) {
            return new GrantError(this.name, err, `Check that the runner can reach ${apiUrl} (GITHUB_API_URL for GitHub Enterprise Server; a proxy in HTTPS_PROXY; a gateway's CA in upstream-ca).`);
        }
        return new GrantError(this.name, err instanceof Error ? err : String(err));
    }
    canRefresh(cred) {
        return cred.metadata?.[META_KEY_TOKEN_SOURCE] === GITHUB_APP_SOURCE;
    }
    refreshInterval() {
        return REFRESH_INTERVAL_MS;
    }
    /**
     * Mints a new installation token (an installation token cannot be extended), swaps the
     * headers, then revokes the old token: every request from now on carries the new one, so
     * the old one is only a liability.
     */
    async refresh(ctx, p, cred) {
        const m = cred.metadata ?? {};
        const key = ctx.settings.secrets['github-app-private-key'];
        if (!key) {
            throw new GrantError(this.name, 'cannot re-mint the installation token: the proxy was not given github-app-private-key', 'This is a bug in how the run was started; the token expires within the hour.');
        }
        const permissions = JSON.parse(m.permissions ?? '{}');
        const next = await this.mint(ctx, m.app_id ?? ctx.settings.githubApp.id, key, permissions, m.api_url ?? ctx.githubApiUrl, m.repository ?? ctx.repository);
        this.configureProxy(p, next);
        await this.revoke(ctx, cred).catch(() => false);
        return next;
    }
    /**
     * Revokes an installation token (`DELETE /installation/token`). Tokens from `github-token`
     * are never revoked: the job token belongs to the job, and other steps still use it.
     * Returns false when there was nothing to revoke (static, already expired, or already
     * invalid).
     */
    async revoke(ctx, cred) {
        if (!this.canRefresh(cred))
            return false;
        if (cred.expiresAt && cred.expiresAt.getTime() <= Date.now())
            return false;
        return revokeInstallationToken({
            apiUrl: cred.metadata?.api_url ?? ctx.githubApiUrl,
            token: cred.token,
            fetch: ctx.fetch,
            signal: ctx.signal,
            retry: { attempts: 3, ...this.opts.retry }
        });
    }
    configureProxy(p, cred) {
        const hosts = githubHosts(cred.metadata?.api_url);
        for (const host of hosts.api)
            p.setCredentialWithGrant(host, 'Authorization', `Bearer ${cred.token}`, this.name, PLACEHOLDERS.github);
        // git smart HTTP answers 401 to Bearer; it wants Basic with any user and the token. The
        // REST API takes the same Basic form, which is what GHES gets: its API and git share one
        // host, and injection is per host.
        const basic = Buffer.from(`x-access-token:${cred.token}`).toString('base64');
        p.setCredentialWithGrant(hosts.git, 'Authorization', `Basic ${basic}`, this.name, PLACEHOLDERS.github);
    }
    hosts(cred) {
        const hosts = githubHosts(cred.metadata?.api_url);
        return [...hosts.api, hosts.git];
    }
    containerEnv(cred) {
        const hosts = githubHosts(cred.metadata?.api_url);
        // gh reads GH_TOKEN for github.com and *.ghe.com, GH_ENTERPRISE_TOKEN for any other host.
        if (hosts.git === GITHUB_GIT_HOST || hosts.git.endsWith('.ghe.com'))
            return [
                `GH_TOKEN=${PLACEHOLDERS.github}`,
                ...(hosts.git === GITHUB_GIT_HOST ? [] : [`GH_HOST=${hosts.git}`]),
                'GIT_TERMINAL_PROMPT=0'
            ];
        return [
            `GH_HOST=${hosts.git}`,
            `GH_ENTERPRISE_TOKEN=${PLACEHOLDERS.github}`,
            'GIT_TERMINAL_PROMPT=0'
        ];
    }
    impliedDependencies() {
        return ['gh', 'git'];
    }
}
/** The log masker works per line, so a PEM key is masked whole and line by line. */
function maskKey(ctx, key) {
    for (const part of maskedParts(key))
        ctx.setSecret(part);
}

;// CONCATENATED MODULE: ./src/providers/npm.ts



const NPM_REGISTRY_HOST = 'registry.npmjs.org';
/** npm: Bearer on the registry; the container gets an `.npmrc` holding a placeholder. */
class NpmProvider extends ProviderDefaults {
    name = 'npm';
    async grant(ctx) {
        const [, token] = requireSecret(ctx, this.name, ['npm-token'], 'Set npm-token to a registry token (e.g. ${{ secrets.NPM_TOKEN }}).');
        return staticCredential(this.name, token);
    }
    configureProxy(p, cred) {
        p.setCredentialWithGrant(NPM_REGISTRY_HOST, 'Authorization', `Bearer ${cred.token}`, this.name, PLACEHOLDERS.npm);
    }
    /** `GET /-/whoami`: the registry answers 401 to a token it does not accept. */
    keyCheck(cred) {
        return {
            provider: this.name,
            input: 'npm-token',
            url: `https://${NPM_REGISTRY_HOST}/-/whoami`,
            headers: { authorization: `Bearer ${cred.token}` },
            refused: (status) => status === 401,
            hint: 'Check that npm-token is a current npm access token (not revoked or expired).'
        };
    }
    hosts(_cred) {
        return [NPM_REGISTRY_HOST];
    }
    async containerMounts(_cred, containerHome, stagingDir) {
        const dir = (0,external_node_path_.join)(stagingDir, 'npm');
        await (0,promises_.mkdir)(dir, { recursive: true, mode: 0o755 });
        const file = (0,external_node_path_.join)(dir, '.npmrc');
        // npm refuses to send a token it does not have; the placeholder makes it send one for the
        // proxy to replace.
        await (0,promises_.writeFile)(file, `//${NPM_REGISTRY_HOST}/:_authToken=${PLACEHOLDERS.npm}\n`, {
            mode: 0o644
        });
        return {
            mounts: [{ source: file, target: `${containerHome}/.npmrc`, readOnly: true }],
            cleanupPath: dir
        };
    }
    async cleanup(cleanupPath) {
        await (0,promises_.rm)(cleanupPath, { recursive: true, force: true });
    }
    impliedDependencies() {
        return ['node', 'npm'];
    }
}

;// CONCATENATED MODULE: ./src/providers/index.ts









/** Registers every built-in provider and alias. Explicit, never an import side effect. */
function registerAll() {
    for (const p of [
        new GitHubProvider(),
        new ClaudeProvider(),
        new CodexProvider(),
        new GeminiProvider(),
        new AwsProvider(),
        new GcpProvider(),
        new NpmProvider(),
        new CustomProvider()
    ]) {
        register(p);
    }
    registerAlias('anthropic', 'claude');
    registerAlias('openai', 'codex');
    registerAlias('google', 'gemini');
}

// EXTERNAL MODULE: external "node:child_process"
var external_node_child_process_ = __webpack_require__(1421);
// EXTERNAL MODULE: external "node:timers/promises"
var external_node_timers_promises_ = __webpack_require__(8500);
;// CONCATENATED MODULE: ./src/daemon/start.ts





/**
 * A fresh proxy token: 32 random bytes, hex. It lives here, in the light half of the daemon's
 * wiring, because the main step needs it and must not pull the proxy (TLS, certificates, the
 * server) into its bundle.
 */
function newProxyToken() {
    return randomBytes(32).toString('hex');
}
class ProxyStartError extends AirlockError {
    constructor(message) {
        super('AIRLOCK_PROXY_START', message);
    }
}
/**
 * V8 heap sizing for the proxy process, measured (docs/benchmarks.md):
 * - young generation: V8 sizes it from the machine's memory (up to 16 MB semi-spaces on a
 *   24 GB runner); the proxy's request objects die young. With 2 MB semi-spaces, the objects
 *   of the requests in flight at 50 clients outlived two scavenges often enough that
 *   collection took ~9% of the proxy's CPU; with 8 MB ~3.5%, for ~6 MB more resident with
 *   200 idle connections (117-120 -> 124-127 MB; 16 MB bought nothing more).
 * - old generation: the proxy keeps ~13 MB live, so V8's first limits sit just above that,
 *   and relaying a large body (a few objects promoted per chunk) started a full mark-compact
 *   every ~10 MB: 8-10 per 100 MB, about a third of the proxy's CPU per MB. Starting from a
 *   64 MB limit, none run during such a transfer (download CPU per MB 4.0-4.5 -> 2.5-3.2 ms
 *   in the same runs); the resident set of a fresh proxy is unchanged (V8 reserves, it does
 *   not commit), and garbage may reach the limit before it is collected (peak after a whole
 *   benchmark +~20 MB).
 * `airlock proxy` re-runs itself with these flags (src/cli/proxy-command.ts), and the
 * benchmark reads them from here.
 */
const DAEMON_NODE_FLAGS = [
    '--max-semi-space-size=8',
    '--initial-old-space-size=64',
    // The OS trust store loaded by Node itself (Node >= 22.15), for upstreamTrust (src/proxy/dial.ts).
    ...(process.allowedNodeEnvironmentFlags.has('--use-system-ca') ? ['--use-system-ca'] : [])
];
/**
 * glibc malloc settings for the proxy process (musl and others ignore them). OpenSSL and Node
 * allocate each connection's buffers with malloc; glibc raises its trim threshold every time a
 * large block is freed, so the memory a burst of connections used stayed resident after they
 * went idle. A fixed threshold (which also fixes the mmap threshold at 128 KB) and two arenas
 * gave back 10-13 MB with 200 idle connections (118 -> 105-108 MB in `npm run bench`), and
 * cost no system calls under load (strace: no brk at 50 clients, 3 per 4 MB download).
 * Not secrets; the daemon's environment is otherwise `PATH` alone.
 */
const DAEMON_MALLOC_ENV = {
    MALLOC_ARENA_MAX: '2',
    MALLOC_TRIM_THRESHOLD_: '131072'
};
/**
 * Spawns the proxy daemon detached, with no config yet. The child gets no inherited stdio (the
 * runner would wait on those pipes) and a minimal environment (`PATH`, and the runner's job
 * tracking id, the allocator's settings): credentials travel only through the stdin pipe, and
 * only in `start`.
 */
function spawnProxyDaemon(opts) {
    const fd = openSync(opts.logFile, 'a', 0o600);
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...DAEMON_MALLOC_ENV };
    // The runner ends a job by killing every process whose environment holds the job's tracking
    // id ("Cleaning up orphan processes"): with it, a proxy that post could not stop (post never
    // ran, a self-hosted runner) dies with the job instead of outliving it with its credentials.
    // An id, not a secret.
    const tracking = process.env.RUNNER_TRACKING_ID;
    if (tracking)
        env.RUNNER_TRACKING_ID = tracking;
    let child;
    try {
        child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, opts.script], {
            detached: true,
            stdio: ['pipe', fd, fd],
            env
        });
    }
    finally {
        closeSync(fd);
    }
    const pid = child.pid;
    if (pid === undefined)
        throw new ProxyStartError('could not start the proxy process');
    opts.onSpawn?.(pid);
    let exited;
    child.once('exit', (code) => (exited = code));
    child.stdin.on('error', () => { });
    // The parent may end while the child waits (an early error): the closed pipe then tells the
    // child it is not needed, and neither the child nor its pipe keeps the parent alive.
    child.unref();
    child.stdin.unref?.();
    let handed = false;
    return {
        pid,
        cancel() {
            if (handed)
                return false;
            handed = true;
            child.stdin.end();
            return true;
        },
        async start(config, timeoutMs = 20_000) {
            if (handed)
                throw new ProxyStartError('the proxy process was already given its config');
            // Checked before it counts as handed: the caller can still cancel it.
            if (!config.readyFile)
                throw new ProxyStartError('the proxy needs a ready file');
            handed = true;
            // A ready file left by an earlier run would be taken for this one's (wrong pid and port).
            rmSync(config.readyFile, { force: true });
            rmSync(`${config.readyFile}.failed`, { force: true });
            child.stdin.end(JSON.stringify(config));
            const deadline = Date.now() + timeoutMs;
            while (Date.now() < deadline) {
                if (existsSync(config.readyFile))
                    return JSON.parse(readFileSync(config.readyFile, 'utf8'));
                if (exited !== undefined)
                    break;
                await sleep(10);
            }
            const log = existsSync(opts.logFile) ? readFileSync(opts.logFile, 'utf8').trim() : '';
            if (exited === undefined)
                child.kill('SIGKILL');
            throw new ProxyStartError(`the proxy ${exited !== undefined ? `exited (code ${exited})` : 'did not become ready in time'}${log ? `; its log:\n${log}` : ''}`);
        }
    };
}
/** Spawns the proxy daemon, hands it its config on stdin, and waits for its ready file. */
async function startProxyDaemon(config, opts) {
    // Refused before anything is spawned.
    if (!config.readyFile)
        throw new ProxyStartError('the proxy needs a ready file');
    return spawnProxyDaemon(opts).start(config, opts.timeoutMs);
}
/** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
async function stopProcess(pid, graceMs = 5000) {
    if (!alive(pid))
        return false;
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
        if (!alive(pid))
            return true;
        await (0,external_node_timers_promises_.setTimeout)(10);
    }
    if (alive(pid))
        process.kill(pid, 'SIGKILL');
    return true;
}
/**
 * True while the process exists and has not exited. An exited process whose parent died (the
 * proxy after a killed main) stays a zombie until init reaps it, and some inits are slow to:
 * it answers signals but holds nothing, so it counts as gone.
 */
function alive(pid) {
    try {
        process.kill(pid, 0);
    }
    catch {
        return false;
    }
    try {
        // /proc/<pid>/stat: "pid (comm) S ...", the comm may hold spaces and parentheses.
        const stat = (0,external_node_fs_.readFileSync)(`/proc/${pid}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
    }
    catch {
        // No /proc (not Linux): the signal test is all there is.
        return true;
    }
}

;// CONCATENATED MODULE: ./src/inputs/env-inputs.ts
/**
 * The local CLI reads credentials from the environment under the names each vendor's own
 * tools use, and maps them onto the action's input names so one code path serves both.
 */
const ENV_FOR_INPUT = {
    'anthropic-api-key': ['ANTHROPIC_API_KEY'],
    'claude-code-oauth-token': ['CLAUDE_CODE_OAUTH_TOKEN'],
    'openai-api-key': ['OPENAI_API_KEY'],
    'gemini-api-key': ['GEMINI_API_KEY'],
    'github-token': ['GITHUB_TOKEN', 'GH_TOKEN'],
    'npm-token': ['NPM_TOKEN'],
    'github-app-id': ['AIRLOCK_GITHUB_APP_ID'],
    'github-app-private-key': ['AIRLOCK_GITHUB_APP_PRIVATE_KEY'],
    'github-app-permissions': ['AIRLOCK_GITHUB_APP_PERMISSIONS'],
    'custom-credentials': ['AIRLOCK_CUSTOM_CREDENTIALS'],
    'aws-role-arn': ['AIRLOCK_AWS_ROLE_ARN'],
    'aws-region': ['AWS_REGION'],
    'gcp-workload-identity-provider': ['AIRLOCK_GCP_WORKLOAD_IDENTITY_PROVIDER'],
    'gcp-service-account': ['AIRLOCK_GCP_SERVICE_ACCOUNT']
};
function envInput(env = process.env) {
    return (name) => {
        for (const v of ENV_FOR_INPUT[name] ?? []) {
            const value = env[v]?.trim();
            if (value)
                return value;
        }
        return '';
    };
}

;// CONCATENATED MODULE: ./src/sandbox/docker.ts



class DockerError extends AirlockError {
    constructor(message) {
        super('AIRLOCK_DOCKER', message);
    }
}
/**
 * Runs the docker CLI (not the API: the CLI honours DOCKER_HOST, contexts and credential
 * helpers, and has no native dependencies to bundle). Never rejects for a non-zero exit.
 */
function docker(args, opts = {}) {
    return new Promise((resolve, reject) => {
        const child = (0,external_node_child_process_.spawn)('docker', args, {
            stdio: ['ignore', 'pipe', 'pipe'],
            env: { ...dockerEnv(process.env), DOCKER_CONTENT_TRUST: '0' }
        });
        const max = opts.maxCollect ?? 1024 * 1024;
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => {
            opts.onStdout?.(d);
            if (stdout.length < max)
                stdout += d.toString();
        });
        child.stderr.on('data', (d) => {
            opts.onStderr?.(d);
            if (stderr.length < max)
                stderr += d.toString();
        });
        const abort = () => void child.kill('SIGTERM');
        opts.signal?.addEventListener('abort', abort, { once: true });
        child.on('error', (err) => reject(new DockerError(err.code === 'ENOENT'
            ? 'the docker CLI is not installed on this runner'
            : `docker: ${err.message}`)));
        child.on('close', (code) => {
            opts.signal?.removeEventListener('abort', abort);
            resolve({ code: code ?? 1, stdout, stderr });
        });
    });
}
/**
 * The environment of the docker CLI: the step's, without its inputs, the runner's job tokens
 * and the variables the local CLI takes credentials from. The runner hands every input to the
 * step as `INPUT_<NAME>` (the API keys, the App key, `github-token` among them), `airlock run`
 * reads `ANTHROPIC_API_KEY` and the like from its environment, and the docker CLI passes its
 * environment on to what it starts (credential helpers for pulls, CLI plugins, `ssh` for an
 * ssh:// DOCKER_HOST, a wrapper a self-hosted runner put first on PATH): none of them needs a
 * secret of the run.
 */
function dockerEnv(env) {
    const out = {};
    for (const [k, v] of Object.entries(env))
        if (!/^INPUT_/i.test(k) && !JOB_TOKENS.has(k.toUpperCase()))
            out[k] = v;
    return out;
}
const JOB_TOKENS = new Set([
    'ACTIONS_RUNTIME_TOKEN',
    'ACTIONS_ID_TOKEN_REQUEST_TOKEN',
    'ACTIONS_ID_TOKEN_REQUEST_URL',
    ...Object.values(ENV_FOR_INPUT).flat()
]);
/** Throws a DockerError carrying docker's own message when the command failed. */
async function dockerOk(args, what) {
    const r = await docker(args);
    if (r.code !== 0)
        throw new DockerError(`${what} failed: ${(r.stderr || r.stdout).trim()}`);
    return r.stdout;
}
async function imageExists(image) {
    return (await docker(['image', 'inspect', '--format', '{{.Id}}', image])).code === 0;
}
/** Answers of inspections started early, each taken by the ensureImage that follows. */
const inspected = new Map();
/**
 * Starts looking for image now (it only reads), so the answer is there when the session asks
 * (ensureImage): the inspection runs beside the preflight and the grants instead of after them.
 */
function inspectImageEarly(image) {
    if (!inspected.has(image))
        inspected.set(image, imageExists(image).catch(() => false));
}
/** Pulls the image when it is not there yet. */
async function ensureImage(image) {
    const early = inspected.get(image);
    inspected.delete(image);
    if (await (early ?? imageExists(image)))
        return;
    const r = await docker(['pull', '--quiet', image]);
    if (r.code !== 0)
        throw new DockerError(`image ${image} is not on this runner and could not be pulled: ${r.stderr.trim()}`);
}
/** Removes every container carrying the run's label; returns how many there were. */
async function removeByLabel(runId) {
    const ids = (await docker(['ps', '-aq', '--filter', `label=airlock.run-id=${runId}`])).stdout
        .split('\n')
        .filter(Boolean);
    if (ids.length > 0)
        await docker(['rm', '-f', ...ids]);
    return ids.length;
}

;// CONCATENATED MODULE: ./src/sandbox/staging.ts




/** Paths inside the container; the staging directory is mounted read-only at /airlock/staging. */
const staging_CONTAINER = {
    staging: '/airlock/staging',
    node: '/airlock/node',
    socket: '/airlock/proxy.sock',
    init: '/airlock/staging/init.mjs',
    caCert: '/airlock/staging/ca.pem',
    caBundle: '/airlock/staging/ca-bundle.pem',
    home: '/home/airlock',
    workspace: '/workspace'
};
/** The port the in-container forwarder listens on (loopback only, inside the container). */
const FORWARDER_PORT = 3128;
/**
 * Writes the non-secret files the container reads: the init program and the CA trust files.
 * `ca.pem` is written by the proxy daemon itself (certificate only; the key never leaves it).
 */
async function writeStaging(stagingDir, caCertPem) {
    await mkdir(stagingDir, { recursive: true, mode: 0o755 });
    await writeFile(join(stagingDir, 'init.mjs'), INIT_SCRIPT, { mode: 0o644 });
    // Variables like SSL_CERT_FILE replace the system store, so they get the public roots too.
    const bundle = [...tls.rootCertificates, caCertPem.trim()].join('\n') + '\n';
    await writeFile(join(stagingDir, 'ca-bundle.pem'), bundle, { mode: 0o644 });
}
/** The environment the container starts with: built from scratch, nothing from the runner. */
function sandboxEnv(opts) {
    const proxy = `http://airlock:${opts.proxyToken}@127.0.0.1:${FORWARDER_PORT}`;
    const git = [
        ['safe.directory', staging_CONTAINER.workspace],
        ...(opts.workspaceAlias ? [['safe.directory', opts.workspaceAlias]] : []),
        // git sends proxy credentials only after a 407 unless told to use Basic up front.
        ['http.proxyAuthMethod', 'basic']
    ];
    const env = {
        ...opts.user,
        HOME: staging_CONTAINER.home,
        PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        // After HOME and PATH, before everything the proxy and CA trust need: the runner's
        // variables are toolchain names only (HOME stays the private one, PATH is the job's).
        ...opts.runner,
        HTTP_PROXY: proxy,
        HTTPS_PROXY: proxy,
        http_proxy: proxy,
        https_proxy: proxy,
        NO_PROXY: '',
        no_proxy: '',
        NODE_USE_ENV_PROXY: '1',
        NODE_EXTRA_CA_CERTS: staging_CONTAINER.caCert,
        SSL_CERT_FILE: staging_CONTAINER.caBundle,
        REQUESTS_CA_BUNDLE: staging_CONTAINER.caBundle,
        CURL_CA_BUNDLE: staging_CONTAINER.caBundle,
        GIT_SSL_CAINFO: staging_CONTAINER.caBundle,
        AWS_CA_BUNDLE: staging_CONTAINER.caBundle,
        GIT_TERMINAL_PROMPT: '0',
        GIT_CONFIG_COUNT: String(git.length),
        AIRLOCK_PROXY_SOCKET: staging_CONTAINER.socket,
        AIRLOCK_PROXY_PORT: String(FORWARDER_PORT),
        AIRLOCK: '1'
    };
    git.forEach(([k, v], i) => {
        env[`GIT_CONFIG_KEY_${i}`] = k;
        env[`GIT_CONFIG_VALUE_${i}`] = v;
    });
    for (const pair of opts.extra) {
        const eq = pair.indexOf('=');
        if (eq > 0)
            env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

;// CONCATENATED MODULE: ./src/sandbox/git-credentials.ts





/** Git configs larger than this are not configs a checkout wrote; read no more. */
const MAX_CONFIG_BYTES = (/* unused pure expression or super */ null && (4 * 1024 * 1024));
/**
 * actions/checkout persists the job token in the repository's git config: an
 * `http.<url>.extraheader` (v4 and older), or (v5+) an `includeIf "gitdir:…"` whose `path`
 * is a credentials file under RUNNER_TEMP; with `submodules: true` in every
 * `.git/modules/<name>/config` too, and a nested checkout (`path:`) has its own `.git`. The
 * container must read none of it, and nothing Airlock does may depend on restoring a file the
 * agent could have replaced: so the originals are never touched. Each config that holds
 * credentials gets a cleaned copy in the private run directory, bind-mounted read-only over
 * it (a mount point cannot be renamed over, unlinked or linked to from inside). Returns the
 * mounts and what was hidden.
 *
 * `configs` are the git configs the workspace walk found (inside `.git` directories), and
 * `gitFiles` the `.git` files (gitlinks): their gitdir, when inside the workspace, is added.
 */
async function hideGitCredentials(workspace, privateDir, configs, gitFiles) {
    const root = realpathSync(workspace);
    const all = new Set(configs);
    for (const f of gitFiles)
        for (const c of gitlinkConfigs(root, f))
            all.add(c);
    const hidden = [];
    const mounts = [];
    const visible = [];
    let n = 0;
    for (const rel of [...all].sort()) {
        const file = readNoFollow(join(root, rel));
        if (!file)
            continue;
        const cleaned = stripCredentials(file.text);
        visible.push({ rel, text: cleaned });
        if (cleaned === file.text)
            continue;
        if (n === 0)
            await mkdir(join(privateDir, 'git-config'), { mode: 0o700 });
        const copy = join(privateDir, 'git-config', `${n++}.config`);
        writeFileSync(copy, cleaned, { mode: 0o600, flag: 'wx' });
        hidden.push({ rel, copy, cleaned, fingerprint: file.fingerprint });
        mounts.push({
            source: copy,
            target: `${CONTAINER.workspace}/${rel.split(sep).join('/')}`,
            readOnly: true
        });
    }
    return { mounts, hidden, visible };
}
/**
 * The hidden configs that are no longer the file they were before the run (replaced,
 * linked, changed, gone): the container cannot write through the read-only mount, so any of
 * these means something went around it, and is reported.
 */
function tamperedGitConfigs(workspace, hidden) {
    return hidden
        .filter((h) => readNoFollow(join(workspace, h.rel))?.fingerprint !== h.fingerprint)
        .map((h) => h.rel);
}
/** The config files of the gitdir a `.git` file points to, when that gitdir is in the workspace. */
function gitlinkConfigs(root, gitFile) {
    const file = readNoFollow(join(root, gitFile));
    const m = file && /^gitdir:\s*(.+?)\s*$/m.exec(file.text);
    if (!m)
        return [];
    const gitdir = resolve(dirname(join(root, gitFile)), m[1]);
    let real;
    try {
        real = realpathSync(gitdir);
    }
    catch {
        return [];
    }
    const rel = relative(root, real);
    if (!rel || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel))
        return [];
    return [join(rel, 'config'), join(rel, 'config.worktree')];
}
/**
 * Reads a regular file without following a link at its last component and without blocking
 * on a FIFO; undefined when it is anything else or unreadable.
 */
function readNoFollow(path) {
    let fd;
    try {
        fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    }
    catch {
        return undefined;
    }
    try {
        const st = fstatSync(fd);
        if (!st.isFile() || st.size > MAX_CONFIG_BYTES)
            return undefined;
        const buf = Buffer.alloc(st.size);
        let got = 0;
        while (got < buf.length) {
            const r = readSync(fd, buf, got, buf.length - got, null);
            if (r === 0)
                break;
            got += r;
        }
        const text = buf.subarray(0, got).toString('utf8');
        const hash = createHash('sha256').update(buf.subarray(0, got)).digest('hex');
        return { text, fingerprint: `${st.dev}:${st.ino}:${hash}` };
    }
    finally {
        closeSync(fd);
    }
}
/**
 * Drops what carries or leads to credentials: `extraheader` keys (any section, any case,
 * wherever on a line), whole `[include]` / `[includeIf …]` sections (checkout v5+ keeps
 * the token in the file such a section names; the container must not resolve it), whole
 * `[credential …]` sections, and the userinfo of every URL.
 *
 * The last two are credentials no step of Airlock's knows, so the workspace search cannot
 * find them: a developer's clone (`airlock run` in it) or a step's `git remote set-url` with
 * a token in the remote URL (`https://x-access-token:<PAT>@github.com/…`, or the token alone
 * as the user name, which GitHub accepts), and a credential helper written inline
 * (`!f() { echo password=<PAT>; }; f`) or pointing at a store file. Inside the sandbox git
 * needs neither: the proxy injects the granted credential.
 */
function stripCredentials(text) {
    const out = [];
    let inDropped = false;
    for (const line of text.split('\n')) {
        const header = /^\s*\[([^\]]*)\]/.exec(line);
        if (header)
            inDropped = /^\s*(include(if)?|credential)\b/i.test(header[1]);
        if (inDropped)
            continue;
        if (/extraheader/i.test(line))
            continue;
        out.push(line.replace(URL_USERINFO, '$1'));
    }
    return out.join('\n');
}
/** `scheme://userinfo@`: the userinfo (user, or user:password) of a URL anywhere on a line. */
const URL_USERINFO = /([a-z][a-z0-9+.-]*:\/\/)[^\s/@"\\]+@/gi;
/**
 * Restores `backupPath` to `configPath` (state from a main that still rewrote the config in
 * place) without ever following a link: the parent must be a real directory (no symlink on
 * the way), the current file a regular file or absent, and the bytes go to a new file created
 * exclusively beside it and renamed over it, so nothing is written anywhere else.
 * Returns false (and writes nothing) when the file was replaced by something else.
 */
function restoreGitCredentials(configPath, backupPath) {
    const parent = (0,external_node_path_.dirname)(configPath);
    try {
        if ((0,external_node_fs_.realpathSync)(parent) !== (0,external_node_path_.resolve)(parent) || !(0,external_node_fs_.lstatSync)(parent).isDirectory())
            return false;
    }
    catch {
        return false;
    }
    try {
        if (!(0,external_node_fs_.lstatSync)(configPath).isFile())
            return false;
    }
    catch (err) {
        if (err.code !== 'ENOENT')
            return false;
    }
    const content = (0,external_node_fs_.readFileSync)(backupPath);
    const tmp = (0,external_node_path_.join)(parent, `.airlock-restore-${(0,external_node_crypto_.randomBytes)(6).toString('hex')}`);
    const fd = (0,external_node_fs_.openSync)(tmp, external_node_fs_.constants.O_WRONLY | external_node_fs_.constants.O_CREAT | external_node_fs_.constants.O_EXCL | external_node_fs_.constants.O_NOFOLLOW, 0o644);
    try {
        (0,external_node_fs_.writeSync)(fd, content);
    }
    finally {
        (0,external_node_fs_.closeSync)(fd);
    }
    try {
        (0,external_node_fs_.renameSync)(tmp, configPath);
    }
    catch (err) {
        (0,external_node_fs_.unlinkSync)(tmp);
        throw err;
    }
    return true;
}

;// CONCATENATED MODULE: ./src/sandbox/git-exec-guard.ts
/**
 * Sandbox → runner through git. With a writable workspace the agent can write settings that
 * make git run a program — `core.fsmonitor`, `core.hooksPath`, a filter driver, an alias
 * with `!` — or drop a hook into `.git/hooks`. None of that runs in the sandbox; it runs the
 * next time a later step of the job calls `git status` or `git commit` on the runner, with
 * the job's token, secrets and OIDC at hand. Settings that only say where git connects (a URL
 * rewrite, a push URL, a proxy, TLS verification) hand that later step's credentials to
 * whoever the agent names. So Airlock remembers each git directory's executable and
 * credential-routing settings and hooks before the container starts, and when it has ended takes
 * back whatever the run added or changed: the setting is unset (its earlier values put
 * back), the hook renamed out of git's reach. Each one is reported.
 *
 * Nothing here follows a link: configs and hooks directories are read and changed only when
 * they are what they look like (a regular file, a real directory inside the workspace).
 */




/**
 * Keys whose value git runs as a program (or that point git at files or programs that it
 * then runs). `alias.*` counts only when its value starts with `!`.
 */
const EXEC_KEY = new RegExp('^(' +
    [
        'core\\.(fsmonitor|hookspath|sshcommand|pager|editor|askpass|gitproxy|attributesfile)',
        'sequence\\.editor',
        'diff\\.external',
        'diff\\..+\\.(command|textconv)',
        'difftool\\..+\\.cmd',
        'mergetool\\..+\\.cmd',
        'filter\\..+\\.(clean|smudge|process)',
        'merge\\..+\\.driver',
        'credential\\.helper',
        'credential\\..+\\.helper',
        'gpg\\.program',
        'gpg\\..+\\.program',
        // Run by `git commit` when commits are signed with SSH and no key is named.
        'gpg\\.ssh\\.defaultkeycommand',
        // Run by fetch and push when the repository has alternates; by auto gc; by `add -p`;
        // by trailers (`commit --trailer`); by `help --web` and `send-email`.
        'core\\.alternaterefscommand',
        'gc\\.recentobjectshook',
        'interactive\\.difffilter',
        'trailer\\..+\\.(cmd|command)',
        '(browser|man)\\..+\\.cmd',
        'sendemail\\.(.+\\.)?(smtpserver|tocmd|cccmd|headercmd)',
        'uploadpack\\.packobjectshook',
        'include\\.path',
        'includeif\\..+\\.path',
        'remote\\..+\\.(uploadpack|receivepack)',
        'protocol\\..+\\.allow',
        'pager\\..+',
        'submodule\\..+\\.update',
        'alias\\..+'
    ].join('|') +
    ')$', 'i');
/**
 * Keys that run nothing but decide where git sends the credentials a later step pushes or
 * fetches with (a token in the URL, a credential helper, `GIT_ASKPASS`): a URL rewrite
 * (`url.<attacker>.insteadOf = https://x-access-token:` hands over the token in the URL
 * itself), another remote or push URL, a proxy (with TLS verification off, or a CA or an
 * address the agent chose, it reads every header, the job token's among them). The agent
 * cannot reach the job token; a later step's git would carry it to the agent's server. Also
 * those that decide what a later step's git reads and what its push writes with that token
 * (the work tree, push refspecs and upstreams).
 */
const ROUTE_KEY = new RegExp('^(' +
    [
        'url\\..+\\.(insteadof|pushinsteadof)',
        // Where the work tree is (relative to .git: `../../..` is the runner's work directory,
        // RUNNER_TEMP in it): a later step's `git add -A && git commit && git push` publishes
        // the files there, checkout's credentials file among them.
        'core\\.worktree',
        // Which refs a later step's plain `git push` writes with its token: a refspec
        // (`+refs/heads/evil:refs/heads/main` force-pushed the agent's branch onto main), a
        // mirror, another upstream or push remote for a branch, the push mode.
        'remote\\..+\\.(push|mirror)',
        'remote\\.pushdefault',
        'branch\\..+\\.(remote|pushremote|merge)',
        'push\\.default',
        'remote\\..+\\.(url|pushurl|proxy)',
        // Copied there by `submodule init` and never overwritten: `submodule update` clones
        // from it with the credentials its askpass or helper hands out.
        'submodule\\..+\\.url',
        // Where git-lfs sends a later step's `git lfs pull`/`push`, with the credentials git
        // hands it for that host, and how it authenticates there.
        'lfs\\.(url|pushurl)',
        'lfs\\..+\\.access',
        'remote\\..+\\.(lfsurl|lfspushurl)',
        'http\\.(.+\\.)?(proxy|sslverify|sslcainfo|sslcapath|proxysslcainfo|curloptresolve|sslbackend)',
        // A cookie jar git writes after every request: a path the agent chose (a runner file)
        // is overwritten by a later step's fetch.
        'http\\.(.+\\.)?(cookiefile|savecookies)'
    ].join('|') +
    ')$', 'i');
/** git with no system or global config of its own: only the file named is read. */
const GIT_ENV = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    HOME: '/nonexistent'
};
/** The largest config listing read; a config beyond it is moved aside (fail closed). */
const MAX_LISTING_BYTES = 64 * 1024 * 1024;
/** The log line for a finding (plain text: the caller makes it safe for its log). */
function findingLine(f) {
    return `${f.path}: ${f.what} (${f.route ? "git would have sent a later step's credentials where it says" : 'git would have run it'} on the runner in later steps of this job)`;
}
/** Writes a snapshot (private to the runner: 0600) for a later process to revert from. */
function saveGitExecSnapshot(s, file) {
    const json = {
        workspace: s.workspace,
        dirs: s.dirs.map((d) => ({ ...d, configs: [...d.configs], hooks: [...d.hooks] })),
        ...(s.rootEntry !== undefined ? { rootEntry: s.rootEntry } : {}),
        gitlinks: [...s.gitlinks],
        modules: [...s.modules],
        ...(s.nested ? { nested: [...s.nested] } : {})
    };
    writeFileSync(file, JSON.stringify(json), { mode: 0o600, flag: 'wx' });
}
/** Reads what {@link saveGitExecSnapshot} wrote. */
function loadGitExecSnapshot(file) {
    const j = JSON.parse((0,external_node_fs_.readFileSync)(file, 'utf8'));
    return {
        workspace: j.workspace,
        dirs: j.dirs.map((d) => ({ ...d, configs: new Map(d.configs), hooks: new Map(d.hooks) })),
        ...(j.rootEntry !== undefined ? { rootEntry: j.rootEntry } : {}),
        gitlinks: new Map(j.gitlinks),
        modules: new Set(j.modules),
        ...(j.nested ? { nested: new Map(j.nested) } : {})
    };
}
/** The git directories of the workspace: the root's, and those of the configs the scan found. */
function gitDirs(workspace, configs) {
    const dirs = new Set();
    if (isRealDir(join(workspace, '.git')))
        dirs.add(join(workspace, '.git'));
    for (const rel of configs) {
        const abs = join(workspace, rel);
        const dir = abs.replace(/\/(config|config\.worktree)$/, '');
        if (dir !== abs && isRealDir(dir))
            dirs.add(dir);
    }
    return [...dirs].sort();
}
function isRealDir(path) {
    try {
        return (0,external_node_fs_.lstatSync)(path).isDirectory();
    }
    catch {
        return false;
    }
}
function isRegularFile(path) {
    try {
        return (0,external_node_fs_.lstatSync)(path).isFile();
    }
    catch {
        return false;
    }
}
/**
 * Undefined when git cannot list the file: one git refuses to parse, or a listing larger than
 * this process takes (`maxBuffer`). Read as empty, such a file hid every setting in it from
 * the guard, while git in a later step parses it whole (a config padded past the 1 MiB
 * default, `core.fsmonitor` first, was left in place and ran).
 */
function execEntries(file) {
    if (!isRegularFile(file))
        return [];
    let out;
    try {
        // `-f` reads that one file and follows no include; reading runs nothing.
        out = (0,external_node_child_process_.execFileSync)('git', ['config', '-f', file, '--list', '--null'], {
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'ignore'],
            env: GIT_ENV,
            maxBuffer: MAX_LISTING_BYTES
        });
    }
    catch (err) {
        // No git on this runner: no later step runs git either.
        if (err.code === 'ENOENT')
            return [];
        return undefined;
    }
    return (out
        .split('\0')
        .filter(Boolean)
        .map((item) => {
        const nl = item.indexOf('\n');
        return nl < 0 ? [item, ''] : [item.slice(0, nl), item.slice(nl + 1)];
    })
        .filter(([k, v]) => ROUTE_KEY.test(k) || (EXEC_KEY.test(k) && (!/^alias\./i.test(k) || v.startsWith('!'))))
        // As git prints it: section and name lower case, the subsection exactly as written. A
        // subsection is case-sensitive (`filter.X.clean` is what `filter=X` runs), so a key
        // folded to lower case would name another setting, and `--unset-all` would leave this one.
        .map(([k, v]) => `${k}\0${v}`));
}
function hookHashes(dir) {
    const out = new Map();
    const hooks = (0,external_node_path_.join)(dir, 'hooks');
    if (!isRealDir(hooks))
        return out;
    for (const name of (0,external_node_fs_.readdirSync)(hooks)) {
        if (name.endsWith('.sample') || name.includes('.airlock-quarantined'))
            continue;
        const id = hookIdentity((0,external_node_path_.join)(hooks, name));
        if (id !== undefined)
            out.set(name, id);
    }
    return out;
}
/** Hooks larger than this are known by their metadata, never read whole. */
const MAX_HOOK_BYTES = 16 * 1024 * 1024;
/**
 * What a hook is: its mode and content hash, or, when its content cannot be read, its
 * metadata. A hook the guard skipped because it could not read it stayed in place for git
 * to run: one made sparse past 2 GiB (Node reads no file that large into a buffer, and one
 * just under it costs gigabytes of memory), or one with mode 0111 (git executes a binary it
 * cannot read; so does the kernel). The metadata holds the change time, which every write,
 * chmod and rename sets and no unprivileged process can set back (unlike the modification
 * time): a hook the run wrote never looks like the one before. Undefined when it is gone.
 */
function hookIdentity(path) {
    let st;
    try {
        st = (0,external_node_fs_.lstatSync)(path, { bigint: true });
    }
    catch {
        // gone between the listing and the look: nothing for git to run either
        return undefined;
    }
    if (!st.isFile())
        return `link-or-other:${st.mode}`;
    const meta = `${st.mode}:${st.size}:${st.ino}:${st.ctimeNs}`;
    if (st.size > MAX_HOOK_BYTES)
        return `unread:${meta}`;
    try {
        return `${st.mode}:${(0,external_node_crypto_.createHash)('sha256').update((0,external_node_fs_.readFileSync)(path)).digest('hex')}`;
    }
    catch {
        return `unreadable:${meta}`;
    }
}
function stateOf(dir) {
    const configs = new Map();
    for (const name of ['config', 'config.worktree'])
        configs.set(name, execEntries(join(dir, name)) ?? []);
    return {
        dir,
        real: realpathSync(dir),
        commondir: exists(join(dir, 'commondir')),
        configs,
        hooks: hookHashes(dir)
    };
}
function exists(path) {
    try {
        (0,external_node_fs_.lstatSync)(path);
        return true;
    }
    catch {
        return false;
    }
}
/**
 * Gives a directory its owner's write and search permission back (never through a link). The
 * agent runs as this same uid and can take them away (`chmod 555 .git`): git then cannot
 * rewrite the config, nor can a hook be renamed, and what the guard could not take back would
 * stay for git to run in a later step.
 */
function ownerWritable(dir) {
    try {
        const st = (0,external_node_fs_.lstatSync)(dir);
        if (st.isDirectory() && (st.mode & 0o700) !== 0o700)
            (0,external_node_fs_.chmodSync)(dir, (st.mode & 0o7777) | 0o700);
    }
    catch {
        // gone, or not ours: a take-back that still fails is moved aside or reported
    }
}
/**
 * Moves an entry (never what a link points to) out of git's way, under a name no one chose.
 * Returns where it went (as text, for the log).
 */
function moveAside(path) {
    const suffix = `.airlock-quarantined-${(0,external_node_crypto_.randomBytes)(4).toString('hex')}`;
    const target = typeof path === 'string' ? `${path}${suffix}` : Buffer.concat([path, Buffer.from(suffix)]);
    try {
        (0,external_node_fs_.renameSync)(path, target);
        return target.toString();
    }
    catch (err) {
        if (err.code !== 'ENAMETOOLONG')
            throw err;
    }
    // A name near the 255-byte limit (a submodule's name under .git/modules) cannot take the
    // suffix: the entry stayed where git would use it. It gets a short name of its own instead.
    const dir = (0,external_node_path_.dirname)(typeof path === 'string' ? path : path.toString('latin1'));
    const short = (0,external_node_path_.join)(dir, suffix);
    (0,external_node_fs_.renameSync)(path, typeof path === 'string' ? short : Buffer.from(short, 'latin1'));
    return typeof path === 'string' ? short : Buffer.from(short, 'latin1').toString();
}
/**
 * Paths as git and the file system know them: bytes. A name need not be UTF-8 (`evil\377`);
 * Node decodes one that is not into a string that names nothing on disk, so a repository the
 * run made under such a name at a gitlink or under `.git/modules` was never found, and git in
 * a later step entered it. These paths are kept as latin1 strings (one character per byte) and
 * handed to the file system as the bytes they are.
 */
const asBytes = (path) => Buffer.from(path, 'utf8').toString('latin1');
const onDisk = (bytes) => Buffer.from(bytes, 'latin1');
/** Remembers, before the container starts, what git would run in each git directory. */
function snapshotGitExec(workspace, configs) {
    const snapshot = {
        workspace,
        dirs: gitDirs(workspace, configs).map(stateOf),
        // Unread before the run: none known, so every populated gitlink after it is moved aside.
        gitlinks: gitlinkRepos(workspace) ?? new Map(),
        modules: moduleDirs(workspace).dirs
    };
    const root = join(workspace, '.git');
    if (!isRealDir(root))
        snapshot.rootEntry = entryDigest(root);
    const nested = nestedGitEntries(workspace);
    if (nested.complete)
        snapshot.nested = nested.found;
    return snapshot;
}
/** How many entries the walk for nested repositories reads (directories are all it opens). */
const MAX_WALK_ENTRIES = 1_000_000;
/**
 * Every `.git` (a directory, a gitfile, a link) in a directory below the workspace root, by
 * what it is, with paths as bytes; never inside a `.git`, never through a link. Git run in a
 * directory of the workspace (a later step's `working-directory: app`) looks for `.git` there
 * first: a repository the run made in `app/`, or a gitfile there naming one it made elsewhere
 * in the workspace, was never snapshotted, and its settings and hooks ran on the runner.
 */
function nestedGitEntries(workspace) {
    const found = new Map();
    const root = asBytes(workspace);
    const stack = [root];
    let entries = 0;
    while (stack.length > 0) {
        const dir = stack.pop();
        let list;
        try {
            list = (0,external_node_fs_.readdirSync)(onDisk(dir), { withFileTypes: true, encoding: 'buffer' });
        }
        catch {
            continue;
        }
        for (const d of list) {
            if (++entries > MAX_WALK_ENTRIES)
                return { found, complete: false };
            const name = d.name.toString('latin1');
            const path = `${dir}/${name}`;
            if (name === '.git') {
                if (dir !== root)
                    found.set(path, gitEntryId(onDisk(path)));
                // A `.git` directory is the repository's: its own guard covers what git reads there.
                continue;
            }
            // The entry's own type (readdir's): a link to a directory is not walked.
            if (d.isDirectory())
                stack.push(path);
        }
    }
    return { found, complete: true };
}
/**
 * Each gitlink of the root repository's index (mode 160000) that holds a `.git`, by that
 * entry's identity (a directory by its inode, a gitfile by its bytes). The index is the
 * agent's to write (`git add` of a repository it made): `git status` in a later step then
 * runs git inside that repository, which obeys its own config (`core.fsmonitor`) and hooks.
 * Only gitlinks whose directory really lies inside the workspace count: git would enter
 * nothing else the agent made.
 */
function gitlinkRepos(workspace) {
    const out = new Map();
    const gitDir = (0,external_node_path_.join)(workspace, '.git');
    if (!isRealDir(gitDir))
        return out;
    let listing;
    try {
        // The index read with the git directory alone: no work tree, so nothing is refreshed and
        // no fsmonitor runs (and the settings that would run one are taken back before this).
        listing = (0,external_node_child_process_.execFileSync)('git', ['-c', 'core.fsmonitor=false', '--git-dir', gitDir, 'ls-files', '--stage', '-z'], { stdio: ['ignore', 'pipe', 'ignore'], env: GIT_ENV, maxBuffer: MAX_LISTING_BYTES }).toString('latin1');
    }
    catch {
        // Unread (an index listed past MAX_LISTING_BYTES): the caller decides how to fail closed.
        return undefined;
    }
    let root;
    try {
        // The native realpath: the JS one decodes a Buffer path to a string first (lossy).
        root = external_node_fs_.realpathSync
            .native(onDisk(asBytes(workspace)), { encoding: 'buffer' })
            .toString('latin1');
    }
    catch {
        return out;
    }
    for (const entry of listing.split('\0')) {
        const m = /^160000 [0-9a-f]+ \d\t(.+)$/s.exec(entry);
        if (!m)
            continue;
        let dir;
        try {
            dir = external_node_fs_.realpathSync
                .native(onDisk((0,external_node_path_.join)(root, m[1])), { encoding: 'buffer' })
                .toString('latin1');
        }
        catch {
            continue;
        }
        if (dir === root || !dir.startsWith(`${root}/`))
            continue;
        const id = gitEntryId(onDisk((0,external_node_path_.join)(dir, '.git')));
        if (id !== 'absent')
            out.set(dir, id);
    }
    return out;
}
/**
 * The git directories under the root repository's `.git/modules` (each holds a HEAD; a name
 * with `/` makes directories between; a submodule's own submodules live in its `modules`).
 * `git submodule update --init` in a later step takes the one named like a submodule as it
 * is, checks the submodule out from it and runs its hooks: one the run made there (with a
 * gitlink and a `.gitmodules` entry naming it) was never snapshotted. Bounded (a module tree
 * is small): `complete` is false when the bound was reached.
 */
function moduleDirs(workspace) {
    const out = new Set();
    let complete = true;
    const visit = (dir, depth) => {
        if (!isRealDir(onDisk(dir)))
            return;
        if (depth > 16 || out.size >= MAX_MODULE_DIRS) {
            complete = false;
            return;
        }
        let names;
        try {
            names = (0,external_node_fs_.readdirSync)(onDisk(dir), { encoding: 'buffer' }).map((n) => n.toString('latin1'));
        }
        catch {
            return;
        }
        if (names.includes('HEAD')) {
            out.add(dir);
            visit((0,external_node_path_.join)(dir, 'modules'), depth + 1);
            return;
        }
        for (const n of names)
            visit((0,external_node_path_.join)(dir, n), depth + 1);
    };
    visit((0,external_node_path_.join)(asBytes(workspace), '.git', 'modules'), 0);
    return { dirs: out, complete };
}
/** How many git directories under `.git/modules` the guard reads. */
const MAX_MODULE_DIRS = 4096;
/** What a path is, without following it: absent, a file's bytes, a link's target. */
function entryDigest(path) {
    try {
        const st = (0,external_node_fs_.lstatSync)(path);
        const body = st.isFile()
            ? (0,external_node_fs_.readFileSync)(path)
            : st.isSymbolicLink()
                ? (0,external_node_fs_.readlinkSync)(path, { encoding: 'buffer' })
                : Buffer.alloc(0);
        return `${st.mode}:${(0,external_node_crypto_.createHash)('sha256').update(body).digest('hex')}`;
    }
    catch {
        return 'absent';
    }
}
/**
 * A `.git` entry by identity: a directory (a repository) by its inode, a gitfile or a link by
 * {@link entryDigest}; 'absent' when there is none.
 */
function gitEntryId(path) {
    try {
        const st = (0,external_node_fs_.lstatSync)(path);
        if (st.isDirectory())
            return `dir:${st.ino}`;
    }
    catch {
        return 'absent';
    }
    return entryDigest(path);
}
/**
 * After the container ended: takes back every executable setting and hook the run added or
 * changed in the git directories known before it, and returns what it took back.
 */
function revertGitExec(snapshot) {
    const findings = [];
    const rel = (p) => (0,external_node_path_.relative)(snapshot.workspace, p) || '.';
    /** `p` a path, or one as bytes (a latin1 string) when `bytes`. */
    const aside = (p, why, bytes = false) => {
        const path = bytes ? onDisk(p) : p;
        const shown = bytes ? onDisk(p).toString() : p;
        try {
            ownerWritable(bytes ? onDisk((0,external_node_path_.dirname)(p)) : (0,external_node_path_.dirname)(p));
            const to = moveAside(path);
            findings.push({ path: rel(shown), what: `${why}; moved aside to ${rel(to)}` });
        }
        catch {
            findings.push({ path: rel(shown), what: `${why}; could not move it aside` });
        }
    };
    // No git directory at the workspace root before the run, and one (or another gitfile) now:
    // the agent's repository, whose settings and hooks git in a later step run there (a
    // `working-directory` of this same path) would obey, and which was never snapshotted.
    // Fail closed, as for a replaced one: moved out of git's reach.
    const root = (0,external_node_path_.join)(snapshot.workspace, '.git');
    if (snapshot.rootEntry !== undefined && entryDigest(root) !== snapshot.rootEntry)
        aside(root, 'a git directory (or gitfile) the run made at the workspace root');
    for (const before of snapshot.dirs) {
        // The git directory itself replaced (by a gitfile or a link to a repository of the
        // agent's making): git would read that one's config. Fail closed: no repository.
        let real;
        try {
            real = isRealDir(before.dir) ? (0,external_node_fs_.realpathSync)(before.dir) : undefined;
        }
        catch {
            real = undefined;
        }
        if (real !== before.real) {
            if (exists(before.dir))
                aside(before.dir, 'the git directory was replaced during the run');
            continue;
        }
        ownerWritable(before.dir);
        ownerWritable((0,external_node_path_.join)(before.dir, 'hooks'));
        if (!before.commondir && exists((0,external_node_path_.join)(before.dir, 'commondir')))
            aside((0,external_node_path_.join)(before.dir, 'commondir'), 'commondir (another config for git to read) appeared');
        for (const [name, old] of before.configs) {
            const file = (0,external_node_path_.join)(before.dir, name);
            if (exists(file) && !isRegularFile(file)) {
                aside(file, `${name} was replaced by a link or another kind of file`);
                continue;
            }
            const now = execEntries(file);
            if (now === undefined) {
                aside(file, `${name} cannot be read whole (git refuses it, or it is too large)`);
                continue;
            }
            const added = now.filter((e) => !old.includes(e));
            if (added.length === 0)
                continue;
            for (const key of new Set(added.map((e) => e.split('\0')[0]))) {
                // Unset every value of the key, then put back what was there before the run.
                const git = (args) => {
                    (0,external_node_child_process_.execFileSync)('git', ['config', '-f', file, ...args], { stdio: 'ignore', env: GIT_ENV });
                };
                try {
                    git(['--unset-all', key]);
                    for (const e of old.filter((x) => x.startsWith(`${key}\0`)))
                        git(['--add', key, e.slice(key.length + 1)]);
                    findings.push({
                        path: rel(file),
                        what: `removed ${key}, which the run set`,
                        ...(ROUTE_KEY.test(key) ? { route: true } : {})
                    });
                }
                catch {
                    // Left in place it would run: the whole file goes out of git's reach instead.
                    aside(file, `could not remove ${key}, which the run set`);
                    break;
                }
            }
        }
        const hooksDir = (0,external_node_path_.join)(before.dir, 'hooks');
        if (exists(hooksDir) && !isRealDir(hooksDir)) {
            aside(hooksDir, 'the hooks directory was replaced by a link or a file');
            continue;
        }
        for (const [name, digest] of hookHashes(before.dir)) {
            if (before.hooks.get(name) === digest)
                continue;
            aside((0,external_node_path_.join)(before.dir, 'hooks', name), `the run ${before.hooks.has(name) ? 'changed' : 'added'} the hook ${name}`);
        }
    }
    // Repositories the run put at a gitlink of the index (or swapped in for one there before):
    // never snapshotted, and git in a later step enters them. Fail closed: moved aside. Read
    // after the root's settings are taken back (the listing is git reading that config).
    const modules = isRealDir(root) ? moduleDirs(snapshot.workspace) : undefined;
    if (modules && !modules.complete)
        // More than the guard reads: one it did not read could be the agent's. Fail closed.
        aside((0,external_node_path_.join)(root, 'modules'), 'more submodule repositories than the guard reads');
    else if (modules)
        for (const dir of modules.dirs)
            if (!snapshot.modules.has(dir))
                aside(dir, 'a submodule repository the run made under .git/modules (git submodule update would use it)', true);
    // Repositories the run made in a directory of the workspace (after the gitlinks: one the run
    // put at a gitlink is taken back there already). Known only when the walk before the run
    // read the whole workspace; a walk cut short now leaves the rest unread, and says so.
    const nested = snapshot.nested ? nestedGitEntries(snapshot.workspace) : undefined;
    const gitlinks = isRealDir(root) ? gitlinkRepos(snapshot.workspace) : new Map();
    if (gitlinks === undefined)
        // An index listed past what the guard reads (hundreds of thousands of entries the run
        // added) hid every gitlink in it, the run's own among them. Fail closed: without the
        // index git enters no gitlink.
        aside((0,external_node_path_.join)(root, 'index'), 'the index cannot be listed whole (it is too large)');
    else
        for (const [dir, id] of gitlinks)
            if (snapshot.gitlinks.get(dir) !== id)
                aside((0,external_node_path_.join)(dir, '.git'), 'a repository the run made at a gitlink of the index (git status enters it)', true);
    for (const [path, id] of nested?.found ?? [])
        if (snapshot.nested.get(path) !== id && exists(onDisk(path)))
            aside(path, 'a git repository (or gitfile) the run made in a directory of the workspace (git run there in a later step obeys it)', true);
    if (nested && !nested.complete)
        findings.push({
            path: '.',
            what: `the workspace now holds more than ${MAX_WALK_ENTRIES} entries: git repositories the run made past them were not looked for, check the workspace before running git in its directories`
        });
    return findings;
}

;// CONCATENATED MODULE: ./src/sandbox/log-fence.ts

/**
 * Keeps the sandbox's output from driving the runner. The runner obeys workflow commands
 * (`::add-mask::`, `::set-output`, `::save-state::`, `::warning::`, `##[…]`, …) on any line a
 * step prints, and the container's output reaches the step's log live. While the container
 * speaks, the fence is open: `::stop-commands::<token>` before its first byte, `::<token>::`
 * before Airlock's own next line and at the end. The token is fresh per opening and only
 * ever exists in this process (never in the container's argv, env or files), so the agent
 * cannot print the line that ends the fence.
 */
class CommandFence {
    write;
    token;
    atLineStart = true;
    constructor(write) {
        this.write = write;
    }
    /** Container output: passes through, inside the fence. */
    output(chunk) {
        if (chunk.length === 0)
            return;
        if (!this.token) {
            this.token = randomBytes(24).toString('hex');
            // Commands are whole lines: start the marker on its own line.
            if (!this.atLineStart)
                this.write('\n');
            this.write(`::stop-commands::${this.token}\n`);
            this.atLineStart = true;
        }
        this.write(chunk);
        const last = typeof chunk === 'string' ? chunk.charCodeAt(chunk.length - 1) : chunk.at(-1);
        this.atLineStart = last === 0x0a;
    }
    /** Ends the fence (idempotent): commands work again for the lines that follow. */
    close() {
        if (!this.token)
            return;
        // The resume marker must be a line of its own, whatever the container left unfinished.
        if (!this.atLineStart)
            this.write('\n');
        this.write(`::${this.token}::\n`);
        this.token = undefined;
        this.atLineStart = true;
    }
    /** Whether container output is being fenced right now. */
    get isOpen() {
        return this.token !== undefined;
    }
}
/**
 * One line of Airlock's own log that carries text the agent or the network chose (a URL, a
 * message from the container): line breaks are shown escaped, and the markers the runner
 * parses (`::` at a line start, `##[` anywhere) are broken with a zero-width space, so the
 * line can only ever be a line of text.
 */
function logSafe(text) {
    return text
        .replace(/\r/g, '\\r')
        .replace(/\n/g, '\\n')
        .replace(/[\u0085\u2028\u2029]/g, (m) => `\\u${m.charCodeAt(0).toString(16).padStart(4, '0')}`)
        .replace(/::/g, ':\u200b:')
        .replace(/##\[/g, '#\u200b#[');
}

;// CONCATENATED MODULE: ./src/sandbox/cleanup.ts








/** True when pid is still our proxy (not a recycled pid of some other process). */
function isOurProxy(pid) {
    try {
        return (0,external_node_fs_.readFileSync)(`/proc/${pid}/cmdline`, 'utf8').includes('proxy/index.js');
    }
    catch {
        return false;
    }
}
/**
 * Releases resources newest first. Each step is idempotent and failures are collected,
 * never thrown: one stuck resource must not keep the others alive. True when every one was
 * released.
 */
async function releaseAll(resources, warn) {
    let ok = true;
    for (const r of [...resources].reverse()) {
        try {
            switch (r.kind) {
                case 'container':
                    if (!r.removed)
                        await removeByLabel(r.runId);
                    break;
                case 'proxy':
                    if (isOurProxy(r.pid))
                        await stopProcess(r.pid, 5000);
                    break;
                case 'git-exec-guard':
                    // Main died before it took back what the run left in the workspace's git (the
                    // container is gone by now: it was released first).
                    if ((0,external_node_fs_.existsSync)(r.snapshot)) {
                        for (const f of revertGitExec(loadGitExecSnapshot(r.snapshot)))
                            warn(logSafe(findingLine(f)));
                        await (0,promises_.unlink)(r.snapshot);
                    }
                    break;
                case 'provider-cleanup':
                    await get(r.provider)?.cleanup(r.path);
                    break;
                case 'hidden-git-credentials':
                    if ((0,external_node_fs_.existsSync)(r.backupPath)) {
                        if (!restoreGitCredentials(r.configPath, r.backupPath))
                            warn(`${r.configPath} was replaced during the run (a link or not a file); it was not restored`);
                        await (0,promises_.unlink)(r.backupPath);
                    }
                    break;
                case 'dir':
                    await (0,promises_.rm)(r.path, { recursive: true, force: true });
                    break;
            }
        }
        catch (err) {
            ok = false;
            warn(`could not release ${r.kind}: ${err.message}`);
        }
    }
    return ok;
}

;// CONCATENATED MODULE: ./src/steps/post-cleanup.ts





/** The post step's second pass over what main left: warnings, never a failed job. */
async function cleanUp(resources, runId) {
    process.on('unhandledRejection', (err) => core/* warning */.$e(`Airlock cleanup: ${errorMessage(err)}`));
    try {
        registerAll();
        await releaseAll(resources, (m) => core/* warning */.$e(`Airlock cleanup: ${m}`));
        // A container may have started between main's last state write and its death.
        if (runId)
            await removeByLabel(runId).catch(() => 0);
        core/* info */.pq(`Airlock: cleaned up ${resources.length} resource(s)`);
    }
    catch (err) {
        core/* warning */.$e(`Airlock cleanup: ${errorMessage(err)}`);
    }
}


/***/ })

};
