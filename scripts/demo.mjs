// The demo driver behind scripts/demo.sh: plain fetch() against the public REST API.
const [url = 'http://localhost:8000', secondsArg = '60'] = process.argv.slice(2);
const seconds = Number(secondsArg);
const password = 'chirpdemo';
const people = [
  ['alice', 'Alice Liddell'], ['bob', 'Bob Builder'], ['carol', 'Carol Danvers'],
  ['dave', 'Dave Bowman'], ['erin', 'Erin Brockovich'], ['frank', 'Frank Herbert'],
];
const lines = [
  'Shipping a new feature today #buildinpublic', 'Coffee first, then code ☕',
  'Who else is watching the launch? #space', 'Hot take: tabs are fine #dev',
  'Reading "Dune" again, still amazing #books', 'Lunch ideas? @{who}', 'Great talk by @{who} today!',
  'The weather is perfect for a walk #outside', 'Benchmarks look good: p99 under 10 ms #perf',
  'Refactoring day. Deleting more than adding. #cleanup',
];
const chats = ['hey!', 'did you see that?', 'lunch at noon?', 'sounds good 👍', 'on my way', 'haha'];

async function call(method, path, token, body) {
  const res = await fetch(url + path, {
    method,
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json };
}

const pick = (xs) => xs[Math.floor(Math.random() * xs.length)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const health = await fetch(url + '/healthz').catch(() => null);
  if (!health || !health.ok) {
    console.error(`chirpd is not answering at ${url}; start it with scripts/run.sh`);
    process.exit(1);
  }
  const users = {};
  for (const [handle, displayName] of people) {
    let r = await call('POST', '/api/auth/register', null, { handle, password, displayName });
    if (r.status === 409) r = await call('POST', '/api/auth/login', null, { handle, password });
    if (r.status >= 300) throw new Error(`cannot sign in ${handle}: ${JSON.stringify(r.json)}`);
    users[handle] = r.json.token;
  }
  const handles = Object.keys(users);
  for (const a of handles) for (const b of handles) {
    if (a !== b && Math.random() < 0.6) await call('POST', `/api/users/${b}/follow`, users[a]);
  }
  console.log(`demo users: ${handles.join(', ')} (password "${password}")`);
  console.log(`open ${url}, log in as one of them, and watch for ${seconds} s…`);
  const recent = [];
  const end = Date.now() + seconds * 1000;
  let n = 0;
  while (Date.now() < end) {
    const who = pick(handles);
    const roll = Math.random();
    if (roll < 0.45 || recent.length === 0) {
      const content = pick(lines).replace('{who}', pick(handles.filter((h) => h !== who)));
      const r = await call('POST', '/api/tweets', users[who], { content });
      if (r.status === 201) recent.push(r.json.id);
    } else if (roll < 0.7) {
      await call('POST', `/api/tweets/${pick(recent)}/like`, users[who]);
    } else if (roll < 0.78) {
      await call('POST', `/api/tweets/${pick(recent)}/retweet`, users[who]);
    } else if (roll < 0.85) {
      await call('POST', '/api/tweets', users[who], { content: `Replying: ${pick(chats)}`, replyTo: pick(recent) });
    } else if (roll < 0.9) {
      const other = pick(handles.filter((h) => h !== who));
      await call(Math.random() < 0.7 ? 'POST' : 'DELETE', `/api/users/${other}/follow`, users[who]);
    } else {
      const other = pick(handles.filter((h) => h !== who));
      const c = await call('POST', '/api/conversations', users[who], { participants: [other] });
      if (c.status < 300) await call('POST', `/api/conversations/${c.json.id}/messages`, users[who], { content: pick(chats) });
    }
    if (recent.length > 50) recent.shift();
    n += 1;
    await sleep(400 + Math.random() * 400);
  }
  console.log(`demo done: ${n} actions`);
}

main().catch((e) => { console.error(e.message); process.exit(1); });
