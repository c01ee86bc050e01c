// Test doubles for the draft client: an in-memory authority that follows the server rules of
// DRAFTS_SPEC / docs/collab.md (window of 200, push rebased over the accepted updates ONE AT A
// TIME with @codemirror/collab's rebaseUpdates, all-or-nothing, echo to every editor including
// the sender, then draft_pushed; draft_reset on a refusal; join with "updates" inside the
// window), a lossy in-order link per client, a headless editor host and a virtual clock.
import { ChangeSet, Text, type EditorState, type Transaction } from '@codemirror/state';
import { rebaseUpdates, type Update } from '@codemirror/collab';
import { codePointLength, DRAFT_EDIT_MAX, type DraftTransport, type EditorHost, type SessionTimers } from './session';
import type { DraftUser } from './presence';

export const WINDOW = 200;

interface Accepted {
    version: number;
    clientID: string;
    changes: ChangeSet;
    user: DraftUser;
}

export class FakeAuthority {
    readonly draftId: string;
    doc: Text;
    version = 0;
    /** Every accepted update (the event log). */
    readonly log: Accepted[] = [];
    private readonly docs: Text[] = [];
    readonly conns = new Set<FakeLink>();
    readonly owner: DraftUser = { id: '1', handle: 'owner', displayName: 'Owner' };

    constructor(draftId: string, text = '') {
        this.draftId = draftId;
        this.doc = Text.of(text.split('\n'));
        this.docs.push(this.doc);
    }

    get text(): string {
        return this.doc.toString();
    }

    /** A frame from a client. */
    receive(link: FakeLink, frame: Record<string, unknown>): void {
        const draft = this.draftId;
        switch (frame.type) {
            case 'draft_join': {
                this.conns.add(link);
                const out: Record<string, unknown> = {
                    type: 'draft_state',
                    draft,
                    text: this.text,
                    version: this.version,
                    owner: this.owner,
                    collaborators: [],
                    editors: [],
                };
                const n = frame.version;
                if (typeof n === 'number' && n >= this.version - WINDOW && n <= this.version) {
                    out.updates = this.log.slice(n).map((a) => this.wire(a));
                }
                link.toClient(out);
                break;
            }
            case 'draft_push':
                this.push(link, Number(frame.version), frame.updates as { clientID: string; changes: unknown }[]);
                break;
            case 'draft_presence':
                for (const other of this.conns) {
                    if (other !== link) other.toClient({ ...frame, user: link.user, expiresInMs: 15_000 });
                }
                break;
            case 'draft_leave':
                this.conns.delete(link);
                link.toClient({ type: 'draft_left', draft });
                break;
            default:
                break;
        }
    }

    private wire(a: Accepted): Record<string, unknown> {
        return { type: 'draft_update', draft: this.draftId, version: a.version, clientID: a.clientID, changes: a.changes.toJSON(), user: a.user };
    }

    private refuse(link: FakeLink, code: string): void {
        link.toClient({ type: 'draft_reset', draft: this.draftId, code, message: code, text: this.text, version: this.version });
    }

    private push(link: FakeLink, base: number, wire: { clientID: string; changes: unknown }[]): void {
        if (base > this.version) return this.refuse(link, 'base_ahead');
        if (base < this.version - WINDOW) return this.refuse(link, 'base_too_old');
        if (!Array.isArray(wire) || wire.length > 200) return this.refuse(link, 'too_many_updates');
        let pushed: readonly Update[];
        try {
            pushed = wire.map((u) => ({ clientID: String(u.clientID), changes: ChangeSet.fromJSON(u.changes) }));
        } catch {
            return this.refuse(link, 'malformed');
        }
        let len = this.docs[base].length;
        for (const u of pushed) {
            if (u.changes.length !== len) return this.refuse(link, 'length_mismatch');
            len = u.changes.newLength;
        }
        for (const w of this.log.slice(base)) pushed = rebaseUpdates(pushed, [{ changes: w.changes, clientID: w.clientID }]);
        let doc = this.doc;
        const next: Text[] = [];
        for (const u of pushed) {
            doc = u.changes.apply(doc);
            if (codePointLength(doc.toString()) > DRAFT_EDIT_MAX) return this.refuse(link, 'too_long');
            next.push(doc);
        }
        const accepted: Accepted[] = pushed.map((u, i) => ({ version: this.version + i + 1, clientID: u.clientID, changes: u.changes, user: link.user }));
        this.log.push(...accepted);
        this.docs.push(...next);
        this.version += accepted.length;
        this.doc = doc;
        for (const a of accepted) for (const c of this.conns) c.toClient(this.wire(a));
        link.toClient({ type: 'draft_pushed', draft: this.draftId, version: this.version, accepted: accepted.length });
    }
}

/**
 * One client's connection: frames queue in both directions (in order, like a WebSocket) and are
 * delivered when the test says so; a dropped connection loses everything queued.
 */
export class FakeLink implements DraftTransport {
    up: Record<string, unknown>[] = [];
    down: Record<string, unknown>[] = [];
    open = true;
    constructor(
        readonly server: FakeAuthority,
        readonly user: DraftUser,
    ) {}

    send(frame: Record<string, unknown>): boolean {
        if (!this.open) return false;
        this.up.push(JSON.parse(JSON.stringify(frame)) as Record<string, unknown>);
        return true;
    }

    toClient(frame: Record<string, unknown>): void {
        if (this.open) this.down.push(JSON.parse(JSON.stringify(frame)) as Record<string, unknown>);
    }

    /** Deliver the oldest client → server frame. */
    deliverUp(): boolean {
        const f = this.up.shift();
        if (!f) return false;
        this.server.receive(this, f);
        return true;
    }

    drop(): void {
        this.open = false;
        this.up = [];
        this.down = [];
        this.server.conns.delete(this);
    }

    reopen(): void {
        this.open = true;
    }
}

/** An editor without a view: holds the state, applies transactions. */
export class HeadlessHost implements EditorHost {
    state!: EditorState;
    readonly transactions: Transaction[] = [];
    dispatch(tr: Transaction): void {
        this.state = tr.state;
        this.transactions.push(tr);
    }
    setState(state: EditorState): void {
        this.state = state;
    }
}

/** A virtual clock: timers fire only when the test advances it. */
export class VirtualTimers implements SessionTimers {
    private t = 0;
    private seq = 0;
    private readonly pending = new Map<number, { at: number; fn: () => void }>();
    now(): number {
        return this.t;
    }
    setTimeout(fn: () => void, ms: number): unknown {
        const id = ++this.seq;
        this.pending.set(id, { at: this.t + Math.max(0, ms), fn });
        return id;
    }
    clearTimeout(handle: unknown): void {
        this.pending.delete(handle as number);
    }
    advance(ms: number): void {
        const end = this.t + ms;
        for (;;) {
            let next: [number, { at: number; fn: () => void }] | null = null;
            for (const e of this.pending) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
            if (!next) break;
            this.pending.delete(next[0]);
            this.t = Math.max(this.t, next[1].at);
            next[1].fn();
        }
        this.t = end;
    }
}

/** mulberry32: a small seeded random source. */
export function seeded(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}
