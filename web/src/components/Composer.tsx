// The tweet composer: a labelled textarea, a live code-point counter (the server's rule:
// 1..280 code points after trimming), Ctrl/⌘+Enter to post, and errors in an alert.
import { useEffect, useId, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { TWEET_MAX, isPostable, postLength } from '../lib/text';
import { errorText, postTweet, useApp } from '../store/app';
import type { Tweet } from '../api/types';
import { Avatar } from './Avatar';

interface Props {
    replyTo?: Tweet | null;
    initialText?: string;
    placeholder?: string;
    autoFocus?: boolean;
    label?: string;
    onPosted?: (t: Tweet) => void;
    onCancel?: () => void;
}

export function Composer({ replyTo = null, initialText = '', placeholder, autoFocus, label, onPosted, onCancel }: Props) {
    const me = useApp((s) => s.session?.user);
    const [text, setText] = useState(initialText);
    const [busy, setBusy] = useState(false);
    const [error, setError] = useState<string | null>(null);
    const ref = useRef<HTMLTextAreaElement>(null);
    const id = useId();

    // A reply starts with "@handle ": put the caret after it, not before.
    useEffect(() => {
        const el = ref.current;
        if (autoFocus && el) {
            el.focus();
            el.setSelectionRange(el.value.length, el.value.length);
        }
        // eslint-disable-next-line react-hooks/exhaustive-deps
    }, []);

    const used = postLength(text);
    const remaining = TWEET_MAX - used;
    const canPost = isPostable(text) && !busy;

    async function submit(e?: FormEvent) {
        e?.preventDefault();
        if (!canPost) return;
        setBusy(true);
        setError(null);
        try {
            const t = await postTweet(text, replyTo);
            setText('');
            onPosted?.(t);
            ref.current?.focus();
        } catch (err) {
            setError(errorText(err));
        } finally {
            setBusy(false);
        }
    }

    function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
        if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void submit();
        if (e.key === 'Escape' && onCancel) onCancel();
    }

    const pct = Math.min(1, used / TWEET_MAX);
    const state = remaining < 0 ? 'over' : remaining <= 20 ? 'warn' : 'ok';
    const labelText = label ?? (replyTo ? `Reply to @${replyTo.author.handle}` : 'Compose a tweet');

    return (
        <form className={`composer${replyTo ? ' composer--reply' : ''}`} onSubmit={submit} aria-busy={busy}>
            {me && !replyTo && <Avatar user={me} />}
            <div className="composer__body">
                <label htmlFor={`${id}-text`} className="sr-only">
                    {labelText}
                </label>
                <textarea
                    id={`${id}-text`}
                    ref={ref}
                    className="composer__input"
                    value={text}
                    placeholder={placeholder ?? (replyTo ? 'Post your reply' : "What's happening?")}
                    rows={replyTo ? 2 : 3}
                    autoFocus={autoFocus}
                    onChange={(e) => setText(e.target.value)}
                    onKeyDown={onKeyDown}
                    aria-describedby={`${id}-count`}
                    aria-invalid={remaining < 0}
                    data-testid="composer-input"
                />
                {error && (
                    <p className="form-error" role="alert">
                        {error}
                    </p>
                )}
                <div className="composer__bar">
                    <span className={`counter counter--${state}`} id={`${id}-count`}>
                        <svg width="22" height="22" viewBox="0 0 22 22" aria-hidden="true" focusable="false">
                            <circle cx="11" cy="11" r="9" className="counter__track" />
                            <circle
                                cx="11"
                                cy="11"
                                r="9"
                                className="counter__fill"
                                strokeDasharray={`${(pct * 56.55).toFixed(2)} 56.55`}
                                transform="rotate(-90 11 11)"
                            />
                        </svg>
                        <span className="counter__text" data-testid="composer-count">
                            {remaining}
                        </span>
                        <span className="sr-only"> characters remaining</span>
                    </span>
                    <span className="composer__actions">
                        {onCancel && (
                            <button type="button" className="btn btn--ghost" onClick={onCancel}>
                                Cancel
                            </button>
                        )}
                        <button type="submit" className="btn btn--primary" disabled={!canPost} data-testid="composer-submit">
                            {busy ? 'Posting…' : replyTo ? 'Reply' : 'Tweet'}
                        </button>
                    </span>
                </div>
            </div>
        </form>
    );
}
