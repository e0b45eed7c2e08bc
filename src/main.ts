import { earlyRunProxy } from './daemon/run-proxy.js'

// The proxy process first, before this step loads the rest of its program: both load at once.
const early = earlyRunProxy()
const { run } = await import('./steps/main.js')
await run(early)
