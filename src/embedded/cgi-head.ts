// Pure parser for the header block a CGI program writes before its body (RFC 3875 section 6).

export interface CgiHead {
  status: number;
  statusText: string | undefined;
  /** Header fields other than Status, in order; a name may repeat. */
  headers: Array<[name: string, value: string]>;
  /** Offset of the first body byte in the buffer that was parsed. */
  bodyStart: number;
}

export class CgiHeadError extends Error {}

/**
 * Parses the header block at the start of buf. Returns null while the terminating blank line has
 * not arrived yet; throws CgiHeadError on a malformed line. Lines may end in LF or CRLF.
 */
export function parseCgiHead(buf: Uint8Array): CgiHead | null {
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const headers: Array<[string, string]> = [];
  let status = 200;
  let statusText: string | undefined;
  let pos = 0;
  for (;;) {
    const lf = bytes.indexOf(0x0a, pos);
    if (lf < 0) return null;
    const end = lf > pos && bytes[lf - 1] === 0x0d ? lf - 1 : lf;
    const line = bytes.toString('latin1', pos, end);
    pos = lf + 1;
    if (line === '') return { status, statusText, headers, bodyStart: pos };
    const colon = line.indexOf(':');
    if (colon <= 0) throw new CgiHeadError(`malformed CGI header line: ${JSON.stringify(line)}`);
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') {
      const m = /^(\d{3})(?:\s+(.*))?$/.exec(value);
      if (!m) throw new CgiHeadError(`malformed CGI Status: ${JSON.stringify(value)}`);
      status = Number(m[1]);
      statusText = m[2] || undefined;
    } else {
      headers.push([name, value]);
    }
  }
}
