// The Gatehouse console, served at /app: sign-in, My Requests, Completed,
// a request's page, My Tasks and New request, over the public GraphQL API
// only (queries at /query, live numbers over graphql-ws). No inline script:
// the page loads this file from the server's origin.
import { render } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, download, getToken, gql, setToken, subscribe } from './api.js';
import { finishSignIn, oidcConfig, startSignIn } from './oidc.js';
import './console.css';

const COMPLETION = 'done total percent';

// ---- small pieces ----------------------------------------------------------

function pct(c) {
  return `${Math.round(c?.percent ?? 0)}%`;
}

// Bar shows a completion: a progress bar with the numbers beside it.
function Bar({ label, c, kind = 'overall' }) {
  const p = Math.max(0, Math.min(100, c?.percent ?? 0));
  return (
    <div class={`completion ${kind}`} data-percent={Math.round(p)}>
      <span class="completion-label">{label}</span>
      <div class="bar" role="progressbar" aria-label={`${label}: completion`} aria-valuemin="0" aria-valuemax="100" aria-valuenow={Math.round(p)}>
        <span style={{ width: `${p}%` }} />
      </div>
      <span class="completion-text">
        {pct(c)} <small>({c?.done ?? 0}/{c?.total ?? 0})</small>
      </span>
    </div>
  );
}

function Status({ s }) {
  return <span class={`status status-${String(s).toLowerCase()}`}>{String(s).replace(/_/g, ' ').toLowerCase()}</span>;
}

function ErrorNote({ error }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error.message}
      {error.code ? ` (${error.code})` : ''}
    </p>
  );
}

function roleName(r) {
  return { IT_ADMIN: 'IT admin', RISK_MANAGER: 'Risk manager', USER: 'User' }[r] ?? r;
}

function when(t) {
  return t ? new Date(t).toLocaleString() : '';
}

function link(path) {
  return `#${path}`;
}

// useQuery runs query when deps change; reload runs it again.
function useQuery(query, variables, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const seq = useRef(0);
  const reload = useCallback(() => {
    const n = ++seq.current;
    gql(query, variables).then(
      (data) => n === seq.current && setState({ data, error: null, loading: false }),
      (error) => n === seq.current && setState((s) => ({ ...s, error, loading: false })),
    );
  }, deps);
  useEffect(reload, [reload]);
  return [state, reload];
}

// useSubscription subscribes while mounted (and deps hold).
function useSubscription(query, variables, onData, deps, onError) {
  const handler = useRef(onData);
  handler.current = onData;
  useEffect(() => subscribe(query, variables, (d) => handler.current(d), onError), deps);
}

// ---- sign-in ----------------------------------------------------------------

