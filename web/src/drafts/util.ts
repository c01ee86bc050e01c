// Helpers of the draft client: code-point counting, the local length limit, user references
// read from frames, client ids.
import { EditorState, Transaction } from '@codemirror/state';
import { DRAFT_MAX } from '../lib/text';
import type { DraftUser } from './presence';

/** Code points of a text (what the 1,000 limit counts). */
export function codePointLength(s: string): number {
    let n = 0;
    for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c < 0xd800 || c > 0xdbff || i + 1 >= s.length) n++;
        else {
            const d = s.charCodeAt(i + 1);
            if (d >= 0xdc00 && d <= 0xdfff) i++;
            n++;
        }
    }
    return n;
}

/** Refuse local edits that make the draft longer than the editing limit (remote ones pass). */
export const lengthLimit = EditorState.transactionFilter.of((tr) => {
    if (!tr.docChanged || tr.annotation(Transaction.remote)) return tr;
    const after = codePointLength(tr.newDoc.toString());
    if (after <= DRAFT_MAX) return tr;
    return after > codePointLength(tr.startState.doc.toString()) ? [] : tr;
});

export function randomClientID(): string {
    return Math.floor(Math.random() * 2 ** 40).toString(36) + Date.now().toString(36).slice(-4);
}

/** A user reference from a frame; displayName is '' when the frame has none. */
export function asUser(v: unknown): DraftUser | null {
    if (!v || typeof v !== 'object') return null;
    const o = v as Record<string, unknown>;
    if (o.id == null) return null;
    return { id: String(o.id), handle: String(o.handle ?? ''), displayName: typeof o.displayName === 'string' ? o.displayName : '' };
}

export function named(u: DraftUser): DraftUser {
    return u.displayName ? u : { ...u, displayName: u.handle ? `@${u.handle}` : 'someone' };
}

export function asUsers(v: unknown): DraftUser[] {
    return Array.isArray(v) ? v.map(asUser).filter((u): u is DraftUser => !!u).map(named) : [];
}
