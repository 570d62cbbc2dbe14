// Pure parsers for what servers advertise: the info/refs answer (v0/v1 ref list or v2 capabilities)
// and the v2 ls-refs answer.
import { isSha1OrSha256Hex } from '../pack/object.js';
import { type Capabilities, CAP } from './capabilities.js';
import { ProtocolError } from './errors.js';
import { type Pkt, pktText } from './pkt-line.js';

export type { Capabilities } from './capabilities.js';

export interface RefList {
  /** Ref name → object id; includes `HEAD` when the server lists it. */
  refs: Map<string, string>;
  /** Symbolic ref → its target, e.g. `HEAD` → `refs/heads/main`. */
  symrefs: Map<string, string>;
  /** Annotated tag ref → the object it peels to (the `^{}` lines / `peeled:` attribute). */
  peeled: Map<string, string>;
  /** v0: the capabilities after the NUL of the first ref; v2: the server's capability advertisement. */
  capabilities: Capabilities;
}

export type InfoRefs =
  | { version: 2; capabilities: Capabilities }
  | { version: 0 | 1; refs: RefList };

function bad(message: string): ProtocolError {
  return new ProtocolError('bad-advertisement', message);
}

function emptyRefList(capabilities: Capabilities = new Map()): RefList {
  return { refs: new Map(), symrefs: new Map(), peeled: new Map(), capabilities };
}

/** Text of a data pkt (the pkt-line decoder has already turned `ERR` lines into RemoteError). */
function lineOf(pkt: Pkt | undefined, what: string): string {
  if (pkt === undefined) throw new ProtocolError('unexpected-eof', `${what}: response ended early`);
  if (pkt.type !== 'data') throw bad(`${what}: unexpected ${pkt.type} pkt`);
  return pktText(pkt.payload);
}

/** `a b=c d` → {a:'', b:'c', d:''} (v0 capability list after the NUL). */
export function parseCapabilityList(text: string): Capabilities {
  const caps: Capabilities = new Map();
  for (const word of text.split(' ')) {
    if (word === '') continue;
    const eq = word.indexOf('=');
    const key = eq < 0 ? word : word.slice(0, eq);
    const value = eq < 0 ? '' : word.slice(eq + 1);
    // symref may repeat; the first value is kept in the map, all of them land in RefList.symrefs.
    if (!caps.has(key)) caps.set(key, value);
  }
  return caps;
}

/**
 * The body of `GET info/refs?service=<service>`: an optional `# service=` header plus flush (v2 servers may
 * omit it), then `version 2` + capabilities, or (`version 1` +) a v0 ref advertisement.
 */
export function parseInfoRefs(pkts: Pkt[], service: string): InfoRefs {
  let i = 0;
  const first = pkts[0];
  if (first?.type === 'data' && pktText(first.payload).startsWith('# service=')) {
    const named = pktText(first.payload).slice('# service='.length);
    if (named !== service) throw bad(`expected service ${service}, server answered for ${named}`);
    if (pkts[1]?.type !== 'flush') throw bad('no flush after the service header');
    i = 2;
  }
  const head = pkts[i];
  if (head?.type === 'data') {
    const text = lineOf(head, 'info/refs');
    if (text === 'version 2') return { version: 2, capabilities: parseV2Capabilities(pkts.slice(i + 1)) };
    if (text === 'version 1') return { version: 1, refs: parseV0Refs(pkts.slice(i + 1)) };
  }
  return { version: 0, refs: parseV0Refs(pkts.slice(i)) };
}

/** `key[=value]` lines up to a flush. */
export function parseV2Capabilities(pkts: Pkt[]): Capabilities {
  const caps: Capabilities = new Map();
  for (const pkt of pkts) {
    if (pkt.type === 'flush') return caps;
    const line = lineOf(pkt, 'capability advertisement');
    const eq = line.indexOf('=');
    if (eq === 0 || line === '') throw bad(`bad capability line ${JSON.stringify(line)}`);
    caps.set(eq < 0 ? line : line.slice(0, eq), eq < 0 ? '' : line.slice(eq + 1));
  }
  throw new ProtocolError('unexpected-eof', 'capability advertisement ended without a flush');
}

