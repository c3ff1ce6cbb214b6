// Websocket close codes and admission, with the ws package as a raw client
// and graphql-ws as a real one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { createClient } from 'graphql-ws';
import { wsURL, adminToken } from '../lib.mjs';

// closeOf opens a raw socket, sends the messages and resolves with the
// close code the server sends.
function closeOf(protocol, messages, options = {}) {
  return new Promise((resolve, reject) => {
    const s = new WebSocket(wsURL, protocol, options);
    s.on('open', () => { for (const m of messages) s.send(JSON.stringify(m)); });
    s.on('close', (code) => resolve(code));
    s.on('unexpected-response', (req, res) => { req.destroy(); resolve(`http ${res.statusCode}`); });
    s.on('error', reject);
  });
}

test('a bad or missing token closes with 4401, on both protocols', async () => {
  for (const protocol of ['graphql-transport-ws', 'graphql-ws']) {
    assert.equal(await closeOf(protocol, [{ type: 'connection_init', payload: { authorization: 'Bearer nope' } }]), 4401, protocol);
    assert.equal(await closeOf(protocol, [{ type: 'connection_init', payload: {} }]), 4401, protocol);
  }
});

test('graphql-ws reports 4401 to its caller and does not retry', async () => {
  const code = await new Promise((resolve) => {
    const client = createClient({
      url: wsURL, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0, onNonLazyError: () => {},
      connectionParams: { authorization: 'Bearer nope' },
      on: { closed: (e) => resolve(e.code) },
    });
    client.on('error', () => {});
  });
  assert.equal(code, 4401);
});

test('no connection_init within the timeout closes with 4408', { timeout: 30000 }, async () => {
  assert.equal(await closeOf('graphql-transport-ws', []), 4408);
});

test('a foreign Origin is refused; allowed, same and no Origin are accepted', async () => {
  assert.equal(await closeOf('graphql-transport-ws', [], { origin: 'https://evil.example' }), 'http 403');
  for (const origin of [undefined, 'https://app.example', new URL(wsURL.replace(/^ws/, 'http')).origin]) {
    const ack = await new Promise((resolve, reject) => {
      const s = new WebSocket(wsURL, 'graphql-transport-ws', origin ? { origin } : {});
      s.on('open', () => s.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${adminToken}` } })));
      s.on('message', (m) => { s.close(); resolve(JSON.parse(m).type); });
      s.on('unexpected-response', (q, res) => { q.destroy(); reject(new Error(`${origin}: http ${res.statusCode}`)); });
      s.on('error', reject);
    });
    assert.equal(ack, 'connection_ack', String(origin));
  }
});

test('a message over 64 KiB closes with 1009', async () => {
  const big = { id: '1', type: 'subscribe', payload: { query: `subscription { myTaskProgress { mine { done } } }${' '.repeat(65 << 10)}` } };
  const code = await closeOf('graphql-transport-ws', [{ type: 'connection_init', payload: { authorization: `Bearer ${adminToken}` } }, big]);
  assert.equal(code, 1009);
});