function SignIn({ onToken, problem }) {
  const [demo, setDemo] = useState(null);
  const [pasted, setPasted] = useState('');
  const [error, setError] = useState(problem);
  const oidc = oidcConfig();
  const demoPath = document.querySelector('meta[name="gatehouse-demo-sign-in"]')?.content;
  useEffect(() => {
    if (!demoPath) return;
    fetch(demoPath)
      .then((r) => (r.ok ? r.json() : null))
      .then(setDemo, () => setDemo(null));
  }, []);
  const pick = async (email) => {
    setError(null);
    const r = await fetch(demoPath, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email }),
    });
    if (!r.ok) {
      setError(new Error(`demo sign-in failed: ${r.status}`));
      return;
    }
    onToken((await r.json()).token);
  };
  return (
    <main class="signin" id="main">
      <h1>Sign in to Gatehouse</h1>
      <ErrorNote error={error} />
      {oidc && (
        <section>
          <h2>Single sign-on</h2>
          <button type="button" class="primary" onClick={() => startSignIn(oidc).catch(setError)}>
            Sign in with {new URL(oidc.issuer).host}
          </button>
        </section>
      )}
      {demo?.length > 0 && (
        <section class="demo-users">
          <h2>Demo users</h2>
          <p>This server runs the demo organisation: pick a person to act as.</p>
          <ul>
            {demo.map((u) => (
              <li key={u.email}>
                <button type="button" data-email={u.email} onClick={() => pick(u.email)}>
                  <strong>{u.name}</strong> <span>{u.email}</span> <span class="role">{roleName(u.role)}</span>
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
      <section>
        <h2>Paste a token</h2>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (pasted.trim()) onToken(pasted.trim());
          }}
        >
          <label for="token">Bearer token (gatehouse token, an API token or an ID token)</label>
          <textarea id="token" name="token" rows="3" value={pasted} onInput={(e) => setPasted(e.currentTarget.value)} />
          <button type="submit">Sign in with this token</button>
        </form>
      </section>
    </main>
  );
}

// ---- request lists ------------------------------------------------------------

const LIST = `query($state: RequestState) { accessRequests(scope: MINE, state: $state, first: 50,
  orderBy: [{field: SUBMITTED_AT, direction: DESC}]) { edges { node {
  id action status submittedAt beneficiary { name } completion { ${COMPLETION} }
  items { id entitlement { name } application { name } } } } } }`;

const CHANGED = `subscription { accessRequestChanged(scope: MINE) { id status completion { ${COMPLETION} } } }`;

function RequestList({ state, title }) {
  const [{ data, error, loading }, reload] = useQuery(LIST, { state }, [state]);
  const [live, setLive] = useState({});
  useSubscription(
    CHANGED,
    {},
    (d) => {
      const r = d.accessRequestChanged;
      setLive((l) => ({ ...l, [r.id]: r }));
      reload();
    },
    [state],
  );
  const rows = data?.accessRequests.edges.map((e) => ({ ...e.node, ...live[e.node.id] })) ?? [];
  return (
    <main id="main">
      <h1>{title}</h1>
      <ErrorNote error={error} />
      {loading && <p>Loading…</p>}
      {!loading && rows.length === 0 && <p class="empty">No requests here.</p>}
      <ul class="cards">
        {rows.map((r) => (
          <li key={r.id} class="card" data-request={r.id}>
            <div class="card-head">
              <a href={link(`/requests/${r.id}`)}>
                {r.action === 'REVOKE' ? 'Revoke ' : ''}
                {r.items?.map((i) => `${i.application.name}: ${i.entitlement.name}`).join(', ') || r.id}
              </a>
              <Status s={r.status} />
            </div>
            <p class="meta">
              For {r.beneficiary.name} · submitted {when(r.submittedAt)}
            </p>
            <Bar label="Overall" c={r.completion} />
          </li>
        ))}
      </ul>
    </main>
  );
}

// ---- a request ------------------------------------------------------------------

const REQUEST = `query($id: ID!) { node(id: $id) { ... on AccessRequest {
  id action mode status justification submittedAt completedAt endsAt duration
  requester { id name email } beneficiary { id name email }
  completion { ${COMPLETION} } myCompletion { ${COMPLETION} }
  reviewerCompletions { reviewer { name email } completion { ${COMPLETION} } }
  items { id action status lastError fulfillmentNote entitlement { name } application { name }
    stages { id level reviewerKind rule quorum status
      tasks { id status comment decidedAt reviewer { id name email } } } } } }
  auditTrail(requestId: $id) { seq at action actor data } }`;

const PROGRESS = `subscription($id: ID!) { requestProgress(id: $id) { status overall { ${COMPLETION} } mine { ${COMPLETION} }
  reviewers { reviewer { name email } completion { ${COMPLETION} } } } }`;

function RequestPage({ id }) {
  const [{ data, error, loading }, reload] = useQuery(REQUEST, { id }, [id]);
  const [progress, setProgress] = useState(null);
  const [dlError, setDlError] = useState(null);
  useSubscription(
    PROGRESS,
    { id },
    (d) => {
      setProgress(d.requestProgress);
      reload();
    },
    [id],
  );
  const r = data?.node;
  if (loading && !r) return <main id="main"><p>Loading…</p></main>;
  if (!r) return <main id="main"><ErrorNote error={error ?? new Error('no such request')} /></main>;
  const overall = progress?.overall ?? r.completion;
  const reviewers = progress?.reviewers ?? r.reviewerCompletions;
  const reports = `/reports/access-requests/${r.id}/audit`;
  // The audit trail names actors by ID: the people of the request by name.
  const names = { system: 'system' };
  for (const u of [r.requester, r.beneficiary, ...r.items.flatMap((it) => it.stages.flatMap((s) => s.tasks.map((t) => t.reviewer)))]) {
    names[u.id] = u.name;
  }
  return (
    <main id="main" class="request" data-request={r.id}>
      <h1>
        {r.action === 'GRANT' ? 'Grant' : 'Revoke'} request <Status s={progress?.status ?? r.status} />
      </h1>
      <ErrorNote error={error} />
      <dl class="facts">
        <dt>Requester</dt>
        <dd>{r.requester.name}</dd>
        <dt>For</dt>
        <dd>{r.beneficiary.name}</dd>
        <dt>Submitted</dt>
        <dd>{when(r.submittedAt)}</dd>
        {r.completedAt && (
          <>
            <dt>Completed</dt>
            <dd>{when(r.completedAt)}</dd>
          </>
        )}
        {(r.endsAt || r.duration) && (
          <>
            <dt>Ends</dt>
            <dd>{r.endsAt ? when(r.endsAt) : `${r.duration} after provisioning`}</dd>
          </>
        )}
        <dt>Justification</dt>
        <dd>{r.justification || '—'}</dd>
      </dl>
      <Bar label="Overall" c={overall} />
      <section>
        <h2>Reviewers</h2>
        {reviewers.length === 0 && <p class="empty">No review: approved at once.</p>}
        <ul class="reviewers">
          {reviewers.map((rc) => (
            <li key={rc.reviewer.email} data-reviewer={rc.reviewer.email}>
              <Bar label={rc.reviewer.name} c={rc.completion} kind="reviewer" />
            </li>
          ))}
        </ul>
      </section>
      <section>
        <h2>Items</h2>
        {r.items.map((it) => (
          <article key={it.id} class="item">
            <h3>
              {it.action === 'REVOKE' ? 'Revoke ' : ''}
              {it.application.name}: {it.entitlement.name} <Status s={it.status} />
            </h3>
            {it.lastError && <p class="error">{it.lastError}</p>}
            {it.fulfillmentNote && <p>{it.fulfillmentNote}</p>}
            <ol class="stages">
              {it.stages.map((s) => (
                <li key={s.id}>
                  Stage {s.level}: {s.reviewerKind.replace(/_/g, ' ').toLowerCase()} ({s.rule === 'QUORUM' ? `${s.quorum} of` : s.rule.toLowerCase()}){' '}
                  <Status s={s.status} />
                  <ul>
                    {s.tasks.map((t) => (
                      <li key={t.id}>
                        {t.reviewer.name} <Status s={t.status} />
                        {t.comment && <q>{t.comment}</q>}
                      </li>
                    ))}
                  </ul>
                </li>
              ))}
            </ol>
          </article>
        ))}
      </section>
      <section>
        <h2>Audit trail</h2>
        <p class="downloads">
          Download:{' '}
          {['pdf', 'csv', 'json'].map((ext) => (
            <a
              key={ext}
              class="download"
              href={`${reports}.${ext}`}
              data-format={ext}
              onClick={(e) => {
                e.preventDefault();
                setDlError(null);
                download(`${reports}.${ext}`).catch(setDlError);
              }}
            >
              {ext.toUpperCase()}
            </a>
          ))}
        </p>
        <ErrorNote error={dlError} />
        <ol class="timeline">
          {data.auditTrail.map((ev) => (
            <li key={ev.seq}>
              <time datetime={ev.at}>{when(ev.at)}</time> <strong>{ev.action}</strong> <span class="actor" title={ev.actor}>
                {names[ev.actor] ?? ev.actor}
              </span>
            </li>
          ))}
        </ol>
      </section>
    </main>
  );
}

// ---- My Tasks ---------------------------------------------------------------------

const TASKS = `{ myTasks(first: 200) { edges { node { id status
  stage { level reviewerKind item { entitlement { name } application { name } } }
  request { id action status justification requester { name } beneficiary { name }
    completion { ${COMPLETION} } myCompletion { ${COMPLETION} } } } } } }`;

const TASK_PROGRESS = `subscription { myTaskProgress { request { id status } mine { ${COMPLETION} } overall { ${COMPLETION} } } }`;

function MyTasks() {
  const [{ data, error, loading }, reload] = useQuery(TASKS, {}, []);
  // Requests seen in this visit stay listed after their last pending task
  // is decided, so their numbers can still be watched.
  const [seen, setSeen] = useState({});
  const [numbers, setNumbers] = useState({});
  const [selected, setSelected] = useState({});
  const [comments, setComments] = useState({});
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState(null);
  useSubscription(TASK_PROGRESS, {}, (d) => {
    const p = d.myTaskProgress;
    setNumbers((n) => ({ ...n, [p.request.id]: { mine: p.mine, overall: p.overall, status: p.request.status } }));
    reload();
  }, []);
  const tasks = data?.myTasks.edges.map((e) => e.node) ?? [];
  useEffect(() => {
    if (!tasks.length) return;
    setSeen((s) => {
      const next = { ...s };
      for (const t of tasks) next[t.request.id] = t.request;
      return next;
    });
  }, [data]);
  const decide = async (ids, decision, comment) => {
    setBusy(true);
    setActionError(null);
    try {
      if (ids.length === 1) {
        await gql(`mutation($id: ID!, $d: Decision!, $c: String) { decideReviewTask(id: $id, decision: $d, comment: $c) { id status } }`, {
          id: ids[0],
          d: decision,
          c: comment || null,
        });
      } else {
        await gql(`mutation($ids: [ID!]!, $d: Decision!, $c: String) { decideReviewTasks(ids: $ids, decision: $d, comment: $c) { id status } }`, {
          ids,
          d: decision,
          c: comment || null,
        });
      }
      setSelected({});
      reload();
    } catch (e) {
      setActionError(e);
    } finally {
      setBusy(false);
    }
  };
  const [reassigning, setReassigning] = useState(null);
  const reassign = async (id, to, comment) => {
    setBusy(true);
    setActionError(null);
    try {
      await gql(`mutation($id: ID!, $to: ID!, $c: String) { reassignReviewTask(id: $id, toUserId: $to, comment: $c) { id } }`, {
        id,
        to: to.id,
        c: comment || null,
      });
      setReassigning(null);
      reload();
    } catch (e) {
      setActionError(e);
    } finally {
      setBusy(false);
    }
  };
  const requests = Object.values(seen);
  const chosen = Object.keys(selected).filter((k) => selected[k]);
  return (
    <main id="main">
      <h1>My Tasks</h1>
      <ErrorNote error={error} />
      <ErrorNote error={actionError} />
      {loading && <p>Loading…</p>}
      {!loading && requests.length === 0 && <p class="empty">Nothing to review.</p>}
      {chosen.length > 1 && (
        <div class="bulk" role="group" aria-label="Decide the selected tasks">
          <span>{chosen.length} selected</span>
          <button type="button" class="approve" disabled={busy} onClick={() => decide(chosen, 'APPROVE', comments.bulk)}>
            Approve selected
          </button>
          <button type="button" class="deny" disabled={busy} onClick={() => decide(chosen, 'DENY', comments.bulk)}>
            Deny selected
          </button>
        </div>
      )}
      <ul class="cards">
        {requests.map((req) => {
          const n = numbers[req.id] ?? { mine: req.myCompletion, overall: req.completion };
          const mine = tasks.filter((t) => t.request.id === req.id);
          return (
            <li key={req.id} class="card" data-request={req.id}>
              <div class="card-head">
                <a href={link(`/requests/${req.id}`)}>
                  {req.requester.name} asks to {req.action === 'GRANT' ? 'grant' : 'revoke'} for {req.beneficiary.name}
                </a>
                <Status s={n.status ?? req.status} />
              </div>
              {req.justification && <p class="meta">“{req.justification}”</p>}
              <Bar label="Your part" c={n.mine} kind="mine" />
              <Bar label="Overall" c={n.overall} />
              {mine.length === 0 && <p class="empty">No pending task of yours on this request.</p>}
              {mine.map((t) => (
                <div key={t.id} class="task" data-task={t.id}>
                  <input
                    type="checkbox"
                    id={`sel-${t.id}`}
                    checked={!!selected[t.id]}
                    onChange={(e) => setSelected((s) => ({ ...s, [t.id]: e.currentTarget.checked }))}
                  />
                  <label for={`sel-${t.id}`}>
                    {t.stage.item.application.name}: {t.stage.item.entitlement.name} · stage {t.stage.level} (
                    {t.stage.reviewerKind.replace(/_/g, ' ').toLowerCase()})
                  </label>
                  <label class="sr" for={`comment-${t.id}`}>
                    Comment
                  </label>
                  <input
                    type="text"
                    id={`comment-${t.id}`}
                    placeholder="Comment (optional)"
                    value={comments[t.id] ?? ''}
                    onInput={(e) => setComments((c) => ({ ...c, [t.id]: e.currentTarget.value }))}
                  />
                  <button type="button" class="approve" disabled={busy} onClick={() => decide([t.id], 'APPROVE', comments[t.id])}>
                    Approve
                  </button>
                  <button type="button" class="deny" disabled={busy} onClick={() => decide([t.id], 'DENY', comments[t.id])}>
                    Deny
                  </button>
                  <button type="button" aria-expanded={reassigning === t.id} onClick={() => setReassigning(reassigning === t.id ? null : t.id)}>
                    Reassign…
                  </button>
                  {reassigning === t.id && (
                    <div class="reassign">
                      <Search
                        id={`reassign-${t.id}`}
                        label="Reassign to"
                        query={searchUsers}
                        pick={(u) => reassign(t.id, u, comments[t.id])}
                        render={(u) => `${u.name} · ${u.email}`}
                      />
                    </div>
                  )}
                </div>
              ))}
            </li>
          );
        })}
      </ul>
      <Delegate />
    </main>
  );
}

// Delegate sets or ends the viewer's delegate: who reviews in their place,
// from and until when.
function Delegate() {
  const [{ data, error }, reload] = useQuery('{ viewer { id delegate { name email } delegateFrom delegateUntil } }', {}, []);
  const [to, setTo] = useState(null);
  const [from, setFrom] = useState('');
  const [until, setUntil] = useState('');
  const [actionError, setActionError] = useState(null);
  const v = data?.viewer;
  const set = (userId) =>
    gql('mutation($u: ID, $f: Time, $t: Time) { setDelegate(userId: $u, from: $f, until: $t) { id } }', {
      u: userId,
      f: userId && from ? new Date(from).toISOString() : null,
      t: userId && until ? new Date(until).toISOString() : null,
    }).then(() => (setTo(null), setActionError(null), reload()), setActionError);
  return (
    <section class="delegate">
      <h2>Delegate my reviews</h2>
      <ErrorNote error={error ?? actionError} />
      {v?.delegate ? (
        <p>
          {v.delegate.name} reviews in your place
          {v.delegateFrom ? ` from ${when(v.delegateFrom)}` : ''}
          {v.delegateUntil ? ` until ${when(v.delegateUntil)}` : ''}.{' '}
          <button type="button" onClick={() => set(null)}>
            Stop delegating
          </button>
        </p>
      ) : (
        <p class="empty">Nobody reviews in your place.</p>
      )}
      {to ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            set(to.id);
          }}
        >
          <p>
            Delegate to {to.name} ({to.email})
          </p>
          <label for="delegate-from">From (empty: now)</label>
          <input id="delegate-from" type="datetime-local" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
          <label for="delegate-until">Until (empty: until stopped)</label>
          <input id="delegate-until" type="datetime-local" value={until} onInput={(e) => setUntil(e.currentTarget.value)} />
          <p>
            <button type="submit" class="primary">
              Delegate
            </button>{' '}
            <button type="button" onClick={() => setTo(null)}>
              Cancel
            </button>
          </p>
        </form>
      ) : (
        <Search id="delegate" label="Find a delegate" query={searchUsers} pick={setTo} render={(u) => `${u.name} · ${u.email}`} />
      )}
    </section>
  );
}

