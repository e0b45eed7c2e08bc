import { randomBytes } from 'node:crypto'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { TestPki } from './test-ca.js'
import { isRecord, listenHttps, readJson, sleep } from './https-fake.js'

/** One function call the scripted model makes: a tool the request offers, with its args. */
export interface ScriptedCall {
  name: string
  args: Record<string, unknown>
}

/**
 * One model turn of the main conversation: function calls (finish reason STOP, as the API
 * answers them) or, when there are none, a final text.
 */
export interface ScriptedTurn {
  text?: string
  calls?: ScriptedCall[]
}

/** One request the fake API received, with what it answered. */
export interface GeminiRequest {
  method: string
  /** Path and query as sent (e.g. `/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse`). */
  url: string
  path: string
  /** The model named in the path (`models/<model>:<method>`), if any. */
  model?: string
  /** The API method after the colon (`generateContent`, `streamGenerateContent`, `countTokens`). */
  rpc?: string
  headers: IncomingHttpHeaders
  /** The `key` query parameter, when the client put the key in the URL. */
  keyParam: string | null
  body: string
  /** The parsed JSON body, when it was a JSON object. */
  json: Record<string, unknown> | undefined
  /** Status answered. */
  status: number
  /** The function declarations the request offered, by name. */
  tools: string[]
  /** For Gemini on Vertex AI: what the path named. */
  vertex?: { project: string; location: string }
  /**
   * For generateContent calls: the index of the scripted turn answered, or `side` for the
   * CLI's utility calls (routing, next-speaker checks, titles).
   */
  turn?: number | 'side'
  /** For generateContent calls: whether the answer was streamed as server-sent events. */
  streamed?: boolean
  /** Input and output tokens reported in the answer's usageMetadata. */
  usage?: { input: number; output: number }
}

/** Options for {@link startFakeGemini}. */
export interface FakeGeminiOptions {
  /** Certificate the server presents (its names must include generativelanguage.googleapis.com). */
  pki: TestPki
  /** The only key accepted, as `x-goog-api-key` or `?key=`. */
  apiKey: string
  /**
   * The main conversation, turn by turn. Which turn answers a request is decided by how many
   * model turns with function calls its history already holds, so a retry gets the same
   * answer.
   */
  script: ScriptedTurn[]
  /** Input and output tokens reported per answer (default 100 and 20). */
  usage?: { input: number; output: number }
  /** Tools that mark a request as the main conversation (default write_file, run_shell_command). */
  mainTools?: string[]
  /**
   * Also serve Gemini on Vertex AI (`/v1[beta1]/projects/<p>/locations/<l>/publishers/google/
   * models/<m>:<rpc>`), accepting the Bearer tokens this says are good.
   */
  vertex?: { accepts: (bearer: string) => boolean }
}

/** A running fake of the Gemini API; see {@link startFakeGemini}. */
export interface FakeGemini {
  url: string
  port: number
  /** Every request received, in arrival order. */
  requests: GeminiRequest[]
  /** The requests of the main conversation (those answered from the script). */
  conversation(): GeminiRequest[]
  close(): Promise<void>
}

/** The function declarations of a generateContent request, by name. */
function toolNames(body: Record<string, unknown> | undefined): string[] {
  const tools = Array.isArray(body?.tools) ? (body.tools as unknown[]) : []
  const out: string[] = []
  for (const t of tools.filter(isRecord)) {
    const decls = Array.isArray(t.functionDeclarations) ? (t.functionDeclarations as unknown[]) : []
    for (const d of decls.filter(isRecord)) out.push(String(d.name))
  }
  return out
}

/** How many model turns with function calls a request's history holds. */
function callTurns(body: Record<string, unknown>): number {
  const contents = Array.isArray(body.contents) ? (body.contents as unknown[]) : []
  return contents.filter(
    (c) =>
      isRecord(c) &&
      c.role === 'model' &&
      Array.isArray(c.parts) &&
      (c.parts as unknown[]).some((p) => isRecord(p) && isRecord(p.functionCall))
  ).length
}

