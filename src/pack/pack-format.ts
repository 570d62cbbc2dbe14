import { PackError } from './errors.js';
import type { ObjectType } from './object.js';

/** Constants and small encoders of the pack format (see `man gitformat-pack`). */

export const PACK_SIGNATURE = Buffer.from('PACK', 'latin1');
export const PACK_VERSION = 2;
export const PACK_HEADER_SIZE = 12;
export const PACK_TRAILER_SIZE = 20;

export const OBJ_COMMIT = 1;
export const OBJ_TREE = 2;
export const OBJ_BLOB = 3;
export const OBJ_TAG = 4;
export const OBJ_OFS_DELTA = 6;
export const OBJ_REF_DELTA = 7;

const CODES: Record<ObjectType, number> = { commit: OBJ_COMMIT, tree: OBJ_TREE, blob: OBJ_BLOB, tag: OBJ_TAG };
const TYPES: Array<ObjectType | undefined> = [undefined, 'commit', 'tree', 'blob', 'tag'];

export function typeCode(type: ObjectType): number {
  const code = CODES[type];
  if (code === undefined) throw new PackError('bad-object', `unknown object type ${JSON.stringify(type)}`);
  return code;
}

/** The object type of a non-delta type code, or undefined. */
export function typeFromCode(code: number): ObjectType | undefined {
  return TYPES[code];
}

export function encodePackHeader(count: number): Buffer {
  if (!Number.isInteger(count) || count < 0 || count > 0xffffffff) {
    throw new PackError('bad-count', `invalid pack object count ${count}`);
  }
  const header = Buffer.alloc(PACK_HEADER_SIZE);
  PACK_SIGNATURE.copy(header, 0);
  header.writeUInt32BE(PACK_VERSION, 4);
  header.writeUInt32BE(count, 8);
  return header;
}

/** The per-object header: 3-bit type and a size varint (4 bits in the first byte, then 7 per byte). */
export function encodeObjectHeader(code: number, size: number): Buffer {
  if (!Number.isSafeInteger(size) || size < 0) throw new PackError('bad-size', `invalid object size ${size}`);
  const bytes: number[] = [];
  let rest = Math.floor(size / 16);
  let byte = (code << 4) | (size % 16);
  while (rest > 0) {
    bytes.push(byte | 0x80);
    byte = rest % 128;
    rest = Math.floor(rest / 128);
  }
  bytes.push(byte);
  return Buffer.from(bytes);
}
