// Collaborators' cursors inside the editor state: a state field holding each remote editor's
// selection in the coordinates of the document on screen. The draft session sets the list
// (setRemoteCursors) when a presence frame arrives or expires; every other transaction maps
// the positions through its changes, so cursors move with the text as it is edited.
// No DOM here (the decorations that draw the field live in editor.ts).
import { StateEffect, StateField, type ChangeDesc } from '@codemirror/state';

export interface DraftUser {
    id: string;
    handle: string;
    displayName: string;
}

export interface RemoteCursor {
    clientID: string;
    user: DraftUser;
    anchor: number;
    head: number;
}

export const setRemoteCursors = StateEffect.define<RemoteCursor[]>();

/** Positions of a cursor after `changes` (the cursor sticks after text inserted at it). */
export function mapCursor(c: RemoteCursor, changes: ChangeDesc): RemoteCursor {
    return { ...c, anchor: changes.mapPos(c.anchor, 1), head: changes.mapPos(c.head, 1) };
}

export const remoteCursorsField = StateField.define<RemoteCursor[]>({
    create: () => [],
    update(value, tr) {
        for (const e of tr.effects) if (e.is(setRemoteCursors)) return e.value;
        if (!tr.docChanged || value.length === 0) return value;
        return value.map((c) => mapCursor(c, tr.changes));
    },
});

/** A stable colour per user (hue from the handle, as the avatars). */
export function cursorHue(handle: string): number {
    let h = 0;
    for (const c of handle.toLowerCase()) h = (h * 31 + (c.codePointAt(0) ?? 0)) >>> 0;
    return h % 360;
}
