// What the server answers when Node's HTTP parser gives up on a connection before (or while) a request arrives:
// malformed bytes, headers over the size limit, headers or body too slow. Node's own answer is a bare status
// line; this one is a JSON error like every other answer, plus one log line. Two cases need care:
//  - the bad bytes follow a complete request whose response is still being produced (a body longer than its
//    Content-Length: the rest reads as a malformed next request). That response goes out first, then the error,
//    so the client learns what became of the request it did send;
//  - the bad bytes (or the timeout) hit a request whose body is still arriving. The connection is closed at once,
//    which makes the body fail in the store (IncompleteBodyError), so nothing is written.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from './logger.js';

interface Answer {
  status: number;
  reason: string;
  error: string;
  detail: string;
}

/** The answer for a parser or timeout error code; undefined when the connection itself failed (nothing to say). */
export function clientErrorAnswer(code: string | undefined, parserReason?: string): Answer | undefined {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, reason: 'Request Header Fields Too Large', error: 'the request headers are too large',
        detail: 'keep the request line and headers under 16 KiB' };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, reason: 'Payload Too Large', error: 'the chunk extensions are too large',
        detail: 'send chunked bodies without chunk extensions' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, reason: 'Request Timeout', error: 'the request did not arrive in time',
        detail: 'send the headers within HEADERS_TIMEOUT_MS and the whole request within REQUEST_TIMEOUT_MS' };
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ETIMEDOUT':
    case undefined:
      return undefined;
    default: {
      const said = parserReason === undefined ? code : `${code}: ${parserReason}`;
      return { status: 400, reason: 'Bad Request', error: 'the request is not valid HTTP/1.1',
        detail: `the server could not parse it (${said}); nothing was done` };
    }
  }
}

/** The whole response, written straight to the socket (there is no ServerResponse for a request never parsed). */
export function rawResponse(a: Answer): string {
  const body = JSON.stringify({ error: a.error, detail: a.detail });
  return `HTTP/1.1 ${a.status} ${a.reason}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

export function answerClientErrors(server: Server, logger: Logger): void {
  // The latest request on each connection (responses go out in request order, so it is the last to finish).
  const latest = new WeakMap<Duplex, { req: IncomingMessage; res: ServerResponse }>();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => latest.set(req.socket, { req, res }));

  server.on('clientError', (err: NodeJS.ErrnoException & { reason?: string }, socket: Duplex) => {
    const answer = clientErrorAnswer(err.code, err.reason);
    if (answer === undefined || !socket.writable) {
      socket.destroy();
      return;
    }
    logger.info('request refused before routing', { status: answer.status, error: answer.error, code: err.code });
    const text = rawResponse(answer);
    const current = latest.get(socket);
    const busy = current !== undefined && !current.res.writableFinished && !current.res.destroyed;
    if (busy && current.req.complete) {
      const after = (): void => {
        if (socket.writable) socket.end(text, () => socket.destroy());
        else socket.destroy();
      };
      current.res.once('finish', after);
      // 'close' also follows a normal 'finish'; only a response that never finished means the socket is gone.
      current.res.once('close', () => {
        if (!current.res.writableFinished) socket.destroy();
      });
    } else {
      // No request in progress, or one whose body is still arriving: answer unless a response has begun
      // (a second status line would corrupt it), and close now.
      if (!(busy && current.res.headersSent)) socket.write(text);
      socket.destroy();
    }
  });
}
