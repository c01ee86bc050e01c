// Drafts: my open collaborative drafts (owned, and shared with me) and a form to start one.
import { useCallback, useEffect, useId, useState, type FormEvent } from 'react';
import { api } from '../api/endpoints';
import type { Draft } from '../api/types';
import { Avatar } from '../components/Avatar';
import { Empty, FormError, Spinner } from '../components/Feedback';
import { PageHeader } from '../components/PageHeader';
import { Time } from '../components/Time';
import { Link, navigate } from '../lib/router';
import { DRAFT_MAX, codePoints } from '../lib/text';
import { errorText, useApp } from '../store/app';

function NewDraft() {
    const [text, setText] = useState('');
    const [busy, setBusy] = useState(false);
    const [error, setError] = useState<string | null>(null);
    const id = useId();
    const over = codePoints(text) > DRAFT_MAX;

    async function submit(e: FormEvent) {
        e.preventDefault();
        if (over) return;
        setBusy(true);
        setError(null);
        try {
            const d = await api.createDraft(text.trim() ? text : undefined);
            navigate(`/drafts/${d.id}`);
        } catch (err) {
            setError(errorText(err));
            setBusy(false);
        }
    }

    return (
        <form className="newconv draft-new" onSubmit={submit} aria-busy={busy}>
            <label htmlFor={id}>Start a draft (optional first text)</label>
            <textarea
                id={id}
                className="draft-new__input"
                value={text}
                rows={2}
                onChange={(e) => setText(e.target.value)}
                placeholder="An idea to write together…"
                aria-invalid={over}
                aria-describedby={error ? `${id}-err` : undefined}
                data-testid="draft-new-input"
            />
            <div className="composer__bar">
                <span className="muted">Invite people once it is open.</span>
                <button type="submit" className="btn btn--primary" disabled={busy || over} data-testid="draft-new-submit">
                    {busy ? 'Creating…' : 'New draft'}
                </button>
            </div>
            <FormError id={`${id}-err`} error={error} />
        </form>
    );
}

function DraftItem({ d }: { d: Draft }) {
    const people = [d.owner, ...d.collaborators];
    return (
        <li>
            <Link to={`/drafts/${d.id}`} className="conv" data-testid="draft-link">
                <Avatar user={d.owner} size={44} />
                <span className="conv__main">
                    <span className="conv__top">
                        <span className="conv__names">{people.map((u) => u.displayName).join(', ')}</span>
                        <span className="muted">
                            <Time iso={d.updatedAt} />
                        </span>
                    </span>
                    <span className="conv__last">{d.text.trim() ? d.text : 'Empty draft'}</span>
                </span>
            </Link>
        </li>
    );
}

export function DraftsPage() {
    const meId = useApp((s) => s.session?.user.id);
    const [items, setItems] = useState<Draft[]>([]);
    const [status, setStatus] = useState<'loading' | 'ready' | 'error'>('loading');

    const load = useCallback(async () => {
        setStatus((s) => (s === 'ready' ? 'ready' : 'loading'));
        try {
            const page = await api.drafts(null, 50);
            setItems(page.items);
            setStatus('ready');
        } catch {
            setStatus('error');
        }
    }, []);
    // A live draft invitation (a notification) adds a draft to the list: reload.
    const latestInvite = useApp((s) => s.notifications.items.find((n) => n.type === 'draft_invite')?.id);
    useEffect(() => {
        void load();
    }, [load, latestInvite]);

    const mine = items.filter((d) => d.owner.id === meId);
    const shared = items.filter((d) => d.owner.id !== meId);

    return (
        <>
            <PageHeader title="Drafts" sub="Write a tweet together, live" />
            <NewDraft />
            <section aria-label="Drafts" aria-busy={status === 'loading'}>
                {status === 'loading' && items.length === 0 && <Spinner />}
                {status === 'error' && (
                    <p className="inline-error" role="alert">
                        Could not load drafts.{' '}
                        <button type="button" className="linkish" onClick={() => void load()}>
                            Try again
                        </button>
                    </p>
                )}
                {status === 'ready' && items.length === 0 && (
                    <Empty title="No drafts yet">Start one above, invite people, and publish it together.</Empty>
                )}
                {mine.length > 0 && (
                    <>
                        <h2 className="panel__title draft-list__title">My drafts</h2>
                        <ul className="conv-list" data-testid="drafts-mine">
                            {mine.map((d) => (
                                <DraftItem key={d.id} d={d} />
                            ))}
                        </ul>
                    </>
                )}
                {shared.length > 0 && (
                    <>
                        <h2 className="panel__title draft-list__title">Shared with me</h2>
                        <ul className="conv-list" data-testid="drafts-shared">
                            {shared.map((d) => (
                                <DraftItem key={d.id} d={d} />
                            ))}
                        </ul>
                    </>
                )}
            </section>
        </>
    );
}
