#!/usr/bin/env node
// A small in-memory stand-in for chirpd, for front-end work without the C++ server:
// `node e2e/mock-chirpd.mjs [port]` serves dist/ plus /api and /ws following docs/api.md and
// docs/protocol.md closely enough to run the browser tests (CHIRP_URL=http://127.0.0.1:PORT).
// It is a development aid only: the real contract is chirpd's, and the e2e suite is meant to
// run against chirpd. No dependencies: the WebSocket framing is written out by hand.
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installDrafts } from './mock-drafts.mjs';

const PORT = Number(process.argv[2] || process.env.PORT || 8000);
const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const TOKEN_TTL_S = 3600;

// ---- data -------------------------------------------------------------------------------

let nextId = 1;
let nextSeq = 1000;
const id = () => String(nextId++);
const now = () => new Date().toISOString();

const users = new Map(); // id → {id, handle, displayName, password, createdAt}
const follows = new Map(); // followerId → Set(followeeId)
const tweets = new Map(); // id → raw tweet {id, authorId, content, createdAt, replyTo, retweetOf, likes:Set, deleted}
const notifications = []; // {id, seq, userId, type, actorId, tweetId, conversationId, createdAt, read}
const conversations = new Map(); // id → {id, participantIds, createdAt}
const messages = []; // {id, conversationId, senderId, content, createdAt, seq}
const streams = new Map(); // userId → [{seq, channel, event}]
const sockets = new Set();
let deliveries = [];

const ref = (u) => ({ id: u.id, handle: u.handle, displayName: u.displayName });
const byHandle = (h) => [...users.values()].find((u) => u.handle.toLowerCase() === String(h).toLowerCase());
const followersOf = (uid) => [...follows.entries()].filter(([, s]) => s.has(uid)).map(([f]) => f);

function userJson(u, viewer) {
    const j = {
        ...ref(u),
        createdAt: u.createdAt,
        followers: followersOf(u.id).length,
        following: follows.get(u.id)?.size ?? 0,
        tweets: [...tweets.values()].filter((t) => t.authorId === u.id && !t.deleted).length,
    };
    if (viewer && viewer !== u.id) j.followedByMe = !!follows.get(viewer)?.has(u.id);
    return j;
}

