import { isMillraceError } from '@millrace/protocol';

/**
 * Runs a node's `main` with the process's arguments. Operating conditions (a bad config, a port
 * in use, damaged storage) end as one clear line, not a stack trace: exit code 2 for a bad
 * config, 1 otherwise. Anything else is a bug, printed whole.
 */
export function runMain(name: string, main: (argv: readonly string[]) => Promise<void>): void {
  main(process.argv.slice(2)).catch((error: unknown) => {
    if (isMillraceError(error)) console.error(`${name}: ${error.message}`);
    else console.error(`${name}: unexpected failure`, error);
    process.exit(isMillraceError(error, 'INVALID_CONFIG') ? 2 : 1);
  });
}
