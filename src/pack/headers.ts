import { PackError } from './errors.js';

/**
 * The layout shared by commits and tags: "key value" lines, where a line starting with a
 * space continues the previous value (multi-line headers such as gpgsig), then a blank
 * line and the free-form message.
 */
export interface HeaderBlock {
  headers: Array<[string, string]>;
  message: string;
}

const decoder = new TextDecoder('utf-8');

export function parseHeaderBlock(data: Uint8Array, what: string): HeaderBlock {
  const text = decoder.decode(data);
  const headers: Array<[string, string]> = [];
  let pos = 0;
  // A body without the blank line (and so without a message) is tolerated as an empty message.
  while (pos < text.length) {
    if (text[pos] === '\n') return { headers, message: text.slice(pos + 1) };
    const eol = text.indexOf('\n', pos);
    if (eol < 0) throw new PackError('bad-object', `${what}: header line without newline`);
    const line = text.slice(pos, eol);
    pos = eol + 1;
    if (line[0] === ' ') {
      const last = headers[headers.length - 1];
      if (!last) throw new PackError('bad-object', `${what}: continuation line before any header`);
      last[1] += '\n' + line.slice(1);
      continue;
    }
    const space = line.indexOf(' ');
    if (space <= 0) throw new PackError('bad-object', `${what}: malformed header line ${JSON.stringify(line)}`);
    headers.push([line.slice(0, space), line.slice(space + 1)]);
  }
  return { headers, message: '' };
}

export function formatHeaderBlock(block: HeaderBlock): Buffer {
  let text = '';
  for (const [key, value] of block.headers) {
    if (!/^[^\s]+$/.test(key)) throw new PackError('bad-object', `invalid header name ${JSON.stringify(key)}`);
    text += `${key} ${value.replaceAll('\n', '\n ')}\n`;
  }
  return Buffer.from(`${text}\n${block.message}`, 'utf8');
}
