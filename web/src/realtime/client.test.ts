// Unit tests of the realtime client state machine, with a fake socket, virtual time and a
// scripted random source: no browser, no network.
import { describe, expect, it } from 'vitest';
import {
    RealtimeClient,
    backoffDelay,
    compareSeq,
    jwtExpiry,
    type ChannelEvent,
    type ConnectionState,
    type RealtimeOptions,
} from './client';
import { FakeSocket, FakeTimers, fakeJwt } from './testkit';

interface Harness {
    client: RealtimeClient;
    timers: FakeTimers;
    sockets: FakeSocket[];
    events: ChannelEvent[];
    states: ConnectionState[];
    expired: string[];
    resyncs: string[];
    last(): FakeSocket;
    /** open the latest socket, answer auth and subscribe */
    handshake(): FakeSocket;
}

function harness(
    overrides: Partial<RealtimeOptions> & { token?: string | null; autoPong?: boolean } = {},
): Harness {
    const timers = (overrides.timers as FakeTimers | undefined) ?? new FakeTimers();
    const sockets: FakeSocket[] = [];
    const token =
        overrides.token === undefined
            ? fakeJwt({ sub: '7', handle: 'alice', exp: Math.floor(timers.now() / 1000) + 3600 })
            : overrides.token;
    const client = new RealtimeClient({
        url: 'ws://test/ws',
        getToken: () => token,
        createSocket: (url) => {
            const s = new FakeSocket(url);
            s.autoPong = overrides.autoPong ?? true;
            sockets.push(s);
            return s;
        },
        timers,
        random: () => 0.5,
        ...overrides,
    });
    const h: Harness = {
        client,
        timers,
        sockets,
        events: [],
        states: [],
        expired: [],
        resyncs: [],
        last: () => sockets[sockets.length - 1],
        handshake: () => {
            const s = h.last();
            s.open();
            s.receive({ type: 'auth_ok', user: { id: '7', handle: 'alice', displayName: 'Alice' }, session: 'x', heartbeatMs: 20000 });
            s.receive({ type: 'subscribed', channels: ['timeline', 'notifications', 'messages'] });
            return s;
        },
    };
    client.on('event', (e) => h.events.push(e));
    client.on('status', (s) => h.states.push(s.state));
    client.on('authExpired', (r) => h.expired.push(r));
    client.on('resync', (c) => h.resyncs.push(c));
    return h;
}

function tweetEvent(seq: number, id = `ev-${seq}`, channel = 'timeline') {
    return {
        type: 'event',
        channel,
        seq: String(seq),
        event: {
            id,
            type: 'TweetCreated',
            userId: '9',
            timestamp: '2026-11-27T22:01:02.123Z',
            version: 1,
            payload: { tweet: { id: `t${seq}` } },
        },
    };
}

describe('backoffDelay (full jitter)', () => {
    it('stays within [0, min(cap, base * 2^attempt))', () => {
        for (let attempt = 0; attempt < 20; attempt++) {
            const ceiling = Math.min(30_000, 500 * 2 ** attempt);
            for (const r of [0, 0.25, 0.5, 0.999999, 1]) {
                const d = backoffDelay(attempt, () => r);
                expect(d).toBeGreaterThanOrEqual(0);
                expect(d).toBeLessThan(ceiling);
            }
        }
    });

    it('is capped at 30 s however many attempts failed', () => {
        expect(backoffDelay(50, () => 0.999999)).toBeLessThan(30_000);
        expect(backoffDelay(50, () => 0.999999)).toBeGreaterThan(29_000);
        expect(backoffDelay(1000, () => 0.5)).toBe(15_000);
    });

    it('uses the whole range (full jitter, not equal jitter)', () => {
        expect(backoffDelay(6, () => 0)).toBe(0);
        expect(backoffDelay(5, () => 0.5)).toBe(8_000);
        const seq = [0.1, 0.9, 0.3, 0.7];
        let i = 0;
        const rand = () => seq[i++ % seq.length];
        const ds = seq.map(() => backoffDelay(4, rand));
        expect(new Set(ds).size).toBe(4);
        expect(Math.min(...ds)).toBeLessThan(2_000);
    });

    it('grows the ceiling exponentially from the base', () => {
        expect(backoffDelay(0, () => 0.999999, 500)).toBeLessThan(500);
        expect(backoffDelay(1, () => 0.999999, 500)).toBeGreaterThan(999 - 1);
        expect(backoffDelay(3, () => 0.5, 500)).toBe(2_000);
    });
});

