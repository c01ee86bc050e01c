// Direct messages: the conversation list with a "new message" form, and one conversation
// with live messages, a typing indicator, and a composer that sends typing notices.
import { useEffect, useId, useLayoutEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import type { Conversation, UserRef } from '../api/types';
import { Avatar } from '../components/Avatar';
import { ApiError } from '../api/http';
import { Empty, Spinner } from '../components/Feedback';
import { HandleForm } from '../components/HandleForm';
import { Icon } from '../components/Icons';
import { PageHeader } from '../components/PageHeader';
import { RichText } from '../components/RichText';
import { Time } from '../components/Time';
import { Link, navigate } from '../lib/router';
import { MESSAGE_MAX, isPostable, postLength } from '../lib/text';
import {
    errorText,
    loadConversations,
    loadMoreConversations,
    loadOlderMessages,
    loadThread,
    openConversation,
    sendMessage,
    sendTyping,
    useApp,
} from '../store/app';

function others(c: Conversation, meId: string | undefined): UserRef[] {
    const o = c.participants.filter((p) => p.id !== meId);
    return o.length ? o : c.participants;
}

function names(users: UserRef[]): string {
    return users.map((u) => u.displayName).join(', ');
}

function NewConversation() {
    return (
        <HandleForm
            label="Start a conversation"
            placeholder="@handle (several: separate with commas)"
            submitLabel="Message"
            primary
            testId="newconv"
            onHandles={async (handles) => {
                const conv = await openConversation(handles);
                navigate(`/messages/${conv.id}`);
            }}
        />
    );
}

export function MessagesPage() {
    const meId = useApp((s) => s.session?.user.id);
    const convs = useApp((s) => s.conversations);
    useEffect(() => {
        void loadConversations();
    }, []);

    return (
        <>
            <PageHeader title="Messages" />
            <NewConversation />
            <section aria-label="Conversations" aria-busy={convs.status === 'loading'}>
                {convs.status === 'loading' && convs.items.length === 0 && <Spinner />}
                {convs.status === 'error' && convs.items.length === 0 && (
                    <p className="inline-error" role="alert">
                        Could not load conversations.{' '}
                        <button type="button" className="linkish" onClick={() => void loadConversations()}>
                            Try again
                        </button>
                    </p>
                )}
                {convs.status === 'ready' && convs.items.length === 0 && <Empty title="No conversations yet">Start one above: messages arrive live on both sides.</Empty>}
                <ul className="conv-list">
                    {convs.items.map((c) => {
                        const who = others(c, meId);
                        return (
                            <li key={c.id}>
                                <Link to={`/messages/${c.id}`} className="conv" data-testid="conversation-link">
                                    <Avatar user={who[0]} size={44} />
                                    <span className="conv__main">
                                        <span className="conv__top">
                                            <span className="conv__names">{names(who)}</span>
                                            {c.lastMessage && (
                                                <span className="muted">
                                                    <Time iso={c.lastMessage.createdAt} />
                                                </span>
                                            )}
                                        </span>
                                        <span className="conv__last">
                                            {c.lastMessage
                                                ? `${c.lastMessage.sender.id === meId ? 'You: ' : ''}${c.lastMessage.content}`
                                                : 'No messages yet'}
                                        </span>
                                    </span>
                                </Link>
                            </li>
                        );
                    })}
                </ul>
                {convs.nextCursor && (
                    <div className="more">
                        <button
                            type="button"
                            className="btn btn--outline"
                            onClick={() => void loadMoreConversations()}
                            disabled={convs.loadingMore}
                            data-testid="conversations-more"
                        >
                            {convs.loadingMore ? 'Loading…' : 'Older conversations'}
                        </button>
                    </div>
                )}
            </section>
        </>
    );
}

/** A display name for a user ref that may arrive without one (typing frames). */
function nameOf(u: UserRef, conv: Conversation | undefined): string {
    if (u.displayName) return u.displayName;
    const p = conv?.participants.find((x) => x.id === u.id);
    return p?.displayName || (u.handle ? `@${u.handle}` : p ? `@${p.handle}` : 'Someone');
}

function TypingIndicator({ conversationId }: { conversationId: string }) {
    const typing = useApp((s) => s.typing[conversationId]);
    const conv = useApp((s) => s.conversations.items.find((c) => c.id === conversationId));
    const [now, setNow] = useState(() => Date.now());
    const entries = Object.values(typing ?? {}).filter((e) => e.until > now);
    // Re-check expiry locally so the indicator disappears on time even without events.
    useEffect(() => {
        if (!typing || Object.keys(typing).length === 0) return;
        const t = window.setInterval(() => setNow(Date.now()), 500);
        return () => window.clearInterval(t);
    }, [typing]);
    useEffect(() => setNow(Date.now()), [typing]);

    let text = '';
    if (entries.length === 1) text = `${nameOf(entries[0].user, conv)} is typing…`;
    else if (entries.length > 1) text = `${entries.map((e) => nameOf(e.user, conv)).join(', ')} are typing…`;
    return (
        <p className="typing" aria-live="polite" data-testid="typing-indicator">
            {text && (
                <>
                    <span className="typing__dots" aria-hidden="true">
                        <i />
                        <i />
                        <i />
                    </span>
                    {text}
                </>
            )}
        </p>
    );
}

export function ConversationPage({ id }: { id: string }) {
    const meId = useApp((s) => s.session?.user.id);
    const conv = useApp((s) => s.conversations.items.find((c) => c.id === id));
    const thread = useApp((s) => s.threads[id]);
    const [failed, setFailed] = useState<string | null>(null);
    const [text, setText] = useState('');
    const [sending, setSending] = useState(false);
    const [sendError, setSendError] = useState<string | null>(null);
    const listRef = useRef<HTMLOListElement>(null);
    const stick = useRef(true);
    const inputId = useId();

    useEffect(() => {
        setFailed(null);
        // Refresh the list too: this conversation may be newer than the list we have.
        void loadConversations();
        loadThread(id).catch((err) => {
            setFailed(err instanceof ApiError && (err.status === 404 || err.status === 403) ? 'This conversation does not exist or you are not in it.' : errorText(err));
        });
        // eslint-disable-next-line react-hooks/exhaustive-deps
    }, [id]);

    // Keep the newest message in view unless the reader scrolled up.
    const count = thread?.items.length ?? 0;
    useLayoutEffect(() => {
        const el = listRef.current;
        if (el && stick.current) el.scrollTop = el.scrollHeight;
    }, [count]);

    const who = conv ? others(conv, meId) : [];
    const title = who.length ? names(who) : 'Conversation';

    async function submit(e?: FormEvent) {
        e?.preventDefault();
        if (!isPostable(text, MESSAGE_MAX) || sending) return;
        setSending(true);
        setSendError(null);
        try {
            await sendMessage(id, text);
            setText('');
            stick.current = true;
        } catch (err) {
            setSendError(errorText(err));
        } finally {
            setSending(false);
        }
    }

    function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
        if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
            e.preventDefault();
            void submit();
        }
    }

    if (failed) {
        return (
            <>
                <PageHeader title="Conversation" />
                <Empty title="Can't open this conversation">
                    {failed} <Link to="/messages">Back to messages</Link>
                </Empty>
            </>
        );
    }

    const remaining = MESSAGE_MAX - postLength(text);
    return (
        <div className="chat">
            <PageHeader title={title} sub={who.length ? who.map((u) => `@${u.handle}`).join(' ') : undefined} docTitle={`Messages with ${title}`}>
                <Link to="/messages" className="btn btn--ghost">
                    All messages
                </Link>
            </PageHeader>
            <ol
                className="chat__list"
                ref={listRef}
                aria-label={`Messages with ${title}`}
                tabIndex={0}
                data-testid="message-list"
                onScroll={(e) => {
                    const el = e.currentTarget;
                    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
                }}
            >
                {thread?.nextCursor && (
                    <li className="chat__older">
                        <button type="button" className="btn btn--ghost btn--small" onClick={() => void loadOlderMessages(id)}>
                            Load older messages
                        </button>
                    </li>
                )}
                {(!thread || thread.status === 'loading') && (
                    <li>
                        <Spinner />
                    </li>
                )}
                {thread?.status === 'ready' && thread.items.length === 0 && <li className="muted chat__empty">No messages yet. Say hi!</li>}
                {thread?.items.map((m) => {
                    const mine = m.sender.id === meId;
                    return (
                        <li key={m.id} className={`msg${mine ? ' msg--mine' : ''}`} data-testid="message">
                            <span className="sr-only">{mine ? 'You' : m.sender.displayName}: </span>
                            <span className="msg__bubble">
                                <RichText text={m.content} />
                            </span>
                            <span className="msg__meta">
                                <Time iso={m.createdAt} />
                            </span>
                        </li>
                    );
                })}
            </ol>
            <TypingIndicator conversationId={id} />
            <form className="chat__composer" onSubmit={submit}>
                <label htmlFor={inputId} className="sr-only">
                    Message {title}
                </label>
                <textarea
                    id={inputId}
                    value={text}
                    rows={1}
                    placeholder="Start a new message"
                    onChange={(e) => {
                        setText(e.target.value);
                        if (e.target.value.trim()) sendTyping(id);
                    }}
                    onKeyDown={onKeyDown}
                    aria-describedby={`${inputId}-hint`}
                    data-testid="message-input"
                />
                <span id={`${inputId}-hint`} className={`chat__count${remaining < 0 ? ' is-over' : ''}`}>
                    {remaining <= 100 ? `${remaining}` : ''}
                    <span className="sr-only">Enter sends, Shift+Enter adds a line.</span>
                </span>
                <button type="submit" className="icon-btn icon-btn--primary" disabled={!isPostable(text, MESSAGE_MAX) || sending} aria-label="Send" data-testid="message-send">
                    <Icon name="send" size={20} />
                </button>
            </form>
            {sendError && (
                <p className="form-error" role="alert">
                    {sendError}
                </p>
            )}
        </div>
    );
}
