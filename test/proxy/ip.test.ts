import { describe, it, expect } from 'vitest'

import { classifyAddress, formatIp, parseIp, parseIpLiteral } from '../../src/proxy/ip.js'

/** What the WHATWG URL parser (Node's `new URL`) makes of a host, or undefined if it refuses. */
function whatwgHost(host: string): string | undefined {
  try {
    return new URL(`http://${host}/`).hostname
  } catch {
    return undefined
  }
}

describe('parseIpLiteral: IPv4 in every inet_aton() notation', () => {
  const cases: [string, string][] = [
    ['127.0.0.1', '127.0.0.1'],
    ['127.1', '127.0.0.1'], // a.b: b fills 24 bits
    ['127.0.1', '127.0.0.1'], // a.b.c: c fills 16 bits
    ['10.1', '10.0.0.1'],
    ['2130706433', '127.0.0.1'], // one 32-bit decimal
    ['0x7f000001', '127.0.0.1'],
    ['0X7F000001', '127.0.0.1'],
    ['0x7f.0.0.1', '127.0.0.1'],
    ['0x7f.1', '127.0.0.1'],
    ['0177.0.0.1', '127.0.0.1'], // leading 0 is octal
    ['0177.1', '127.0.0.1'],
    ['017700000001', '127.0.0.1'],
    ['00000000177.0.0.01', '127.0.0.1'],
    ['0x7f.0.0.0x1', '127.0.0.1'], // mixed
    ['0177.0x0.0.1', '127.0.0.1'],
    ['0xa9fea9fe', '169.254.169.254'],
    ['169.254.43518', '169.254.169.254'],
    ['0251.0376.0251.0376', '169.254.169.254'],
    ['2852039166', '169.254.169.254'],
    ['0', '0.0.0.0'],
    ['0.0.0.0', '0.0.0.0'],
    ['4294967295', '255.255.255.255'],
    ['0xffffffff', '255.255.255.255'],
    ['1.16777215', '1.255.255.255'],
    ['1.2.65535', '1.2.255.255'],
    ['127.0.0.1.', '127.0.0.1'], // WHATWG drops one trailing dot
    ['[127.0.0.1]', '127.0.0.1']
  ]
  it.each(cases)('%s → %s', (input, canonical) => {
    expect(parseIpLiteral(input)).toBe(canonical)
  })

  it.each(cases.filter(([input]) => !input.startsWith('[')))(
    '%s agrees with the WHATWG URL parser',
    (input, canonical) => {
      expect(whatwgHost(input)).toBe(canonical)
    }
  )

  it('accepts text after whitespace, as glibc inet_aton() does', () => {
    expect(parseIpLiteral('127.0.0.1 evil.example')).toBe('127.0.0.1')
    expect(parseIpLiteral('0x7f.1\tx')).toBe('127.0.0.1')
  })

  it('accepts an empty hex part, as the WHATWG parser does', () => {
    expect(parseIpLiteral('0x.0.0.1')).toBe('0.0.0.1')
    expect(whatwgHost('0x.0.0.1')).toBe('0.0.0.1')
  })
})

