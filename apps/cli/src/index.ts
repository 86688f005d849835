/** The millrace command as a function, for tests and for tools that embed it. */
export { DEV_ADMIN_TOKEN, DEV_BOOTSTRAP, type Io, run, target } from './cli.js';
export { formatTable } from './table.js';
