// Collaborative drafts for the development mock (mock-chirpd.mjs): the REST endpoints and the
// WebSocket draft protocol of DRAFTS_SPEC, in memory, with @codemirror/collab's rebaseUpdates
// applied one accepted update at a time (the rule chirpd follows, docs/collab.md). A
// development aid for the web client only; chirpd is the contract.
import { ChangeSet, Text } from '@codemirror/state';
import { rebaseUpdates } from '@codemirror/collab';

const WINDOW = 200;
const MAX_CP = 1000;
const cp = (s) => [...s].length;

export function installDrafts(m) {
    const { route, fail, users, ref, byHandle, notify, id, now, createTweet } = m;
    const drafts = new Map(); // id → {id, ownerId, collaboratorIds, doc, docs, log, createdAt, updatedAt, closed}
    const joined = new Map(); // draftId → Map(socket → clientID)

    const json = (d) => ({
        id: d.id,
        owner: ref(users.get(d.ownerId)),
        collaborators: d.collaboratorIds.map((u) => ref(users.get(u))),
        text: d.doc.toString(),
        version: d.log.length,
        codePoints: cp(d.doc.toString()),
        createdAt: d.createdAt,
        updatedAt: d.updatedAt,
    });
    const member = (d, uid) => d.ownerId === uid || d.collaboratorIds.includes(uid);
    function draftParam(me, did) {
        const d = drafts.get(did);
        if (!d || d.closed || !member(d, me.id)) fail(404, 'not_found', 'no such draft');
        return d;
    }
    function ownerOnly(me, d) {
        if (d.ownerId !== me.id) fail(403, 'forbidden', 'only the owner can do that');
    }
    function toEditors(d, frame, except = null) {
        for (const [s] of joined.get(d.id) ?? []) if (s !== except) s.send(frame);
    }
    function close(d, reason, extra = {}) {
        d.closed = true;
        toEditors(d, { type: 'draft_closed', draft: d.id, reason, ...extra });
        joined.delete(d.id);
    }
    function collaboratorsChanged(d) {
        toEditors(d, { type: 'draft_collaborators', draft: d.id, owner: ref(users.get(d.ownerId)), collaborators: d.collaboratorIds.map((u) => ref(users.get(u))) });
    }

    route('POST', '/api/drafts', true, ({ me, body }) => {
        const text = String(body?.text ?? '');
        if (cp(text) > MAX_CP) fail(422, 'validation_failed', 'text must be at most 1000 characters');
        const doc = Text.of(text.split('\n'));
        const d = { id: id(), ownerId: me.id, collaboratorIds: [], doc, docs: [doc], log: [], createdAt: now(), updatedAt: now(), closed: false };
        drafts.set(d.id, d);
        return [201, json(d)];
    });
    route('GET', '/api/drafts', true, ({ me }) => {
        const list = [...drafts.values()].filter((d) => !d.closed && member(d, me.id));
        list.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
        return [200, { items: list.map(json), nextCursor: null }];
    });
    route('GET', '/api/drafts/:id', true, ({ me, params }) => [200, json(draftParam(me, params[0]))]);
    route('DELETE', '/api/drafts/:id', true, ({ me, params }) => {
        const d = draftParam(me, params[0]);
        ownerOnly(me, d);
        close(d, 'discarded');
        return [204, null];
    });
    route('POST', '/api/drafts/:id/collaborators', true, ({ me, params, body }) => {
        const d = draftParam(me, params[0]);
        ownerOnly(me, d);
        const u = byHandle(body?.handle ?? '') ?? fail(404, 'not_found', 'no such user');
        if (u.id === d.ownerId || d.collaboratorIds.includes(u.id)) fail(422, 'validation_failed', 'already in the draft');
        if (d.collaboratorIds.length >= 10) fail(422, 'validation_failed', 'at most 10 collaborators');
        d.collaboratorIds.push(u.id);
        notify(u.id, 'draft_invite', me.id, { draftId: d.id });
        collaboratorsChanged(d);
        return [200, json(d)];
    });
    route('DELETE', '/api/drafts/:id/collaborators/:h', true, ({ me, params }) => {
        const d = draftParam(me, params[0]);
        const u = byHandle(decodeURIComponent(params[1])) ?? fail(404, 'not_found', 'no such user');
        if (u.id !== me.id) ownerOnly(me, d);
        if (!d.collaboratorIds.includes(u.id)) fail(404, 'not_found', 'not a collaborator');
        d.collaboratorIds = d.collaboratorIds.filter((x) => x !== u.id);
        for (const [s] of joined.get(d.id) ?? []) {
            if (s.user.id === u.id) {
                s.send({ type: 'draft_closed', draft: d.id, reason: 'removed' });
                joined.get(d.id).delete(s);
            }
        }
        collaboratorsChanged(d);
        return [200, json(d)];
    });
    route('POST', '/api/drafts/:id/publish', true, ({ me, params, body }) => {
        const d = draftParam(me, params[0]);
        ownerOnly(me, d);
        if (Number(body?.version) !== d.log.length) fail(409, 'conflict', `draft moved past version ${body?.version}`);
        const content = d.doc.toString().trim();
        if (cp(content) < 1 || cp(content) > 280) fail(422, 'validation_failed', 'content must be 1 to 280 characters');
        const tweet = createTweet(me, content, [...d.collaboratorIds]);
        close(d, 'published', { tweetId: tweet.id });
        return [201, { tweet, draft: json(d) }];
    });

    function reset(s, d, code) {
        s.send({ type: 'draft_reset', draft: d.id, code, message: code.replace(/_/g, ' '), text: d.doc.toString(), version: d.log.length });
    }

    function push(s, d, base, wire) {
        const version = d.log.length;
        if (!(base <= version)) return reset(s, d, 'base_ahead');
        if (base < version - WINDOW) return reset(s, d, 'base_too_old');
        if (!Array.isArray(wire) || wire.length > 200) return reset(s, d, 'too_many_updates');
        let pushed;
        try {
            pushed = wire.map((u) => ({ clientID: String(u.clientID), changes: ChangeSet.fromJSON(u.changes) }));
        } catch {
            return reset(s, d, 'malformed');
        }
        let len = d.docs[base].length;
        for (const u of pushed) {
            if (u.changes.length !== len) return reset(s, d, 'length_mismatch');
            len = u.changes.newLength;
        }
        for (const w of d.log.slice(base)) pushed = rebaseUpdates(pushed, [w]);
        let doc = d.doc;
        const docs = [];
        for (const u of pushed) {
            doc = u.changes.apply(doc);
            if (cp(doc.toString()) > MAX_CP) return reset(s, d, 'too_long');
            docs.push(doc);
        }
        for (const u of pushed) d.log.push({ clientID: u.clientID, changes: u.changes, user: ref(s.user) });
        d.docs.push(...docs);
        d.doc = doc;
        if (pushed.length) d.updatedAt = now();
        for (let k = version; k < d.log.length; k++) toEditors(d, updateFrame(d, k));
        s.send({ type: 'draft_pushed', draft: d.id, version: d.log.length, accepted: pushed.length });
    }

    const updateFrame = (d, k) => ({ type: 'draft_update', draft: d.id, version: k + 1, clientID: d.log[k].clientID, changes: d.log[k].changes.toJSON(), user: d.log[k].user });

    function leave(s, did) {
        const editors = joined.get(did);
        const clientID = editors?.get(s);
        if (!editors || clientID === undefined) return;
        editors.delete(s);
        const d = drafts.get(did);
        if (d) toEditors(d, { type: 'draft_presence', draft: did, user: ref(s.user), clientID, version: d.log.length, selection: null, expiresInMs: 0 });
    }

    function onMessage(s, msg) {
        const did = String(msg.draft ?? '');
        const d = drafts.get(did);
        if (!did) return s.send({ type: 'error', code: 'missing_field', message: 'draft is required' });
        if (!d || d.closed || !member(d, s.user.id)) return s.send({ type: 'error', code: 'not_found', draft: did, message: 'no such draft' });
        const editors = joined.get(did) ?? new Map();
        switch (msg.type) {
            case 'draft_join': {
                joined.set(did, editors);
                if (!editors.has(s)) editors.set(s, null);
                const version = d.log.length;
                const out = {
                    type: 'draft_state',
                    ...json(d),
                    draft: did,
                    editors: [...editors].filter(([o, c]) => o !== s && c).map(([o, c]) => ({ user: ref(o.user), clientID: c })),
                };
                delete out.id;
                const n = msg.version;
                if (typeof n === 'number' && n >= version - WINDOW && n <= version) {
                    out.updates = d.log.slice(n).map((_, i) => updateFrame(d, n + i)).map(({ version: v, clientID, changes, user }) => ({ version: v, clientID, changes, user }));
                }
                return s.send(out);
            }
            case 'draft_leave':
                leave(s, did);
                return s.send({ type: 'draft_left', draft: did });
            default:
                if (!editors.has(s)) return s.send({ type: 'error', code: 'not_joined', draft: did, message: 'join first' });
        }
        if (msg.type === 'draft_push') {
            for (const u of msg.updates ?? []) editors.set(s, String(u.clientID));
            return push(s, d, Number(msg.version), msg.updates);
        }
        if (msg.type === 'draft_presence') {
            editors.set(s, String(msg.clientID ?? ''));
            toEditors(d, { type: 'draft_presence', draft: did, user: ref(s.user), clientID: String(msg.clientID ?? ''), version: msg.version, selection: msg.selection ?? null, expiresInMs: 15000 }, s);
            return;
        }
        s.send({ type: 'error', code: 'bad_request', draft: did, message: `unknown type ${msg.type}` });
    }

    function onClose(s) {
        for (const did of [...joined.keys()]) leave(s, did);
    }

    return { onMessage, onClose };
}
