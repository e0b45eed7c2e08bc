import { run } from './steps/post.js'

await run()
