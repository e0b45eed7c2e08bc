import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { X509Certificate, createPrivateKey } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import * as tls from 'node:tls'
import { describe, it, expect, beforeAll } from 'vitest'
import { CertificateAuthority, TlsError } from '../../src/proxy/tls.js'

const DAY_MS = 24 * 60 * 60 * 1000

/** Split a PEM bundle into its certificates, in order. */
function splitPem(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  return blocks.map((b) => new X509Certificate(b))
}

function validityMs(cert: X509Certificate): number {
  return Date.parse(cert.validTo) - Date.parse(cert.validFrom)
}

/** A TLS server that picks its certificate by SNI through `ca.secureContext`. */
async function sniServer(ca: CertificateAuthority): Promise<{ port: number; close: () => void }> {
  const server = tls.createServer(
    {
      SNICallback: (name, cb) => {
        ca.secureContext(name).then(
          (ctx) => cb(null, ctx),
          (err: Error) => cb(err)
        )
      }
    },
    (socket) => socket.end('hello')
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { port: (server.address() as AddressInfo).port, close: () => server.close() }
}

interface HandshakeResult {
  authorized: boolean
  authorizationError: string | undefined
  peerChainLength: number
  protocol: string | null
}

/** Connect without rejecting so the test can look at the verification result itself. */
function handshake(opts: tls.ConnectionOptions): Promise<HandshakeResult> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ ...opts, rejectUnauthorized: false }, () => {
      let chain = 0
      let cert: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true)
      const seen = new Set<string>()
      while (cert && cert.fingerprint256 && !seen.has(cert.fingerprint256)) {
        seen.add(cert.fingerprint256)
        chain++
        cert = cert.issuerCertificate
      }
      const result: HandshakeResult = {
        authorized: socket.authorized,
        authorizationError:
          socket.authorizationError === null || socket.authorizationError === undefined
            ? undefined
            : String(socket.authorizationError),
        peerChainLength: chain,
        protocol: socket.getProtocol()
      }
      socket.destroy()
      resolve(result)
    })
    socket.on('error', reject)
  })
}

