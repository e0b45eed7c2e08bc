import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/support/quiet-commands.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // Real daemons, containers and sockets: keep parallelism modest on 2 cores.
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default']
  }
})
