// GraphiQL, served at /graphiql with everything it loads from this server:
// no CDN, no inline script (the page's Content-Security-Policy allows only
// 'self'). Queries go to /query over HTTP, subscriptions over graphql-ws.
// The Authorization header is pre-filled from the browser's session token
// (localStorage "gatehouse.token", which the console keeps) when present.
import './csp-nonce.js';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import 'graphiql/style.css';
import './graphiql.css';

const assets = document.currentScript?.src ? new URL('.', document.currentScript.src).pathname : '/assets/';

globalThis.MonacoEnvironment = {
  getWorker(_id, label) {
    const name = label === 'json' ? 'json' : label === 'graphql' ? 'graphql' : 'editor';
    return new Worker(`${assets}${name}.worker.js`);
  },
};

export const tokenKey = 'gatehouse.token';

function initialHeaders() {
  let token = null;
  try {
    token = window.localStorage.getItem(tokenKey);
  } catch {
    // storage disabled
  }
  return token ? JSON.stringify({ Authorization: `Bearer ${token}` }, null, 2) : undefined;
}

// /graphiql?query=… opens with that query (links to a query).
const initialQuery = new URLSearchParams(window.location.search).get('query') ?? undefined;

const wsURL = new URL('/query', window.location.href);
wsURL.protocol = wsURL.protocol === 'https:' ? 'wss:' : 'ws:';

const fetcher = createGraphiQLFetcher({ url: '/query', subscriptionUrl: wsURL.href });

createRoot(document.getElementById('graphiql')).render(
  <GraphiQL
    fetcher={fetcher}
    initialQuery={initialQuery}
    initialHeaders={initialHeaders()}
    defaultEditorToolsVisibility="headers"
  />,
);