// ---- New request -------------------------------------------------------------------

const PREVIEW = `query($in: SubmitAccessRequestInput!) { previewAccessRequest(input: $in) {
  beneficiary { name } autoApproved notes
  items { action privileged autoApproved entitlement { name } application { name }
    stages { level reviewerKind rule quorum reviewers { name email } } }
  excluded { entitlement { name } reason }
  accountsToCreate { name }
  errors { code message field } } }`;

function useDebounced(value, ms) {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

function Search({ id, label, query, pick, render: show }) {
  const [q, setQ] = useState('');
  const [hits, setHits] = useState([]);
  const dq = useDebounced(q, 200);
  useEffect(() => {
    if (!dq.trim()) {
      setHits([]);
      return;
    }
    let live = true;
    query(dq.trim()).then((h) => live && setHits(h), () => live && setHits([]));
    return () => {
      live = false;
    };
  }, [dq]);
  return (
    <div class="search">
      <label for={id}>{label}</label>
      <input id={id} type="search" autocomplete="off" value={q} onInput={(e) => setQ(e.currentTarget.value)} />
      {hits.length > 0 && (
        <ul class="hits" aria-label={`${label}: results`}>
          {hits.map((h) => (
            <li key={h.id}>
              <button
                type="button"
                onClick={() => {
                  pick(h);
                  setQ('');
                }}
              >
                {show(h)}
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function searchEntitlements(q) {
  return gql(
    `query($q: String!) { entitlements(first: 20, where: {requestable: true, or: [{nameContainsFold: $q}, {hasApplicationWith: {nameContainsFold: $q}}]}) {
      edges { node { id name privileged application { name } } } } }`,
    { q },
  ).then((d) => d.entitlements.edges.map((e) => e.node));
}

function searchUsers(q) {
  return gql(
    `query($q: String!) { users(first: 20, where: {or: [{nameContainsFold: $q}, {emailContainsFold: $q}]}) { edges { node { id name email } } } }`,
    { q },
  ).then((d) => d.users.edges.map((e) => e.node));
}

function searchNamed(field, q) {
  return gql(`query($q: String!) { ${field}(first: 20, where: {nameContainsFold: $q}) { edges { node { id name } } } }`, { q }).then((d) =>
    d[field].edges.map((e) => e.node),
  );
}

const MODES = [
  ['ENTITLEMENTS', 'Entitlements I choose'],
  ['LIKE_USER', 'Like a person'],
  ['LIKE_ROLE', 'A role'],
  ['LIKE_JOB_TITLE', 'Like a job title'],
];

function NewRequest({ viewer }) {
  const [action, setAction] = useState('GRANT');
  const [mode, setMode] = useState('ENTITLEMENTS');
  const [like, setLike] = useState(null);
  const [threshold, setThreshold] = useState('0.5');
  const [forSomeone, setForSomeone] = useState(false);
  const [beneficiary, setBeneficiary] = useState(null);
  const [ents, setEnts] = useState([]);
  const [justification, setJustification] = useState('');
  const [ending, setEnding] = useState('none');
  const [duration, setDuration] = useState('P30D');
  const [endsAt, setEndsAt] = useState('');
  const [preview, setPreview] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const likeField = { LIKE_USER: 'referenceUserId', LIKE_ROLE: 'roleId', LIKE_JOB_TITLE: 'jobTitleId' }[mode];
  const input = {
    action,
    mode,
    ...(mode === 'ENTITLEMENTS' ? { entitlementIds: ents.map((e) => e.id) } : {}),
    ...(likeField && like ? { [likeField]: like.id } : {}),
    ...(mode === 'LIKE_JOB_TITLE' && threshold !== '' ? { threshold: Number(threshold) } : {}),
    justification,
    ...(forSomeone && beneficiary ? { beneficiaryId: beneficiary.id } : {}),
    ...(action === 'GRANT' && ending === 'duration' && duration ? { duration } : {}),
    ...(action === 'GRANT' && ending === 'end' && endsAt ? { endsAt: new Date(endsAt).toISOString() } : {}),
  };
  const key = useDebounced(JSON.stringify(input), 250);
  useEffect(() => {
    const v = JSON.parse(key);
    if (v.mode === 'ENTITLEMENTS' ? !v.entitlementIds.length : !(v.referenceUserId || v.roleId || v.jobTitleId)) {
      setPreview(null);
      return;
    }
    let live = true;
    gql(PREVIEW, { in: v }).then(
      (d) => live && (setPreview({ key, ...d.previewAccessRequest }), setError(null)),
      (e) => live && (setPreview(null), setError(e)),
    );
    return () => {
      live = false;
    };
  }, [key]);
  const current = preview && preview.key === JSON.stringify(input);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const d = await gql(`mutation($in: SubmitAccessRequestInput!, $k: String) { submitAccessRequest(input: $in, idempotencyKey: $k) { id } }`, {
        in: input,
        k: crypto.randomUUID(),
      });
      location.hash = `/requests/${d.submitAccessRequest.id}`;
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="new-request">
      <h1>New request</h1>
      <form onSubmit={submit}>
        <fieldset>
          <legend>Action</legend>
          {['GRANT', 'REVOKE'].map((a) => (
            <label key={a} class="inline">
              <input type="radio" name="action" value={a} checked={action === a} onChange={() => setAction(a)} /> {a === 'GRANT' ? 'Grant' : 'Revoke'}
            </label>
          ))}
        </fieldset>
        <fieldset>
          <legend>For</legend>
          <label class="inline">
            <input type="radio" name="for" checked={!forSomeone} onChange={() => setForSomeone(false)} /> Me ({viewer.name})
          </label>
          <label class="inline">
            <input type="radio" name="for" checked={forSomeone} onChange={() => setForSomeone(true)} /> Someone else
          </label>
          {forSomeone &&
            (beneficiary ? (
              <p>
                {beneficiary.name} ({beneficiary.email}){' '}
                <button type="button" onClick={() => setBeneficiary(null)}>
                  Change
                </button>
              </p>
            ) : (
              <Search id="person" label="Find a person" query={searchUsers} pick={setBeneficiary} render={(u) => `${u.name} · ${u.email}`} />
            ))}
        </fieldset>
        <fieldset>
          <legend>What</legend>
          {MODES.map(([m, label]) => (
            <label key={m} class="inline">
              <input
                type="radio"
                name="mode"
                value={m}
                checked={mode === m}
                onChange={() => {
                  setMode(m);
                  setLike(null);
                }}
              />{' '}
              {label}
            </label>
          ))}
          {mode !== 'ENTITLEMENTS' &&
            (like ? (
              <p>
                {mode === 'LIKE_USER' ? 'What this person holds: ' : mode === 'LIKE_ROLE' ? 'The role: ' : 'What this job title commonly holds: '}
                <strong>{like.name}</strong>{' '}
                <button type="button" onClick={() => setLike(null)}>
                  Change
                </button>
              </p>
            ) : (
              <Search
                id="like"
                label={mode === 'LIKE_USER' ? 'Find the person' : mode === 'LIKE_ROLE' ? 'Find the role' : 'Find the job title'}
                query={mode === 'LIKE_USER' ? searchUsers : (q) => searchNamed(mode === 'LIKE_ROLE' ? 'roles' : 'jobTitles', q)}
                pick={setLike}
                render={(h) => (h.email ? `${h.name} · ${h.email}` : h.name)}
              />
            ))}
          {mode === 'LIKE_JOB_TITLE' && (
            <>
              <label for="threshold">Share of peers who must hold an entitlement (0 to 1)</label>
              <input id="threshold" type="number" min="0" max="1" step="0.05" value={threshold} onInput={(e) => setThreshold(e.currentTarget.value)} />
            </>
          )}
        </fieldset>
        {mode === 'ENTITLEMENTS' && (
        <fieldset>
          <legend>Entitlements</legend>
          <Search
            id="entitlement"
            label="Search entitlements or applications"
            query={searchEntitlements}
            pick={(h) => setEnts((es) => (es.some((e) => e.id === h.id) ? es : [...es, h]))}
            render={(h) => `${h.application.name}: ${h.name}${h.privileged ? ' (privileged)' : ''}`}
          />
          <ul class="chips" aria-label="Chosen entitlements">
            {ents.map((e) => (
              <li key={e.id}>
                {e.application.name}: {e.name}{' '}
                <button type="button" aria-label={`Remove ${e.name}`} onClick={() => setEnts((es) => es.filter((x) => x.id !== e.id))}>
                  ×
                </button>
              </li>
            ))}
          </ul>
        </fieldset>
        )}
        {action === 'GRANT' && (
          <fieldset>
            <legend>Ends</legend>
            <label class="inline">
              <input type="radio" name="ending" checked={ending === 'none'} onChange={() => setEnding('none')} /> Never
            </label>
            <label class="inline">
              <input type="radio" name="ending" checked={ending === 'duration'} onChange={() => setEnding('duration')} /> After
            </label>
            <label class="inline">
              <input type="radio" name="ending" checked={ending === 'end'} onChange={() => setEnding('end')} /> At
            </label>
            {ending === 'duration' && (
              <>
                <label for="duration">Duration from provisioning (ISO 8601, e.g. PT8H, P30D)</label>
                <input id="duration" value={duration} onInput={(e) => setDuration(e.currentTarget.value)} />
              </>
            )}
            {ending === 'end' && (
              <>
                <label for="ends-at">End time</label>
                <input id="ends-at" type="datetime-local" value={endsAt} onInput={(e) => setEndsAt(e.currentTarget.value)} />
              </>
            )}
          </fieldset>
        )}
        <label for="justification">Justification</label>
        <textarea id="justification" rows="3" value={justification} onInput={(e) => setJustification(e.currentTarget.value)} />
        <ErrorNote error={error} />
        <section class="preview" aria-live="polite" aria-label="Preview">
          <h2>Preview</h2>
          {!preview && <p class="empty">Choose entitlements to see what the request would do.</p>}
          {preview && (
            <>
              <p>
                For {preview.beneficiary.name}
                {preview.autoApproved ? ' · approved at once' : ''}
              </p>
              <ul class="preview-items">
                {preview.items.map((it, i) => (
                  <li key={i}>
                    <strong>
                      {it.action === 'REVOKE' ? 'Revoke ' : ''}
                      {it.application.name}: {it.entitlement.name}
                    </strong>
                    {it.privileged && <span class="status status-privileged">privileged</span>}
                    {it.autoApproved ? (
                      <p>Approved at once.</p>
                    ) : (
                      <ol>
                        {it.stages.map((s) => (
                          <li key={s.level}>
                            Stage {s.level}, {s.reviewerKind.replace(/_/g, ' ').toLowerCase()} ({s.rule === 'QUORUM' ? `${s.quorum} of` : s.rule.toLowerCase()}):{' '}
                            {s.reviewers.map((u) => u.name).join(', ') || 'nobody yet'}
                          </li>
                        ))}
                      </ol>
                    )}
                  </li>
                ))}
              </ul>
              {preview.accountsToCreate.length > 0 && <p>Accounts to create: {preview.accountsToCreate.map((a) => a.name).join(', ')}</p>}
              {preview.excluded.map((x, i) => (
                <p key={i}>
                  Left out: {x.entitlement.name} ({x.reason})
                </p>
              ))}
              {preview.notes.map((n, i) => (
                <p key={i} class="meta">
                  {n}
                </p>
              ))}
              {preview.errors.length > 0 && (
                <ul class="errors" role="alert">
                  {preview.errors.map((e, i) => (
                    <li key={i}>
                      {e.message} ({e.code}
                      {e.field ? `, ${e.field}` : ''})
                    </li>
                  ))}
                </ul>
              )}
            </>
          )}
        </section>
        <button type="submit" class="primary" disabled={busy || !current || preview.errors.length > 0 || preview.items.length === 0}>
          Submit request
        </button>
      </form>
    </main>
  );
}

// ---- fulfilment queue ---------------------------------------------------------------

const QUEUE = `{ manualFulfillments(first: 100) { edges { node { id action status reason lastError
  entitlement { name } application { name } request { id beneficiary { name email } } } } } }`;

function Fulfilment() {
  const [{ data, error, loading }, reload] = useQuery(QUEUE, {}, []);
  const [notes, setNotes] = useState({});
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState(null);
  useSubscription('subscription { accessRequestChanged(scope: VISIBLE) { id status } }', {}, () => reload(), []);
  const items = data?.manualFulfillments.edges.map((e) => e.node) ?? [];
  const complete = async (id, success) => {
    setBusy(true);
    setActionError(null);
    try {
      const n = notes[id] ?? {};
      await gql('mutation($id: ID!, $ok: Boolean!, $note: String, $ext: String) { completeManualFulfillment(itemId: $id, success: $ok, note: $note, externalId: $ext) { id status } }', {
        id,
        ok: success,
        note: n.note || null,
        ext: n.ext || null,
      });
      reload();
    } catch (e) {
      setActionError(e);
    } finally {
      setBusy(false);
    }
  };
  const edit = (id, k, v) => setNotes((all) => ({ ...all, [id]: { ...all[id], [k]: v } }));
  return (
    <main id="main">
      <h1>Fulfilment queue</h1>
      <p class="meta">Approved access to carry out by hand in its application, then to confirm here.</p>
      <ErrorNote error={error} />
      <ErrorNote error={actionError} />
      {loading && <p>Loading…</p>}
      {!loading && items.length === 0 && <p class="empty">Nothing waits for you.</p>}
      <ul class="cards">
        {items.map((it) => (
          <li key={it.id} class="card" data-item={it.id}>
            <div class="card-head">
              <a href={link(`/requests/${it.request.id}`)}>
                {it.action === 'REVOKE' ? 'Remove' : 'Give'} {it.application.name}: {it.entitlement.name} {it.action === 'REVOKE' ? 'from' : 'to'}{' '}
                {it.request.beneficiary.name}
              </a>
              <Status s={it.status} />
            </div>
            {it.lastError && <p class="error">{it.lastError}</p>}
            <div class="fulfil">
              <label for={`note-${it.id}`}>Note</label>
              <input id={`note-${it.id}`} value={notes[it.id]?.note ?? ''} onInput={(e) => edit(it.id, 'note', e.currentTarget.value)} />
              <label for={`ext-${it.id}`}>Account or ticket ID in the application (optional)</label>
              <input id={`ext-${it.id}`} value={notes[it.id]?.ext ?? ''} onInput={(e) => edit(it.id, 'ext', e.currentTarget.value)} />
              <p>
                <button type="button" class="approve" disabled={busy} onClick={() => complete(it.id, true)}>
                  Done
                </button>{' '}
                <button type="button" class="deny" disabled={busy} onClick={() => complete(it.id, false)}>
                  Could not do it
                </button>
              </p>
            </div>
          </li>
        ))}
      </ul>
    </main>
  );
}

// ---- notifications ----------------------------------------------------------------

const NOTIFICATIONS = `{ notifications(first: 50) { edges { node { id kind title body link readAt createdAt } } } }`;

function Notifications({ onRead }) {
  const [{ data, error, loading }, reload] = useQuery(NOTIFICATIONS, {}, []);
  const [actionError, setActionError] = useState(null);
  useSubscription('subscription { notificationAdded { id } }', {}, () => reload(), []);
  const items = data?.notifications.edges.map((e) => e.node) ?? [];
  const markRead = (vars) =>
    gql('mutation($ids: [ID!], $all: Boolean) { markNotificationsRead(ids: $ids, all: $all) }', vars).then(
      () => (reload(), onRead()),
      setActionError,
    );
  return (
    <main id="main">
      <h1>
        Notifications
        {items.some((n) => !n.readAt) && (
          <button type="button" onClick={() => markRead({ all: true })}>
            Mark all read
          </button>
        )}
      </h1>
      <ErrorNote error={error} />
      <ErrorNote error={actionError} />
      {loading && <p>Loading…</p>}
      {!loading && items.length === 0 && <p class="empty">No notifications.</p>}
      <ul class="cards">
        {items.map((n) => (
          <li key={n.id} class={`card${n.readAt ? '' : ' unread'}`} data-notification={n.id}>
            <div class="card-head">
              {n.link ? <a href={n.link.startsWith('/app/') ? link(n.link.slice(4)) : n.link}>{n.title}</a> : <span>{n.title}</span>}
              <time datetime={n.createdAt} class="meta">
                {when(n.createdAt)}
              </time>
            </div>
            {n.body && <p class="meta">{n.body}</p>}
            {!n.readAt && (
              <button type="button" onClick={() => markRead({ ids: [n.id] })}>
                Mark read
              </button>
            )}
          </li>
        ))}
      </ul>
    </main>
  );
}

// useUnread is the viewer's unread notification count, live.
function useUnread() {
  const [count, setCount] = useState(0);
  const refresh = useCallback(() => {
    gql('{ unreadNotificationCount }').then((d) => setCount(d.unreadNotificationCount), () => {});
  }, []);
  useEffect(refresh, [refresh]);
  useSubscription('subscription { notificationAdded { id } }', {}, refresh, []);
  return [count, refresh];
}

// ---- the shell ----------------------------------------------------------------------

function useRoute() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash.replace(/^#/, '') || '/requests';
}

const NAV = [
  ['/requests', 'My Requests'],
  ['/completed', 'Completed'],
  ['/tasks', 'My Tasks'],
  ['/new', 'New request'],
  ['/fulfilment', 'Fulfilment'],
];

function Shell({ viewer, signOut }) {
  const route = useRoute();
  const [unread, refreshUnread] = useUnread();
  let page;
  const m = /^\/requests\/(.+)$/.exec(route);
  if (m) page = <RequestPage id={decodeURIComponent(m[1])} />;
  else if (route === '/completed') page = <RequestList key="completed" state="COMPLETED" title="Completed" />;
  else if (route === '/tasks' || route.startsWith('/tasks/')) page = <MyTasks />;
  else if (route === '/new') page = <NewRequest viewer={viewer} />;
  else if (route === '/fulfilment') page = <Fulfilment />;
  else if (route === '/notifications' || route.startsWith('/settings/notifications')) page = <Notifications onRead={refreshUnread} />;
  else page = <RequestList key="open" state="OPEN" title="My Requests" />;
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>
        <span class="brand">Gatehouse</span>
        <nav aria-label="Console">
          {NAV.map(([path, label]) => (
            <a key={path} href={link(path)} aria-current={route === path ? 'page' : undefined}>
              {label}
            </a>
          ))}
          <a href={link('/notifications')} aria-current={route === '/notifications' ? 'page' : undefined}>
            Notifications{' '}
            <span class="badge" data-unread={unread} aria-label={`${unread} unread`}>
              {unread}
            </span>
          </a>
          <a href="/graphiql">GraphiQL</a>
        </nav>
        <span class="who">
          <span data-viewer={viewer.email}>{viewer.name}</span>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </span>
      </header>
      {page}
    </>
  );
}

function App() {
  const [token, setTok] = useState(getToken());
  const [viewer, setViewer] = useState(null);
  const [problem, setProblem] = useState(null);
  const [finishing, setFinishing] = useState(true);
  const use = (t) => {
    setToken(t);
    setTok(t);
  };
  useEffect(() => {
    const out = () => {
      setProblem(new Error('The session ended: sign in again.'));
      setViewer(null);
      use(null);
    };
    addEventListener('gatehouse:unauthenticated', out);
    return () => removeEventListener('gatehouse:unauthenticated', out);
  }, []);
  useEffect(() => {
    finishSignIn(oidcConfig())
      .then((t) => t && use(t), setProblem)
      .finally(() => setFinishing(false));
  }, []);
  useEffect(() => {
    if (!token || finishing) return;
    gql('{ viewer { id name email platformRole } }').then(
      (d) => setViewer(d.viewer),
      (e) => {
        setProblem(e instanceof ApiError && e.code === 'UNAUTHENTICATED' ? new Error('The token was refused: sign in again.') : e);
        use(null);
      },
    );
  }, [token, finishing]);
  if (finishing) return <p>Signing in…</p>;
  if (!token) return <SignIn onToken={(t) => (setProblem(null), use(t))} problem={problem} />;
  if (!viewer) return <p>Loading…</p>;
  return (
    <Shell
      viewer={viewer}
      signOut={() => {
        setViewer(null);
        use(null);
      }}
    />
  );
}

// A link into the console (/app/requests/req_…, as notifications give)
// becomes the same page's route (#/requests/req_…).
{
  const rest = location.pathname.replace(/^\/app\/?/, '');
  if (rest && !location.search.includes('code=')) history.replaceState(null, '', `/app#/${rest}`);
}

const root = document.getElementById('app');
root.textContent = '';
render(<App />, root);
