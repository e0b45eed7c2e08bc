import { run } from './daemon/main.js'

await run()
