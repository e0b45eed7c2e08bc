import { run } from '../workflow/steps/publish-patch.js'

await run()
