// The draft client (DraftSession) against an in-memory authority with the server's rules
// (testkit.ts): concurrent typing, lost and duplicated acknowledgements, gaps, reconnects with
// unconfirmed edits, resets, presence mapping and undo of one's own edits only.
import { describe, expect, it } from 'vitest';
import type { TransactionSpec } from '@codemirror/state';
import { history, undo } from '@codemirror/commands';
import { remoteCursorsField } from './presence';
import { DraftSession } from './session';
import { FakeAuthority, FakeLink, HeadlessHost, VirtualTimers, seeded } from './testkit';

interface Client {
    name: string;
    link: FakeLink;
    host: HeadlessHost;
    session: DraftSession;
    deliverDown(): boolean;
    type(spec: TransactionSpec): void;
    text(): string;
}

function client(server: FakeAuthority, name: string, timers: VirtualTimers, withHistory = false): Client {
    const user = { id: `u-${name}`, handle: name, displayName: name.toUpperCase() };
    const link = new FakeLink(server, user);
    const host = new HeadlessHost();
    const session = new DraftSession({
        draftId: server.draftId,
        transport: link,
        host,
        timers,
        clientID: `c-${name}`,
        extensions: withHistory ? history() : [],
    });
    session.connected();
    return {
        name,
        link,
        host,
        session,
        deliverDown() {
            const f = link.down.shift();
            if (!f) return false;
            session.handle(f);
            return true;
        },
        type(spec) {
            const tr = host.state.update({ ...spec, userEvent: 'input' });
            host.dispatch(tr);
            session.localChange(tr.docChanged);
        },
        text: () => host.state.doc.toString(),
    };
}

/** Deliver everything queued, fire timeouts, until nothing moves and nothing is unconfirmed. */
function settle(clients: Client[], timers: VirtualTimers, server?: FakeAuthority): void {
    for (let round = 0; round < 200; round++) {
        let moved = true;
        while (moved) {
            moved = false;
            for (const c of clients) {
                while (c.link.deliverUp()) moved = true;
                while (c.deliverDown()) moved = true;
            }
        }
        if (clients.every((c) => c.session.unconfirmed === 0 && c.session.snapshot.phase === 'live')) return;
        timers.advance(10_000);
    }
    const info = clients.map((c) => ({ n: c.name, ...c.session.snapshot, v: c.session.version, text: c.text(), open: c.link.open, server: server ? [server.version, server.text] : null }));
    throw new Error(`did not settle: ${JSON.stringify(info)}`);
}

function expectConverged(server: FakeAuthority, clients: Client[]): void {
    for (const c of clients) {
        expect(c.text(), `${c.name}'s text`).toBe(server.text);
        expect(c.session.version, `${c.name}'s version`).toBe(server.version);
        expect(c.session.unconfirmed).toBe(0);
    }
    // Versions are gap-free and the log folds to the text.
    server.log.forEach((a, i) => expect(a.version).toBe(i + 1));
}

function joinAll(clients: Client[], timers: VirtualTimers): void {
    settle(clients, timers);
    for (const c of clients) expect(c.session.snapshot.loaded).toBe(true);
}

const ALPHABET = 'abcdefghij XYZ\né';

function randomEdit(rand: () => number, c: Client): TransactionSpec {
    const len = c.host.state.doc.length;
    const pos = Math.floor(rand() * (len + 1));
    if (len > 0 && rand() < 0.3) {
        const to = Math.min(len, pos + 1 + Math.floor(rand() * 3));
        return { changes: { from: Math.min(pos, len - 1), to } };
    }
    let insert = '';
    for (let i = 1 + Math.floor(rand() * 3); i > 0; i--) insert += ALPHABET[Math.floor(rand() * ALPHABET.length)];
    return { changes: { from: pos, insert }, selection: { anchor: pos + insert.length } };
}

