// Structured logs: one JSON line per request (plus rare lifecycle lines), written to stdout by default.
// Every line passes through `redact` so a configured secret can never be printed, whatever an error message holds.

import type { LogLevel } from './config.js';
import { redact } from './config.js';

export interface RequestLog {
  method: string;
  path: string;
  status: number;
  duration_ms: number;
  retries: number;
  commit?: string;
  /** For failed requests: what went wrong, as told to the client (or the internal error for 500s). */
  error?: string;
}

export interface Logger {
  request(entry: RequestLog): void;
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Receives each line without its trailing newline. Default: process.stdout. */
  write?: (line: string) => void;
  /** Strings that must never appear in a log line (see secretsOf in config.ts). */
  secrets?: readonly string[];
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export function createLogger(opts: LoggerOptions = {}): Logger {
  const min = RANK[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => void process.stdout.write(line + '\n'));
  const secrets = opts.secrets ?? [];
  const emit = (level: Exclude<LogLevel, 'silent'>, fields: Record<string, unknown>): void => {
    if (RANK[level] < min) return;
    const line = JSON.stringify({ time: new Date().toISOString(), level, ...fields }, jsonSafe);
    write(redact(line, secrets));
  };
  return {
    request: (entry) => emit(entry.status >= 500 ? 'error' : 'info', { msg: 'request', ...entry }),
    debug: (msg, fields) => emit('debug', { msg, ...fields }),
    info: (msg, fields) => emit('info', { msg, ...fields }),
    warn: (msg, fields) => emit('warn', { msg, ...fields }),
    error: (msg, fields) => emit('error', { msg, ...fields }),
  };
}

/** Errors become their message (and cause) instead of `{}`; bigints become strings. */
function jsonSafe(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: value.message };
    if (value.cause !== undefined) out.cause = value.cause;
    return out;
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}
