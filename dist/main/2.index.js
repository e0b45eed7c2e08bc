export const id = 2;
export const ids = [2];
export const modules = {

/***/ 25002:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  run: () => (/* binding */ run)
});

// EXTERNAL MODULE: ./node_modules/@actions/core/lib/core.js + 7 modules
var core = __webpack_require__(33838);
// EXTERNAL MODULE: ./src/daemon/run-proxy.ts
var run_proxy = __webpack_require__(5236);
// EXTERNAL MODULE: ./src/errors.ts
var errors = __webpack_require__(83916);
// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __webpack_require__(76760);
// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __webpack_require__(73024);
;// CONCATENATED MODULE: ./src/prompt-file.ts



/** The largest prompt file read (a prompt, not a data set). */
const PROMPT_FILE_MAX_BYTES = 1024 * 1024;
/**
 * Resolves `prompt-file` to its real path, confined to the workspace: relative to it, `..`
 * or an absolute path that leaves it, or a symlink whose target does, is refused; so is a
 * missing file, something that is not a regular file, or one over the size cap. Runs while
 * inputs are read, before any grant: a bad prompt-file fails the step before anything starts.
 */
function resolvePromptFile(workspace, file) {
    let root;
    try {
        root = (0,external_node_fs_.realpathSync)(workspace);
    }
    catch (err) {
        throw new errors/* InputError */.dz('prompt-file', `the workspace ${workspace} does not exist: ${err.message}`);
    }
    const given = (0,external_node_path_.resolve)(root, file);
    if (!within(root, given))
        throw new errors/* InputError */.dz('prompt-file', `${file} is outside the workspace (${root})`);
    let real;
    try {
        real = (0,external_node_fs_.realpathSync)(given);
    }
    catch {
        throw new errors/* InputError */.dz('prompt-file', `${file} does not exist in the workspace`);
    }
    if (!within(root, real))
        throw new errors/* InputError */.dz('prompt-file', `${file} is a link that leads outside the workspace`);
    const st = (0,external_node_fs_.statSync)(real);
    if (!st.isFile())
        throw new errors/* InputError */.dz('prompt-file', `${file} is not a regular file`);
    if (st.size > PROMPT_FILE_MAX_BYTES)
        throw new errors/* InputError */.dz('prompt-file', `${file} is ${st.size} bytes; the limit is ${PROMPT_FILE_MAX_BYTES} (1 MiB)`);
    return real;
}
/**
 * Reads the prompt file resolved by {@link resolvePromptFile}, checked again at the moment of
 * reading (something may have swapped it since): confined, no symlink as the last component
 * (O_NOFOLLOW), never blocking on a FIFO (O_NONBLOCK, then must be a regular file), capped.
 */
function readPromptFile(workspace, realPath) {
    const again = resolvePromptFile(workspace, realPath);
    let fd;
    try {
        fd = (0,external_node_fs_.openSync)(again, external_node_fs_.constants.O_RDONLY | external_node_fs_.constants.O_NOFOLLOW | external_node_fs_.constants.O_NONBLOCK);
    }
    catch (err) {
        throw new errors/* InputError */.dz('prompt-file', `cannot open ${realPath}: ${err.message}`);
    }
    try {
        const st = (0,external_node_fs_.fstatSync)(fd);
        if (!st.isFile())
            throw new errors/* InputError */.dz('prompt-file', `${realPath} is not a regular file`);
        const buf = Buffer.alloc(PROMPT_FILE_MAX_BYTES + 1);
        let n = 0;
        for (;;) {
            const r = (0,external_node_fs_.readSync)(fd, buf, n, buf.length - n, null);
            if (r === 0)
                break;
            n += r;
            if (n > PROMPT_FILE_MAX_BYTES)
                throw new errors/* InputError */.dz('prompt-file', `${realPath} grew over the limit of ${PROMPT_FILE_MAX_BYTES} bytes (1 MiB)`);
        }
        return buf.subarray(0, n).toString('utf8');
    }
    finally {
        (0,external_node_fs_.closeSync)(fd);
    }
}
function within(root, path) {
    const rel = (0,external_node_path_.relative)(root, path);
    return rel !== '' && rel !== '..' && !rel.startsWith(`..${external_node_path_.sep}`) && !(0,external_node_path_.isAbsolute)(rel);
}

;// CONCATENATED MODULE: ./src/inputs/fields.ts
/**
 * Readers for the shapes inputs come in (lists, shell-style words, enums, bounded numbers)
 * and the "did you mean" behind every name error. No input's meaning lives here.
 */

/** Splits a comma- or newline-separated list, dropping blanks and `#` comments. */
function splitList(value) {
    return value
        .split(/\r?\n/)
        .map((line) => line.replace(/(^|\s)#.*$/, ''))
        .flatMap((line) => line.split(','))
        .map((item) => item.trim())
        .filter((item) => item.length > 0);
}
/** Splits shell-style words: single and double quotes, backslash escapes; no expansion. */
function splitArgs(name, value) {
    const out = [];
    let word;
    let quote;
    for (let i = 0; i < value.length; i++) {
        const c = value[i];
        if (quote) {
            if (c === quote)
                quote = undefined;
            else if (c === '\\' && quote === '"' && i + 1 < value.length)
                word = (word ?? '') + value[++i];
            else
                word = (word ?? '') + c;
        }
        else if (c === '"' || c === "'") {
            quote = c;
            word ??= '';
        }
        else if (c === '\\' && i + 1 < value.length) {
            word = (word ?? '') + value[++i];
        }
        else if (/\s/.test(c)) {
            if (word !== undefined)
                out.push(word);
            word = undefined;
        }
        else {
            word = (word ?? '') + c;
        }
    }
    if (quote)
        throw new errors/* InputError */.dz(name, `unterminated ${quote} quote`);
    if (word !== undefined)
        out.push(word);
    return out;
}
function parseEnum(name, value, allowed) {
    if (allowed.includes(value))
        return value;
    throw new errors/* InputError */.dz(name, `"${value}" is not one of ${allowed.map((a) => `\`${a}\``).join(', ')}`);
}
function parseIntInRange(name, value, min, max, unit) {
    if (!/^\d+$/.test(value))
        throw new errors/* InputError */.dz(name, `"${value}" is not a whole number of ${unit} (${min}-${max})`);
    const n = Number(value);
    if (n < min || n > max)
        throw new errors/* InputError */.dz(name, `${n} is outside ${min}-${max} ${unit}`);
    return n;
}
/** The candidate within edit distance 2, for "did you mean". */
function closest(word, candidates) {
    let best;
    let bestDistance = 3;
    for (const c of candidates) {
        const d = editDistance(word, c);
        if (d < bestDistance)
            [best, bestDistance] = [c, d];
    }
    return best;
}
function editDistance(a, b) {
    // Optimal string alignment: a transposition (githbu → github) costs one edit.
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++)
        d[0][j] = j;
    for (let i = 1; i <= a.length; i++) {
        for (let j = 1; j <= b.length; j++) {
            const cost = a[i - 1] === b[j - 1] ? 0 : 1;
            let v = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
                v = Math.min(v, d[i - 2][j - 2] + 1);
            d[i][j] = v;
        }
    }
    return d[a.length][b.length];
}
function isRecord(v) {
    return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// EXTERNAL MODULE: ./node_modules/yaml/dist/index.js
var dist = __webpack_require__(38815);
// EXTERNAL MODULE: external "node:os"
var external_node_os_ = __webpack_require__(48161);
;// CONCATENATED MODULE: ./src/step-commands.ts
/**
 * The step log's masker and warnings, written exactly as @actions/core's `setSecret` and
 * `warning` write them (`::add-mask::` / `::warning::`, data escaped, one line). For modules
 * the proxy process loads: importing @actions/core there would load its HTTP client, and with
 * it the whole of undici, into a process that never uses either.
 */

/** A workflow command's data, escaped so it stays on one line and ends where it should. */
function commandData(value) {
    return value.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}
/** Registers a value with the runner's log masker. */
function maskInStepLog(value) {
    process.stdout.write(`::add-mask::${commandData(value)}${external_node_os_.EOL}`);
}
/** A warning annotation in the step log. */
function warnInStepLog(line) {
    process.stdout.write(`::warning::${commandData(line)}${external_node_os_.EOL}`);
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
class ProviderError extends errors/* AirlockError */.qR {
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
const SECRET_INPUTS = [
    'anthropic-api-key',
    'claude-code-oauth-token',
    'openai-api-key',
    'gemini-api-key',
    'github-token',
    'github-app-private-key',
    'npm-token'
];
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
class PolicyError extends errors/* AirlockError */.qR {
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
function parseConnectTo(lines) {
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
        if (ip_parseIpLiteral(from.host) !== undefined) {
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

;// CONCATENATED MODULE: ./src/inputs/grant-inputs.ts
/**
 * The inputs grants run with: secrets (masked the moment they are read), the provider
 * sections with their defaults, custom credentials and the container's `env`. One reader,
 * `readGrantSettings`, for the action, the CLI and the tests.
 */






const AGENTS = ['claude', 'codex', 'gemini'];
/**
 * Variables the container's environment is built around; `env` may not override them, or a
 * user could point the agent past the proxy or swap a placeholder.
 */
const RESERVED_ENV = /^(https?_proxy|all_proxy|no_proxy|ftp_proxy|ssl_cert_file|ssl_cert_dir|node_extra_ca_certs|node_use_env_proxy|node_options|requests_ca_bundle|curl_ca_bundle|git_ssl_cainfo|aws_ca_bundle|git_config_.*|home|path|ld_preload|ld_library_path|airlock_.*|actions_.*|github_token|gh_token)$/i;
/**
 * The part of the plan grants run with (see GrantSettings): secrets masked first, then every
 * provider section parsed with its defaults. The action, the local CLI and the tests read
 * settings through this one function.
 */
function readGrantSettings(input, agent, mask = maskInStepLog) {
    // Mask first: a later validation error must not be able to echo a secret.
    const secrets = {};
    for (const name of SECRET_INPUTS) {
        const value = input(name);
        if (value) {
            for (const part of maskedParts(value))
                mask(part);
            secrets[name] = value;
        }
    }
    const grants = parseGrants(input('grants'), agent);
    const custom = parseCustomCredentials(input('custom-credentials'), mask);
    if (custom.length > 0 && !grants.includes('custom'))
        grants.push('custom');
    return {
        grants,
        secrets,
        githubApp: {
            id: parseAppId(input('github-app-id')),
            permissions: parsePermissions(input('github-app-permissions'))
        },
        aws: {
            roleArn: parseRoleArn(input('aws-role-arn')),
            region: parseRegion(input('aws-region') || DEFAULT_AWS_REGION),
            sessionDuration: parseIntInRange('aws-session-duration', input('aws-session-duration') || String(DEFAULT_AWS_SESSION_SECONDS), 900, 43200, 'seconds')
        },
        gcp: {
            workloadIdentityProvider: parseWorkloadProvider(input('gcp-workload-identity-provider')),
            serviceAccount: parseServiceAccount(input('gcp-service-account'))
        },
        custom,
        env: parseEnv(input('env'))
    };
}
function parseAgent(value) {
    if (!value)
        return undefined;
    const canonical = resolveName(value.toLowerCase());
    if (AGENTS.includes(canonical))
        return canonical;
    throw new errors/* InputError */.dz('agent', `unknown agent "${value}". Use claude (anthropic), codex (openai) or gemini (google), or leave it empty and set \`command\``);
}
function knownProviders() {
    return names()
        .map((name) => {
        const aliases = aliasesOf(name);
        return aliases.length > 0 ? `${name} (${aliases.join(', ')})` : name;
    })
        .join(', ');
}
function parseGrants(value, agent) {
    const out = agent ? [agent] : [];
    for (const item of splitList(value)) {
        const p = get(item.toLowerCase());
        if (!p) {
            const hint = closest(item.toLowerCase(), [...names()]);
            throw new errors/* InputError */.dz('grants', `unknown provider "${item}"${hint ? ` (did you mean ${hint}?)` : ''}. Known providers: ${knownProviders()}`);
        }
        if (!out.includes(p.name))
            out.push(p.name);
    }
    return out;
}
/** The `env` input: `NAME=value` lines; a reserved or malformed name is an InputError. */
function parseEnv(value) {
    const out = {};
    for (const raw of value.split(/\r?\n/)) {
        const line = raw.trim();
        if (!line || line.startsWith('#'))
            continue;
        const eq = line.indexOf('=');
        const name = eq > 0 ? line.slice(0, eq).trim() : '';
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
            throw new errors/* InputError */.dz('env', `"${line}" is not \`NAME=value\` (one per line; NAME is letters, digits and _)`);
        }
        if (RESERVED_ENV.test(name)) {
            throw new errors/* InputError */.dz('env', `${name} is set by Airlock (proxy, CA, credential or runner variable) and cannot be overridden`);
        }
        out[name] = line.slice(eq + 1);
    }
    return out;
}
function parseCustomCredentials(value, mask = maskInStepLog) {
    if (!value)
        return [];
    const form = 'Expected a YAML list of {name, hosts: [host, …], header, prefix, value, env}';
    let doc;
    try {
        doc = (0,dist/* parse */.qg)(value);
    }
    catch (err) {
        // The YAML error quotes the source, which holds secrets: say where, never what.
        const at = err instanceof dist/* YAMLError */.IP && err.linePos ? err.linePos[0] : undefined;
        throw new errors/* InputError */.dz('custom-credentials', `not valid YAML${at ? ` at line ${at.line}, column ${at.col}` : ''}. ${form}`);
    }
    if (!Array.isArray(doc))
        throw new errors/* InputError */.dz('custom-credentials', `not a list. ${form}`);
    const seen = new Set();
    return doc.map((raw, i) => {
        const at = `entry ${i + 1}`;
        if (!isRecord(raw))
            throw new errors/* InputError */.dz('custom-credentials', `${at} is not a mapping. ${form}`);
        const name = typeof raw.name === 'string' ? raw.name.trim() : '';
        if (!/^[a-z0-9][a-z0-9-]*$/.test(name))
            throw new errors/* InputError */.dz('custom-credentials', `${at}: name must be lower-case letters, digits and -`);
        if (seen.has(name))
            throw new errors/* InputError */.dz('custom-credentials', `${at}: name "${name}" is used twice`);
        seen.add(name);
        const secret = typeof raw.value === 'string' || typeof raw.value === 'number' ? String(raw.value) : '';
        if (!secret)
            throw new errors/* InputError */.dz('custom-credentials', `${name}: value is empty (pass it from a secret, e.g. value: \${{ secrets.MY_KEY }})`);
        mask(secret);
        const hosts = Array.isArray(raw.hosts)
            ? raw.hosts.map(String)
            : typeof raw.hosts === 'string'
                ? splitList(raw.hosts)
                : [];
        if (hosts.length === 0)
            throw new errors/* InputError */.dz('custom-credentials', `${name}: hosts must list at least one host`);
        for (const h of hosts) {
            try {
                const p = patterns_parseHostPattern(h);
                if (p.scheme === 'http')
                    throw new errors/* InputError */.dz('custom-credentials', `${name}: credentials are never sent over plain HTTP (${h})`);
            }
            catch (err) {
                if (err instanceof PolicyError)
                    throw new errors/* InputError */.dz('custom-credentials', `${name}: ${err.message}`);
                throw err;
            }
        }
        const header = typeof raw.header === 'string' && raw.header ? raw.header : 'Authorization';
        if (!/^[A-Za-z0-9-]+$/.test(header))
            throw new errors/* InputError */.dz('custom-credentials', `${name}: header "${header}" is not a valid header name`);
        const cred = {
            name,
            hosts,
            header,
            prefix: typeof raw.prefix === 'string' ? raw.prefix : '',
            value: secret
        };
        if (typeof raw.env === 'string' && raw.env) {
            if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(raw.env) || RESERVED_ENV.test(raw.env)) {
                throw new errors/* InputError */.dz('custom-credentials', `${name}: env "${raw.env}" is not a usable variable name`);
            }
            cred.env = raw.env;
        }
        return cred;
    });
}
function parseAppId(value) {
    if (value && !/^\d+$/.test(value))
        throw new errors/* InputError */.dz('github-app-id', `"${value}" is not a numeric GitHub App id`);
    return value;
}
function parsePermissions(value) {
    const out = {};
    for (const item of splitList(value)) {
        const m = /^([a-z_]+)\s*[:=]\s*(read|write|admin)$/.exec(item);
        if (!m)
            throw new errors/* InputError */.dz('github-app-permissions', `"${item}" is not \`permission:read|write|admin\` (e.g. contents:read)`);
        out[m[1]] = m[2];
    }
    return out;
}
function parseRoleArn(value) {
    if (value && !/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/.test(value)) {
        throw new errors/* InputError */.dz('aws-role-arn', `"${value}" is not an IAM role ARN (arn:aws:iam::123456789012:role/name)`);
    }
    return value;
}
function parseRegion(value) {
    if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(value))
        throw new errors/* InputError */.dz('aws-region', `"${value}" is not an AWS region (e.g. us-east-1)`);
    return value;
}
function parseWorkloadProvider(value) {
    if (value &&
        !/^projects\/\d+\/locations\/global\/workloadIdentityPools\/[^/]+\/providers\/[^/]+$/.test(value)) {
        throw new errors/* InputError */.dz('gcp-workload-identity-provider', `"${value}" is not projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>`);
    }
    return value;
}
function parseServiceAccount(value) {
    if (value && !/^[^@\s]+@[^@\s]+\.iam\.gserviceaccount\.com$/.test(value)) {
        throw new errors/* InputError */.dz('gcp-service-account', `"${value}" is not a service account email (name@project.iam.gserviceaccount.com)`);
    }
    return value;
}

;// CONCATENATED MODULE: ./src/inputs/sandbox-inputs.ts
/**
 * The inputs that shape the sandbox: egress, routing, MCP servers, image and agent version,
 * time limit; and the rule that no secret rides into the container inside a text input.
 */



/** Header names that carry a credential: they belong in the proxy, never in agent config. */
const CREDENTIAL_HEADER = /^(authorization|proxy-authorization|cookie|x-api-key|api-key|x-auth-token|private-token)$|token|secret|password|api[-_]?key/i;
/**
 * Text inputs that enter the container as they are — `command`, `prompt`, `env`,
 * `agent-args`, `mcp-servers` — must not carry a credential: the sandbox only ever holds
 * placeholders, so one `${{ secrets.X }}` pasted into a command would undo the airlock. A
 * value Airlock was given as a secret is refused wherever it appears (the message names the
 * input, never the value), and MCP servers may not set credential headers at all: the proxy
 * injects those (custom-credentials). Runs before anything else happens.
 */
