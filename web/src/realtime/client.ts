// The one WebSocket client of the Chirp web app (docs/protocol.md).
//
// A small state machine: disconnected → connecting → authenticating → connected → subscribed,
// plus reconnecting (waiting out a backoff), offline (the browser says the network is gone)
// and error (the token is no longer accepted: the user must log in again).
//
// Invariants the rest of the app relies on:
// - every channel event is delivered at most once: a seq or an event id seen before on the
//   same channel is dropped (one logged event may legitimately reach several channels);
// - after a drop, the client resumes with `since` = the highest seq it has delivered, so the
//   server replays what was missed, in order;
// - reconnect delays follow exponential backoff with full jitter, capped at 30 s, and reset
//   once a connection is subscribed again;
// - typing notices are sent at most once per conversation per 2 s;
// - the JWT's `exp` (or a 4001 close) ends the session: no reconnect, `authExpired` fires.
//
// Nothing here touches the DOM: the socket factory, the timers, the clock and the random
// source are injected, so the whole machine runs in unit tests without a browser.

export type Channel = 'timeline' | 'notifications' | 'messages' | 'stats';

export type ConnectionState =
    | 'disconnected'
    | 'connecting'
    | 'authenticating'
    | 'connected'
    | 'subscribed'
    | 'reconnecting'
    | 'offline'
    | 'error';

export interface ConnectionStatus {
    state: ConnectionState;
    /** Number of consecutive failed attempts (0 once subscribed). */
    attempt: number;
    /** When in `reconnecting`: the clock time (ms) of the next attempt. */
    retryAt: number | null;
    /** Close code of the last dropped connection, if any. */
    lastCloseCode: number | null;
    /** Human-readable reason for `error` / the last drop. */
    reason: string | null;
}

/** The subset of the browser WebSocket this client needs. */
export interface SocketLike {
    readonly readyState: number;
    send(data: string): void;
    close(code?: number, reason?: string): void;
    onopen: ((ev: unknown) => void) | null;
    onmessage: ((ev: { data: unknown }) => void) | null;
    onclose: ((ev: { code: number; reason: string }) => void) | null;
    onerror: ((ev: unknown) => void) | null;
}

export type SocketFactory = (url: string) => SocketLike;

export interface Timers {
    now(): number;
    setTimeout(fn: () => void, ms: number): unknown;
    clearTimeout(handle: unknown): void;
}

export interface EventEnvelope {
    id: string;
    type: string;
    userId: string;
    timestamp: string;
    version: number;
    payload: Record<string, unknown>;
}

export interface ChannelEvent {
    channel: Channel;
    seq: string;
    event: EventEnvelope;
}

export interface UserRefWire {
    id: string;
    handle: string;
    displayName: string;
}

export interface TypingNotice {
    conversation: string;
    user: UserRefWire;
    expiresInMs: number;
}

export interface ServerError {
    code: string;
    message: string;
}

export interface RealtimeListeners {
    status: (status: ConnectionStatus) => void;
    event: (event: ChannelEvent) => void;
    typing: (notice: TypingNotice) => void;
    replayed: (info: { channel: Channel; upTo: string }) => void;
    resync: (channel: Channel) => void;
    authExpired: (reason: string) => void;
    serverError: (error: ServerError) => void;
    /** A new connection was authenticated (first connect and every reconnect). */
    ready: () => void;
    /** A frame of the collaborative draft protocol: `draft_*`, or an `error` naming a draft. */
    draft: (frame: Record<string, unknown>) => void;
}

export interface RealtimeOptions {
    url: string;
    getToken: () => string | null;
    channels?: Channel[];
    createSocket: SocketFactory;
    timers: Timers;
    random: () => number;
    /** First backoff ceiling; attempt n waits random() * min(cap, base * 2^n). */
    backoffBaseMs?: number;
    backoffCapMs?: number;
    /** Client ping period; never more than half the server's heartbeatMs. */
    pingIntervalMs?: number;
    /** How long to wait for any frame after a ping before declaring the link dead. */
    pongTimeoutMs?: number;
    /** Budget for open + auth before the attempt counts as failed. */
    connectTimeoutMs?: number;
    typingIntervalMs?: number;
    /** How many seqs / event ids to remember for duplicate suppression. */
    dedupeWindow?: number;
}

const OPEN = 1;
const CONNECTING = 0;

export const CLOSE_UNAUTHORIZED = 4001;
export const CLOSE_SLOW_CONSUMER = 4008;

