#!/usr/bin/env node
// Validates the real responses of a running chirpd against docs/openapi.yaml.
//
// Calls every operation of the spec (success and the main error cases) against $CHIRP_URL
// and checks each response's status, content type, documented headers and body with Ajv
// (JSON Schema 2020-12, strict). Fails when a response does not match, when an operation of
// the spec was never answered successfully, or when the route table in src/ has a route
// that the spec does not describe (or the spec one that the server does not have).
// scripts/test.sh runs it as stage `api-spec` against a fresh chirpd with real PostgreSQL
// and Redis; by hand: CHIRP_URL=http://127.0.0.1:8000 npm run api-spec (a chirpd started
// with --fast-password-hash; it creates users with random handles).
//
// Ends with the line "N passed, M failed" (exit 1 on any failure).
import { fileURLToPath } from 'node:url';
import { Spec, errorCodes, errorsText, routeTable, templateKey } from './openapi.mjs';
import { openStream, upgrade } from './streams.mjs';

const BASE = (process.env.CHIRP_URL || '').replace(/\/+$/, '');
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SPEC_FILE = process.env.CHIRP_OPENAPI || `${ROOT}docs/openapi.yaml`;

// Served outside the route table (src/http/server.cpp hands them to the session code).
const OUTSIDE_ROUTE_TABLE = ['GET /api/stream', 'GET /ws'];

let passed = 0;
let failed = 0;
const failures = [];
const answered = new Map(); // "METHOD /template" → Set of statuses seen

function pass() {
    passed += 1;
}
function fail(msg) {
    failed += 1;
    failures.push(msg);
    console.error(`FAIL ${msg}`);
}
function expect(cond, msg) {
    if (cond) pass();
    else fail(msg);
}

const rand = () => Math.random().toString(36).slice(2, 8);

let spec;

/** Reads a fetch Response into {status, contentType, headers, text, json}. */
async function collect(res) {
    const text = await res.text();
    let json;
    try {
        json = text ? JSON.parse(text) : undefined;
    } catch {
        json = undefined;
    }
    return { status: res.status, contentType: res.headers.get('content-type'), headers: res.headers, text, json };
}

/**
 * One request, checked against the spec. opts: token, body (JSON), raw (string body),
 * contentType, headers, expect (status). Returns the collected response.
 */
async function call(method, pathAndQuery, opts = {}) {
    const headers = { Accept: 'application/json', ...(opts.headers ?? {}) };
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
    let body;
    if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['Content-Type'] = 'application/json';
    } else if (opts.raw !== undefined) {
        body = opts.raw;
    }
    if (opts.contentType) headers['Content-Type'] = opts.contentType;
    const res = await collect(await fetch(BASE + pathAndQuery, { method, headers, body }));
    const path = pathAndQuery.split('?')[0];
    const label = `${method} ${pathAndQuery}${opts.what ? ` (${opts.what})` : ''}`;
    if (opts.expect !== undefined && res.status !== opts.expect) {
        fail(`${label}: expected ${opts.expect}, got ${res.status} ${res.text.slice(0, 200)}`);
    }
    const { op, problems } = spec.check(method, path, res);
    if (op) {
        const key = `${op.method} ${op.path}`;
        if (!answered.has(key)) answered.set(key, new Set());
        answered.get(key).add(res.status);
    }
    if (problems.length) fail(problems.join('\n  '));
    else pass();
    return res;
}

/** A response that no operation answers (unknown path, wrong method): against components/responses/NAME. */
async function callOutside(method, path, name, expectStatus) {
    const res = await collect(await fetch(BASE + path, { method }));
    const where = `${method} ${path} → ${res.status}`;
    if (res.status !== expectStatus) return fail(`${where}: expected ${expectStatus}`);
    const problems = spec.checkResponse({ $ref: `#/components/responses/${name}` }, res, where);
    if (problems.length) fail(problems.join('\n  '));
    else pass();
    return res;
}

// ---- SSE --------------------------------------------------------------------------------

async function until(fn, ms, what) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
        if (fn()) return true;
        await new Promise((r) => setTimeout(r, 50));
    }
    fail(`timed out after ${ms} ms waiting for ${what}`);
    return false;
}

