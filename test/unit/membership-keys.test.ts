import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KeyRingError, loadKeyRing, parseKeyRing } from '../../speaker/membership/keys.js';

const k32 = Buffer.alloc(32, 7).toString('base64');
const k48 = Buffer.alloc(48, 9).toString('base64');
const short = Buffer.alloc(31, 1).toString('base64');

describe('parseKeyRing', () => {
  it('signs with the first key and verifies with all', () => {
    const ring = parseKeyRing(`# rotation in progress\nnew:${k48}\n\nold:${k32}\n`);
    expect(ring.signing.id).toBe('new');
    expect([...ring.verifying.keys()]).toEqual(['new', 'old']);
    expect(ring.verifying.get('old')?.secret.length).toBe(32);
  });

  it.each([
    ['no colon', `abc${k32}`, 'KEYS_SYNTAX', 'line 1'],
    ['bad id', `bad id:${k32}`, 'KEYS_ID', 'line 1'],
    ['long id', `${'x'.repeat(33)}:${k32}`, 'KEYS_ID', 'line 1'],
    ['duplicate id', `a:${k32}\na:${k48}`, 'KEYS_DUPLICATE', 'line 2'],
    ['not base64', `a:${k32}\nb:not*base64`, 'KEYS_BASE64', 'line 2'],
    ['bad padding', `a:${k32.slice(0, -1)}`, 'KEYS_BASE64', 'line 1'],
    ['too short', `\n\na:${short}`, 'KEYS_SHORT', 'line 3'],
    ['empty', '# nothing\n\n', 'KEYS_EMPTY', 'no key'],
  ])('refuses %s with the line, never the key', (_name, text, code, where) => {
    let err: unknown;
    try {
      parseKeyRing(text, 'key file /x');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KeyRingError);
    expect((err as KeyRingError).code).toBe(code);
    const msg = (err as Error).message;
    expect(msg).toContain('key file /x');
    expect(msg).toContain(where);
    for (const secret of [k32, k48, short]) expect(msg).not.toContain(secret);
  });
});

describe('loadKeyRing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hm-keys-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file and names it in errors', () => {
    const good = join(dir, 'good');
    writeFileSync(good, `k1:${k32}\n`);
    expect(loadKeyRing(good).signing.id).toBe('k1');
    const bad = join(dir, 'bad');
    writeFileSync(bad, `k1:${short}\n`);
    expect(() => loadKeyRing(bad)).toThrow(new RegExp(`key file ${bad} line 1`));
    expect(() => loadKeyRing(join(dir, 'missing'))).toThrow(/cannot read key file .*missing: ENOENT/);
  });
});