describe('connection lifecycle', () => {
    it('goes connecting → authenticating → connected → subscribed and sends auth first', () => {
        const h = harness();
        h.client.start();
        expect(h.client.status.state).toBe('connecting');
        const s = h.last();
        s.open();
        expect(h.client.status.state).toBe('authenticating');
        expect(s.sent[0]).toMatchObject({ type: 'auth' });
        expect(typeof s.sent[0].token).toBe('string');
        s.receive({ type: 'auth_ok', user: { id: '7', handle: 'alice', displayName: 'A' }, session: 'x', heartbeatMs: 20000 });
        expect(h.client.status.state).toBe('connected');
        expect(s.sent[1]).toEqual({ type: 'subscribe', channels: ['timeline', 'notifications', 'messages'] });
        s.receive({ type: 'subscribed', channels: ['timeline'] });
        expect(h.client.status.state).toBe('subscribed');
        expect(h.states).toEqual(['connecting', 'authenticating', 'connected', 'subscribed']);
    });

    it('reconnects after a drop with growing, jittered, capped delays', () => {
        const rolls = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5];
        let i = 0;
        const h = harness({ random: () => rolls[i++] ?? 0.5 });
        h.client.start();
        h.handshake();
        const delays: number[] = [];
        for (let n = 0; n < 9; n++) {
            h.last().serverClose(1006);
            const st = h.client.status;
            expect(st.state).toBe('reconnecting');
            delays.push(st.retryAt! - h.timers.now());
            const before = h.sockets.length;
            h.timers.advance(delays[n] - 1);
            expect(h.sockets.length).toBe(before); // not early
            h.timers.advance(1);
            expect(h.sockets.length).toBe(before + 1);
        }
        expect(delays).toEqual([250, 500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
    });

    it('resets the backoff once subscribed again', () => {
        const h = harness();
        h.client.start();
        h.handshake();
        h.last().serverClose(1006);
        h.timers.advance(300);
        h.last().serverClose(1006);
        expect(h.client.status.attempt).toBe(2);
        h.timers.advance(1000);
        h.handshake();
        expect(h.client.status.attempt).toBe(0);
        h.last().serverClose(1006);
        expect(h.client.status.retryAt! - h.timers.now()).toBe(250);
    });

    it('treats a missed heartbeat as a drop', () => {
        const h = harness({ pingIntervalMs: 10_000, pongTimeoutMs: 5_000, autoPong: false });
        h.client.start();
        const s = h.handshake();
        h.timers.advance(10_000);
        expect(s.sentOfType('ping')).toHaveLength(1);
        s.receive({ type: 'pong' });
        h.timers.advance(10_000);
        expect(s.sentOfType('ping')).toHaveLength(2);
        h.timers.advance(5_000); // no pong
        expect(h.client.status.state).toBe('reconnecting');
        expect(h.client.status.reason).toBe('heartbeat missed');
        expect(s.closedWith).not.toBeNull();
    });

    it('goes offline at once when the browser reports it, and back when online', () => {
        const h = harness();
        h.client.start();
        const s = h.handshake();
        h.client.setNetworkOnline(false);
        expect(h.client.status.state).toBe('offline');
        expect(s.closedWith?.code).toBe(1000);
        h.timers.advance(60_000);
        expect(h.sockets).toHaveLength(1); // no attempts while offline
        h.client.setNetworkOnline(true);
        expect(h.sockets).toHaveLength(2);
        expect(h.client.status.state).toBe('connecting');
    });

    it('gives up on a connection that neither opens nor authenticates in time', () => {
        const h = harness({ connectTimeoutMs: 10_000 });
        h.client.start();
        h.timers.advance(10_000);
        expect(h.client.status.state).toBe('reconnecting');
    });

    it('stop() closes the socket and never reconnects', () => {
        const h = harness();
        h.client.start();
        const s = h.handshake();
        h.client.stop();
        expect(s.closedWith?.code).toBe(1000);
        expect(h.client.status.state).toBe('disconnected');
        h.timers.advance(120_000);
        expect(h.sockets).toHaveLength(1);
        expect(h.timers.size).toBe(0);
    });

    it('does not connect without a token', () => {
        const h = harness({ token: null });
        h.client.start();
        expect(h.sockets).toHaveLength(0);
        expect(h.client.status.state).toBe('disconnected');
    });
});

describe('resume with since', () => {
    it('subscribes without since first, then with the highest seq delivered', () => {
        const h = harness();
        h.client.start();
        const s1 = h.handshake();
        expect(s1.sentOfType('subscribe')[0].since).toBeUndefined();
        s1.receive(tweetEvent(1201));
        s1.receive(tweetEvent(1203, 'n1', 'notifications'));
        s1.receive(tweetEvent(1202)); // interleaved channels: highest wins
        s1.serverClose(1006);
        h.timers.advance(30_000);
        const s2 = h.handshake();
        expect(s2.sentOfType('subscribe')[0]).toEqual({
            type: 'subscribe',
            channels: ['timeline', 'notifications', 'messages'],
            since: '1203',
        });
        expect(h.client.lastSeq).toBe('1203');
    });

    it('delivers replayed events after the gap in order, and the seam without duplicates', () => {
        const h = harness();
        h.client.start();
        const s1 = h.handshake();
        s1.receive(tweetEvent(10));
        s1.receive(tweetEvent(11));
        h.client.setNetworkOnline(false);
        h.client.setNetworkOnline(true);
        const s2 = h.handshake();
        expect(s2.sentOfType('subscribe')[0].since).toBe('11');
        // The server replays 11 again (at the seam) and then 12..14, then live 14 again.
        for (const seq of [11, 12, 13, 14]) s2.receive(tweetEvent(seq));
        s2.receive({ type: 'replayed', channel: 'timeline', upTo: '14' });
        s2.receive(tweetEvent(14));
        s2.receive(tweetEvent(15));
        expect(h.events.map((e) => e.seq)).toEqual(['10', '11', '12', '13', '14', '15']);
    });

    it('compares seqs as 64-bit integers, not strings', () => {
        expect(compareSeq('9', '10')).toBe(-1);
        expect(compareSeq('9223372036854775807', '9223372036854775806')).toBe(1);
        const h = harness();
        h.client.start();
        const s = h.handshake();
        s.receive(tweetEvent(9));
        s.receive(tweetEvent(10));
        expect(h.client.lastSeq).toBe('10');
    });

    it('on resync resubscribes that channel without since and tells the app to reload', () => {
        const h = harness();
        h.client.start();
        const s = h.handshake();
        s.receive({ type: 'resync', channel: 'timeline' });
        expect(h.resyncs).toEqual(['timeline']);
        expect(s.sentOfType('subscribe').at(-1)).toEqual({ type: 'subscribe', channels: ['timeline'] });
    });

    it('asks the app to reload over REST when it reconnects with nothing to resume from', () => {
        const h = harness();
        h.client.start();
        h.handshake();
        expect(h.resyncs).toEqual([]); // first connection: the app loads its views anyway
        h.last().serverClose(1006);
        h.timers.advance(30_000);
        const s2 = h.handshake();
        expect(s2.sentOfType('subscribe')[0].since).toBeUndefined();
        expect(h.resyncs).toEqual(['timeline', 'notifications', 'messages']);
    });

    it('forgets the resume point on stop (logout)', () => {
        const h = harness();
        h.client.start();
        const s = h.handshake();
        s.receive(tweetEvent(5));
        h.client.stop();
        h.client.start();
        const s2 = h.handshake();
        expect(s2.sentOfType('subscribe')[0].since).toBeUndefined();
        s2.receive(tweetEvent(5)); // new session: not a duplicate
        expect(h.events).toHaveLength(2);
    });
});

describe('duplicate suppression', () => {
    it('delivers the same seq only once', () => {
        const h = harness();
        h.client.start();
        const s = h.handshake();
        s.receive(tweetEvent(7, 'a'));
        s.receive(tweetEvent(7, 'b'));
        expect(h.events).toHaveLength(1);
    });

    it('delivers the same event id only once even under another seq', () => {
        const h = harness();
        h.client.start();
        const s = h.handshake();
        s.receive(tweetEvent(7, 'same'));
        s.receive(tweetEvent(8, 'same'));
        expect(h.events.map((e) => e.seq)).toEqual(['7']);
    });

    it('delivers one logged event on each channel it reaches', () => {
        // chirpd sends a like as TweetLiked (timeline) and Notification (notifications) with
        // the same seq and event id.
        const h = harness();
        h.client.start();
        const s = h.handshake();
        s.receive(tweetEvent(19, 'like-1', 'timeline'));
        s.receive(tweetEvent(19, 'like-1', 'notifications'));
        s.receive(tweetEvent(19, 'like-1', 'notifications'));
        expect(h.events.map((e) => e.channel)).toEqual(['timeline', 'notifications']);
        expect(h.client.lastSeq).toBe('19');
    });

    it('remembers across reconnects', () => {
        const h = harness();
        h.client.start();
        h.handshake().receive(tweetEvent(1, 'x'));
        h.last().serverClose(4008); // slow consumer: reconnect, nothing lost
        h.timers.advance(30_000);
        const s2 = h.handshake();
        s2.receive(tweetEvent(1, 'x'));
        s2.receive(tweetEvent(2, 'y'));
        expect(h.events.map((e) => e.event.id)).toEqual(['x', 'y']);
    });

    it('ignores malformed frames', () => {
        const h = harness();
        h.client.start();
        const s = h.handshake();
        s.onmessage?.({ data: 'not json' });
        s.receive({ type: 'event', channel: 'timeline' });
        expect(h.events).toHaveLength(0);
        expect(h.client.status.state).toBe('subscribed');
    });
});

describe('typing throttle', () => {
    it('sends at most one typing frame per conversation per 2 s', () => {
        const h = harness();
        h.client.start();
        const s = h.handshake();
        const sentAt: number[] = [];
        // A keystroke every 100 ms for 10 s.
        for (let t = 0; t < 10_000; t += 100) {
            if (h.client.sendTyping('5')) sentAt.push(h.timers.now());
            h.timers.advance(100);
        }
        expect(sentAt).toHaveLength(5);
        expect(s.sentOfType('typing')).toHaveLength(5);
        expect(s.sentOfType('typing')[0]).toEqual({ type: 'typing', conversation: '5' });
        for (let k = 1; k < sentAt.length; k++) {
            expect(sentAt[k] - sentAt[k - 1]).toBeGreaterThanOrEqual(2000);
        }
    });

    it('throttles each conversation separately', () => {
        const h = harness();
        h.client.start();
        h.handshake();
        expect(h.client.sendTyping('1')).toBe(true);
        expect(h.client.sendTyping('2')).toBe(true);
        expect(h.client.sendTyping('1')).toBe(false);
        h.timers.advance(1999);
        expect(h.client.sendTyping('1')).toBe(false);
        h.timers.advance(1);
        expect(h.client.sendTyping('1')).toBe(true);
    });

    it('sends nothing while not connected', () => {
        const h = harness();
        h.client.start();
        expect(h.client.sendTyping('1')).toBe(false);
        expect(h.last().sent).toHaveLength(0);
    });
});

describe('token expiry', () => {
    it('reads exp from a JWT', () => {
        expect(jwtExpiry(fakeJwt({ exp: 123 }))).toBe(123);
        expect(jwtExpiry(fakeJwt({ sub: '1' }))).toBeNull();
        expect(jwtExpiry('garbage')).toBeNull();
    });

    it('closes and asks for login when exp passes during the session', () => {
        const timers = new FakeTimers();
        const exp = Math.floor(timers.now() / 1000) + 60;
        const h = harness({ token: fakeJwt({ sub: '7', exp }), timers });
        h.client.start();
        const s = h.handshake();
        h.timers.advance(59_000);
        expect(h.expired).toEqual([]);
        h.timers.advance(1_000);
        expect(h.expired).toHaveLength(1);
        expect(h.client.status.state).toBe('error');
        expect(s.closedWith).not.toBeNull();
        h.timers.advance(120_000);
        expect(h.sockets).toHaveLength(1); // never reconnects with a dead token
    });

    it('does not even connect with an already expired token', () => {
        const timers = new FakeTimers();
        const h = harness({ token: fakeJwt({ sub: '7', exp: Math.floor(timers.now() / 1000) - 1 }), timers });
        h.client.start();
        expect(h.sockets).toHaveLength(0);
        expect(h.expired).toHaveLength(1);
    });

    it('asks for login on close code 4001 and does not reconnect', () => {
        const h = harness();
        h.client.start();
        h.handshake();
        h.last().serverClose(4001, 'token expired');
        expect(h.client.status.state).toBe('error');
        expect(h.expired).toEqual(['token expired']);
        h.timers.advance(120_000);
        expect(h.sockets).toHaveLength(1);
    });

    it('can start again after logging in anew', () => {
        const h = harness();
        h.client.start();
        h.last().serverClose(4001, 'bad token');
        h.client.start();
        expect(h.sockets).toHaveLength(2);
    });
});
