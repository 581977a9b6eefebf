// The heartbeat keys, from a file (a mounted Secret): one key per line, `<keyid>:<base64>`.
// The first key signs, every key verifies, so a rotation is: add the new key as a second
// line everywhere, then move it first, then drop the old one. Errors name the file and the
// line, never the key: key material must not reach a log.
import { readFileSync } from 'node:fs';

/** At least 256 bits: HMAC-SHA256 gains nothing from more, and is weakened by less. */
export const MIN_KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9._-]{1,32}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export interface Key {
  readonly id: string;
  readonly secret: Buffer;
}

export interface KeyRing {
  /** The key new packets are signed with (the file's first). */
  readonly signing: Key;
  /** key id -> key, every key a packet may be verified with (signing included). */
  readonly verifying: ReadonlyMap<string, Key>;
}

export class KeyRingError extends Error {
  readonly code: string;
  constructor(code: string, message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'KeyRingError';
    this.code = code;
  }
}

/** Parses a key file's text; `source` names the file in errors. Blank and `#` lines are skipped. */
export function parseKeyRing(text: string, source = 'key file'): KeyRing {
  const keys: Key[] = [];
  const seen = new Set<string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `${source} line ${i + 1}`;
    const colon = line.indexOf(':');
    if (colon < 0) throw new KeyRingError('KEYS_SYNTAX', `${where}: expected <keyid>:<base64 key>`);
    const id = line.slice(0, colon).trim();
    const encoded = line.slice(colon + 1).trim();
    if (!KEY_ID.test(id)) {
      throw new KeyRingError('KEYS_ID', `${where}: key id must be 1-32 characters of A-Z a-z 0-9 . _ -`);
    }
    if (seen.has(id)) throw new KeyRingError('KEYS_DUPLICATE', `${where}: key id "${id}" appears twice`);
    if (!BASE64.test(encoded) || encoded.length % 4 !== 0) {
      throw new KeyRingError('KEYS_BASE64', `${where}: key "${id}" is not valid base64`);
    }
    const secret = Buffer.from(encoded, 'base64');
    if (secret.length < MIN_KEY_BYTES) {
      throw new KeyRingError(
        'KEYS_SHORT',
        `${where}: key "${id}" has ${secret.length} bytes, at least ${MIN_KEY_BYTES} are needed`,
      );
    }
    seen.add(id);
    keys.push({ id, secret });
  }
  const signing = keys[0];
  if (signing === undefined) throw new KeyRingError('KEYS_EMPTY', `${source}: no key in the file`);
  return { signing, verifying: new Map(keys.map((k) => [k.id, k])) };
}

/** Reads and parses a key file; a read error becomes a KeyRingError naming the file. */
export function loadKeyRing(path: string): KeyRing {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
    throw new KeyRingError('KEYS_READ', `cannot read key file ${path}: ${code}`, err);
  }
  return parseKeyRing(text, `key file ${path}`);
}
