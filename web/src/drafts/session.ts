// The client side of the collaborative draft protocol (DRAFTS_SPEC, docs/collab.md): one
// DraftSession per open draft, driving a CodeMirror EditorState with @codemirror/collab against
// chirpd (the authority) over the app's WebSocket.
//
// Rules it keeps (the server's result must be exactly what this client computes):
// - received updates are applied with ONE receiveUpdates call per update, in version order:
//   k ≤ mine is ignored (a duplicate), k > mine + 1 is a gap → re-join with my version;
// - one push in flight: all unconfirmed updates against my synced version; the next push goes
//   after draft_pushed (the echoes before it acknowledged what was accepted), after a reset or
//   after a re-join; an unanswered push is retried by re-joining after pushTimeoutMs;
// - a new connection (reconnect) re-joins with my version: the server sends the updates I
//   missed (applied one by one, my own among them confirm my edits) and I push what is left,
//   so unconfirmed edits survive a dropped connection;
// - draft_reset (or a re-join outside the server's window) replaces the state; my local text
//   is kept aside (`lost`) when unconfirmed edits were thrown away;
// - presence: positions travel in synced-version coordinates and are mapped through later
//   updates (and my unconfirmed edits) on arrival, then through every transaction.
//
// No DOM: the editor is reached through EditorHost (an EditorView in the browser, a plain
// state holder in unit tests) and the socket through DraftTransport.
import { ChangeSet, EditorState, type Transaction, type Extension } from '@codemirror/state';
import { collab, getSyncedVersion, receiveUpdates, sendableUpdates } from '@codemirror/collab';
import { DRAFT_MAX } from '../lib/text';
import { mapCursor, remoteCursorsField, setRemoteCursors, type DraftUser, type RemoteCursor } from './presence';
import { asUser, asUsers, lengthLimit, named, randomClientID } from './util';

export { codePointLength } from './util';

export const DRAFT_EDIT_MAX = DRAFT_MAX;
/** How many received updates are kept to map presence positions from older versions. */
const HISTORY = 200;

export interface EditorHost {
    readonly state: EditorState;
    /** Apply a transaction created from `state`. */
    dispatch(tr: Transaction): void;
    /** Replace the whole state (first load, reset). */
    setState(state: EditorState): void;
}

export interface DraftTransport {
    /** Send a frame; false when not connected (the session re-sends after `connected()`). */
    send(frame: Record<string, unknown>): boolean;
}

export interface SessionTimers {
    now(): number;
    setTimeout(fn: () => void, ms: number): unknown;
    clearTimeout(handle: unknown): void;
}

export type DraftPhase = 'joining' | 'live' | 'closed';

export interface DraftClosed {
    reason: 'published' | 'discarded' | 'removed' | 'not_found';
    tweetId: string | null;
}

export interface DraftSnapshot {
    phase: DraftPhase;
    /** Whether a state was loaded (the editor can be shown). */
    loaded: boolean;
    version: number;
    unconfirmed: number;
    owner: DraftUser | null;
    collaborators: DraftUser[];
    /** Other people editing now, by client id. */
    editors: { clientID: string; user: DraftUser }[];
    closed: DraftClosed | null;
    /** Local text thrown away by a reset (shown aside with a copy button), or null. */
    lost: string | null;
    /** Why the last reset happened (server code), or an error message. */
    notice: string | null;
}

export interface DraftSessionOptions {
    draftId: string;
    transport: DraftTransport;
    host: EditorHost;
    timers: SessionTimers;
    /** Extra editor extensions (history, view plugins…). */
    extensions?: Extension;
    clientID?: string;
    pushTimeoutMs?: number;
    presenceIntervalMs?: number;
    presenceKeepaliveMs?: number;
}

interface WireUpdate {
    version: number;
    clientID: string;
    changes: unknown;
    user?: DraftUser;
}

interface RawPresence {
    user: DraftUser;
    version: number;
    selection: { anchor: number; head: number } | null;
    timer: unknown;
}

