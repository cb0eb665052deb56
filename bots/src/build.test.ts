import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { compileFunction } from 'node:vm';
import { afterAll, describe, expect, test } from 'vitest';
import { buildBots, listBots, readMetadata } from '../build.mjs';

const require = createRequire(import.meta.url);
const scratch = mkdtempSync(path.join(tmpdir(), 'tiba-bots-build-'));

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Loads a bundle the way the server's runner does: CommonJS, `require` limited to @medplum/core and Node. */
function loadLikeTheRuntime(code: string): Record<string, unknown> {
  const module = { exports: {} as Record<string, unknown> };
  const exports = module.exports;
  const botRequire = (name: string) => {
    if (name === '@medplum/core' || name.startsWith('node:')) {
      return require(name);
    }
    throw new Error(`Cannot find module '${name}'`);
  };
  compileFunction(code, ['exports', 'require', 'module'])(exports, botRequire, module);
  // Both readings a runtime may use: module.exports.handler and the original exports object.
  expect(typeof (exports as { handler?: unknown }).handler).toBe('function');
  return module.exports;
}

describe('build', () => {
  test('finds every bot with its metadata', () => {
    const bots = listBots();
    expect(bots.map((bot) => bot.name)).toContain('sms-consent-request');
    const bot = bots.find((b) => b.name === 'sms-consent-request');
    expect(bot?.metadata.subscriptions?.[0]).toMatchObject({ key: 'patient-created', criteria: 'Patient' });
  });

  test('finds bots inside programme folders as <programme>-<bot>, beside top-level bots', () => {
    const src = path.join(scratch, 'programmes');
    const write = (dir: string, files: Record<string, string>) => {
      mkdirSync(path.join(src, dir), { recursive: true });
      for (const [name, content] of Object.entries(files)) {
        writeFileSync(path.join(src, dir, name), content);
      }
    };
    write('top-bot', { 'index.ts': '', 'bot.json': JSON.stringify({ name: 'top-bot' }) });
    write('care/enrol', { 'index.ts': '', 'bot.json': JSON.stringify({ name: 'care-enrol' }) });
    // A programme's README and a helpers folder without bot.json are not bots.
    write('care', { 'README.md': '# care' });
    write('care/texts', { 'index.ts': '' });
    write('shared', { 'helpers.ts': '' });

    const bots = listBots(src);
    expect(bots.map((bot) => [bot.name, path.relative(src, bot.dir)])).toEqual([
      ['care-enrol', path.join('care', 'enrol')],
      ['top-bot', 'top-bot'],
    ]);

    write('care/misnamed', { 'index.ts': '', 'bot.json': JSON.stringify({ name: 'misnamed' }) });
    expect(() => listBots(src)).toThrow(/"name" must be the folder name \(care-misnamed\)/);
  });

  test('the shipped programme bots are found', () => {
    expect(listBots().map((bot) => bot.name)).toEqual(expect.arrayContaining(['hepatitis-b-enrol']));
  });

  test('bundles each bot into one small CommonJS file exporting handler', async () => {
    const bots = listBots();
    const built = await buildBots({ bots, outDir: scratch });
    expect(built.map((b) => path.basename(b.file)).sort()).toEqual(bots.map((b) => `${b.name}.js`).sort());
    for (const { file, bytes } of built) {
      expect(bytes).toBeLessThan(64 * 1024);
      const code = readFileSync(file, 'utf8');
      expect(code).not.toMatch(/^import |^export /m);
      expect(typeof loadLikeTheRuntime(code).handler).toBe('function');
    }
  });

  test('rejects a bot.json that is not what deploy expects', () => {
    const write = (name: string, content: unknown) => {
      const dir = path.join(scratch, 'src', name);
      mkdirSync(dir, { recursive: true });
      const file = path.join(dir, 'bot.json');
      writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
      return file;
    };
    expect(readMetadata(write('ok-bot', { name: 'ok-bot' }), 'ok-bot')).toEqual({ name: 'ok-bot', subscriptions: [] });
    expect(() => readMetadata(write('a', '{not json'), 'a')).toThrow(/bot\.json/);
    expect(() => readMetadata(write('b', { name: 'other' }), 'b')).toThrow(/"name" must be the folder name/);
    expect(() => readMetadata(write('c', { name: 'c', timeout: 1.5 }), 'c')).toThrow(/timeout/);
    expect(() =>
      readMetadata(write('d', { name: 'd', subscriptions: [{ key: 'x', criteria: 'patient' }] }), 'd')
    ).toThrow(/criteria/);
    expect(() =>
      readMetadata(
        write('e', { name: 'e', subscriptions: [{ key: 'x', criteria: 'Patient', interaction: 'read' }] }),
        'e'
      )
    ).toThrow(/interaction/);
    expect(() =>
      readMetadata(
        write('f', {
          name: 'f',
          subscriptions: [
            { key: 'x', criteria: 'Patient' },
            { key: 'x', criteria: 'Patient' },
          ],
        }),
        'f'
      )
    ).toThrow(/unique/);
  });
});
