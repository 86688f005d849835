/**
 * The SDK's logging: a level and a pluggable sink, as kafkajs's `logLevel` and `logCreator`. The
 * default sink writes one JSON line per entry to stderr; pass `logger` to route entries into the
 * application's own logger (pino, winston, …).
 */
export const LOG_LEVELS = ['nothing', 'error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogEntry {
  readonly level: Exclude<LogLevel, 'nothing'>;
  /** What the entry is about: `producer`, `consumer`, `cluster`, `admin`. */
  readonly namespace: string;
  readonly message: string;
  readonly clientId: string;
  readonly fields?: Readonly<Record<string, unknown>>;
}

/** Receives every entry at or above the client's `logLevel`. */
export type LogSink = (entry: LogEntry) => void;

export interface Logger {
  error(message: string, fields?: Readonly<Record<string, unknown>>): void;
  warn(message: string, fields?: Readonly<Record<string, unknown>>): void;
  info(message: string, fields?: Readonly<Record<string, unknown>>): void;
  debug(message: string, fields?: Readonly<Record<string, unknown>>): void;
  /** The same sink and level under another namespace. */
  child(namespace: string): Logger;
}

const rank: Readonly<Record<LogLevel, number>> = { nothing: 0, error: 1, warn: 2, info: 3, debug: 4 };

export const stderrSink: LogSink = (entry) => {
  const { fields, ...rest } = entry;
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...rest, ...fields }, errorsAsText)}\n`);
};

function errorsAsText(_key: string, value: unknown): unknown {
  if (value instanceof Error)
    return { name: value.name, message: value.message, code: (value as { code?: unknown }).code };
  if (typeof value === 'bigint') return value.toString();
  return value;
}

export function createLogger(level: LogLevel, sink: LogSink, clientId: string, namespace = 'client'): Logger {
  const at =
    (entryLevel: Exclude<LogLevel, 'nothing'>) => (message: string, fields?: Readonly<Record<string, unknown>>) => {
      if (rank[entryLevel] > rank[level]) return;
      try {
        sink({ level: entryLevel, namespace, message, clientId, ...(fields === undefined ? {} : { fields }) });
      } catch {
        // A failing sink must not break the client's work.
      }
    };
  return {
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    child: (child) => createLogger(level, sink, clientId, child),
  };
}