export class DraftSession {
    readonly draftId: string;
    readonly clientID: string;
    private readonly opts: Required<Omit<DraftSessionOptions, 'extensions' | 'clientID'>> & { extensions: Extension };
    private phase: DraftPhase = 'joining';
    private loaded = false;
    private inflight = false;
    /** Waits for the answer to a push (draft_pushed) or a join (draft_state). */
    private pushTimer: unknown = null;
    private presenceTimer: unknown = null;
    private keepaliveTimer: unknown = null;
    private lastPresenceSent = -Infinity;
    private presenceDirty = false;
    /** Changes of received updates by the version they produced (to map old presence). */
    private readonly history = new Map<number, ChangeSet>();
    private readonly presence = new Map<string, RawPresence>();
    private owner: DraftUser | null = null;
    private collaborators: DraftUser[] = [];
    private closedInfo: DraftClosed | null = null;
    private lost: string | null = null;
    private notice: string | null = null;
    private snap: DraftSnapshot;
    private readonly listeners = new Set<() => void>();
    /** Statistics for tests and diagnostics. */
    readonly stats = { joins: 0, pushes: 0, resets: 0, gaps: 0, applied: 0 };

    constructor(options: DraftSessionOptions) {
        this.draftId = options.draftId;
        this.clientID = options.clientID ?? randomClientID();
        this.opts = {
            pushTimeoutMs: 8000,
            presenceIntervalMs: 200,
            presenceKeepaliveMs: 10_000,
            ...options,
            extensions: options.extensions ?? [],
        };
        this.snap = this.makeSnapshot();
    }

    // ---- public API ------------------------------------------------------------------------

    get snapshot(): DraftSnapshot {
        return this.snap;
    }

    subscribe(fn: () => void): () => void {
        this.listeners.add(fn);
        return () => {
            this.listeners.delete(fn);
        };
    }

    /** The version my editor is synced to (what Publish sends). */
    get version(): number {
        return this.loaded ? getSyncedVersion(this.opts.host.state) : 0;
    }

    get unconfirmed(): number {
        return this.loaded ? sendableUpdates(this.opts.host.state).length : 0;
    }

    /** Join (or re-join after a reconnect). Call on start and on every new connection. */
    connected(): void {
        if (this.phase === 'closed') return;
        this.join();
    }

    /** The editor changed locally (typing, undo, selection): push and announce presence. */
    localChange(docChanged: boolean): void {
        if (this.phase === 'closed' || !this.loaded) return;
        if (docChanged) {
            this.maybePush();
            this.emit();
        }
        this.schedulePresence();
    }

    /** Leave the draft (page closed). */
    stop(): void {
        if (this.phase !== 'closed') this.opts.transport.send({ type: 'draft_leave', draft: this.draftId });
        this.phase = 'closed';
        this.clearTimers();
        for (const p of this.presence.values()) this.opts.timers.clearTimeout(p.timer);
        this.presence.clear();
        this.listeners.clear();
    }

    dismissLost(): void {
        this.lost = null;
        this.emit();
    }

    /** A frame of the draft protocol (any draft: others are ignored). */
    handle(frame: Record<string, unknown>): void {
        if (String(frame.draft ?? '') !== this.draftId || this.phase === 'closed') return;
        switch (frame.type) {
            case 'draft_state':
                this.onState(frame);
                break;
            case 'draft_update':
                this.onUpdate(frame as unknown as WireUpdate);
                break;
            case 'draft_pushed':
                this.onPushed(Number(frame.version));
                break;
            case 'draft_reset':
                this.notice = String(frame.code ?? 'reset');
                this.reset(String(frame.text ?? ''), Number(frame.version));
                this.phase = 'live';
                this.emit();
                break;
            case 'draft_presence':
                this.onPresence(frame);
                break;
            case 'draft_collaborators':
                this.owner = this.known(asUser(frame.owner)) ?? this.owner;
                this.collaborators = asUsers(frame.collaborators);
                this.emit();
                break;
            case 'draft_closed': {
                const reason = String(frame.reason ?? 'discarded');
                this.close({
                    reason: reason === 'published' || reason === 'removed' ? reason : 'discarded',
                    tweetId: frame.tweetId != null ? String(frame.tweetId) : null,
                });
                break;
            }
            case 'error':
                if (frame.code === 'not_found') this.close({ reason: 'not_found', tweetId: null });
                else if (frame.code === 'not_joined') this.join();
                else {
                    this.notice = String(frame.message || frame.code || 'error');
                    this.emit();
                }
                break;
            default:
                break;
        }
    }

