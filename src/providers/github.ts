import type { Credential, GrantContext, ProxyConfigurer } from '../provider/index.js'
import { BaseProvider, PLACEHOLDERS, requireSecret, staticCredential } from './base.js'

export const GITHUB_API_HOSTS = ['api.github.com', 'uploads.github.com']
export const GITHUB_GIT_HOST = 'github.com'

/** GitHub: Bearer for the REST/GraphQL API, Basic `x-access-token` for git smart HTTP. */
export class GitHubProvider extends BaseProvider {
  readonly name = 'github'

  grant(ctx: GrantContext): Promise<Credential> {
    const [, token] = requireSecret(
      ctx,
      this.name,
      ['github-token'],
      'Set github-token (it defaults to ${{ github.token }}), or github-app-id and github-app-private-key to mint an installation token.'
    )
    return Promise.resolve(staticCredential(this.name, token))
  }

  configureProxy(p: ProxyConfigurer, cred: Credential): void {
    for (const host of GITHUB_API_HOSTS)
      p.setCredentialWithGrant(host, 'Authorization', `Bearer ${cred.token}`, this.name)
    // git smart HTTP answers 401 to Bearer; it wants Basic with any user and the token.
    const basic = Buffer.from(`x-access-token:${cred.token}`).toString('base64')
    p.setCredentialWithGrant(GITHUB_GIT_HOST, 'Authorization', `Basic ${basic}`, this.name)
  }

  hosts(_cred: Credential): string[] {
    return [...GITHUB_API_HOSTS, GITHUB_GIT_HOST]
  }

  override containerEnv(_cred: Credential): string[] {
    return [`GH_TOKEN=${PLACEHOLDERS.github}`, 'GIT_TERMINAL_PROMPT=0']
  }

  override impliedDependencies(): string[] {
    return ['gh', 'git']
  }
}
