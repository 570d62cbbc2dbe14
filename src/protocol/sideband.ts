// side-band / side-band-64k demultiplexing: each data pkt starts with a band byte.
// 1 = payload, 2 = progress text, 3 = fatal error text; a flush ends the multiplexed stream. An `ERR` line
// among the band packets is already a RemoteError when the PktReader hands it over.
import { BAND } from './capabilities.js';
import { ProtocolError, RemoteError } from './errors.js';
import type { PktReader } from './pkt-line.js';

export async function* demuxSideband(pkts: PktReader, onProgress?: (msg: string) => void): AsyncGenerator<Buffer> {
  for (;;) {
    const pkt = await pkts.next();
    if (pkt === null) throw new ProtocolError('unexpected-eof', 'side-band stream ended without a flush');
    if (pkt.type === 'flush') return;
    if (pkt.type !== 'data') throw new ProtocolError('bad-sideband', `unexpected ${pkt.type} pkt in side-band stream`);
    const p = pkt.payload;
    if (p.length === 0) continue;
    const band = p[0];
    if (band === BAND.DATA) {
      if (p.length > 1) yield p.subarray(1);
    } else if (band === BAND.PROGRESS) {
      if (p.length > 1 && onProgress) onProgress(p.subarray(1).toString('utf8'));
    } else if (band === BAND.ERROR) {
      throw new RemoteError(p.subarray(1).toString('utf8').trim());
    } else {
      throw new ProtocolError('bad-sideband', `unknown side-band channel ${band}`);
    }
  }
}
