import { createHash, randomBytes } from 'node:crypto'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type net from 'node:net'
import type { TestPki } from './test-ca.js'
import { isRecord, listenHttps, readJson, sleep } from './https-fake.js'

/**
 * One tool call the scripted assistant makes. `shell` is a command line, run through the
 * best shell tool the request offers (Codex's JavaScript code-mode `exec`, else
 * `exec_command`, `shell_command` or `shell`), so the script does not depend on the CLI
 * version's tool set; `name` and `arguments` call a function tool as given.
 */
export type ScriptedCall = { shell: string } | { name: string; arguments: Record<string, unknown> }

/**
 * One assistant turn of the main conversation: tool calls or, when there are none, a final
 * message with `text`.
 */
export interface ScriptedTurn {
  text?: string
  calls?: ScriptedCall[]
}

/** One request the fake API received, with what it answered. */
export interface OpenAIRequest {
  /** `websocket` for a `response.create` message on a WebSocket, `http` otherwise. */
  transport: 'http' | 'websocket'
  /** The WebSocket upgrade (`GET`, status 101) is recorded too, as `http`. */
  method: string
  url: string
  path: string
  /** The HTTP request's headers; for WebSocket messages, those of the upgrade. */
  headers: IncomingHttpHeaders
  body: string
  /** The parsed JSON body (or WebSocket message), when it was a JSON object. */
  json: Record<string, unknown> | undefined
  /** Status answered (101 for an accepted upgrade; 200 for a WebSocket response). */
  status: number
  /**
   * For responses: the index of the scripted turn answered, `warmup` for a `generate: false`
   * request, or `side` for other calls.
   */
  turn?: number | 'side' | 'warmup'
  /** For responses: the id of the response answered. */
  responseId?: string
  /** For responses: whether the answer was streamed (SSE or WebSocket events). */
  streamed?: boolean
  /** The tools the request offered, by name. */
  tools?: string[]
  /** For WebSocket messages: which connection (0-based, in upgrade order) carried it. */
  connection?: number
}

/** Options for {@link startFakeOpenAI}. */
export interface FakeOpenAIOptions {
  /** Certificate the server presents (its names must include api.openai.com). */
  pki: TestPki
  /** The only key accepted, as `Authorization: Bearer <key>`. */
  apiKey: string
  /**
   * The main conversation, turn by turn. The turn answered follows the last scripted tool
   * call whose output (or call) the request's input carries, so a retry gets the same
   * answer.
   */
  script: ScriptedTurn[]
  /** Accept WebSocket upgrades on `/v1/responses` (default true); else answer 426. */
  websocket?: boolean
  /** Input and output tokens reported per response (default 100 and 20). */
  usage?: { input: number; output: number }
}

/** A running fake of the OpenAI Responses API; see {@link startFakeOpenAI}. */
export interface FakeOpenAI {
  url: string
  port: number
  /** Every request received (WebSocket upgrades and messages included), in arrival order. */
  requests: OpenAIRequest[]
  /**
   * The responses of the main conversation: requests offering a shell tool or carrying the
   * outputs of scripted calls.
   */
  conversation(): OpenAIRequest[]
  close(): Promise<void>
}

function id(prefix: string): string {
  return `${prefix}_${randomBytes(16).toString('hex')}`
}

interface OfferedTool {
  name: string
  type: string
  namespace?: string
}

/**
 * The tools a Responses request offers: the `tools` field, and the `additional_tools`
 * input items Codex sends instead (tools grouped in namespaces, e.g. `functions`).
 */
function offeredTools(body: Record<string, unknown>): OfferedTool[] {
  const out: OfferedTool[] = []
  const walk = (list: unknown, namespace: string | undefined): void => {
    if (!Array.isArray(list)) return
    for (const t of list.filter(isRecord)) {
      const type = String(t.type)
      const name = String(t.name ?? t.type)
      if (type === 'namespace') walk(t.tools, name)
      else out.push({ name, type, ...(namespace ? { namespace } : {}) })
    }
  }
  walk(body.tools, undefined)
  const input = Array.isArray(body.input) ? (body.input as unknown[]).filter(isRecord) : []
  for (const item of input) if (item.type === 'additional_tools') walk(item.tools, undefined)
  return out
}

