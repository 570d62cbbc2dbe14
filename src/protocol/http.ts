// HTTP transport over undici: one Agent (a keep-alive Pool per origin) per client, streaming request and
// response bodies, timeouts, Basic/Bearer auth. Every failure surfaces as HttpStatusError or TransportError,
// and no message ever contains credentials (they travel only in the Authorization header).
import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { HttpStatusError, TransportError } from './errors.js';
import { NO_GIT_HOST_OBSERVER, serviceOf, type ExchangeOutcome, type GitHostObserver, type GitService } from './observer.js';

/** A user name and password (or token) sent as HTTP Basic auth. */
export interface BasicCredentials {
  username: string;
  password: string;
}

/** How the client authenticates to the Git host: Basic, or a bearer token. */
export type Credentials = BasicCredentials | { token: string };

export interface HttpOptions {
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  connectTimeoutMs?: number;
  credentials?: Credentials;
  /** Must start with "git/" (some hosts switch on it). */
  userAgent?: string;
  /** Told about every exchange and its bytes (metrics); default: nobody. */
  observer?: GitHostObserver;
}

export interface HttpStats {
  requests: number;
  bytesSent: number;
  bytesReceived: number;
}

export interface RequestInit {
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  /** Media type without parameters, lower-cased ('' when absent). */
  contentType: string;
  /** The response body; may be iterated once. Stream failures reject as TransportError. */
  body: AsyncIterable<Buffer>;
  /** Abandons whatever is unread (frees the connection); safe to call more than once. */
  dispose(): void;
}

export const DEFAULT_USER_AGENT = 'git/2.0 (gitrest/0.1)';
const DEFAULTS = { headersTimeoutMs: 60_000, bodyTimeoutMs: 60_000, connectTimeoutMs: 10_000 };

type UndiciBody = Awaited<ReturnType<typeof request>>['body'];

export class HttpClient {
  readonly stats: HttpStats = { requests: 0, bytesSent: 0, bytesReceived: 0 };
  /** The repository URL without trailing slash and without credentials; safe to show. */
  readonly baseUrl: string;
  private readonly agent: Agent;
  private readonly headers: Record<string, string>;
  private readonly headersTimeout: number;
  private readonly bodyTimeout: number;
  private readonly observer: GitHostObserver;

