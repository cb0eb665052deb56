#!/usr/bin/env node
// Installs the workspace's dependencies when they are missing or stale: `npm ci` when
// node_modules is absent or package-lock.json is newer than node_modules/.package-lock.json
// (the copy npm writes after every install). Used by `npm start` and `npm test`; runnable on its
// own as `node scripts/ensure-deps.mjs`. Only Node built-ins here: nothing is installed yet.
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Why an install is needed, or null when node_modules matches package-lock.json. */
export function staleReason(root = ROOT) {
  const lockFile = path.join(root, 'package-lock.json');
  const installedLock = path.join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(path.join(root, 'node_modules'))) {
    return 'node_modules is missing';
  }
  if (!existsSync(installedLock)) {
    return 'node_modules/.package-lock.json is missing';
  }
  if (existsSync(lockFile) && statSync(lockFile).mtimeMs > statSync(installedLock).mtimeMs) {
    return 'package-lock.json is newer than node_modules';
  }
  return null;
}

/** Runs npm with the given arguments; resolves to { code, stderr } (stderr is also shown unless captured). */
function npm(args, { root, captureStderr = false }) {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', args, { cwd: root, stdio: ['ignore', 'inherit', captureStderr ? 'pipe' : 'inherit'] });
    let stderr = '';
    child.stderr?.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code: code ?? 128, signal, stderr }));
  });
}

/**
 * Installs dependencies when staleReason() says so: `npm ci`, exactly as package-lock.json says.
 * When npm ci refuses the lock file as out of sync, which happens where the registry lacks some
 * other platform's optional binaries (seen here: @biomejs/cli-darwin-*), it falls back to
 * `npm install --no-save`, which honours the lock and leaves it untouched. Rejects when npm fails.
 */
export async function ensureDeps(root = ROOT) {
  const reason = staleReason(root);
  if (!reason) {
    return false;
  }
  const started = performance.now();
  const flags = ['--no-audit', '--no-fund'];
  if (existsSync(path.join(root, 'package-lock.json'))) {
    console.error(`tiba: ${reason}; running npm ci`);
    const ci = await npm(['ci', ...flags], { root, captureStderr: true });
    if (ci.code === 0) {
      process.stderr.write(ci.stderr);
    } else {
      if (!ci.stderr.includes('EUSAGE')) {
        process.stderr.write(ci.stderr);
        throw new Error(`npm ci failed (${ci.signal ?? `exit code ${ci.code}`})`);
      }
      const missing = ci.stderr.split('\n').filter((line) => line.includes('Missing:')).length;
      console.error(
        `tiba: npm ci refused package-lock.json as out of sync (${missing} packages missing from it); ` +
          'running npm install --no-save instead'
      );
      await npmOrThrow(['install', '--no-save', ...flags], root);
    }
  } else {
    console.error(`tiba: ${reason}; running npm install`);
    await npmOrThrow(['install', ...flags], root);
  }
  console.error(`tiba: dependencies installed in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return true;
}

async function npmOrThrow(args, root) {
  const { code, signal } = await npm(args, { root });
  if (code !== 0) {
    throw new Error(`npm ${args[0]} failed (${signal ?? `exit code ${code}`})`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  ensureDeps().catch((err) => {
    console.error(`tiba: ${err.message}`);
    process.exit(1);
  });
}
