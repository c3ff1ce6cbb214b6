// graphql-http's server audits against /query: no error and no warning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAudits } from 'graphql-http';
import { url, adminToken } from '../lib.mjs';

test('GraphQL over HTTP: serverAudits report 0 errors and 0 warnings', async () => {
  // The audits send no credentials; every request carries the admin's.
  const fetchFn = (input, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${adminToken}`);
    return fetch(input, { ...init, headers });
  };
  const results = [];
  for (const audit of serverAudits({ url, fetchFn })) {
    const r = await audit.fn();
    results.push({ id: audit.id, name: audit.name, status: r.status, reason: r.reason });
  }
  const problems = results.filter((r) => r.status === 'error' || r.status === 'warn');
  assert.ok(results.length > 40, `ran ${results.length} audits`);
  assert.deepEqual(problems, []);
  const notices = results.filter((r) => r.status === 'notice');
  if (notices.length) console.log('notices:', notices);
});