    // ---- joining, pushing, receiving ----------------------------------------------------

    private join(): void {
        this.phase = this.phase === 'closed' ? 'closed' : 'joining';
        this.inflight = false;
        this.clearTimer('pushTimer');
        const frame: Record<string, unknown> = { type: 'draft_join', draft: this.draftId };
        if (this.loaded) frame.version = this.version;
        if (this.opts.transport.send(frame)) {
            this.stats.joins++;
            // No draft_state in time (a lost frame): ask again.
            this.armTimer('pushTimer', this.opts.pushTimeoutMs, () => {
                if (this.phase === 'joining') this.join();
            });
        }
        this.emit();
    }

    private onState(frame: Record<string, unknown>): void {
        this.clearTimer('pushTimer');
        this.inflight = false;
        this.owner = this.known(asUser(frame.owner)) ?? this.owner;
        this.collaborators = asUsers(frame.collaborators);
        const text = String(frame.text ?? '');
        const version = Number(frame.version);
        for (const e of Array.isArray(frame.editors) ? frame.editors : []) {
            const o = e as Record<string, unknown>;
            const user = this.known(asUser(o.user));
            const id = String(o.clientID ?? '');
            if (user && id && id !== this.clientID && !this.presence.has(id)) {
                this.presence.set(id, { user, version, selection: null, timer: null });
            }
        }
        if (!this.loaded) {
            this.load(text, version);
        } else {
            const updates = Array.isArray(frame.updates) ? (frame.updates as WireUpdate[]) : null;
            let ok = true;
            if (updates) {
                for (const u of updates) {
                    if (!this.applyRemote(u)) {
                        ok = false;
                        break;
                    }
                }
            }
            // (Updates after `version` may already have arrived before this answer: fine.)
            if (!ok || this.version < version) {
                this.notice = 'rejoined outside the server window';
                this.reset(text, version);
            }
        }
        this.phase = 'live';
        this.maybePush();
        this.schedulePresence(true);
        this.armKeepalive();
        this.emit();
    }

    private onUpdate(u: WireUpdate): void {
        const k = Number(u.version);
        if (!this.loaded || !Number.isFinite(k) || k <= this.version) return;
        if (k > this.version + 1) {
            // A gap (a frame was lost): the server sends what I missed on a re-join.
            if (this.phase === 'live') {
                this.stats.gaps++;
                this.join();
            }
            return;
        }
        if (!this.applyRemote(u)) {
            this.join();
            return;
        }
        this.emit();
    }

    /** Apply update k == version + 1 with one receiveUpdates call. False if it does not fit. */
    private applyRemote(u: WireUpdate): boolean {
        const k = Number(u.version);
        if (k <= this.version) return true;
        if (k !== this.version + 1) return false;
        const state = this.opts.host.state;
        let changes: ChangeSet;
        try {
            changes = ChangeSet.fromJSON(u.changes);
        } catch {
            return false;
        }
        const unconfirmed = sendableUpdates(state);
        const own = unconfirmed.length > 0 && unconfirmed[0].clientID === String(u.clientID);
        // It must fit the server's document before it: mine without my unconfirmed edits.
        if (changes.length !== this.syncedLength(state)) return false;
        this.opts.host.dispatch(receiveUpdates(state, [{ changes, clientID: String(u.clientID) }]));
        this.stats.applied++;
        this.history.set(k, changes);
        this.history.delete(k - HISTORY);
        this.resolvePendingPresence();
        if (own) this.schedulePresence();
        return true;
    }

    /** Length of the synced (server) document under my unconfirmed edits. */
    private syncedLength(state: EditorState): number {
        const u = sendableUpdates(state);
        return u.length ? u[0].changes.length : state.doc.length;
    }

    private onPushed(version: number): void {
        this.inflight = false;
        this.clearTimer('pushTimer');
        if (this.phase !== 'live') return;
        if (Number.isFinite(version) && version > this.version) {
            // Accepted updates I have not seen: catch up first.
            this.stats.gaps++;
            this.join();
            return;
        }
        this.maybePush();
        this.emit();
    }

