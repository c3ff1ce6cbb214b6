// DESIGN §4.3's worked example played through HTTP while real graphql-ws
// clients are subscribed as the requester, each reviewer, and a user with
// no access: every pushed number is asserted, and the outsider receives
// nothing about the request.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { gql, wsClient, Stream, adminToken, personToken, sleep } from '../lib.mjs';

const run = Date.now().toString(36);
const clients = [];
after(async () => { for (const c of clients) await c.dispose(); });

const c = (done, total, percent) => ({ done, total, percent });

async function createUser(key, managerID) {
  const d = await gql(adminToken, `mutation($in: CreateUserInput!) { createUser(input: $in) { id email } }`,
    { in: { email: `${key}.${run}@e2e.example`, name: `${key.toUpperCase()} ${run}`, managerID } });
  return { id: d.createUser.id, email: d.createUser.email, token: personToken(d.createUser.id) };
}

async function createApp(name, owners, stages) {
  const a = await gql(adminToken, `mutation($in: CreateApplicationInput!) { createApplication(input: $in) { id } }`,
    { in: { name: `${name} ${run}`, fulfillment: 'MANUAL', connectorKind: 'MANUAL', ownerIDs: owners.map((u) => u.id) } });
  const id = a.createApplication.id;
  const e = await gql(adminToken, `mutation($in: CreateEntitlementInput!) { createEntitlement(input: $in) { id } }`,
    { in: { externalID: `${name}-${run}`, name: `${name} users`, applicationID: id } });
  for (const [i, s] of stages.entries()) {
    await gql(adminToken, `mutation($in: CreateReviewStageTemplateInput!) { createReviewStageTemplate(input: $in) { id } }`,
      { in: { applicationID: id, level: i + 1, ...s } });
  }
  return { app: id, ent: e.createEntitlement.id };
}

async function addEntitlement(app, name) {
  const e = await gql(adminToken, `mutation($in: CreateEntitlementInput!) { createEntitlement(input: $in) { id } }`,
    { in: { externalID: `${name}-${run}`, name, applicationID: app } });
  return e.createEntitlement.id;
}

const submitQ = `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id } }`;
const requestProgressQ = `subscription($id: ID!) { requestProgress(id: $id) {
  request { id } status overall { done total percent } mine { done total percent }
  reviewers { reviewer { email } completion { done total percent } } } }`;
const myTaskProgressQ = `subscription { myTaskProgress { request { id } mine { done total percent } overall { done total percent } } }`;
const changedQ = `subscription($scope: RequestScope) { accessRequestChanged(scope: $scope) { id status } }`;

// nextOf returns the next result of stream about request id, skipping
// others (the probe request), and fails on GraphQL errors.
async function nextOf(stream, id, field) {
  for (;;) {
    const r = await stream.next();
    assert.ok(r, `the stream ended: ${stream.error ?? ''}`);
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    const v = r.data[field];
    const rid = v.request ? v.request.id : v.id;
    if (rid === id) return v;
  }
}

