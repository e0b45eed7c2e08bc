/**
 * What every API-shaped test server shares: an HTTPS listener on 127.0.0.1 that closes all
 * its connections on close, and request-body readers.
 */
import https from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type net from 'node:net'
import type { TestPki } from './test-ca.js'

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of req as AsyncIterable<Buffer>) chunks.push(c)
  return Buffer.concat(chunks).toString('utf8')
}

/** The body as text, and as a JSON object when it is one. */
export async function readJson(
  req: IncomingMessage
): Promise<{ text: string; json: Record<string, unknown> | undefined }> {
  const text = await readBody(req)
  try {
    const parsed: unknown = text ? JSON.parse(text) : undefined
    return { text, json: isRecord(parsed) ? parsed : undefined }
  } catch {
    return { text, json: undefined }
  }
}

/**
 * An HTTPS server (HTTP/1.1, no request timeout: streams may run long) on 127.0.0.1 with a
 * random port; close() destroys every connection, upgraded ones included.
 */
export async function listenHttps(
  pki: TestPki,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  onUpgrade?: (req: IncomingMessage, socket: net.Socket, head: Buffer) => void
): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>()
  const server = https.createServer(
    { cert: pki.certPem, key: pki.keyPem, ALPNProtocols: ['http/1.1'], requestTimeout: 0 },
    handler
  )
  if (onUpgrade) server.on('upgrade', onUpgrade)
  server.on('connection', (s: net.Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  server.on('clientError', (_err, socket: net.Socket) => socket.destroy())
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  return {
    port,
    close: async () => {
      for (const s of sockets) s.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
