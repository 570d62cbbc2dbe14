export type ObjectType = 'commit' | 'tree' | 'blob' | 'tag';

export const OBJECT_TYPES: readonly ObjectType[] = ['commit', 'tree', 'blob', 'tag'];

export const ZERO_OID = '0'.repeat(40);

const OID_RE = /^[0-9a-f]{40}$/;

/** A SHA-1 object id: exactly 40 lowercase hex digits. */
export function isOid(s: string): boolean {
  return OID_RE.test(s);
}

export function isObjectType(s: string): s is ObjectType {
  return (OBJECT_TYPES as readonly string[]).includes(s);
}
