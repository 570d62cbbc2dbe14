// The REST API's tokens, from API_TOKENS_RW, API_TOKENS_RO and API_TOKENS_FILE. Error messages never echo a token.

import { readFileSync } from 'node:fs';
import { ConfigError, type Getter } from './config-error.js';

/** What a REST API token may do: 'ro' reads (GET, HEAD, OPTIONS, /metrics), 'rw' also writes. */
export type TokenAccess = 'ro' | 'rw';

export interface ApiToken {
  token: string;
  access: TokenAccess;
}

export const MIN_TOKEN_LENGTH = 16;

/**
 * REST API tokens, from any mix of:
 *   API_TOKENS_RW="tok1,tok2"   read-write tokens, comma-separated
 *   API_TOKENS_RO="tok3"        read-only tokens, comma-separated
 *   API_TOKENS_FILE=/path       a file read at startup, see parseTokenFile
 * A token is at least MIN_TOKEN_LENGTH printable ASCII characters (no spaces or commas). Giving the same token
 * twice with the same access is harmless; with both accesses it is an error. Error messages never echo a token.
 */
export function apiTokens(get: Getter): ApiToken[] {
  const byToken = new Map<string, ApiToken>();
  const add = (token: string, access: TokenAccess, where: string): void => {
    const seen = byToken.get(token);
    if (seen !== undefined && seen.access !== access) {
      throw new ConfigError(`${where} is also configured as a${seen.access === 'ro' ? ' read-only' : ' read-write'} ` +
        'token; give each token one access level');
    }
    byToken.set(token, { token, access });
  };
  for (const [name, access] of [['API_TOKENS_RW', 'rw'], ['API_TOKENS_RO', 'ro']] as const) {
    const raw = get(name);
    if (raw === undefined) continue;
    raw.split(',').forEach((part, i) => {
      const where = `${name} entry ${i + 1}`;
      add(checkToken(part.trim(), where, 'remove the stray comma or give the token'), access, where);
    });
  }
  const file = get('API_TOKENS_FILE');
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new ConfigError(`API_TOKENS_FILE ${JSON.stringify(file)} cannot be read (${code}); ` +
        'point it at a readable file of "rw <token>" / "ro <token>" lines');
    }
    const tokens = parseTokenFile(text, `API_TOKENS_FILE ${JSON.stringify(file)}`);
    if (tokens.length === 0) {
      throw new ConfigError(`API_TOKENS_FILE ${JSON.stringify(file)} holds no tokens; ` +
        'add "rw <token>" or "ro <token>" lines, or unset API_TOKENS_FILE to leave the API open');
    }
    for (const t of tokens) add(t.token, t.access, `a token in API_TOKENS_FILE (line ${t.line})`);
  }
  return [...byToken.values()];
}

/**
 * The token file: one token per line as `rw <token>` or `ro <token>` (access, whitespace, token). Blank lines
 * and lines whose first non-blank character is `#` are ignored; there are no trailing comments (a token may hold
 * `#`). `name` prefixes error messages, which give the line number but never the line itself.
 */
export function parseTokenFile(text: string, name: string): Array<ApiToken & { line: number }> {
  const out: Array<ApiToken & { line: number }> = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${name} line ${i + 1}`;
    const m = /^(\S+)\s+(.*)$/.exec(line);
    const access = m?.[1];
    if (m === null || (access !== 'rw' && access !== 'ro')) {
      throw new ConfigError(`${where} is not "rw <token>" or "ro <token>"; fix it or make it a # comment`);
    }
    out.push({ token: checkToken(m[2] as string, where, 'give one token per line'), access, line: i + 1 });
  });
  return out;
}

function checkToken(token: string, where: string, hint: string): string {
  if (token === '') throw new ConfigError(`${where} is an empty token; ${hint}`);
  if (!/^[\x21-\x7e]+$/.test(token) || token.includes(',')) {
    throw new ConfigError(`${where} has a space, comma, control or non-ASCII character; ` +
      'tokens are printable ASCII, e.g. from `openssl rand -hex 32`');
  }
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new ConfigError(`${where} is shorter than ${MIN_TOKEN_LENGTH} characters; ` +
      'use a long random token, e.g. from `openssl rand -hex 32`');
  }
  return token;
}