/** Checks the stream's response and every frame against the spec; returns the parsed events. */
function checkStream(s, label) {
    const { res } = s;
    const fake = { status: res.status, contentType: res.headers.get('content-type'), headers: res.headers, text: s.text };
    const { op, problems } = spec.check('GET', '/api/stream', fake);
    if (op) {
        if (!answered.has('GET /api/stream')) answered.set('GET /api/stream', new Set());
        answered.get('GET /api/stream').add(res.status);
    }
    if (problems.length) fail(`${label}: ${problems.join('; ')}`);
    else pass();
    const dataSchema = spec.doc.paths['/api/stream'].get.responses['200'].content['text/event-stream']['x-chirp-data-schema'];
    const events = [];
    for (const f of s.frames) {
        if (f.data.length === 0) continue;
        let data;
        try {
            data = JSON.parse(f.data.join('\n'));
        } catch (err) {
            fail(`${label}: data is not JSON (${err.message}): ${f.data.join('\\n').slice(0, 200)}`);
            continue;
        }
        const isControl = f.event === 'control';
        const v = spec.schema(isControl ? '#/components/schemas/ControlMessage' : dataSchema);
        if (!v(data)) {
            fail(`${label}: ${f.event} frame does not match ${isControl ? 'ControlMessage' : 'StreamEvent'}: ${errorsText(v.errors)}\n    data: ${f.data.join('').slice(0, 600)}`);
            continue;
        }
        if (!isControl) {
            const ok = /^[1-9][0-9]*$/.test(f.id ?? '') && ['timeline', 'notifications', 'messages'].includes(f.event);
            if (!ok) {
                fail(`${label}: event frame without a seq id or a channel name: id=${f.id} event=${f.event}`);
                continue;
            }
        }
        pass();
        events.push({ channel: f.event, seq: f.id, data });
    }
    return events;
}

// ---- WebSocket upgrade ---------------------------------------------------------------------

async function checkUpgrade(res, expectStatus, what) {
    if (res.status !== expectStatus) fail(`GET /ws (${what}): expected ${expectStatus}, got ${res.status} ${res.text.slice(0, 200)}`);
    const { op, problems } = spec.check('GET', '/ws', res);
    if (op) {
        if (!answered.has('GET /ws')) answered.set('GET /ws', new Set());
        answered.get('GET /ws').add(res.status);
    }
    if (problems.length) fail(`GET /ws (${what}): ${problems.join('; ')}`);
    else pass();
}

// ---- the scenario -----------------------------------------------------------------------

