// One tweet with its replies and a reply composer.
import { useEffect, useState } from 'react';
import { api } from '../api/endpoints';
import { ApiError } from '../api/http';
import type { Tweet } from '../api/types';
import { Composer } from '../components/Composer';
import { Empty, Spinner } from '../components/Feedback';
import { PageHeader } from '../components/PageHeader';
import { TweetCard } from '../components/TweetCard';
import { errorText, useApp } from '../store/app';
import { usePaged } from './usePaged';

export function TweetPage({ id }: { id: string }) {
    const [tweet, setTweet] = useState<Tweet | null>(null);
    const [error, setError] = useState<string | null>(null);
    const deleted = useApp((s) => !!s.deleted[id]);
    const replies = usePaged<Tweet>((before) => api.replies(id, before), `replies:${id}`);

    useEffect(() => {
        let live = true;
        setTweet(null);
        setError(null);
        api.tweet(id)
            .then((t) => live && setTweet(t))
            .catch((err) => live && setError(err instanceof ApiError && err.status === 404 ? 'This tweet was deleted or never existed.' : errorText(err)));
        return () => {
            live = false;
        };
    }, [id]);

    if (error || deleted) {
        return (
            <>
                <PageHeader title="Tweet" />
                <Empty title="Tweet not available">{error ?? 'This tweet was deleted.'}</Empty>
            </>
        );
    }
    if (!tweet) {
        return (
            <>
                <PageHeader title="Tweet" />
                <Spinner />
            </>
        );
    }
    return (
        <>
            <PageHeader title="Tweet" docTitle={`${tweet.author.displayName}: “${tweet.content.slice(0, 40)}”`} />
            <TweetCard tweet={tweet} detail />
            <Composer replyTo={tweet.retweetOf ?? tweet} initialText={`@${(tweet.retweetOf ?? tweet).author.handle} `} onPosted={(t) => replies.setItems((cur) => [...cur, t])} />
            <section aria-label="Replies">
                {replies.status === 'loading' && <Spinner label="Loading replies" />}
                {replies.items.map((t) => (
                    <TweetCard key={t.id} tweet={t} />
                ))}
                {replies.hasMore && (
                    <div className="more">
                        <button type="button" className="btn btn--outline" onClick={replies.loadMore}>
                            More replies
                        </button>
                    </div>
                )}
            </section>
        </>
    );
}