function tweetJson(t, viewer) {
    const orig = t.retweetOf ? tweets.get(t.retweetOf) : null;
    const mentions = [...t.content.matchAll(/@([A-Za-z0-9_]{1,15})/g)].map((m) => m[1]).filter((h) => byHandle(h));
    return {
        id: t.id,
        author: ref(users.get(t.authorId)),
        content: t.content,
        createdAt: t.createdAt,
        replyTo: t.replyTo,
        retweetOf: orig && !orig.deleted ? tweetJson(orig, viewer) : null,
        mentions,
        hashtags: [...t.content.matchAll(/#([\p{L}\p{N}_]+)/gu)].map((m) => m[1]),
        likes: t.likes.size,
        retweets: [...tweets.values()].filter((x) => x.retweetOf === t.id && !x.deleted).length,
        replies: [...tweets.values()].filter((x) => x.replyTo === t.id && !x.deleted).length,
        likedByMe: !!viewer && t.likes.has(viewer),
        retweetedByMe: !!viewer && [...tweets.values()].some((x) => x.retweetOf === t.id && x.authorId === viewer && !x.deleted),
        coauthors: (t.coauthorIds ?? []).map((u) => ref(users.get(u))),
    };
}

function notificationJson(n, viewer) {
    return {
        id: n.id,
        seq: n.seq,
        type: n.type,
        actor: ref(users.get(n.actorId)),
        tweet: n.tweetId && !tweets.get(n.tweetId)?.deleted ? tweetJson(tweets.get(n.tweetId), viewer) : null,
        conversationId: n.conversationId,
        ...(n.draftId ? { draftId: n.draftId } : {}),
        createdAt: n.createdAt,
        read: n.read,
    };
}

function conversationJson(c) {
    const last = messages.filter((m) => m.conversationId === c.id).at(-1);
    return {
        id: c.id,
        participants: c.participantIds.map((p) => ref(users.get(p))),
        createdAt: c.createdAt,
        lastMessage: last ? messageJson(last) : null,
    };
}

const messageJson = (m) => ({
    id: m.id,
    conversationId: m.conversationId,
    sender: ref(users.get(m.senderId)),
    content: m.content,
    createdAt: m.createdAt,
    seq: m.seq,
});

// ---- events -----------------------------------------------------------------------------

/** Append one event to the streams of `recipients` and push it to their live sockets. */
function publish(channel, type, actorId, recipients, payloadFor) {
    const seq = String(++nextSeq);
    const eid = randomUUID();
    for (const uid of new Set(recipients)) {
        const event = { id: eid, type, userId: actorId, timestamp: now(), version: 1, payload: payloadFor(uid) };
        const entry = { seq, channel, event };
        if (!streams.has(uid)) streams.set(uid, []);
        streams.get(uid).push(entry);
        for (const s of sockets) {
            if (s.user?.id === uid && s.channels.has(channel)) {
                const t0 = performance.now();
                s.send({ type: 'event', channel, seq, event });
                deliveries.push({ at: Date.now(), ms: performance.now() - t0 });
            }
        }
    }
    return seq;
}

function notify(userId, type, actorId, extra = {}) {
    if (userId === actorId) return;
    const seq = String(nextSeq + 1);
    const n = { id: id(), seq, userId, type, actorId, tweetId: extra.tweetId ?? null, conversationId: extra.conversationId ?? null, draftId: extra.draftId ?? null, createdAt: now(), read: false };
    notifications.push(n);
    n.seq = publish('notifications', 'Notification', actorId, [userId], () => ({ notification: notificationJson(n, userId) }));
}

function tweetAudience(authorId) {
    return [authorId, ...followersOf(authorId)];
}

// ---- auth -------------------------------------------------------------------------------

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
function makeToken(u) {
    const iat = Math.floor(Date.now() / 1000);
    return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: u.id, handle: u.handle, iat, exp: iat + TOKEN_TTL_S })}.mock`;
}
function verify(token) {
    try {
        const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
        if (claims.exp * 1000 < Date.now()) return null;
        return users.get(claims.sub) ?? null;
    } catch {
        return null;
    }
}

// ---- HTTP -------------------------------------------------------------------------------

class HttpError extends Error {
    constructor(status, code, message) {
        super(message);
        this.status = status;
        this.code = code;
    }
}
const fail = (status, code, message) => {
    throw new HttpError(status, code, message);
};
const page = (items, limit, before, key = (x) => x.id) => {
    let list = items;
    if (before) list = list.filter((x) => BigInt(key(x)) < BigInt(before));
    const slice = list.slice(0, limit);
    return { items: slice, nextCursor: list.length > limit ? key(slice[slice.length - 1]) : null };
};

const routes = [];
const route = (method, pattern, auth, fn) => routes.push({ method, re: new RegExp(`^${pattern.replace(/:\w+/g, '([^/]+)')}$`), auth, fn });

route('POST', '/api/auth/register', false, ({ body }) => {
    const { handle, password, displayName } = body ?? {};
    if (!/^[A-Za-z0-9_]{3,15}$/.test(handle ?? '')) fail(422, 'validation_failed', 'handle must be 3 to 15 of [A-Za-z0-9_]');
    if (!password || password.length < 8) fail(422, 'validation_failed', 'password must be 8 to 128 bytes');
    if (!displayName?.trim()) fail(422, 'validation_failed', 'displayName must be 1 to 50 characters');
    if (byHandle(handle)) fail(409, 'conflict', 'handle taken');
    const u = { id: id(), handle, displayName: displayName.trim(), password, createdAt: now() };
    users.set(u.id, u);
    return [201, { user: userJson(u), token: makeToken(u) }];
});
route('POST', '/api/auth/login', false, ({ body }) => {
    const u = byHandle(body?.handle ?? '');
    if (!u || u.password !== body?.password) fail(401, 'unauthorized', 'bad credentials');
    return [200, { user: userJson(u), token: makeToken(u) }];
});
route('GET', '/api/me', true, ({ me }) => [200, userJson(me)]);
route('GET', '/api/users', true, ({ me, query }) => {
    const q = (query.get('q') ?? '').toLowerCase();
    const limit = Number(query.get('limit') ?? 20);
    const items = [...users.values()].filter((u) => u.handle.toLowerCase().startsWith(q)).sort((a, b) => a.handle.localeCompare(b.handle)).slice(0, limit);
    return [200, { items: items.map((u) => userJson(u, me.id)) }];
});
function userParam(h) {
    return byHandle(decodeURIComponent(h)) ?? fail(404, 'not_found', 'no such user');
}
route('GET', '/api/users/:h', true, ({ me, params }) => [200, userJson(userParam(params[0]), me.id)]);
route('GET', '/api/users/:h/followers', true, ({ me, params, query }) => {
    const u = userParam(params[0]);
    const list = followersOf(u.id).map((f) => userJson(users.get(f), me.id)).reverse();
    return [200, page(list, Number(query.get('limit') ?? 20), query.get('before'))];
});
route('GET', '/api/users/:h/following', true, ({ me, params, query }) => {
    const u = userParam(params[0]);
    const list = [...(follows.get(u.id) ?? [])].map((f) => userJson(users.get(f), me.id)).reverse();
    return [200, page(list, Number(query.get('limit') ?? 20), query.get('before'))];
});
route('GET', '/api/users/:h/tweets', true, ({ me, params, query }) => {
    const u = userParam(params[0]);
    const list = [...tweets.values()].filter((t) => t.authorId === u.id && !t.deleted).reverse().map((t) => tweetJson(t, me.id));
    return [200, page(list, Number(query.get('limit') ?? 20), query.get('before'))];
});
function setFollow(me, h, on) {
    const u = userParam(h);
    if (u.id === me.id) fail(422, 'validation_failed', 'cannot follow yourself');
    if (!follows.has(me.id)) follows.set(me.id, new Set());
    const s = follows.get(me.id);
    if (on && !s.has(u.id)) {
        s.add(u.id);
        notify(u.id, 'follow', me.id);
    } else if (!on) s.delete(u.id);
    return [200, userJson(u, me.id)];
}
route('POST', '/api/users/:h/follow', true, ({ me, params }) => setFollow(me, params[0], true));
route('DELETE', '/api/users/:h/follow', true, ({ me, params }) => setFollow(me, params[0], false));

function tweetParam(tid) {
    const t = tweets.get(tid);
    if (!t || t.deleted) fail(404, 'not_found', 'no such tweet');
    return t;
}
route('POST', '/api/tweets', true, ({ me, body }) => {
    const content = String(body?.content ?? '').trim();
    const n = [...content].length;
    if (n < 1 || n > 280) fail(422, 'validation_failed', 'content must be 1 to 280 characters');
    const replyTo = body?.replyTo ? tweetParam(body.replyTo).id : null;
    const t = { id: id(), authorId: me.id, content, createdAt: now(), replyTo, retweetOf: null, likes: new Set(), deleted: false };
    tweets.set(t.id, t);
    publish('timeline', 'TweetCreated', me.id, tweetAudience(me.id), (uid) => ({ tweet: tweetJson(t, uid) }));
    if (replyTo) notify(tweets.get(replyTo).authorId, 'reply', me.id, { tweetId: t.id });
    for (const h of tweetJson(t).mentions) notify(byHandle(h).id, 'mention', me.id, { tweetId: t.id });
    return [201, tweetJson(t, me.id)];
});
// A tweet published from a draft (mock-drafts.mjs), credited to its co-authors.
function createTweet(me, content, coauthorIds) {
    const t = { id: id(), authorId: me.id, content, createdAt: now(), replyTo: null, retweetOf: null, likes: new Set(), deleted: false, coauthorIds };
    tweets.set(t.id, t);
    publish('timeline', 'TweetCreated', me.id, tweetAudience(me.id), (uid) => ({ tweet: tweetJson(t, uid) }));
    return tweetJson(t, me.id);
}
const drafts = installDrafts({ route, fail, users, ref, byHandle, notify, id, now, createTweet });
route('GET', '/api/tweets/:id', true, ({ me, params }) => [200, tweetJson(tweetParam(params[0]), me.id)]);
route('DELETE', '/api/tweets/:id', true, ({ me, params }) => {
    const t = tweetParam(params[0]);
    if (t.authorId !== me.id) fail(403, 'forbidden', 'not your tweet');
    t.deleted = true;
    publish('timeline', 'TweetDeleted', me.id, tweetAudience(me.id), () => ({ tweetId: t.id }));
    return [200, { deleted: t.id }];
});
function like(me, tid, on) {
    const t = tweetParam(tid);
    const had = t.likes.has(me.id);
    if (on) t.likes.add(me.id);
    else t.likes.delete(me.id);
    if (had !== on) {
        const j = tweetJson(t);
        publish('timeline', on ? 'TweetLiked' : 'TweetUnliked', me.id, [...tweetAudience(t.authorId), me.id], () => ({ tweetId: t.id, likes: j.likes, retweets: j.retweets }));
        if (on) notify(t.authorId, 'like', me.id, { tweetId: t.id });
    }
    return [200, tweetJson(t, me.id)];
}
route('POST', '/api/tweets/:id/like', true, ({ me, params }) => like(me, params[0], true));
route('DELETE', '/api/tweets/:id/like', true, ({ me, params }) => like(me, params[0], false));
route('POST', '/api/tweets/:id/retweet', true, ({ me, params }) => {
    const orig = tweetParam(params[0]);
    if ([...tweets.values()].some((x) => x.retweetOf === orig.id && x.authorId === me.id && !x.deleted)) fail(409, 'conflict', 'already retweeted');
    const t = { id: id(), authorId: me.id, content: '', createdAt: now(), replyTo: null, retweetOf: orig.id, likes: new Set(), deleted: false };
    tweets.set(t.id, t);
    publish('timeline', 'TweetCreated', me.id, tweetAudience(me.id), (uid) => ({ tweet: tweetJson(t, uid) }));
    notify(orig.authorId, 'retweet', me.id, { tweetId: orig.id });
    return [201, tweetJson(t, me.id)];
});
route('GET', '/api/tweets/:id/replies', true, ({ me, params, query }) => {
    const list = [...tweets.values()].filter((x) => x.replyTo === params[0] && !x.deleted).map((t) => tweetJson(t, me.id));
    return [200, page(list, Number(query.get('limit') ?? 20), query.get('before'))];
});
route('GET', '/api/timeline', true, ({ me, query }) => {
    const audience = new Set([me.id, ...(follows.get(me.id) ?? [])]);
    const list = [...tweets.values()].filter((t) => audience.has(t.authorId) && !t.deleted).reverse().map((t) => tweetJson(t, me.id));
    return [200, page(list, Number(query.get('limit') ?? 20), query.get('before'))];
});
route('GET', '/api/notifications', true, ({ me, query }) => {
    const mine = notifications.filter((n) => n.userId === me.id).reverse();
    const p = page(mine.map((n) => notificationJson(n, me.id)), Number(query.get('limit') ?? 20), query.get('before'), (x) => x.seq);
    return [200, { ...p, unread: mine.filter((n) => !n.read).length }];
});
route('POST', '/api/notifications/read', true, ({ me, body }) => {
    for (const n of notifications) if (n.userId === me.id && (!body?.upTo || BigInt(n.seq) <= BigInt(body.upTo))) n.read = true;
    return [200, { unread: notifications.filter((n) => n.userId === me.id && !n.read).length }];
});
route('GET', '/api/events', true, ({ me, query }) => {
    const after = BigInt(query.get('after') ?? '0');
    const items = (streams.get(me.id) ?? []).filter((e) => BigInt(e.seq) > after).map((e) => ({ seq: e.seq, ...e.event }));
    return [200, { items, nextCursor: null }];
});
route('POST', '/api/conversations', true, ({ me, body }) => {
    const handles = body?.participants ?? [];
    const ids = handles.map((h) => userParam(h).id).filter((x) => x !== me.id);
    if (ids.length < 1 || ids.length > 9) fail(422, 'validation_failed', 'a conversation has 2 to 10 people');
    const all = [me.id, ...new Set(ids)].sort();
    const existing = [...conversations.values()].find((c) => c.participantIds.join() === all.join());
    if (existing) return [200, conversationJson(existing)];
    const c = { id: id(), participantIds: all, createdAt: now(), seq: String(++nextSeq) };
    conversations.set(c.id, c);
    return [201, conversationJson(c)];
});
// Paged like chirpd: newest activity first, the cursor is the last-activity seq.
const activity = (c) => messages.findLast((m) => m.conversationId === c.id)?.seq ?? c.seq;
route('GET', '/api/conversations', true, ({ me, query }) => {
    const list = [...conversations.values()].filter((c) => c.participantIds.includes(me.id));
    list.sort((a, b) => Number(BigInt(activity(b)) - BigInt(activity(a))));
    const p = page(list, Math.min(100, Math.max(1, Number(query.get('limit') ?? 20))), query.get('before'), activity);
    return [200, { items: p.items.map(conversationJson), nextCursor: p.nextCursor }];
});
function convParam(me, cid) {
    const c = conversations.get(cid) ?? fail(404, 'not_found', 'no such conversation');
    if (!c.participantIds.includes(me.id)) fail(403, 'forbidden', 'not your conversation');
    return c;
}
route('GET', '/api/conversations/:id/messages', true, ({ me, params, query }) => {
    const c = convParam(me, params[0]);
    const list = messages.filter((m) => m.conversationId === c.id).reverse().map(messageJson);
    return [200, page(list, Number(query.get('limit') ?? 20), query.get('before'))];
});
route('POST', '/api/conversations/:id/messages', true, ({ me, params, body }) => {
    const c = convParam(me, params[0]);
    const content = String(body?.content ?? '').trim();
    if (!content || [...content].length > 1000) fail(422, 'validation_failed', 'content must be 1 to 1000 characters');
    const m = { id: id(), conversationId: c.id, senderId: me.id, content, createdAt: now(), seq: '0' };
    messages.push(m);
    m.seq = String(nextSeq + 1);
    publish('messages', 'MessageSent', me.id, c.participantIds, () => ({ message: messageJson(m), conversation: conversationJson(c) }));
    for (const s of sockets) {
        if (s.user && s.user.id !== me.id && c.participantIds.includes(s.user.id)) {
            s.send({ type: 'typing', conversation: c.id, user: ref(me), expiresInMs: 0 });
        }
    }
    for (const p of c.participantIds) notify(p, 'message', me.id, { conversationId: c.id });
    return [201, messageJson(m)];
});
const started = Date.now();
route('GET', '/api/stats', false, () => {
    const cutoff = Date.now() - 10_000;
    deliveries = deliveries.filter((d) => d.at > cutoff);
    const lat = deliveries.map((d) => d.ms).sort((a, b) => a - b);
    const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : 0);
    const authed = [...sockets].filter((s) => s.user);
    return [200, {
        uptimeSeconds: (Date.now() - started) / 1000,
        eventsStored: nextSeq - 1000,
        users: users.size,
        tweets: tweets.size,
        requestsPerSecond: 0,
        requestLatencyMs: { p50: 0.3, p99: 1.2 },
        connections: sockets.size,
        peakConnections: sockets.size,
        sessions: authed.length,
        onlineUsers: new Set(authed.map((s) => s.user.id)).size,
        messagesPerSecond: deliveries.length / 10,
        deliveryLatencyMs: { p50: q(0.5), p90: q(0.9), p99: q(0.99), max: lat.at(-1) ?? 0 },
        slowConsumerCloses: 0,
        replays: 0,
        resyncs: 0,
        redisReconnects: 0,
    }];
});

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png', '.json': 'application/json' };

function serveStatic(res, pathname) {
    let file = normalize(join(DIST, decodeURIComponent(pathname)));
    if (!file.startsWith(DIST)) file = join(DIST, 'index.html');
    try {
        if (!statSync(file).isFile()) throw new Error();
    } catch {
        if (extname(pathname)) {
            res.writeHead(404).end('not found');
            return;
        }
        file = join(DIST, 'index.html');
    }
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
}

const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/healthz') return void res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"status":"ok"}');
    if (!url.pathname.startsWith('/api/')) return serveStatic(res, url.pathname);
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const send = (status, body) => {
        if (status === 204) return void res.writeHead(204).end();
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(body));
    };
    try {
        let body;
        if (chunks.length) {
            try {
                body = JSON.parse(Buffer.concat(chunks).toString());
            } catch {
                fail(400, 'malformed_json', 'body is not JSON');
            }
        }
        let allowed = false;
        for (const r of routes) {
            const m = url.pathname.match(r.re);
            if (!m) continue;
            allowed = true;
            if (r.method !== req.method) continue;
            let me = null;
            const auth = req.headers.authorization ?? '';
            if (auth.startsWith('Bearer ')) me = verify(auth.slice(7));
            if (r.auth && !me) fail(401, 'unauthorized', 'missing or bad token');
            const [status, out] = r.fn({ me, params: m.slice(1), query: url.searchParams, body });
            return send(status, out);
        }
        fail(allowed ? 405 : 404, allowed ? 'method_not_allowed' : 'not_found', 'no such route');
    } catch (err) {
        if (err instanceof HttpError) send(err.status, { error: { code: err.code, message: err.message } });
        else {
            console.error(err);
            send(500, { error: { code: 'internal', message: String(err) } });
        }
    }
});

// ---- WebSocket ----------------------------------------------------------------------------

function frame(text) {
    const payload = Buffer.from(text);
    const n = payload.length;
    const head = n < 126 ? Buffer.from([0x81, n]) : n < 65536 ? Buffer.from([0x81, 126, n >> 8, n & 255]) : (() => {
        const b = Buffer.alloc(10);
        b[0] = 0x81;
        b[1] = 127;
        b.writeBigUInt64BE(BigInt(n), 2);
        return b;
    })();
    return Buffer.concat([head, payload]);
}

server.on('upgrade', (req, socket) => {
    if (new URL(req.url, 'http://x').pathname !== '/ws') return socket.destroy();
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    const s = {
        user: null,
        channels: new Set(),
        typingAt: new Map(),
        send: (obj) => socket.writable && socket.write(frame(JSON.stringify(obj))),
        close: (code, reason) => {
            if (!socket.writable) return;
            const r = Buffer.from(reason ?? '');
            socket.end(Buffer.concat([Buffer.from([0x88, 2 + r.length, code >> 8, code & 255]), r]));
        },
    };
    sockets.add(s);
    const authTimer = setTimeout(() => !s.user && s.close(4001, 'auth timeout'), 5000);
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        for (;;) {
            if (buf.length < 2) return;
            const op = buf[0] & 0x0f;
            let len = buf[1] & 0x7f;
            let off = 2;
            if (len === 126) {
                if (buf.length < 4) return;
                len = buf.readUInt16BE(2);
                off = 4;
            } else if (len === 127) {
                if (buf.length < 10) return;
                len = Number(buf.readBigUInt64BE(2));
                off = 10;
            }
            if (buf.length < off + 4 + len) return;
            const mask = buf.subarray(off, off + 4);
            const data = Buffer.from(buf.subarray(off + 4, off + 4 + len));
            for (let i = 0; i < data.length; i++) data[i] ^= mask[i & 3];
            buf = buf.subarray(off + 4 + len);
            if (op === 8) return s.close(1000, '');
            if (op === 9) {
                socket.write(Buffer.concat([Buffer.from([0x8a, data.length]), data]));
                continue;
            }
            if (op === 1) onMessage(s, data.toString(), authTimer);
        }
    });
    const gone = () => {
        sockets.delete(s);
        if (s.user) drafts.onClose(s);
    };
    socket.on('close', gone);
    socket.on('error', gone);
});

function onMessage(s, text, authTimer) {
    let msg;
    try {
        msg = JSON.parse(text);
    } catch {
        return s.send({ type: 'error', code: 'bad_json', message: 'not JSON' });
    }
    if (msg.type === 'auth') {
        const u = verify(msg.token ?? '');
        if (!u) return s.close(4001, 'bad token');
        clearTimeout(authTimer);
        s.user = u;
        return s.send({ type: 'auth_ok', user: ref(u), session: randomUUID(), heartbeatMs: 20000 });
    }
    if (!s.user) return s.send({ type: 'error', code: 'not_authenticated', message: 'auth first' });
    switch (msg.type) {
        case 'subscribe': {
            const chans = (msg.channels ?? []).filter((c) => ['timeline', 'notifications', 'messages', 'stats'].includes(c));
            if (msg.since != null) {
                const since = BigInt(msg.since);
                const missed = (streams.get(s.user.id) ?? []).filter((e) => chans.includes(e.channel) && BigInt(e.seq) > since);
                for (const e of missed) s.send({ type: 'event', channel: e.channel, seq: e.seq, event: e.event });
                for (const c of chans) s.send({ type: 'replayed', channel: c, upTo: String(nextSeq) });
            }
            for (const c of chans) s.channels.add(c);
            return s.send({ type: 'subscribed', channels: chans });
        }
        case 'ping':
            return s.send({ type: 'pong' });
        case 'typing': {
            const c = conversations.get(String(msg.conversation));
            if (!c || !c.participantIds.includes(s.user.id)) return s.send({ type: 'error', code: 'forbidden', message: 'not in conversation' });
            const last = s.typingAt.get(c.id) ?? 0;
            if (Date.now() - last < 2000) return;
            s.typingAt.set(c.id, Date.now());
            for (const o of sockets) {
                if (o.user && o.user.id !== s.user.id && c.participantIds.includes(o.user.id)) {
                    o.send({ type: 'typing', conversation: c.id, user: ref(s.user), expiresInMs: 5000 });
                }
            }
            return;
        }
        default:
            if (String(msg.type).startsWith('draft_')) return drafts.onMessage(s, msg);
            return s.send({ type: 'error', code: 'unknown_type', message: `unknown type ${msg.type}` });
    }
}

server.listen(PORT, '127.0.0.1', () => console.log(`mock chirpd on http://127.0.0.1:${PORT}`));