describe('parseIpLiteral: IPv6', () => {
  const cases: [string, string][] = [
    ['::1', '::1'],
    ['[::1]', '::1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['0000:0000:0000:0000:0000:0000:0000:0001', '::1'],
    ['::', '::'],
    ['::ffff:127.0.0.1', '::ffff:7f00:1'],
    ['::FFFF:7F00:1', '::ffff:7f00:1'],
    ['::127.0.0.1', '::7f00:1'], // IPv4-compatible
    ['64:ff9b::7f00:1', '64:ff9b::7f00:1'],
    ['64:ff9b::127.0.0.1', '64:ff9b::7f00:1'],
    ['2002:7f00:1::', '2002:7f00:1::'],
    ['fd00:ec2::254', 'fd00:ec2::254'],
    ['FE80::1', 'fe80::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // RFC 5952 §4.2.3: first of equal runs
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // §4.2.2: a single 0 is not compressed
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
    ['2606:4700:4700::1111', '2606:4700:4700::1111']
  ]
  it.each(cases)('%s → %s', (input, canonical) => {
    expect(parseIpLiteral(input)).toBe(canonical)
  })

  it.each(cases)('%s agrees with the WHATWG URL parser', (input, canonical) => {
    const bracketed = input.startsWith('[') ? input : `[${input}]`
    expect(whatwgHost(bracketed)).toBe(`[${canonical}]`)
  })

  it.each([
    ['fe80::1%eth0', 'fe80::1'],
    ['[fe80::1%25eth0]', 'fe80::1'], // RFC 6874 zone in a URL
    ['::1%lo', '::1']
  ])('drops the zone id of %s', (input, canonical) => {
    expect(parseIpLiteral(input)).toBe(canonical)
  })
})

describe('parseIpLiteral: not an IP literal', () => {
  it.each([
    '',
    'github.com',
    'localhost',
    '1.2.3.4.5', // too many parts
    '256.0.0.1', // a non-last part over 255
    '1.256.0.0',
    '1.2.3.256', // last part too big for one byte
    '1.2.65536',
    '1.16777216',
    '4294967296', // over 32 bits
    '0x100000000',
    '08.0.0.1', // 8 is not an octal digit
    '0189',
    '0x7g.1',
    '-1',
    '+1',
    '1e3',
    ' 127.0.0.1', // glibc needs a digit first
    '127.0.0.1..',
    '.127.0.0.1',
    '127..1',
    '0x7f.example.com',
    ':::1',
    '1::2::3',
    '12345::1',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7:8::',
    '1:2:3:4:5:6:7',
    '::1.2.3', // an embedded IPv4 must be a dotted quad
    '::256.0.0.1',
    '::0x7f.0.0.1',
    '1.2.3.4::',
    '[::1',
    '::1]',
    '[[::1]]',
    'g::1',
    '%eth0'
  ])('%j', (input) => {
    expect(parseIpLiteral(input)).toBeUndefined()
  })
})

describe('parseIp / formatIp', () => {
  it('returns the numeric value and family', () => {
    expect(parseIp('0x7f.1')).toEqual({ family: 4, value: 0x7f000001 })
    expect(parseIp('::1')).toEqual({ family: 6, value: 1n })
    expect(parseIp('nope')).toBeUndefined()
  })

  it('formats what it parses', () => {
    expect(formatIp({ family: 4, value: 0xc0a80001 })).toBe('192.168.0.1')
    expect(formatIp({ family: 6, value: (0xfe80n << 112n) | 1n })).toBe('fe80::1')
  })
})

describe('classifyAddress', () => {
  const cases: [string, string][] = [
    // public
    ['1.1.1.1', 'public'],
    ['8.8.8.8', 'public'],
    ['140.82.112.3', 'public'],
    ['9.255.255.255', 'public'],
    ['11.0.0.0', 'public'],
    ['2606:4700:4700::1111', 'public'],
    ['2001:4860:4860::8888', 'public'],
    // loopback
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['0x7f000001', 'loopback'], // any notation
    ['127.1', 'loopback'],
    // unspecified
    ['0.0.0.0', 'unspecified'],
    ['0.255.255.255', 'unspecified'],
    ['::', 'unspecified'],
    // private
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.15.255.255', 'public'],
    ['172.16.0.0', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.0', 'public'],
    ['192.167.255.255', 'public'],
    ['192.168.0.1', 'private'],
    ['192.169.0.0', 'public'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fec0::1', 'private'],
    // cgnat
    ['100.63.255.255', 'public'],
    ['100.64.0.0', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['100.128.0.0', 'public'],
    // link-local
    ['169.254.0.1', 'link-local'],
    ['169.254.169.253', 'link-local'],
    ['fe80::1', 'link-local'],
    ['febf::1', 'link-local'],
    // multicast
    ['224.0.0.1', 'multicast'],
    ['239.255.255.255', 'multicast'],
    ['ff02::1', 'multicast'],
    // metadata wins over its range
    ['169.254.169.254', 'metadata'],
    ['169.254.170.2', 'metadata'],
    ['169.254.170.23', 'metadata'],
    ['168.63.129.16', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['fd00:ec2:0:0:0:0:0:254', 'metadata'],
    ['0xa9fea9fe', 'metadata'],
    // reserved
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['198.19.255.255', 'reserved'],
    ['198.20.0.0', 'public'],
    ['198.51.100.7', 'reserved'],
    ['203.0.113.9', 'reserved'],
    ['192.88.99.1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['3fff::1', 'reserved'],
    ['2001::1', 'reserved'], // Teredo
    ['100::1', 'reserved'],
    ['64:ff9b:1::1', 'reserved'],
    ['4000::1', 'reserved'], // outside 2000::/3
    ['not-an-ip', 'reserved'], // fails closed
    ['', 'reserved'],
    // IPv4 embedded in IPv6 takes the IPv4's class
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:8.8.8.8', 'public'],
    ['::127.0.0.1', 'loopback'], // IPv4-compatible
    ['::a9fe:a9fe', 'metadata'],
    ['::ffff:0:7f00:1', 'loopback'], // SIIT
    ['64:ff9b::7f00:1', 'loopback'], // NAT64
    ['64:ff9b::a9fe:a9fe', 'metadata'],
    ['64:ff9b::808:808', 'public'],
    ['2002:7f00:1::1', 'loopback'], // 6to4
    ['2002:c0a8:1::', 'private'],
    ['2002:a9fe:a9fe::1', 'metadata'],
    ['2002:808:808::1', 'public']
  ]
  it.each(cases)('%s is %s', (ip, cls) => {
    expect(classifyAddress(ip)).toBe(cls)
  })
})