describe('DraftSession', () => {
    it('joins and loads the text and version', () => {
        const timers = new VirtualTimers();
        const server = new FakeAuthority('7', 'hello');
        const a = client(server, 'a', timers);
        joinAll([a], timers);
        expect(a.text()).toBe('hello');
        expect(a.session.snapshot.phase).toBe('live');
        expect(a.session.snapshot.owner?.handle).toBe('owner');
    });

    it('two clients typing at the same moment converge, each echo acknowledging its own edit', () => {
        const timers = new VirtualTimers();
        const server = new FakeAuthority('7', 'ab');
        const a = client(server, 'a', timers);
        const b = client(server, 'b', timers);
        joinAll([a, b], timers);
        a.type({ changes: { from: 1, insert: 'XX' } });
        b.type({ changes: { from: 1, insert: 'YY' } });
        b.type({ changes: { from: 0, to: 1 } });
        // Both pushes reach the server before either sees the other's update.
        a.link.deliverUp();
        b.link.deliverUp();
        settle([a, b], timers);
        expectConverged(server, [a, b]);
        expect(server.text).toBe('XXYYb');
        expect(a.session.stats.resets + b.session.stats.resets).toBe(0);
    });

    it('keeps one push in flight and pushes the rest after draft_pushed', () => {
        const timers = new VirtualTimers();
        const server = new FakeAuthority('7');
        const a = client(server, 'a', timers);
        joinAll([a], timers);
        a.type({ changes: { from: 0, insert: 'x' } });
        a.type({ changes: { from: 1, insert: 'y' } });
        const pushes = a.link.up.filter((f) => f.type === 'draft_push');
        expect(pushes).toHaveLength(1);
        expect(pushes[0].version).toBe(0);
        settle([a], timers);
        expect(server.text).toBe('xy');
        expect(a.session.stats.pushes).toBe(2);
    });

    it('a lost draft_update is a gap: the client re-joins and catches up', () => {
        const timers = new VirtualTimers();
        const server = new FakeAuthority('7');
        const a = client(server, 'a', timers);
        const b = client(server, 'b', timers);
        joinAll([a, b], timers);
        b.type({ changes: { from: 0, insert: 'one ' } });
        settle([b], timers);
        b.type({ changes: { from: 4, insert: 'two' } });
        settle([b], timers);
        // a lost the first update: the second is a gap.
        const first = a.link.down.findIndex((f) => f.type === 'draft_update');
        a.link.down.splice(first, 1);
        settle([a, b], timers);
        expectConverged(server, [a, b]);
        expect(a.session.stats.gaps).toBe(1);
    });

    it('a lost acknowledgement (echo and draft_pushed) never duplicates text', () => {
        const timers = new VirtualTimers();
        const server = new FakeAuthority('7');
        const a = client(server, 'a', timers);
        const b = client(server, 'b', timers);
        joinAll([a, b], timers);
        a.type({ changes: { from: 0, insert: 'hello' } });
        a.link.deliverUp();
        a.link.down = []; // the echo and draft_pushed are lost
        b.type({ changes: { from: 0, insert: '>' } });
        settle([a, b], timers); // a's push times out → re-join → catches up (its own update confirms)
        expectConverged(server, [a, b]);
        expect(server.text).toBe('hello>');
        expect(server.log.filter((u) => u.clientID === 'c-a')).toHaveLength(1);
    });

    it('unconfirmed edits survive a dropped connection and are pushed on reconnect', () => {
        const timers = new VirtualTimers();
        const server = new FakeAuthority('7', 'base');
        const a = client(server, 'a', timers);
        const b = client(server, 'b', timers);
        joinAll([a, b], timers);
        a.type({ changes: { from: 4, insert: ' A1' } });
        a.link.deliverUp(); // accepted, but the connection drops before the echo
        a.link.drop();
        a.type({ changes: { from: 0, insert: 'A2 ' } }); // offline edit
        b.type({ changes: { from: 0, insert: 'B ' } });
        settle([b], timers);
        expect(a.session.unconfirmed).toBe(2);
        a.link.reopen();
        a.session.connected();
        settle([a, b], timers);
        expectConverged(server, [a, b]);
        expect(server.text).toBe('B A2 base A1');
        expect(a.session.stats.resets).toBe(0);
    });

    it('a reset replaces the state and keeps the lost local text aside', () => {
        const timers = new VirtualTimers();
        const server = new FakeAuthority('7', 'abc');
        const a = client(server, 'a', timers);
        joinAll([a], timers);
        a.type({ changes: { from: 3, insert: ' mine' } });
        a.link.up = [];
        a.session.handle({ type: 'draft_reset', draft: '7', code: 'too_long', message: 'too long', text: 'server', version: 5 });
        expect(a.text()).toBe('server');
        expect(a.session.version).toBe(5);
        expect(a.session.unconfirmed).toBe(0);
        expect(a.session.snapshot.lost).toBe('abc mine');
        expect(a.session.snapshot.notice).toBe('too_long');
        a.session.dismissLost();
        expect(a.session.snapshot.lost).toBeNull();
    });

    it('refuses local edits beyond 1,000 code points', () => {
        const timers = new VirtualTimers();
        const server = new FakeAuthority('7', '😀'.repeat(999));
        const a = client(server, 'a', timers);
        joinAll([a], timers);
        a.type({ changes: { from: 0, insert: 'x' } });
        a.type({ changes: { from: 0, insert: 'y' } });
        expect(a.text().startsWith('x😀')).toBe(true);
        settle([a], timers);
        expect(server.version).toBe(1);
    });

    it('undo undoes only my own edits', () => {
        const timers = new VirtualTimers();
        const server = new FakeAuthority('7');
        const a = client(server, 'a', timers, true);
        const b = client(server, 'b', timers, true);
        joinAll([a, b], timers);
        a.type({ changes: { from: 0, insert: 'mine' } });
        settle([a, b], timers);
        b.type({ changes: { from: 4, insert: ' theirs' } });
        settle([a, b], timers);
        expect(a.text()).toBe('mine theirs');
        let ok = false;
        undo({
            state: a.host.state,
            dispatch: (tr) => {
                a.host.dispatch(tr);
                a.session.localChange(tr.docChanged);
                ok = true;
            },
        });
        expect(ok).toBe(true);
        settle([a, b], timers);
        expectConverged(server, [a, b]);
        expect(server.text).toBe(' theirs');
    });

    it('shows a collaborator cursor mapped through later updates and drops it when stale', () => {
        const timers = new VirtualTimers();
        const server = new FakeAuthority('7', 'hello world');
        const a = client(server, 'a', timers);
        const b = client(server, 'b', timers);
        joinAll([a, b], timers);
        timers.advance(1000);
        b.type({ selection: { anchor: 6 } }); // b's caret before "world"
        timers.advance(1000);
        // b's presence (version 0) is still on its way while c's edit lands first for a.
        const c = client(server, 'c', timers);
        settle([c], timers);
        c.type({ changes: { from: 0, insert: '>> ' } });
        settle([c], timers);
        // a gets the update first, then b's presence made at version 0.
        while (b.link.deliverUp());
        const presence = a.link.down.filter((f) => f.type === 'draft_presence' && f.clientID === 'c-b');
        const others = a.link.down.filter((f) => !(f.type === 'draft_presence' && f.clientID === 'c-b'));
        a.link.down = [...others, ...presence];
        while (a.deliverDown());
        const cursors = a.host.state.field(remoteCursorsField);
        const bc = cursors.find((x) => x.clientID === 'c-b');
        expect(bc?.head).toBe(9);
        expect(bc?.user.handle).toBe('b');
        // Later local edits move it too.
        a.type({ changes: { from: 0, insert: '!' } });
        expect(a.host.state.field(remoteCursorsField).find((x) => x.clientID === 'c-b')?.head).toBe(10);
        expect(a.session.snapshot.editors.map((e) => e.user.handle)).toContain('b');
        // Stale after expiresInMs (b stops sending; its keep-alive is not delivered).
        b.link.drop();
        timers.advance(16_000);
        expect(a.host.state.field(remoteCursorsField).find((x) => x.clientID === 'c-b')).toBeUndefined();
    });

    it('names a caret from the draft\'s people when the presence frame has no displayName', () => {
        const timers = new VirtualTimers();
        const host = new HeadlessHost();
        const sent: Record<string, unknown>[] = [];
        const session = new DraftSession({ draftId: '3', transport: { send: (f) => (sent.push(f), true) }, host, timers, clientID: 'me' });
        session.connected();
        const bob = { id: '8', handle: 'bob', displayName: 'Bob B' };
        session.handle({ type: 'draft_state', draft: '3', text: 'hey', version: 2, owner: { id: '7', handle: 'al', displayName: 'Al' }, collaborators: [bob], editors: [] });
        session.handle({ type: 'draft_presence', draft: '3', user: { id: '8', handle: 'bob' }, clientID: 'b1', version: 2, selection: { anchor: 1, head: 1 }, expiresInMs: 15000 });
        expect(host.state.field(remoteCursorsField)).toEqual([{ clientID: 'b1', user: bob, anchor: 1, head: 1 }]);
        session.handle({ type: 'draft_presence', draft: '3', user: { id: '8' }, clientID: 'b1', version: 2, selection: null, expiresInMs: 0 });
        expect(host.state.field(remoteCursorsField)).toEqual([]);
        expect(session.snapshot.editors).toEqual([]);
    });

    it('draft_closed ends the session', () => {
        const timers = new VirtualTimers();
        const server = new FakeAuthority('7', 'x');
        const a = client(server, 'a', timers);
        joinAll([a], timers);
        a.session.handle({ type: 'draft_closed', draft: '7', reason: 'published', tweetId: '99' });
        expect(a.session.snapshot.phase).toBe('closed');
        expect(a.session.snapshot.closed).toEqual({ reason: 'published', tweetId: '99' });
        a.type({ changes: { from: 0, insert: 'late' } });
        expect(a.link.up.filter((f) => f.type === 'draft_push')).toHaveLength(0);
    });

    for (let seed = 1; seed <= 40; seed++) {
        it(`random typing with lost acks, duplicates and reconnects converges (seed ${seed})`, () => {
            const rand = seeded(seed);
            const timers = new VirtualTimers();
            const server = new FakeAuthority('7', 'start');
            const clients = ['a', 'b', 'c'].map((n) => client(server, n, timers));
            joinAll(clients, timers);
            for (let step = 0; step < 400; step++) {
                const c = clients[Math.floor(rand() * clients.length)];
                const r = rand();
                if (r < 0.35) {
                    if (c.session.snapshot.loaded) c.type(randomEdit(rand, c));
                } else if (r < 0.55) {
                    c.link.deliverUp();
                } else if (r < 0.8) {
                    const f = c.link.down[0];
                    if (f && rand() < 0.08) c.link.down.shift(); // lost frame
                    else if (f && rand() < 0.05) c.session.handle(f); // duplicated frame
                    c.deliverDown();
                } else if (r < 0.84) {
                    if (c.link.open) c.link.drop();
                    else {
                        c.link.reopen();
                        c.session.connected();
                    }
                } else {
                    timers.advance(Math.floor(rand() * 3000));
                }
            }
            for (const c of clients) {
                if (!c.link.open) {
                    c.link.reopen();
                    c.session.connected();
                }
            }
            settle(clients, timers, server);
            expectConverged(server, clients);
        });
    }

    it('no accepted text is lost or duplicated (insert-only, unique characters, lossy links)', () => {
        const rand = seeded(4242);
        const timers = new VirtualTimers();
        const server = new FakeAuthority('7');
        const clients = ['a', 'b', 'c'].map((n) => client(server, n, timers));
        joinAll(clients, timers);
        let next = 0x4e00; // unique CJK characters, one per keystroke
        const typed: string[] = [];
        for (let step = 0; step < 600; step++) {
            const c = clients[Math.floor(rand() * clients.length)];
            const r = rand();
            if (r < 0.4 && next < 0x4e00 + 900) {
                const ch = String.fromCodePoint(next++);
                typed.push(ch);
                const pos = Math.floor(rand() * (c.host.state.doc.length + 1));
                c.type({ changes: { from: pos, insert: ch } });
            } else if (r < 0.6) c.link.deliverUp();
            else if (r < 0.85) {
                if (c.link.down.length && rand() < 0.1) c.link.down.shift();
                c.deliverDown();
            } else if (r < 0.88) {
                if (c.link.open) c.link.drop();
                else {
                    c.link.reopen();
                    c.session.connected();
                }
            } else timers.advance(Math.floor(rand() * 4000));
        }
        for (const c of clients) {
            if (!c.link.open) {
                c.link.reopen();
                c.session.connected();
            }
        }
        settle(clients, timers);
        expectConverged(server, clients);
        expect(clients.reduce((n, c) => n + c.session.stats.resets, 0)).toBe(0);
        expect([...server.text].sort().join('')).toBe(typed.sort().join(''));
    });
});