/** Full-jitter exponential backoff: a uniform delay in [0, min(cap, base * 2^attempt)). */
export function backoffDelay(attempt: number, random: () => number, baseMs = 500, capMs = 30_000): number {
    const ceiling = Math.min(capMs, baseMs * Math.pow(2, Math.max(0, attempt)));
    const r = Math.min(Math.max(random(), 0), 0.999999);
    return Math.floor(r * ceiling);
}

/** Decimal seq strings compared as 64-bit integers. */
export function compareSeq(a: string, b: string): number {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
}

/** The `exp` claim (seconds since the epoch) of a JWT, or null if it has none or is malformed. */
export function jwtExpiry(token: string): number | null {
    const parts = token.split('.');
    if (parts.length !== 3) return null;
    try {
        const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
        const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
        const json = decodeBase64(padded);
        const claims = JSON.parse(json) as { exp?: unknown };
        return typeof claims.exp === 'number' ? claims.exp : null;
    } catch {
        return null;
    }
}

function decodeBase64(b64: string): string {
    const binary = atob(b64);
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    return new TextDecoder().decode(bytes);
}

/** A set that forgets its oldest entries beyond `limit` (insertion order). */
class BoundedSet {
    private readonly items = new Set<string>();
    constructor(private readonly limit: number) {}
    has(key: string): boolean {
        return this.items.has(key);
    }
    add(key: string): void {
        this.items.add(key);
        if (this.items.size > this.limit) {
            const oldest = this.items.values().next().value as string;
            this.items.delete(oldest);
        }
    }
    clear(): void {
        this.items.clear();
    }
}

type ListenerMap = { [K in keyof RealtimeListeners]: Set<RealtimeListeners[K]> };

export class RealtimeClient {
    private readonly opts: Required<Omit<RealtimeOptions, 'channels'>> & { channels: Channel[] };
    private readonly listeners: ListenerMap = {
        status: new Set(),
        event: new Set(),
        typing: new Set(),
        replayed: new Set(),
        resync: new Set(),
        authExpired: new Set(),
        serverError: new Set(),
        ready: new Set(),
        draft: new Set(),
    };

    private socket: SocketLike | null = null;
    private statusValue: ConnectionStatus = {
        state: 'disconnected',
        attempt: 0,
        retryAt: null,
        lastCloseCode: null,
        reason: null,
    };
    /** True between start() and stop(): the client wants to be connected. */
    private running = false;
    private networkOnline = true;

    private lastSeqValue: string | null = null;
    /** Whether this session was subscribed before: a reconnect must then resume. */
    private everSubscribed = false;
    private readonly seenSeqs: BoundedSet;
    private readonly seenIds: BoundedSet;
    private readonly lastTypingSent = new Map<string, number>();

    private retryTimer: unknown = null;
    private connectTimer: unknown = null;
    private pingTimer: unknown = null;
    private pongTimer: unknown = null;
    private expiryTimer: unknown = null;
    private heartbeatMs = 20_000;

    constructor(options: RealtimeOptions) {
        this.opts = {
            backoffBaseMs: 500,
            backoffCapMs: 30_000,
            pingIntervalMs: 10_000,
            pongTimeoutMs: 5_000,
            connectTimeoutMs: 10_000,
            typingIntervalMs: 2_000,
            dedupeWindow: 5_000,
            ...options,
            channels: options.channels ?? ['timeline', 'notifications', 'messages'],
        };
        this.seenSeqs = new BoundedSet(this.opts.dedupeWindow);
        this.seenIds = new BoundedSet(this.opts.dedupeWindow);
    }

    // ---- public API ------------------------------------------------------------------------

    get status(): ConnectionStatus {
        return this.statusValue;
    }

    /** The highest seq delivered so far (what a reconnect sends as `since`). */
    get lastSeq(): string | null {
        return this.lastSeqValue;
    }

    on<K extends keyof RealtimeListeners>(kind: K, fn: RealtimeListeners[K]): () => void {
        (this.listeners[kind] as Set<RealtimeListeners[K]>).add(fn);
        return () => {
            (this.listeners[kind] as Set<RealtimeListeners[K]>).delete(fn);
        };
    }

    /** Begin (or keep) connecting. Safe to call repeatedly. */
    start(): void {
        if (this.running && this.statusValue.state !== 'error') return;
        this.running = true;
        this.statusValue = { ...this.statusValue, attempt: 0, reason: null };
        if (!this.networkOnline) {
            this.setStatus({ state: 'offline', retryAt: null });
            return;
        }
        this.connect();
    }

