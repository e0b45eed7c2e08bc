export * from './credential.js'
export * from './errors.js'
export * from './types.js'
export * as registry from './registry.js'
