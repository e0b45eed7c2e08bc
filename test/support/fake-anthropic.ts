import { randomBytes } from 'node:crypto'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { TestPki } from './test-ca.js'
import { isRecord, listenHttps, readJson, sleep } from './https-fake.js'

/** One tool call the scripted assistant makes. */
export interface ScriptedToolUse {
  name: string
  input: Record<string, unknown>
}

/**
 * One assistant turn of the main conversation: tool calls (answered with stop_reason
 * `tool_use`) or, when there are none, a final text (stop_reason `end_turn`).
 */
export interface ScriptedTurn {
  text?: string
  toolUses?: ScriptedToolUse[]
}

/** One request the fake API received, with what it answered. */
export interface AnthropicRequest {
  method: string
  /** Path and query as sent (Claude Code sends `/v1/messages?beta=true`). */
  url: string
  path: string
  headers: IncomingHttpHeaders
  body: string
  /** The parsed JSON body, when it was JSON. */
  json: Record<string, unknown> | undefined
  /** Status answered. */
  status: number
  /** For `/v1/messages`: the index of the scripted turn answered, or `side` for other calls. */
  turn?: number | 'side'
  /** For `/v1/messages`: whether the answer was streamed as server-sent events. */
  streamed?: boolean
  /** For Claude on Vertex AI: what the path named. */
  vertex?: { project: string; region: string; model: string; method: string }
}

/** Options for {@link startFakeAnthropic}. */
export interface FakeAnthropicOptions {
  /** Certificate the server presents (its names must include api.anthropic.com). */
  pki: TestPki
  /** The only key accepted (`x-api-key`, or `Authorization: Bearer` for OAuth tokens). */
  apiKey: string
  /**
   * The main conversation, turn by turn. Which turn answers a request is decided by how many
   * assistant messages its history already holds, so retries get the same answer.
   */
  script: ScriptedTurn[]
  /** Input and output tokens reported per answer (default 100 and 20). */
  usage?: { input: number; output: number }
  /**
   * Also serve Claude on Vertex AI (`…/publishers/anthropic/models/<m>:streamRawPredict`,
   * `:rawPredict`), accepting the Bearer tokens this says are good (a Google access token).
   */
  vertex?: { accepts: (bearer: string) => boolean }
}

/** A running fake of the Anthropic API; see {@link startFakeAnthropic}. */
export interface FakeAnthropic {
  url: string
  port: number
  /** Every request received, in arrival order. */
  requests: AnthropicRequest[]
  /** The `/v1/messages` requests of the main conversation (those with the agent's tools). */
  conversation(): AnthropicRequest[]
  close(): Promise<void>
}

function apiError(res: ServerResponse, status: number, type: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': requestId() })
  res.end(JSON.stringify({ type: 'error', error: { type, message } }))
}

function requestId(): string {
  return `req_${randomBytes(12).toString('hex')}`
}

/** The tools of a Messages request, by name. */
function toolNames(body: Record<string, unknown>): string[] {
  const tools = Array.isArray(body.tools) ? (body.tools as unknown[]) : []
  return tools.filter(isRecord).map((t) => String(t.name))
}

/** Content blocks of a Messages answer, before they are streamed or serialised. */
type Block =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }

/**
 * Splits a string into n roughly equal pieces, so clients must reassemble deltas
 * (`input_json_delta` pieces are not valid JSON on their own).
 */
function pieces(s: string, n: number): string[] {
  const size = Math.max(1, Math.ceil(s.length / n))
  const out: string[] = []
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size))
  return out.length ? out : ['']
}

/**
 * Writes one Messages answer as the API streams it (server-sent events, see
 * https://docs.anthropic.com/en/api/messages-streaming): message_start, then per block
 * content_block_start / *_delta / content_block_stop, message_delta with the stop reason
 * and output usage, message_stop. A `ping` comes after the first block starts, as the API
 * sends one.
 */
async function streamMessage(
  res: ServerResponse,
  message: Record<string, unknown>,
  blocks: Block[],
  stopReason: string,
  usage: { input: number; output: number }
): Promise<void> {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'request-id': requestId()
  })
  res.flushHeaders()
  const send = async (event: string, data: Record<string, unknown>): Promise<void> => {
    if (res.destroyed) return
    res.write(`event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`)
    // Separate writes a few ms apart: the client sees real chunk boundaries.
    await sleep(2)
  }
  await send('message_start', {
    message: {
      ...message,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: {
        input_tokens: usage.input,
        output_tokens: 1,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0
      }
    }
  })
  for (const [index, block] of blocks.entries()) {
    if (block.type === 'text') {
      await send('content_block_start', { index, content_block: { type: 'text', text: '' } })
      if (index === 0) await send('ping', {})
      for (const text of pieces(block.text, 3))
        await send('content_block_delta', { index, delta: { type: 'text_delta', text } })
    } else {
      await send('content_block_start', {
        index,
        content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} }
      })
      if (index === 0) await send('ping', {})
      for (const partial_json of pieces(JSON.stringify(block.input), 4))
        await send('content_block_delta', {
          index,
          delta: { type: 'input_json_delta', partial_json }
        })
    }
    await send('content_block_stop', { index })
  }
  await send('message_delta', {
    delta: { stop_reason: stopReason, stop_sequence: null },
    usage: { output_tokens: usage.output }
  })
  await send('message_stop', {})
  res.end()
}