    /** Close for good (logout). Forgets resume state: the next start() is a fresh session. */
    stop(): void {
        this.running = false;
        this.clearAllTimers();
        this.dropSocket(1000, 'logout');
        this.lastSeqValue = null;
        this.everSubscribed = false;
        this.seenSeqs.clear();
        this.seenIds.clear();
        this.lastTypingSent.clear();
        this.setStatus({ state: 'disconnected', attempt: 0, retryAt: null, reason: null });
    }

    /** Feed the browser's online/offline signal. Offline drops the socket at once. */
    setNetworkOnline(online: boolean): void {
        if (online === this.networkOnline) return;
        this.networkOnline = online;
        if (!this.running || this.statusValue.state === 'error') return;
        if (!online) {
            this.clearAllTimers(/* keepExpiry */ true);
            this.dropSocket(1000, 'offline');
            this.setStatus({ state: 'offline', retryAt: null, reason: 'network offline' });
        } else {
            this.clearTimer('retryTimer');
            this.statusValue = { ...this.statusValue, attempt: 0 };
            this.connect();
        }
    }

    /** Skip the remaining backoff and try now (a "retry now" button). */
    reconnectNow(): void {
        if (!this.running || !this.networkOnline) return;
        if (this.statusValue.state !== 'reconnecting') return;
        this.clearTimer('retryTimer');
        this.connect();
    }

    /**
     * Tell the others in `conversation` that we are typing. Throttled to one per
     * typingIntervalMs per conversation; returns whether a frame was sent.
     */
    sendTyping(conversation: string): boolean {
        if (!this.isReady()) return false;
        const now = this.opts.timers.now();
        const last = this.lastTypingSent.get(conversation);
        if (last !== undefined && now - last < this.opts.typingIntervalMs) return false;
        this.lastTypingSent.set(conversation, now);
        this.send({ type: 'typing', conversation });
        return true;
    }

    /**
     * Send a frame of the draft protocol (draft_join, draft_push, …) on the current connection.
     * Returns false when there is no authenticated connection: the caller re-sends on `ready`.
     */
    sendDraft(frame: Record<string, unknown>): boolean {
        if (!this.isReady()) return false;
        this.send(frame);
        return true;
    }

    /** After our own message is sent the server clears our typing; so may the throttle. */
    resetTyping(conversation: string): void {
        this.lastTypingSent.delete(conversation);
    }

    // ---- connection lifecycle --------------------------------------------------------------

    private connect(): void {
        const token = this.opts.getToken();
        if (!token) {
            this.running = false;
            this.setStatus({ state: 'disconnected', retryAt: null, reason: 'no token' });
            return;
        }
        if (this.tokenExpired(token)) {
            this.expire('token expired');
            return;
        }
        this.armExpiry(token);
        this.dropSocket(1000, 'reconnect');
        this.setStatus({ state: 'connecting', retryAt: null });

        let socket: SocketLike;
        try {
            socket = this.opts.createSocket(this.opts.url);
        } catch (err) {
            this.scheduleReconnect(null, err instanceof Error ? err.message : 'socket error');
            return;
        }
        this.socket = socket;
        this.armTimer('connectTimer', this.opts.connectTimeoutMs, () => {
            this.handleDrop(null, 'connect timeout');
        });

        socket.onopen = () => {
            if (socket !== this.socket) return;
            this.setStatus({ state: 'authenticating' });
            this.send({ type: 'auth', token });
        };
        socket.onmessage = (ev) => {
            if (socket !== this.socket) return;
            this.handleFrame(ev.data);
        };
        socket.onerror = () => {
            // A close event always follows; the reason is handled there.
        };
        socket.onclose = (ev) => {
            if (socket !== this.socket) return;
            this.socket = null;
            this.handleClose(ev.code, ev.reason);
        };
    }

    private handleClose(code: number, reason: string): void {
        this.clearTimer('connectTimer');
        this.clearTimer('pingTimer');
        this.clearTimer('pongTimer');
        if (!this.running) {
            this.setStatus({ state: 'disconnected', lastCloseCode: code, retryAt: null });
            return;
        }
        if (code === CLOSE_UNAUTHORIZED) {
            this.expire(reason || 'unauthorized');
            return;
        }
        this.statusValue = { ...this.statusValue, lastCloseCode: code };
        if (!this.networkOnline) {
            this.setStatus({ state: 'offline', retryAt: null });
            return;
        }
        this.scheduleReconnect(code, reason || `closed (${code})`);
    }

    /** Our side decided the link is dead (timeout, missed heartbeat). */
    private handleDrop(code: number | null, reason: string): void {
        this.clearTimer('connectTimer');
        this.clearTimer('pingTimer');
        this.clearTimer('pongTimer');
        this.dropSocket(4000, reason);
        if (!this.running) return;
        if (!this.networkOnline) {
            this.setStatus({ state: 'offline', retryAt: null });
            return;
        }
        this.scheduleReconnect(code, reason);
    }

