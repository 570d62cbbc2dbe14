import { PackError } from './errors.js';
import { formatHeaderBlock, parseHeaderBlock } from './headers.js';
import { formatIdentity, parseIdentity, type Identity } from './identity.js';
import { isOid } from './object.js';

export { formatIdentity, parseIdentity, type Identity } from './identity.js';
export { decodeTag, encodeTag, type Tag } from './tag.js';

export interface Commit {
  tree: string;
  parents: string[];
  author: Identity;
  committer: Identity;
  message: string;
  /** Headers after "committer" (encoding, gpgsig, mergetag, ...), in order; multi-line values use '\n'. */
  extraHeaders?: Array<[string, string]>;
}

function checkOid(oid: string, what: string): string {
  if (!isOid(oid)) throw new PackError('bad-object', `commit: invalid ${what} ${JSON.stringify(oid)}`);
  return oid;
}

export function encodeCommit(c: Commit): Buffer {
  const headers: Array<[string, string]> = [['tree', checkOid(c.tree, 'tree')]];
  for (const p of c.parents) headers.push(['parent', checkOid(p, 'parent')]);
  headers.push(['author', formatIdentity(c.author)], ['committer', formatIdentity(c.committer)]);
  for (const h of c.extraHeaders ?? []) headers.push(h);
  return formatHeaderBlock({ headers, message: c.message });
}

/** Parses a commit; the header order Git requires (tree, parents, author, committer) is enforced. */
export function decodeCommit(data: Uint8Array): Commit {
  const { headers, message } = parseHeaderBlock(data, 'commit');
  let i = 0;
  const take = (key: string): string => {
    const h = headers[i];
    if (!h || h[0] !== key) throw new PackError('bad-object', `commit: expected "${key}" header`);
    i++;
    return h[1];
  };
  const tree = checkOid(take('tree'), 'tree');
  const parents: string[] = [];
  while (headers[i]?.[0] === 'parent') parents.push(checkOid(take('parent'), 'parent'));
  const author = parseIdentity(take('author'));
  const committer = parseIdentity(take('committer'));
  const commit: Commit = { tree, parents, author, committer, message };
  if (i < headers.length) commit.extraHeaders = headers.slice(i);
  return commit;
}