async function scenario() {
    const sfx = rand();
    const pw = 'correct horse battery';

    // Operations.
    await call('GET', '/healthz', { expect: 200 });
    await call('GET', '/readyz', { expect: 200 });
    await call('GET', '/metrics', { expect: 200 });
    await call('GET', '/api/stats', { expect: 200 });

    // Accounts.
    const reg = async (handle, extra = {}) =>
        (await call('POST', '/api/auth/register', { body: { handle, password: pw, displayName: `${handle} Name` }, expect: 201, ...extra })).json;
    const A = await reg(`al_${sfx}`);
    const B = await reg(`bo_${sfx}`);
    const C = await reg(`ca_${sfx}`, { headers: { 'Idempotency-Key': `reg-${sfx}` } });
    const again = await call('POST', '/api/auth/register', {
        body: { handle: `ca_${sfx}`, password: pw, displayName: `ca_${sfx} Name` },
        headers: { 'Idempotency-Key': `reg-${sfx}` },
        expect: 201,
        what: 'idempotent replay',
    });
    expect(again.headers.get('idempotent-replayed') === 'true', 'a replayed register answers Idempotent-Replayed: true');
    for (const u of [A, B, C]) if (!u?.token) throw new Error('register gave no token; cannot go on');
    await call('POST', '/api/auth/register', { body: { handle: `al_${sfx}`, password: pw }, expect: 409, what: 'handle taken' });
    await call('POST', '/api/auth/register', { body: { handle: 'x', password: pw }, expect: 422, what: 'bad handle' });
    await call('POST', '/api/auth/register', { body: { handle: `d_${sfx}`, password: 'short' }, expect: 422, what: 'short password' });
    await call('POST', '/api/auth/register', { raw: '{"handle":', contentType: 'application/json', expect: 400, what: 'malformed JSON' });
    await call('POST', '/api/auth/register', { raw: 'handle=x', contentType: 'text/plain', expect: 415, what: 'not JSON' });
    await call('POST', '/api/auth/register', {
        raw: JSON.stringify({ handle: `e_${sfx}`, password: 'x'.repeat(70 * 1024) }),
        contentType: 'application/json',
        expect: 413,
        what: 'body over 64 KiB',
    });
    await call('POST', '/api/auth/register', {
        body: { handle: `f_${sfx}`, password: pw },
        headers: { 'Idempotency-Key': 'has space' },
        expect: 400,
        what: 'bad Idempotency-Key',
    });

    await call('POST', '/api/auth/login', { body: { handle: A.user.handle, password: pw }, expect: 200 });
    await call('POST', '/api/auth/login', { body: { handle: A.user.handle, password: 'wrong password' }, expect: 401, what: 'bad password' });
    await call('POST', '/api/auth/login', { body: { handle: A.user.handle }, expect: 422, what: 'no password' });
    await call('POST', '/api/auth/login', { raw: '{', contentType: 'application/json', expect: 400, what: 'malformed JSON' });
    await call('POST', '/api/auth/login', { raw: 'x', contentType: 'text/plain', expect: 415, what: 'not JSON' });
    const ghost = `gh_${sfx}`;
    for (let i = 0; i < 5; i++) await call('POST', '/api/auth/login', { body: { handle: ghost, password: pw }, expect: 401, what: `unknown handle #${i + 1}` });
    const limited = await call('POST', '/api/auth/login', { body: { handle: ghost, password: pw }, expect: 429, what: 'throttled' });
    expect(/^[0-9]+$/.test(limited.headers.get('retry-after') ?? ''), '429 carries Retry-After');

    await call('GET', '/api/me', { token: A.token, expect: 200 });
    await call('GET', '/api/me', { expect: 401, what: 'no token' });
    await call('GET', '/api/me', { token: `${A.token.slice(0, -3)}abc`, expect: 401, what: 'tampered token' });
    await call('GET', '/api/me', { headers: { Authorization: 'Basic abc' }, expect: 401, what: 'not Bearer' });

    // Users and follows.
    const [a, b, c] = [A.user.handle, B.user.handle, C.user.handle];
    await call('GET', `/api/users?q=al_&limit=5`, { expect: 200 });
    await call('GET', `/api/users?q=al_${sfx}`, { token: B.token, expect: 200 });
    await call('GET', '/api/users?limit=0', { expect: 400, what: 'limit 0' });
    await call('GET', `/api/users?q=${'a'.repeat(16)}`, { expect: 400, what: 'q too long' });
    await call('GET', `/api/users/${a}`, { expect: 200 });
    const seen = await call('GET', `/api/users/${a}`, { token: B.token, expect: 200, what: 'with followedByMe' });
    expect(seen.json?.followedByMe === false, 'another user sees followedByMe');
    await call('GET', '/api/users/no-such-handle!', { expect: 404, what: 'invalid handle' });
    await call('GET', `/api/users/zz_${sfx}`, { expect: 404, what: 'unknown user' });

    await call('POST', `/api/users/${a}/follow`, { token: B.token, expect: 200 });
    await call('POST', `/api/users/${a}/follow`, { token: C.token, expect: 200 });
    await call('POST', `/api/users/${b}/follow`, { token: A.token, expect: 200 });
    await call('POST', `/api/users/${c}/follow`, { token: A.token, expect: 200 });
    await call('DELETE', `/api/users/${c}/follow`, { token: A.token, expect: 200 });
    await call('POST', `/api/users/${a}/follow`, { token: A.token, expect: 422, what: 'yourself' });
    await call('POST', `/api/users/zz_${sfx}/follow`, { token: A.token, expect: 404, what: 'unknown user' });
    await call('POST', `/api/users/${a}/follow`, { expect: 401, what: 'no token' });
    await call('DELETE', `/api/users/${a}/follow`, { expect: 401, what: 'no token' });

    const fl = await call('GET', `/api/users/${a}/followers?limit=1`, { expect: 200 });
    expect(typeof fl.json?.nextCursor === 'string', 'a full page has a nextCursor');
    await call('GET', `/api/users/${a}/followers?limit=1&before=${fl.json?.nextCursor}`, { token: B.token, expect: 200 });
    await call('GET', `/api/users/${a}/followers?before=abc`, { expect: 400, what: 'bad cursor' });
    await call('GET', `/api/users/zz_${sfx}/followers`, { expect: 404, what: 'unknown user' });
    await call('GET', `/api/users/${a}/following`, { token: A.token, expect: 200 });
    await call('GET', `/api/users/zz_${sfx}/following`, { expect: 404, what: 'unknown user' });
    await call('GET', `/api/users/${a}/following?limit=abc`, { expect: 400, what: 'bad limit' });
    await call('DELETE', `/api/users/zz_${sfx}/follow`, { token: A.token, expect: 404, what: 'unknown user' });
    await call('DELETE', `/api/users/${a}/follow`, { token: A.token, expect: 422, what: 'yourself' });
    await call('POST', `/api/users/${a}/follow`, { token: C.token, headers: { 'Idempotency-Key': 'x'.repeat(201) }, expect: 400, what: 'key too long' });

    // Tweets.
    const t1 = (await call('POST', '/api/tweets', { token: A.token, body: { content: `hello @${b} #spec ${sfx}` }, expect: 201 })).json;
    const t2 = (await call('POST', '/api/tweets', { token: A.token, body: { content: 'second' }, headers: { 'Idempotency-Key': `t2-${sfx}` }, expect: 201 })).json;
    const t2again = await call('POST', '/api/tweets', {
        token: A.token,
        body: { content: 'second' },
        headers: { 'Idempotency-Key': `t2-${sfx}` },
        expect: 201,
        what: 'idempotent replay',
    });
    expect(t2again.json?.id === t2?.id && t2again.headers.get('idempotent-replayed') === 'true', 'a replayed tweet is the same tweet');
    await call('POST', '/api/tweets', { token: A.token, body: { content: 'different' }, headers: { 'Idempotency-Key': `t2-${sfx}` }, expect: 409, what: 'key reused' });
    const reply = (await call('POST', '/api/tweets', { token: B.token, body: { content: `@${a} a reply`, replyTo: t1.id }, expect: 201 })).json;
    await call('POST', '/api/tweets', { token: B.token, body: { content: 'x', replyTo: '999999999' }, expect: 404, what: 'reply to nothing' });
    await call('POST', '/api/tweets', { token: A.token, body: { content: '   ' }, expect: 422, what: 'empty' });
    await call('POST', '/api/tweets', { token: A.token, body: { content: 'x'.repeat(281) }, expect: 422, what: 'too long' });
    await call('POST', '/api/tweets', { token: A.token, body: { content: 5 }, expect: 422, what: 'not a string' });
    await call('POST', '/api/tweets', { token: A.token, raw: '[1]', contentType: 'application/json', expect: 400, what: 'not an object' });
    await call('POST', '/api/tweets', { body: { content: 'x' }, expect: 401, what: 'no token' });

    await call('GET', `/api/tweets/${t1.id}`, { expect: 200 });
    await call('GET', `/api/tweets/${t1.id}`, { token: B.token, expect: 200 });
    await call('GET', '/api/tweets/abc', { expect: 404, what: 'bad id' });
    await call('GET', '/api/tweets/999999999', { expect: 404, what: 'unknown' });

    await call('POST', `/api/tweets/${t1.id}/like`, { token: B.token, expect: 200 });
    await call('POST', `/api/tweets/${t1.id}/like`, { token: B.token, expect: 200, what: 'again' });
    await call('POST', `/api/tweets/${t2.id}/like`, { token: A.token, expect: 200 });
    await call('DELETE', `/api/tweets/${t2.id}/like`, { token: A.token, expect: 200 });
    await call('POST', '/api/tweets/999999999/like', { token: B.token, expect: 404, what: 'unknown' });
    await call('DELETE', '/api/tweets/999999999/like', { token: B.token, expect: 404, what: 'unknown' });
    await call('POST', `/api/tweets/${t1.id}/like`, { expect: 401, what: 'no token' });
    await call('POST', `/api/tweets/${t1.id}/like`, { token: C.token, headers: { 'Idempotency-Key': `lk-${sfx}` }, expect: 200, what: 'with a key' });
    await call('POST', `/api/tweets/${t2.id}/like`, { token: C.token, headers: { 'Idempotency-Key': `lk-${sfx}` }, expect: 409, what: 'key reused' });
    await call('POST', `/api/tweets/${t2.id}/like`, { token: C.token, headers: { 'Idempotency-Key': '' }, expect: 200, what: 'empty key: none' });
    await call('DELETE', `/api/tweets/${t2.id}/like`, { token: C.token, headers: { 'Idempotency-Key': 'bad key' }, expect: 400, what: 'bad key' });
    await call('DELETE', `/api/tweets/${t1.id}/like`, { expect: 401, what: 'no token' });
    const rt = (await call('POST', `/api/tweets/${t1.id}/retweet`, { token: B.token, expect: 201 })).json;
    expect(rt?.retweetOf?.id === t1.id, 'a retweet embeds the original');
    await call('GET', `/api/tweets/${rt.id}`, { token: A.token, expect: 200, what: 'a retweet' });
    await call('POST', `/api/tweets/${t1.id}/retweet`, { token: B.token, expect: 409, what: 'twice' });
    await call('POST', `/api/tweets/${rt.id}/retweet`, { token: B.token, expect: 409, what: 'the retweet of a retweet' });
    await call('POST', '/api/tweets/999999999/retweet', { token: B.token, expect: 404, what: 'unknown' });
    await call('POST', `/api/tweets/${t1.id}/retweet`, { expect: 401, what: 'no token' });

    await call('GET', `/api/tweets/${t1.id}/replies`, { token: A.token, expect: 200 });
    await call('GET', `/api/tweets/${t1.id}/replies?limit=1`, { expect: 200 });
    await call('GET', '/api/tweets/999999999/replies', { expect: 404, what: 'unknown' });
    await call('GET', `/api/users/${b}/tweets`, { token: A.token, expect: 200 });
    await call('GET', `/api/users/${a}/tweets?limit=1`, { expect: 200 });
    await call('GET', `/api/users/zz_${sfx}/tweets`, { expect: 404, what: 'unknown user' });
    await call('GET', `/api/users/${a}/tweets?before=0`, { expect: 400, what: 'bad cursor' });
    await call('GET', `/api/tweets/${t1.id}/replies?limit=-1`, { expect: 400, what: 'bad limit' });

    await call('DELETE', `/api/tweets/${reply.id}`, { token: A.token, expect: 403, what: "another's" });
    await call('DELETE', `/api/tweets/${reply.id}`, { expect: 401, what: 'no token' });
    const t3 = (await call('POST', '/api/tweets', { token: A.token, body: { content: 'to be deleted' }, expect: 201 })).json;
    await call('DELETE', `/api/tweets/${t3.id}`, { token: A.token, expect: 200 });
    await call('DELETE', `/api/tweets/${t3.id}`, { token: A.token, expect: 404, what: 'already deleted' });
    await call('GET', `/api/tweets/${t3.id}`, { expect: 404, what: 'deleted' });

    // Timeline, notifications, audit trail.
    const tl = await call('GET', '/api/timeline?limit=2', { token: A.token, expect: 200 });
    expect(typeof tl.json?.nextCursor === 'string', 'a full timeline page has a nextCursor');
    await call('GET', `/api/timeline?limit=2&before=${tl.json?.nextCursor}`, { token: A.token, expect: 200 });
    await call('GET', '/api/timeline', { token: B.token, expect: 200 });
    await call('GET', '/api/timeline?limit=101', { token: A.token, expect: 400, what: 'limit 101' });
    await call('GET', '/api/timeline', { expect: 401, what: 'no token' });

    // Direct messages (before notifications, so there is a "message" notification).
    const conv = (await call('POST', '/api/conversations', { token: A.token, body: { participants: [b] }, expect: 201 })).json;
    await call('POST', '/api/conversations', { token: A.token, body: { participants: [b] }, expect: 200, what: 'the same people' });
    await call('POST', '/api/conversations', { token: A.token, body: { participants: [`zz_${sfx}`] }, expect: 404, what: 'unknown person' });
    await call('POST', '/api/conversations', { token: A.token, body: { participants: [] }, expect: 422, what: 'nobody' });
    await call('POST', '/api/conversations', { token: A.token, body: { participants: [a] }, expect: 422, what: 'only yourself' });
    await call('POST', '/api/conversations', { body: { participants: [b] }, expect: 401, what: 'no token' });
    await call('POST', '/api/conversations', { token: A.token, raw: '{"participants": [', contentType: 'application/json', expect: 400, what: 'malformed JSON' });
    await call('POST', '/api/conversations', { token: A.token, raw: 'participants=b', contentType: 'application/x-www-form-urlencoded', expect: 415, what: 'a form' });
    await call('POST', `/api/conversations/${conv.id}/messages`, { token: A.token, body: { content: 'hi bob' }, expect: 201 });
    await call('POST', `/api/conversations/${conv.id}/messages`, { token: B.token, body: { content: 'hi alice' }, expect: 201 });
    await call('POST', `/api/conversations/${conv.id}/messages`, { token: C.token, body: { content: 'let me in' }, expect: 403, what: 'not in it' });
    await call('POST', `/api/conversations/${conv.id}/messages`, { token: A.token, body: { content: '' }, expect: 422, what: 'empty' });
    await call('POST', '/api/conversations/999999999/messages', { token: A.token, body: { content: 'x' }, expect: 404, what: 'unknown' });
    await call('POST', `/api/conversations/${conv.id}/messages`, { body: { content: 'x' }, expect: 401, what: 'no token' });
    await call('POST', `/api/conversations/${conv.id}/messages`, { token: A.token, raw: 'x', contentType: 'text/plain', expect: 415, what: 'not JSON' });
    await call('POST', `/api/conversations/${conv.id}/messages`, { token: A.token, body: { content: 'x'.repeat(1001) }, expect: 422, what: 'too long' });
    const msgs = await call('GET', `/api/conversations/${conv.id}/messages?limit=1`, { token: B.token, expect: 200 });
    await call('GET', `/api/conversations/${conv.id}/messages?before=${msgs.json?.nextCursor}`, { token: B.token, expect: 200 });
    await call('GET', `/api/conversations/${conv.id}/messages`, { token: C.token, expect: 403, what: 'not in it' });
    await call('GET', '/api/conversations/999999999/messages', { token: A.token, expect: 404, what: 'unknown' });
    await call('GET', '/api/conversations/abc/messages', { token: A.token, expect: 404, what: 'bad id' });
    await call('GET', `/api/conversations/${conv.id}/messages?before=x`, { token: A.token, expect: 400, what: 'bad cursor' });
    await call('GET', `/api/conversations/${conv.id}/messages`, { expect: 401, what: 'no token' });
    await call('GET', '/api/conversations', { token: A.token, expect: 200 });
    await call('GET', '/api/conversations', { token: C.token, expect: 200, what: 'none' });
    await call('GET', '/api/conversations?limit=1', { token: A.token, expect: 200, what: 'a page of one' });
    await call('GET', '/api/conversations?limit=101', { token: A.token, expect: 400, what: 'limit over 100' });
    await call('GET', '/api/conversations', { expect: 401, what: 'no token' });

    // Collaborative drafts (A owns, B collaborates, C is a stranger).
    const dr = (await call('POST', '/api/drafts', { token: A.token, body: { text: `draft #d${sfx} @${b}` }, expect: 201 })).json;
    await call('POST', '/api/drafts', { token: A.token, body: {}, headers: { 'Idempotency-Key': `dr-${sfx}` }, expect: 201, what: 'empty' });
    await call('POST', '/api/drafts', { token: A.token, body: {}, headers: { 'Idempotency-Key': `dr-${sfx}` }, expect: 201, what: 'idempotent replay' });
    await call('POST', '/api/drafts', { token: A.token, body: { text: 'x'.repeat(1001) }, expect: 422, what: 'too long' });
    await call('POST', '/api/drafts', { body: {}, expect: 401, what: 'no token' });
    await call('POST', '/api/drafts', { token: A.token, raw: 'x', contentType: 'text/plain', expect: 415, what: 'not JSON' });
    await call('GET', '/api/drafts', { token: A.token, expect: 200 });
    await call('GET', '/api/drafts?limit=1', { token: A.token, expect: 200, what: 'a page of one' });
    await call('GET', '/api/drafts?before=x', { token: A.token, expect: 400, what: 'bad cursor' });
    await call('GET', '/api/drafts', { expect: 401, what: 'no token' });
    await call('GET', `/api/drafts/${dr.id}`, { token: A.token, expect: 200 });
    await call('GET', `/api/drafts/${dr.id}`, { token: C.token, expect: 404, what: 'a stranger' });
    await call('GET', '/api/drafts/abc', { token: A.token, expect: 404, what: 'bad id' });
    await call('GET', `/api/drafts/${dr.id}`, { expect: 401, what: 'no token' });
    await call('POST', `/api/drafts/${dr.id}/collaborators`, { token: A.token, body: { handle: b }, expect: 200 });
    await call('POST', `/api/drafts/${dr.id}/collaborators`, { token: A.token, body: { handle: c }, expect: 200, what: 'a second one' });
    await call('POST', `/api/drafts/${dr.id}/collaborators`, { token: A.token, body: { handle: b }, expect: 422, what: 'already in' });
    await call('POST', `/api/drafts/${dr.id}/collaborators`, { token: A.token, body: { handle: `zz_${sfx}` }, expect: 404, what: 'unknown user' });
    await call('POST', `/api/drafts/${dr.id}/collaborators`, { token: B.token, body: { handle: a }, expect: 403, what: 'not the owner' });
    await call('POST', `/api/drafts/${dr.id}/collaborators`, { token: A.token, body: {}, expect: 422, what: 'no handle' });
    await call('POST', `/api/drafts/${dr.id}/collaborators`, { token: A.token, raw: '{', contentType: 'application/json', expect: 400, what: 'malformed JSON' });
    await call('POST', `/api/drafts/${dr.id}/collaborators`, { body: { handle: b }, expect: 401, what: 'no token' });
    await call('POST', `/api/drafts/${dr.id}/collaborators`, { token: A.token, raw: 'x', contentType: 'text/plain', expect: 415, what: 'not JSON' });
    await call('DELETE', `/api/drafts/${dr.id}/collaborators/${c}`, { token: C.token, expect: 200, what: 'leaves' });
    await call('DELETE', `/api/drafts/${dr.id}/collaborators/${a}`, { token: B.token, expect: 403, what: 'not the owner' });
    await call('DELETE', `/api/drafts/${dr.id}/collaborators/${c}`, { token: A.token, expect: 404, what: 'not in it' });
    await call('POST', `/api/drafts/${dr.id}/collaborators`, { token: A.token, body: { handle: c }, expect: 200, what: 'again' });
    await call('DELETE', `/api/drafts/${dr.id}/collaborators/${c}`, { token: A.token, expect: 200, what: 'the owner removes' });
    await call('DELETE', `/api/drafts/${dr.id}/collaborators/${b}`, { expect: 401, what: 'no token' });
    await call('GET', '/api/notifications', { token: B.token, expect: 200, what: 'a draft_invite' });
    await call('POST', `/api/drafts/${dr.id}/publish`, { token: A.token, body: { version: 1 }, expect: 409, what: 'moved on' });
    await call('POST', `/api/drafts/${dr.id}/publish`, { token: B.token, body: { version: 0 }, expect: 403, what: 'not the owner' });
    await call('POST', `/api/drafts/${dr.id}/publish`, { token: A.token, body: {}, expect: 422, what: 'no version' });
    await call('POST', `/api/drafts/${dr.id}/publish`, { token: A.token, raw: 'x', contentType: 'text/plain', expect: 415, what: 'not JSON' });
    await call('POST', `/api/drafts/${dr.id}/publish`, { body: { version: 0 }, expect: 401, what: 'no token' });
    const blank = (await call('POST', '/api/drafts', { token: A.token, body: { text: '  ' }, expect: 201, what: 'blank' })).json;
    await call('POST', `/api/drafts/${blank.id}/publish`, { token: A.token, body: { version: 0 }, expect: 422, what: 'blank' });
    await call('DELETE', `/api/drafts/${blank.id}`, { token: B.token, expect: 404, what: 'a stranger' });
    await call('DELETE', `/api/drafts/${blank.id}`, { token: A.token, expect: 204 });
    await call('DELETE', `/api/drafts/${blank.id}`, { token: A.token, expect: 404, what: 'closed' });
    await call('DELETE', `/api/drafts/${dr.id}`, { token: B.token, expect: 403, what: 'not the owner' });
    await call('DELETE', `/api/drafts/${dr.id}`, { expect: 401, what: 'no token' });
    await call('POST', `/api/drafts/${dr.id}/publish`, { token: A.token, body: { version: 0 }, expect: 201 });
    await call('POST', `/api/drafts/${dr.id}/publish`, { token: A.token, body: { version: 0 }, expect: 404, what: 'closed' });
    await call('GET', `/api/drafts/${dr.id}`, { token: B.token, expect: 404, what: 'published' });

    const notes = await call('GET', '/api/notifications', { token: A.token, expect: 200 });
    const kinds = new Set((notes.json?.items ?? []).map((n) => n.type));
    for (const k of ['like', 'retweet', 'reply', 'follow', 'mention', 'message']) {
        if (k !== 'mention') expect(kinds.has(k), `alice has a "${k}" notification to validate (has ${[...kinds].join(', ')})`);
    }
    expect((await call('GET', '/api/notifications', { token: B.token, expect: 200 })).json?.items?.some((n) => n.type === 'mention'), 'bob has a "mention" notification');
    await call('GET', '/api/notifications?limit=1&before=abc', { token: A.token, expect: 400, what: 'bad cursor' });
    await call('GET', '/api/notifications', { expect: 401, what: 'no token' });
    await call('POST', '/api/notifications/read', { token: A.token, body: { upTo: notes.json?.items?.at(-1)?.seq }, expect: 200 });
    await call('POST', '/api/notifications/read', { token: A.token, expect: 200, what: 'all, no body' });
    await call('POST', '/api/notifications/read', { token: A.token, body: { upTo: 'abc' }, expect: 422, what: 'bad upTo' });
    await call('POST', '/api/notifications/read', { token: A.token, raw: '{', contentType: 'application/json', expect: 400, what: 'malformed JSON' });
    await call('POST', '/api/notifications/read', { token: A.token, raw: 'x', contentType: 'text/plain', expect: 415, what: 'not JSON' });
    await call('POST', '/api/notifications/read', { expect: 401, what: 'no token' });

    const ev = await call('GET', '/api/events?limit=3', { token: A.token, expect: 200 });
    await call('GET', `/api/events?limit=100&after=${ev.json?.nextCursor}`, { token: A.token, expect: 200 });
    const all = await call('GET', '/api/events?limit=100', { token: A.token, expect: 200 });
    const types = new Set((all.json?.items ?? []).map((e) => e.type));
    // DraftUpdated is appended over the WebSocket only (draft_push, docs/protocol.md).
    for (const t of spec.doc.components.schemas.EventType.enum.filter((x) => x !== 'DraftUpdated')) {
        expect(types.has(t), `alice's audit trail has a ${t} event to validate (has ${[...types].join(', ')})`);
    }
    await call('GET', '/api/events?after=x', { token: A.token, expect: 400, what: 'bad cursor' });
    await call('GET', '/api/events', { expect: 401, what: 'no token' });

    // Server-Sent Events: live events of every kind, then a replay with its "replayed" marker.
    // Resuming after alice's last event: whatever happens before the subscription is live
    // is replayed, so no event can be missed (and no sleep is needed).
    const since = all.json?.items?.at(-1)?.seq ?? '0';
    const live = await openStream(BASE, `?channels=timeline:${A.user.id},notifications,messages&since=${since}`, A.token);
    expect(live.res.status === 200, `GET /api/stream answered ${live.res.status}`);
    await until(() => live.frames.some((f) => f.comment.includes('connected')), 5000, 'the stream to open');
    const bt = (await call('POST', '/api/tweets', { token: B.token, body: { content: `live ${sfx}` }, expect: 201 })).json;
    await call('POST', `/api/tweets/${bt.id}/like`, { token: A.token, expect: 200 });
    await call('POST', `/api/tweets/${t2.id}/like`, { token: B.token, expect: 200 });
    await call('POST', `/api/conversations/${conv.id}/messages`, { token: B.token, body: { content: 'live message' }, expect: 201 });
    await call('DELETE', `/api/tweets/${bt.id}`, { token: B.token, expect: 200 });
    const want = ['TweetCreated', 'TweetLiked', 'Notification', 'MessageSent', 'TweetDeleted'];
    const typesIn = (s) => new Set(s.frames.filter((f) => f.data.length).map((f) => f.data.join('')).map((d) => JSON.parse(d).type));
    await until(() => want.every((t) => typesIn(live).has(t)), 15000, `SSE events ${want.join(', ')}`);
    await until(() => live.frames.filter((f) => f.event === 'control' && f.data.join('').includes('"replayed"')).length === 3, 5000, 'three "replayed" markers');
    await call('GET', '/api/stats', { expect: 200, what: 'with a stream open' });
    live.ctl.abort();
    await live.pump;
    const liveEvents = checkStream(live, 'SSE live');
    expect(liveEvents.length >= want.length, `SSE live: ${liveEvents.length} events validated`);

    const replay = await openStream(BASE, '?channels=timeline', A.token, { 'Last-Event-ID': '1' });
    await until(() => replay.frames.some((f) => f.event === 'control'), 10000, 'the "replayed" marker');
    replay.ctl.abort();
    await replay.pump;
    const replayed = checkStream(replay, 'SSE replay');
    expect(replayed.length > 0, 'SSE replay sent events');

    const q = await openStream(BASE, `?channels=notifications&token=${encodeURIComponent(C.token)}&since=0`);
    expect(q.res.status === 200, `token in the query: ${q.res.status}`);
    q.ctl.abort();
    await q.pump;
    checkStream(q, 'SSE token query');

    for (const [query, token, status, what] of [
        ['', null, 401, 'no token'],
        ['', 'not.a.token', 401, 'bad token'],
        ['?channels=bogus', A.token, 400, 'unknown channel'],
        ['?channels=stats', A.token, 400, 'no stats over SSE'],
        [`?channels=timeline:${B.user.id}`, A.token, 400, "another user's stream"],
        ['?since=abc', A.token, 400, 'bad since'],
    ]) {
        const s = await openStream(BASE, query, token);
        expect(s.res.status === status, `GET /api/stream${query} (${what}): expected ${status}, got ${s.res.status}`);
        checkStream(s, `SSE ${what}`);
    }

    // WebSocket upgrade: accepted, refused for a foreign Origin, and a plain GET.
    await checkUpgrade(await upgrade(BASE, { Authorization: `Bearer ${A.token}` }), 101, 'upgrade');
    await checkUpgrade(await upgrade(BASE, { Origin: BASE }), 101, 'own origin');
    await checkUpgrade(await upgrade(BASE, { Origin: 'https://evil.example' }), 403, 'foreign origin');
    await call('GET', '/ws', { expect: 400, what: 'no upgrade' });

    // Outside every operation: unknown path, wrong method.
    await callOutside('GET', '/api/nothing-here', 'NotFound', 404);
    const na = await callOutside('DELETE', '/api/me', 'MethodNotAllowed', 405);
    expect(na?.headers?.get('allow') === 'GET', 'DELETE /api/me: Allow: GET');
    await callOutside('PUT', '/api/tweets', 'MethodNotAllowed', 405);
}