    private scheduleReconnect(code: number | null, reason: string): void {
        const attempt = this.statusValue.attempt;
        const delay = backoffDelay(attempt, this.opts.random, this.opts.backoffBaseMs, this.opts.backoffCapMs);
        const retryAt = this.opts.timers.now() + delay;
        this.setStatus({
            state: 'reconnecting',
            attempt: attempt + 1,
            retryAt,
            lastCloseCode: code ?? this.statusValue.lastCloseCode,
            reason,
        });
        this.armTimer('retryTimer', delay, () => this.connect());
    }

    private expire(reason: string): void {
        this.running = false;
        this.clearAllTimers();
        this.dropSocket(CLOSE_UNAUTHORIZED, 'token expired');
        this.setStatus({ state: 'error', retryAt: null, reason });
        for (const fn of this.listeners.authExpired) fn(reason);
    }

    private tokenExpired(token: string): boolean {
        const exp = jwtExpiry(token);
        return exp !== null && exp * 1000 <= this.opts.timers.now();
    }

    private armExpiry(token: string): void {
        this.clearTimer('expiryTimer');
        const exp = jwtExpiry(token);
        if (exp === null) return;
        const ms = exp * 1000 - this.opts.timers.now();
        // setTimeout cannot wait longer than 2^31-1 ms; re-arm on the next connect instead.
        if (ms > 0x7fffffff) return;
        this.armTimer('expiryTimer', Math.max(0, ms), () => this.expire('token expired'));
    }

    /** Detach and close the current socket without letting its events reach us. */
    private dropSocket(code: number, reason: string): void {
        const socket = this.socket;
        if (!socket) return;
        this.socket = null;
        socket.onmessage = null;
        socket.onclose = null;
        socket.onerror = () => {};
        if (socket.readyState === CONNECTING) {
            // Closing a socket that is still connecting makes browsers log an error; let it
            // finish opening and close it then.
            socket.onopen = () => socket.close(1000, reason);
        } else {
            socket.onopen = null;
            try {
                socket.close(code >= 4000 || code === 1000 ? code : 1000, reason);
            } catch {
                // already closed
            }
        }
    }

    // ---- frames ----------------------------------------------------------------------------

    private handleFrame(data: unknown): void {
        if (typeof data !== 'string') return;
        let msg: Record<string, unknown>;
        try {
            msg = JSON.parse(data) as Record<string, unknown>;
        } catch {
            return;
        }
        // Any frame proves the link is alive.
        this.clearTimer('pongTimer');
        switch (msg.type) {
            case 'auth_ok':
                this.clearTimer('connectTimer');
                if (typeof msg.heartbeatMs === 'number' && msg.heartbeatMs > 0) {
                    this.heartbeatMs = msg.heartbeatMs;
                }
                this.setStatus({ state: 'connected' });
                this.subscribe(this.opts.channels, this.lastSeqValue);
                this.schedulePing();
                for (const fn of this.listeners.ready) fn();
                if (this.everSubscribed && this.lastSeqValue === null) {
                    // We were live before but never saw an event, so there is no seq to
                    // resume from: whatever happened during the gap is only on the server.
                    // Treat it like a resync and let the app reload its views over REST.
                    for (const channel of this.opts.channels) {
                        for (const fn of this.listeners.resync) fn(channel);
                    }
                }
                break;
            case 'subscribed':
                this.everSubscribed = true;
                this.setStatus({ state: 'subscribed', attempt: 0, retryAt: null, reason: null });
                break;
            case 'event':
                this.handleEvent(msg);
                break;
            case 'replayed':
                for (const fn of this.listeners.replayed) {
                    fn({ channel: msg.channel as Channel, upTo: String(msg.upTo ?? '') });
                }
                break;
            case 'resync': {
                const channel = msg.channel as Channel;
                // The gap is too large to replay: subscribe afresh (live only) and let the
                // app reload this channel's view over REST.
                this.subscribe([channel], null);
                for (const fn of this.listeners.resync) fn(channel);
                break;
            }
            case 'typing':
                if (msg.conversation != null && msg.user && typeof msg.user === 'object') {
                    const notice: TypingNotice = {
                        conversation: String(msg.conversation),
                        user: msg.user as UserRefWire,
                        expiresInMs: typeof msg.expiresInMs === 'number' ? msg.expiresInMs : 5000,
                    };
                    for (const fn of this.listeners.typing) fn(notice);
                }
                break;
            case 'error':
                if (msg.draft != null) {
                    for (const fn of this.listeners.draft) fn(msg);
                    break;
                }
                for (const fn of this.listeners.serverError) {
                    fn({ code: String(msg.code ?? 'error'), message: String(msg.message ?? '') });
                }
                break;
            default:
                if (typeof msg.type === 'string' && msg.type.startsWith('draft_')) {
                    for (const fn of this.listeners.draft) fn(msg);
                }
                // pong and anything unknown: liveness only.
                break;
        }
    }