/** Tools that run a shell command, best first; `exec` is Codex's JavaScript "code mode". */
const SHELL_TOOLS = ['exec', 'exec_command', 'shell_command', 'shell']

/**
 * The output item that runs `command` with the first shell tool the request offers: a
 * custom (free-form) call for code mode, whose JavaScript calls the nested `exec_command`
 * tool and returns its output, or a function call with the tool's JSON arguments. The
 * command runs in the session's working directory (the workspace, in the sandbox).
 */
function shellCall(command: string, tools: OfferedTool[]): Record<string, unknown> {
  const tool = SHELL_TOOLS.map((n) => tools.find((t) => t.name === n)).find((t) => t)
  if (!tool)
    throw new Error(`no shell tool offered (tools: ${tools.map((t) => t.name).join(', ')})`)
  const ns = tool.namespace ? { namespace: tool.namespace } : {}
  const base = { id: id('fc'), status: 'completed', call_id: id('call'), name: tool.name, ...ns }
  if (tool.name === 'exec' && tool.type === 'custom') {
    const js = [
      `const r = await tools.exec_command(${JSON.stringify({ cmd: command })})`,
      'text(r.output)',
      'text(`exit code: ${r.exit_code}`)'
    ].join('\n')
    return { ...base, id: id('ctc'), type: 'custom_tool_call', input: js }
  }
  const args =
    tool.name === 'exec_command'
      ? { cmd: command }
      : tool.name === 'shell_command'
        ? { command }
        : { command: ['bash', '-lc', command] }
  return { ...base, type: 'function_call', arguments: JSON.stringify(args) }
}

/** Splits a string into n roughly equal pieces, so the client must reassemble deltas. */
function pieces(s: string, n: number): string[] {
  const size = Math.max(1, Math.ceil(s.length / n))
  const out: string[] = []
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size))
  return out.length ? out : ['']
}

type Emit = (event: Record<string, unknown>) => Promise<void>

/**
 * Emits one response as the Responses API streams it
 * (https://platform.openai.com/docs/api-reference/responses-streaming): response.created,
 * response.in_progress, then per output item response.output_item.added, its deltas and
 * response.output_item.done, then response.completed with the output and usage. Over SSE
 * each event is `event: <type>` + `data: <json>`; over a WebSocket each is one text message.
 */
async function emitResponse(
  emit: Emit,
  response: Record<string, unknown>,
  output: Array<Record<string, unknown>>,
  usage: { input: number; output: number }
): Promise<void> {
  let seq = 0
  const send = (e: Record<string, unknown>): Promise<void> => emit({ ...e, sequence_number: seq++ })
  const pending = { ...response, status: 'in_progress', output: [], usage: null }
  await send({ type: 'response.created', response: pending })
  await send({ type: 'response.in_progress', response: pending })
  for (const [index, item] of output.entries()) {
    if (item.type === 'message') {
      const text = (item.content as Array<{ text: string }>)[0]?.text ?? ''
      await send({
        type: 'response.output_item.added',
        output_index: index,
        item: { ...item, status: 'in_progress', content: [] }
      })
      const part = { type: 'output_text', text: '', annotations: [] }
      await send({
        type: 'response.content_part.added',
        item_id: item.id,
        output_index: index,
        content_index: 0,
        part
      })
      for (const delta of pieces(text, 3))
        await send({
          type: 'response.output_text.delta',
          item_id: item.id,
          output_index: index,
          content_index: 0,
          delta
        })
      await send({
        type: 'response.output_text.done',
        item_id: item.id,
        output_index: index,
        content_index: 0,
        text
      })
      await send({
        type: 'response.content_part.done',
        item_id: item.id,
        output_index: index,
        content_index: 0,
        part: { ...part, text }
      })
    } else if (item.type === 'custom_tool_call') {
      const input = String(item.input)
      await send({
        type: 'response.output_item.added',
        output_index: index,
        item: { ...item, status: 'in_progress', input: '' }
      })
      for (const delta of pieces(input, 4))
        await send({
          type: 'response.custom_tool_call_input.delta',
          item_id: item.id,
          output_index: index,
          delta
        })
      await send({
        type: 'response.custom_tool_call_input.done',
        item_id: item.id,
        output_index: index,
        input
      })
    } else {
      const args = String(item.arguments)
      await send({
        type: 'response.output_item.added',
        output_index: index,
        item: { ...item, status: 'in_progress', arguments: '' }
      })
      for (const delta of pieces(args, 4))
        await send({
          type: 'response.function_call_arguments.delta',
          item_id: item.id,
          output_index: index,
          delta
        })
      await send({
        type: 'response.function_call_arguments.done',
        item_id: item.id,
        output_index: index,
        arguments: args
      })
    }
    await send({ type: 'response.output_item.done', output_index: index, item })
  }
  await send({
    type: 'response.completed',
    response: {
      ...response,
      status: 'completed',
      output,
      usage: {
        input_tokens: usage.input,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: usage.output,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: usage.input + usage.output
      }
    }
  })
}

