// The console's link to the server: GraphQL queries and mutations over
// HTTP (/query), subscriptions over graphql-ws, both with the session's
// bearer token, and the report downloads.
import { createClient } from 'graphql-ws';

export const tokenKey = 'gatehouse.token';

export function getToken() {
  try {
    return localStorage.getItem(tokenKey);
  } catch {
    return null;
  }
}

export function setToken(token) {
  try {
    if (token) localStorage.setItem(tokenKey, token);
    else localStorage.removeItem(tokenKey);
  } catch {
    // storage disabled: the session lasts as long as the page
  }
  closeSocket();
}

// ApiError carries the first GraphQL error's message and code.
export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

function apiError(errors) {
  const e = errors?.[0] ?? {};
  return new ApiError(e.message ?? 'request failed', e.extensions?.code);
}

// gql runs a query or mutation and returns its data; it throws ApiError.
export async function gql(query, variables = {}) {
  const res = await fetch('/query', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${getToken()}` },
    body: JSON.stringify({ query, variables }),
  });
  let body = null;
  try {
    body = await res.json();
  } catch {
    // not JSON: judged by the status below
  }
  if (body?.data && !body.errors?.length) return body.data;
  const err = body?.errors?.length
    ? apiError(body.errors)
    : new ApiError(`the server answered ${res.status}`, res.status === 401 ? 'UNAUTHENTICATED' : undefined);
  // An expired or revoked token ends the session: the console signs out.
  if (err.code === 'UNAUTHENTICATED') dispatchEvent(new CustomEvent('gatehouse:unauthenticated'));
  throw err;
}

let socket = null;

function client() {
  if (!socket) {
    const url = new URL('/query', location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    socket = createClient({
      url: url.href,
      connectionParams: () => ({ Authorization: `Bearer ${getToken()}` }),
      retryAttempts: 1000,
      shouldRetry: () => true,
      lazy: true,
    });
  }
  return socket;
}

function closeSocket() {
  if (socket) {
    socket.dispose();
    socket = null;
  }
}

// subscribe calls onData with each event's data, onError with an ApiError;
// it returns the function that ends the subscription.
export function subscribe(query, variables, onData, onError) {
  return client().subscribe(
    { query, variables },
    {
      next: (msg) => (msg.errors?.length ? onError?.(apiError(msg.errors)) : onData(msg.data)),
      error: (err) => onError?.(Array.isArray(err) ? apiError(err) : new ApiError(String(err?.reason || err?.message || err))),
      complete: () => {},
    },
  );
}

// download fetches a report with the session's token and saves it under
// the name the server gives.
export async function download(href) {
  const res = await fetch(href, { headers: { Authorization: `Bearer ${getToken()}` } });
  if (!res.ok) throw new ApiError(`download failed: ${res.status}`);
  const blob = await res.blob();
  const name = /filename="?([^";]+)"?/.exec(res.headers.get('Content-Disposition') ?? '')?.[1] ?? href.split('/').pop();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}
