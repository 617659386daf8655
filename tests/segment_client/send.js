// send.js -- feeds profiled through the real @segment/analytics-node
// releases (1.x sends HTTP Basic, 2.x-3.0 only a body writeKey, 3.1 both),
// then reads every event back through the events API and checks none is
// missing or doubled.  usage: node send.js BASE_URL TOKEN TENANT_PATH COUNT
'use strict';
const [base, token, tenantPath, countArg] = process.argv.slice(2);
const count = Number(countArg || 1000);
const releases = ['analytics-node-1', 'analytics-node-2', 'analytics-node-3.0', 'analytics-node-3.1'];

async function send(pkg, n, users) {
  const { Analytics } = require(pkg);
  const analytics = new Analytics({ writeKey: token, host: base, path: '/v1/batch', flushInterval: 200, maxRetries: 5 });
  const errors = [];
  analytics.on('error', (e) => errors.push(e));
  const sent = [];
  for (let i = 0; i < n; i++) {
    const userId = `${pkg}-user-${i % users}`;
    // the library sets its own messageId: events are told apart by a property
    const seq = `${pkg}-${i}`;
    if (i < users) analytics.identify({ userId, traits: { email: `${userId}@example.com`, release: pkg } });
    analytics.track({ userId, event: 'Segment Client Event', properties: { seq } });
    sent.push({ userId, seq });
  }
  await analytics.closeAndFlush({ timeout: 30000 });
  if (errors.length) {
    const r = errors[0].reason || {};
    throw new Error(`${pkg}: ${errors.length} delivery errors; first: ${r.message || r.code || JSON.stringify(r)} ${r.cause ? r.cause.code || r.cause.message : ''} ${r.status || ''}`);
  }
  return sent;
}

async function readBack(userId) {
  const seen = new Set();
  let url = `${base}${tenantPath}/profiles/userId:${encodeURIComponent(userId)}/events?limit=100&sort=asc`;
  for (let page = 0; page < 1000; page++) {
    const res = await fetch(url, { headers: { 'auth-token': token } });
    if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
    const body = await res.json();
    for (const e of body.data) {
      const seq = e.rawData && e.rawData.properties && e.rawData.properties.seq;
      if (seen.has(seq)) throw new Error(`event ${seq} returned twice`);
      seen.add(seq);
    }
    if (body.data.length < 100) break;
    url = `${base}${tenantPath}/profiles/userId:${encodeURIComponent(userId)}/events?scrollId=${body.scrollId}`;
  }
  return seen;
}

(async () => {
  let total = 0;
  for (const pkg of releases) {
    // the newest release carries the full 1,000; the others prove their wire format
    const n = pkg === 'analytics-node-3.1' ? count : 100;
    const users = 10;
    const sent = await send(pkg, n, users);
    const byUser = new Map();
    for (const s of sent) byUser.set(s.userId, (byUser.get(s.userId) || []).concat(s.seq));
    for (const [userId, ids] of byUser) {
      const seen = await readBack(userId);
      for (const id of ids) if (!seen.has(id)) throw new Error(`${pkg}: event ${id} of ${userId} not stored`);
      if (seen.size !== ids.length) throw new Error(`${pkg}: ${userId} has ${seen.size} events, sent ${ids.length}`);
    }
    console.log(`${pkg}: ${n} events sent and read back`);
    total += n;
  }
  console.log(`${total} passed, 0 failed`);
})().catch((e) => {
  console.error(`segment client test: ${e.stack || e}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
});
