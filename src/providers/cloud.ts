import {
  GrantError,
  type Credential,
  type EndpointRouter,
  type EndpointProvider,
  type GrantContext,
  type ProxyConfigurer
} from '../provider/index.js'
import { BaseProvider, PLACEHOLDERS } from './base.js'

/**
 * AWS via GitHub OIDC → STS, re-signing SigV4 in the proxy. The grant flow is not built yet:
 * it fails early and plainly rather than pretending.
 */
export class AwsProvider extends BaseProvider implements EndpointProvider {
  readonly name = 'aws'

  grant(ctx: GrantContext): Promise<Credential> {
    if (!ctx.input('aws-role-arn')) {
      return Promise.reject(
        new GrantError(
          this.name,
          'no credential: `aws-role-arn` is empty',
          'Set aws-role-arn to the role to assume with GitHub OIDC, and give the job `permissions: id-token: write`.'
        )
      )
    }
    return Promise.reject(
      new GrantError(
        this.name,
        'AWS OIDC grants are not available in this release',
        'Remove aws from grants for now.'
      )
    )
  }

  configureProxy(_p: ProxyConfigurer, _cred: Credential): void {}

  registerEndpoints(_router: EndpointRouter, _cred: Credential): void {}

  hosts(_cred: Credential): string[] {
    return []
  }

  override containerEnv(cred: Credential): string[] {
    return [
      `AWS_ACCESS_KEY_ID=${PLACEHOLDERS.awsAccessKeyId}`,
      `AWS_SECRET_ACCESS_KEY=${PLACEHOLDERS.awsSecretAccessKey}`,
      `AWS_REGION=${cred.metadata?.region ?? 'us-east-1'}`
    ]
  }

  override impliedDependencies(): string[] {
    return ['aws']
  }
}

/** Google Cloud via GitHub OIDC → Google STS. Not built yet; fails early and plainly. */
export class GcpProvider extends BaseProvider {
  readonly name = 'gcp'

  grant(ctx: GrantContext): Promise<Credential> {
    if (!ctx.input('gcp-workload-identity-provider')) {
      return Promise.reject(
        new GrantError(
          this.name,
          'no credential: `gcp-workload-identity-provider` is empty',
          'Set gcp-workload-identity-provider (and optionally gcp-service-account), and give the job `permissions: id-token: write`.'
        )
      )
    }
    return Promise.reject(
      new GrantError(
        this.name,
        'Google Cloud OIDC grants are not available in this release',
        'Remove gcp from grants for now.'
      )
    )
  }

  configureProxy(_p: ProxyConfigurer, _cred: Credential): void {}

  hosts(_cred: Credential): string[] {
    return []
  }
}
