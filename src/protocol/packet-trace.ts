// GIT_TRACE_PACKET as git defines it (man git, ENVIRONMENT): one line per pkt-line sent or received,
// `packet: <service right-aligned to 12><direction> <payload>`, `>` for sent and `<` for received, newlines
// dropped and other unprintable bytes shown as a backslash and their octal value; flush, delim and
// response-end as 0000, 0001 and 0002. A pack is never written out: one `PACK ...` line gives its size.
// Only pkt-line payloads are traced, never HTTP headers, so credentials cannot appear.
//
// Off costs nothing: callers hold `undefined` instead of a tracer, and every hook is an optional call.
import { closeSync, openSync, writeSync } from 'node:fs';
import { BAND } from './capabilities.js';
import type { Pkt, PktObserver } from './pkt-line.js';

export type PacketTraceTarget = { to: 'stderr' } | { to: 'file'; path: string };

/**
 * The target a GIT_TRACE_PACKET value names: `1`, `2` or `true` → stderr, an absolute path → appended to
 * that file; unset, empty, `0` or `false` → undefined (off). Case-insensitive, as git compares them.
 * Throws a TypeError saying what to set for anything else (git's file-descriptor numbers included).
 */
export function packetTraceTarget(value: string | undefined): PacketTraceTarget | undefined {
  const v = value?.trim() ?? '';
  const lower = v.toLowerCase();
  if (lower === '' || lower === '0' || lower === 'false') return undefined;
  if (lower === '1' || lower === '2' || lower === 'true') return { to: 'stderr' };
  if (v.startsWith('/')) return { to: 'file', path: v };
  throw new TypeError('set 1, 2 or true to trace to stderr, an absolute path to append to that file, or 0 or false for off');
}

/** Both directions of one request/response exchange with a service. */
export interface PacketExchange {
  sent: PktObserver;
  received: PktObserver;
}

/** Writes packet trace lines to the target; one per process is enough, exchanges share it. */
export class PacketTracer {
  private readonly target: PacketTraceTarget;
  private fd: number | undefined;
  private failed = false;

  constructor(target: PacketTraceTarget) {
    this.target = target;
  }

  /** Observers for one exchange with `service` (`git-upload-pack` is shown as `upload-pack`). */
  exchange(service: string): PacketExchange {
    const label = service.replace(/^git-/, '').padStart(12);
    return { sent: new DirectionTrace(this, `${label}>`), received: new DirectionTrace(this, `${label}<`) };
  }

  /** Writes one line (without its newline). Like git, a file that cannot be opened turns tracing off with one warning. */
  write(line: string): void {
    const text = `${timestamp()} packet: ${line}\n`;
    if (this.target.to === 'stderr') {
      process.stderr.write(text);
      return;
    }
    if (this.failed) return;
    try {
      this.fd ??= openSync(this.target.path, 'a');
      writeSync(this.fd, text);
    } catch (err) {
      this.failed = true;
      process.stderr.write(`warning: could not write packet trace to ${this.target.path}: ${(err as Error).message}\n`);
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

/** One direction: pkts as lines, pack bytes (raw or on band 1) counted and summarised once. */
class DirectionTrace implements PktObserver {
  private readonly tracer: PacketTracer;
  private readonly prefix: string;
  /** Set while a pack is passing: how it travels and how much of it went by. */
  private pack: { sideband: boolean; bytes: number; pkts: number } | undefined;

  constructor(tracer: PacketTracer, prefix: string) {
    this.tracer = tracer;
    this.prefix = prefix;
  }

  pkt(pkt: Pkt): void {
    if (pkt.type !== 'data') {
      this.end();
      this.line(pkt.type === 'flush' ? '0000' : pkt.type === 'delim' ? '0001' : '0002');
      return;
    }
    const p = pkt.payload;
    if (this.pack?.sideband && p[0] === BAND.DATA) {
      this.pack.bytes += p.length - 1;
      this.pack.pkts++;
      return;
    }
    if (this.pack === undefined && p[0] === BAND.DATA && startsWithPack(p, 1)) {
      this.pack = { sideband: true, bytes: p.length - 1, pkts: 1 };
      return;
    }
    // Progress and errors on bands 2 and 3 may interleave with the pack; anything else ends it.
    if (!(this.pack && (p[0] === BAND.PROGRESS || p[0] === BAND.ERROR))) this.end();
    this.line(printable(p));
  }

  raw(bytes: Uint8Array): void {
    if (this.pack === undefined || this.pack.sideband) {
      this.end();
      this.pack = { sideband: false, bytes: 0, pkts: 0 };
    }
    this.pack.bytes += bytes.length;
  }

  end(): void {
    const pack = this.pack;
    if (pack === undefined) return;
    this.pack = undefined;
    const how = pack.sideband ? ` in ${pack.pkts} side-band packet${pack.pkts === 1 ? '' : 's'}` : '';
    this.line(`PACK ... (${pack.bytes} bytes${how})`);
  }

  private line(text: string): void {
    this.tracer.write(`${this.prefix} ${text}`);
  }
}

function startsWithPack(p: Uint8Array, at: number): boolean {
  return p[at] === 0x50 && p[at + 1] === 0x41 && p[at + 2] === 0x43 && p[at + 3] === 0x4b;
}

/** git's rendering: newlines dropped, printable ASCII as is, every other byte as `\<octal>`. */
function printable(payload: Uint8Array): string {
  return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
    .toString('latin1')
    .replace(/\n/g, '')
    .replace(/[^\x20-\x7e]/g, (c) => `\\${c.charCodeAt(0).toString(8)}`);
}

/** Local time as git's trace prints it: HH:MM:SS.microseconds. */
function timestamp(): string {
  const ms = performance.timeOrigin + performance.now();
  const now = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  const micros = String(Math.floor((ms % 1000) * 1000)).padStart(6, '0');
  return `${two(now.getHours())}:${two(now.getMinutes())}:${two(now.getSeconds())}.${micros}`;
}
