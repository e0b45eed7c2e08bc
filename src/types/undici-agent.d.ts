// undici's Agent and request by their own paths (src/proxy/upstream.ts): the very class and
// function undici's index exports.
declare module 'undici/lib/dispatcher/agent.js' {
  import { Agent } from 'undici'
  export default Agent
}

declare module 'undici/lib/api/api-request.js' {
  import type { Dispatcher } from 'undici'
  export default function request(
    this: Dispatcher,
    opts: Dispatcher.RequestOptions
  ): Promise<Dispatcher.ResponseData>
}
