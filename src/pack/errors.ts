/**
 * Every failure caused by malformed or over-limit Git data is a PackError with a
 * machine-readable code, so callers can tell bad input from bugs and I/O errors.
 */
export type PackErrorCode =
  | 'bad-header' // pack signature/version/object header
  | 'bad-zlib' // a zlib stream that does not inflate
  | 'bad-trailer' // pack checksum mismatch or junk after it
  | 'bad-size' // declared size differs from the actual size
  | 'bad-count' // object count differs from the declared count
  | 'bad-delta' // malformed delta, bad base, chain too deep
  | 'too-large' // a configured limit was exceeded
  | 'truncated' // input ended early
  | 'missing-base' // a REF_DELTA base never appeared
  | 'bad-object'; // malformed tree/commit/tag/identity, bad type or oid

export class PackError extends Error {
  readonly code: PackErrorCode;

  constructor(code: PackErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'PackError';
    this.code = code;
  }
}