/**
 * A value that satisfies a JSON schema (either `responseJsonSchema`, lower-case types, or the
 * API's OpenAPI-style `responseSchema`, upper-case types): the first enum value, the
 * minimum of a number, every property of an object. The CLI's utility calls (model routing,
 * next-speaker checks) ask for JSON like this; the first enum values are the cheap answers
 * (`flash`, `user`).
 */
function sampleOf(schema: unknown): unknown {
  if (!isRecord(schema)) return 'Airlock test'
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0]
  const type =
    typeof schema.type === 'string'
      ? schema.type
      : isRecord(schema.properties)
        ? 'object'
        : 'string'
  switch (type.toLowerCase()) {
    case 'object': {
      const props = isRecord(schema.properties) ? schema.properties : {}
      return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, sampleOf(v)]))
    }
    case 'array':
      return [sampleOf(schema.items)]
    case 'integer':
    case 'number':
      return typeof schema.minimum === 'number' ? schema.minimum : 1
    case 'boolean':
      return false
    default:
      return 'Airlock test'
  }
}

function googleError(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' })
  res.end(JSON.stringify({ error: { code: status, message, status: code } }, null, 2))
}

/**
 * Starts an HTTPS server on 127.0.0.1 that speaks the Gemini API (generativelanguage,
 * `v1beta`) the way Gemini CLI uses it with an API key, and records every request:
 *
 * - Every call must carry the configured key as `x-goog-api-key` or `?key=`; else 400
 *   `INVALID_ARGUMENT` "API key not valid", as the API answers.
 * - `POST …/models/<model>:streamGenerateContent?alt=sse`: a request offering the agent's
 *   tools (`write_file`/`run_shell_command`) belongs to the main conversation and is answered
 *   with the scripted turn for its history, as server-sent events (`data: <chunk>` with
 *   `candidates[].content.parts`, the last chunk with `finishReason` and `usageMetadata`).
 *   Other streamed calls get a short text.
 * - `POST …/models/<model>:generateContent`: the same, as one JSON response; a request asking
 *   for JSON (`responseMimeType: application/json`, e.g. the model router) gets a value of
 *   its response schema.
 * - `POST …/models/<model>:countTokens`: `{totalTokens}` from the body size.
 * - `GET …/models`: one model (the key check Airlock runs before starting the container).
 * - anything else: 404 `NOT_FOUND`.
 */