/**
 * v0/v1 ref advertisement up to its flush: `<oid> <name>\0<caps>` first, then `<oid> <name>` lines,
 * `<name>^{}` lines for peeled tags, optional `shallow <oid>` lines; an empty repository sends
 * `<zero-id> capabilities^{}\0<caps>` (or, from old servers, nothing but the flush).
 */
export function parseV0Refs(pkts: Pkt[]): RefList {
  const list = emptyRefList();
  let first = true;
  for (const pkt of pkts) {
    if (pkt.type === 'flush') return list;
    let line = lineOf(pkt, 'ref advertisement');
    if (first) {
      first = false;
      const nul = line.indexOf('\0');
      if (nul < 0) throw bad('first advertised ref carries no capabilities');
      list.capabilities = parseCapabilityList(line.slice(nul + 1));
      for (const word of line.slice(nul + 1).split(' ')) {
        if (!word.startsWith(`${CAP.SYMREF}=`)) continue;
        const [from, to] = splitOnce(word.slice(CAP.SYMREF.length + 1), ':');
        if (from && to) list.symrefs.set(from, to);
      }
      line = line.slice(0, nul);
      const [oid, name] = splitOnce(line, ' ');
      if (name === 'capabilities^{}') {
        if (!/^0+$/.test(oid)) throw bad('capabilities^{} line with a non-zero id');
        continue;
      }
    }
    if (line.startsWith('shallow ')) continue;
    const [oid, name] = splitOnce(line, ' ');
    if (!isSha1OrSha256Hex(oid) || !name) throw bad(`bad ref line ${JSON.stringify(line)}`);
    if (name.endsWith('^{}')) list.peeled.set(name.slice(0, -3), oid);
    else list.refs.set(name, oid);
  }
  throw new ProtocolError('unexpected-eof', 'ref advertisement ended without a flush');
}

/** v2 `ls-refs` output: `<oid>|unborn <name>[ symref-target:<t>][ peeled:<oid>]` lines, then flush. */
export function parseLsRefs(pkts: Pkt[], capabilities: Capabilities = new Map()): RefList {
  const list = emptyRefList(capabilities);
  for (const pkt of pkts) {
    if (pkt.type === 'flush') return list;
    const line = lineOf(pkt, 'ls-refs');
    const [oid, name, ...attrs] = line.split(' ');
    if (!name || (oid !== 'unborn' && !isSha1OrSha256Hex(oid!))) throw new ProtocolError('unexpected-response', `bad ls-refs line ${JSON.stringify(line)}`);
    if (oid !== 'unborn') list.refs.set(name, oid!);
    for (const attr of attrs) {
      const target = attr.startsWith('symref-target:') ? attr.slice('symref-target:'.length) : undefined;
      const peeled = attr.startsWith('peeled:') ? attr.slice('peeled:'.length) : undefined;
      // Validated like the ref itself: a RefList only ever holds real names and object ids.
      if (target === '' || (peeled !== undefined && !isSha1OrSha256Hex(peeled))) {
        throw new ProtocolError('unexpected-response', `bad ls-refs attribute ${JSON.stringify(attr)}`);
      }
      if (target !== undefined) list.symrefs.set(name, target);
      else if (peeled !== undefined) list.peeled.set(name, peeled);
    }
  }
  throw new ProtocolError('unexpected-eof', 'ls-refs output ended without a flush');
}

function splitOnce(s: string, sep: string): [string, string] {
  const at = s.indexOf(sep);
  return at < 0 ? [s, ''] : [s.slice(0, at), s.slice(at + sep.length)];
}