    private handleEvent(msg: Record<string, unknown>): void {
        const seq = msg.seq != null ? String(msg.seq) : null;
        const event = msg.event as EventEnvelope | undefined;
        if (!seq || !event || typeof event !== 'object') return;
        // One logged event can reach several channels (a like is a TweetLiked on the timeline
        // and a Notification for the author) with the same seq and id, so duplicates are
        // judged per channel: seq order is a per-stream property.
        const channel = String(msg.channel ?? '');
        const seqKey = `${channel}:${seq}`;
        const idKey = event.id ? `${channel}:${event.id}` : null;
        if (this.seenSeqs.has(seqKey) || (idKey && this.seenIds.has(idKey))) return;
        this.seenSeqs.add(seqKey);
        if (idKey) this.seenIds.add(idKey);
        try {
            if (this.lastSeqValue === null || compareSeq(seq, this.lastSeqValue) > 0) {
                this.lastSeqValue = seq;
            }
        } catch {
            // A non-numeric seq cannot be resumed from; deliver the event anyway.
        }
        const delivered: ChannelEvent = { channel: msg.channel as Channel, seq, event };
        for (const fn of this.listeners.event) fn(delivered);
    }

    private subscribe(channels: Channel[], since: string | null): void {
        const frame: Record<string, unknown> = { type: 'subscribe', channels };
        if (since !== null) frame.since = since;
        this.send(frame);
    }

    private schedulePing(): void {
        const period = Math.max(1000, Math.min(this.opts.pingIntervalMs, this.heartbeatMs / 2));
        this.armTimer('pingTimer', period, () => {
            if (!this.isReady()) return;
            this.armTimer('pongTimer', this.opts.pongTimeoutMs, () => {
                this.handleDrop(null, 'heartbeat missed');
            });
            this.send({ type: 'ping' });
            this.schedulePing();
        });
    }

    private isReady(): boolean {
        const s = this.statusValue.state;
        return (s === 'connected' || s === 'subscribed') && this.socket?.readyState === OPEN;
    }

    private send(frame: Record<string, unknown>): void {
        const socket = this.socket;
        if (!socket || socket.readyState !== OPEN) return;
        try {
            socket.send(JSON.stringify(frame));
        } catch {
            // The close event will follow.
        }
    }

    // ---- helpers ---------------------------------------------------------------------------

    private setStatus(patch: Partial<ConnectionStatus>): void {
        this.statusValue = { ...this.statusValue, ...patch };
        const snapshot = this.statusValue;
        for (const fn of this.listeners.status) fn(snapshot);
    }

    private armTimer(
        name: 'retryTimer' | 'connectTimer' | 'pingTimer' | 'pongTimer' | 'expiryTimer',
        ms: number,
        fn: () => void,
    ): void {
        this.clearTimer(name);
        this[name] = this.opts.timers.setTimeout(() => {
            this[name] = null;
            fn();
        }, ms);
    }

    private clearTimer(name: 'retryTimer' | 'connectTimer' | 'pingTimer' | 'pongTimer' | 'expiryTimer'): void {
        if (this[name] !== null) {
            this.opts.timers.clearTimeout(this[name]);
            this[name] = null;
        }
    }

    private clearAllTimers(keepExpiry = false): void {
        this.clearTimer('retryTimer');
        this.clearTimer('connectTimer');
        this.clearTimer('pingTimer');
        this.clearTimer('pongTimer');
        if (!keepExpiry) this.clearTimer('expiryTimer');
    }
}

/** Browser wiring: the real WebSocket, window timers, Math.random, and /ws on this origin. */
export function createBrowserRealtimeClient(getToken: () => string | null): RealtimeClient {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
    return new RealtimeClient({
        url,
        getToken,
        createSocket: (u) => new WebSocket(u) as unknown as SocketLike,
        timers: {
            now: () => Date.now(),
            setTimeout: (fn, ms) => window.setTimeout(fn, ms),
            clearTimeout: (h) => window.clearTimeout(h as number),
        },
        random: Math.random,
    });
}