// ---------------------------------------------------------------------------------------
// WebSocket (RFC 6455), server side only: text messages, ping/pong, close.
// ---------------------------------------------------------------------------------------

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

/** Encodes one unmasked server frame (RFC 6455 §5.2; servers never mask, §5.1). */
function wsFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length
  let header: Buffer
  if (len < 126) {
    header = Buffer.from([0x80 | opcode, len])
  } else if (len < 65536) {
    header = Buffer.alloc(4)
    header[1] = 126
    header.writeUInt16BE(len, 2)
  } else {
    header = Buffer.alloc(10)
    header[1] = 127
    header.writeBigUInt64BE(BigInt(len), 2)
  }
  header[0] = 0x80 | opcode
  return Buffer.concat([header, payload])
}

/**
 * Reads masked client frames and reassembles fragmented messages; answers pings and
 * closes. `onText` gets each complete text message.
 */
function serveWebSocket(socket: net.Socket, head: Buffer, onText: (text: string) => void): void {
  let buf: Buffer = Buffer.alloc(0)
  let parts: Buffer[] = []
  let closed = false
  const close = (code: number): void => {
    if (closed) return
    closed = true
    const p = Buffer.alloc(2)
    p.writeUInt16BE(code, 0)
    socket.end(wsFrame(0x8, p))
  }
  const onData = (chunk: Buffer): void => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk
    for (;;) {
      if (buf.length < 2) return
      const fin = (buf[0]! & 0x80) !== 0
      // RSV1 would mean a compressed frame; permessage-deflate is never negotiated here.
      const opcode = buf[0]! & 0x0f
      const masked = (buf[1]! & 0x80) !== 0
      let len = buf[1]! & 0x7f
      let off = 2
      if (len === 126) {
        if (buf.length < 4) return
        len = buf.readUInt16BE(2)
        off = 4
      } else if (len === 127) {
        if (buf.length < 10) return
        len = Number(buf.readBigUInt64BE(2))
        off = 10
      }
      if (!masked) return close(1002) // RFC 6455 §5.1: client frames must be masked.
      if (buf.length < off + 4 + len) return
      const key = buf.subarray(off, off + 4)
      const payload = Buffer.from(buf.subarray(off + 4, off + 4 + len))
      for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i & 3]!
      buf = buf.subarray(off + 4 + len)
      if (opcode === 0x9) socket.write(wsFrame(0xa, payload))
      else if (opcode === 0x8) close(payload.length >= 2 ? payload.readUInt16BE(0) : 1000)
      else if (opcode === 0x0 || opcode === 0x1 || opcode === 0x2) {
        if (opcode !== 0x0) parts = []
        parts.push(payload)
        if (fin) {
          const text = Buffer.concat(parts).toString('utf8')
          parts = []
          onText(text)
        }
      }
    }
  }
  socket.on('data', onData)
  socket.on('error', () => socket.destroy())
  if (head.length) onData(head)
}

