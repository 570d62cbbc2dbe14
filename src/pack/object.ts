export type ObjectType = 'commit' | 'tree' | 'blob' | 'tag';

export const OBJECT_TYPES: readonly ObjectType[] = ['commit', 'tree', 'blob', 'tag'];

export const ZERO_OID = '0'.repeat(40);

const OID_RE = /^[0-9a-f]{40}$/;
const SHA1_OR_SHA256_RE = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/** An object id as this engine hashes them (SHA-1): exactly 40 lowercase hex digits. */
export function isOid(s: string): boolean {
  return OID_RE.test(s);
}

/**
 * An object id in either of Git's object formats (40 hex digits SHA-1, 64 SHA-256), lowercase. The wire
 * parsers accept both so that a SHA-256 server's answer parses and fails later with a clear message rather
 * than as malformed framing.
 */
export function isSha1OrSha256Hex(s: string): boolean {
  return SHA1_OR_SHA256_RE.test(s);
}

export function isObjectType(s: string): s is ObjectType {
  return (OBJECT_TYPES as readonly string[]).includes(s);
}
