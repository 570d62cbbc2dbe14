import { PackError } from './errors.js';

/** An author, committer or tagger line: "Name <email> 1700000000 +0100". */
export interface Identity {
  name: string;
  email: string;
  timestamp: number; // seconds since the epoch
  timezone: string; // "+hhmm" / "-hhmm", kept as written
}

const TAIL_RE = /^ (\d+) ([+-]\d{4})$/;

export function formatIdentity(i: Identity): string {
  if (/[<>\n]/.test(i.name) || /[<>\n]/.test(i.email)) {
    throw new PackError('bad-object', 'identity name/email must not contain <, > or newline');
  }
  if (!Number.isSafeInteger(i.timestamp) || i.timestamp < 0) {
    throw new PackError('bad-object', `invalid identity timestamp ${i.timestamp}`);
  }
  if (!/^[+-]\d{4}$/.test(i.timezone)) throw new PackError('bad-object', `invalid timezone ${i.timezone}`);
  return `${i.name} <${i.email}> ${i.timestamp} ${i.timezone}`;
}

export function parseIdentity(s: string): Identity {
  const lt = s.indexOf('<');
  const gt = s.indexOf('>', lt + 1);
  if (lt < 0 || gt < 0) throw new PackError('bad-object', `malformed identity ${JSON.stringify(s)}`);
  const tail = TAIL_RE.exec(s.slice(gt + 1));
  if (!tail) throw new PackError('bad-object', `malformed identity date in ${JSON.stringify(s)}`);
  const timestamp = Number(tail[1]);
  if (!Number.isSafeInteger(timestamp)) throw new PackError('bad-object', `identity timestamp out of range`);
  // Git writes exactly one space between the name and "<".
  const rawName = s.slice(0, lt);
  return {
    name: rawName.endsWith(' ') ? rawName.slice(0, -1) : rawName,
    email: s.slice(lt + 1, gt),
    timestamp,
    timezone: tail[2]!,
  };
}
