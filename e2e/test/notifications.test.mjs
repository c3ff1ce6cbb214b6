// notificationAdded through a real graphql-ws client: the reviewer of a new
// task receives its notification live, the same one the notifications query
// lists; the requester, who acted, is told nothing of it: the first
// notification the requester receives is the later decision on the request.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { gql, wsClient, Stream, adminToken, personToken, sleep } from '../lib.mjs';

const run = `n${Date.now().toString(36)}`;
const clients = [];
after(async () => { for (const c of clients) await c.dispose(); });

async function createUser(key, managerID) {
  const d = await gql(adminToken, `mutation($in: CreateUserInput!) { createUser(input: $in) { id email } }`,
    { in: { email: `${key}.${run}@e2e.example`, name: `${key.toUpperCase()} ${run}`, managerID } });
  return { id: d.createUser.id, email: d.createUser.email, token: personToken(d.createUser.id) };
}

const addedQ = `subscription { notificationAdded { id kind title link request { id } task { id } } }`;
const submitQ = `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id } }`;

test('notificationAdded pushes a reviewer their new task', async () => {
  const m = await createUser('m');
  const r = await createUser('r', m.id);
  const a = await gql(adminToken, `mutation($in: CreateApplicationInput!) { createApplication(input: $in) { id } }`,
    { in: { name: `Notes ${run}`, fulfillment: 'MANUAL', connectorKind: 'MANUAL', ownerIDs: [m.id] } });
  const app = a.createApplication.id;
  const entitlement = async (i) => (await gql(adminToken, `mutation($in: CreateEntitlementInput!) { createEntitlement(input: $in) { id } }`,
    { in: { externalID: `notes-${run}-${i}`, name: `Notes ${i}`, applicationID: app } })).createEntitlement.id;

  const wsM = wsClient(m.token);
  const wsR = wsClient(r.token);
  clients.push(wsM, wsR);
  const onM = new Stream(wsM, addedQ);
  const onR = new Stream(wsR, addedQ);
  // The subscriptions register asynchronously: submit until m's is live.
  const submitted = [];
  for (let i = 0; i < 30 && onM.items.length === 0; i++) {
    const ent = await entitlement(i);
    submitted.push((await gql(r.token, submitQ, { in: { action: 'GRANT', entitlementIds: [ent] } })).submitAccessRequest.id);
    await sleep(100);
  }
  const got = await onM.next();
  assert.ok(got, `the stream ended: ${onM.error ?? ''}`);
  assert.equal(got.errors, undefined, JSON.stringify(got.errors));
  const n = got.data.notificationAdded;
  assert.equal(n.kind, 'TASK_ASSIGNED');
  assert.ok(submitted.includes(n.request.id), 'about one of the submitted requests');
  assert.ok(n.task, 'it names the task');
  assert.equal(n.link, `/app/tasks/${n.task.id}`);

  const listed = await gql(m.token, `{ notifications(first: 50) { edges { node { id } } } unreadNotificationCount }`);
  assert.ok(listed.notifications.edges.some((e) => e.node.id === n.id), 'the pushed notification is listed');
  assert.ok(listed.unreadNotificationCount >= 1);

  // The proof that the submission told the requester nothing: its job
  // published m's notification, so anything it had for r was published
  // before the denial below exists; r's first notification is the denial.
  await gql(m.token, `mutation($id: ID!) { decideReviewTask(id: $id, decision: DENY) { id } }`, { id: n.task.id });
  const first = await onR.next();
  assert.ok(first, `the stream ended: ${onR.error ?? ''}`);
  assert.equal(first.errors, undefined, JSON.stringify(first.errors));
  assert.equal(first.data.notificationAdded.kind, 'REQUEST_DENIED', 'the requester acted and was told nothing before the decision');
  assert.equal(first.data.notificationAdded.request.id, n.request.id);
  onM.dispose();
  onR.dispose();
});