describe('CertificateAuthority', () => {
  let ca: CertificateAuthority
  beforeAll(async () => {
    ca = await CertificateAuthority.create()
  })

  it('creates a CA certificate with the required constraints', async () => {
    const cert = new X509Certificate(ca.certPem)
    expect(cert.ca).toBe(true)
    expect(cert.subject).toBe('CN=Airlock run CA')
    expect(cert.checkIssued(cert)).toBe(true)
    expect(cert.verify(cert.publicKey)).toBe(true)
    expect(cert.publicKey.asymmetricKeyType).toBe('ec')
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1')
    // Only the CA certificate: no key material in what the container trusts.
    expect(ca.certPem).not.toMatch(/PRIVATE KEY/)
    expect(splitPem(ca.certPem)).toHaveLength(1)
    // Positive 16-byte serial: 32 hex digits, top bit clear.
    expect(cert.serialNumber).toMatch(/^[0-7][0-9A-F]{31}$/)

    // Node does not expose these extensions; decode the DER independently.
    const parsed = new x509.X509Certificate(cert.raw)
    const bc = parsed.getExtension(x509.BasicConstraintsExtension)
    expect(bc).toMatchObject({ ca: true, pathLength: 0, critical: true })
    const ku = parsed.getExtension(x509.KeyUsagesExtension)
    expect(ku?.critical).toBe(true)
    expect(ku?.usages).toBe(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)
    expect(parsed.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).toMatch(/^[0-9a-f]{40}$/)
    // The key identifier is RFC 5280's method 1 (SHA-1 of the key bits), as the library makes it.
    const expected = await x509.SubjectKeyIdentifierExtension.create(
      await parsed.publicKey.export()
    )
    expect(parsed.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).toBe(expected.keyId)
    expect(parsed.notBefore.getTime()).toBeLessThan(Date.now())
  })

  it('back-dates the CA for clock skew and keeps it within the default 6 h', () => {
    const cert = new X509Certificate(ca.certPem)
    const from = Date.parse(cert.validFrom)
    const to = Date.parse(cert.validTo)
    const now = Date.now()
    expect(from).toBeLessThanOrEqual(now - 4 * 60 * 1000)
    expect(from).toBeGreaterThan(now - 10 * 60 * 1000)
    expect(to).toBe(ca.notAfter.getTime())
    expect(to - now).toBeLessThanOrEqual(6 * 60 * 60 * 1000)
    expect(to - now).toBeGreaterThan(5 * 60 * 60 * 1000)
    expect(validityMs(cert)).toBeLessThanOrEqual(DAY_MS)
  })

  it('clamps a longer requested validity to 24 h', async () => {
    const long = await CertificateAuthority.create({ validityMs: 7 * DAY_MS })
    const cert = new X509Certificate(long.certPem)
    expect(validityMs(cert)).toBeLessThanOrEqual(DAY_MS)
    expect(validityMs(cert)).toBeGreaterThan(DAY_MS - 60 * 60 * 1000)
    const leaf = splitPem((await long.leafPem('example.com')).certChainPem)[0]!
    expect(validityMs(leaf)).toBeLessThanOrEqual(DAY_MS)
  })

  it('rejects nonsensical options', async () => {
    await expect(CertificateAuthority.create({ validityMs: 0 })).rejects.toMatchObject({
      code: 'AIRLOCK_BAD_CA_OPTIONS'
    })
    await expect(CertificateAuthority.create({ validityMs: Number.NaN })).rejects.toBeInstanceOf(
      TlsError
    )
    await expect(CertificateAuthority.create({ leafCacheSize: 0 })).rejects.toMatchObject({
      code: 'AIRLOCK_BAD_CA_OPTIONS'
    })
  })

  it('uses the requested common name', async () => {
    const named = await CertificateAuthority.create({ commonName: 'Test, Inc. CA' })
    // Node escapes the comma in its one-line rendering of the DN.
    expect(new X509Certificate(named.certPem).subject).toBe('CN=Test\\, Inc. CA')
  })

  it('mints a leaf for a DNS name that chains to the CA', async () => {
    const { certChainPem, keyPem } = await ca.leafPem('api.example.com')
    const chain = splitPem(certChainPem)
    expect(chain).toHaveLength(2)
    const [leaf, issuer] = chain as [X509Certificate, X509Certificate]
    const caCert = new X509Certificate(ca.certPem)
    expect(issuer.fingerprint256).toBe(caCert.fingerprint256)
    expect(leaf.verify(caCert.publicKey)).toBe(true)
    expect(leaf.checkIssued(caCert)).toBe(true)
    expect(leaf.ca).toBe(false)
    expect(leaf.checkHost('api.example.com')).toBe('api.example.com')
    expect(leaf.checkHost('other.example.com')).toBeUndefined()
    expect(leaf.subjectAltName).toBe('DNS:api.example.com')
    expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']) // EKU serverAuth
    expect(leaf.validFrom).toBe(caCert.validFrom)
    expect(leaf.validTo).toBe(caCert.validTo)
    expect(leaf.serialNumber).not.toBe(caCert.serialNumber)
    expect(keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/)
    expect(leaf.checkPrivateKey(createPrivateKey(keyPem))).toBe(true)

    const parsed = new x509.X509Certificate(leaf.raw)
    expect(parsed.getExtension(x509.BasicConstraintsExtension)).toMatchObject({
      ca: false,
      critical: true
    })
    expect(parsed.getExtension(x509.KeyUsagesExtension)?.usages).toBe(
      x509.KeyUsageFlags.digitalSignature
    )
    const caSki = new x509.X509Certificate(caCert.raw).getExtension(
      x509.SubjectKeyIdentifierExtension
    )
    expect(parsed.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(caSki?.keyId)
    expect(parsed.getExtension(x509.SubjectAlternativeNameExtension)?.critical).toBe(false)
    expect(parsed.signatureAlgorithm).toMatchObject({ name: 'ECDSA', hash: { name: 'SHA-256' } })
  })

  it('normalises case and the trailing dot, so both map to one cached leaf', async () => {
    const local = await CertificateAuthority.create()
    const a = await local.leafPem('WWW.Example.org.')
    const b = await local.leafPem('www.example.org')
    expect(a.certChainPem).toBe(b.certChainPem)
    expect(local.stats.minted).toBe(1)
    expect(splitPem(a.certChainPem)[0]!.checkHost('www.example.org')).toBe('www.example.org')
  })

  it('reuses one key for every leaf and gives each a distinct serial', async () => {
    const a = await ca.leafPem('a.example.com')
    const b = await ca.leafPem('b.example.com')
    expect(a.keyPem).toBe(b.keyPem)
    const [leafA] = splitPem(a.certChainPem)
    const [leafB] = splitPem(b.certChainPem)
    expect(leafA!.publicKey.export({ format: 'der', type: 'spki' })).toEqual(
      leafB!.publicKey.export({ format: 'der', type: 'spki' })
    )
    expect(leafA!.serialNumber).not.toBe(leafB!.serialNumber)
  })

  it('puts IP literals in an iPAddress SAN', async () => {
    const v4 = splitPem((await ca.leafPem('127.0.0.1')).certChainPem)[0]!
    expect(v4.subjectAltName).toBe('IP Address:127.0.0.1')
    expect(v4.checkIP('127.0.0.1')).toBe('127.0.0.1')
    expect(v4.checkHost('127.0.0.1')).toBeUndefined()
    expect(v4.checkIP('127.0.0.2')).toBeUndefined()

    const v6 = splitPem((await ca.leafPem('[::1]')).certChainPem)[0]!
    expect(v6.checkIP('::1')).toBe('::1')
    expect(v6.checkIP('0:0:0:0:0:0:0:1')).toBe('0:0:0:0:0:0:0:1')

    const mapped = splitPem((await ca.leafPem('::ffff:10.1.2.3')).certChainPem)[0]!
    expect(mapped.checkIP('::ffff:a01:203')).toBe('::ffff:a01:203')
  })

  it('uses an empty subject and a critical SAN for names longer than a CN allows', async () => {
    const long = `${'a'.repeat(60)}.${'b'.repeat(60)}.example.com`
    const leaf = splitPem((await ca.leafPem(long)).certChainPem)[0]!
    expect(leaf.subject).toBe('')
    const san = new x509.X509Certificate(leaf.raw).getExtension(
      x509.SubjectAlternativeNameExtension
    )
    expect(san?.critical).toBe(true)
    expect(leaf.checkHost(long)).toBe(long)
  })

  it.each([
    '',
    'bad host.com',
    'evil.com/path',
    'a..b',
    '.',
    'x'.repeat(64) + '.com',
    `${'a.'.repeat(127)}ab`,
    'exa\u00e9mple.com',
    'host\u0000.com',
    '*.example.com',
    'fe80::1%eth0',
    ':::'
  ])('rejects the invalid host %j with AIRLOCK_BAD_SNI', async (host) => {
    const err: unknown = await ca.secureContext(host).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TlsError)
    expect((err as TlsError).code).toBe('AIRLOCK_BAD_SNI')
  })

  it('says, before any mint, which names a certificate cannot carry', () => {
    expect(ca.refusal('api.example.com')).toBeUndefined()
    expect(ca.refusal('[::1]')).toBeUndefined()
    expect(ca.refusal('bad name.example')).toMatch(/not valid in a DNS name/)
    expect(ca.refusal(`${'a'.repeat(64)}.example`)).toMatch(/not valid in a DNS name/)
    expect(ca.refusal('')).toMatch(/empty/)
  })

  it('does not cache rejected hosts', async () => {
    const local = await CertificateAuthority.create()
    await expect(local.leafPem('bad host')).rejects.toThrow(/invalid TLS host/)
    expect(local.stats).toEqual({ minted: 0, cached: 0, evicted: 0 })
  })

  it('shares one mint between concurrent calls for the same host', async () => {
    const local = await CertificateAuthority.create()
    const contexts = await Promise.all(
      Array.from({ length: 10 }, () => local.secureContext('same.example.com'))
    )
    expect(local.stats.minted).toBe(1)
    expect(local.stats.cached).toBe(1)
    for (const ctx of contexts) expect(ctx).toBe(contexts[0])
  })

  it('bounds the cache, evicting the least recently used host', async () => {
    const evicted: string[] = []
    const local = await CertificateAuthority.create({
      leafCacheSize: 2,
      onEvict: (host) => evicted.push(host)
    })
    const a1 = await local.secureContext('a.test')
    await local.secureContext('b.test')
    // Touch a.test so b.test becomes the least recently used.
    expect(await local.secureContext('a.test')).toBe(a1)
    await local.secureContext('c.test')
    expect(evicted).toEqual(['b.test'])
    expect(local.stats).toEqual({ minted: 3, cached: 2, evicted: 1 })

    // a.test survived; b.test has to be minted again and pushes out a.test (now the LRU).
    expect(await local.secureContext('a.test')).toBe(a1)
    await local.secureContext('c.test')
    await local.secureContext('b.test')
    expect(evicted).toEqual(['b.test', 'a.test'])
    expect(local.stats).toEqual({ minted: 4, cached: 2, evicted: 2 })
  })

  it('keeps working when the eviction hook throws', async () => {
    const local = await CertificateAuthority.create({
      leafCacheSize: 1,
      onEvict: () => {
        throw new Error('hook failed')
      }
    })
    await local.secureContext('one.test')
    await expect(local.secureContext('two.test')).resolves.toBeDefined()
    expect(local.stats.evicted).toBe(1)
  })

  it('never exposes the CA private key', () => {
    const text = JSON.stringify(ca) + Object.keys(ca).join(',')
    expect(text).not.toMatch(/PRIVATE KEY/)
    expect(Object.getOwnPropertyNames(ca).sort()).toEqual(['certPem', 'notAfter'])
  })

  describe('real TLS handshakes', () => {
    it('is trusted by a client that trusts the run CA, with the CA sent in the chain', async () => {
      const server = await sniServer(ca)
      try {
        const result = await handshake({
          host: '127.0.0.1',
          port: server.port,
          servername: 'registry.npmjs.org',
          ca: ca.certPem
        })
        expect(result.authorizationError).toBeUndefined()
        expect(result.authorized).toBe(true)
        expect(result.peerChainLength).toBe(2)
        expect(['TLSv1.2', 'TLSv1.3']).toContain(result.protocol)
      } finally {
        server.close()
      }
    })

    it('is not trusted by a client that trusts a different CA', async () => {
      const other = await CertificateAuthority.create()
      const server = await sniServer(ca)
      try {
        const result = await handshake({
          host: '127.0.0.1',
          port: server.port,
          servername: 'registry.npmjs.org',
          ca: other.certPem
        })
        expect(result.authorized).toBe(false)
        expect(result.authorizationError).toBeDefined()
      } finally {
        server.close()
      }
    })

    it('fails hostname verification when the client expects another name', async () => {
      const server = await sniServer(ca)
      try {
        const err: unknown = await new Promise((resolve, reject) => {
          const socket = tls.connect(
            {
              host: '127.0.0.1',
              port: server.port,
              servername: 'api.github.com',
              ca: ca.certPem,
              // The certificate is for the SNI name; verify it against a different one.
              checkServerIdentity: (_host, cert) =>
                tls.checkServerIdentity('uploads.github.com', cert)
            },
            () => {
              socket.destroy()
              reject(new Error('handshake unexpectedly succeeded'))
            }
          )
          socket.on('error', resolve)
        })
        expect((err as NodeJS.ErrnoException).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID')
      } finally {
        server.close()
      }
    })

    it('refuses TLS 1.1', async () => {
      const server = await sniServer(ca)
      try {
        await expect(
          handshake({
            host: '127.0.0.1',
            port: server.port,
            servername: 'example.com',
            ca: ca.certPem,
            minVersion: 'TLSv1',
            maxVersion: 'TLSv1.1'
          })
        ).rejects.toThrow()
      } finally {
        server.close()
      }
    })

    it('serves an IP SAN that a client connecting by address accepts', async () => {
      const { certChainPem, keyPem } = await ca.leafPem('127.0.0.1')
      // Clients send no SNI for IP addresses (RFC 6066 §3), so serve the leaf as default.
      const server = tls.createServer({ cert: certChainPem, key: keyPem }, (s) => s.end())
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      try {
        const port = (server.address() as AddressInfo).port
        const result = await handshake({ host: '127.0.0.1', port, ca: ca.certPem })
        expect(result.authorizationError).toBeUndefined()
        expect(result.authorized).toBe(true)
      } finally {
        server.close()
      }
    })
  })
})
