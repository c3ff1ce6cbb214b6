// Starts a Gatehouse server of its own and runs the e2e tests against it.
//
// It builds the server from the checkout above (go build; GATEHOUSE_BINARY
// names one already built instead), runs it in a
// fresh temporary directory on a free port of 127.0.0.1 with the demo
// organisation (SQLite; DATABASE_URL and GATEHOUSE_JWT_SECRET in the
// environment switch it to PostgreSQL), reads the GraphQL URL and the demo
// admin's token from its JSON log, runs `node --test test/` with
// GATEHOUSE_URL, GATEHOUSE_ADMIN_TOKEN and GATEHOUSE_JWT_SECRET set (the
// tests sign JWTs for the people they create: API tokens act only as their
// creator or a service account), and stops the server.
// GATEHOUSE_URL, GATEHOUSE_ADMIN_TOKEN and GATEHOUSE_JWT_SECRET already
// set: tests that server.
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

function runTests(env) {
  return new Promise((resolve) => {
    const t = spawn(process.execPath, ['--test', '--test-concurrency=1', 'test/'], {
      cwd: here, env: { ...process.env, ...env }, stdio: 'inherit',
    });
    t.on('exit', (code) => resolve(code ?? 1));
  });
}

async function startServer(dir) {
  let bin = process.env.GATEHOUSE_BINARY;
  if (!bin) {
    bin = join(dir, 'gatehouse');
    console.log(`building the server into ${bin}`);
    execFileSync('go', ['build', '-o', bin, '.'], { cwd: root, stdio: 'inherit' });
  }
  const env = {
    GATEHOUSE_JWT_SECRET: randomBytes(32).toString('hex'),
    ...process.env,
    GATEHOUSE_LOG_FORMAT: 'json',
    GATEHOUSE_ALLOWED_ORIGINS: 'https://app.example',
  };
  const args = ['serve', '--addr', '127.0.0.1:0', '--demo', '--sqlite', join(dir, 'gatehouse.db')];
  const proc = spawn(bin, args, { cwd: dir, env, stdio: ['ignore', 'inherit', 'pipe'] });
  const lines = readline.createInterface({ input: proc.stderr });
  const found = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server did not start within 60s')), 60000);
    let url;
    proc.on('exit', (code) => reject(new Error(`the server exited with ${code}`)));
    lines.on('line', (line) => {
      let rec;
      try { rec = JSON.parse(line); } catch { console.error(line); return; }
      if (rec.level === 'ERROR' || rec.level === 'WARN') console.error(line);
      if (rec.msg === 'gatehouse listening') url = rec.graphql;
      if (rec.msg === 'demo user' && rec.role === 'IT_ADMIN' && url) {
        clearTimeout(timer);
        resolve({ url, token: rec.token, secret: env.GATEHOUSE_JWT_SECRET });
      }
    });
  });
  return { proc, ...found };
}

let code;
if (process.env.GATEHOUSE_URL && process.env.GATEHOUSE_ADMIN_TOKEN && process.env.GATEHOUSE_JWT_SECRET) {
  code = await runTests({});
} else {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-e2e-'));
  let server;
  try {
    server = await startServer(dir);
    console.log(`server at ${server.url}`);
    code = await runTests({ GATEHOUSE_URL: server.url, GATEHOUSE_ADMIN_TOKEN: server.token, GATEHOUSE_JWT_SECRET: server.secret });
  } finally {
    if (server) {
      const exited = new Promise((resolve) => server.proc.on('exit', resolve));
      server.proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15000))]);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
process.exit(code);