test('§4.3 worked example, pushed live to every party', async () => {
  const m = await createUser('m');
  const [o1, o2, o3, u] = await Promise.all(['o1', 'o2', 'o3', 'u'].map((k) => createUser(k)));
  const r = await createUser('r', m.id);
  const x = (await createApp('X', [o1], [{ reviewerKind: 'MANAGER' }, { reviewerKind: 'APPLICATION_OWNER' }])).ent;
  const y = (await createApp('Y', [o2, o3], [{ reviewerKind: 'MANAGER' }, { reviewerKind: 'APPLICATION_OWNER', rule: 'ANY' }])).ent;
  // Probe requests, whose audience is everybody but the requester's
  // reviewers, prove each subscription live before the example starts.
  const z = await createApp('Z', [u], [{ reviewerKind: 'DESIGNATED', designatedReviewerIDs: [m, o1, o2, o3, u].map((p) => p.id) }]);

  const ws = {};
  for (const p of [m, o1, o2, o3, r, u]) {
    ws[p.email] = wsClient(p.token);
    clients.push(ws[p.email]);
  }
  const tasks = {};
  for (const p of [m, o1, o2, o3, r, u]) tasks[p.email] = new Stream(ws[p.email], myTaskProgressQ);
  const rMine = new Stream(ws[r.email], changedQ, { scope: 'MINE' });
  const uVisible = new Stream(ws[u.email], changedQ, { scope: 'VISIBLE' });

  // Subscriptions register asynchronously: probe until each has an event.
  const probes = [];
  const probed = [...[m, o1, o2, o3, u].map((p) => tasks[p.email]), rMine, uVisible];
  const live = (s) => s.items.some((v) => probes.some((pid) => JSON.stringify(v).includes(pid)));
  for (let i = 0; i < 30 && !probed.every(live); i++) {
    const ent = i === 0 ? z.ent : await addEntitlement(z.app, `probe ${i}`);
    probes.push((await gql(r.token, submitQ, { in: { action: 'GRANT', entitlementIds: [ent], justification: 'probe' } })).submitAccessRequest.id);
    await sleep(100);
  }
  assert.ok(probed.every(live), 'every subscription is live');
  await sleep(200); // r's myTaskProgress cannot be probed: r reviews nothing

  const id = (await gql(r.token, submitQ, { in: { action: 'GRANT', entitlementIds: [x, y], justification: 'worked example' } })).submitAccessRequest.id;

  // Submission: every assignee's My Tasks moves; the requester's list too.
  const expectTask = async (p, overall, mine, step) => {
    const ev = await nextOf(tasks[p.email], id, 'myTaskProgress');
    assert.deepEqual({ overall: ev.overall, mine: ev.mine }, { overall, mine }, `${p.email} myTaskProgress after ${step}`);
  };
  await expectTask(m, c(0, 5, 0), c(0, 2, 0), 'submission');
  for (const p of [o1, o2, o3]) await expectTask(p, c(0, 5, 0), c(0, 1, 0), 'submission');
  assert.deepEqual(await nextOf(rMine, id, 'accessRequestChanged'), { id, status: 'PENDING_REVIEW' });

  // requestProgress: the snapshot at once.
  const progress = {};
  for (const p of [r, m, o3]) progress[p.email] = new Stream(ws[p.email], requestProgressQ, { id });
  const expectProgress = async (p, overall, mine, step, status) => {
    const ev = await nextOf(progress[p.email], id, 'requestProgress');
    assert.deepEqual({ overall: ev.overall, mine: ev.mine }, { overall, mine }, `${p.email} requestProgress after ${step}`);
    if (status) assert.equal(ev.status, status, step);
    return ev;
  };
  const snap = await expectProgress(r, c(0, 5, 0), c(0, 0, 100), 'subscribing', 'PENDING_REVIEW');
  assert.deepEqual(Object.fromEntries(snap.reviewers.map((rc) => [rc.reviewer.email, rc.completion])),
    { [m.email]: c(0, 2, 0), [o1.email]: c(0, 1, 0), [o2.email]: c(0, 1, 0), [o3.email]: c(0, 1, 0) });
  await expectProgress(m, c(0, 5, 0), c(0, 2, 0), 'subscribing');
  await expectProgress(o3, c(0, 5, 0), c(0, 1, 0), 'subscribing');

  // The outsider may not subscribe to the request.
  const denied = new Stream(ws[u.email], requestProgressQ, { id });
  const refusal = await denied.next();
  assert.ok(refusal?.errors?.length || denied.error, 'an error for the outsider');
  assert.match(JSON.stringify(refusal?.errors ?? denied.error), /NOT_FOUND/);

  const detail = await gql(r.token, `query($id: ID!) { node(id: $id) { ... on AccessRequest {
    items { id entitlement { id } stages { tasks { id reviewer { id } } } } } } }`, { id });
  const task = (ent, who) => detail.node.items.find((it) => it.entitlement.id === ent)
    .stages.flatMap((s) => s.tasks).find((t) => t.reviewer.id === who.id).id;
  const decide = (who, ent, decision) => gql(who.token,
    `mutation($id: ID!, $d: Decision!) { decideReviewTask(id: $id, decision: $d) { id } }`, { id: task(ent, who), d: decision });

  let step = 'M approves X';
  await decide(m, x, 'APPROVE');
  await expectProgress(r, c(1, 5, 20), c(0, 0, 100), step);
  await expectProgress(m, c(1, 5, 20), c(1, 2, 50), step);
  await expectProgress(o3, c(1, 5, 20), c(0, 1, 0), step);
  await expectTask(m, c(1, 5, 20), c(1, 2, 50), step);
  for (const p of [o1, o2, o3]) await expectTask(p, c(1, 5, 20), c(0, 1, 0), step);

  step = 'M approves Y';
  await decide(m, y, 'APPROVE');
  await expectProgress(r, c(2, 5, 40), c(0, 0, 100), step);
  await expectProgress(m, c(2, 5, 40), c(2, 2, 100), step);
  await expectProgress(o3, c(2, 5, 40), c(0, 1, 0), step);
  await expectTask(m, c(2, 5, 40), c(2, 2, 100), step);
  for (const p of [o1, o2, o3]) await expectTask(p, c(2, 5, 40), c(0, 1, 0), step);

  step = 'O2 approves Y (O3 skipped)';
  await decide(o2, y, 'APPROVE');
  await expectProgress(r, c(4, 5, 80), c(0, 0, 100), step);
  await expectProgress(m, c(4, 5, 80), c(2, 2, 100), step);
  await expectProgress(o3, c(4, 5, 80), c(1, 1, 100), step);
  await expectTask(m, c(4, 5, 80), c(2, 2, 100), step);
  await expectTask(o1, c(4, 5, 80), c(0, 1, 0), step);
  await expectTask(o2, c(4, 5, 80), c(1, 1, 100), step);
  await expectTask(o3, c(4, 5, 80), c(1, 1, 100), step);

  step = 'O1 denies X';
  await decide(o1, x, 'DENY');
  await expectProgress(r, c(5, 5, 100), c(0, 0, 100), step, 'FULFILLING');
  await expectProgress(m, c(5, 5, 100), c(2, 2, 100), step);
  await expectTask(o1, c(5, 5, 100), c(1, 1, 100), step);
  for (const p of [m, o2, o3]) await expectTask(p, c(5, 5, 100), p === m ? c(2, 2, 100) : c(1, 1, 100), step);

  // Y is fulfilled by hand: the status moves, the numbers stay.
  const yItem = detail.node.items.find((it) => it.entitlement.id === y).id;
  await gql(adminToken, `mutation($id: ID!) { completeManualFulfillment(itemId: $id, success: true, externalId: "e2e") { id } }`, { id: yItem });
  const last = await expectProgress(r, c(5, 5, 100), c(0, 0, 100), 'manual fulfilment', 'PARTIALLY_COMPLETED');
  assert.deepEqual(Object.fromEntries(last.reviewers.map((rc) => [rc.reviewer.email, rc.completion])),
    { [m.email]: c(2, 2, 100), [o1.email]: c(1, 1, 100), [o2.email]: c(1, 1, 100), [o3.email]: c(1, 1, 100) });
  for (;;) {
    const ch = await nextOf(rMine, id, 'accessRequestChanged');
    if (ch.status === 'PARTIALLY_COMPLETED') break;
  }

  // Nothing about the request reached those without a part in it.
  await sleep(500);
  const about = (s) => s.items.filter((v) => JSON.stringify(v).includes(id));
  assert.deepEqual(about(tasks[u.email]), [], 'the outsider has no task events about it');
  assert.deepEqual(about(uVisible), [], 'the outsider sees no change of it');
  assert.deepEqual(about(tasks[r.email]), [], 'the requester reviews nothing');
});
