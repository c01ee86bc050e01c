// One collaborative draft: a CodeMirror editor kept in sync with chirpd by a DraftSession over
// the app's WebSocket, the collaborators' carets in their colours, a live character counter,
// the sync/connection state, the people (invite / remove / leave) and Publish / Discard.
import { useEffect, useId, useRef, useState } from 'react';
import { EditorView } from '@codemirror/view';
import { api } from '../api/endpoints';
import { ApiError } from '../api/http';
import type { Draft, UserRef } from '../api/types';
import { Avatar } from '../components/Avatar';
import { HandleForm } from '../components/HandleForm';
import { PageHeader } from '../components/PageHeader';
import { Link, navigate } from '../lib/router';
import { TWEET_MAX, codePoints, isPostable, postLength } from '../lib/text';
import { addPublishedTweet, announce, errorText, realtimeClient, toast, useApp } from '../store/app';
import { draftEditorExtensions, editableCompartment, loadingState, viewHost } from '../drafts/editor';
import { cursorHue } from '../drafts/presence';
import { DRAFT_EDIT_MAX, DraftSession, type DraftSnapshot } from '../drafts/session';

const browserTimers = {
    now: () => Date.now(),
    setTimeout: (fn: () => void, ms: number) => window.setTimeout(fn, ms),
    clearTimeout: (h: unknown) => window.clearTimeout(h as number),
};

function syncLabel(snap: DraftSnapshot | null, connected: boolean): { text: string; tone: 'ok' | 'wait' | 'bad' } {
    if (!snap || !snap.loaded) return { text: connected ? 'Opening the draft…' : 'Waiting for the connection…', tone: 'wait' };
    if (snap.phase === 'closed') return { text: 'Closed', tone: 'bad' };
    const pending = snap.unconfirmed;
    if (!connected) {
        return {
            text: pending ? `Offline: ${pending} ${pending === 1 ? 'edit' : 'edits'} kept, sent when you reconnect` : 'Offline: reconnecting…',
            tone: 'bad',
        };
    }
    if (snap.phase === 'joining') return { text: 'Catching up…', tone: 'wait' };
    if (pending) return { text: 'Saving…', tone: 'wait' };
    return { text: 'Live · all changes saved', tone: 'ok' };
}

function closedText(snap: DraftSnapshot): string {
    switch (snap.closed?.reason) {
        case 'published':
            return 'This draft was published.';
        case 'discarded':
            return 'The owner discarded this draft.';
        case 'removed':
            return 'You were removed from this draft.';
        default:
            return 'This draft does not exist, or you no longer have access to it.';
    }
}

function People({ draftId, owner, collaborators, isOwner, meHandle, onChange }: {
    draftId: string;
    owner: UserRef;
    collaborators: UserRef[];
    isOwner: boolean;
    meHandle: string;
    onChange: (d: Draft) => void;
}) {
    async function remove(u: UserRef) {
        try {
            const d = await api.removeCollaborator(draftId, u.handle);
            if (u.handle.toLowerCase() === meHandle.toLowerCase()) {
                toast('You left the draft');
                navigate('/drafts');
                return;
            }
            onChange(d);
            announce(`Removed @${u.handle}`);
        } catch (err) {
            toast(errorText(err), 'error');
        }
    }

    return (
        <section className="draft-people" aria-label="People">
            <h2 className="panel__title">People</h2>
            <ul className="draft-people__list" data-testid="draft-people">
                {[owner, ...collaborators].map((u) => {
                    const mine = u.handle.toLowerCase() === meHandle.toLowerCase();
                    return (
                        <li key={u.id} className="draft-person">
                            <Avatar user={u} size={28} />
                            <span className="draft-person__name">
                                {u.displayName} <span className="muted">@{u.handle}</span>
                                {u.id === owner.id && <span className="muted"> · owner</span>}
                            </span>
                            {u.id !== owner.id && (isOwner || mine) && (
                                <button type="button" className="btn btn--ghost btn--small" onClick={() => void remove(u)}>
                                    {mine ? 'Leave' : 'Remove'}
                                    {!mine && <span className="sr-only"> @{u.handle}</span>}
                                </button>
                            )}
                        </li>
                    );
                })}
            </ul>
            {isOwner && (
                <HandleForm
                    label="Invite by handle"
                    placeholder="@handle"
                    submitLabel="Invite"
                    className="draft-invite"
                    testId="draft-invite"
                    onHandles={async (handles) => {
                        for (const h of handles) {
                            onChange(await api.addCollaborator(draftId, h));
                            announce(`Invited @${h}`);
                        }
                    }}
                />
            )}
        </section>
    );
}