/**
 * Starts an HTTPS server on 127.0.0.1 that speaks the OpenAI Responses API the way Codex
 * uses it, and records every request:
 *
 * - WebSocket upgrade on `/v1/responses` (Codex's first choice): authenticated with
 *   `Authorization: Bearer <key>` (else 401), then every `response.create` text message is
 *   answered with the response's events as text messages; other messages (e.g.
 *   `response.processed`) are recorded and left unanswered.
 * - `POST /v1/responses` (the fallback): the same, as server-sent events when
 *   `stream: true`, else one JSON response object.
 * - `GET /v1/models`: an empty list (Codex then keeps its built-in model catalogue).
 * - anything else: 404 in the API's error shape.
 *
 * A request offering a shell tool belongs to the main conversation and gets the scripted
 * turn; any other (titles, summaries) gets a short message.
 */
export async function startFakeOpenAI(opts: FakeOpenAIOptions): Promise<FakeOpenAI> {
  const usage = opts.usage ?? { input: 100, output: 20 }
  const requests: OpenAIRequest[] = []
  // The scripted turn that issued each tool call, by call id.
  const callTurn = new Map<string, number>()
  let connections = 0

  const authorised = (h: IncomingHttpHeaders): boolean =>
    h.authorization === `Bearer ${opts.apiKey}`

  /** Decides the answer to a Responses request and records which turn it was. */
  const answer = (
    r: OpenAIRequest,
    body: Record<string, unknown>
  ): { response: Record<string, unknown>; output: Array<Record<string, unknown>> } => {
    const tools = offeredTools(body)
    r.tools = tools.map((t) => t.name)
    const input = Array.isArray(body.input) ? (body.input as unknown[]).filter(isRecord) : []
    const responseId = id('resp')
    r.responseId = responseId
    const message = (text: string): Record<string, unknown> => ({
      type: 'message',
      id: id('msg'),
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'output_text', text, annotations: [] }]
    })
    // The scripted turns already answered: those whose calls (or their outputs) the input
    // holds. Full histories (HTTP) and incremental inputs on a WebSocket (only the new tool
    // outputs, with previous_response_id) both carry the call ids, so a retry gets the same
    // turn again.
    const answered = input
      .map((i) => callTurn.get(String(i.call_id)))
      .filter((t): t is number => t !== undefined)
    const main = answered.length > 0 || tools.some((t) => SHELL_TOOLS.includes(t.name))
    let output: Array<Record<string, unknown>>
    if (body.generate === false) {
      // A warm-up request (Codex sends one with an empty input when a session starts): the
      // API answers an empty completed response.
      r.turn = 'warmup'
      output = []
    } else if (main) {
      const index = Math.min(
        answered.length ? Math.max(...answered) + 1 : 0,
        opts.script.length - 1
      )
      const turn = opts.script[index] ?? { text: 'done' }
      r.turn = index
      if (turn.calls?.length) {
        output = turn.calls.map((c) =>
          'shell' in c
            ? shellCall(c.shell, tools)
            : {
                type: 'function_call',
                id: id('fc'),
                status: 'completed',
                call_id: id('call'),
                name: c.name,
                arguments: JSON.stringify(c.arguments)
              }
        )
        for (const item of output) callTurn.set(String(item.call_id), index)
        if (turn.text) output.unshift(message(turn.text))
      } else {
        output = [message(turn.text ?? 'done')]
      }
    } else {
      r.turn = 'side'
      output = [message('Airlock test')]
    }
    const response = {
      id: responseId,
      object: 'response',
      created_at: Math.floor(Date.now() / 1000),
      model: typeof body.model === 'string' ? body.model : 'gpt-5-codex',
      previous_response_id: body.previous_response_id ?? null
    }
    return { response, output }
  }

  const onUpgrade = (req: IncomingMessage, socket: net.Socket, head: Buffer): void => {
    const url = req.url ?? '/'
    const path = new URL(url, 'https://api.openai.com').pathname
    const r: OpenAIRequest = {
      transport: 'http',
      method: req.method ?? '',
      url,
      path,
      headers: req.headers,
      body: '',
      json: undefined,
      status: 0
    }
    requests.push(r)
    const refuse = (status: number, reason: string, body: string): void => {
      r.status = status
      socket.end(
        `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
      )
    }
    const key = req.headers['sec-websocket-key']
    if (opts.websocket === false || path !== '/v1/responses' || typeof key !== 'string')
      return refuse(426, 'Upgrade Required', '{"error":{"message":"no websocket here"}}')
    if (!authorised(req.headers))
      return refuse(
        401,
        'Unauthorized',
        JSON.stringify({
          error: {
            message: 'Incorrect API key provided',
            type: 'invalid_request_error',
            code: 'invalid_api_key'
          }
        })
      )
    r.status = 101
    const connection = connections++
    // No Sec-WebSocket-Extensions in the answer: permessage-deflate (RFC 7692), which Codex
    // offers, is declined, so frames stay uncompressed.
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${createHash('sha1')
          .update(key + WS_GUID)
          .digest('base64')}\r\n\r\n`
    )
    // One response at a time per connection, in order, as the API does.
    let queue = Promise.resolve()
    serveWebSocket(socket, head, (text) => {
      let json: Record<string, unknown> | undefined
      try {
        const parsed: unknown = JSON.parse(text)
        json = isRecord(parsed) ? parsed : undefined
      } catch {
        json = undefined
      }
      const m: OpenAIRequest = {
        transport: 'websocket',
        method: 'MESSAGE',
        url,
        path,
        headers: req.headers,
        body: text,
        json,
        status: 0,
        connection
      }
      requests.push(m)
      if (json?.type !== 'response.create') return
      let answered: ReturnType<typeof answer>
      try {
        answered = answer(m, json)
      } catch (err) {
        // The API reports a bad request on a WebSocket as an `error` event with a status.
        m.status = 400
        const error = { type: 'invalid_request_error', message: (err as Error).message }
        socket.write(
          wsFrame(0x1, Buffer.from(JSON.stringify({ type: 'error', status: 400, error })))
        )
        return
      }
      const { response, output } = answered
      m.status = 200
      m.streamed = true
      queue = queue.then(() =>
        emitResponse(
          async (e) => {
            if (socket.destroyed) return
            socket.write(wsFrame(0x1, Buffer.from(JSON.stringify(e), 'utf8')))
            await sleep(2)
          },
          response,
          output,
          usage
        )
      )
    })
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const { text, json } = await readJson(req)
    const url = req.url ?? '/'
    const path = new URL(url, 'https://api.openai.com').pathname
    const r: OpenAIRequest = {
      transport: 'http',
      method: req.method ?? '',
      url,
      path,
      headers: req.headers,
      body: text,
      json,
      status: 0
    }
    requests.push(r)
    const send = (status: number, value: unknown): void => {
      r.status = status
      res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': id('req') })
      res.end(JSON.stringify(value))
    }
    const fail = (status: number, type: string, message: string, code: string | null): void =>
      send(status, { error: { message, type, param: null, code } })

    if (!authorised(req.headers))
      return fail(401, 'invalid_request_error', 'Incorrect API key provided', 'invalid_api_key')
    if (req.method === 'GET' && path === '/v1/models')
      return send(200, { object: 'list', data: [] })
    if (req.method === 'POST' && path === '/v1/responses') {
      if (!json) return fail(400, 'invalid_request_error', 'body is not a JSON object', null)
      let answered: ReturnType<typeof answer>
      try {
        answered = answer(r, json)
      } catch (err) {
        return fail(400, 'invalid_request_error', (err as Error).message, null)
      }
      const { response, output } = answered
      r.status = 200
      r.streamed = json.stream === true
      if (!r.streamed) {
        const done: Array<Record<string, unknown>> = []
        await emitResponse(
          async (e) => {
            done.push(e)
            return Promise.resolve()
          },
          response,
          output,
          usage
        )
        return send(200, done.at(-1)?.response)
      }
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        'x-request-id': id('req')
      })
      res.flushHeaders()
      await emitResponse(
        async (e) => {
          if (res.destroyed) return
          res.write(`event: ${String(e.type)}\ndata: ${JSON.stringify(e)}\n\n`)
          // Separate writes a few ms apart: the client sees real chunk boundaries.
          await sleep(2)
        },
        response,
        output,
        usage
      )
      res.end()
      return
    }
    fail(404, 'invalid_request_error', `${req.method} ${path} is not part of this fake`, null)
  }

  const { port, close } = await listenHttps(
    opts.pki,
    (req, res) => {
      handle(req, res).catch(() => res.destroy())
    },
    onUpgrade
  )
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    requests,
    conversation: () => requests.filter((r) => typeof r.turn === 'number'),
    close
  }
}
