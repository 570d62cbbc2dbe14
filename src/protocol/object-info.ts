// git-upload-pack protocol v2 `object-info` (gitprotocol-v2): object sizes by id, without their content.
// The request builder is pure; the reader takes the decoded response pkts.
import { isSha1OrSha256Hex } from '../pack/object.js';
import { agentCapabilities, type Capabilities, COMMAND, FEATURE } from './capabilities.js';
import { ProtocolError } from './errors.js';
import { encodePkts, type Pkt, pktText } from './pkt-line.js';

/** Whether the server offers `object-info` with sizes (a bare `object-info` means the size attribute). */
export function offersObjectInfo(caps: Capabilities): boolean {
  const features = caps.get(COMMAND.OBJECT_INFO);
  if (features === undefined) return false;
  return features === '' || features.split(' ').includes(FEATURE.SIZE);
}

/** `command=object-info`, asking for the size of each of `oids`. */
export function objectInfoRequest(caps: Capabilities, oids: readonly string[]): Buffer {
  if (oids.length === 0) throw new TypeError('object-info needs at least one object id');
  for (const oid of oids) {
    if (!isSha1OrSha256Hex(oid)) throw new TypeError(`not an object id: ${JSON.stringify(oid)}`);
  }
  return encodePkts(
    `command=${COMMAND.OBJECT_INFO}\n`,
    ...agentCapabilities(caps).map((c) => `${c}\n`),
    { type: 'delim' },
    `${FEATURE.SIZE}\n`,
    ...oids.map((oid) => `oid ${oid}\n`),
    { type: 'flush' },
  );
}

/**
 * The sizes in an object-info answer: an attribute line (`size`), then `<oid> <size>` per object, then a
 * flush. An object the server does not have comes back with an empty size (git answers `<oid> `) and is left
 * out of the map, so a caller tells "unknown" from "0 bytes".
 */
export function readObjectInfo(pkts: readonly Pkt[]): Map<string, number> {
  const sizes = new Map<string, number>();
  const [attrs, ...rest] = pkts;
  if (attrs?.type !== 'data' || pktText(attrs.payload) !== FEATURE.SIZE) {
    throw new ProtocolError('bad-object-info', 'object-info answer does not start with the size attribute');
  }
  for (const pkt of rest) {
    if (pkt.type === 'flush') return sizes;
    if (pkt.type !== 'data') throw new ProtocolError('bad-object-info', `unexpected ${pkt.type} pkt in an object-info answer`);
    const line = pktText(pkt.payload);
    const m = /^([0-9a-f]{40}|[0-9a-f]{64}) ?(\d*)$/.exec(line);
    if (m === null) throw new ProtocolError('bad-object-info', `bad object-info line ${JSON.stringify(line.slice(0, 100))}`);
    if (m[2] !== '') sizes.set(m[1]!, Number(m[2]));
  }
  throw new ProtocolError('bad-object-info', 'object-info answer ends without a flush');
}