export function DraftEditorPage({ id }: { id: string }) {
    const me = useApp((s) => s.session?.user);
    const connState = useApp((s) => s.conn.state);
    const connected = connState === 'connected' || connState === 'subscribed';
    const host = useRef<HTMLDivElement>(null);
    const viewRef = useRef<EditorView | null>(null);
    const [session, setSession] = useState<DraftSession | null>(null);
    const [snap, setSnap] = useState<DraftSnapshot | null>(null);
    const [text, setText] = useState('');
    const [rest, setRest] = useState<Draft | null>(null);
    const [publishing, setPublishing] = useState(false);
    const [publishError, setPublishError] = useState<string | null>(null);
    const [published, setPublished] = useState<string | null>(null);
    const [confirmDiscard, setConfirmDiscard] = useState(false);
    const uid = useId();

    useEffect(() => {
        let alive = true;
        api.draft(id)
            .then((d) => alive && setRest(d))
            .catch(() => {});
        return () => {
            alive = false;
        };
    }, [id]);

    useEffect(() => {
        const parent = host.current;
        if (!parent) return;
        const rt = realtimeClient();
        const view = new EditorView({ state: loadingState(), parent });
        viewRef.current = view;
        let s: DraftSession | null = null;
        const extensions = draftEditorExtensions({
            label: 'Draft text',
            describedBy: `${uid}-count`,
            onLocal: (docChanged) => s?.localChange(docChanged),
            onDoc: setText,
        });
        s = new DraftSession({ draftId: id, transport: { send: (f) => rt.sendDraft(f) }, host: viewHost(view), timers: browserTimers, extensions });
        const session = s;
        const offFrames = rt.on('draft', (f) => session.handle(f));
        const offReady = rt.on('ready', () => session.connected());
        const offSnap = session.subscribe(() => {
            setSnap(session.snapshot);
            setText(view.state.doc.toString());
        });
        session.connected();
        setSession(session);
        return () => {
            offFrames();
            offReady();
            offSnap();
            session.stop();
            view.destroy();
            viewRef.current = null;
        };
    }, [id, uid]);

    const closed = snap?.phase === 'closed';
    useEffect(() => {
        if (closed) viewRef.current?.dispatch({ effects: editableCompartment.reconfigure(EditorView.editable.of(false)) });
    }, [closed]);

    // The people come from the REST draft and from draft_state / draft_collaborators frames:
    // whichever arrived last.
    const [people, setPeople] = useState<{ owner: UserRef; collaborators: UserRef[] } | null>(null);
    const snapOwner = snap?.owner ?? null;
    const snapCollaborators = snap?.collaborators;
    useEffect(() => {
        if (snapOwner && snapCollaborators) setPeople({ owner: snapOwner, collaborators: snapCollaborators });
    }, [snapOwner, snapCollaborators]);
    useEffect(() => {
        if (rest) setPeople({ owner: rest.owner, collaborators: rest.collaborators });
    }, [rest]);
    const owner = people?.owner ?? null;
    const collaborators = people?.collaborators ?? [];
    const isOwner = !!me && !!owner && owner.id === me.id;
    const used = postLength(text);
    const remaining = TWEET_MAX - used;
    const total = codePoints(text);
    const state = remaining < 0 ? 'over' : remaining <= 20 ? 'warn' : 'ok';
    const pct = Math.min(1, used / TWEET_MAX);
    const sync = syncLabel(snap, connected);
    const canPublish = isOwner && !!snap && snap.phase === 'live' && snap.unconfirmed === 0 && connected && isPostable(text) && !publishing;
    const others = snap?.editors ?? [];

    async function publish() {
        if (!session || !canPublish) return;
        setPublishing(true);
        setPublishError(null);
        const version = session.version;
        try {
            const res = await api.publishDraft(id, version);
            addPublishedTweet(res.tweet);
            setPublished(res.tweet.id);
            announce('Draft published as a tweet');
        } catch (err) {
            if (err instanceof ApiError && err.status === 409) {
                setPublishError('The draft changed while you were publishing (someone edited it). Check the text and publish again.');
            } else setPublishError(errorText(err));
        } finally {
            setPublishing(false);
        }
    }

    async function discard() {
        try {
            await api.discardDraft(id);
            toast('Draft discarded');
            navigate('/drafts');
        } catch (err) {
            toast(errorText(err), 'error');
            setConfirmDiscard(false);
        }
    }

    const tweetId = published ?? (snap?.closed?.reason === 'published' ? snap.closed.tweetId : null);

    return (
        <>
            <PageHeader
                title="Draft"
                docTitle="Draft"
                sub={owner ? `by ${owner.displayName}${collaborators.length ? ` with ${collaborators.map((u) => u.displayName).join(', ')}` : ''}` : undefined}
            >
                <Link to="/drafts" className="btn btn--ghost btn--small">
                    All drafts
                </Link>
            </PageHeader>
            <div className="draft">
                <p className={`draft__sync conn conn--${sync.tone}`} data-testid="draft-sync" data-phase={snap?.phase ?? 'joining'}>
                    <span className="conn__dot" aria-hidden="true" />
                    <span>{sync.text}</span>
                    {snap?.loaded && <span className="muted"> · version {snap.version}</span>}
                </p>
                {(closed || tweetId) && snap && (
                    <div className="notice draft__closed" role="alert" data-testid="draft-closed">
                        {tweetId ? (
                            <>
                                Published. <Link to={`/tweet/${tweetId}`}>View the tweet</Link>
                            </>
                        ) : (
                            <>
                                {closedText(snap)} <Link to="/drafts">Back to drafts</Link>
                            </>
                        )}
                    </div>
                )}
                {others.length > 0 && (
                    <p className="draft__editors" data-testid="draft-editors">
                        Editing now:{' '}
                        {others.map((e, i) => (
                            <span key={e.clientID} className="draft__editor" style={{ ['--remote-hue' as string]: String(cursorHue(e.user.handle)) }}>
                                {i > 0 && ', '}
                                <span className="draft__editor-dot" aria-hidden="true" />
                                {e.user.displayName}
                            </span>
                        ))}
                    </p>
                )}
                <div className="draft__editor-box" ref={host} />
                <div className="composer__bar">
                    <span className={`counter counter--${state}`} id={`${uid}-count`}>
                        <svg width="22" height="22" viewBox="0 0 22 22" aria-hidden="true" focusable="false">
                            <circle cx="11" cy="11" r="9" className="counter__track" />
                            <circle cx="11" cy="11" r="9" className="counter__fill" strokeDasharray={`${(pct * 56.55).toFixed(2)} 56.55`} transform="rotate(-90 11 11)" />
                        </svg>
                        <span className="counter__text" data-testid="draft-count">
                            {remaining}
                        </span>
                        <span className="sr-only"> characters remaining for a tweet</span>
                        {total > TWEET_MAX && (
                            <span className="muted draft__total">
                                {' '}
                                · {total} / {DRAFT_EDIT_MAX} while editing
                            </span>
                        )}
                    </span>
                    <span className="composer__actions">
                        {isOwner &&
                            !closed &&
                            (confirmDiscard ? (
                                <span className="confirm" role="group" aria-label="Confirm discard">
                                    <button type="button" className="btn btn--danger btn--small" autoFocus onClick={() => void discard()}>
                                        Discard
                                    </button>
                                    <button type="button" className="btn btn--ghost btn--small" onClick={() => setConfirmDiscard(false)}>
                                        Keep
                                    </button>
                                </span>
                            ) : (
                                <button type="button" className="btn btn--ghost" onClick={() => setConfirmDiscard(true)} data-testid="draft-discard">
                                    Discard
                                </button>
                            ))}
                        {isOwner && !closed && (
                            <button type="button" className="btn btn--primary" disabled={!canPublish} onClick={() => void publish()} data-testid="draft-publish">
                                {publishing ? 'Publishing…' : 'Publish'}
                            </button>
                        )}
                    </span>
                </div>
                {publishError && (
                    <p className="form-error" role="alert" data-testid="draft-publish-error">
                        {publishError}{' '}
                        <button type="button" className="linkish" onClick={() => void publish()} disabled={!canPublish}>
                            Publish again
                        </button>
                    </p>
                )}
                {snap?.lost && (
                    <aside className="draft__lost" aria-label="Your text that could not be saved" data-testid="draft-lost">
                        <p>
                            The draft was reset by the server{snap.notice ? ` (${snap.notice.replace(/_/g, ' ')})` : ''}; your last text could not be
                            saved. Copy what you need:
                        </p>
                        <pre className="draft__lost-text">{snap.lost}</pre>
                        <span className="composer__actions">
                            <button
                                type="button"
                                className="btn btn--outline btn--small"
                                onClick={() =>
                                    void navigator.clipboard?.writeText(snap.lost ?? '').then(
                                        () => toast('Copied'),
                                        () => toast('Could not copy: select the text instead', 'error'),
                                    )
                                }
                            >
                                Copy
                            </button>
                            <button type="button" className="btn btn--ghost btn--small" onClick={() => session?.dismissLost()}>
                                Dismiss
                            </button>
                        </span>
                    </aside>
                )}
                {owner && me && !closed && (
                    <People
                        draftId={id}
                        owner={owner}
                        collaborators={collaborators}
                        isOwner={isOwner}
                        meHandle={me.handle}
                        onChange={(d) => setRest(d)}
                    />
                )}
            </div>
        </>
    );
}
