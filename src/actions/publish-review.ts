import { run } from '../workflow/steps/publish-review.js'

await run()
