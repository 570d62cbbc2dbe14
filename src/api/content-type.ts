// The Content-Type of a file's GET and HEAD. `json` (the default) answers application/json for every file,
// as the earlier server did; `extension` picks a type by the file name's extension from a small table, for
// files served to browsers, and application/octet-stream when the extension is not in it.

export type ContentTypeMode = 'json' | 'extension';

export const CONTENT_TYPE_MODES: readonly ContentTypeMode[] = ['json', 'extension'];

const JSON_TYPE = 'application/json';
const UNKNOWN = 'application/octet-stream';

const BY_EXTENSION: ReadonlyMap<string, string> = new Map([
  ['json', JSON_TYPE],
  ['txt', 'text/plain; charset=utf-8'],
  ['md', 'text/markdown; charset=utf-8'],
  ['csv', 'text/csv; charset=utf-8'],
  ['html', 'text/html; charset=utf-8'],
  ['htm', 'text/html; charset=utf-8'],
  ['css', 'text/css; charset=utf-8'],
  ['js', 'text/javascript; charset=utf-8'],
  ['mjs', 'text/javascript; charset=utf-8'],
  ['xml', 'application/xml'],
  ['yaml', 'application/yaml'],
  ['yml', 'application/yaml'],
  ['svg', 'image/svg+xml'],
  ['png', 'image/png'],
  ['jpg', 'image/jpeg'],
  ['jpeg', 'image/jpeg'],
  ['gif', 'image/gif'],
  ['webp', 'image/webp'],
  ['ico', 'image/vnd.microsoft.icon'],
  ['pdf', 'application/pdf'],
  ['wasm', 'application/wasm'],
  ['zip', 'application/zip'],
  ['gz', 'application/gzip'],
]);

export function contentTypeOf(path: string, mode: ContentTypeMode): string {
  if (mode === 'json') return JSON_TYPE;
  const name = path.slice(path.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return UNKNOWN; // no extension, or a dot file such as ".env"
  return BY_EXTENSION.get(name.slice(dot + 1).toLowerCase()) ?? UNKNOWN;
}
