import { describe, expect, it } from 'vitest'
import { local, selfCommand } from '../../src/cli/vocabulary.js'

describe('local()', () => {
  it('renames input names that cannot be English, and one-word names only when quoted or leading', () => {
    expect(local('timeout-minutes: 999 is outside 0.1-360 minutes')).toBe(
      '--timeout: 999 is outside 0.1-360 minutes'
    )
    expect(local('Set github-app-id and github-app-private-key')).toBe(
      'Set AIRLOCK_GITHUB_APP_ID and AIRLOCK_GITHUB_APP_PRIVATE_KEY'
    )
    // "the prompt" and "the image" are words; `image` quoted is the setting.
    expect(local('the prompt contains a secret; the image is missing')).toBe(
      'the prompt contains a secret; the image is missing'
    )
    expect(local('set `image` or `prompt`')).toBe('set `--image` or `--prompt`')
    // Part of a longer name or a host is left alone.
    expect(local('x-github-token-y and api.connect-to.example')).toBe(
      'x-github-token-y and api.connect-to.example'
    )
    expect(local('the runner runs as root')).toBe('this machine runs as root')
  })

  it('suggests commands the way the user can run them', () => {
    expect(selfCommand('/usr/local/bin/airlock', '/home/u')).toBe('airlock')
    expect(selfCommand('/repo/dist/cli/index.js', '/repo')).toBe('node dist/cli/index.js')
    expect(selfCommand('/repo/dist/cli/index.js', '/elsewhere')).toBe(
      'node /repo/dist/cli/index.js'
    )
  })
})