function refuseSecretsBoundForSandbox(plan, secretValues) {
    // Very short values would match by accident; no real credential is this short.
    const secrets = secretValues.filter((s) => s.length >= 8);
    const check = (inputName, where, text) => {
        if (secrets.some((s) => text.includes(s)))
            throw new errors/* InputError */.dz(inputName, `${where} contains the value of a secret Airlock was given. The container only ever holds placeholders: use the placeholder variable the grant sets (e.g. $GH_TOKEN) and let the proxy inject the real value`);
    };
    check('command', 'the command', plan.command);
    check('prompt', 'the prompt', plan.prompt);
    for (const [name, value] of Object.entries(plan.env))
        check('env', name, value);
    for (const arg of plan.agentArgs)
        check('agent-args', 'an argument', arg);
    for (const [name, server] of Object.entries(plan.mcpServers)) {
        const where = `server "${name}"`;
        for (const text of [server.url ?? '', server.command ?? '', ...(server.args ?? [])])
            check('mcp-servers', where, text);
        for (const [k, v] of Object.entries(server.env ?? {}))
            check('mcp-servers', `${where} env ${k}`, v);
        for (const [k, v] of Object.entries(server.headers ?? {})) {
            check('mcp-servers', `${where} header ${k}`, v);
            if (CREDENTIAL_HEADER.test(k)) {
                const host = URL.parse(server.url ?? '')?.hostname || '<host>';
                throw new errors/* InputError */.dz('mcp-servers', `${where} sets the credential header ${k}; credentials never go into the container. Inject it in the proxy instead: custom-credentials: [{name: ${name}, hosts: [${host}], header: ${k}, value: <secret>}]`);
            }
        }
    }
}
/** Minutes, fractions allowed (0.5 = 30 s), from 0.1 to 360. */
function parseMinutes(value) {
    if (!/^\d+(\.\d+)?$/.test(value)) {
        throw new errors/* InputError */.dz('timeout-minutes', `"${value}" is not a number of minutes (0.1-360)`);
    }
    const n = Number(value);
    if (n < 0.1 || n > 360)
        throw new errors/* InputError */.dz('timeout-minutes', `${n} is outside 0.1-360 minutes`);
    return n;
}
function parseAllowedEndpoints(value) {
    const out = [];
    for (const item of splitList(value)) {
        try {
            patterns_parseHostPattern(item);
        }
        catch (err) {
            // The pattern parser's message already names the entry and the forms it accepts.
            if (err instanceof PolicyError)
                throw new errors/* InputError */.dz('allowed-endpoints', err.message.replace(/^Invalid allowed-endpoints entry /, ''));
            throw err;
        }
        out.push(item);
    }
    return out;
}
function parseConnectToInput(value) {
    const lines = splitList(value);
    try {
        parseConnectTo(lines);
    }
    catch (err) {
        if (err instanceof PolicyError)
            throw new errors/* InputError */.dz('connect-to', `${err.message}. Expected one \`host:port=target:port\` per line`);
        throw err;
    }
    return lines;
}
function parseMcpServers(value) {
    if (!value)
        return {};
    let doc;
    try {
        doc = JSON.parse(value);
    }
    catch (err) {
        // Where, never what: newer Node versions quote the text around the error, and this
        // input may name hosts and headers.
        throw new errors/* InputError */.dz('mcp-servers', `not valid JSON${jsonErrorPlace(value, err)}. Expected {"mcpServers": {"name": {"url": "https://…"} | {"command": "…", "args": […]}}}`);
    }
    const servers = isRecord(doc) && isRecord(doc.mcpServers) ? doc.mcpServers : undefined;
    if (!servers)
        throw new errors/* InputError */.dz('mcp-servers', 'expected an object with an "mcpServers" object inside');
    const out = {};
    for (const [name, raw] of Object.entries(servers)) {
        if (!/^[A-Za-z0-9_-]+$/.test(name))
            throw new errors/* InputError */.dz('mcp-servers', `server name "${name}" must be letters, digits, - and _`);
        if (!isRecord(raw))
            throw new errors/* InputError */.dz('mcp-servers', `server "${name}" must be an object`);
        const cfg = {};
        if (typeof raw.url === 'string') {
            if (!/^https?:\/\//.test(raw.url))
                throw new errors/* InputError */.dz('mcp-servers', `server "${name}": url must start with https:// or http://`);
            cfg.url = raw.url;
        }
        if (typeof raw.command === 'string')
            cfg.command = raw.command;
        if (!cfg.url && !cfg.command)
            throw new errors/* InputError */.dz('mcp-servers', `server "${name}" needs a "url" or a "command"`);
        if (raw.type === 'http' || raw.type === 'sse' || raw.type === 'stdio')
            cfg.type = raw.type;
        if (Array.isArray(raw.args))
            cfg.args = raw.args.map(String);
        if (isRecord(raw.env))
            cfg.env = Object.fromEntries(Object.entries(raw.env).map(([k, v]) => [k, String(v)]));
        if (isRecord(raw.headers))
            cfg.headers = Object.fromEntries(Object.entries(raw.headers).map(([k, v]) => [k, String(v)]));
        out[name] = cfg;
    }
    return out;
}
function parseImage(value) {
    if (!/^[a-z0-9][a-z0-9._/:@-]*$/i.test(value) || value.includes('..')) {
        throw new errors/* InputError */.dz('image', `"${value}" is not an image reference (e.g. node:22-bookworm)`);
    }
    return value;
}
function parseVersion(value) {
    if (value && !/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(value)) {
        throw new errors/* InputError */.dz('agent-version', `"${value}" is not an exact version (e.g. 2.1.3)`);
    }
    return value;
}
function parseArtifactName(value) {
    if (value && /["<>|*?\r\n\\/:]/.test(value))
        throw new errors/* InputError */.dz('audit-artifact', `"${value}" has characters artifact names cannot hold`);
    return value;
}
/**
 * `model`, `max-turns` and `max-budget-usd`. Each agent CLI takes a model; a turn limit
 * exists in Claude Code and Gemini CLI, a spending limit only in Claude Code. A limit the
 * chosen agent cannot enforce is an error, not silently ignored: the user believes the run
 * is bounded.
 */
function parseAgentLimits(agent, input) {
    const model = input('model');
    // Model names and Bedrock/Vertex ids and ARNs: letters, digits and . _ : / @ - [ ].
    if (model && !/^[A-Za-z0-9][A-Za-z0-9._:/@[\]-]{0,199}$/.test(model))
        throw new errors/* InputError */.dz('model', `"${model}" is not a model name (e.g. claude-sonnet-4-5)`);
    const out = { model };
    const turns = input('max-turns');
    const budget = input('max-budget-usd');
    for (const [name, value] of [
        ['model', model],
        ['max-turns', turns],
        ['max-budget-usd', budget]
    ])
        if (value && !agent)
            throw new errors/* InputError */.dz(name, `${name} applies to an agent; set \`agent\` or remove it`);
    if (turns) {
        if (agent === 'codex')
            throw new errors/* InputError */.dz('max-turns', 'the Codex CLI has no turn limit; bound the run with `timeout-minutes` instead');
        out.maxTurns = parseIntInRange('max-turns', turns, 1, 10_000, 'turns');
    }
    if (budget) {
        if (agent !== 'claude')
            throw new errors/* InputError */.dz('max-budget-usd', `only Claude Code enforces a spending limit; the ${agent} CLI has none (bound the run with \`max-turns\` or \`timeout-minutes\`)`);
        if (!/^\d+(\.\d{1,2})?$/.test(budget) || Number(budget) <= 0 || Number(budget) > 10_000)
            throw new errors/* InputError */.dz('max-budget-usd', `"${budget}" is not an amount in US dollars (e.g. 2.50)`);
        out.maxBudgetUsd = Number(budget);
    }
    return out;
}
/** " at line L, column C" for a JSON.parse error that gives a position; "" otherwise. */
function jsonErrorPlace(text, err) {
    const m = /position (\d+)/.exec(err.message);
    if (!m)
        return /end of (JSON|data) input/i.test(err.message) ? ' (it ends early)' : '';
    const before = text.slice(0, Number(m[1]));
    const line = before.split('\n').length;
    return ` at line ${line}, column ${before.length - before.lastIndexOf('\n')}`;
}

;// CONCATENATED MODULE: ./src/inputs.ts
/**
 * The one inputs module: every input is read and validated here, once, into one frozen
 * RunPlan, before anything with a side effect. The field parsers live in inputs/ by what
 * they configure (grants, the sandbox, the shapes of values).
 */










/** Reads inputs the way the runner passes them (`INPUT_*`), trimmed. */
const actionInput = (name) => core/* getInput */.V4(name);
/**
 * Reads and validates every input into one RunPlan. Throws `InputError` naming the input on
 * the first problem; nothing outside this function has happened yet when it does.
 */
function readInputs(input = actionInput, env = process.env, mask = core/* setSecret */.Pq) {
    const agent = parseAgent(input('agent'));
    const settings = readGrantSettings(input, agent, mask);
    const prompt = input('prompt');
    const promptFile = input('prompt-file');
    const command = input('command');
    // A relative `workspace` is the job's checkout-relative path (`path:` of actions/checkout),
    // never the step's current directory: docker needs an absolute mount source.
    const base = env.GITHUB_WORKSPACE || process.cwd();
    const workspace = (0,external_node_path_.resolve)(base, input('workspace') || '.');
    if (!agent && !command) {
        throw new errors/* InputError */.dz('agent', 'set `agent` (claude, codex or gemini) or `command` to say what runs in the sandbox');
    }
    if (agent && !prompt && !promptFile && !command) {
        throw new errors/* InputError */.dz('prompt', `the ${agent} agent needs a task: set \`prompt\` or \`prompt-file\``);
    }
    const plan = {
        ...settings,
        prompt,
        // Checked now, before any grant: a missing or escaping file stops the step here.
        promptFile: agent && !prompt && promptFile ? resolvePromptFile(workspace, promptFile) : '',
        command,
        egressPolicy: parseEnum('egress-policy', input('egress-policy') || 'block', ['block', 'audit']),
        allowedEndpoints: parseAllowedEndpoints(input('allowed-endpoints')),
        image: parseImage(input('image') || 'node:22-bookworm'),
        workspace,
        workspaceAccess: parseEnum('workspace-access', input('workspace-access') || 'read-write', [
            'read-write',
            'read-only'
        ]),
        agentVersion: parseVersion(input('agent-version')),
        agentArgs: splitArgs('agent-args', input('agent-args')),
        ...parseAgentLimits(agent, input),
        mcpServers: parseMcpServers(input('mcp-servers')),
        timeoutMinutes: parseMinutes(input('timeout-minutes') || '30'),
        connectTo: parseConnectToInput(input('connect-to')),
        upstreamCa: input('upstream-ca'),
        auditArtifact: parseArtifactName(input('audit-artifact'))
    };
    if (agent)
        plan.agent = agent;
    refuseSecretsBoundForSandbox(plan, [
        ...Object.values(settings.secrets),
        ...settings.custom.map((c) => c.value)
    ]);
    return Object.freeze(plan);
}

// EXTERNAL MODULE: external "node:fs/promises"
var promises_ = __webpack_require__(51455);
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
    throw new errors/* PlatformError */.Wk(`${agent}: no Linux build for the CPU architecture "${arch}"; Airlock runs agents on x64 and arm64 runners`);
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
var external_node_events_ = __webpack_require__(78474);
// EXTERNAL MODULE: external "node:net"
var external_node_net_ = __webpack_require__(77030);
var external_node_net_default = /*#__PURE__*/__webpack_require__.n(external_node_net_);
// EXTERNAL MODULE: external "node:tls"
var external_node_tls_ = __webpack_require__(41692);
var external_node_tls_default = /*#__PURE__*/__webpack_require__.n(external_node_tls_);
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
async function dial(req) {
    const raw = req.via
        ? await tunnel(req.via, req.routed
            ? `${formatHost(req.address.host)}:${req.address.port}`
            : `${formatHost(req.name)}:${req.port}`)
        : undefined;
    if (!req.secure) {
        if (raw)
            return raw;
        const sock = external_node_net_default().connect({ host: req.address.host, port: req.address.port });
        await (0,external_node_events_.once)(sock, 'connect');
        return sock;
    }
    const options = {
        ALPNProtocols: ['http/1.1'],
        minVersion: 'TLSv1.2',
        // Verify the certificate for the name the agent asked for, whatever address we dialled.
        checkServerIdentity: (_name, cert) => external_node_tls_default().checkServerIdentity(req.name, cert)
    };
    if (req.trust)
        options.secureContext = req.trust;
    if (external_node_net_default().isIP(req.name) === 0)
        options.servername = req.name;
    if (raw)
        options.socket = raw;
    else
        Object.assign(options, { host: req.address.host, port: req.address.port });
    const sock = external_node_tls_default().connect(options);
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
function upstreamTrust(extraCa, opts = {}) {
    const extraFile = opts.nodeExtraCaCerts;
    const fromFile = extraFile && (0,external_node_fs_.existsSync)(extraFile) ? [(0,external_node_fs_.readFileSync)(extraFile, 'utf8')] : [];
    if (process.execArgv.includes('--use-system-ca')) {
        // Started with Node's own OS store (the proxy daemon: DAEMON_NODE_FLAGS): a context on
        // Node's root store (bundled and OS roots, parsed once, in C++) with only our CAs added
        // (which gives it its own copy of that store). Handing every root to createSecureContext
        // as PEM text instead took ~100 ms of CPU after each start, beside the starting container.
        const context = external_node_tls_default().createSecureContext({ minVersion: 'TLSv1.2' });
        const native = context.context;
        for (const text of [...fromFile, ...extraCa])
            for (const pem of text.match(PEM_CERT) ?? [text])
                native.addCACert(pem);
        return context;
    }
    const getCA = (external_node_tls_default()).getCACertificates;
    const system = typeof getCA === 'function' ? getCA('system') : [];
    // The system store repeats certificates (and the bundled ones, in other line breaks): each
    // one parsed again is CPU and memory for nothing, so certificates count once by content.
    const ca = new Map();
    for (const text of [...(external_node_tls_default()).rootCertificates, ...system, ...fromFile, ...extraCa]) {
        const certs = text.match(PEM_CERT) ?? [text.trim()];
        for (const pem of certs)
            ca.set(pem.replace(/-----[^-]+-----|\s/g, ''), pem);
    }
    return external_node_tls_default().createSecureContext({ ca: [...ca.values()], minVersion: 'TLSv1.2' });
}
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
function formatHost(host) {
    return external_node_net_default().isIPv6(host) ? `[${host}]` : host;
}
/** A CONNECT tunnel through the runner's own proxy (RFC 9110 §9.3.6); returns the raw socket. */
async function tunnel(via, authority) {
    const url = new URL(via.url);
    const sock = external_node_net_default().connect({ host: url.hostname, port: Number(url.port) || 80 });
    await (0,external_node_events_.once)(sock, 'connect');
    const auth = url.username
        ? `Proxy-Authorization: Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}\r\n`
        : '';
    sock.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth}\r\n`);
    let head = Buffer.alloc(0);
    while (!head.includes('\r\n\r\n')) {
        const [chunk] = (await (0,external_node_events_.once)(sock, 'data'));
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

;// CONCATENATED MODULE: ./src/net/proxy-env.ts
/**
 * The runner's proxy settings as plain functions, with no HTTP client behind them: the proxy
 * daemon dials with these and must not load the whole of undici for them (see runner-proxy.ts
 * for the clients built on them).
 */
function pick(env, name) {
    return env[name.toLowerCase()] || env[name.toUpperCase()] || undefined;
}
function runnerProxy(env = process.env) {
    const httpProxy = pick(env, 'http_proxy');
    const httpsProxy = pick(env, 'https_proxy') ?? httpProxy;
    return {
        ...(httpProxy ? { httpProxy } : {}),
        ...(httpsProxy ? { httpsProxy } : {}),
        noProxy: pick(env, 'no_proxy') ?? ''
    };
}
/**
 * NO_PROXY, as undici reads it: entries split on commas and white space; `*` alone turns the
 * proxy off; an entry is a name (a leading `.` or `*.` is dropped) matching that host and its
 * subdomains, with an optional `:port` that limits it to that port.
 */
function noProxyMatches(host, noProxy, port) {
    const name = host.replace(/^\[|\]$/g, '').toLowerCase();
    if (noProxy.trim() === '*')
        return true;
    for (const raw of noProxy.split(/[,\s]/)) {
        if (!raw)
            continue;
        if (raw === '*')
            return true;
        const m = /^(.+):(\d+)$/.exec(raw);
        const entry = (m ? m[1] : raw)
            .replace(/^\*?\./, '')
            .replace(/^\[|\]$/g, '')
            .toLowerCase();
        const entryPort = m ? Number(m[2]) : 0;
        if (entryPort && port !== undefined && entryPort !== port)
            continue;
        if (name === entry || name.endsWith(`.${entry}`))
            return true;
    }
    return false;
}
/** The proxy URL a request to `url` goes through, or undefined to go direct. */
function proxyFor(url, proxy) {
    const u = typeof url === 'string' ? new URL(url) : url;
    const through = u.protocol === 'https:' ? proxy.httpsProxy : proxy.httpProxy;
    if (!through)
        return undefined;
    const port = Number(u.port) || (u.protocol === 'https:' ? 443 : 80);
    return noProxyMatches(u.hostname, proxy.noProxy, port) ? undefined : through;
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
        const undici = await Promise.resolve(/* import() eager */).then(__webpack_require__.t.bind(__webpack_require__, 46752, 19));
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
class GrantNetworkError extends errors/* AirlockError */.qR {
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
async function requestWithRetry(fetchFn, url, init, opts = {}) {
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
function safeUpstreamText(text, secrets = []) {
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
class StsError extends errors/* AirlockError */.qR {
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
    const res = await requestWithRetry(opts.fetch, opts.endpoint, {
        method: 'POST',
        headers: {
            'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
            accept: 'text/xml'
        },
        body: body.toString()
    }, { ...opts, retryOn: opts.retryOn ?? isRetryableStsAnswer });
    if (res.status !== 200) {
        throw new StsError(res.status, safeUpstreamText(xmlText(res.body, 'Code') ?? ''), safeUpstreamText(xmlText(res.body, 'Message') ?? '', [opts.webIdentityToken]));
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
class OidcError extends errors/* AirlockError */.qR {
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
var external_node_crypto_ = __webpack_require__(77598);
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
class SigV4RefusedError extends errors/* AirlockError */.qR {
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
    smithy ??= Promise.all([Promise.all(/* import() */[__webpack_require__.e(430), __webpack_require__.e(118)]).then(__webpack_require__.t.bind(__webpack_require__, 75118, 19)), Promise.all(/* import() */[__webpack_require__.e(430), __webpack_require__.e(92)]).then(__webpack_require__.bind(__webpack_require__, 5092))]);
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
class GoogleAuthError extends errors/* AirlockError */.qR {
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
    const res = await requestWithRetry(opts.fetch, opts.url ?? GOOGLE_STS_URL, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: body.toString()
    }, opts);
    const json = parseJson(res.body);
    if (res.status !== 200) {
        // RFC 6749 §5.2 error shape: {error, error_description}.
        throw new GoogleAuthError('sts', res.status, safeUpstreamText(str(json.error)), safeUpstreamText(str(json.error_description), [opts.subjectToken]));
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
    const res = await requestWithRetry(opts.fetch, url, {
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
        throw new GoogleAuthError('iam', res.status, safeUpstreamText(str(err.status)), safeUpstreamText(str(err.message), [opts.federatedToken]));
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
var external_node_dns_promises_ = __webpack_require__(71553);
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
var smol_toml_dist = __webpack_require__(3292);
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
            '.codex/config.toml': `# Written by Airlock for this run.\n${(0,smol_toml_dist/* stringify */.As)(config)}\n`,
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
class AppKeyError extends errors/* AirlockError */.qR {
    constructor(message) {
        super('AIRLOCK_BAD_APP_KEY', message);
    }
}
/** GitHub refused (or failed) one step of the App flow. */
class GitHubAppError extends errors/* AirlockError */.qR {
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
        return typeof m === 'string' ? safeUpstreamText(m, secrets) : '';
    }
    catch {
        return '';
    }
}
/** The App's installation on `owner/repo`: `GET /repos/{owner}/{repo}/installation`. */
async function findRepoInstallation(opts) {
    const [owner, repo] = opts.repository.split('/');
    const res = await requestWithRetry(opts.fetch, `${apiBase(opts.apiUrl)}/repos/${encodeURIComponent(owner ?? '')}/${encodeURIComponent(repo ?? '')}/installation`, { headers: headers(`Bearer ${opts.jwt}`) }, opts);
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
    const res = await requestWithRetry(opts.fetch, `${apiBase(opts.apiUrl)}/app/installations/${opts.installationId}/access_tokens`, {
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
    const res = await requestWithRetry(opts.fetch, `${apiBase(opts.apiUrl)}/installation/token`, { method: 'DELETE', headers: headers(`Bearer ${opts.token}`) }, opts);
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

;// CONCATENATED MODULE: ./src/report/artifact.ts

/**
 * Uploads network.jsonl and audit.jsonl as one artifact (`audit-artifact`). A failed upload
 * is a warning, not a failed run: the logs stay on the runner and their head is an output.
 */
async function uploadLogs(name, files, warn, client) {
    if (files.length === 0)
        return undefined;
    try {
        // Loaded only when an upload is asked for: the artifact client (Azure storage, protobuf)
        // is most of the main bundle, and every run would pay to load it at start.
        const uploader = client ?? new (await __webpack_require__.e(/* import() */ 599).then(__webpack_require__.bind(__webpack_require__, 37599))).DefaultArtifactClient();
        const res = await uploader.uploadArtifact(name, files, (0,external_node_path_.dirname)(files[0]));
        return res.id;
    }
    catch (err) {
        warn(`could not upload ${files.map((f) => (0,external_node_path_.basename)(f)).join(' and ')} as artifact "${name}": ${err.message}`);
        return undefined;
    }
}

// EXTERNAL MODULE: external "node:string_decoder"
var external_node_string_decoder_ = __webpack_require__(46193);
;// CONCATENATED MODULE: ./src/proxy/audit.ts
/**
 * Tamper-evident audit log: one JSON object per line, each carrying the SHA-256 of the
 * entry before it, so any edit, insertion, deletion or reordering breaks the chain, and
 * the hash of the last entry (the `audit-head` output, kept outside the file) exposes a
 * truncated or wholesale-replaced log.
 *
 * Callers pass names, ids and counts only (grant names, hosts, placeholder names): the
 * log is uploaded as an artifact and data is written exactly as given, never a secret.
 */




/** The audit log cannot be opened, written or read. */
class AuditError extends errors/* AirlockError */.qR {
}
/** `prev` of the first entry. */
const GENESIS_HASH = '0'.repeat(64);
/** Entry type that marks a cleanly finished log. */
const STOP_TYPE = 'stop';
const HASH_RE = /^[0-9a-f]{64}$/;
const ISO_TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const ENTRY_FIELDS = ['seq', 'time', 'type', 'prev', 'data', 'hash'];
/**
 * SHA-256 (hex) of the canonical JSON of `{seq, time, type, prev, data}`: object keys
 * sorted recursively and no whitespace, in the spirit of RFC 8785 (JCS), so the hash does
 * not depend on how a line was formatted.
 */
function entryHash(e) {
    const body = { seq: e.seq, time: e.time, type: e.type, prev: e.prev, data: e.data };
    return (0,external_node_crypto_.createHash)('sha256').update(canonicalJson(body), 'utf8').digest('hex');
}
/** The single writer of one audit log file. */
class AuditLog {
    /** Run the log belongs to; recorded in the first entry as `data.runId`. */
    runId;
    #file;
    #fd;
    #seq = 0;
    #head = GENESIS_HASH;
    /** Set when a write failed part-way: the file may hold a partial line, so stop. */
    #broken = false;
    constructor(file, fd, runId) {
        this.#file = file;
        this.#fd = fd;
        this.runId = runId;
    }
    /**
     * Create `file` with mode 0600 and write nothing yet. Fails with
     * `AIRLOCK_AUDIT_EXISTS` if the file exists: a chain has exactly one writer, and
     * appending to someone else's log (or following a planted symlink) would break that.
     */
    static open(file, opts = {}) {
        let fd;
        try {
            // O_EXCL with O_CREAT also refuses to follow a symlink at `file`.
            fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_APPEND, 0o600);
        }
        catch (err) {
            const code = err.code;
            if (code === 'EEXIST') {
                throw new AuditError('AIRLOCK_AUDIT_EXISTS', `audit log ${file} already exists`, {
                    cause: err
                });
            }
            throw new AuditError('AIRLOCK_AUDIT_OPEN', `cannot create audit log ${file}: ${err.message}`, { cause: err });
        }
        return new AuditLog(file, fd, opts.runId);
    }
    /** Hash of the last entry written (64 zeros before any). */
    get head() {
        return this.#head;
    }
    /**
     * Append one entry and return it. Synchronous so entries land in call order even when
     * called from concurrent request handlers. `data` must be JSON-serialisable; it is
     * stored as JSON would read it back (e.g. `undefined` members dropped, Dates as text).
     */
    append(type, data) {
        if (this.#fd === undefined) {
            throw new AuditError('AIRLOCK_AUDIT_CLOSED', `audit log ${this.#file} is closed`);
        }
        if (this.#broken) {
            throw new AuditError('AIRLOCK_AUDIT_WRITE', `audit log ${this.#file} is unusable after a failed write`);
        }
        if (typeof type !== 'string' || type.length === 0) {
            throw new AuditError('AIRLOCK_AUDIT_BAD_ENTRY', 'audit entry type must be a non-empty string');
        }
        let stored = normaliseData(data);
        if (this.#seq === 0 && this.runId !== undefined && !('runId' in stored)) {
            stored = { runId: this.runId, ...stored };
        }
        const body = {
            seq: this.#seq,
            time: new Date().toISOString(),
            type,
            prev: this.#head,
            data: stored
        };
        const entry = { ...body, hash: entryHash(body) };
        const line = Buffer.from(JSON.stringify(entry) + '\n', 'utf8');
        try {
            // writeSync may write fewer bytes than asked (e.g. on a full disk); loop until done.
            let offset = 0;
            while (offset < line.length) {
                offset += writeSync(this.#fd, line, offset, line.length - offset);
            }
        }
        catch (err) {
            this.#broken = true;
            throw new AuditError('AIRLOCK_AUDIT_WRITE', `cannot write audit log ${this.#file}: ${err.message}`, { cause: err });
        }
        this.#seq++;
        this.#head = entry.hash;
        return entry;
    }
    /** Flush to disk and close. Idempotent. Append a `stop` entry first to mark a clean end. */
    close() {
        const fd = this.#fd;
        if (fd === undefined)
            return;
        this.#fd = undefined;
        try {
            fsyncSync(fd);
        }
        finally {
            closeSync(fd);
        }
    }
}
/**
 * Check a whole audit log. Detects modified entries (hash mismatch), inserted, deleted
 * or reordered entries (seq and prev), a partial last line, invalid JSON and missing or
 * unexpected fields; with `head` (the `audit-head` output) also a truncated or replaced log.
 */
function verifyAuditLog(text, opts = {}) {
    const chain = new ChainCheck();
    let tail = '';
    if (text.length > 0) {
        const lines = text.split('\n');
        // Every entry ends with '\n', so a complete log splits into lines plus one empty tail.
        tail = lines.pop() ?? '';
        for (const raw of lines)
            if (!chain.add(raw))
                break;
    }
    return chain.finish(tail, opts);
}
/** The longest audit entry read; the proxy writes none near it. */
const MAX_ENTRY_CHARS = 64 * 1024 * 1024;
/** The chain checked one line at a time, so a log need not fit in one string. */
class ChainCheck {
    head = GENESIS_HASH;
    entries = 0;
    closed = false;
    seal;
    failure;
    lines = 0;
    error;
    /** The next line (null: longer than the longest entry read). False once the chain broke. */
    add(raw) {
        const line = ++this.lines;
        const parsed = raw === null
            ? `line ${line}: longer than ${MAX_ENTRY_CHARS} characters`
            : parseEntry(raw, line);
        if (typeof parsed === 'string')
            return this.fail(line, parsed);
        if (parsed.seq !== this.entries)
            return this.fail(line, `line ${line}: seq is ${parsed.seq}, expected ${this.entries} (entry inserted, deleted or reordered)`);
        if (parsed.prev !== this.head)
            return this.fail(line, `line ${line}: prev does not match the hash of the previous entry (entry inserted, deleted or reordered)`);
        if (parsed.hash !== entryHash(parsed))
            return this.fail(line, `line ${line}: hash mismatch (entry modified)`);
        this.entries++;
        this.head = parsed.hash;
        this.closed = parsed.type === STOP_TYPE;
        this.seal = this.closed ? networkSeal(parsed.data) : undefined;
        const failure = this.closed ? parsed.data.failure : undefined;
        this.failure = typeof failure === 'string' ? failure : undefined;
        return true;
    }
    /** The verdict, given what followed the last newline (a torn entry when not empty). */
    finish(tail, opts) {
        if (!this.error && tail.length > 0) {
            const line = this.lines + 1;
            this.fail(line, `line ${line}: incomplete last line (log truncated mid-entry)`);
        }
        if (!this.error && opts.head !== undefined && opts.head.trim().toLowerCase() !== this.head)
            this.fail(this.entries, 'head mismatch: log truncated or replaced');
        const { entries, head, closed } = this;
        if (this.error)
            return { ok: false, entries, head, closed, error: this.error };
        return {
            ok: true,
            entries,
            head,
            closed,
            ...(this.seal ? { network: this.seal } : {}),
            ...(this.failure !== undefined ? { failure: this.failure } : {})
        };
    }
    fail(line, reason) {
        this.error ??= { line, reason };
        return false;
    }
}
/**
 * Calls `onLine` with each line of a file, read a chunk at a time, and returns what follows
 * the last newline ('' when the file ends with one). A log can be longer than the longest
 * JavaScript string (~512 MiB): an agent reaches that with ~20,000 refused requests that each
 * carry a 30 KiB URL, and a reader that read the file whole then threw, leaving the run with
 * no audit head, no summary and no uploaded logs. A line longer than `maxLine` characters is
 * passed as null; `onLine` returning false stops the reading.
 */
function forEachLine(file, onLine, maxLine = MAX_ENTRY_CHARS) {
    const decoder = new external_node_string_decoder_.StringDecoder('utf8');
    // The line read so far; null once it is longer than maxLine (the rest is skipped).
    let partial = '';
    const feed = (text) => {
        let start = 0;
        for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
            const line = partial === null ? null : partial + text.slice(start, nl);
            start = nl + 1;
            partial = '';
            if (onLine(line !== null && line.length > maxLine ? null : line) === false)
                return false;
        }
        if (partial !== null)
            partial += text.slice(start);
        if (partial !== null && partial.length > maxLine)
            partial = null;
        return true;
    };
    const read = forEachChunk(file, (chunk) => feed(decoder.write(chunk)));
    if (!read || !feed(decoder.end()))
        return '';
    // An overlong unfinished line is still an unfinished line.
    return partial ?? '\u0000';
}
function networkSeal(data) {
    const n = data.network;
    if (!n || typeof n !== 'object')
        return undefined;
    const { lines, sha256 } = n;
    if (!Number.isSafeInteger(lines) || typeof sha256 !== 'string' || !HASH_RE.test(sha256))
        return undefined;
    return { lines: lines, sha256 };
}
/**
 * Calls `onChunk` with each chunk of a file, read 1 MiB at a time (the chunk is reused: copy
 * what must outlive the call); `onChunk` returning false stops the reading. True when the
 * file was read to its end.
 */
function forEachChunk(file, onChunk) {
    const fd = (0,external_node_fs_.openSync)(file, 'r');
    try {
        const buf = Buffer.alloc(1024 * 1024);
        for (let n = (0,external_node_fs_.readSync)(fd, buf); n > 0; n = (0,external_node_fs_.readSync)(fd, buf))
            if (onChunk(buf.subarray(0, n)) === false)
                return false;
        return true;
    }
    finally {
        (0,external_node_fs_.closeSync)(fd);
    }
}
/**
 * Whether network.jsonl is what the stop entry sealed; a reason when not. The file is the
 * run's alone, so any difference is an edit, a cut or an append after the run. Read a chunk
 * at a time: the agent decides how long the network log is, and past 2 GiB it is more than
 * one Buffer. Throws when it cannot be read.
 */
function checkNetworkFile(file, seal) {
    const hash = createHash('sha256');
    let lines = 0;
    forEachChunk(file, (chunk) => {
        hash.update(chunk);
        for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1))
            lines++;
    });
    const sha256 = hash.digest('hex');
    if (sha256 === seal.sha256)
        return undefined;
    return `it does not match the audit chain's record (${seal.lines} lines sealed, ${lines} found; SHA-256 ${sha256.slice(0, 12)}… instead of ${seal.sha256.slice(0, 12)}…): edited, cut or appended after the run`;
}
/**
 * {@link verifyAuditLog} on a file. Throws `AIRLOCK_AUDIT_READ` when the file cannot be
 * read, since that says nothing about whether its content was tampered with.
 */
function verifyAuditFile(file, opts = {}) {
    const chain = new ChainCheck();
    let tail;
    try {
        // Line by line: the log can be longer than one string (see forEachLine).
        tail = forEachLine(file, (raw) => chain.add(raw));
    }
    catch (err) {
        throw new AuditError('AIRLOCK_AUDIT_READ', `cannot read audit log ${file}: ${err.message}`, { cause: err });
    }
    return chain.finish(tail, opts);
}
/** Parse and shape-check one line; a string is the reason it is not a valid entry. */
function parseEntry(raw, line) {
    if (raw.trim().length === 0)
        return `line ${line}: empty line`;
    let value;
    try {
        value = JSON.parse(raw);
    }
    catch {
        return `line ${line}: invalid JSON`;
    }
    if (!isPlainObject(value))
        return `line ${line}: not a JSON object`;
    for (const field of ENTRY_FIELDS) {
        if (!(field in value))
            return `line ${line}: missing field "${field}"`;
    }
    // Fields outside the hash could be added or changed without detection, so none are allowed.
    const extra = Object.keys(value).find((k) => !ENTRY_FIELDS.includes(k));
    if (extra !== undefined)
        return `line ${line}: unexpected field ${JSON.stringify(extra)}`;
    const { seq, time, type, prev, data, hash } = value;
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) {
        return `line ${line}: seq must be a non-negative integer`;
    }
    if (typeof time !== 'string' || !ISO_TIME_RE.test(time) || Number.isNaN(Date.parse(time))) {
        return `line ${line}: time must be an ISO 8601 UTC timestamp`;
    }
    if (typeof type !== 'string' || type.length === 0) {
        return `line ${line}: type must be a non-empty string`;
    }
    if (typeof prev !== 'string' || !HASH_RE.test(prev)) {
        return `line ${line}: prev must be 64 lowercase hex digits`;
    }
    if (!isPlainObject(data))
        return `line ${line}: data must be a JSON object`;
    if (typeof hash !== 'string' || !HASH_RE.test(hash)) {
        return `line ${line}: hash must be 64 lowercase hex digits`;
    }
    return { seq, time, type, prev, data, hash };
}
/**
 * Round-trip through JSON so the entry returned and hashed is exactly what a verifier
 * will parse back from the file (no `undefined`, no -0, Dates as strings).
 */
function normaliseData(data) {
    let copy;
    try {
        copy = JSON.parse(JSON.stringify(data));
    }
    catch (err) {
        throw new AuditError('AIRLOCK_AUDIT_BAD_ENTRY', `audit entry data is not JSON-serialisable: ${err.message}`, { cause: err });
    }
    if (!isPlainObject(copy)) {
        throw new AuditError('AIRLOCK_AUDIT_BAD_ENTRY', 'audit entry data must be a plain object');
    }
    return copy;
}
function isPlainObject(v) {
    return typeof v === 'object' && v !== null && !Array.isArray(v);
}
/** JSON with object keys sorted (UTF-16 code unit order, as RFC 8785 §3.2.3) at every depth. */
function canonicalJson(input) {
    // Honour toJSON (Dates and the like) exactly as JSON.stringify would.
    const value = typeof input === 'object' &&
        input !== null &&
        typeof input.toJSON === 'function'
        ? input.toJSON()
        : input;
    if (Array.isArray(value))
        return `[${value.map(canonicalJson).join(',')}]`;
    if (isPlainObject(value)) {
        const members = Object.keys(value)
            .filter((k) => value[k] !== undefined)
            .sort()
            .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`);
        return `{${members.join(',')}}`;
    }
    // Primitives: JSON.stringify already gives the shortest round-trip number form
    // (RFC 8785 §3.2.2.3) and the escaped string. undefined inside arrays becomes null, as in JSON.
    return JSON.stringify(value) ?? 'null';
}

;// CONCATENATED MODULE: ./src/report/network.ts


/** The host of a logged URL (an authority alone for a CONNECT). */
function hostOf(url) {
    try {
        return new URL(url.includes('://') ? url : `https://${url}`).host;
    }
    catch {
        return url.split('/')[0] ?? url;
    }
}
/** Refused requests kept for the report, of each kind (any, and ones that carried data). */
const MAX_KEPT_BLOCKED = 500;
/** A kept refusal's URL is cut to this (the report shows 300 characters at most). */
const MAX_KEPT_URL = 4096;
/**
 * Reads network.jsonl (tolerating a torn last line: the proxy may have been killed), a line at
 * a time and keeping a bounded part of it: the agent decides how long it is. Read whole, a log
 * of ~20,000 refused requests with 30 KiB URLs was longer than one string, and main threw
 * before it set its outputs, wrote the summary or uploaded the logs; kept whole, every refusal
 * stayed in memory. Refusals that carried data out are kept apart, so a flood of plain ones
 * cannot push them out of the report.
 */
function summarizeNetwork(file) {
    const summary = {
        requests: 0,
        blocked: [],
        blockedCount: 0,
        audited: 0,
        hosts: []
    };
    if (!(0,external_node_fs_.existsSync)(file))
        return summary;
    const byHost = new Map();
    const carriedData = [];
    const plain = [];
    forEachLine(file, (line) => {
        if (!line?.trim())
            return;
        let e;
        try {
            e = JSON.parse(line);
        }
        catch {
            return;
        }
        summary.requests++;
        const host = hostOf(e.url);
        let h = byHost.get(host);
        if (!h) {
            h = { host, requests: 0, statuses: {}, bytesIn: 0, bytesOut: 0, blocked: 0, grants: [] };
            byHost.set(host, h);
        }
        h.requests++;
        const status = e.error ? `error ${e.error}` : String(e.status ?? '-');
        h.statuses[status] = (h.statuses[status] ?? 0) + 1;
        h.bytesIn += e.bytesIn;
        h.bytesOut += e.bytesOut;
        for (const g of e.grants ?? [])
            if (!h.grants.includes(g))
                h.grants.push(g);
        if (e.blocked) {
            h.blocked++;
            summary.blockedCount = (summary.blockedCount ?? 0) + 1;
            const kept = sendsData(e.method, bodyBytes(e), e.blocked) ? carriedData : plain;
            if (kept.length < MAX_KEPT_BLOCKED)
                kept.push(typeof e.url === 'string' && e.url.length > MAX_KEPT_URL
                    ? { ...e, url: `${e.url.slice(0, MAX_KEPT_URL)}…` }
                    : e);
        }
        if (e.audited)
            summary.audited++;
    });
    summary.blocked = [...carriedData, ...plain];
    summary.hosts = [...byHost.values()].sort((a, b) => b.requests - a.requests);
    return summary;
}
/** How many requests were refused in all. */
function blockedTotal(net) {
    return net.blockedCount ?? net.blocked.length;
}
/** Bytes of body a request carried: what reached the proxy, else what it announced. */
function bodyBytes(e) {
    const len = Number(e.requestHeaders?.['content-length'] ?? 0);
    return Math.max(e.bytesOut || 0, Number.isSafeInteger(len) && len > 0 ? len : 0);
}
/**
 * Whether a refused request looks like data leaving: a method that writes, with a body, to a
 * host not on the allowlist. The advice for it is never "allow the host": an agent that read
 * the code and then posts it somewhere unknown is what the airlock is there to stop.
 */
function sendsData(method, bytes, reason) {
    return (reason === 'not-allowed' &&
        bytes > 0 &&
        !['GET', 'HEAD', 'OPTIONS', 'CONNECT'].includes(method.toUpperCase()));
}
/** Advice for a request that {@link sendsData}. */
const EXFILTRATION_ADVICE = '**possible exfiltration**: data sent to a host not on the allowlist; do not allow it unless you know why the agent sends data there';
/**
 * What to do about one refused request: for data sent to a host not on the allowlist the
 * advice is never to allow it ({@link sendsData}), else the {@link remedy} for its reason.
 */
function adviceFor(e, reason) {
    return sendsData(e.method, bodyBytes(e), reason) ? EXFILTRATION_ADVICE : remedy(reason);
}
/** What a user changes to allow a refused request, by block reason. */
function remedy(reason) {
    switch (reason) {
        case 'not-allowed':
            return 'add the host to `allowed-endpoints`';
        case 'port-not-allowed':
            return 'add `host:port` to `allowed-endpoints`';
        case 'plain-http':
            return 'add `http://host` to `allowed-endpoints` (no credentials are ever sent over plain HTTP)';
        case 'ip-literal':
        case 'localhost':
        case 'private-address':
            return 'route a name to it with `connect-to`, if it is yours';
        case 'metadata':
            return "never allowed: cloud metadata endpoints hold the runner's credentials";
        default:
            return 'refused by the airlock (see the audit log)';
    }
}

;// CONCATENATED MODULE: ./src/markdown/safe.ts



/** Parses Markdown the way GitHub does (CommonMark + GFM: tables, autolinks, footnotes, …). */
function parseMarkdown(text) {
    return fromMarkdown(text, { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] });
}
/**
 * Characters that render as nothing, or reorder what is around them (bidi controls: the
 * "Trojan Source" trick), or control a terminal. They are shown as `<U+XXXX>` so a comment
 * reads as what it contains. A zero-width joiner between emoji is kept (it builds one glyph).
 */
const INVISIBLE = 
// Control characters and lone combining marks are exactly what this matches.
// eslint-disable-next-line no-control-regex, no-misleading-character-class
/(?<!\p{Extended_Pictographic}\uFE0F?)\u200D|\u200D(?!\p{Extended_Pictographic})|[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B\u200C\u200E\u200F\u2028-\u202E\u2060-\u206F\u3164\uFEFF\uFFA0\uFFF9-\uFFFB]|[\u{E0000}-\u{E007F}]/gu;
/** Shows invisible and reordering characters as `<U+XXXX>`. */
function revealInvisible(text) {
    return text.replace(INVISIBLE, (c) => `<U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}>`);
}
/** Whether `text` holds a character {@link revealInvisible} would show. */
function hasInvisible(text) {
    INVISIBLE.lastIndex = 0;
    const found = INVISIBLE.test(text);
    INVISIBLE.lastIndex = 0;
    return found;
}
/** Cuts `text` to at most `max` characters (never between the halves of a surrogate pair). */
function truncate(text, max, mark = '…') {
    if (text.length <= max)
        return text;
    let cut = Math.max(0, max - mark.length);
    if (/[\uD800-\uDBFF]/.test(text[cut - 1] ?? ''))
        cut--;
    return text.slice(0, cut) + mark;
}
/**
 * One untrusted value as an inline code span: nothing inside a code span is a link, image,
 * HTML, mention or autolink. The fence is one backtick longer than any run inside, padded
 * with spaces when the value starts or ends with a backtick or space (CommonMark §6.1);
 * line breaks are shown as `\n`/`\r` so the value stays on its line (and in its table cell);
 * invisible characters are revealed; in a table, `|` is escaped as GFM requires.
 */
function codeSpan(value, opts = {}) {
    let v = truncate(value, opts.max ?? 500);
    v = v.replace(/\r/g, '\\r').replace(/\n/g, '\\n').replace(/\t/g, ' ');
    v = revealInvisible(v);
    if (v === '')
        return '(empty)';
    if (v.trim() === '')
        return `(${v.length} space${v.length === 1 ? '' : 's'})`;
    // GFM splits a row at every `|` not escaped by a backslash, also inside code spans. A
    // backslash already before a `|` would make `\\|`, which cmark-gfm and micromark read
    // differently; such a backslash is revealed instead.
    if (opts.table)
        v = v.replace(/\\(?=\|)/g, '<U+005C>').replace(/\|/g, '\\|');
    let longest = 0;
    for (const m of v.matchAll(/`+/g))
        longest = Math.max(longest, m[0].length);
    const fence = '`'.repeat(longest + 1);
    const pad = /^[` ]|[` ]$/.test(v) ? ' ' : '';
    return `${fence}${pad}${v}${pad}${fence}`;
}
/**
 * Text GitHub would turn into something live: URLs and `www.` autolinks, e-mail addresses,
 * `@user`/`@org/team` mentions, and references that notify or backlink (`owner/repo#1`,
 * `owner/repo@sha`, `#1`, `GH-1`). Each becomes a code span.
 */
const LIVE = new RegExp([
    // scheme:// URLs and the schemes GFM autolinks without slashes.
    String.raw `\b[A-Za-z][A-Za-z0-9+.-]{1,31}:\/\/[^\s<>]*`,
    String.raw `\b(?:mailto|xmpp):[^\s<>]+`,
    String.raw `\bwww\.[^\s<>]+`,
    // e-mail addresses (GitHub autolinks them) before mentions, which they contain.
    // (Each starts only where its run of name characters starts: tried at every position of a
    // long run, it would cost quadratic time.)
    String.raw `(?<![A-Za-z0-9._+-])[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+`,
    String.raw `(?<![A-Za-z0-9_.-])[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+(?:#\d+|@[0-9a-fA-F]{7,40})\b`,
    String.raw `@[A-Za-z0-9_][A-Za-z0-9_-]*(?:\/[A-Za-z0-9_.-]+)?`,
    String.raw `(?<![\w&])#\d+\b`,
    String.raw `\bGH-\d+\b`
].join('|'), 'gi');
/** ASCII punctuation that means something in inline Markdown, escaped wherever it appears. */
const INLINE_SPECIAL = /[\\`*_[\]<>|~&$]/g;
/**
 * Plain text as Markdown that renders as exactly that text: live things in code spans,
 * Markdown punctuation backslash-escaped, and what would start a block at the beginning of a
 * line (`#`, `-`, `+`, `=`, `1.`) escaped too.
 */
function safeText(text, opts = {}) {
    const s = revealInvisible(text.replace(/\r\n?/g, '\n'));
    let out = '';
    let last = 0;
    let live = '';
    const flush = () => {
        if (live)
            out = join(out, codeSpan(live, { table: opts.table, max: 2000 }));
        live = '';
    };
    for (const m of s.matchAll(LIVE)) {
        // Touching matches (`@a@b`) become one span: two spans side by side could pair up wrong.
        if (m.index > last) {
            flush();
            out = join(out, escapePlain(s.slice(last, m.index)));
        }
        live += m[0];
        last = m.index + m[0].length;
    }
    flush();
    return join(out, escapePlain(s.slice(last)));
}
/**
 * Concatenates rendered pieces. Where a backtick would touch a backtick (two code spans, or
 * a span after an escaped backtick), a space goes between: backtick runs that touch merge
 * into one run of another length, and a span whose fence changed length may not close,
 * leaving its content as live text.
 */
function join(a, b) {
    return a.endsWith('`') && b.startsWith('`') ? `${a} ${b}` : a + b;
}
function escapePlain(s) {
    return s
        .replace(INLINE_SPECIAL, '\\$&')
        .replace(/(^|\n)([ \t]*)([#+=-])/g, '$1$2\\$3')
        .replace(/(^|\n)([ \t]*\d{1,9})([.)])/g, '$1$2\\$3');
}
/**
 * A single-line value for places that render only a little Markdown, like pull request
 * titles (code spans and references, no backslash escapes): one line, invisible characters
 * revealed, backticks made quotes, live things (mentions, references, URLs) in code spans.
 */
function safeTitle(text, max = 200) {
    const s = revealInvisible(truncate(text
        .replace(/[\r\n]+/g, ' ')
        .replace(/`/g, "'")
        .trim(), max));
    return (s
        .replace(LIVE, (m) => `\`${m}\``)
        // Titles render no links, images or HTML today; should one ever be shown as Markdown,
        // `](` and `<tag` still make none (a link needs `(` right after `]`).
        .replace(/\]\(/g, '] (')
        .replace(/<(?=[A-Za-z/!?])/g, '< '));
}
/**
 * Whether a text is too costly to parse: a line opening more than 32 nested containers
 * (`> > > …`, `- - - …`, `1. 1. …`), or more than 5,000 emphasis delimiters.
 * The parser's time grows with the square of the nesting (20,000 levels take minutes) and
 * its stack runs out; no one writes such text to be read, so it is shown as code instead.
 */
function tooDeep(src) {
    // Emphasis delimiters cost the parser quadratic time too (20,000 of them take a minute).
    let delimiters = 0;
    for (const c of src)
        if ((c === '*' || c === '_' || c === '~') && ++delimiters > 5_000)
            return true;
    return /^(?:[ \t]{0,3}(?:>|[-*+](?=[ \t])|\d{1,9}[.)](?=[ \t]))[ \t]*){33}/m.test(src);
}
/** What {@link safeMarkdown} appends when it had to cut the text. */
const TRUNCATED_NOTE = '*…(cut to fit GitHub’s length limit)*';
/**
 * Agent prose, re-rendered as inert Markdown: parsed with the CommonMark + GFM parser and
 * written back as a subset that keeps the reading (paragraphs, emphasis, strikethrough,
 * headings, lists, task lists, quotes, code spans, fenced code blocks, including
 * ```suggestion blocks, and tables with escaped cells) while links and images become their
 * text plus the URL in a code span, raw HTML (tags, `<details>`, comments, so also anything
 * looking like Airlock's own markers) becomes code, and mentions, references, bare URLs and
 * e-mail addresses become code spans. The result never holds a link, image, HTML or mention
 * for GitHub to act on, however the input was written.
 *
 * Too long a text is cut before it is rendered, never after: cutting rendered Markdown can
 * split a code span or an escape and bring back what it neutralised.
 */
function safeMarkdown(text, opts = {}) {
    const max = opts.maxChars ?? 60_000;
    const room = Math.max(0, max - TRUNCATED_NOTE.length - 2);
    let src = text.replace(/\r\n?/g, '\n');
    let cut = false;
    // Bound the parser's work (pathological emphasis or brackets take it seconds per 10,000
    // characters): a text longer than its room is cut first, since it could not fit anyway.
    if (src.length > max) {
        src = cutSource(src, max);
        cut = true;
    }
    let out = renderOrShow(src);
    // Escapes and code spans make the output longer than its source: cut the source in
    // proportion and render again, a few times at most.
    for (let i = 0; i < 4 && out.length > (cut ? room : max); i++) {
        src = cutSource(src, Math.floor((src.length * room * 0.95) / out.length));
        out = renderOrShow(src);
        cut = true;
    }
    // Still too long: the text as a code block, which is at most a fence longer than itself.
    if (out.length > (cut ? room : max))
        out = codeBlock(truncate(src, Math.floor(room / 3), ''));
    return cut ? `${out}${out ? '\n\n' : ''}${TRUNCATED_NOTE}` : out;
}
/** The first `max` characters of Markdown source, at a line boundary when one is near. */
function cutSource(src, max) {
    const next = truncate(src, Math.max(0, Math.min(src.length - 1, max)), '');
    const nl = next.lastIndexOf('\n');
    return nl > next.length / 2 ? next.slice(0, nl) : next;
}
/**
 * {@link render}, or the text as a code block when it cannot be rendered: nesting thousands
 * deep (`> > > …`) exhausts the parser's stack, and a text that cannot be parsed is shown.
 */
function renderOrShow(src) {
    if (tooDeep(src))
        return codeBlock(src);
    try {
        return render(src);
    }
    catch {
        return codeBlock(src);
    }
}
function render(src) {
    const tree = parseMarkdown(src);
    const ctx = { src, defs: new Map() };
    collectDefinitions(tree, ctx.defs);
    return blocks(tree.children, ctx).trim();
}
function collectDefinitions(node, defs) {
    if (node.type === 'definition') {
        if (!defs.has(node.identifier))
            defs.set(node.identifier, node.url);
        return;
    }
    if ('children' in node)
        for (const c of node.children)
            collectDefinitions(c, defs);
}
/** The source text of a node (for constructs shown as code). */
function source(node, ctx) {
    const s = node.position?.start.offset;
    const e = node.position?.end.offset;
    return s === undefined || e === undefined ? '' : ctx.src.slice(s, e);
}
/** A fenced code block nothing inside can close. */
function codeBlock(value, lang = '') {
    let longest = 0;
    for (const m of value.matchAll(/`+/g))
        longest = Math.max(longest, m[0].length);
    const fence = '`'.repeat(Math.max(3, longest + 1));
    const info = /^[A-Za-z0-9_+.#-]{1,32}$/.test(lang) ? lang : '';
    return `${fence}${info}\n${revealInvisible(value.replace(/\n$/, ''))}\n${fence}`;
}
function blocks(nodes, ctx) {
    return nodes
        .map((n) => block(n, ctx))
        .filter((b) => b !== '')
        .join('\n\n');
}
function block(node, ctx) {
    switch (node.type) {
        case 'paragraph':
            return inline(node.children, ctx, false);
        case 'heading': {
            const text = inline(node.children, ctx, false).replace(/\n/g, ' ');
            return text ? `${'#'.repeat(node.depth)} ${text}` : '';
        }
        case 'thematicBreak':
            return '---';
        case 'blockquote':
            return blocks(node.children, ctx)
                .split('\n')
                .map((l) => (l === '' ? '>' : `> ${l}`))
                .join('\n');
        case 'list': {
            const start = node.start ?? 1;
            return node.children
                .map((item, i) => {
                const marker = node.ordered ? `${start + i}.` : '-';
                const task = item.checked === true ? '[x] ' : item.checked === false ? '[ ] ' : '';
                const body = blocks(item.children, ctx);
                const pad = ' '.repeat(marker.length + 1);
                const [first = '', ...rest] = body.split('\n');
                // A bare marker with text after it on the first line; an empty item stays empty.
                const head = `${marker}${first || task ? ` ${task}${first}` : ''}`;
                return [head, ...rest.map((l) => (l === '' ? '' : pad + l))].join('\n');
            })
                .join(node.spread ? '\n\n' : '\n');
        }
        case 'code':
            return codeBlock(node.value, node.lang ?? '');
        case 'html':
            // Raw HTML is shown, not rendered: <img>, <a>, <details>, comments, forged markers.
            return codeBlock(node.value, 'html');
        case 'definition':
            // Invisible when rendered, but it is what the text says: shown, as code.
            return codeSpan(source(node, ctx).replace(/\n/g, ' '), { max: 2000 });
        case 'footnoteDefinition': {
            const body = blocks(node.children, ctx);
            return `${safeText(`[^${node.label ?? node.identifier}]:`)} ${body}`;
        }
        case 'table': {
            const rows = node.children.map((row) => row.children.map((cell) => inline(cell.children, ctx, true).replace(/\n/g, ' ')));
            const width = Math.max(1, ...rows.map((r) => r.length));
            const line = (cells) => `| ${Array.from({ length: width }, (_, i) => cells[i] ?? '').join(' | ')} |`;
            const align = Array.from({ length: width }, (_, i) => {
                const a = node.align?.[i];
                return a === 'left' ? ':---' : a === 'right' ? '---:' : a === 'center' ? ':---:' : '---';
            });
            return [line(rows[0] ?? []), `| ${align.join(' | ')} |`, ...rows.slice(1).map(line)].join('\n');
        }
        default:
            // Anything this renderer does not know is shown as its source, as code.
            return codeBlock(source(node, ctx));
    }
}
function inline(nodes, ctx, table) {
    let out = '';
    for (const n of nodes)
        out = join(out, phrase(n, ctx, table));
    return out;
}
function wrap(mark, inner) {
    return inner.trim() === '' ? inner : `${mark}${inner}${mark}`;
}
function phrase(node, ctx, table) {
    switch (node.type) {
        case 'text':
            return safeText(node.value, { table });
        case 'emphasis':
            return wrap('*', inline(node.children, ctx, table));
        case 'strong':
            return wrap('**', inline(node.children, ctx, table));
        case 'delete':
            return wrap('~~', inline(node.children, ctx, table));
        case 'inlineCode':
            // CommonMark turns line endings in a code span into spaces.
            return codeSpan(node.value.replace(/\n/g, ' '), { table, max: 2000 });
        case 'break':
            return table ? ' ' : '\\\n';
        case 'link':
        case 'linkReference': {
            const url = node.type === 'link' ? node.url : (ctx.defs.get(node.identifier) ?? '');
            const src = source(node, ctx);
            // An autolink (`<https://…>`, a bare URL or e-mail): its text is the address.
            if (node.type === 'link' && !src.startsWith('['))
                return codeSpan(src.replace(/^<|>$/g, ''), { table, max: 2000 });
            const label = inline(node.children, ctx, table);
            return `${label}${label ? ' ' : ''}(${codeSpan(url, { table, max: 2000 })})`;
        }
        case 'image':
        case 'imageReference': {
            const url = node.type === 'image' ? node.url : (ctx.defs.get(node.identifier) ?? '');
            const alt = node.alt ? ` ${safeText(node.alt, { table })}` : '';
            return `(image${alt}: ${codeSpan(url, { table, max: 2000 })})`;
        }
        case 'html':
            return codeSpan(node.value.replace(/\n/g, ' '), { table, max: 2000 });
        case 'footnoteReference':
            return safeText(`[^${node.label ?? node.identifier}]`, { table });
        default:
            return codeSpan(source(node, ctx).replace(/\n/g, ' '), { table, max: 2000 });
    }
}
/**
 * Whether `body` carries Airlock's marker comment as Airlock writes it: a real HTML comment
 * node (not text, not code) equal to `marker`, on the body's first or last line. Agent text
 * that spells the marker is rendered as code by {@link safeMarkdown}, so it never counts.
 */
function hasMarker(body, marker) {
    const lines = body.replace(/\r\n?/g, '\n').split('\n');
    if (lines[0] !== marker && lines[lines.length - 1] !== marker)
        return false;
    const found = [];
    const visit = (n) => {
        if (n.type === 'html' && n.value.trim() === marker)
            found.push(n.value);
        if ('children' in n)
            for (const c of n.children)
                visit(c);
    };
    visit(parseMarkdown(body));
    return found.length > 0;
}

;// CONCATENATED MODULE: ./src/report/format.ts
/** Numbers for people: durations, sizes and counts as a reviewer reads them in a summary. */
/** `45 s`, `3 min 12 s`, `1 h 02 min`. */
function humanDuration(ms) {
    const s = Math.round(ms / 1000);
    if (s < 60)
        return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60)
        return `${m} min ${String(s % 60).padStart(2, '0')} s`;
    return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}
/** `950`, `12.3k`, `250k`, `1.2M`. */
function humanCount(n) {
    if (n < 1000)
        return String(n);
    if (n < 1_000_000)
        return `${(n / 1000).toFixed(n < 100_000 ? 1 : 0)}k`;
    return `${(n / 1_000_000).toFixed(1)}M`;
}
/** `512 B`, `47.1 KiB`, `3.2 MiB`, `1.1 GiB`. */
function humanBytes(n) {
    if (n < 1024)
        return `${n} B`;
    const units = ['KiB', 'MiB', 'GiB', 'TiB'];
    let v = n / 1024;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) {
        v /= 1024;
        i++;
    }
    return `${v.toFixed(v < 100 ? 1 : 0)} ${units[i]}`;
}

;// CONCATENATED MODULE: ./src/report/summary.ts




/**
 * A table cell holding one value nobody vetted: the agent chose the URLs it asked for, and a
 * refused request's URL, host or error is whatever the agent sent. Each is a code span that
 * nothing can close or break out of (see {@link codeSpan}), cut to `max` characters.
 */
const cell = (s, max = 200) => codeSpan(s, { table: true, max });
/** A number from the log, shown only if it is one (the log is read back from disk). */
const count = (n) => (Number.isFinite(n) ? String(n) : '?');
/** Bytes from the log, human-readable (`47.1 KiB`), only if they are a number. */
const bytes = (n) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? humanBytes(n) : '?';
/** Tables longer than this are folded into a `<details>`, so the summary reads at a glance. */
const FOLD_ROWS = 10;
/** Rows under a header, folded when there are many (the summary line is Airlock's text). */
function table(header, rows, summary) {
    const t = [...header, ...rows];
    return rows.length > FOLD_ROWS
        ? [`<details><summary>${summary}</summary>`, '', ...t, '', '</details>']
        : t;
}
const ICON = {
    success: '✅',
    failure: '❌',
    timeout: '⏱️',
    cancelled: '⏹️'
};
/**
 * The job summary: a header saying what ran and how it ended, the overview (duration, tokens,
 * grants by name, policy, links), the hosts reached (sizes human-readable), the refused
 * requests with what to do about each — never "allow it" for one that carried data to an
 * unknown host — and the audit head.
 */
function renderSummary(run, net) {
    const icon = ICON[run.conclusion] ?? '❔';
    const tokens = run.inputTokens !== undefined || run.outputTokens !== undefined
        ? `${humanCount(run.inputTokens ?? 0)} in, ${humanCount(run.outputTokens ?? 0)} out`
        : 'not reported';
    const lines = [
        `## Airlock ${icon} ${run.kind} ${codeSpan(run.what, { max: 200 })}: ${codeSpan(run.conclusion, { max: 40 })}`,
        '',
        `| ${run.kind} ${cell(run.what)} | |`,
        '| --- | --- |',
        `| conclusion | **${cell(run.conclusion, 40)}** (exit ${count(run.exitCode)}) |`,
        `| duration | ${humanDuration(run.durationMs)} |`,
        `| tokens | ${tokens} |`,
        `| image | ${cell(run.image)} |`,
        `| grants | ${run.grants.length > 0 ? run.grants.map((g) => cell(g, 80)).join(', ') : 'none'} |`,
        `| egress policy | ${cell(run.egressPolicy, 40)} |`,
        `| requests | ${count(net.requests)} (${count(blockedTotal(net))} blocked${net.audited ? `, ${count(net.audited)} would be blocked` : ''}) |`
    ];
    for (const l of run.links ?? [])
        if (/^https:\/\/[^\s()<>]+$/.test(l.url))
            lines.push(`| ${safeText(l.label)} | [${safeText(l.label)}](${l.url}) |`);
    lines.push('', '### Network', '');
    if (net.hosts.length === 0)
        lines.push('No requests left the container.');
    else {
        const rows = net.hosts.slice(0, 100).map((h) => {
            const statuses = Object.entries(h.statuses)
                .map(([s, n]) => `${s}×${n}`)
                .join(' ');
            return `| ${cell(h.host)} | ${count(h.requests)} | ${cell(statuses)} | ${bytes(h.bytesIn)} | ${bytes(h.bytesOut)} | ${h.grants.map((g) => cell(g, 80)).join(', ')} | ${h.blocked ? count(h.blocked) : ''} |`;
        });
        lines.push(...table([
            '| host | requests | statuses | in | out | credential | blocked |',
            '| --- | ---: | --- | ---: | ---: | --- | ---: |'
        ], rows, `${net.hosts.length} hosts`));
        if (net.hosts.length > 100)
            lines.push('', `…and ${net.hosts.length - 100} more hosts (see network.jsonl).`);
    }
    if (net.blocked.length > 0) {
        const exfil = net.blocked.filter((b) => sendsData(b.method, bodyBytes(b), b.blocked ?? ''));
        lines.push('', '### Blocked', '');
        if (exfil.length > 0)
            lines.push(`> [!WARNING]`, `> ${exfil.length} refused request${exfil.length === 1 ? '' : 's'} carried data to a host not on the allowlist. That is what an agent sending out what it read looks like: find out why before allowing any such host.`, '');
        // summarizeNetwork lists those that carried data first.
        const rows = net.blocked.slice(0, 50).map((b) => {
            const sent = bodyBytes(b);
            const advice = adviceFor(b, b.blocked ?? '');
            return `| ${cell(`${b.method} ${b.url}`, 300)} | ${b.blocked ? cell(b.blocked, 60) : ''} | ${sent > 0 ? humanBytes(sent) : ''} | ${advice} |`;
        });
        lines.push(...table(['| request | reason | data sent | what to do |', '| --- | --- | ---: | --- |'], rows, `${blockedTotal(net)} refused requests`));
    }
    lines.push('', `Audit head: ${codeSpan(run.auditHead || 'unavailable', { max: 100 })} — verify with ${codeSpan(`airlock audit verify audit.jsonl --head ${run.auditHead || '<head>'}`, { max: 200 })}`, '');
    return lines.join('\n');
}
async function writeSummary(markdown) {
    if (!process.env.GITHUB_STEP_SUMMARY)
        return;
    await core/* summary */.z.addRaw(markdown).write();
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
            this.token = (0,external_node_crypto_.randomBytes)(24).toString('hex');
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

;// CONCATENATED MODULE: ./src/grant/validate.ts

/** How long a key check may take before the run goes on without it. */
const KEY_CHECK_TIMEOUT_MS = 10_000;
/**
 * Runs a key check. A refusal throws a GrantError naming the provider, the input, the host
 * and the status (with the API's own message, minus the key); anything else that is not a
 * success (a network failure, a timeout, a 5xx, a rate limit) is only a warning: the check
 * is there to catch wrong keys early, not to make the run depend on one more request.
 */
async function checkKey(ctx, secret, check) {
    const host = new URL(check.url).host;
    const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(KEY_CHECK_TIMEOUT_MS)]);
    let status;
    let text;
    try {
        const res = await ctx.fetch(check.url, {
            method: check.method ?? 'GET',
            headers: check.headers,
            ...(check.body !== undefined ? { body: check.body } : {}),
            redirect: 'manual',
            signal
        });
        status = res.status;
        text = (await res.text()).slice(0, 4096);
    }
    catch (err) {
        if (ctx.signal.aborted)
            throw err;
        ctx.warn?.(`${check.provider}: could not check ${check.input} with ${host} (${describe(err)}); going on without the check`);
        return;
    }
    if (status >= 200 && status < 300)
        return;
    if (check.refused(status, text)) {
        const detail = apiMessage(text, secret);
        throw new GrantError(check.provider, `${host} refused ${check.input}: HTTP ${status}${detail ? ` (${detail})` : ''}`, check.hint);
    }
    ctx.warn?.(`${check.provider}: ${host} answered HTTP ${status} when checking ${check.input}; going on without the check`);
}
function describe(err) {
    const e = err;
    if (e.name === 'TimeoutError')
        return `no answer in ${KEY_CHECK_TIMEOUT_MS / 1000} s`;
    return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}
/**
 * The error message of an API's JSON error body (Anthropic, OpenAI and Google all nest it
 * under `error`), cut short, with the key removed in case an API quotes it.
 */
function apiMessage(body, secret) {
    let message;
    try {
        const json = JSON.parse(body);
        const m = typeof json.error === 'string'
            ? json.error
            : typeof json.error?.message === 'string'
                ? json.error.message
                : typeof json.message === 'string'
                    ? json.message
                    : '';
        message = m;
    }
    catch {
        return '';
    }
    if (secret.length >= 8)
        message = message.split(secret).join('[the key]');
    return message.replace(/\s+/g, ' ').trim().slice(0, 200);
}

;// CONCATENATED MODULE: ./src/grant/index.ts







/**
 * The one context grants run in, in the main step, the local CLI and the proxy daemon's
 * refreshes alike: inputs, the log masker, OIDC, the runner's proxy, GitHub's API URL.
 */
function makeGrantContext(opts) {
    const env = opts.env ?? process.env;
    const setSecret = opts.setSecret ?? maskInStepLog;
    const signal = opts.signal ?? new AbortController().signal;
    const upstreamCa = opts.upstreamCaPem ?? (opts.upstreamCa ? readCa(opts.upstreamCa) : undefined);
    // Grant calls leave the way the proxy's upstream connections do: connect-to, upstream-ca
    // and the runner's proxy.
    const grantFetch = createGrantFetch({
        env,
        ...(opts.connectTo ? { connectTo: opts.connectTo } : {}),
        ...(upstreamCa ? { upstreamCa } : {}),
        ...(opts.proxy !== undefined ? { proxy: opts.proxy } : {})
    });
    const oidc = opts.oidc ?? idTokenEndpointFromEnv(env);
    return {
        signal,
        settings: opts.settings ?? emptySettings(),
        fetch: grantFetch,
        getIDToken: (audience) => requestIdToken(oidc, audience, { fetch: grantFetch, setSecret, signal }),
        setSecret,
        warn: opts.warn ?? warnInStepLog,
        repository: opts.repository ?? env.GITHUB_REPOSITORY ?? '',
        runId: opts.runId ?? env.GITHUB_RUN_ID ?? 'local',
        githubApiUrl: opts.githubApiUrl ?? env.GITHUB_API_URL ?? 'https://api.github.com'
    };
}
function readCa(path) {
    try {
        return (0,external_node_fs_.readFileSync)(path, 'utf8');
    }
    catch (err) {
        throw new errors/* InputError */.dz('upstream-ca', `cannot read ${path}: ${err.message}`);
    }
}
/**
 * Grants every provider in order. Each minted value is masked as it arrives; the first
 * failure stops the run before anything else starts, as a GrantError naming what to set.
 * Each credential is pushed onto `out` the moment it exists, so a caller whose run stops at
 * a later grant or key check can still revoke the tokens minted before it.
 */
async function grantAll(names, ctx, out = []) {
    for (const name of names) {
        const provider = mustGet(name);
        let credential;
        try {
            credential = await provider.grant(ctx);
        }
        catch (err) {
            if (err instanceof GrantError)
                throw err;
            throw new GrantError(provider.name, err instanceof Error ? err : String(err));
        }
        // Claude on Bedrock or Vertex holds no secret of its own (the cloud grant does).
        if (credential.token)
            ctx.setSecret(credential.token);
        out.push({ provider: provider.name, credential });
    }
    // Then every key that can be checked is, at once: a wrong one fails here, before a
    // container or proxy exists.
    await Promise.all(out.map(async ({ provider, credential }) => {
        const p = mustGet(provider);
        const check = isValidatingProvider(p) ? p.keyCheck(credential) : undefined;
        if (check)
            await checkKey(ctx, credential.token, check);
    }));
    return out;
}
/**
 * Revokes every revocable credential, each bounded by timeoutMs, and resolves how many were
 * revoked. Never throws: a token that cannot be revoked still expires on its own, so a
 * failure is a warning, not a failed job.
 */
async function revokeAll(granted, ctx, warn, timeoutMs = 10_000) {
    let revoked = 0;
    await Promise.all(granted.map(async (g) => {
        const p = get(g.provider);
        if (!isRevocableProvider(p))
            return;
        let timer;
        const timeout = new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
        });
        try {
            if (await Promise.race([p.revoke(ctx, g.credential), timeout]))
                revoked++;
        }
        catch (err) {
            warn(`could not revoke the ${g.provider} token (it expires on its own): ${err.message}`);
        }
        finally {
            clearTimeout(timer);
        }
    }));
    return revoked;
}
/**
 * The settings the proxy daemon needs to re-mint credentials: every section (none is
 * secret) but only the one secret refresh uses, the App key, and only when an App is used.
 */
function settingsForRefresh(plan) {
    const key = plan.secrets['github-app-private-key'];
    const useApp = plan.grants.includes('github') && plan.githubApp.id && key;
    return {
        grants: plan.grants,
        secrets: useApp ? { 'github-app-private-key': key } : {},
        githubApp: plan.githubApp,
        aws: plan.aws,
        gcp: plan.gcp,
        custom: [],
        env: {}
    };
}
/**
 * The runner's ID-token endpoint for the daemon, only when a grant refreshes through OIDC:
 * the request token mints ID tokens for the rest of the job, so it goes nowhere it is not
 * needed.
 */
function daemonOidc(plan, env = process.env) {
    if (!plan.grants.some((g) => g === 'aws' || g === 'gcp'))
        return undefined;
    return idTokenEndpointFromEnv(env);
}

// EXTERNAL MODULE: ./src/daemon/start.ts + 1 modules
var start = __webpack_require__(97407);
// EXTERNAL MODULE: external "node:child_process"
var external_node_child_process_ = __webpack_require__(31421);
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



class DockerError extends errors/* AirlockError */.qR {
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

;// CONCATENATED MODULE: ./src/sandbox/init-script.ts
/**
 * The container's entry program, run by the runner's own Node binary mounted read-only, so
 * stock images need no changes. It relays 127.0.0.1:<port> to the proxy's unix socket (the
 * only way out of a `--network none` container), copies the staged config files into HOME,
 * then runs the command and passes its exit code and signals through.
 */
const INIT_SCRIPT = String.raw `
import net from 'node:net'
import { spawn } from 'node:child_process'
import { cpSync, existsSync } from 'node:fs'

const socketPath = process.env.AIRLOCK_PROXY_SOCKET
const port = Number(process.env.AIRLOCK_PROXY_PORT)
const home = process.env.HOME
const argv = process.argv.slice(2)
if (argv[0] === '--') argv.shift()

function fail(message, code) {
  process.stderr.write('airlock-init: ' + message + '\n')
  process.exit(code)
}

if (!socketPath || !port || argv.length === 0) fail('usage: init -- <command...> with AIRLOCK_PROXY_SOCKET and AIRLOCK_PROXY_PORT set', 125)
if (existsSync('/airlock/staging/home') && home) cpSync('/airlock/staging/home', home, { recursive: true, force: true })

const forwarder = net.createServer((client) => {
  const upstream = net.connect(socketPath)
  client.on('error', () => upstream.destroy())
  upstream.on('error', () => client.destroy())
  client.pipe(upstream).pipe(client)
})
forwarder.on('error', (err) => fail('forwarder: ' + err.message, 125))
forwarder.listen(port, '127.0.0.1', () => {
  const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit' })
  child.on('error', (err) => fail('cannot run ' + argv[0] + ': ' + err.message, err.code === 'ENOENT' ? 127 : 126))
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => child.kill(sig))
  child.on('exit', (code, signal) => {
    forwarder.close()
    process.exit(code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGINT' ? 2 : 15))
  })
})
`;

;// CONCATENATED MODULE: ./src/sandbox/staging.ts




/** Paths inside the container; the staging directory is mounted read-only at /airlock/staging. */
const CONTAINER = {
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
    await (0,promises_.mkdir)(stagingDir, { recursive: true, mode: 0o755 });
    await (0,promises_.writeFile)((0,external_node_path_.join)(stagingDir, 'init.mjs'), INIT_SCRIPT, { mode: 0o644 });
    // Variables like SSL_CERT_FILE replace the system store, so they get the public roots too.
    const bundle = [...(external_node_tls_default()).rootCertificates, caCertPem.trim()].join('\n') + '\n';
    await (0,promises_.writeFile)((0,external_node_path_.join)(stagingDir, 'ca-bundle.pem'), bundle, { mode: 0o644 });
}
/** The environment the container starts with: built from scratch, nothing from the runner. */
function sandboxEnv(opts) {
    const proxy = `http://airlock:${opts.proxyToken}@127.0.0.1:${FORWARDER_PORT}`;
    const git = [
        ['safe.directory', CONTAINER.workspace],
        ...(opts.workspaceAlias ? [['safe.directory', opts.workspaceAlias]] : []),
        // git sends proxy credentials only after a 407 unless told to use Basic up front.
        ['http.proxyAuthMethod', 'basic']
    ];
    const env = {
        ...opts.user,
        HOME: CONTAINER.home,
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
        NODE_EXTRA_CA_CERTS: CONTAINER.caCert,
        SSL_CERT_FILE: CONTAINER.caBundle,
        REQUESTS_CA_BUNDLE: CONTAINER.caBundle,
        CURL_CA_BUNDLE: CONTAINER.caBundle,
        GIT_SSL_CAINFO: CONTAINER.caBundle,
        AWS_CA_BUNDLE: CONTAINER.caBundle,
        GIT_TERMINAL_PROMPT: '0',
        GIT_CONFIG_COUNT: String(git.length),
        AIRLOCK_PROXY_SOCKET: CONTAINER.socket,
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
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
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
    const root = (0,external_node_fs_.realpathSync)(workspace);
    const all = new Set(configs);
    for (const f of gitFiles)
        for (const c of gitlinkConfigs(root, f))
            all.add(c);
    const hidden = [];
    const mounts = [];
    const visible = [];
    let n = 0;
    for (const rel of [...all].sort()) {
        const file = readNoFollow((0,external_node_path_.join)(root, rel));
        if (!file)
            continue;
        const cleaned = stripCredentials(file.text);
        visible.push({ rel, text: cleaned });
        if (cleaned === file.text)
            continue;
        if (n === 0)
            await (0,promises_.mkdir)((0,external_node_path_.join)(privateDir, 'git-config'), { mode: 0o700 });
        const copy = (0,external_node_path_.join)(privateDir, 'git-config', `${n++}.config`);
        (0,external_node_fs_.writeFileSync)(copy, cleaned, { mode: 0o600, flag: 'wx' });
        hidden.push({ rel, copy, cleaned, fingerprint: file.fingerprint });
        mounts.push({
            source: copy,
            target: `${CONTAINER.workspace}/${rel.split(external_node_path_.sep).join('/')}`,
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
        .filter((h) => readNoFollow((0,external_node_path_.join)(workspace, h.rel))?.fingerprint !== h.fingerprint)
        .map((h) => h.rel);
}
/** The config files of the gitdir a `.git` file points to, when that gitdir is in the workspace. */
function gitlinkConfigs(root, gitFile) {
    const file = readNoFollow((0,external_node_path_.join)(root, gitFile));
    const m = file && /^gitdir:\s*(.+?)\s*$/m.exec(file.text);
    if (!m)
        return [];
    const gitdir = (0,external_node_path_.resolve)((0,external_node_path_.dirname)((0,external_node_path_.join)(root, gitFile)), m[1]);
    let real;
    try {
        real = (0,external_node_fs_.realpathSync)(gitdir);
    }
    catch {
        return [];
    }
    const rel = (0,external_node_path_.relative)(root, real);
    if (!rel || rel === '..' || rel.startsWith(`..${external_node_path_.sep}`) || (0,external_node_path_.isAbsolute)(rel))
        return [];
    return [(0,external_node_path_.join)(rel, 'config'), (0,external_node_path_.join)(rel, 'config.worktree')];
}
/**
 * Reads a regular file without following a link at its last component and without blocking
 * on a FIFO; undefined when it is anything else or unreadable.
 */
function readNoFollow(path) {
    let fd;
    try {
        fd = (0,external_node_fs_.openSync)(path, external_node_fs_.constants.O_RDONLY | external_node_fs_.constants.O_NOFOLLOW | external_node_fs_.constants.O_NONBLOCK);
    }
    catch {
        return undefined;
    }
    try {
        const st = (0,external_node_fs_.fstatSync)(fd);
        if (!st.isFile() || st.size > MAX_CONFIG_BYTES)
            return undefined;
        const buf = Buffer.alloc(st.size);
        let got = 0;
        while (got < buf.length) {
            const r = (0,external_node_fs_.readSync)(fd, buf, got, buf.length - got, null);
            if (r === 0)
                break;
            got += r;
        }
        const text = buf.subarray(0, got).toString('utf8');
        const hash = (0,external_node_crypto_.createHash)('sha256').update(buf.subarray(0, got)).digest('hex');
        return { text, fingerprint: `${st.dev}:${st.ino}:${hash}` };
    }
    finally {
        (0,external_node_fs_.closeSync)(fd);
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
    (0,external_node_fs_.writeFileSync)(file, JSON.stringify(json), { mode: 0o600, flag: 'wx' });
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
    if (isRealDir((0,external_node_path_.join)(workspace, '.git')))
        dirs.add((0,external_node_path_.join)(workspace, '.git'));
    for (const rel of configs) {
        const abs = (0,external_node_path_.join)(workspace, rel);
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
        configs.set(name, execEntries((0,external_node_path_.join)(dir, name)) ?? []);
    return {
        dir,
        real: (0,external_node_fs_.realpathSync)(dir),
        commondir: exists((0,external_node_path_.join)(dir, 'commondir')),
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
    const root = (0,external_node_path_.join)(workspace, '.git');
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
                        await (0,start/* stopProcess */.g0)(r.pid, 5000);
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

;// CONCATENATED MODULE: ./src/sandbox/container.ts



/**
 * The container's memory limit: the daemon host's memory but a reserve (a tenth, at least
 * 512 MiB) for the runner, the proxy and the daemon. Without one, an agent (or what it builds,
 * or its tmpfs HOME and /tmp, each allowed half the host's memory) could push the host into
 * its OOM killer, which may pick the runner or the proxy instead of the agent; with it, the
 * kernel ends the container's own processes. None when the daemon cannot enforce a limit
 * (rootless Docker without cgroup v2 delegation refuses `--memory` outright) or the host is
 * too small to spare the reserve.
 */
function memoryLimit(info) {
    const total = info.MemTotal;
    if (info.MemoryLimit !== true || typeof total !== 'number' || !Number.isSafeInteger(total))
        return undefined;
    const limit = total - Math.max(Math.floor(total / 10), 512 * 1024 ** 2);
    return limit >= 1024 ** 3 ? limit : undefined;
}
/** `mountSpec` with the source named as the daemon sees it. */
function hostMount(spec, m) {
    const source = spec.hostPath
        ? spec.hostPath(m.source, { readOnly: m.readOnly === true })
        : m.source;
    return mountSpec({ ...m, source });
}
const field = (f) => (/[",\r\n]|^\s|\s$/.test(f) ? `"${f.replace(/"/g, '""')}"` : f);
/**
 * One `--mount` value. Docker reads it as a CSV record, and the paths in it can come from the
 * workspace (a submodule's name becomes `.git/modules/<name>/config`, and a name may hold
 * `,` and `/`): unquoted, `x,source=/etc,target=/y` would add fields of its own and bind any
 * runner path into the container. Every field is quoted as CSV, so a path is only ever a path.
 */
function mountSpec(m) {
    return [
        'type=bind',
        field(`source=${m.source}`),
        field(`target=${m.target}`),
        ...(m.readOnly ? ['readonly'] : [])
    ].join(',');
}
/**
 * `docker run` arguments: no network, no capabilities, no privilege escalation, the
 * runner's uid, a private tmpfs HOME, the proxy socket as the only way out.
 */
async function runArgs(spec) {
    // The env file lives in the private run directory: placeholders and the proxy token only,
    // but still kept off the process list.
    const envFile = (0,external_node_path_.join)(spec.stagingDir, '..', 'container.env');
    await (0,promises_.writeFile)(envFile, spec.env.map((e) => e.replace(/\n/g, ' ')).join('\n') + '\n', {
        mode: 0o600
    });
    const { uid, gid } = spec.user;
    const args = [
        'run',
        '--rm',
        '--init',
        '--name',
        spec.name,
        '--label',
        `airlock.run-id=${spec.runId}`,
        '--network',
        'none',
        '--cap-drop',
        'ALL',
        '--security-opt',
        'no-new-privileges',
        '--pids-limit',
        '4096',
        ...(spec.memoryBytes
            ? [
                '--memory',
                String(spec.memoryBytes),
                ...(spec.swapLimit ? ['--memory-swap', String(spec.memoryBytes)] : [])
            ]
            : []),
        '--user',
        `${uid}:${gid}`,
        '--env-file',
        envFile,
        '--tmpfs',
        `${CONTAINER.home}:rw,exec,mode=0700,uid=${uid},gid=${gid}`,
        '--tmpfs',
        '/tmp:rw,exec,mode=1777',
        '--workdir',
        CONTAINER.workspace,
        '--mount',
        hostMount(spec, {
            source: spec.workspace,
            target: CONTAINER.workspace,
            readOnly: spec.readOnlyWorkspace
        }),
        '--mount',
        hostMount(spec, { source: spec.stagingDir, target: CONTAINER.staging, readOnly: true }),
        '--mount',
        hostMount(spec, { source: spec.socketPath, target: CONTAINER.socket }),
        '--mount',
        hostMount(spec, { source: spec.nodeBinary, target: CONTAINER.node, readOnly: true })
    ];
    if (spec.workspaceAlias && spec.workspaceAlias !== CONTAINER.workspace)
        args.push('--mount', hostMount(spec, {
            source: spec.workspace,
            target: spec.workspaceAlias,
            readOnly: spec.readOnlyWorkspace
        }));
    for (const m of spec.mounts)
        args.push('--mount', hostMount(spec, m));
    // Masks are empty mounts (tmpfs, /dev/null): nothing of the runner's to translate.
    for (const m of spec.masks ?? [])
        args.push('--mount', maskSpec(m));
    args.push('--entrypoint', CONTAINER.node, spec.image, CONTAINER.init, '--', ...spec.command);
    return args;
}
/**
 * An empty mount over a path: a read-only tmpfs-like directory (mode 0555, owned by root, so
 * the agent's uid cannot fill it) or /dev/null for a file. Docker mounts by depth, so mounts
 * below a masked directory (a workspace inside the runner's `_work`) still appear over it.
 */
function maskSpec(m) {
    return m.kind === 'dir'
        ? ['type=tmpfs', field(`target=${m.target}`), 'tmpfs-mode=0555', 'tmpfs-size=65536'].join(',')
        : mountSpec({ source: '/dev/null', target: m.target, readOnly: true });
}
/**
 * Whether a failed run failed because the image cannot run the init program (no glibc or
 * libstdc++: musl or distroless images). Checked on the real run's first stderr bytes instead
 * of a throw-away container before it: the same answer, without a container start per run.
 */
function unsupportedImage(image, code, stderrHead) {
    if (code === 0)
        return undefined;
    const m = /exec \/airlock\/node failed[^\n]*|^\/airlock\/node: [^\n]*/m.exec(stderrHead);
    if (!m)
        return undefined;
    return `image ${image} cannot run Airlock's in-container forwarder (it needs glibc and libstdc++, as Debian and Ubuntu based images have): ${m[0].trim()}`;
}
/**
 * Why `docker run` itself failed, when it did: exit 125 with docker's own message on stderr
 * is Airlock's failure (a mount the daemon refused, a runtime error), not the command's exit
 * code, and the message is what the user needs. Undefined for any other outcome.
 */
function dockerRunFailure(code, stderr) {
    if (code !== 125)
        return undefined;
    const own = stderr
        .split('\n')
        .filter((l) => /^docker: |Error response from daemon|^Error: |^airlock-init: /.test(l))
        .join(' ')
        .replace(/\s+/g, ' ')
        .trim();
    if (!own)
        return undefined;
    return `docker could not start the sandbox (exit 125; the command did not run): ${own.slice(0, 600)}`;
}

;// CONCATENATED MODULE: ./src/sandbox/runner-image.ts
/**
 * `image: runner`: the agent works with the runner's own toolchain. The container's root is a
 * tiny image Airlock makes itself (`docker import` of a tar of empty directories and the
 * distribution's top-level links, no registry involved), and the runner's system directories
 * are bind-mounted read-only at their own paths. What is never visible (the runner
 * application, RUNNER_TEMP, the rest of /home, /root, /run, the host's /tmp, credential files)
 * is either never mounted or, where it lies inside a mounted directory, covered by an empty
 * mount of its own.
 */





/** The `image` value (a contract name) that selects runner mode. */
const RUNNER_IMAGE = 'runner';
function isRunnerImage(image) {
    return image === RUNNER_IMAGE;
}
/** Top-level names a distribution may keep as links into /usr (merged /usr) or as real dirs. */
const TOP_LEVEL = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];
/** Directories the runner's own copies are mounted over, read-only, when they exist. */
const SYSTEM_DIRS = ['/usr', '/etc', '/opt'];
/** Empty directories of the imported root: mount points, and places programs expect. */
const ROOT_DIRS = [
    'airlock',
    'dev',
    'etc',
    'home',
    'mnt',
    'opt',
    'proc',
    'root',
    'run',
    'sys',
    'tmp',
    'usr',
    'var',
    'var/tmp'
];
/**
 * The runner's own top-level layout, read from `root` (the host's `/`).
 *
 * `/sbin` is the exception: docker's `--init` puts its init at /sbin/docker-init, which
 * cannot be created in a read-only mount of the runner's /usr/sbin. So /sbin is a directory
 * of the root image holding one link per entry of the runner's sbin (`/sbin/ldconfig` →
 * `/usr/sbin/ldconfig`), and docker-init lands beside them.
 */
function hostRootLayout(root = '/') {
    const links = [];
    const dirs = [...ROOT_DIRS];
    let sbinMount;
    for (const name of TOP_LEVEL) {
        const p = (0,external_node_path_.join)(root, name);
        let st;
        try {
            st = (0,external_node_fs_.lstatSync)(p);
        }
        catch {
            continue;
        }
        if (name === 'sbin' && (st.isSymbolicLink() || st.isDirectory())) {
            // Merged /usr: the entries are seen through the /usr mount; otherwise through a
            // read-only mount of the runner's /sbin under /airlock.
            const via = st.isSymbolicLink() ? (0,external_node_path_.resolve)('/', (0,external_node_fs_.readlinkSync)(p)) : '/airlock/sbin';
            if (!st.isSymbolicLink())
                sbinMount = via;
            dirs.push('sbin');
            let entries = [];
            try {
                entries = (0,external_node_fs_.readdirSync)(st.isSymbolicLink() ? (0,external_node_path_.join)(root, via) : p);
            }
            catch {
                // an unreadable sbin: an empty one (docker-init only)
            }
            for (const e of entries.sort())
                if (e !== 'docker-init' &&
                    Buffer.byteLength(`sbin/${e}`) < 99 &&
                    Buffer.byteLength(`${via}/${e}`) < 99)
                    links.push({ name: `sbin/${e}`, target: `${via}/${e}` });
            continue;
        }
        if (st.isSymbolicLink())
            links.push({ name, target: (0,external_node_fs_.readlinkSync)(p) });
        else if (st.isDirectory())
            dirs.push(name);
    }
    dirs.sort();
    return sbinMount ? { links, dirs, sbinMount } : { links, dirs };
}
function tarHeader(name, type, mode, link = '') {
    const h = Buffer.alloc(512);
    const put = (s, off, len) => void h.write(s, off, len, 'utf8');
    const octal = (n, len) => n.toString(8).padStart(len - 1, '0') + '\0';
    if (Buffer.byteLength(name) > 99 || Buffer.byteLength(link) > 99)
        throw new DockerError(`runner image: path too long for the root image: ${name} → ${link}`);
    put(name, 0, 100);
    put(octal(mode, 8), 100, 8);
    put(octal(0, 8), 108, 8); // uid
    put(octal(0, 8), 116, 8); // gid
    put(octal(0, 12), 124, 12); // size
    put(octal(0, 12), 136, 12); // mtime: fixed, so the same layout is the same image
    put('        ', 148, 8); // checksum field counts as spaces while summing
    put(type, 156, 1);
    put(link, 157, 100);
    put('ustar\0', 257, 6);
    put('00', 263, 2);
    let sum = 0;
    for (const b of h)
        sum += b;
    put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
    return h;
}
/** A ustar archive of the root: directories (root-owned) and links, nothing else. */
function rootTar(layout) {
    const parts = [];
    for (const d of layout.dirs) {
        const sticky = d === 'tmp' || d === 'var/tmp';
        parts.push(tarHeader(`${d}/`, '5', sticky ? 0o1777 : 0o755));
    }
    for (const l of layout.links)
        parts.push(tarHeader(l.name, '2', 0o777, l.target));
    parts.push(Buffer.alloc(1024));
    return Buffer.concat(parts);
}
/**
 * The local root image for this layout, imported once and then found by name: the tag is the
 * hash of the archive, so a runner whose layout differs gets its own image, never a stale one.
 *
 * Returns the image's id, not its name. A name is only a pointer anyone with the docker socket
 * can move: on a shared (self-hosted) runner an earlier job can tag an image of its own as
 * `airlock-runner-root:<hash>`, with files in the root's own directories (`/sbin`, `/var`,
 * `/home`, …, which no runner directory is mounted over) or an `ENV` (`NODE_OPTIONS`,
 * `LD_PRELOAD`, …) that the sandbox env file does not override, and so run its code in every
 * later sandbox of that runner, beside the agent's own credentialed proxy access. So the image
 * found under the name is used only when it is exactly ours: its one layer is this archive
 * (a layer's diff id is the SHA-256 of its uncompressed tar) and its config sets nothing.
 * Anything else is replaced by a fresh import; the id checked is the id run, so the name
 * moving again afterwards changes nothing.
 */
async function ensureRunnerImage(layout, scratchDir) {
    const tar = rootTar(layout);
    const digest = (0,external_node_crypto_.createHash)('sha256').update(tar).digest('hex');
    const name = `airlock-runner-root:${digest.slice(0, 16)}`;
    const cached = await ourRootImage(name, digest);
    if (cached)
        return cached;
    const file = (0,external_node_path_.join)(scratchDir, 'runner-root.tar');
    (0,external_node_fs_.writeFileSync)(file, tar, { mode: 0o600 });
    const r = await docker(['import', '--message', 'airlock runner root', file, name]);
    if (r.code !== 0)
        throw new DockerError(`could not make the runner root image: ${r.stderr.trim()}`);
    // `docker import` prints the new image's id; checked like a cached one (never trusted as is).
    const id = r.stdout.trim();
    const made = /^sha256:[0-9a-f]{64}$/.test(id) ? await ourRootImage(id, digest) : undefined;
    if (!made)
        throw new DockerError(`the runner root image docker made (${id || 'no id'}) is not the archive Airlock gave it`);
    return made;
}
/** Config fields an image may set that change what a container of it runs or is given. */
const IMAGE_CONFIG_FIELDS = [
    'Entrypoint',
    'Cmd',
    'User',
    'WorkingDir',
    'Volumes',
    'Healthcheck',
    'OnBuild',
    'Shell',
    'ExposedPorts',
    'StopSignal'
];
/**
 * An imported image's `Env`: none, or only a `PATH` (a daemon may give an imported image its
 * default one; the sandbox's env file sets PATH itself, so it never reaches a program).
 */
function onlyDefaultEnv(env) {
    if (env === undefined || env === null)
        return true;
    return Array.isArray(env) && env.every((e) => typeof e === 'string' && e.startsWith('PATH='));
}
/**
 * The id of `ref` when it is Airlock's root image for the archive whose SHA-256 is `digest`:
 * exactly one layer, that archive, and no config of its own. Undefined otherwise (absent,
 * another image under the name).
 */
async function ourRootImage(ref, digest) {
    const r = await docker(['image', 'inspect', '--format', '{{json .}}', ref]);
    if (r.code !== 0)
        return undefined;
    let image;
    try {
        image = JSON.parse(r.stdout);
    }
    catch {
        return undefined;
    }
    const layers = image.RootFS?.Layers;
    const config = image.Config ?? {};
    const empty = (v) => v === undefined ||
        v === null ||
        v === '' ||
        (Array.isArray(v) && v.length === 0) ||
        (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0);
    if (typeof image.Id !== 'string' ||
        !/^sha256:[0-9a-f]{64}$/.test(image.Id) ||
        image.RootFS?.Type !== 'layers' ||
        !Array.isArray(layers) ||
        layers.length !== 1 ||
        layers[0] !== `sha256:${digest}` ||
        !IMAGE_CONFIG_FIELDS.every((f) => empty(config[f])) ||
        !onlyDefaultEnv(config.Env))
        return undefined;
    return image.Id;
}
/**
 * Variables that move a tool's credential store out of the home, and what in the directory
 * they name holds the credentials ('' = all of it). Hosted Ubuntu images set
 * `CARGO_HOME=/usr/share/rust/.cargo`, so `cargo login` in an earlier step of the job writes
 * the registry token under the read-only `/usr` mount, where masking `~/.cargo` misses it.
 */
const CREDENTIAL_PATH_VARS = {
    CARGO_HOME: ['credentials', 'credentials.toml'],
    DOCKER_CONFIG: [''],
    CLOUDSDK_CONFIG: [''],
    AZURE_CONFIG_DIR: [''],
    GH_CONFIG_DIR: [''],
    GNUPGHOME: [''],
    GOOGLE_APPLICATION_CREDENTIALS: [''],
    AWS_SHARED_CREDENTIALS_FILE: [''],
    AWS_CONFIG_FILE: [''],
    NPM_CONFIG_USERCONFIG: [''],
    npm_config_userconfig: [''],
    PIP_CONFIG_FILE: [''],
    KUBECONFIG: ['']
};
/** The credential stores the job's environment points at (absolute paths, never `/`). */
function credentialPathsFromEnv(env) {
    const out = [];
    for (const [name, parts] of Object.entries(CREDENTIAL_PATH_VARS))
        // KUBECONFIG is a list.
        for (const value of (env[name] ?? '').split(':'))
            if ((0,external_node_path_.isAbsolute)(value) && (0,external_node_path_.resolve)(value) !== '/')
                for (const part of parts)
                    out.push(part ? (0,external_node_path_.join)((0,external_node_path_.resolve)(value), part) : (0,external_node_path_.resolve)(value));
    return out;
}
/** An npmrc line that holds a credential: `_authToken`, `_auth`, `_password` (any scope). */
const NPMRC_CREDENTIAL = /^[ \t]*(?![#;])[^=\n]*(_authToken|_auth|_password)[ \t]*=/im;
/**
 * Every global npmrc (`<prefix>/etc/npmrc`, beside each `bin` directory on the job's PATH:
 * the tool cache's Node, nvm's, /usr/local's) that holds a credential. `npm config set
 * --global //registry…/:_authToken=…` in an earlier step writes the token there, inside the
 * read-only tool cache or /usr mount. One that holds none (a `cafile`, a mirror) stays.
 */
function globalNpmrcsWithCredentials(env, exists = external_node_fs_.existsSync, read = (p) => (0,external_node_fs_.readFileSync)(p, 'utf8')) {
    const out = new Set();
    for (const dir of (env.PATH ?? '').split(':')) {
        if (!(0,external_node_path_.isAbsolute)(dir) || !(0,external_node_path_.resolve)(dir).endsWith('/bin'))
            continue;
        const npmrc = (0,external_node_path_.join)((0,external_node_path_.dirname)((0,external_node_path_.resolve)(dir)), 'etc', 'npmrc');
        if (out.has(npmrc) || !exists(npmrc))
            continue;
        let text;
        try {
            text = read(npmrc);
        }
        catch {
            continue;
        }
        if (NPMRC_CREDENTIAL.test(text))
            out.add(npmrc);
    }
    return [...out];
}
/** Git's system configs on the paths runner mode mounts (`$(prefix)/etc/gitconfig`). */
const SYSTEM_GIT_CONFIGS = ['/etc/gitconfig', '/usr/local/etc/gitconfig'];
/**
 * The system git configs that hold a credential, by the rule the workspace's configs are
 * cleaned with ({@link stripCredentials}: an `extraheader`, a URL's userinfo, a credential
 * helper or an include). Admins of self-hosted hosts set `git config --system
 * http.https://github.com/.extraheader "AUTHORIZATION: basic …"` for private submodules; the
 * sandbox read it through the read-only /etc mount. One without a credential stays.
 */
function systemGitConfigsWithCredentials(exists = external_node_fs_.existsSync, read = (p) => (0,external_node_fs_.readFileSync)(p, 'utf8')) {
    return SYSTEM_GIT_CONFIGS.filter((file) => {
        if (!exists(file))
            return false;
        try {
            const text = read(file);
            return stripCredentials(text) !== text;
        }
        catch {
            return false;
        }
    });
}
/**
 * Toolchains hosted images keep under the runner's home, mounted read-only at their own path.
 * Only these: the home itself holds credentials (`.ssh`, `.docker`, `.aws`, `.npmrc`, …).
 */
const HOME_TOOLCHAINS = [
    '.cargo/bin',
    '.rustup',
    '.dotnet',
    '.local/bin',
    '.local/pipx',
    '.local/share/pipx',
    'go/bin',
    '.nvm',
    '.pyenv',
    '.rbenv',
    '.bun/bin',
    '.deno/bin',
    '.volta',
    '.sdkman/candidates',
    '.ghcup/bin',
    '.juliaup',
    '.elan',
    '.config/composer/vendor/bin'
];
/**
 * Files and directories under a mounted system directory that can hold a secret on a runner:
 * password hashes, SSH host keys, the docker daemon's and registries' client certificates,
 * TLS private keys, cluster and VPN credentials, Kerberos keytabs.
 */
const SYSTEM_SECRETS = [
    '/etc/shadow',
    '/etc/shadow-',
    '/etc/gshadow',
    '/etc/gshadow-',
    '/etc/security/opasswd',
    '/etc/ssh',
    '/etc/docker',
    '/etc/containerd',
    '/etc/ssl/private',
    '/etc/kubernetes',
    '/etc/rancher',
    '/etc/krb5.keytab',
    '/etc/wireguard',
    '/etc/openvpn',
    '/etc/NetworkManager/system-connections',
    '/etc/sudoers',
    '/etc/sudoers.d',
    // Credential stores self-hosted hosts keep in /etc too: private package repositories, TLS
    // keys (certbot, RHEL's pki), another CI's runner tokens, registry logins, database, VPN,
    // LDAP and wireless passwords, cluster and secret-store agents' configs.
    '/etc/apt/auth.conf',
    '/etc/apt/auth.conf.d',
    '/etc/letsencrypt',
    '/etc/pki/tls/private',
    '/etc/pki/CA/private',
    '/etc/gitlab-runner',
    '/etc/buildkite-agent',
    '/etc/containers/auth.json',
    '/etc/mysql/debian.cnf',
    '/etc/ipsec.secrets',
    '/etc/ppp/chap-secrets',
    '/etc/ppp/pap-secrets',
    '/etc/sssd',
    '/etc/netplan',
    '/etc/wpa_supplicant',
    '/etc/ceph',
    '/etc/vault.d',
    '/etc/consul.d',
    '/etc/nomad.d'
];
/** Credential files and directories under the runner's home. */
const HOME_SECRETS = [
    '.ssh',
    '.docker',
    '.aws',
    '.azure',
    '.kube',
    '.gnupg',
    '.config/gcloud',
    '.config/gh',
    '.netrc',
    '.git-credentials',
    '.gitconfig',
    '.npmrc',
    '.pypirc',
    '.cargo/credentials',
    '.cargo/credentials.toml'
];
/**
 * The toolchain variables carried in (what `setup-*` steps export). An allowlist: anything
 * else of the runner's environment, its job tokens above all, stays out.
 */
const CARRIED = /^(PATH|JAVA_HOME(_\d+_(X64|ARM64))?|GOROOT(_\d+_(X64|ARM64))?|pythonLocation|Python\d?_ROOT_DIR|PKG_CONFIG_PATH|LD_LIBRARY_PATH|DOTNET_ROOT(_X64|_ARM64)?|DOTNET_NOLOGO|DOTNET_CLI_TELEMETRY_OPTOUT|DOTNET_SKIP_FIRST_TIME_EXPERIENCE|RUSTUP_HOME|RUSTUP_TOOLCHAIN|PYENV_ROOT|NVM_DIR|VOLTA_HOME|SDKMAN_DIR|GHCUP_INSTALL_BASE_PREFIX|ANDROID_HOME|ANDROID_SDK_ROOT|ANDROID_NDK(_HOME|_ROOT|_LATEST_HOME)?|CONDA|VCPKG_INSTALLATION_ROOT|GRADLE_HOME|M2_HOME|MAVEN_HOME|ANT_HOME|SWIFT_PATH|CHROME_BIN|CHROMEWEBDRIVER|GECKOWEBDRIVER|EDGEWEBDRIVER|SELENIUM_JAR_PATH|LANG|LC_ALL|TZ)$/;
/** A name that says it holds a credential is never carried, whatever the allowlist says. */
const SECRET_NAME = /token|key|secret|passw|pwd|credential|auth|cookie|session|private|cert/i;
/** Variables whose default lies under $HOME: pointed at the runner's copy when it is mounted. */
const HOME_VARS = [
    { name: 'RUSTUP_HOME', dir: '.rustup' },
    { name: 'PYENV_ROOT', dir: '.pyenv' },
    { name: 'NVM_DIR', dir: '.nvm' },
    { name: 'VOLTA_HOME', dir: '.volta' },
    { name: 'SDKMAN_DIR', dir: '.sdkman/candidates' }
];
const DEFAULT_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const runner_image_within = (p, dir) => dir === '/' ? p.startsWith('/') : p === dir || p.startsWith(`${dir}/`);
/** Files that mark the runner application's directory (its registration and credentials). */
const RUNNER_MARKS = ['.runner', '.credentials', '.credentials_rsaparams', 'bin/Runner.Worker'];
/**
 * The runner application's directories: ancestors of the runner's Node (its `externals`),
 * RUNNER_TEMP and RUNNER_WORKSPACE (`<runner>/_work/...` by default) that hold its
 * registration or credentials (other installations on the host: {@link hostRunnerDirs}).
 */
function runnerAppDirs(env, execPath, exists = external_node_fs_.existsSync) {
    const found = new Set();
    const starts = [execPath, env.RUNNER_TEMP, env.RUNNER_WORKSPACE].filter((s) => !!s && (0,external_node_path_.isAbsolute)(s));
    for (const start of starts) {
        for (let d = (0,external_node_path_.dirname)(start); d !== '/' && d !== '.'; d = (0,external_node_path_.dirname)(d)) {
            if (RUNNER_MARKS.some((m) => exists((0,external_node_path_.join)(d, m))))
                found.add(d);
        }
    }
    return [...found].sort();
}
/**
 * Where hosts that run several runners keep the others (`/opt/actions-runner-2`,
 * `/usr/local/runners/3`): directories the sandbox sees through its `/opt` and `/usr` mounts.
 */
const RUNNER_INSTALL_ROOTS = ['/opt', '/usr/local'];
/** Real subdirectories of dir (no links), or none when it cannot be read. */
function subdirs(dir) {
    try {
        return (0,external_node_fs_.readdirSync)(dir, { withFileTypes: true })
            .filter((e) => e.isDirectory())
            .map((e) => (0,external_node_path_.join)(dir, e.name));
    }
    catch {
        return [];
    }
}
/**
 * Every runner installation under {@link RUNNER_INSTALL_ROOTS}, one or two levels down: not
 * only this job's runner (found by {@link runnerAppDirs}) but every other one on the host. Each
 * holds its registration (`.credentials`, `.credentials_rsaparams`: the key that takes that
 * runner's jobs, and their secrets) and its `_work` (other jobs' checkouts, their temp files),
 * readable by the sandbox's uid when the runners share a user.
 */
function hostRunnerDirs(exists = external_node_fs_.existsSync, list = subdirs) {
    const isRunner = (d) => RUNNER_MARKS.some((m) => exists((0,external_node_path_.join)(d, m)));
    const found = [];
    for (const root of RUNNER_INSTALL_ROOTS)
        for (const d of list(root)) {
            if (isRunner(d))
                found.push(d);
            else
                for (const dd of list(d))
                    if (isRunner(dd))
                        found.push(dd);
        }
    return found.sort();
}
/**
 * What the container of a runner-mode run sees of the runner: mounts, masks and environment.
 * Pure (the filesystem is read through `exists`/`realpath`), so each rule is unit-tested.
 */
function runnerView(opts) {
    const exists = opts.exists ?? external_node_fs_.existsSync;
    const real = opts.realpath ?? ((p) => (0,external_node_fs_.realpathSync)(p));
    const env = opts.env;
    const home = env.HOME && (0,external_node_path_.isAbsolute)(env.HOME) ? (0,external_node_path_.resolve)(env.HOME) : undefined;
    const runnerTemp = env.RUNNER_TEMP ? (0,external_node_path_.resolve)(env.RUNNER_TEMP) : undefined;
    const workspace = (0,external_node_path_.resolve)(opts.workspace);
    // Never visible. Everything under a mounted directory that matches is covered.
    const never = [
        ...runnerAppDirs(env, opts.execPath, exists),
        ...(opts.hostRunners ?? (() => hostRunnerDirs(exists)))(),
        ...(runnerTemp ? [runnerTemp] : []),
        ...(home ? [home, ...HOME_SECRETS.map((s) => (0,external_node_path_.join)(home, s))] : []),
        ...credentialPathsFromEnv(env),
        ...globalNpmrcsWithCredentials(env, exists),
        ...systemGitConfigsWithCredentials(exists),
        '/home',
        '/root',
        '/run',
        '/var/run',
        '/tmp',
        ...SYSTEM_SECRETS
    ];
    // A mount is never one of those paths itself. The toolchains under the home are stricter:
    // none may lead (through a link) into a credential directory, RUNNER_TEMP or the runner.
    const broad = new Set(['/home', '/tmp', ...(home ? [home] : [])]);
    const safeSource = (src, strict) => src !== '/' &&
        !never.includes(src) &&
        (!strict || !never.some((n) => !broad.has(n) && runner_image_within(src, n)));
    const mounts = [];
    const add = (path, strict = false) => {
        if (!exists(path) || mounts.some((m) => m.target === path))
            return false;
        let src;
        try {
            src = real(path);
        }
        catch {
            return false;
        }
        if (!safeSource(path, strict) || !safeSource(src, strict))
            return false;
        mounts.push({ source: src, target: path, readOnly: true });
        return true;
    };
    for (const d of SYSTEM_DIRS)
        add(d);
    for (const d of opts.layout.dirs)
        if (d !== 'sbin' && TOP_LEVEL.includes(d))
            add(`/${d}`);
    if (opts.layout.sbinMount && exists('/sbin'))
        mounts.push({ source: real('/sbin'), target: opts.layout.sbinMount, readOnly: true });
    if (env.RUNNER_TOOL_CACHE && (0,external_node_path_.isAbsolute)(env.RUNNER_TOOL_CACHE))
        add((0,external_node_path_.resolve)(env.RUNNER_TOOL_CACHE));
    const homeMounted = [];
    if (home)
        for (const rel of HOME_TOOLCHAINS)
            if (add((0,external_node_path_.join)(home, rel), true))
                homeMounted.push(rel);
    // Masks: each never-visible path that exists inside a mounted directory (seen through the
    // mount's own path or its real source), covered where the container sees it.
    const masks = [];
    const masked = [];
    for (const n of never) {
        if (!exists(n))
            continue;
        let kind;
        try {
            kind = (0,external_node_fs_.statSync)(n).isDirectory() ? 'dir' : 'file';
        }
        catch {
            continue;
        }
        for (const m of mounts) {
            for (const base of [m.target, m.source]) {
                if (n === base || !runner_image_within(n, base))
                    continue;
                const target = m.target + n.slice(base.length);
                if (masks.some((x) => x.target === target))
                    continue;
                masks.push({ target, kind });
                if (!masked.includes(n))
                    masked.push(n);
            }
        }
    }
    // Environment: the allowlist, with no value that holds a secret.
    const secrets = opts.secrets.filter((s) => s.length >= 8);
    const out = {};
    const refused = [];
    for (const [name, value] of Object.entries(env)) {
        if (value === undefined || !CARRIED.test(name))
            continue;
        if (SECRET_NAME.test(name) ||
            /[\0\r\n]/.test(value) ||
            secrets.some((s) => value.includes(s)) ||
            looksLikeToken(value)) {
            refused.push(name);
            continue;
        }
        out[name] = value;
    }
    // The loader path of the forwarder and every program: never from the workspace, which the
    // agent writes.
    if (out.LD_LIBRARY_PATH !== undefined) {
        const kept = out.LD_LIBRARY_PATH.split(':').filter((p) => p && (0,external_node_path_.isAbsolute)(p) && !runner_image_within((0,external_node_path_.resolve)(p), workspace));
        if (kept.length > 0)
            out.LD_LIBRARY_PATH = kept.join(':');
        else
            delete out.LD_LIBRARY_PATH;
    }
    const path = (out.PATH ?? '').split(':').filter(Boolean);
    for (const d of DEFAULT_PATH)
        if (!path.includes(d))
            path.push(d);
    out.PATH = path.join(':');
    // Tools whose root defaults to $HOME/...: the runner's copy, since HOME is private here.
    if (home)
        for (const v of HOME_VARS)
            if (out[v.name] === undefined && homeMounted.includes(v.dir))
                out[v.name] = (0,external_node_path_.join)(home, v.dir);
    // Writable caches and state go to the private HOME (the runner's are read-only here).
    out.CARGO_HOME = (0,external_node_path_.join)(opts.containerHome, '.cargo');
    out.GOPATH = (0,external_node_path_.join)(opts.containerHome, 'go');
    out.GOMODCACHE = (0,external_node_path_.join)(opts.containerHome, 'go', 'pkg', 'mod');
    out.PIPX_HOME = (0,external_node_path_.join)(opts.containerHome, '.local', 'pipx');
    out.PIPX_BIN_DIR = (0,external_node_path_.join)(opts.containerHome, '.local', 'bin');
    return { mounts, masks, env: out, refused: refused.sort(), masked };
}
/** Values shaped like the credentials runners commonly carry, whatever the variable's name. */
function looksLikeToken(value) {
    return /\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|sk-[A-Za-z0-9_-]{20,}|xox[abprs]-[\w-]{10,}|npm_[A-Za-z0-9]{30,}|eyJ[\w-]{10,}\.[\w-]{10,}\.)/.test(value);
}

;// CONCATENATED MODULE: ./src/sandbox/host-paths.ts





/**
 * The runner's Node binary, copied (once per Node version and CPU) into the tool cache, or
 * RUNNER_TEMP when there is none. The container runs its init program with it, and a bind
 * source must be a path the daemon sees: the runner keeps its Node in its externals, which
 * Actions Runner Controller's dind sidecar and a job container's host do not share, while the
 * tool cache and RUNNER_TEMP are shared by design. Outside a runner (the local CLI) the
 * daemon is local and the binary is mounted where it is.
 */
function runnerNode(env = process.env, execPath = process.execPath, version = process.version, arch = process.arch) {
    const root = env.RUNNER_TOOL_CACHE || env.RUNNER_TEMP;
    if (!root)
        return execPath;
    const dir = (0,external_node_path_.join)(root, 'airlock-node', `${version}-${arch}`);
    const file = (0,external_node_path_.join)(dir, 'node');
    const size = (0,external_node_fs_.statSync)(execPath).size;
    if ((0,external_node_fs_.statSync)(file, { throwIfNoEntry: false })?.size === size)
        return file;
    (0,external_node_fs_.mkdirSync)(dir, { recursive: true, mode: 0o755 });
    // Copied under a private name and renamed: a run in parallel never mounts half a binary.
    const partial = (0,external_node_path_.join)(dir, `.node-${(0,external_node_crypto_.randomBytes)(4).toString('hex')}`);
    (0,external_node_fs_.copyFileSync)(execPath, partial, external_node_fs_.constants.COPYFILE_FICLONE);
    (0,external_node_fs_.renameSync)(partial, file);
    return file;
}
/** sun_path holds 108 bytes with the terminating NUL. */
const SOCKET_PATH_MAX = 107;
/**
 * A path to listen on for `socketPath` that fits a unix socket address, whatever the length of
 * RUNNER_TEMP: when it is too long, a private directory in the system temp dir holds a link to
 * the socket's directory, and the proxy listens through the link. The socket itself still lives
 * where it was asked for (the bind source the daemon sees); the link dir is tracked for cleanup.
 */
function listenPath(socketPath, track) {
    if (Buffer.byteLength(socketPath) <= SOCKET_PATH_MAX)
        return socketPath;
    const tmp = (0,external_node_os_.tmpdir)().length <= 40 ? (0,external_node_os_.tmpdir)() : '/tmp';
    const dir = (0,external_node_fs_.mkdtempSync)((0,external_node_path_.join)(tmp, 'airlock-s-'));
    track({ kind: 'dir', path: dir });
    (0,external_node_fs_.symlinkSync)((0,external_node_path_.dirname)(socketPath), (0,external_node_path_.join)(dir, 's'));
    return (0,external_node_path_.join)(dir, 's', (0,external_node_path_.basename)(socketPath));
}
/**
 * The id of the container this process runs in, when it is a Docker container: the daemon
 * bind-mounts `/etc/hostname` (and resolv.conf, hosts) from its `containers/<id>/` directory,
 * which mountinfo shows whatever the cgroup version; cgroup v1 paths name it too; and Docker
 * makes the hostname the short id unless told otherwise.
 */
function selfContainerId(read = readOrUndefined, hostname = (0,external_node_os_.hostname)()) {
    const mountinfo = read('/proc/self/mountinfo') ?? '';
    const fromMounts = /\/containers\/([0-9a-f]{64})\/(?:hostname|hosts|resolv\.conf)\s/.exec(mountinfo)?.[1];
    if (fromMounts)
        return fromMounts;
    const cgroup = read('/proc/self/cgroup') ?? '';
    const fromCgroup = /(?:\/docker\/|docker-)([0-9a-f]{64})/.exec(cgroup)?.[1];
    if (fromCgroup)
        return fromCgroup;
    if (read('/.dockerenv') !== undefined && /^[0-9a-f]{12}$/.test(hostname))
        return hostname;
    return undefined;
}
function readOrUndefined(path) {
    try {
        return (0,external_node_fs_.readFileSync)(path, 'utf8');
    }
    catch {
        return undefined;
    }
}
/** A path that cannot be mounted from inside this job container. */
class HostPathError extends errors/* AirlockError */.qR {
    constructor(message) {
        super('AIRLOCK_PREFLIGHT_CONTAINER_JOB', message);
    }
}
/**
 * Maps paths inside a job container (`jobs.<id>.container`, where the action runs with the
 * host's docker socket) to the host paths the daemon knows them by, from the container's own
 * mounts. It never widens what is mounted: the path is resolved first (a link that leads out of
 * a shared mount is followed here, not on the host, where it would name a host path); only a
 * path under a bind or volume mount is mapped (the longest mount that holds it wins, on whole
 * path components); and a read-write mount of something the job container itself only has
 * read-only is refused. `/dev/null` is the same file everywhere.
 */
function hostPathMapper(mounts, realpath = realpathOrResolve) {
    const shared = mounts
        .filter((m) => (m.Type === 'bind' || m.Type === 'volume') && (0,external_node_path_.isAbsolute)(m.Source))
        .map((m) => ({ ...m, Destination: (0,external_node_path_.normalize)(m.Destination).replace(/(.)\/+$/, '$1') }))
        .sort((a, b) => b.Destination.length - a.Destination.length);
    return (path, opts = {}) => {
        if (path === '/dev/null')
            return path;
        const real = realpath(path);
        const m = shared.find((x) => real === x.Destination || real.startsWith(x.Destination === '/' ? '/' : `${x.Destination}/`));
        if (!m)
            throw new HostPathError(`${real}${real !== path ? ` (${path})` : ''} is in the job container's own filesystem, which the Docker daemon on the host cannot mount: keep it in the workspace, RUNNER_TEMP or the tool cache (directories the runner shares with the job container)`);
        if (!m.RW && !opts.readOnly)
            throw new HostPathError(`${real} is read-only in the job container (mounted from the host's ${m.Source}); Airlock will not mount it read-write into the sandbox`);
        return (m.Source.replace(/\/+$/, '') + real.slice(m.Destination === '/' ? 0 : m.Destination.length));
    };
}
/**
 * The real path; for a path not made yet, that of its nearest existing ancestor plus the rest.
 * An entry that exists but does not resolve (a link to nothing here) is refused: the host would
 * resolve it against its own filesystem.
 */
function realpathOrResolve(path) {
    let head = (0,external_node_path_.resolve)(path);
    const rest = [];
    for (;;) {
        try {
            return (0,external_node_path_.join)((0,external_node_fs_.realpathSync)(head), ...rest);
        }
        catch {
            if ((0,external_node_fs_.lstatSync)(head, { throwIfNoEntry: false }))
                throw new HostPathError(`${path} is a link that leads nowhere in the job container; the host would follow it on its own filesystem`);
            const up = (0,external_node_path_.dirname)(head);
            if (up === head)
                return (0,external_node_path_.resolve)(path);
            rest.unshift((0,external_node_path_.basename)(head));
            head = up;
        }
    }
}

;// CONCATENATED MODULE: ./src/sandbox/preflight.ts








/**
 * The runner cannot run Airlock at all. Raised before anything with a side effect (no grant,
 * no OIDC exchange, no key check has run), so nothing needs revoking or cleaning.
 */
class PreflightError extends errors/* AirlockError */.qR {
    code;
    constructor(code, message) {
        super(code, message);
        this.code = code;
    }
}
const defaultDeps = () => ({
    platform: process.platform,
    arch: process.arch,
    docker: (args) => docker(args),
    uid: process.getuid?.() ?? 1000,
    gid: process.getgid?.() ?? 1000,
    selfContainerId: () => selfContainerId()
});
/** An image name no registry holds: `docker create --pull never` with it never makes a container. */
const PROBE_IMAGE = 'airlock-preflight-probe.invalid/none:none';
let last;
/** The preflight of this process for this workspace, when one ran (the session reuses it). */
function lastPreflight(plan) {
    return last?.key === plan.workspace ? last.result : undefined;
}
/**
 * Checks, before anything with a side effect, that this runner can run Airlock: Linux on
 * x64 or arm64, a docker CLI, a daemon that answers and is Docker Engine (not Podman), and
 * a daemon that sees the directories Airlock mounts from (the workspace, RUNNER_TEMP, the
 * tool cache). Costs two docker calls (~20 ms each, run together). Throws PreflightError
 * naming the cause and the fix.
 */
async function preflight(plan, env = process.env, deps = defaultDeps()) {
    if (deps.platform !== 'linux')
        throw new PreflightError('AIRLOCK_PREFLIGHT_OS', `Airlock runs on Linux runners only (this one is ${platformName(deps.platform)}): its sandbox is a Linux container on a local Docker daemon. Use runs-on: ubuntu-latest (or a Linux self-hosted runner) for this job.`);
    if (deps.arch !== 'x64' && deps.arch !== 'arm64')
        throw new PreflightError('AIRLOCK_PREFLIGHT_ARCH', `Airlock runs on x64 and arm64 runners only (this one is ${deps.arch}): the agents ship native builds for those two. Use an x64 or arm64 Linux runner.`);
    if (!(0,external_node_fs_.statSync)(plan.workspace, { throwIfNoEntry: false })?.isDirectory())
        throw new errors/* InputError */.dz('workspace', `${plan.workspace} is not a directory on this runner`);
    const info = () => runDocker(deps, ['info', '--format', '{{json .}}'], env);
    const selfId = deps.selfContainerId();
    let infoRun;
    let probeRun;
    let hostPath = (p) => p;
    let probe;
    try {
        if (!selfId) {
            // Both calls at once: the probe answers "no such image" when every mount source is visible.
            probe = mountProbe(plan, env, hostPath);
            [infoRun, probeRun] = await Promise.all([info(), runDocker(deps, probe.args, env)]);
            checkDaemon(parseInfo(infoRun), infoRun, env);
        }
        else {
            // In a container: if the daemon started it (a job container, or a runner in a container
            // on the host's socket), every mount source is named by its host path.
            const [i, self] = await Promise.all([
                info(),
                runDocker(deps, ['inspect', '--format', '{{json .Mounts}}', selfId], env)
            ]);
            infoRun = i;
            checkDaemon(parseInfo(infoRun), infoRun, env);
            if (self.code === 0)
                hostPath = jobContainerPaths(self.stdout, selfId);
            probe = mountProbe(plan, env, hostPath);
            probeRun = await runDocker(deps, probe.args, env);
        }
        checkMounts(probeRun, probe.paths);
        // Most precise cause first: a path the daemon cannot mount (a job container's own
        // filesystem), then a link out of GITHUB_WORKSPACE (which may lead to RUNNER_TEMP), then
        // what the workspace holds. The probe before them mounts nothing into a running container.
        checkWorkspaceLinks(plan.workspace, env.GITHUB_WORKSPACE);
        checkWorkspaceScope(plan.workspace, env);
        const parsed = parseInfo(infoRun);
        const rootless = isRootless(parsed);
        const result = {
            info: parsed,
            rootless,
            containerUser: rootless ? { uid: 0, gid: 0 } : { uid: deps.uid, gid: deps.gid },
            hostPath
        };
        last = { key: plan.workspace, result };
        return result;
    }
    finally {
        probe?.cleanup();
    }
}
const preflight_within = (p, dir) => dir === '/' ? p.startsWith('/') : p === dir || p.startsWith(`${dir}/`);
/**
 * A workspace named inside GITHUB_WORKSPACE (a relative `workspace`: a directory of the
 * repository) must still be inside it once links are resolved. What that path is comes from
 * the repository's content, which a pull request or an earlier step's agent writes: `app`
 * made a link to `../../_temp` (or the runner's home) is followed by docker, and the sandbox
 * would get RUNNER_TEMP read-write (the step's GITHUB_ENV and GITHUB_STATE files, checkout's
 * credentials file) at /workspace. A path the workflow names outside GITHUB_WORKSPACE is its
 * own choice and stays as it is.
 */
function checkWorkspaceLinks(workspace, base) {
    if (!base)
        return;
    const named = (0,external_node_path_.resolve)(workspace);
    const root = (0,external_node_path_.resolve)(base);
    if (!preflight_within(named, root))
        return;
    let real;
    let realRoot;
    try {
        real = (0,external_node_fs_.realpathSync)(named);
        realRoot = (0,external_node_fs_.realpathSync)(root);
    }
    catch {
        // Missing: the directory check above already said so.
        return;
    }
    if (!preflight_within(real, realRoot))
        throw new errors/* InputError */.dz('workspace', `${workspace} is inside GITHUB_WORKSPACE but a link leads it out, to ${real}; Airlock mounts only what the workspace really holds (name the directory itself, or a path outside GITHUB_WORKSPACE on purpose)`);
}
/**
 * A workspace that is, or holds, the user's home, RUNNER_TEMP or the runner application is
 * refused. The sandbox gets the workspace whole, and the workspace search only finds the
 * secrets Airlock holds: from a home, the agent would read `~/.ssh` keys,
 * `~/.aws/credentials`, `~/.config/gh/hosts.yml`, `~/.docker/config.json`; from RUNNER_TEMP,
 * the step's GITHUB_ENV file, which it could write for later steps to obey; from the runner
 * application, its registration (`.credentials`, `.credentials_rsaparams`). The local CLI
 * makes the first easy to do by accident: its workspace is the current directory, and
 * `airlock claude …` typed in a home directory would hand the agent all of it.
 */
function checkWorkspaceScope(workspace, env, execPath = process.execPath) {
    let real;
    try {
        real = (0,external_node_fs_.realpathSync)(workspace);
    }
    catch {
        return;
    }
    const guarded = [
        ['your home directory', env.HOME],
        ['RUNNER_TEMP', env.RUNNER_TEMP],
        // Its `.credentials_rsaparams` is the key that takes the runner's jobs, and their secrets.
        ...runnerAppDirs(env, execPath).map((d) => ['the runner application', d])
    ];
    for (const [what, dir] of guarded) {
        if (!dir || !(0,external_node_path_.isAbsolute)(dir))
            continue;
        let realDir;
        try {
            realDir = (0,external_node_fs_.realpathSync)(dir);
        }
        catch {
            continue;
        }
        if (preflight_within(realDir, real))
            throw new errors/* InputError */.dz('workspace', `${workspace} ${real === realDir ? 'is' : 'holds'} ${what} (${dir}): the sandbox would get every file there, credentials included. Use the project's own directory as the workspace.`);
    }
}
/** The job container's mounts from `docker inspect`, as a checked path mapper. */
function jobContainerPaths(inspectJson, id) {
    let mounts;
    try {
        mounts = JSON.parse(inspectJson);
    }
    catch {
        throw new PreflightError('AIRLOCK_PREFLIGHT_CONTAINER_JOB', `this step runs in container ${id.slice(0, 12)}, whose mounts docker inspect did not list; Airlock cannot map its paths to the host's. Run the Airlock step on the runner itself (a job without container:).`);
    }
    const map = hostPathMapper(mounts);
    return (p, opts) => {
        try {
            return map(p, opts);
        }
        catch (err) {
            if (err instanceof HostPathError)
                throw new PreflightError('AIRLOCK_PREFLIGHT_CONTAINER_JOB', `this step runs in a job container (${id.slice(0, 12)}) and ${err.message}`);
            throw err;
        }
    };
}
function platformName(p) {
    return p === 'darwin' ? 'macOS' : p === 'win32' ? 'Windows' : p;
}
async function runDocker(deps, args, env) {
    try {
        return await deps.docker(args);
    }
    catch (err) {
        if (err instanceof DockerError)
            throw new PreflightError('AIRLOCK_PREFLIGHT_NO_DOCKER', `the docker CLI is not on this runner's PATH. ${arcKubernetes(env) ? `This looks like Actions Runner Controller in kubernetes mode (ACTIONS_RUNNER_CONTAINER_HOOKS is set), which has no Docker daemon: use ARC's dind mode (containerMode.type: dind) for Airlock jobs.` : 'Install Docker Engine (the docker CLI and a daemon) on the runner, or use a GitHub-hosted Linux runner, which has both.'}`);
        throw err;
    }
}
function arcKubernetes(env) {
    return Boolean(env.ACTIONS_RUNNER_CONTAINER_HOOKS);
}
/** The daemon `docker` talks to, as the user would name it. */
function daemonName(env, info) {
    if (env.DOCKER_HOST)
        return `DOCKER_HOST=${env.DOCKER_HOST}`;
    const context = env.DOCKER_CONTEXT || info?.ClientInfo?.Context;
    if (context && context !== 'default')
        return `docker context "${context}"`;
    return 'unix:///var/run/docker.sock';
}
function parseInfo(r) {
    // The CLI prints its own half of the JSON even when the daemon does not answer.
    const line = r.stdout
        .trim()
        .split('\n')
        .find((l) => l.startsWith('{'));
    if (!line)
        return {};
    try {
        return JSON.parse(line);
    }
    catch {
        return {};
    }
}
function checkDaemon(info, r, env) {
    if (isPodman(info))
        throw new PreflightError('AIRLOCK_PREFLIGHT_PODMAN', `the docker CLI talks to Podman (${daemonName(env, info)}), which Airlock does not support: its user namespaces and --init differ from Docker's, and the sandbox's uid, socket and mount checks are made for Docker Engine. Install Docker Engine on the runner (rootful or rootless) and point DOCKER_HOST at it.`);
    const errors = [...(info.ServerErrors ?? []), r.stderr.trim()].filter(Boolean).join('; ');
    if (r.code !== 0 || !info.ServerVersion) {
        const where = daemonName(env, info);
        if (/permission denied/i.test(errors))
            throw new PreflightError('AIRLOCK_PREFLIGHT_DAEMON_DENIED', `the runner's user may not use the Docker daemon at ${where} (${oneLine(errors)}). Add the runner's user to the docker group (and restart the runner service), or point DOCKER_HOST at a daemon it may use.`);
        throw new PreflightError('AIRLOCK_PREFLIGHT_DAEMON', `the Docker daemon at ${where} does not answer (${oneLine(errors) || `docker info exited with ${r.code}`}). ${arcKubernetes(env) ? 'Actions Runner Controller in kubernetes mode has no Docker daemon: use its dind mode (containerMode.type: dind) for Airlock jobs.' : env.DOCKER_HOST ? 'Check that DOCKER_HOST names a running daemon this runner can reach.' : 'Start the daemon (sudo systemctl start docker), or set DOCKER_HOST to the daemon to use.'}`);
    }
    if (info.OSType && info.OSType !== 'linux')
        throw new PreflightError('AIRLOCK_PREFLIGHT_DAEMON_OS', `the Docker daemon at ${daemonName(env, info)} runs ${info.OSType} containers; Airlock's sandbox is a Linux container. Switch the daemon to Linux containers.`);
}
/**
 * Podman behind the docker CLI: its own CLI (podman-docker) prints `host`/`store`; its
 * Docker-compatible API reports its version and keeps images in containers/storage.
 */
function isPodman(info) {
    if (info.host !== undefined && info.store !== undefined)
        return true;
    if (/podman/i.test(info.ServerVersion ?? ''))
        return true;
    return /\/containers\/storage\/?$/.test(info.DockerRootDir ?? '');
}
/** Rootless Docker reports `name=rootless` among its security options. */
function isRootless(info) {
    return (info.SecurityOptions ?? []).some((o) => o.split(',').includes('name=rootless'));
}
function oneLine(text) {
    return text.replace(/\s+/g, ' ').trim().slice(0, 400);
}
function mountProbe(plan, env, hostPath) {
    const paths = new Map();
    const made = [];
    const cleanup = () => {
        for (const m of made)
            (0,external_node_fs_.rmSync)(m, { recursive: true, force: true });
    };
    try {
        const ws = hostPath(plan.workspace, { readOnly: plan.workspaceAccess === 'read-only' });
        paths.set(ws, ws);
        for (const root of sharedRoots(env)) {
            let marker;
            try {
                marker = (0,external_node_fs_.mkdtempSync)((0,external_node_path_.join)(root, '.airlock-probe-'));
            }
            catch {
                // Not writable or missing: whatever Airlock later makes there fails on its own terms.
                continue;
            }
            made.push(marker);
            // RUNNER_TEMP holds the proxy socket, mounted read-write; the tool cache is read-only.
            paths.set(hostPath(marker, { readOnly: root !== sharedRoots(env)[0] }), hostPath(root, { readOnly: true }));
        }
    }
    catch (err) {
        cleanup();
        throw err;
    }
    const args = ['create', '--pull', 'never', '--network', 'none'];
    let i = 0;
    for (const source of paths.keys())
        args.push('--mount', mountSpec({ source, target: `/probe/${i++}`, readOnly: true }));
    args.push(PROBE_IMAGE, 'true');
    return { args, paths, cleanup };
}
/** The directories (other than the workspace) Airlock bind-mounts things from on a runner. */
function sharedRoots(env) {
    const roots = [env.RUNNER_TEMP || (0,external_node_os_.tmpdir)()];
    if (env.RUNNER_TOOL_CACHE && env.RUNNER_TOOL_CACHE !== roots[0])
        roots.push(env.RUNNER_TOOL_CACHE);
    return roots;
}
function checkMounts(r, paths) {
    const text = `${r.stderr}\n${r.stdout}`;
    if (/No such image/i.test(text))
        return;
    const missing = /bind source path does not exist: (.+)/.exec(text)?.[1]?.trim();
    if (missing === undefined) {
        // The daemon said something else (an old daemon without --pull, an authz plugin): the
        // probe proves nothing either way, and the run goes on to fail on its own terms.
        return;
    }
    const dir = paths.get(missing) ?? missing;
    throw new PreflightError('AIRLOCK_PREFLIGHT_MOUNTS', `the Docker daemon cannot see ${dir} (it runs somewhere with another filesystem: a dind sidecar, a remote DOCKER_HOST, a VM). Airlock bind-mounts the workspace, RUNNER_TEMP and RUNNER_TOOL_CACHE into the sandbox, so each must be shared with the daemon at the same path: with Actions Runner Controller's dind mode keep the work volume and the tool cache on volumes mounted in both containers; with a remote daemon, use a local one.`);
}

// EXTERNAL MODULE: ./node_modules/undici/index.js
var undici = __webpack_require__(46752);
;// CONCATENATED MODULE: ./src/net/runner-proxy.ts




/** An undici dispatcher that takes the runner's proxy settings (explicitly, not from process.env). */
function runnerDispatcher(env = process.env, tls = {}) {
    const p = runnerProxy(env);
    return new undici.EnvHttpProxyAgent({
        httpProxy: p.httpProxy ?? '',
        httpsProxy: p.httpsProxy ?? '',
        noProxy: p.noProxy,
        ...(tls.ca ? { connect: { ca: tls.ca }, requestTls: { ca: tls.ca } } : {})
    });
}
/** A request that got no answer. The message names the URL, the cause, and the proxy if any. */
class FetchFailedError extends errors/* AirlockError */.qR {
    url;
    constructor(url, cause, proxy) {
        super('AIRLOCK_FETCH_FAILED', `${url}: ${describeCause(cause)}${proxy ? ` (through the proxy ${redact(proxy)})` : ''}`, {
            cause
        });
        this.url = url;
    }
}
/** undici says `fetch failed` and keeps the reason in `cause` (sometimes nested): dig it out. */
function describeCause(err) {
    let e = err;
    for (let i = 0; i < 4; i++) {
        const c = e?.cause;
        if (!(c instanceof Error))
            break;
        e = c;
    }
    const x = e;
    const msg = typeof x?.message === 'string' ? x.message : String(e);
    const code = typeof x?.code === 'string' ? x.code : undefined;
    if (x?.name === 'TimeoutError')
        return 'no answer in time';
    return code && !msg.includes(code) ? `${code} ${msg}` : msg;
}
/** A proxy URL without its userinfo. */
function redact(proxy) {
    try {
        const u = new URL(proxy);
        u.username = '';
        u.password = '';
        return u.origin;
    }
    catch {
        return 'the configured proxy';
    }
}
/**
 * `fetch` for the runner: the runner's proxy settings, and failures that say which URL could
 * not be reached and why.
 */
function runnerFetch(env = process.env, tls = {}) {
    const dispatcher = runnerDispatcher(env, tls);
    const proxy = runnerProxy(env);
    const f = undici.fetch;
    return async (url, init = {}) => {
        try {
            return await f(url, { ...init, dispatcher });
        }
        catch (err) {
            if (init.signal?.aborted)
                throw err;
            throw new FetchFailedError(url, err, proxyFor(url, proxy));
        }
    };
}

;// CONCATENATED MODULE: ./src/report/agent-output.ts
function lastJsonObject(stdout) {
    const trimmed = stdout.trim();
    const candidates = [trimmed, ...trimmed.split('\n').reverse()];
    for (const c of candidates) {
        if (!c.startsWith('{'))
            continue;
        try {
            return JSON.parse(c);
        }
        catch {
            // not this one
        }
    }
    return undefined;
}
// Token counts and the session id become step outputs that workflows put in `run:` scripts
// and `if:` expressions as if they were numbers and identifiers; the agent's output says what
// they are, so anything else (text, a shell expansion, a second line) is dropped, not passed on.
const num = (v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
const dollars = (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v < 1e6 ? v : undefined;
const agent_output_str = (v) => (typeof v === 'string' ? v : undefined);
/** A session id as the agents make them (UUIDs, `thread_…`): word characters, `.`, `:`, `-`. */
const id = (v) => typeof v === 'string' && /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(v) ? v : undefined;
/** Claude: one object with result, session_id and usage. */
function claude(stdout) {
    const o = lastJsonObject(stdout);
    if (!o)
        return {};
    const usage = (o.usage ?? {});
    return {
        result: agent_output_str(o.result),
        sessionId: id(o.session_id),
        inputTokens: num(usage.input_tokens),
        outputTokens: num(usage.output_tokens),
        costUsd: dollars(o.total_cost_usd)
    };
}
/** Codex `exec --json`: JSON lines; the last agent_message is the answer, turn.completed has usage. */
function codex(stdout) {
    const out = {};
    let input = 0;
    let output = 0;
    let sawUsage = false;
    for (const line of stdout.split('\n')) {
        if (!line.startsWith('{'))
            continue;
        let e;
        try {
            e = JSON.parse(line);
        }
        catch {
            continue;
        }
        if (e.type === 'thread.started')
            out.sessionId = id(e.thread_id) ?? out.sessionId;
        const item = e.item;
        if (e.type === 'item.completed' && item?.type === 'agent_message')
            out.result = agent_output_str(item.text) ?? out.result;
        if (e.type === 'turn.completed') {
            const usage = (e.usage ?? {});
            input += num(usage.input_tokens) ?? 0;
            output += num(usage.output_tokens) ?? 0;
            sawUsage = true;
        }
    }
    if (sawUsage)
        Object.assign(out, { inputTokens: input, outputTokens: output });
    return out;
}
/** Gemini: one object with session_id, response and per-model token stats. */
function gemini(stdout) {
    const o = lastJsonObject(stdout);
    if (!o)
        return {};
    let input;
    let output;
    const models = (o.stats ?? {}).models;
    for (const m of Object.values(models ?? {})) {
        input = (input ?? 0) + (num(m.tokens?.prompt) ?? num(m.tokens?.input) ?? 0);
        output = (output ?? 0) + (num(m.tokens?.candidates) ?? num(m.tokens?.output) ?? 0);
    }
    return {
        result: agent_output_str(o.response),
        sessionId: id(o.session_id),
        inputTokens: input,
        outputTokens: output
    };
}
function parseAgentOutput(agent, stdout) {
    if (agent === 'claude')
        return claude(stdout);
    if (agent === 'codex')
        return codex(stdout);
    if (agent === 'gemini')
        return gemini(stdout);
    return {};
}

// EXTERNAL MODULE: external "node:stream"
var external_node_stream_ = __webpack_require__(57075);
// EXTERNAL MODULE: external "node:stream/promises"
var external_node_stream_promises_ = __webpack_require__(46466);
// EXTERNAL MODULE: ./node_modules/@actions/tool-cache/lib/tool-cache.js + 2 modules
var tool_cache = __webpack_require__(59805);
;// CONCATENATED MODULE: ./src/sandbox/agent-install.ts










class AgentInstallError extends errors/* AirlockError */.qR {
    constructor(message) {
        super('AIRLOCK_AGENT_INSTALL', message);
    }
}
/**
 * Where the agent's files are mounted (read-only) in the container: under /airlock, which is
 * the container's own in every image (in runner mode /opt is the runner's, read-only).
 */
const AGENT_MOUNT = '/airlock/agent';
/** Where the hint for a registry that cannot be reached points (GHES, a corporate mirror). */
function registryHint(env) {
    return env.AIRLOCK_NPM_REGISTRY || env.npm_config_registry
        ? ''
        : '. Behind a proxy set HTTPS_PROXY (and NO_PROXY); to use a mirror set AIRLOCK_NPM_REGISTRY (or npm_config_registry)';
}
/**
 * Downloads the tarball through the runner's proxy settings (tool-cache's own downloader has
 * its own proxy handling) into RUNNER_TEMP, where tool-cache extracts from.
 */
async function download(fetchUrl, url, env) {
    const res = await fetchUrl(url).catch((err) => {
        throw new AgentInstallError(`cannot download the agent: ${err.message}`);
    });
    if (!res.ok || !res.body)
        throw new AgentInstallError(`cannot download the agent: ${url} answered ${res.status}`);
    const dir = (0,external_node_path_.join)(env.RUNNER_TEMP || (0,external_node_os_.tmpdir)(), `airlock-download-${(0,external_node_crypto_.randomBytes)(4).toString('hex')}`);
    await (0,promises_.mkdir)(dir, { recursive: true, mode: 0o700 });
    const file = (0,external_node_path_.join)(dir, 'package.tgz');
    await (0,external_node_stream_promises_.pipeline)(external_node_stream_.Readable.fromWeb(res.body), (0,external_node_fs_.createWriteStream)(file));
    return file;
}
function registryUrl(env) {
    return (env.AIRLOCK_NPM_REGISTRY ||
        env.npm_config_registry ||
        'https://registry.npmjs.org').replace(/\/+$/, '');
}
async function sha512(file) {
    const hash = (0,external_node_crypto_.createHash)('sha512');
    for await (const chunk of (0,external_node_fs_.createReadStream)(file))
        hash.update(chunk);
    return `sha512-${hash.digest('base64')}`;
}
/**
 * Installs the agent CLI on the runner from the npm registry without npm: the version's
 * tarball is downloaded, checked against the registry's `dist.integrity`, extracted, and
 * kept in the tool cache, so a second run on the same runner does not download it again.
 * Returns the directory to mount and the argv that runs the CLI from the mount.
 */
async function installAgent(agent, version, log, env = process.env, arch = process.arch, 
/** Extra CAs for the registry (tests; a runner has NODE_EXTRA_CA_CERTS). */
tls = {}) {
    const spec = agent.installSpec(version, arch);
    const toolName = `airlock-${agent.name}`;
    // The tool cache keeps one copy per CPU architecture.
    const found = tool_cache/* find */.I6(toolName, version, arch);
    if (found)
        return { dir: found, argv: spec.argv(AGENT_MOUNT), cached: true };
    const registry = registryUrl(env);
    const metaUrl = `${registry}/${spec.packageName.replace('/', '%2f')}/${encodeURIComponent(spec.packageVersion)}`;
    const fetchUrl = runnerFetch(env, tls);
    const res = await fetchUrl(metaUrl, { headers: { accept: 'application/json' } }).catch((err) => {
        throw new AgentInstallError(`cannot reach the npm registry for ${spec.packageName}@${spec.packageVersion}: ${err.message}${registryHint(env)}`);
    });
    if (res.status === 404) {
        throw new AgentInstallError(`${spec.packageName}@${spec.packageVersion} is not in the npm registry: check agent-version (${version})`);
    }
    if (!res.ok)
        throw new AgentInstallError(`npm registry answered ${res.status} for ${spec.packageName}@${spec.packageVersion}`);
    const meta = (await res.json());
    const tarball = meta.dist?.tarball;
    const integrity = meta.dist?.integrity;
    if (!tarball || !integrity?.startsWith('sha512-')) {
        throw new AgentInstallError(`the registry entry for ${spec.packageName}@${spec.packageVersion} has no tarball with a sha512 integrity`);
    }
    log(`downloading ${spec.packageName}@${spec.packageVersion}`);
    const file = await download(fetchUrl, tarball, env);
    const actual = await sha512(file);
    if (actual !== integrity) {
        await (0,promises_.rm)((0,external_node_path_.dirname)(file), { recursive: true, force: true });
        throw new AgentInstallError(`${spec.packageName}@${spec.packageVersion}: tarball integrity mismatch (expected ${integrity}, got ${actual})`);
    }
    const dir = await tool_cache/* extractTar */.nN(file, undefined, 'xz')
        .then((extracted) => tool_cache/* cacheDir */.e8(extracted, toolName, version, arch))
        .finally(() => (0,promises_.rm)((0,external_node_path_.dirname)(file), { recursive: true, force: true }));
    return { dir, argv: spec.argv(AGENT_MOUNT), cached: false };
}

;// CONCATENATED MODULE: ./src/sandbox/workspace-scan.ts



const DEFAULT_SCAN_LIMITS = {
    maxEntries: 500_000,
    maxTotalBytes: 1024 * 1024 * 1024,
    maxFileBytes: 64 * 1024 * 1024,
    maxMs: 60_000
};
/** A `config` or `config.worktree` git reads: inside a `.git` directory, at any depth. */
function isGitConfigPath(rel) {
    const parts = rel.split(external_node_path_.sep);
    const base = parts.at(-1);
    return (base === 'config' || base === 'config.worktree') && parts.slice(0, -1).includes('.git');
}
/**
 * Walks the workspace and searches every regular file for the needles: no symlink is
 * followed (a link is a name, not content the container could read through the mount), FIFOs,
 * sockets and devices are never opened, a directory already seen (bind-mount loops) is not
 * entered twice, files over the size cap are listed instead of read, and the whole walk is
 * bounded in entries, bytes and time. Git object stores are skipped: their content is
 * compressed, so a literal secret cannot be in them.
 */
function scanWorkspace(root, needles, limits = DEFAULT_SCAN_LIMITS, skip = () => false) {
    const out = { hits: [], gitConfigs: [], gitFiles: [], skippedLarge: [] };
    const started = Date.now();
    const longest = Math.max(0, ...needles.map((n) => n.bytes.length));
    const chunk = Buffer.alloc(1024 * 1024 + longest);
    const seenDirs = new Set();
    let entries = 0;
    let bytes = 0;
    const stack = [''];
    const stop = (why) => {
        out.incomplete ??= why;
    };
    while (stack.length > 0 && !out.incomplete) {
        const relDir = stack.pop();
        const absDir = relDir ? (0,external_node_path_.join)(root, relDir) : root;
        let st;
        try {
            st = (0,external_node_fs_.lstatSync)(absDir, { bigint: true });
        }
        catch {
            continue;
        }
        if (!st.isDirectory())
            continue;
        const key = `${st.dev}:${st.ino}`;
        if (seenDirs.has(key))
            continue;
        seenDirs.add(key);
        let names;
        try {
            names = (0,external_node_fs_.readdirSync)(absDir);
        }
        catch {
            continue;
        }
        for (const name of names) {
            if (++entries > limits.maxEntries) {
                stop(`more than ${limits.maxEntries} entries`);
                break;
            }
            if ((entries & 0xff) === 0 && Date.now() - started > limits.maxMs) {
                stop(`took longer than ${Math.round(limits.maxMs / 1000)} s`);
                break;
            }
            const rel = relDir ? (0,external_node_path_.join)(relDir, name) : name;
            if (skip(rel))
                continue;
            let ls;
            try {
                ls = (0,external_node_fs_.lstatSync)((0,external_node_path_.join)(root, rel));
            }
            catch {
                continue;
            }
            if (ls.isDirectory()) {
                if (name === 'objects' && relDir.split(external_node_path_.sep).includes('.git'))
                    continue;
                stack.push(rel);
                continue;
            }
            // Symlinks, FIFOs, sockets and devices: never opened.
            if (!ls.isFile())
                continue;
            if (name === '.git')
                out.gitFiles.push(rel);
            if (isGitConfigPath(rel)) {
                out.gitConfigs.push(rel);
                continue;
            }
            if (needles.length === 0)
                continue;
            if (ls.size > limits.maxFileBytes) {
                out.skippedLarge.push(rel);
                continue;
            }
            if (bytes + ls.size > limits.maxTotalBytes) {
                stop(`more than ${limits.maxTotalBytes} bytes to read`);
                break;
            }
            const found = searchFile((0,external_node_path_.join)(root, rel), needles, chunk, longest, limits.maxFileBytes);
            bytes += found.read;
            if (found.label)
                out.hits.push({ path: rel, label: found.label });
        }
    }
    return out;
}
/**
 * Searches one file in chunks (overlapping by the longest needle), opened without following
 * a link and without blocking on a FIFO swapped in since the lstat; only a regular file is read.
 */
function searchFile(path, needles, buf, longest, maxBytes) {
    let fd;
    try {
        fd = (0,external_node_fs_.openSync)(path, external_node_fs_.constants.O_RDONLY | external_node_fs_.constants.O_NOFOLLOW | external_node_fs_.constants.O_NONBLOCK);
    }
    catch {
        return { read: 0 };
    }
    let read = 0;
    try {
        if (!(0,external_node_fs_.fstatSync)(fd).isFile())
            return { read: 0 };
        let carry = 0;
        for (;;) {
            const n = (0,external_node_fs_.readSync)(fd, buf, carry, buf.length - carry, null);
            if (n === 0)
                break;
            read += n;
            const view = buf.subarray(0, carry + n);
            for (const needle of needles)
                if (view.includes(needle.bytes))
                    return { read, label: needle.label };
            if (read > maxBytes)
                break;
            // Keep the tail: a needle may straddle two chunks.
            carry = Math.min(longest, view.length);
            view.copy(buf, 0, view.length - carry);
        }
        return { read };
    }
    catch {
        return { read };
    }
    finally {
        (0,external_node_fs_.closeSync)(fd);
    }
}
/**
 * What to search for a secret: the value itself, base64 of it, and the git Basic forms
 * (`x-access-token:<t>` is what actions/checkout writes as its extraheader, `<t>:` what
 * tools that put the token as the user write). Values too short to be told from ordinary text are left out.
 */
function secretNeedles(secrets) {
    const out = [];
    const seen = new Set();
    for (const { label, value } of secrets) {
        if (value.length < 8)
            continue;
        // base64 cut to whole 4-char groups: those do not depend on what follows in the file.
        const b64 = (s) => Buffer.from(s)
            .toString('base64')
            .slice(0, Math.floor(Buffer.byteLength(s) / 3) * 4);
        const forms = [
            [label, value],
            [`${label} (base64)`, b64(value)],
            [`${label} (git Basic)`, b64(`x-access-token:${value}`)],
            [`${label} (Basic)`, b64(`${value}:`)]
        ];
        for (const [l, v] of forms) {
            if (seen.has(v))
                continue;
            seen.add(v);
            out.push({ label: l, bytes: Buffer.from(v) });
        }
    }
    return out;
}
/** The workspace holds a secret Airlock was given: the run does not start. */
class WorkspaceSecretError extends errors/* AirlockError */.qR {
    hits;
    constructor(hits) {
        const shown = hits.slice(0, 20).map((h) => `${h.path} (${h.label})`);
        super('AIRLOCK_WORKSPACE_SECRET', `the workspace holds a real secret the container could read, so the run did not start: ${shown.join(', ')}${hits.length > shown.length ? ` and ${hits.length - shown.length} more` : ''}. Remove the file or the secret from it before this step (an earlier step wrote it), or use a workspace without it`);
        this.hits = hits;
    }
}

;// CONCATENATED MODULE: ./src/sandbox/session.ts























/**
 * One sandboxed run: proxy up, staging written, container run to completion (or timeout /
 * cancellation), proxy stopped so the audit log is final. Every resource is reported to
 * `hooks.track` as it comes to exist; the caller releases them.
 */
async function runSession(plan, granted, runId, hooks, 
/** The run's proxy process, spawned early (`spawnRunProxy`); the caller cancels it if unused. */
proxy) {
    const started = Date.now();
    const root = process.env.RUNNER_TEMP || (0,external_node_os_.tmpdir)();
    // Recorded before it exists: a main killed between the two steps still leaves post the
    // path to remove (removing a directory that was never made is a no-op).
    const dir = (0,external_node_path_.join)(root, `airlock-${(0,external_node_crypto_.randomBytes)(3).toString('hex')}`);
    hooks.track({ kind: 'dir', path: dir });
    (0,external_node_fs_.mkdirSync)(dir, { mode: 0o700 });
    // Made (0700) when the run's proxy process was spawned: its log is the first thing in it.
    const logDir = (0,run_proxy/* runLogDir */.Zl)(runId);
    const proxyDir = (0,external_node_path_.join)(dir, 'proxy');
    (0,external_node_fs_.mkdirSync)(proxyDir, { mode: 0o700 });
    const stagingDir = (0,external_node_path_.join)(dir, 'staging');
    (0,external_node_fs_.mkdirSync)(stagingDir, { mode: 0o755 });
    const networkLog = (0,external_node_path_.join)(logDir, 'network.jsonl');
    const auditLog = (0,external_node_path_.join)(logDir, 'audit.jsonl');
    // What the preflight learnt about the daemon (rootless: the container runs as 0:0).
    const platform = lastPreflight(plan) ?? (await preflight(plan));
    const user = platform.containerUser;
    if (user.uid === 0 && !platform.rootless)
        hooks.warn('Airlock runs as root here, so the container does too (with no capabilities)');
    const runnerMode = isRunnerImage(plan.image);
    const found = plan.agent ? getAgent(plan.agent) : undefined;
    const agent = isInstallableAgent(found) ? found : undefined;
    const agentVersion = agent ? plan.agentVersion || agent.defaultVersion : '';
    // Work that touches neither the workspace nor a secret starts at once and overlaps the
    // workspace guard: the image (inspected, pulled or, in runner mode, imported) and the agent
    // CLI (found in the tool cache or downloaded).
    const imageReady = runnerMode
        ? ensureRunnerImage(hostRootLayout(), dir)
        : ensureImage(plan.image).then(() => plan.image);
    const installing = agent ? installAgent(agent, agentVersion, hooks.info) : undefined;
    const early = [imageReady, ...(installing ? [installing] : [])];
    for (const p of early)
        p.catch(() => undefined);
    // Before anything else touches the workspace for the container: checkout credentials
    // hidden, every file the container can read searched for the secrets Airlock holds.
    let guard;
    try {
        guard = await guardWorkspace(plan, granted, dir, hooks);
    }
    catch (err) {
        await Promise.allSettled(early);
        throw err;
    }
    // What git would run on the runner in later steps, as it is before the agent can write.
    const gitExec = plan.workspaceAccess === 'read-write'
        ? snapshotGitExec(plan.workspace, guard.gitConfigs)
        : undefined;
    // Kept in the private run directory until the revert below has run: when main dies before
    // it (a cancelled job whose container ignores SIGTERM outlives the runner's grace, and the
    // runner kills main while `docker stop` still waits), the release (post) takes back from it
    // what the run left, instead of leaving it for a later step's or the next job's git.
    const gitExecFile = (0,external_node_path_.join)(dir, 'git-exec.json');
    if (gitExec) {
        saveGitExecSnapshot(gitExec, gitExecFile);
        hooks.track({ kind: 'git-exec-guard', snapshot: gitExecFile });
    }
    const token = (0,start/* newProxyToken */.ui)();
    const socketPath = (0,external_node_path_.join)(proxyDir, 'proxy.sock');
    const starting = proxy.start({
        runId,
        token,
        mode: plan.egressPolicy,
        allow: plan.allowedEndpoints,
        connectTo: plan.connectTo,
        ...(plan.upstreamCa ? { upstreamCa: (0,external_node_fs_.readFileSync)(plan.upstreamCa, 'utf8') } : {}),
        socketPath: listenPath(socketPath, hooks.track),
        caCertFile: (0,external_node_path_.join)(stagingDir, 'ca.pem'),
        networkLog,
        auditLog,
        readyFile: (0,external_node_path_.join)(proxyDir, 'ready.json'),
        caValidityMs: Math.min(24 * 3600_000, (plan.timeoutMinutes + 30) * 60_000),
        grants: granted.map((g) => ({
            provider: g.provider,
            credential: credentialToJSON(g.credential)
        })),
        repository: process.env.GITHUB_REPOSITORY ?? '',
        githubApiUrl: process.env.GITHUB_API_URL ?? 'https://api.github.com',
        // What refresh needs to re-mint (App key, OIDC endpoint); on stdin like the grants.
        settings: settingsForRefresh(plan),
        ...(daemonOidc(plan) ? { oidc: daemonOidc(plan) } : {}),
        ...(runnerProxy().httpsProxy
            ? { upstreamProxy: { url: runnerProxy().httpsProxy, noProxy: runnerProxy().noProxy } }
            : {})
    });
    // The proxy finishes starting while the container is prepared (nothing below needs it
    // until the staging files are written).
    starting.catch(() => undefined);
    let image;
    let installed;
    try {
        ;
        [image, installed] = await Promise.all([imageReady, installing]);
    }
    catch (err) {
        await starting.catch(() => undefined);
        throw err;
    }
    // Placeholders and config the providers want in the container.
    const extraEnv = [];
    const mounts = [];
    for (const g of granted) {
        const p = mustGet(g.provider);
        extraEnv.push(...p.containerEnv(g.credential));
        const m = await p.containerMounts(g.credential, CONTAINER.home, stagingDir);
        mounts.push(...m.mounts);
        if (m.cleanupPath)
            hooks.track({ kind: 'provider-cleanup', provider: p.name, path: m.cleanupPath });
    }
    let command = ['sh', '-c', plan.command];
    if (agent && installed) {
        const cred = granted.find((g) => g.provider === agent.name).credential;
        // Read only now, with the credentials hidden; `prompt` itself is never interpreted.
        const prompt = plan.promptFile ? readPromptFile(plan.workspace, plan.promptFile) : plan.prompt;
        const cfg = await agent.prepareContainer({
            credential: cred,
            containerHome: CONTAINER.home,
            stagingDir,
            mcpServers: plan.mcpServers,
            prompt,
            agentArgs: plan.agentArgs,
            grants: plan.grants,
            limits: {
                ...(plan.model ? { model: plan.model } : {}),
                ...(plan.maxTurns ? { maxTurns: plan.maxTurns } : {}),
                ...(plan.maxBudgetUsd ? { maxBudgetUsd: plan.maxBudgetUsd } : {})
            }
        });
        extraEnv.push(...cfg.env.filter((e) => !extraEnv.includes(e)));
        mounts.push(...cfg.mounts);
        hooks.info(`${agent.npmPackage} ${agentVersion} ${installed.cached ? 'from the tool cache' : 'installed'}`);
        mounts.push({ source: installed.dir, target: AGENT_MOUNT, readOnly: true });
        if (!plan.command && cfg.command)
            command = [...installed.argv, ...cfg.command];
    }
    mounts.push(...guard.mounts);
    // google-github-actions/auth writes its credentials file into the workspace root; the
    // agent sees an empty file there instead (a mount, so nothing needs restoring).
    for (const f of (0,external_node_fs_.readdirSync)(plan.workspace)) {
        if (GHA_CREDS.test(f)) {
            mounts.push({ source: '/dev/null', target: `${CONTAINER.workspace}/${f}`, readOnly: true });
        }
    }
    // Runner mode: the runner's own directories, read-only at their own paths, and the
    // workspace at its own path too (with every mount over a part of it repeated there).
    let runnerEnv;
    let masks;
    const alias = runnerMode ? (0,external_node_path_.resolve)(plan.workspace) : undefined;
    if (alias) {
        const view = runnerView({
            env: process.env,
            workspace: alias,
            layout: hostRootLayout(),
            secrets: heldSecrets(plan, granted, process.env).map((s) => s.value),
            containerHome: CONTAINER.home,
            execPath: process.execPath
        });
        for (const m of alias === CONTAINER.workspace ? [] : [...mounts])
            if (m.target.startsWith(`${CONTAINER.workspace}/`))
                mounts.push({ ...m, target: alias + m.target.slice(CONTAINER.workspace.length) });
        mounts.push(...view.mounts);
        masks = view.masks;
        runnerEnv = view.env;
        hooks.info(`runner mode: ${view.mounts.map((m) => m.target).join(', ')} read-only; workspace also at ${alias}`);
        if (view.refused.length > 0)
            hooks.info(`runner mode: not carried into the container: ${view.refused.join(', ')}`);
    }
    const ready = await starting;
    hooks.info(`airlock proxy ready (pid ${ready.pid}); egress policy ${plan.egressPolicy}`);
    await writeStaging(stagingDir, (0,external_node_fs_.readFileSync)(ready.caCertFile, 'utf8'));
    const name = `airlock-${runId}`;
    const memory = memoryLimit(platform.info);
    const args = await runArgs({
        runId,
        name,
        image,
        workspace: plan.workspace,
        readOnlyWorkspace: plan.workspaceAccess === 'read-only',
        socketPath,
        stagingDir,
        env: sandboxEnv({
            proxyToken: token,
            extra: extraEnv,
            user: plan.env,
            ...(runnerEnv ? { runner: runnerEnv } : {}),
            ...(alias ? { workspaceAlias: alias } : {})
        }),
        mounts,
        command,
        user,
        // The runner's Node, copied where the daemon can see it (never mounted from the runner's
        // externals or the temp dir).
        nodeBinary: runnerNode(),
        hostPath: platform.hostPath,
        ...(alias ? { workspaceAlias: alias } : {}),
        ...(masks ? { masks } : {}),
        ...(memory ? { memoryBytes: memory, swapLimit: platform.info.SwapLimit === true } : {})
    });
    const container = { kind: 'container', runId, name };
    hooks.track(container);
    let conclusion;
    const stop = (why) => {
        if (conclusion)
            return;
        conclusion = why;
        hooks.warn(why === 'timeout'
            ? `timed out after ${plan.timeoutMinutes} minutes; stopping the container`
            : 'cancelled; stopping the container');
        void docker(['stop', '--time', '10', name]).then(() => removeByLabel(runId));
    };
    const timer = setTimeout(() => stop('timeout'), plan.timeoutMinutes * 60_000);
    const onAbort = () => stop('cancelled');
    hooks.signal?.addEventListener('abort', onAbort, { once: true });
    // Cancelled while setting up: do not start the container at all.
    if (hooks.signal?.aborted) {
        clearTimeout(timer);
        const end = await stopProxy(ready.pid, auditLog, hooks, undefined);
        return {
            conclusion: 'cancelled',
            exitCode: 130,
            networkLog,
            auditLog,
            auditHead: end.auditHead,
            report: {},
            durationMs: Date.now() - started
        };
    }
    // The proxy is the only way out: if it dies, the agent has no network at all (fail
    // closed), and the run must not report success on a partial log.
    let failureReason;
    const watch = setInterval(() => {
        if ((0,start/* alive */.yV)(ready.pid) || failureReason)
            return;
        // The container keeps running with no way out at all (fail closed); the step fails
        // when it ends, so what the agent does offline still finishes and is reported.
        failureReason = `the airlock proxy (pid ${ready.pid}) died during the run; the container lost all network access`;
        hooks.warn(failureReason);
    }, 1000);
    let agentStdout = '';
    let stderrHead = '';
    const result = await docker(args, {
        onStdout: (d) => {
            hooks.stdout(d);
            if (agent && agentStdout.length < 16 * 1024 * 1024)
                agentStdout += d.toString();
        },
        onStderr: (d) => {
            hooks.stderr(d);
            if (stderrHead.length < 4096)
                stderrHead += d.toString();
        },
        maxCollect: 0
    });
    // An image that cannot run the forwarder fails here, before any command ran: named as such.
    failureReason ??= unsupportedImage(plan.image, result.code, stderrHead);
    clearTimeout(timer);
    clearInterval(watch);
    hooks.signal?.removeEventListener('abort', onAbort);
    const exitCode = result.code;
    failureReason ??= dockerRunFailure(exitCode, stderrHead);
    // `docker run --rm` returns once the daemon removed the container, unless docker itself
    // failed (125) or the run was stopped: then the label search in the release finds what is left.
    if (exitCode !== 125 && !conclusion && container.kind === 'container')
        container.removed = true;
    for (const f of gitExec ? revertGitExec(gitExec) : [])
        hooks.warn(logSafe(findingLine(f)));
    // Taken back: nothing left for the release to do (a second pass would report it again).
    if (gitExec)
        (0,external_node_fs_.rmSync)(gitExecFile, { force: true });
    for (const rel of tamperedGitConfigs(plan.workspace, guard.hidden))
        hooks.warn(`${rel} is not the file it was before the run (replaced, moved or linked); the credentials hidden from it were never written back, check it before trusting it`);
    const { auditHead, failureReason: failed } = await stopProxy(ready.pid, auditLog, hooks, failureReason);
    conclusion ??= failed ? 'failure' : exitCode === 0 ? 'success' : 'failure';
    return {
        ...(failed ? { failureReason: failed } : {}),
        conclusion,
        exitCode,
        networkLog,
        auditLog,
        auditHead,
        report: parseAgentOutput(agent?.name, agentStdout),
        durationMs: Date.now() - started
    };
}
/**
 * Hides the git credentials in the workspace (cleaned copies mounted over the originals)
 * and then searches what the container will be able to read for every secret Airlock holds:
 * the secret inputs, each grant's credential. A hit refuses the run, naming the files
 * (never the secret): a file there would hand the agent a real credential past the proxy.
 */
async function guardWorkspace(plan, granted, privateDir, hooks) {
    const needles = secretNeedles(heldSecrets(plan, granted, process.env));
    // The auth action's files at the root are masked by a mount of /dev/null (below).
    const scan = scanWorkspace(plan.workspace, needles, undefined, (rel) => GHA_CREDS.test(rel));
    const git = await hideGitCredentials(plan.workspace, privateDir, scan.gitConfigs, scan.gitFiles);
    if (git.hidden.length > 0)
        hooks.info(`hid the credentials actions/checkout persisted in ${git.hidden.map((h) => h.rel).join(', ')} for the run`);
    const hiddenRels = new Set(git.hidden.map((h) => h.rel));
    const hits = scan.hits.filter((h) => !hiddenRels.has(h.path));
    for (const v of git.visible) {
        const text = Buffer.from(v.text);
        const n = needles.find((x) => text.includes(x.bytes));
        if (n)
            hits.push({ path: v.rel, label: n.label });
    }
    if (hits.length > 0)
        throw new WorkspaceSecretError(hits);
    if (scan.incomplete)
        hooks.warn(`the search of the workspace for leaked secrets stopped early (${scan.incomplete}); files after that point were not checked`);
    if (scan.skippedLarge.length > 0)
        hooks.info(`the search of the workspace for leaked secrets did not read ${scan.skippedLarge.length} file(s) over the size limit`);
    return { mounts: git.mounts, hidden: git.hidden, gitConfigs: scan.gitConfigs };
}
/** google-github-actions/auth's credentials files, at the workspace root. */
const GHA_CREDS = /^gha-creds-[\w-]*\.json$/;
/**
 * The runner's job tokens Airlock itself is handed (to mint OIDC tokens, to upload the log
 * artifact). Other actions copy them into files (google-github-actions/auth writes the OIDC
 * request token into its credentials file): one of those anywhere in the workspace would give
 * the agent a way to mint the job's cloud identities.
 */
const RUNNER_TOKENS = ['ACTIONS_ID_TOKEN_REQUEST_TOKEN', 'ACTIONS_RUNTIME_TOKEN'];
/** Every secret value this run holds, labelled by where it came from (the label is shown). */
function heldSecrets(plan, granted, env) {
    const out = [];
    for (const name of RUNNER_TOKENS) {
        const value = env[name];
        if (value)
            out.push({ label: name, value });
    }
    for (const [name, value] of Object.entries(plan.secrets))
        out.push({ label: name, value });
    for (const c of plan.custom)
        out.push({ label: `custom-credentials ${c.name}`, value: c.value });
    for (const g of granted) {
        const token = g.credential.token;
        if (!token)
            continue;
        out.push({ label: `${g.provider} grant`, value: token });
        // Structured tokens (AWS session JSON): each long string inside is a secret of its own.
        if (token.startsWith('{'))
            try {
                for (const v of Object.values(JSON.parse(token)))
                    if (typeof v === 'string' && v.length >= 16)
                        out.push({ label: `${g.provider} grant`, value: v });
            }
            catch {
                // not JSON after all: the whole value is searched for already
            }
    }
    return out;
}
/**
 * Stops the proxy so the audit log is complete and its head final, and says why the run
 * must fail if the proxy was gone early or could not finish its logs (failureReason, when
 * already known, wins).
 */
async function stopProxy(pid, auditLog, hooks, failureReason) {
    let reason = failureReason;
    if (!(await (0,start/* stopProcess */.g0)(pid, 5000)) && !reason)
        reason = `the airlock proxy (pid ${pid}) was gone before the run ended`;
    // One verification of the finished log gives its head, whether it is closed, and the
    // failure the proxy's final entry names.
    const { auditHead, closed, failure } = finishedAudit(auditLog, hooks);
    if (!reason) {
        if (!closed)
            reason = `the audit log ${auditLog} is incomplete (the proxy could not finish it; see proxy.log beside it)`;
        else if (failure)
            reason = `the airlock proxy stopped serving during the run (${failure}); the logs are incomplete and traffic after that point was refused`;
    }
    return reason ? { auditHead, failureReason: reason } : { auditHead };
}
/**
 * The head of the finished audit log, whether it ends with the proxy's `stop` entry, and the
 * failure that entry names. Warns (never throws) when the log does not verify.
 */
function finishedAudit(auditLog, hooks) {
    try {
        const verified = verifyAuditFile(auditLog);
        if (!verified.ok)
            hooks.warn(`audit log does not verify: ${verified.error?.reason ?? 'unknown'}`);
        if (!verified.closed)
            return { auditHead: verified.head, closed: false };
        // From the verification (the log is not read whole: it can be longer than one string).
        return {
            auditHead: verified.head,
            closed: true,
            ...(verified.failure !== undefined ? { failure: verified.failure } : {})
        };
    }
    catch (err) {
        hooks.warn(`audit log unreadable: ${err.message}`);
        return { auditHead: '', closed: false };
    }
}

;// CONCATENATED MODULE: ./src/run.ts
/**
 * One run in the airlock, whoever asked for it: the action's main step and the local CLI are
 * two front ends over this one orchestration. It owns the order that security depends on
 * (grants before the session, revocation when no proxy took the tokens over, every resource
 * released whatever happened) and the fence that keeps the container's output from being
 * read as workflow commands. Front ends own where lines, outputs and reports go.
 */








/**
 * Checks the platform, grants, runs the session and cleans up. Throws an `AirlockError` when the run could not
 * start (a grant refused, a preflight check failed); the session's own failures are in the
 * result. The providers are registered already (the plan was validated against them).
 */
async function runInAirlock(plan, ui) {
    const env = ui.env ?? process.env;
    const resources = [];
    const abort = new AbortController();
    const onSignal = () => abort.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const fence = ui.fence ? new CommandFence(ui.fence) : undefined;
    // Whatever way the process ends (an exception, process.exit), the resume line is printed.
    const closeFence = () => fence?.close();
    process.once('exit', closeFence);
    /** Airlock's own lines end the fence first, or the runner would not see them as commands. */
    const own = (log) => (line) => {
        closeFence();
        log(line);
    };
    const warn = own(ui.warn);
    const granted = [];
    let grantCtx;
    let runId = '';
    let early;
    const track = (r) => {
        resources.push(r);
        ui.persist?.(r);
    };
    try {
        // The proxy process loads its program meanwhile; it holds nothing until the session hands
        // it its config, and a run that stops before then closes its stdin (it exits).
        early = ui.early ?? (0,run_proxy/* spawnRunProxy */.ZX)(ui.runId ?? (0,run_proxy/* newRunId */.F$)(env));
        runId = early.runId;
        ui.started?.(runId);
        track({ kind: 'proxy', pid: early.proxy.pid, dir: early.logDir });
        if (!isRunnerImage(plan.image))
            inspectImageEarly(plan.image);
        // Before anything with a side effect (a grant, an OIDC exchange, a key check): the
        // platform can run a sandbox at all, and says why not in one message.
        await preflight(plan, env);
        grantCtx = makeGrantContext({
            settings: plan,
            signal: abort.signal,
            env,
            warn,
            connectTo: plan.connectTo,
            ...(ui.setSecret ? { setSecret: ui.setSecret } : { setSecret: () => { } }),
            ...(plan.upstreamCa ? { upstreamCa: plan.upstreamCa } : {})
        });
        await grantAll(plan.grants, grantCtx, granted);
        const image = ui.chooseImage ? await ui.chooseImage(plan.image) : plan.image;
        const runPlan = image === plan.image ? plan : Object.freeze({ ...plan, image });
        ui.sessionStarting?.(runId);
        const result = await runSession(runPlan, granted, runId, {
            // Info lines can name workspace paths (a submodule's name is the PR's text): they are
            // made plain text here; warnings go through the front end's own escaping.
            info: own((line) => ui.info(logSafe(line))),
            warn,
            track,
            stdout: (d) => (fence ? fence.output(d) : ui.write(d, 'stdout')),
            stderr: (d) => (fence ? fence.output(d) : ui.write(d, 'stderr')),
            signal: abort.signal
        }, early.proxy).finally(() => {
            closeFence();
            ui.sessionEnded?.();
        });
        return { runId, result };
    }
    finally {
        closeFence();
        // Never handed its config: the proxy holds no token, so it revokes none (this does below).
        const proxyUnused = early ? (0,run_proxy/* discardRunProxy */.Oz)(early) : true;
        // Release what this run made (the post step repeats this from state, in case the
        // process never got here).
        if ((await releaseAll(resources, warn)) && runId)
            ui.released?.(runId);
        // Once it has the tokens, the proxy revokes minted ones when it stops; before that, this does.
        if (grantCtx && proxyUnused)
            await revokeAll(granted, grantCtx, warn);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        process.off('exit', closeFence);
    }
}

;// CONCATENATED MODULE: ./src/state.ts




/** Every key main hands to post. Post reads each with a fallback: main may have died anywhere. */
var StateKey;
(function (StateKey) {
    /** Set by main at its first line; post uses it to know main ran at all. */
    StateKey["RunId"] = "run-id";
    /** JSON array of `Resource`, in the order they came to exist. */
    StateKey["Resources"] = "resources";
    /** Set by main once it released everything it made: post then has nothing to do. */
    StateKey["Released"] = "released";
})(StateKey || (StateKey = {}));
/**
 * What `core.saveState` does (GITHUB_STATE, which only post sees), without loading
 * `@actions/core`: it pulls in an HTTP client, and the post step, which reads this module
 * first, is on every job's clock even when it has nothing to do.
 */
function saveState(name, value) {
    const file = process.env.GITHUB_STATE;
    if (!file) {
        // Outside a runner (tests, a local run) the legacy command is the only channel.
        process.stdout.write(`::save-state name=${name}::${commandData(value)}${external_node_os_.EOL}`);
        return;
    }
    const delimiter = `ghadelimiter_${(0,external_node_crypto_.randomUUID)()}`;
    // A value holding the delimiter could end the entry early and write another key.
    if (value.includes(delimiter))
        throw new Error('state value contains its delimiter');
    (0,external_node_fs_.appendFileSync)(file, `${name}<<${delimiter}${external_node_os_.EOL}${value}${external_node_os_.EOL}${delimiter}${external_node_os_.EOL}`, 'utf8');
}
/** `core.getState`: the runner hands main's state to post as STATE_<name> variables. */
function getState(name) {
    return process.env[`STATE_${name}`] ?? '';
}
// Main keeps its own copy of the resources; GITHUB_STATE is written whole each time.
const resources = [];
function saveRunId(id) {
    saveState(StateKey.RunId, id);
}
function readRunId() {
    return getState(StateKey.RunId);
}
/** Main released every resource it recorded (and so no container of this run can remain). */
function saveReleased(runId) {
    saveState(StateKey.Released, runId);
}
function readReleased() {
    return getState(StateKey.Released);
}
/** Records a resource at once, so a crash on the next line still leaves post a way to free it. */
function pushResource(r) {
    resources.push(r);
    saveState(StateKey.Resources, JSON.stringify(resources));
}
/** The resources main recorded; [] when it recorded none or the state is unreadable. */
function readResources() {
    const raw = getState(StateKey.Resources);
    if (!raw)
        return [];
    try {
        const parsed = JSON.parse(raw);
        return Array.isArray(parsed) ? parsed.filter(isResource) : [];
    }
    catch {
        return [];
    }
}
function isResource(v) {
    return typeof v === 'object' && v !== null && typeof v.kind === 'string';
}

;// CONCATENATED MODULE: ./src/steps/main.ts











/** The main step: validate everything, grant, build the airlock, run the agent in it, report. */
async function run(early) {
    try {
        registerAll();
        const plan = readInputs();
        const { result } = await runInAirlock(plan, {
            ...(early ? { early } : {}),
            info: core/* info */.pq,
            warn: core/* warning */.$e,
            setSecret: core/* setSecret */.Pq,
            // The container's stdout and stderr both go to the step's stdout inside the fence, so
            // the runner sees them in order with the fence markers (it reads the streams apart).
            write: (d) => process.stdout.write(d),
            fence: (t) => process.stdout.write(t),
            persist: pushResource,
            started: saveRunId,
            // Post then skips its second pass (and its docker calls): nothing of this run remains.
            released: saveReleased,
            sessionStarting: (runId) => {
                core/* info */.pq(`Airlock run ${runId}: grants ${plan.grants.join(', ') || '(none)'}; egress policy ${plan.egressPolicy}`);
                core/* startGroup */.Oh(plan.agent ? `${plan.agent} in the airlock` : `$ ${plan.command}`);
            },
            sessionEnded: () => core/* endGroup */.N4()
        });
        const net = summarizeNetwork(result.networkLog);
        core/* setOutput */.uH('conclusion', result.conclusion);
        core/* setOutput */.uH('exit-code', String(result.exitCode));
        core/* setOutput */.uH('result', result.report.result ?? '');
        core/* setOutput */.uH('session-id', result.report.sessionId ?? '');
        core/* setOutput */.uH('input-tokens', String(result.report.inputTokens ?? ''));
        core/* setOutput */.uH('output-tokens', String(result.report.outputTokens ?? ''));
        core/* setOutput */.uH('cost-usd', result.report.costUsd?.toFixed(4) ?? '');
        core/* setOutput */.uH('network-log', result.networkLog);
        core/* setOutput */.uH('audit-log', result.auditLog);
        core/* setOutput */.uH('audit-head', result.auditHead);
        core/* setOutput */.uH('blocked-requests', String(blockedTotal(net) + net.audited));
        await writeSummary(renderSummary({
            kind: plan.agent ? 'agent' : 'command',
            what: plan.agent || plan.command,
            image: plan.image,
            conclusion: result.conclusion,
            exitCode: result.exitCode,
            durationMs: result.durationMs,
            grants: plan.grants,
            egressPolicy: plan.egressPolicy,
            auditHead: result.auditHead,
            inputTokens: result.report.inputTokens,
            outputTokens: result.report.outputTokens
        }, net));
        if (plan.auditArtifact) {
            const id = await uploadLogs(plan.auditArtifact, [result.networkLog, result.auditLog], (m) => core/* warning */.$e(m));
            if (id !== undefined)
                core/* info */.pq(`uploaded the network and audit logs as artifact "${plan.auditArtifact}" (id ${id})`);
        }
        for (const b of net.blocked.slice(0, 20))
            // Method and URL are the agent's (or the network's) text: shown, never parsed.
            core/* warning */.$e(logSafe(`Airlock blocked ${b.method} ${b.url} (${b.blocked ?? ''})`));
        if (result.conclusion !== 'success') {
            core/* setFailed */.C1(result.failureReason ??
                (result.conclusion === 'timeout'
                    ? `the run timed out after ${plan.timeoutMinutes} minutes`
                    : result.conclusion === 'cancelled'
                        ? 'the run was cancelled'
                        : `the command exited with code ${result.exitCode}`));
        }
    }
    catch (err) {
        core/* setOutput */.uH('conclusion', 'failure');
        core/* setFailed */.C1((0,errors/* errorMessage */.gJ)(err));
    }
    finally {
        // Bad inputs end the step before the run took the early proxy over: it exits unused.
        if (early)
            (0,run_proxy/* discardRunProxy */.Oz)(early);
    }
}


/***/ })

};