    private maybePush(): void {
        if (this.phase !== 'live' || this.inflight || !this.loaded) return;
        const updates = sendableUpdates(this.opts.host.state);
        if (!updates.length) return;
        const frame = {
            type: 'draft_push',
            draft: this.draftId,
            version: this.version,
            updates: updates.map((u) => ({ clientID: u.clientID, changes: u.changes.toJSON() })),
        };
        if (!this.opts.transport.send(frame)) return;
        this.stats.pushes++;
        this.inflight = true;
        this.armTimer('pushTimer', this.opts.pushTimeoutMs, () => {
            // No answer: the frame or its answer was lost. A re-join catches up and re-pushes.
            if (this.phase === 'live') this.join();
        });
    }

    private newState(text: string, version: number, cursor: number): EditorState {
        return EditorState.create({
            doc: text,
            selection: { anchor: Math.min(cursor, text.length) },
            extensions: [
                collab({ startVersion: version, clientID: this.clientID }),
                remoteCursorsField,
                lengthLimit,
                this.opts.extensions,
            ],
        });
    }

    private load(text: string, version: number): void {
        this.opts.host.setState(this.newState(text, version, text.length));
        this.loaded = true;
        this.history.clear();
    }

    /** Replace my state by the server's; keep my text aside if unconfirmed edits are lost. */
    private reset(text: string, version: number): void {
        this.stats.resets++;
        this.inflight = false;
        this.clearTimer('pushTimer');
        if (!this.loaded) {
            this.load(text, version);
            return;
        }
        const state = this.opts.host.state;
        const mine = state.doc.toString();
        if (sendableUpdates(state).length > 0 && mine !== text) this.lost = mine;
        this.opts.host.setState(this.newState(text, version, state.selection.main.head));
        this.history.clear();
        for (const [id, p] of this.presence) if (p.version !== version) this.presence.set(id, { ...p, selection: null });
        this.resolvePendingPresence();
    }

    private close(info: DraftClosed): void {
        this.phase = 'closed';
        this.closedInfo = info;
        this.inflight = false;
        this.clearTimers();
        if (this.loaded) this.opts.host.dispatch(this.opts.host.state.update({ effects: setRemoteCursors.of([]) }));
        this.emit();
    }

    // ---- presence ----------------------------------------------------------------------------

    /** Complete a user reference from the draft's people (a frame's user may lack the name). */
    private known(user: DraftUser | null): DraftUser | null {
        if (!user) return null;
        if (user.displayName && user.handle) return user;
        const person = [this.owner, ...this.collaborators].find((u) => u && u.id === user.id);
        return person ?? named(user);
    }

    private onPresence(frame: Record<string, unknown>): void {
        const id = String(frame.clientID ?? '');
        const user = this.known(asUser(frame.user));
        if (!id || id === this.clientID || !user) return;
        const old = this.presence.get(id);
        if (old) this.opts.timers.clearTimeout(old.timer);
        const expires = typeof frame.expiresInMs === 'number' ? frame.expiresInMs : 15_000;
        const sel = frame.selection as { anchor?: unknown; head?: unknown } | null | undefined;
        if (expires <= 0) {
            this.presence.delete(id);
        } else {
            const selection =
                sel && typeof sel.anchor === 'number' && typeof sel.head === 'number' ? { anchor: sel.anchor, head: sel.head } : null;
            const timer = this.opts.timers.setTimeout(() => {
                this.presence.delete(id);
                this.refreshCursors();
                this.emit();
            }, expires);
            this.presence.set(id, { user, version: Number(frame.version), selection, timer });
        }
        this.refreshCursors(id);
        this.emit();
    }

    private resolvePendingPresence(): void {
        const v = this.version;
        const due = [...this.presence].filter(([id, p]) => p.selection && p.version === v && !this.hasCursor(id));
        for (const [id] of due) this.refreshCursors(id);
    }

    private hasCursor(id: string): boolean {
        return this.opts.host.state.field(remoteCursorsField, false)?.some((c) => c.clientID === id) ?? false;
    }

