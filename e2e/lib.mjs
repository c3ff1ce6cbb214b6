// Helpers shared by the e2e tests: GraphQL over HTTP with fetch, graphql-ws
// clients over the ws package, and an event queue to assert pushes.
import { createHmac } from 'node:crypto';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

export const url = process.env.GATEHOUSE_URL;
export const wsURL = url.replace(/^http/, 'ws');
export const adminToken = process.env.GATEHOUSE_ADMIN_TOKEN;

// personToken signs an hour's JWT for a user with the server's secret, as
// `gatehouse token --email` does: nobody, IT admins included, can mint an
// API token for another person through the API.
export function personToken(userID) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ iss: 'gatehouse', sub: userID, iat: now, exp: now + 3600 })}`;
  const sig = createHmac('sha256', process.env.GATEHOUSE_JWT_SECRET).update(body).digest('base64url');
  return `${body}.${sig}`;
}

// gql posts one operation and returns data, throwing on GraphQL errors.
export async function gql(token, query, variables = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors?.length) throw new Error(`${query.slice(0, 60)}…: ${JSON.stringify(body.errors)}`);
  return body.data;
}

// wsClient opens a graphql-ws (graphql-transport-ws) client as token.
export function wsClient(token) {
  return createClient({
    url: wsURL,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    lazy: false,
    retryAttempts: 0,
    onNonLazyError: () => {},
  });
}

// Stream collects one subscription's results; next() awaits the next one.
export class Stream {
  constructor(client, query, variables = {}) {
    this.items = [];
    this.waiters = [];
    this.done = false;
    this.error = undefined;
    this.dispose = client.subscribe({ query, variables }, {
      next: (v) => this.push(v),
      error: (e) => { this.error = e; this.done = true; this.flush(); },
      complete: () => { this.done = true; this.flush(); },
    });
  }

  push(v) {
    const w = this.waiters.shift();
    if (w) w.resolve(v); else this.items.push(v);
  }

  flush() {
    for (const w of this.waiters.splice(0)) w.resolve(undefined);
  }

  // next resolves with the next result, or undefined once the stream ended.
  next(timeoutMs = 10000) {
    if (this.items.length) return Promise.resolve(this.items.shift());
    if (this.done) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const w = { resolve: (v) => { clearTimeout(timer); resolve(v); } };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`no event within ${timeoutMs}ms`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
