// OpenID Connect sign-in as a public client: the authorization code flow
// with PKCE (S256). The server names its provider in the page's
// <meta name="gatehouse-oidc"> when GATEHOUSE_OIDC_ISSUER is set; the ID
// token the provider returns is the bearer token the API accepts.

const pendingKey = 'gatehouse.oidc';

export function oidcConfig() {
  const m = document.querySelector('meta[name="gatehouse-oidc"]');
  if (!m?.dataset.authUrl || !m.dataset.tokenUrl || !m.dataset.clientId) return null;
  return { issuer: m.dataset.issuer, clientId: m.dataset.clientId, authUrl: m.dataset.authUrl, tokenUrl: m.dataset.tokenUrl };
}

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function random() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

function redirectURI() {
  return location.origin + location.pathname;
}

// startSignIn sends the browser to the provider.
export async function startSignIn(cfg) {
  const verifier = random();
  const state = random();
  const challenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  sessionStorage.setItem(pendingKey, JSON.stringify({ verifier, state }));
  const u = new URL(cfg.authUrl);
  u.search = new URLSearchParams({
    response_type: 'code',
    client_id: cfg.clientId,
    redirect_uri: redirectURI(),
    scope: 'openid email profile',
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  location.assign(u.href);
}

// finishSignIn completes a sign-in when the page is the provider's
// redirect (?code=…&state=…): it returns the ID token, or null when the
// page is not a redirect; it throws when the exchange fails.
export async function finishSignIn(cfg) {
  const params = new URLSearchParams(location.search);
  const code = params.get('code');
  const error = params.get('error');
  if (!code && !error) return null;
  history.replaceState(null, '', redirectURI() + location.hash);
  const pending = JSON.parse(sessionStorage.getItem(pendingKey) ?? 'null');
  sessionStorage.removeItem(pendingKey);
  if (error) throw new Error(`sign-in refused: ${params.get('error_description') || error}`);
  if (!cfg || !pending || pending.state !== params.get('state')) throw new Error('sign-in failed: unexpected state');
  const res = await fetch(cfg.tokenUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectURI(),
      client_id: cfg.clientId,
      code_verifier: pending.verifier,
    }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok || !body.id_token) throw new Error(`sign-in failed: ${body.error_description || body.error || res.status}`);
  return body.id_token;
}
