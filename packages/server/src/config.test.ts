import { expect, test } from 'vitest';
import { DEFAULT_ADMIN_PASSWORD, loadConfig } from './config.js';

test('with the default admin password and no HOST, the server listens on 127.0.0.1 only', () => {
  for (const env of [{}, { ADMIN_PASSWORD: DEFAULT_ADMIN_PASSWORD }, { ADMIN_PASSWORD: '' }, { HOST: '' }]) {
    expect(loadConfig(env)).toMatchObject({ host: '127.0.0.1', hostLimitedToLoopback: true });
  }
});

test('a password of its own opens every interface; HOST always wins', () => {
  expect(loadConfig({ ADMIN_PASSWORD: 'a-long-passphrase' })).toMatchObject({
    host: '0.0.0.0',
    hostLimitedToLoopback: false,
  });
  expect(loadConfig({ HOST: '0.0.0.0' })).toMatchObject({ host: '0.0.0.0', hostLimitedToLoopback: false });
  expect(loadConfig({ HOST: '10.0.0.5', ADMIN_PASSWORD: 'a-long-passphrase' })).toMatchObject({
    host: '10.0.0.5',
    hostLimitedToLoopback: false,
  });
});
