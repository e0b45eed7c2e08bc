/**
 * The local CLI reads credentials from the environment under the names each vendor's own
 * tools use, and maps them onto the action's input names so one code path serves both.
 */
export const ENV_FOR_INPUT: Record<string, string[]> = {
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
}

export function envInput(env: NodeJS.ProcessEnv = process.env): (name: string) => string {
  return (name) => {
    for (const v of ENV_FOR_INPUT[name] ?? []) {
      const value = env[v]?.trim()
      if (value) return value
    }
    return ''
  }
}
