// The draft session on the app's realtime client: draft frames are routed to it, `ready`
// fires on every authenticated connection, and a reconnect re-joins with the synced version
// and re-pushes the edits that were not acknowledged before the drop.
import { describe, expect, it } from 'vitest';
import { RealtimeClient } from '../realtime/client';
import { FakeSocket, FakeTimers, fakeJwt } from '../realtime/testkit';
import { DraftSession } from './session';
import { HeadlessHost } from './testkit';

function setup() {
    const timers = new FakeTimers();
    const sockets: FakeSocket[] = [];
    const token = fakeJwt({ sub: '7', handle: 'alice', exp: Math.floor(timers.now() / 1000) + 3600 });
    const client = new RealtimeClient({
        url: 'ws://test/ws',
        getToken: () => token,
        createSocket: (url) => {
            const s = new FakeSocket(url);
            s.autoPong = true;
            sockets.push(s);
            return s;
        },
        timers,
        random: () => 0.5,
    });
    const last = () => sockets[sockets.length - 1];
    const handshake = () => {
        const s = last();
        s.open();
        s.receive({ type: 'auth_ok', user: { id: '7', handle: 'alice', displayName: 'Alice' }, session: 'x', heartbeatMs: 20000 });
        s.receive({ type: 'subscribed', channels: ['timeline', 'notifications', 'messages'] });
        return s;
    };
    return { timers, client, sockets, last, handshake };
}

const alice = { id: '7', handle: 'alice', displayName: 'Alice' };

describe('realtime client: draft frames', () => {
    it('routes draft_* frames and draft errors to the draft listeners and fires ready per connection', () => {
        const h = setup();
        const frames: Record<string, unknown>[] = [];
        const errors: string[] = [];
        let ready = 0;
        h.client.on('draft', (f) => frames.push(f));
        h.client.on('serverError', (e) => errors.push(e.code));
        h.client.on('ready', () => ready++);
        expect(h.client.sendDraft({ type: 'draft_join', draft: '1' })).toBe(false);
        h.client.start();
        const s = h.handshake();
        expect(ready).toBe(1);
        s.receive({ type: 'draft_update', draft: '1', version: 1, clientID: 'x', changes: [0, [0, 'a']] });
        s.receive({ type: 'error', code: 'not_found', draft: '1', message: 'no' });
        s.receive({ type: 'error', code: 'bad_json', message: 'no' });
        expect(frames.map((f) => f.type)).toEqual(['draft_update', 'error']);
        expect(errors).toEqual(['bad_json']);
        expect(h.client.sendDraft({ type: 'draft_join', draft: '1' })).toBe(true);
        expect(s.sentOfType('draft_join')).toHaveLength(1);
        s.serverClose(1006);
        h.timers.advance(1000);
        h.handshake();
        expect(ready).toBe(2);
    });

    it('a reconnect re-joins with my version and re-pushes unacknowledged edits', () => {
        const h = setup();
        const host = new HeadlessHost();
        const session = new DraftSession({
            draftId: '5',
            transport: { send: (f) => h.client.sendDraft(f) },
            host,
            timers: h.timers,
            clientID: 'me',
        });
        h.client.on('draft', (f) => session.handle(f));
        h.client.on('ready', () => session.connected());
        h.client.start();
        let s = h.handshake();
        expect(s.sentOfType('draft_join')).toEqual([{ type: 'draft_join', draft: '5' }]);
        s.receive({ type: 'draft_state', draft: '5', text: 'ab', version: 3, owner: alice, collaborators: [], editors: [] });
        const type = (from: number, insert: string) => {
            const tr = host.state.update({ changes: { from, insert } });
            host.dispatch(tr);
            session.localChange(true);
        };
        type(2, 'c');
        expect(s.sentOfType('draft_push')).toEqual([
            { type: 'draft_push', draft: '5', version: 3, updates: [{ clientID: 'me', changes: [2, [0, 'c']] }] },
        ]);
        // The connection drops before the echo; typing goes on offline.
        s.serverClose(1006);
        type(3, 'd');
        expect(session.snapshot.unconfirmed).toBe(2);
        h.timers.advance(1000);
        s = h.handshake();
        expect(s.sentOfType('draft_join')).toEqual([{ type: 'draft_join', draft: '5', version: 3 }]);
        // The first push was accepted (v4) and someone else typed (v5).
        s.receive({
            type: 'draft_state',
            draft: '5',
            text: 'Xabc',
            version: 5,
            owner: alice,
            collaborators: [],
            editors: [],
            updates: [
                { version: 4, clientID: 'me', changes: [2, [0, 'c']], user: alice },
                { version: 5, clientID: 'other', changes: [[0, 'X'], 3], user: { id: '8', handle: 'bob', displayName: 'Bob' } },
            ],
        });
        expect(host.state.doc.toString()).toBe('Xabcd');
        expect(session.version).toBe(5);
        // Only the edit that was never accepted is pushed again.
        expect(s.sentOfType('draft_push')).toEqual([
            { type: 'draft_push', draft: '5', version: 5, updates: [{ clientID: 'me', changes: [4, [0, 'd']] }] },
        ]);
        expect(session.stats.resets).toBe(0);
    });
});
