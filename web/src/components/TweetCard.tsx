// One tweet: author, time, rich text, retweet / reply context, and the action row (reply,
// retweet, like, delete). Live counts come from the store's patches for this tweet id, so
// every copy on screen updates together.
import { memo, useState } from 'react';
import type { Tweet } from '../api/types';
import { Link, navigate } from '../lib/router';
import { compactNumber } from '../lib/text';
import { deleteTweet, retweet, setLiked, useApp } from '../store/app';
import { targetOf } from '../store/state';
import { Avatar } from './Avatar';
import { Composer } from './Composer';
import { Icon } from './Icons';
import { RichText } from './RichText';
import { Time } from './Time';

function useLive(t: Tweet): Tweet {
    const patch = useApp((s) => s.patches[t.id]);
    return patch ? { ...t, ...patch } : t;
}

export const TweetCard = memo(function TweetCard({ tweet, detail = false }: { tweet: Tweet; detail?: boolean }) {
    const meId = useApp((s) => s.session?.user.id);
    const isFresh = useApp((s) => !!s.fresh[tweet.id]);
    const deleted = useApp((s) => !!s.deleted[tweet.id] || (!!tweet.retweetOf && !!s.deleted[tweet.retweetOf.id]));
    const shown = useLive(targetOf(tweet));
    const [replying, setReplying] = useState(false);
    const [confirming, setConfirming] = useState(false);

    if (deleted) return null;
    const isRetweet = !!tweet.retweetOf;
    const mine = tweet.author.id === meId;
    const headingId = `tw-${tweet.id}-author`;

    return (
        <article
            className={`tweet${isFresh ? ' tweet--fresh' : ''}${detail ? ' tweet--detail' : ''}`}
            aria-labelledby={headingId}
            data-testid="tweet"
            data-tweet-id={tweet.id}
        >
            {isRetweet && (
                <p className="tweet__context">
                    <Icon name="repeat" size={14} />{' '}
                    <Link to={`/u/${tweet.author.handle}`}>{mine ? 'You' : tweet.author.displayName}</Link> retweeted
                </p>
            )}
            <div className="tweet__row">
                <Link to={`/u/${shown.author.handle}`} tabIndex={-1} aria-hidden="true" className="tweet__avatar">
                    <Avatar user={shown.author} />
                </Link>
                <div className="tweet__main">
                    <header className="tweet__header" id={headingId}>
                        <Link to={`/u/${shown.author.handle}`} className="tweet__name">
                            {shown.author.displayName}
                        </Link>{' '}
                        <span className="tweet__handle">@{shown.author.handle}</span>
                        <span className="tweet__dot" aria-hidden="true">
                            ·
                        </span>
                        <Link to={`/tweet/${shown.id}`} className="tweet__time" aria-label={`Open tweet, posted ${new Date(shown.createdAt).toLocaleString()}`}>
                            <Time iso={shown.createdAt} />
                        </Link>
                    </header>
                    {shown.coauthors && shown.coauthors.length > 0 && (
                        <p className="tweet__coauthors" data-testid="tweet-coauthors">
                            with{' '}
                            {shown.coauthors.map((u, i) => (
                                <span key={u.id}>
                                    {i > 0 && ', '}
                                    <Link to={`/u/${u.handle}`} title={u.displayName}>
                                        @{u.handle}
                                    </Link>
                                </span>
                            ))}
                        </p>
                    )}
                    {shown.replyTo && (
                        <p className="tweet__replying">
                            <Link to={`/tweet/${shown.replyTo}`}>Replying to a tweet</Link>
                        </p>
                    )}
                    <p className="tweet__text" data-testid="tweet-text">
                        <RichText text={shown.content} mentions={shown.mentions} />
                    </p>
                    <div className="tweet__actions" role="group" aria-label="Tweet actions">
                        <button
                            type="button"
                            className="action action--reply"
                            onClick={() => setReplying((r) => !r)}
                            aria-expanded={replying}
                            aria-label={`Reply, ${shown.replies} ${shown.replies === 1 ? 'reply' : 'replies'}`}
                        >
                            <Icon name="reply" size={18} />
                            <span aria-hidden="true">{shown.replies ? compactNumber(shown.replies) : ''}</span>
                        </button>
                        <button
                            type="button"
                            className={`action action--retweet${shown.retweetedByMe ? ' is-on' : ''}`}
                            onClick={() => void retweet(shown)}
                            aria-pressed={shown.retweetedByMe}
                            disabled={shown.retweetedByMe}
                            aria-label={`Retweet, ${shown.retweets} ${shown.retweets === 1 ? 'retweet' : 'retweets'}`}
                            data-testid="retweet-button"
                        >
                            <Icon name="repeat" size={18} />
                            <span aria-hidden="true" data-testid="retweet-count">
                                {compactNumber(shown.retweets)}
                            </span>
                        </button>
                        <button
                            type="button"
                            className={`action action--like${shown.likedByMe ? ' is-on' : ''}`}
                            onClick={() => void setLiked(shown, !shown.likedByMe)}
                            aria-pressed={shown.likedByMe}
                            aria-label={`${shown.likedByMe ? 'Unlike' : 'Like'}, ${shown.likes} ${shown.likes === 1 ? 'like' : 'likes'}`}
                            data-testid="like-button"
                        >
                            <Icon name={shown.likedByMe ? 'heartFilled' : 'heart'} size={18} />
                            <span aria-hidden="true" data-testid="like-count">
                                {compactNumber(shown.likes)}
                            </span>
                        </button>
                        {mine &&
                            (confirming ? (
                                <span className="confirm" role="group" aria-label="Confirm delete">
                                    <button
                                        type="button"
                                        className="btn btn--danger btn--small"
                                        autoFocus
                                        onClick={async () => {
                                            if (!(await deleteTweet(tweet))) setConfirming(false);
                                            else if (detail) navigate('/');
                                        }}
                                    >
                                        {isRetweet ? 'Undo retweet' : 'Delete'}
                                    </button>
                                    <button type="button" className="btn btn--ghost btn--small" onClick={() => setConfirming(false)}>
                                        Keep
                                    </button>
                                </span>
                            ) : (
                                <button
                                    type="button"
                                    className="action action--delete"
                                    onClick={() => setConfirming(true)}
                                    aria-label={isRetweet ? 'Undo retweet' : 'Delete tweet'}
                                >
                                    <Icon name="trash" size={18} />
                                </button>
                            ))}
                    </div>
                    {replying && (
                        <Composer
                            replyTo={shown}
                            initialText={shown.author.id === meId ? '' : `@${shown.author.handle} `}
                            autoFocus
                            onPosted={() => setReplying(false)}
                            onCancel={() => setReplying(false)}
                        />
                    )}
                </div>
            </div>
        </article>
    );
});