  constructor(url: string, opts: HttpOptions = {}) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      // Node's error would carry the input, credentials included.
      throw new TypeError('invalid remote URL');
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new TypeError(`unsupported URL scheme ${parsed.protocol}`);
    }
    let credentials = opts.credentials;
    if (!credentials && (parsed.username || parsed.password)) {
      credentials = { username: decodeURIComponent(parsed.username), password: decodeURIComponent(parsed.password) };
    }
    parsed.username = '';
    parsed.password = '';
    parsed.hash = '';
    parsed.search = '';
    this.baseUrl = parsed.toString().replace(/\/+$/, '');

    const userAgent = opts.userAgent ?? DEFAULT_USER_AGENT;
    if (!userAgent.startsWith('git/')) throw new TypeError('userAgent must start with "git/"');
    this.headers = { 'user-agent': userAgent };
    if (credentials) this.headers['authorization'] = authorization(credentials);

    this.headersTimeout = opts.headersTimeoutMs ?? DEFAULTS.headersTimeoutMs;
    this.bodyTimeout = opts.bodyTimeoutMs ?? DEFAULTS.bodyTimeoutMs;
    this.observer = opts.observer ?? NO_GIT_HOST_OBSERVER;
    this.agent = new Agent({
      connect: { timeout: opts.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs },
      headersTimeout: this.headersTimeout,
      bodyTimeout: this.bodyTimeout,
    });
  }

  get(path: string, init: RequestInit = {}): Promise<HttpResponse> {
    return this.send('GET', path, undefined, init);
  }

  post(path: string, body: Uint8Array | AsyncIterable<Uint8Array>, init: RequestInit = {}): Promise<HttpResponse> {
    return this.send('POST', path, body, init);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private async send(
    method: 'GET' | 'POST',
    path: string,
    body: Uint8Array | AsyncIterable<Uint8Array> | undefined,
    init: RequestInit,
  ): Promise<HttpResponse> {
    const url = `${this.baseUrl}/${path}`;
    const shown = url.replace(/\?.*$/, '');
    const signal = init.signal;
    const service = serviceOf(path);
    const started = performance.now();
    let ended = false;
    const end = (outcome: ExchangeOutcome): void => {
      if (ended) return;
      ended = true;
      this.observer.exchange(service, outcome, (performance.now() - started) / 1000);
    };
    let requestBody: Uint8Array | Readable | undefined;
    if (body instanceof Uint8Array) {
      requestBody = body;
      this.stats.bytesSent += body.length;
      this.observer.bytes('sent', service, body.length);
    } else if (body) {
      requestBody = Readable.from(this.countSent(body, service), { objectMode: false });
    }
    this.stats.requests++;
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, {
        method,
        dispatcher: this.agent,
        headers: { ...this.headers, ...init.headers },
        body: requestBody,
        signal,
        headersTimeout: this.headersTimeout,
        bodyTimeout: this.bodyTimeout,
      });
    } catch (err) {
      end('transport_error');
      throw transportError(err, `${method} ${shown}`, signal);
    }
    // Destroying an unread undici body emits 'error'; without a listener that would crash the process.
    res.body.on('error', ignore);
    if (res.statusCode < 200 || res.statusCode > 299) {
      res.body.destroy();
      end('http_error');
      throw new HttpStatusError(
        res.statusCode,
        `HTTP ${res.statusCode} from ${method} ${shown}`,
        retryAfterMs(header(res.headers['retry-after'])),
      );
    }
    return this.wrapResponse(res.statusCode, header(res.headers['content-type']), res.body, `${method} ${shown}`,
      { service, end }, signal);
  }

  private async *countSent(body: AsyncIterable<Uint8Array>, service: GitService): AsyncGenerator<Uint8Array> {
    for await (const chunk of body) {
      this.stats.bytesSent += chunk.length;
      this.observer.bytes('sent', service, chunk.length);
      yield chunk;
    }
  }

  private wrapResponse(status: number, type: string, raw: UndiciBody, what: string,
    exchange: { service: GitService; end(outcome: ExchangeOutcome): void }, signal?: AbortSignal): HttpResponse {
    const stats = this.stats;
    const observer = this.observer;
    // Reading the body must reject (never crash or hang): errors of the stream are mapped, and the stream is
    // destroyed whenever iteration stops early.
    async function* iterate(): AsyncGenerator<Buffer> {
      try {
        for await (const chunk of raw as AsyncIterable<Buffer>) {
          stats.bytesReceived += chunk.length;
          observer.bytes('received', exchange.service, chunk.length);
          yield chunk;
        }
        exchange.end('ok');
      } catch (err) {
        exchange.end('transport_error');
        throw transportError(err, `reading ${what}`, signal);
      } finally {
        // Given up early by the reader: the exchange itself went fine.
        exchange.end('ok');
        if (!raw.destroyed) raw.destroy();
      }
    }
    const body = iterate();
    return {
      status,
      contentType: type.split(';')[0]!.trim().toLowerCase(),
      body,
      dispose() {
        exchange.end('ok');
        if (!raw.destroyed) raw.destroy();
      },
    };
  }
}

function ignore(): void {}

function header(v: string | string[] | undefined): string {
  return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
}

export function authorization(c: Credentials): string {
  if ('token' in c) return `Bearer ${c.token}`;
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
}

/** Retry-After is either delay-seconds or an HTTP-date. */
export function retryAfterMs(value: string, now = Date.now()): number | undefined {
  const v = value.trim();
  if (v === '') return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);
const CONNECTION_CODES = new Set([
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED',
]);

/** Maps undici/system errors to TransportError; anything else (e.g. a failing request body source) is kept. */
function transportError(err: unknown, what: string, signal?: AbortSignal): unknown {
  if (err instanceof TransportError) return err;
  const e = err as { code?: unknown; name?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const detail = typeof e?.message === 'string' ? e.message : String(err);
  if (signal?.aborted || code === 'UND_ERR_ABORTED' || e?.name === 'AbortError') {
    return new TransportError('aborted', `${what}: aborted`, { cause: err });
  }
  if (TIMEOUT_CODES.has(code)) return new TransportError('timeout', `${what}: ${detail}`, { cause: err });
  if (CONNECTION_CODES.has(code) || code.startsWith('UND_ERR_')) {
    return new TransportError('connection', `${what}: ${detail}`, { cause: err });
  }
  return err;
}
