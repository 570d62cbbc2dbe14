import { PackError } from './errors.js';
import { formatHeaderBlock, parseHeaderBlock } from './headers.js';
import { formatIdentity, parseIdentity, type Identity } from './identity.js';
import { isObjectType, isOid, type ObjectType } from './object.js';

/** An annotated tag object. */
export interface Tag {
  object: string;
  type: ObjectType;
  tag: string;
  tagger?: Identity;
  message: string;
  extraHeaders?: Array<[string, string]>;
}

export function encodeTag(t: Tag): Buffer {
  if (!isOid(t.object)) throw new PackError('bad-object', `tag: invalid object ${JSON.stringify(t.object)}`);
  if (!isObjectType(t.type)) throw new PackError('bad-object', `tag: invalid type ${JSON.stringify(t.type)}`);
  if (!t.tag || /[\n]/.test(t.tag)) throw new PackError('bad-object', `tag: invalid name ${JSON.stringify(t.tag)}`);
  const headers: Array<[string, string]> = [
    ['object', t.object],
    ['type', t.type],
    ['tag', t.tag],
  ];
  if (t.tagger) headers.push(['tagger', formatIdentity(t.tagger)]);
  for (const h of t.extraHeaders ?? []) headers.push(h);
  return formatHeaderBlock({ headers, message: t.message });
}

export function decodeTag(data: Uint8Array): Tag {
  const { headers, message } = parseHeaderBlock(data, 'tag');
  const [object, type, name] = headers;
  if (object?.[0] !== 'object' || !isOid(object[1])) throw new PackError('bad-object', 'tag: bad "object" header');
  if (type?.[0] !== 'type' || !isObjectType(type[1])) throw new PackError('bad-object', 'tag: bad "type" header');
  if (name?.[0] !== 'tag' || name[1] === '') throw new PackError('bad-object', 'tag: bad "tag" header');
  const tag: Tag = { object: object[1], type: type[1], tag: name[1], message };
  let i = 3;
  if (headers[i]?.[0] === 'tagger') tag.tagger = parseIdentity(headers[i++]![1]);
  if (i < headers.length) tag.extraHeaders = headers.slice(i);
  return tag;
}
