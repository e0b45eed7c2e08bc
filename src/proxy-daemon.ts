import { run } from './proxy/daemon-main.js'

await run()