export async function startFakeGemini(opts: FakeGeminiOptions): Promise<FakeGemini> {
  const usage = opts.usage ?? { input: 100, output: 20 }
  const mainTools = opts.mainTools ?? ['write_file', 'run_shell_command']
  const requests: GeminiRequest[] = []

  /** The answer's parts and finish reason for a generateContent call. */
  const answer = (
    r: GeminiRequest,
    body: Record<string, unknown>
  ): { parts: Array<Record<string, unknown>>; finishReason: string } => {
    if (r.tools.some((t) => mainTools.includes(t))) {
      const index = Math.min(callTurns(body), opts.script.length - 1)
      const turn = opts.script[index] ?? { text: 'done' }
      r.turn = index
      const parts: Array<Record<string, unknown>> = []
      if (turn.text) parts.push({ text: turn.text })
      for (const c of turn.calls ?? []) parts.push({ functionCall: { name: c.name, args: c.args } })
      return { parts: parts.length ? parts : [{ text: 'done' }], finishReason: 'STOP' }
    }
    r.turn = 'side'
    const config = isRecord(body.generationConfig) ? body.generationConfig : {}
    if (config.responseMimeType === 'application/json') {
      const schema = config.responseJsonSchema ?? config.responseSchema
      return { parts: [{ text: JSON.stringify(sampleOf(schema)) }], finishReason: 'STOP' }
    }
    return { parts: [{ text: 'Airlock test' }], finishReason: 'STOP' }
  }

  const usageMetadata = (output: number): Record<string, unknown> => ({
    promptTokenCount: usage.input,
    candidatesTokenCount: output,
    totalTokenCount: usage.input + output,
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: usage.input }]
  })

  const generate = async (
    r: GeminiRequest,
    body: Record<string, unknown>,
    res: ServerResponse,
    stream: boolean
  ): Promise<void> => {
    const { parts, finishReason } = answer(r, body)
    const responseId = randomBytes(12).toString('base64url')
    const modelVersion = r.model ?? 'gemini-2.5-pro'
    r.status = 200
    r.streamed = stream
    r.usage = { ...usage }
    if (!stream) {
      res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' })
      res.end(
        JSON.stringify({
          candidates: [{ content: { role: 'model', parts }, finishReason, index: 0 }],
          usageMetadata: usageMetadata(usage.output),
          modelVersion,
          responseId
        })
      )
      return
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff'
    })
    res.flushHeaders()
    // Text arrives in pieces and function calls whole, one part per chunk; only the last
    // chunk has the finish reason and the output token count, as the API streams them.
    const chunks: Array<Array<Record<string, unknown>>> = []
    for (const p of parts) {
      if (typeof p.text === 'string' && p.text.length > 8) {
        const t = p.text
        const cut = Math.ceil(t.length / 2)
        chunks.push([{ text: t.slice(0, cut) }], [{ text: t.slice(cut) }])
      } else chunks.push([p])
    }
    for (const [i, chunkParts] of chunks.entries()) {
      if (res.destroyed) return
      const last = i === chunks.length - 1
      const data = {
        candidates: [
          {
            content: { role: 'model', parts: chunkParts },
            index: 0,
            ...(last ? { finishReason } : {})
          }
        ],
        usageMetadata: last
          ? usageMetadata(usage.output)
          : { promptTokenCount: usage.input, totalTokenCount: usage.input },
        modelVersion,
        responseId
      }
      res.write(`data: ${JSON.stringify(data)}\r\n\r\n`)
      // Separate writes a few ms apart: the client sees real chunk boundaries.
      await sleep(2)
    }
    res.end()
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const { text, json } = await readJson(req)
    const url = req.url ?? '/'
    const u = new URL(url, 'https://generativelanguage.googleapis.com')
    const vertex = opts.vertex
      ? /^\/v1(?:beta1)?\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/google\/models\/([^/:]+):([A-Za-z]+)$/.exec(
          u.pathname
        )
      : null
    const m = vertex
      ? ([vertex[0], vertex[3], vertex[4]] as const)
      : /^\/v1(?:beta|alpha)?\/models\/([^/:]+):([A-Za-z]+)$/.exec(u.pathname)
    const r: GeminiRequest = {
      method: req.method ?? '',
      url,
      path: u.pathname,
      ...(m ? { model: m[1], rpc: m[2] } : {}),
      headers: req.headers,
      keyParam: u.searchParams.get('key'),
      body: text,
      json,
      status: 0,
      tools: toolNames(json)
    }
    requests.push(r)
    const fail = (status: number, code: string, message: string): void => {
      r.status = status
      googleError(res, status, code, message)
    }

    if (vertex) {
      r.vertex = { project: vertex[1]!, location: vertex[2]! }
      const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1]
      if (!bearer || !opts.vertex!.accepts(bearer))
        return fail(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.')
    } else {
      const key = req.headers['x-goog-api-key'] ?? r.keyParam
      if (key !== opts.apiKey)
        return fail(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.')
    }
    if (req.method === 'GET' && /^\/v1(?:beta|alpha)?\/models$/.test(u.pathname)) {
      // The key check Airlock runs before starting the container.
      r.status = 200
      res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' })
      res.end(JSON.stringify({ models: [{ name: 'models/gemini-2.5-pro', version: '2.5' }] }))
      return
    }
    if (!m || req.method !== 'POST') return fail(404, 'NOT_FOUND', `${req.method} ${u.pathname}`)
    if (!json) return fail(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.')
    if (r.rpc === 'countTokens') {
      r.status = 200
      res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' })
      res.end(JSON.stringify({ totalTokens: Math.max(1, Math.ceil(text.length / 4)) }))
      return
    }
    if (r.rpc === 'generateContent') return generate(r, json, res, false)
    if (r.rpc === 'streamGenerateContent') return generate(r, json, res, true)
    fail(404, 'NOT_FOUND', `models/${r.model}:${r.rpc} is not part of this fake`)
  }

  const { port, close } = await listenHttps(opts.pki, (req, res) => {
    handle(req, res).catch(() => res.destroy())
  })
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    requests,
    conversation: () => requests.filter((r) => typeof r.turn === 'number'),
    close
  }
}