    /**
     * Rebuild the cursor list: `changed` (a client whose presence just arrived) is placed from
     * its version; the others keep their mapped positions. Presence from a version I have not
     * reached yet waits (resolvePendingPresence places it when I get there).
     */
    private refreshCursors(changed?: string): void {
        if (!this.loaded) return;
        const state = this.opts.host.state;
        const current = state.field(remoteCursorsField, false) ?? [];
        const next: RemoteCursor[] = [];
        for (const c of current) if (c.clientID !== changed && this.presence.get(c.clientID)?.selection) next.push(c);
        const p = changed ? this.presence.get(changed) : undefined;
        if (changed && p?.selection) {
            const placed = this.place(changed, p);
            if (placed) next.push(placed);
        }
        this.opts.host.dispatch(state.update({ effects: setRemoteCursors.of(next) }));
    }

    /** A presence position at version v, in the coordinates of the document on screen. */
    private place(clientID: string, p: RawPresence): RemoteCursor | null {
        const state = this.opts.host.state;
        const mine = this.version;
        if (!p.selection || p.version > mine) return null;
        let c: RemoteCursor = { clientID, user: p.user, anchor: p.selection.anchor, head: p.selection.head };
        for (let k = p.version + 1; k <= mine; k++) {
            const ch = this.history.get(k);
            if (!ch) return null; // older than what I keep: wait for a fresher one
            c = mapCursor(c, ch);
        }
        const base = this.syncedLength(state);
        if (c.anchor > base || c.head > base || c.anchor < 0 || c.head < 0) return null;
        for (const u of sendableUpdates(state)) c = mapCursor(c, u.changes);
        return c;
    }

    private schedulePresence(force = false): void {
        if (this.phase !== 'live') return;
        this.presenceDirty = true;
        if (this.presenceTimer !== null) return;
        const wait = force ? 0 : Math.max(0, this.lastPresenceSent + this.opts.presenceIntervalMs - this.opts.timers.now());
        this.armTimer('presenceTimer', wait, () => this.sendPresence());
    }

    private sendPresence(): void {
        if (this.phase !== 'live' || !this.loaded || !this.presenceDirty) return;
        this.presenceDirty = false;
        const state = this.opts.host.state;
        const sel = state.selection.main;
        // Positions in the synced document: map back through my unconfirmed edits.
        let anchor = sel.anchor;
        let head = sel.head;
        const unconfirmed = sendableUpdates(state);
        for (let i = unconfirmed.length - 1; i >= 0; i--) {
            const inv = unconfirmed[i].changes.invertedDesc;
            anchor = inv.mapPos(anchor, -1);
            head = inv.mapPos(head, -1);
        }
        if (
            this.opts.transport.send({
                type: 'draft_presence',
                draft: this.draftId,
                clientID: this.clientID,
                version: this.version,
                selection: { anchor, head },
            })
        ) {
            this.lastPresenceSent = this.opts.timers.now();
        }
    }

    private armKeepalive(): void {
        this.armTimer('keepaliveTimer', this.opts.presenceKeepaliveMs, () => {
            this.schedulePresence(true);
            this.armKeepalive();
        });
    }

    // ---- helpers -----------------------------------------------------------------------------

    private makeSnapshot(): DraftSnapshot {
        const editors: { clientID: string; user: DraftUser }[] = [];
        for (const [clientID, p] of this.presence) editors.push({ clientID, user: p.user });
        return {
            phase: this.phase,
            loaded: this.loaded,
            version: this.version,
            unconfirmed: this.unconfirmed,
            owner: this.owner,
            collaborators: this.collaborators,
            editors,
            closed: this.closedInfo,
            lost: this.lost,
            notice: this.notice,
        };
    }

    private emit(): void {
        this.snap = this.makeSnapshot();
        for (const fn of this.listeners) fn();
    }

    private armTimer(name: 'pushTimer' | 'presenceTimer' | 'keepaliveTimer', ms: number, fn: () => void): void {
        this.clearTimer(name);
        this[name] = this.opts.timers.setTimeout(() => {
            this[name] = null;
            fn();
        }, ms);
    }

    private clearTimer(name: 'pushTimer' | 'presenceTimer' | 'keepaliveTimer'): void {
        if (this[name] !== null) {
            this.opts.timers.clearTimeout(this[name]);
            this[name] = null;
        }
    }

    private clearTimers(): void {
        this.clearTimer('pushTimer');
        this.clearTimer('presenceTimer');
        this.clearTimer('keepaliveTimer');
    }
}