/**
 * Starts an HTTPS server on 127.0.0.1 that speaks the Anthropic Messages API the way Claude
 * Code uses it, and records every request:
 *
 * - `POST /v1/messages[?beta=true]`: authenticated with the configured key (else 401
 *   `authentication_error`). A request carrying the agent's tools (`Write`/`Bash`) belongs
 *   to the main conversation and is answered with the scripted turn for its history (tool
 *   calls, then the final text); any other (titles, quota probes, summaries) gets a short
 *   text. Streams SSE when `stream: true`, else answers one JSON message.
 * - `POST /v1/messages/count_tokens`: `{input_tokens}` from the body size.
 * - `GET /v1/models`: one model (the key check Airlock runs before starting the container).
 * - `GET /api/claude_code/*` (organisation policy and managed settings): 404, which Claude
 *   Code reads as "nothing configured" for an API-key account.
 * - anything else: 404 `not_found_error`.
 */
/** `/v1/projects/<p>/locations/<region>/publishers/anthropic/models/<model>:<method>` */
const VERTEX_PATH =
  /^\/v1\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/anthropic\/models\/([^/:]+):(streamRawPredict|rawPredict)$/

export async function startFakeAnthropic(opts: FakeAnthropicOptions): Promise<FakeAnthropic> {
  const usage = opts.usage ?? { input: 100, output: 20 }
  const requests: AnthropicRequest[] = []

  const authorised = (h: IncomingHttpHeaders): boolean =>
    h['x-api-key'] === opts.apiKey ||
    h.authorization === `Bearer ${opts.apiKey}` ||
    (opts.vertex !== undefined &&
      /^Bearer \S+$/.test(h.authorization ?? '') &&
      opts.vertex.accepts(h.authorization!.slice('Bearer '.length)))

  const messages = async (
    r: AnthropicRequest,
    body: Record<string, unknown>,
    res: ServerResponse
  ): Promise<void> => {
    const history = Array.isArray(body.messages) ? (body.messages as unknown[]) : []
    const tools = toolNames(body)
    const main = tools.includes('Write') || tools.includes('Bash')
    let blocks: Block[]
    let stopReason = 'end_turn'
    if (main) {
      const assistantTurns = history.filter((m) => isRecord(m) && m.role === 'assistant').length
      const index = Math.min(assistantTurns, opts.script.length - 1)
      const turn = opts.script[index] ?? { text: 'done' }
      r.turn = index
      if (turn.toolUses?.length) {
        blocks = turn.toolUses.map((t) => ({
          type: 'tool_use' as const,
          id: `toolu_${randomBytes(12).toString('hex')}`,
          name: t.name,
          input: t.input
        }))
        if (turn.text) blocks.unshift({ type: 'text', text: turn.text })
        stopReason = 'tool_use'
      } else {
        blocks = [{ type: 'text', text: turn.text ?? 'done' }]
      }
    } else {
      r.turn = 'side'
      blocks = [{ type: 'text', text: 'Airlock test' }]
    }
    const message = {
      id: `msg_${randomBytes(12).toString('hex')}`,
      type: 'message',
      role: 'assistant',
      model: typeof body.model === 'string' ? body.model : 'claude-sonnet-4-5'
    }
    r.status = 200
    r.streamed = body.stream === true
    if (r.streamed) {
      await streamMessage(res, message, blocks, stopReason, usage)
      return
    }
    res.writeHead(200, { 'content-type': 'application/json', 'request-id': requestId() })
    res.end(
      JSON.stringify({
        ...message,
        content: blocks,
        stop_reason: stopReason,
        stop_sequence: null,
        usage: {
          input_tokens: usage.input,
          output_tokens: usage.output,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: 0
        }
      })
    )
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const { text, json } = await readJson(req)
    const url = req.url ?? '/'
    const path = new URL(url, 'https://api.anthropic.com').pathname
    const r: AnthropicRequest = {
      method: req.method ?? '',
      url,
      path,
      headers: req.headers,
      body: text,
      json,
      status: 0
    }
    requests.push(r)
    const fail = (status: number, type: string, message: string): void => {
      r.status = status
      apiError(res, status, type, message)
    }

    if (path.startsWith('/api/claude_code/')) return fail(404, 'not_found_error', 'not found')
    if (!authorised(req.headers)) return fail(401, 'authentication_error', 'invalid x-api-key')
    if (req.method === 'GET' && path === '/v1/models') {
      // The key check main runs before the container starts.
      r.status = 200
      res.writeHead(200, { 'content-type': 'application/json', 'request-id': requestId() })
      const model = { type: 'model', id: 'claude-sonnet-4-5', display_name: 'Claude Sonnet 4.5' }
      res.end(
        JSON.stringify({ data: [model], has_more: false, first_id: model.id, last_id: model.id })
      )
      return
    }
    if (req.method === 'POST' && path === '/v1/messages/count_tokens') {
      r.status = 200
      res.writeHead(200, { 'content-type': 'application/json', 'request-id': requestId() })
      res.end(JSON.stringify({ input_tokens: Math.max(1, Math.ceil(text.length / 4)) }))
      return
    }
    const vertex = VERTEX_PATH.exec(path)
    if (opts.vertex && req.method === 'POST' && vertex) {
      if (!json) return fail(400, 'invalid_request_error', 'body is not a JSON object')
      // Vertex names the model in the path and the API version in the body; the stream
      // method streams whatever the body says.
      r.vertex = { project: vertex[1]!, region: vertex[2]!, model: vertex[3]!, method: vertex[4]! }
      if (json.anthropic_version !== 'vertex-2023-10-16')
        return fail(400, 'invalid_request_error', 'anthropic_version: vertex-2023-10-16 expected')
      const body = {
        ...json,
        model: vertex[3],
        stream: vertex[4] === 'streamRawPredict' || json.stream === true
      }
      return messages(r, body, res)
    }
    if (req.method === 'POST' && path === '/v1/messages') {
      if (!json) return fail(400, 'invalid_request_error', 'body is not a JSON object')
      return messages(r, json, res)
    }
    fail(404, 'not_found_error', `${req.method} ${path} is not part of this fake`)
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
