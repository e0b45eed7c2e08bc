import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Credential, GrantContext, MountConfig, ProxyConfigurer } from '../provider/index.js'
import { ProviderDefaults, PLACEHOLDERS, requireSecret, staticCredential } from './defaults.js'
import type { KeyCheck } from '../provider/index.js'

export const NPM_REGISTRY_HOST = 'registry.npmjs.org'

/** npm: Bearer on the registry; the container gets an `.npmrc` holding a placeholder. */
export class NpmProvider extends ProviderDefaults {
  readonly name = 'npm'

  async grant(ctx: GrantContext): Promise<Credential> {
    const [, token] = requireSecret(
      ctx,
      this.name,
      ['npm-token'],
      'Set npm-token to a registry token (e.g. ${{ secrets.NPM_TOKEN }}).'
    )
    return staticCredential(this.name, token)
  }

  configureProxy(p: ProxyConfigurer, cred: Credential): void {
    p.setCredentialWithGrant(
      NPM_REGISTRY_HOST,
      'Authorization',
      `Bearer ${cred.token}`,
      this.name,
      PLACEHOLDERS.npm
    )
  }

  /** `GET /-/whoami`: the registry answers 401 to a token it does not accept. */
  keyCheck(cred: Credential): KeyCheck {
    return {
      provider: this.name,
      input: 'npm-token',
      url: `https://${NPM_REGISTRY_HOST}/-/whoami`,
      headers: { authorization: `Bearer ${cred.token}` },
      refused: (status) => status === 401,
      hint: 'Check that npm-token is a current npm access token (not revoked or expired).'
    }
  }

  hosts(_cred: Credential): string[] {
    return [NPM_REGISTRY_HOST]
  }

  override async containerMounts(
    _cred: Credential,
    containerHome: string,
    stagingDir: string
  ): Promise<{ mounts: MountConfig[]; cleanupPath?: string }> {
    const dir = join(stagingDir, 'npm')
    await mkdir(dir, { recursive: true, mode: 0o755 })
    const file = join(dir, '.npmrc')
    // npm refuses to send a token it does not have; the placeholder makes it send one for the
    // proxy to replace.
    await writeFile(file, `//${NPM_REGISTRY_HOST}/:_authToken=${PLACEHOLDERS.npm}\n`, {
      mode: 0o644
    })
    return {
      mounts: [{ source: file, target: `${containerHome}/.npmrc`, readOnly: true }],
      cleanupPath: dir
    }
  }

  override async cleanup(cleanupPath: string): Promise<void> {
    await rm(cleanupPath, { recursive: true, force: true })
  }

  override impliedDependencies(): string[] {
    return ['node', 'npm']
  }
}
