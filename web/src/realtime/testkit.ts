// Test doubles for the realtime client: a virtual clock with timers and a scripted socket.
// Used by unit tests only (never imported by the app).
import type { SocketLike, Timers } from './client';

export class FakeTimers implements Timers {
    private time: number;
    private nextId = 1;
    private readonly pending = new Map<number, { at: number; fn: () => void }>();

    constructor(start = 1_700_000_000_000) {
        this.time = start;
    }

    now(): number {
        return this.time;
    }

    setTimeout(fn: () => void, ms: number): unknown {
        const id = this.nextId++;
        this.pending.set(id, { at: this.time + Math.max(0, ms), fn });
        return id;
    }

    clearTimeout(handle: unknown): void {
        this.pending.delete(handle as number);
    }

    /** Number of timers not yet fired. */
    get size(): number {
        return this.pending.size;
    }

    /** Move time forward, firing due timers in order (including ones they schedule). */
    advance(ms: number): void {
        const end = this.time + ms;
        for (;;) {
            let nextId = -1;
            let nextAt = Infinity;
            for (const [id, t] of this.pending) {
                if (t.at < nextAt || (t.at === nextAt && id < nextId)) {
                    nextAt = t.at;
                    nextId = id;
                }
            }
            if (nextId < 0 || nextAt > end) break;
            const timer = this.pending.get(nextId)!;
            this.pending.delete(nextId);
            this.time = Math.max(this.time, timer.at);
            timer.fn();
        }
        this.time = end;
    }
}

export class FakeSocket implements SocketLike {
    readyState = 0;
    /** Answer every ping with a pong, as a live server does. */
    autoPong = false;
    sent: Record<string, unknown>[] = [];
    closedWith: { code?: number; reason?: string } | null = null;
    onopen: ((ev: unknown) => void) | null = null;
    onmessage: ((ev: { data: unknown }) => void) | null = null;
    onclose: ((ev: { code: number; reason: string }) => void) | null = null;
    onerror: ((ev: unknown) => void) | null = null;

    constructor(readonly url: string) {}

    send(data: string): void {
        if (this.readyState !== 1) throw new Error('not open');
        const frame = JSON.parse(data) as Record<string, unknown>;
        this.sent.push(frame);
        if (this.autoPong && frame.type === 'ping') this.receive({ type: 'pong' });
    }

    close(code?: number, reason?: string): void {
        this.closedWith = { code, reason };
        this.readyState = 3;
    }

    // --- driven by tests ---
    open(): void {
        this.readyState = 1;
        this.onopen?.({});
    }

    receive(frame: unknown): void {
        this.onmessage?.({ data: JSON.stringify(frame) });
    }

    /** The server (or the network) closes the connection. */
    serverClose(code: number, reason = ''): void {
        this.readyState = 3;
        this.onclose?.({ code, reason });
    }

    sentOfType(type: string): Record<string, unknown>[] {
        return this.sent.filter((f) => f.type === type);
    }
}

/** A JWT-shaped token (unsigned) with the given claims, enough for client-side expiry checks. */
export function fakeJwt(claims: Record<string, unknown>): string {
    const enc = (o: unknown) =>
        btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
    return `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc(claims)}.c2lnbmF0dXJl`;
}
