import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { MillraceError, parseOrThrow } from '@millrace/protocol';
import type { z } from 'zod';

/**
 * One way for every Millrace process to read its settings: a JSON file named by `--config`, then
 * flags (which win), then a few environment variables for secrets (so they need not appear in a
 * process list), all checked by one zod schema. Every failure is INVALID_CONFIG with a message that
 * names the field at fault and where the settings came from; nothing starts on a half-understood
 * configuration.
 */
export interface FlagSpec {
  /** The flag's name without dashes, e.g. `node-id`. */
  readonly flag: string;
  /** The field of the schema it sets, e.g. `nodeId`. */
  readonly field: string;
  readonly kind: 'string' | 'int' | 'boolean' | 'endpoint' | 'endpoints' | 'voters';
  /** An environment variable read when the flag is absent. */
  readonly env?: string;
}

export interface LoadConfigOptions<S extends z.ZodType> {
  readonly schema: S;
  readonly flags: readonly FlagSpec[];
  /** Shown with a flag error, and by `--help`. */
  readonly usage: string;
  readonly argv: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

export function loadConfig<S extends z.ZodType>(options: LoadConfigOptions<S>): z.output<S> {
  const env = options.env ?? process.env;
  const parseOptions: Record<string, { type: 'string' | 'boolean' }> = { config: { type: 'string' } };
  for (const spec of options.flags) parseOptions[spec.flag] = { type: spec.kind === 'boolean' ? 'boolean' : 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: [...options.argv], strict: true, allowPositionals: false, options: parseOptions })
      .values as typeof values;
  } catch (error) {
    throw new MillraceError('INVALID_CONFIG', `${(error as Error).message}\n\n${options.usage}`);
  }

  const configPath = typeof values.config === 'string' ? values.config : undefined;
  const merged: Record<string, unknown> = configPath === undefined ? {} : readConfigFile(configPath);
  for (const spec of options.flags) {
    const raw = values[spec.flag] ?? (spec.env === undefined ? undefined : env[spec.env]);
    if (raw === undefined) continue;
    merged[spec.field] = flagValue(spec, raw);
  }
  const source = configPath === undefined ? 'flags' : `${configPath} and flags`;
  try {
    return parseOrThrow(options.schema, merged, 'config');
  } catch (error) {
    throw new MillraceError('INVALID_CONFIG', `${(error as Error).message} (read from ${source})`, { cause: error });
  }
}

export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new MillraceError('INVALID_CONFIG', `Cannot read config file ${path}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new MillraceError('INVALID_CONFIG', `Config file ${path} is not valid JSON.`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MillraceError('INVALID_CONFIG', `Config file ${path} must hold a JSON object.`);
  }
  return { ...(value as Record<string, unknown>) };
}

function flagValue(spec: FlagSpec, raw: string | boolean): unknown {
  if (spec.kind === 'boolean') return raw === true || raw === 'true';
  const text = String(raw);
  switch (spec.kind) {
    case 'string':
      return text;
    case 'int':
      // Left to the schema to refuse, with the field's name, when it is not an integer.
      return /^-?\d+$/.test(text) ? Number(text) : text;
    case 'endpoint':
      return parseEndpoint(text, `--${spec.flag}`);
    case 'endpoints':
      return text.split(',').map((item) => parseEndpoint(item.trim(), `--${spec.flag}`));
    case 'voters':
      return parseVoters(text, `--${spec.flag}`);
  }
}

/** `host:port` (`[::1]:9092` for IPv6), as flags give addresses. */
export function parseEndpoint(text: string, what: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(text);
  if (match === null) throw new MillraceError('INVALID_CONFIG', `${what} "${text}" is not host:port.`);
  return { host: (match[1] as string).replace(/^\[|\]$/g, ''), port: Number(match[2]) };
}

/** `1@host:port,2@host:port`, as flags give the controller quorum. */
export function parseVoters(
  text: string,
  what: string,
): { nodeId: number; endpoint: { host: string; port: number } }[] {
  return text.split(',').map((item) => {
    const match = /^(\d+)@(.+)$/.exec(item.trim());
    if (match === null) throw new MillraceError('INVALID_CONFIG', `${what} item "${item}" is not id@host:port.`);
    return { nodeId: Number(match[1]), endpoint: parseEndpoint(match[2] as string, what) };
  });
}
