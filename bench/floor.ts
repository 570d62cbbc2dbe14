// The floor of the benchmark: the Git requests a REST operation needs at the least, sent raw with undici to the
// same git server, with no REST layer and no engine around them. A read is one `ls-refs` POST plus one `fetch`
// POST for the blob by id; a write is one receive-pack POST carrying a pack built before the clock starts.
import { Agent, request } from 'undici';
import { encodeCommit } from '../src/pack/commit.js';
import { ZERO_OID, type ObjectType } from '../src/pack/object.js';
import { hashObject } from '../src/pack/oid.js';
import { writePack } from '../src/pack/pack-writer.js';
import { BLOB_MODE, TREE_MODE, encodeTree, type TreeEntry } from '../src/pack/tree.js';
import { encodePkts } from '../src/protocol/pkt-line.js';

const UPLOAD = 'git-upload-pack';
const RECEIVE = 'git-receive-pack';

/** Raw smart-HTTP requests to one repository; each method is exactly one HTTP round trip. */
export class RawGit {
  constructor(
    readonly repoUrl: string,
    private readonly dispatcher: Agent,
  ) {}

  private async post(service: string, body: Buffer, v2: boolean): Promise<Buffer> {
    const res = await request(`${this.repoUrl}/${service}`, {
      method: 'POST',
      dispatcher: this.dispatcher,
      headers: {
        'content-type': `application/x-${service}-request`,
        accept: `application/x-${service}-result`,
        'user-agent': 'git/2.0 (gitrest-bench)',
        ...(v2 ? { 'git-protocol': 'version=2' } : {}),
      },
      body,
    });
    const parts: Buffer[] = [];
    for await (const part of res.body) parts.push(part as Buffer);
    const out = Buffer.concat(parts);
    if (res.statusCode !== 200) throw new Error(`${service}: HTTP ${res.statusCode}: ${out.subarray(0, 200).toString()}`);
    return out;
  }

  /** v2 ls-refs limited to `ref`; returns its id (undefined when the ref does not exist). */
  async lsRef(ref: string): Promise<string | undefined> {
    const body = encodePkts('command=ls-refs\n', { type: 'delim' }, `ref-prefix ${ref}\n`, { type: 'flush' });
    const text = (await this.post(UPLOAD, body, true)).toString('latin1');
    const m = new RegExp(`([0-9a-f]{40}) ${ref}\\n`).exec(text);
    return m?.[1];
  }

  /**
   * v2 fetch of one object by id (with `filter`, e.g. tree:0 for a tree alone); returns the bytes received
   * (the pack, side-band framed).
   */
  async fetchObject(oid: string, filter?: string): Promise<number> {
    const body = encodePkts('command=fetch\n', { type: 'delim' }, 'no-progress\n', 'ofs-delta\n', `want ${oid}\n`,
      ...(filter === undefined ? [] : [`filter ${filter}\n`]), 'done\n', { type: 'flush' });
    const out = await this.post(UPLOAD, body, true);
    if (!out.subarray(0, 64).includes('packfile')) throw new Error(`fetch of ${oid}: no packfile section`);
    return out.length;
  }

  /** One receive-pack POST; throws unless the server reports the ref updated. */
  async receivePack(body: Buffer, ref: string): Promise<void> {
    const text = (await this.post(RECEIVE, body, false)).toString('latin1');
    if (!text.includes('unpack ok') || !text.includes(`ok ${ref}`)) {
      throw new Error(`push to ${ref} refused: ${text.replace(/[^\x20-\x7e\n]/g, '.').slice(0, 300)}`);
    }
  }
}

/** An object as the floor's packs carry it. */
export interface Obj {
  type: ObjectType;
  oid: string;
  data: Buffer;
}

/** A push prepared in advance: send `body`, then call `done()` once the server accepted it. */
export interface PreparedPush {
  body: Buffer;
  /** The blob written, for a later fetch (undefined for a removal). */
  blob?: string;
  done(): void;
}

/**
 * A branch whose commits are built here, the way the API builds them (blob, every tree on the path, commit;
 * parent trees that become empty disappear), but with no reads of the remote: the state is kept locally.
 */
export class FloorBranch {
  private tip: string | null = null;
  private readonly files = new Map<string, string>();
  /** Objects the server already has: not sent again. */
  private readonly sent = new Set<string>();
  private time = 1_700_000_000;

  constructor(readonly ref: string) {}

  /**
   * Starts from a commit the server already has, whose tree holds exactly `files` (path → blob id); returns
   * the root tree id built from `files`, for the caller to check against the commit's.
   */
  adopt(tip: string, files: ReadonlyMap<string, string>): string {
    const objects: Obj[] = [];
    const root = buildTrees(files, objects);
    this.tip = tip;
    this.files.clear();
    for (const [path, oid] of files) {
      this.files.set(path, oid);
      this.sent.add(oid);
    }
    for (const o of objects) this.sent.add(o.oid);
    return root;
  }

  /** The push that sets `path` to `data`, or removes it when `data` is null. */
  async prepare(path: string, data: Buffer | null): Promise<PreparedPush> {
    const files = new Map(this.files);
    const objects: Obj[] = [];
    let blob: string | undefined;
    if (data === null) {
      files.delete(path);
    } else {
      blob = hashObject('blob', data);
      files.set(path, blob);
      objects.push({ type: 'blob', oid: blob, data });
    }
    const root = buildTrees(files, objects);
    this.time++;
    const who = { name: 'bench', email: 'bench@localhost', timestamp: this.time, timezone: '+0000' };
    const commit = encodeCommit({
      tree: root, parents: this.tip === null ? [] : [this.tip], author: who, committer: who, message: `floor ${path}\n`,
    });
    const commitOid = hashObject('commit', commit);
    objects.push({ type: 'commit', oid: commitOid, data: commit });

    const fresh = objects.filter((o) => !this.sent.has(o.oid));
    const parts: Buffer[] = [
      encodePkts(`${this.tip ?? ZERO_OID} ${commitOid} ${this.ref}\0report-status side-band-64k quiet\n`, { type: 'flush' }),
    ];
    for await (const part of writePack(fresh.length, fresh.map((o) => ({ type: o.type, size: o.data.length, data: o.data })))) {
      parts.push(part);
    }
    return {
      body: Buffer.concat(parts),
      ...(blob === undefined ? {} : { blob }),
      done: () => {
        this.tip = commitOid;
        this.files.clear();
        for (const [p, oid] of files) this.files.set(p, oid);
        for (const o of fresh) this.sent.add(o.oid);
      },
    };
  }
}

/** Builds the trees of `files` (path → blob id), appending each to `out`; returns the root tree's id. */
export function buildTrees(files: ReadonlyMap<string, string>, out: Obj[]): string {
  const children = new Map<string, Map<string, string>>();
  const entries: TreeEntry[] = [];
  for (const [path, oid] of files) {
    const slash = path.indexOf('/');
    if (slash < 0) {
      entries.push({ mode: BLOB_MODE, name: Buffer.from(path), oid });
      continue;
    }
    const head = path.slice(0, slash);
    let sub = children.get(head);
    if (sub === undefined) children.set(head, (sub = new Map()));
    sub.set(path.slice(slash + 1), oid);
  }
  for (const [name, sub] of children) entries.push({ mode: TREE_MODE, name: Buffer.from(name), oid: buildTrees(sub, out) });
  const data = encodeTree(entries);
  const oid = hashObject('tree', data);
  out.push({ type: 'tree', oid, data });
  return oid;
}
