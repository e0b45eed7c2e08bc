import { parseHostPattern } from '../proxy/patterns.js'
import {
  GrantError,
  type Credential,
  type GrantContext,
  type ProxyConfigurer
} from '../provider/index.js'
import type { CustomCredential } from '../provider/index.js'
import { ProviderDefaults, staticCredential } from './defaults.js'

/** A placeholder for a custom credential's env variable: fixed per name, plainly fake. */
export function customPlaceholder(name: string): string {
  return `airlock-placeholder-${name}`
}

/**
 * `custom-credentials`: any header on any HTTPS host. The credential's token holds the
 * entries as JSON so one grant carries them all across to the proxy.
 */
export class CustomProvider extends ProviderDefaults {
  readonly name = 'custom'

  async grant(ctx: GrantContext): Promise<Credential> {
    const entries = ctx.settings.custom
    if (entries.length === 0) {
      throw new GrantError(
        this.name,
        'no credential: `custom-credentials` is empty',
        'Set custom-credentials to a YAML list of {name, hosts, header, prefix, value, env}.'
      )
    }
    // Reading the settings masked every value; the entries travel to the proxy as one JSON token.
    for (const e of entries) ctx.setSecret(e.value)
    return staticCredential(this.name, JSON.stringify(entries))
  }

  entries(cred: Credential): CustomCredential[] {
    return JSON.parse(cred.token) as CustomCredential[]
  }

  configureProxy(p: ProxyConfigurer, cred: Credential): void {
    for (const e of this.entries(cred)) {
      for (const host of e.hosts) {
        // Injection is per host name; a scheme or port written in the entry (accepted there,
        // as in allowed-endpoints) only narrows what the allowlist lets through.
        const pattern = parseHostPattern(host)
        p.setCredentialWithGrant(
          pattern.wildcard ? `*.${pattern.host}` : pattern.host,
          e.header,
          `${e.prefix}${e.value}`,
          `custom:${e.name}`,
          e.env ? customPlaceholder(e.name) : undefined
        )
      }
      // With a custom prefix (`Key `, `Token=`) only the whole header value is known as a
      // secret; an upstream that echoes the bare value must be scrubbed too.
      p.addSecret(e.value, e.env ? customPlaceholder(e.name) : undefined)
    }
  }

  hosts(cred: Credential): string[] {
    return this.entries(cred).flatMap((e) => e.hosts)
  }

  override containerEnv(cred: Credential): string[] {
    return this.entries(cred)
      .filter((e) => e.env)
      .map((e) => `${e.env}=${customPlaceholder(e.name)}`)
  }
}
