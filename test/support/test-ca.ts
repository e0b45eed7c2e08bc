// @peculiar/x509 relies on decorator metadata; it must be loaded before the library.
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { webcrypto } from 'node:crypto'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// The DOM `Crypto` types are not in this project's lib; name them through the library.
type X509Crypto = Parameters<typeof x509.cryptoProvider.set>[0]
type KeyPair = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys']

x509.cryptoProvider.set(webcrypto as unknown as X509Crypto)

/** A throwaway PKI for one test: a CA and one server certificate signed by it. */
export interface TestPki {
  /** CA certificate, PEM. */
  caPem: string
  /** Path of the CA certificate PEM (what the proxy is given as `upstream-ca`). */
  caFile: string
  /** Server certificate, PEM (leaf only; the CA is not appended). */
  certPem: string
  /** Server private key, PKCS#8 PEM. */
  keyPem: string
  /** Path of the server certificate PEM. */
  certFile: string
  /** Path of the server key PEM. */
  keyFile: string
  /** The names in the server certificate's SAN (DNS names and IP addresses). */
  names: string[]
  /** Fresh temp directory holding ca.pem, cert.pem and key.pem. */
  dir: string
}

const EC_ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const
const SIGN_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const

function toPem(der: ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der).toString('base64')
  const lines = b64.match(/.{1,64}/g) ?? []
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`
}

/**
 * Creates a CA and a server certificate for `names` (plus 127.0.0.1 and localhost, so a
 * test server on loopback can always be reached directly). ECDSA P-256, valid from one hour
 * ago (clock skew) for one day. Files are written to a fresh temp dir.
 */
export async function createTestPki(names: string[] = []): Promise<TestPki> {
  const now = Date.now()
  const notBefore = new Date(now - 60 * 60 * 1000)
  const notAfter = new Date(now + 24 * 60 * 60 * 1000)

  const caKeys = (await webcrypto.subtle.generateKey(EC_ALG, true, [
    'sign',
    'verify'
  ])) as unknown as KeyPair
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=Airlock Test CA',
    keys: caKeys,
    notBefore,
    notAfter,
    signingAlgorithm: SIGN_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign |
          x509.KeyUsageFlags.cRLSign |
          x509.KeyUsageFlags.digitalSignature,
        true
      ),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey)
    ]
  })

  const allNames = [...new Set([...names, '127.0.0.1', 'localhost'])]
  const sans = allNames.map((n) => ({
    type: isIP(n) ? ('ip' as const) : ('dns' as const),
    value: n
  }))
  const leafKeys = (await webcrypto.subtle.generateKey(EC_ALG, true, [
    'sign',
    'verify'
  ])) as unknown as KeyPair
  const first = names[0] ?? 'localhost'
  const leaf = await x509.X509CertificateGenerator.create({
    subject: `CN=${first.replace(/[,=+<>#;"\\]/g, '_')}`,
    issuer: ca.subject,
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
    notBefore,
    notAfter,
    signingAlgorithm: SIGN_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(sans),
      await x509.AuthorityKeyIdentifierExtension.create(ca),
      await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey)
    ]
  })

  const pkcs8 = await webcrypto.subtle.exportKey(
    'pkcs8',
    leafKeys.privateKey as webcrypto.CryptoKey
  )
  const caPem = ca.toString('pem') + '\n'
  const certPem = leaf.toString('pem') + '\n'
  const keyPem = toPem(pkcs8, 'PRIVATE KEY')

  const dir = await mkdtemp(join(tmpdir(), 'airlock-test-pki-'))
  const caFile = join(dir, 'ca.pem')
  const certFile = join(dir, 'cert.pem')
  const keyFile = join(dir, 'key.pem')
  await writeFile(caFile, caPem)
  await writeFile(certFile, certPem)
  await writeFile(keyFile, keyPem, { mode: 0o600 })
  return { caPem, caFile, certPem, keyPem, certFile, keyFile, names: allNames, dir }
}
