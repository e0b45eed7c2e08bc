import { describe, expect, it } from 'vitest'
import { local, localAdvice, selfCommand } from '../../src/cli/vocabulary.js'
import { adviceFor } from '../../src/report/network.js'

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

  it('advises on refused requests in flags, and never to allow data sent to an unknown host', () => {
    const get = { method: 'GET', bytesOut: 0, requestHeaders: {} }
    expect(localAdvice(adviceFor(get, 'not-allowed'))).toBe('add the host to `--allow`')
    expect(localAdvice(adviceFor(get, 'ip-literal'))).toBe(
      'route a name to it with `--connect-to`, if it is yours'
    )
    const post = { method: 'POST', bytesOut: 0, requestHeaders: { 'content-length': '4096' } }
    const advice = localAdvice(adviceFor(post, 'not-allowed'))
    expect(advice).toMatch(/^possible exfiltration: data sent to a host not on the allowlist/)
    expect(advice).not.toContain('--allow')
    expect(advice).not.toContain('**')
  })
})
