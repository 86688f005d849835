export * from './errors.js';
export * from './framing.js';
export * from './http.js';
export * from './record-batch/index.js';
export * from './schemas/index.js';