// ---- coverage -----------------------------------------------------------------------------

function checkRouteTable() {
    const routes = routeTable(`${ROOT}src`);
    const documented = new Set(spec.operationKeys().map(templateKey));
    for (const r of routes) expect(documented.has(r), `route ${r} (src/) has no operation in docs/openapi.yaml`);
    const served = new Set([...routes, ...OUTSIDE_ROUTE_TABLE]);
    for (const k of spec.operationKeys()) expect(served.has(templateKey(k)), `docs/openapi.yaml describes ${k}, which the route table does not have`);
    console.log(`route table: ${routes.length} routes, spec: ${spec.operations.length} operations`);
    const codes = errorCodes(`${ROOT}src`);
    const listed = spec.doc.components.schemas.ErrorCode.enum;
    for (const c of codes) expect(listed.includes(c), `error code ${c} (errc) is not in ErrorCode of docs/openapi.yaml`);
    for (const c of listed) expect(codes.includes(c), `ErrorCode ${c} of docs/openapi.yaml is no code of errc`);
    console.log(`error codes: ${codes.join(', ')}`);
}

function checkCoverage() {
    for (const k of spec.operationKeys()) {
        const statuses = answered.get(k) ?? new Set();
        expect([...statuses].some((s) => s >= 101 && s < 300), `${k} was never answered successfully by the test`);
    }
    const lines = spec.operations.map((o) => {
        const k = `${o.method} ${o.path}`;
        const seen = answered.get(k) ?? new Set();
        const not = Object.keys(o.op.responses ?? {}).filter((s) => !seen.has(Number(s)));
        return `  ${k.padEnd(42)} ${[...seen].sort().join(' ').padEnd(24)} ${not.length ? `(not exercised: ${not.join(' ')})` : ''}`;
    });
    console.log(`statuses validated per operation:\n${lines.join('\n')}`);
}

async function main() {
    if (!BASE) {
        console.error('api-spec: CHIRP_URL is not set (e.g. CHIRP_URL=http://127.0.0.1:8000 npm run api-spec)');
        console.log('0 passed, 1 failed');
        process.exit(1);
    }
    try {
        spec = await Spec.load(SPEC_FILE);
        pass();
        checkRouteTable();
        await scenario();
        checkCoverage();
    } catch (err) {
        fail(`aborted: ${err.stack ?? err}`);
    }
    if (failures.length) console.error(`\n${failures.length} failure(s):\n- ${failures.join('\n- ')}`);
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(failed ? 1 : 0);
}

await main();
