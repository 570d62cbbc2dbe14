import { createHash, type Hash } from 'node:crypto';
import { PackError } from './errors.js';
import type { ObjectType } from './object.js';

/** The loose-object header Git hashes in front of the content: "<type> <size>\0". */
export function objectHeader(type: ObjectType, size: number): Buffer {
  return Buffer.from(`${type} ${size}\0`, 'latin1');
}

/** The object id Git gives `content` stored as `type`. */
export function hashObject(type: ObjectType, content: Uint8Array): string {
  return createHash('sha1').update(objectHeader(type, content.length)).update(content).digest('hex');
}

/** Hashes an object whose content arrives in chunks; the size must be known up front. */
export class ObjectHasher {
  private readonly hash: Hash;
  private readonly size: number;
  private fed = 0;

  constructor(type: ObjectType, size: number) {
    if (!Number.isSafeInteger(size) || size < 0) throw new PackError('bad-size', `invalid object size ${size}`);
    this.size = size;
    this.hash = createHash('sha1').update(objectHeader(type, size));
  }

  update(chunk: Uint8Array): this {
    this.fed += chunk.length;
    if (this.fed > this.size) throw new PackError('bad-size', `object has more than the declared ${this.size} bytes`);
    this.hash.update(chunk);
    return this;
  }

  digest(): string {
    if (this.fed !== this.size) {
      throw new PackError('bad-size', `object has ${this.fed} bytes, declared ${this.size}`);
    }
    return this.hash.digest('hex');
  }
}
