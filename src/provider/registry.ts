import { ProviderNotFoundError } from './errors.js'
import {
  isAgentProvider,
  isEndpointProvider,
  type AgentProvider,
  type CredentialProvider,
  type EndpointProvider
} from './types.js'

// Module-level like the seed's package-global maps; Node is single-threaded, so no lock.
const providers = new Map<string, CredentialProvider>()
const aliases = new Map<string, string>()

/** Registers a provider under its name; registering the same name again replaces it. */
export function register(p: CredentialProvider): void {
  providers.set(p.name, p)
}

/** Makes `alias` resolve to `canonical` (e.g. anthropic → claude). */
export function registerAlias(alias: string, canonical: string): void {
  aliases.set(alias, canonical)
}

/** The canonical name for a name or alias; the input unchanged when it is neither. */
export function resolveName(name: string): string {
  return providers.has(name) ? name : (aliases.get(name) ?? name)
}

/** A provider by name or alias, or undefined. */
export function get(name: string): CredentialProvider | undefined {
  return providers.get(name) ?? providers.get(aliases.get(name) ?? '')
}

/** Like `get`, but throws `ProviderNotFoundError`. */
export function mustGet(name: string): CredentialProvider {
  const p = get(name)
  if (!p) throw new ProviderNotFoundError(name)
  return p
}

/** Sorted canonical names; aliases excluded. */
export function names(): string[] {
  return [...providers.keys()].sort()
}

/** Aliases that resolve to `canonical`, sorted. */
export function aliasesOf(canonical: string): string[] {
  return [...aliases.entries()]
    .filter(([, c]) => c === canonical)
    .map(([a]) => a)
    .sort()
}

/** Every registered provider (seed parity, provider-api.md; unused by Airlock). */
export function all(): CredentialProvider[] {
  return names().map((n) => providers.get(n)!)
}

export function agents(): AgentProvider[] {
  return all().filter(isAgentProvider)
}

export function getAgent(name: string): AgentProvider | undefined {
  const p = get(name)
  return isAgentProvider(p) ? p : undefined
}

/** The endpoint provider of that name (seed parity, provider-api.md; unused by Airlock). */
export function getEndpoint(name: string): EndpointProvider | undefined {
  const p = get(name)
  return isEndpointProvider(p) ? p : undefined
}

/** Removes every provider and alias (tests). */
export function clear(): void {
  providers.clear()
  aliases.clear()
}
