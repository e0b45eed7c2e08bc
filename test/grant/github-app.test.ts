import { generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { AppKeyError, appJwt, loadAppPrivateKey } from '../../src/grant/github-app.js'
import { generateAppKey } from '../support/fake-github-app.js'
import { verifyJwt } from '../support/fake-sts.js'

describe('appJwt', () => {
  it('is an RS256 JWT the public key verifies, backdated 60 s and under 10 minutes', () => {
    const { privateKeyPem, publicKey } = generateAppKey()
    const now = Date.UTC(2030, 0, 1, 12, 0, 0)
    const jwt = appJwt('12345', loadAppPrivateKey(privateKeyPem), now)
    const header = JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()) as object
    expect(header).toEqual({ alg: 'RS256', typ: 'JWT' })
    const claims = verifyJwt(jwt, publicKey)
    expect(claims).toEqual({ iat: now / 1000 - 60, exp: now / 1000 + 540, iss: 12345 })
    expect(() => verifyJwt(jwt, generateAppKey().publicKey)).toThrow('does not verify')
  })

  it('sends a client id as a string issuer', () => {
    const { privateKeyPem, publicKey } = generateAppKey()
    const jwt = appJwt('Iv1.abcdef', loadAppPrivateKey(privateKeyPem))
    expect(verifyJwt(jwt, publicKey).iss).toBe('Iv1.abcdef')
  })
})

describe('loadAppPrivateKey', () => {
  it('accepts PKCS#1, PKCS#8, CRLF and escaped newlines', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const pkcs1 = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()
    const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    for (const pem of [
      pkcs1,
      pkcs8,
      pkcs1.replace(/\n/g, '\r\n'),
      pkcs1.trim().replace(/\n/g, '\\n')
    ])
      expect(loadAppPrivateKey(pem).asymmetricKeyType).toBe('rsa')
  })

  it('refuses non-keys and non-RSA keys without quoting them', () => {
    const secret = 'definitely-not-a-key-but-secret'
    let err: unknown
    try {
      loadAppPrivateKey(secret)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(AppKeyError)
    expect((err as AppKeyError).message).toBe('github-app-private-key is not a PEM private key')
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString()
    expect(() => loadAppPrivateKey(ec)).toThrow('is a ec key; GitHub App keys are RSA')
  })
})
