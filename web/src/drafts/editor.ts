// The browser side of the draft editor: the CodeMirror view extensions (collaborators' carets
// and selections with name labels, undo history with its keymap, line wrapping, labels) and
// the EditorHost adapter over an EditorView.
import { Compartment, EditorState, Transaction, type Extension } from '@codemirror/state';
import { Decoration, EditorView, WidgetType, keymap, placeholder, type DecorationSet } from '@codemirror/view';
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { cursorHue, remoteCursorsField, type RemoteCursor } from './presence';
import type { EditorHost } from './session';

class CaretWidget extends WidgetType {
    constructor(
        readonly name: string,
        readonly hue: number,
        readonly clientID: string,
    ) {
        super();
    }
    override eq(other: CaretWidget): boolean {
        return other.name === this.name && other.hue === this.hue && other.clientID === this.clientID;
    }
    toDOM(): HTMLElement {
        const caret = document.createElement('span');
        caret.className = 'cm-remote-caret';
        caret.style.setProperty('--remote-hue', String(this.hue));
        caret.setAttribute('data-testid', 'remote-cursor');
        // Names inside the text would be read as text: "Editing now" lists them instead.
        caret.setAttribute('aria-hidden', 'true');
        caret.setAttribute('data-client', this.clientID);
        const label = document.createElement('span');
        label.className = 'cm-remote-label';
        label.textContent = this.name;
        caret.appendChild(label);
        return caret;
    }
    override ignoreEvent(): boolean {
        return true;
    }
}

function cursorDecorations(cursors: readonly RemoteCursor[], docLength: number): DecorationSet {
    const ranges = [];
    for (const c of cursors) {
        const hue = cursorHue(c.user.handle);
        const from = Math.min(c.anchor, c.head, docLength);
        const to = Math.min(Math.max(c.anchor, c.head), docLength);
        if (from < to) {
            ranges.push(
                Decoration.mark({ class: 'cm-remote-selection', attributes: { style: `--remote-hue: ${hue}` } }).range(from, to),
            );
        }
        const head = Math.min(c.head, docLength);
        ranges.push(Decoration.widget({ widget: new CaretWidget(c.user.displayName || `@${c.user.handle}`, hue, c.clientID), side: 1 }).range(head));
    }
    return Decoration.set(ranges, true);
}

const remoteCursorDecorations = EditorView.decorations.compute([remoteCursorsField], (state) =>
    cursorDecorations(state.field(remoteCursorsField), state.doc.length),
);

export const editableCompartment = new Compartment();

/**
 * The extensions of a draft editor. `onLocal(docChanged)` runs after every update caused by
 * the user (typing, undo, moving the caret), never for received updates.
 */
export function draftEditorExtensions(opts: { label: string; describedBy?: string; onLocal: (docChanged: boolean) => void; onDoc: (text: string) => void }): Extension {
    return [
        history(),
        keymap.of([...historyKeymap, ...defaultKeymap]),
        EditorView.lineWrapping,
        placeholder('Write the tweet together…'),
        editableCompartment.of(EditorView.editable.of(true)),
        remoteCursorDecorations,
        EditorView.contentAttributes.of({
            'aria-label': opts.label,
            'aria-multiline': 'true',
            'data-testid': 'draft-editor',
            ...(opts.describedBy ? { 'aria-describedby': opts.describedBy } : {}),
        }),
        EditorView.updateListener.of((update) => {
            if (update.docChanged) opts.onDoc(update.state.doc.toString());
            const local = update.transactions.some((tr) => tr.docChanged && !tr.annotation(Transaction.remote));
            if (local || update.selectionSet) opts.onLocal(local);
        }),
    ];
}

/** An empty, read-only state shown until the draft's text arrives. */
export function loadingState(): EditorState {
    return EditorState.create({ doc: '', extensions: [EditorView.editable.of(false), placeholder('Loading the draft…')] });
}

export function viewHost(view: EditorView): EditorHost {
    return {
        get state() {
            return view.state;
        },
        dispatch: (tr) => view.dispatch(tr),
        setState: (state) => view.setState(state),
    };
}
