// Home: the composer and the home timeline; live tweets arrive at the top.
import { useEffect } from 'react';
import { Composer } from '../components/Composer';
import { Empty, Spinner } from '../components/Feedback';
import { PageHeader } from '../components/PageHeader';
import { TweetCard } from '../components/TweetCard';
import { Link } from '../lib/router';
import { loadMoreTimeline, loadTimeline, useApp } from '../store/app';

export function HomePage() {
    const tl = useApp((s) => s.timeline);
    useEffect(() => {
        void loadTimeline();
    }, []);

    return (
        <>
            <PageHeader title="Home" docTitle="Home" />
            <Composer />
            <section aria-label="Home timeline" aria-busy={tl.status === 'loading'} data-testid="timeline">
                {tl.status === 'loading' && tl.items.length === 0 && <Spinner label="Loading your timeline" />}
                {tl.status === 'error' && (
                    <div className="inline-error" role="alert">
                        <p>Could not load your timeline: {tl.error}</p>
                        <button type="button" className="btn btn--outline" onClick={() => void loadTimeline(true)}>
                            Try again
                        </button>
                    </div>
                )}
                {tl.status === 'ready' && tl.items.length === 0 && (
                    <Empty title="Welcome to Chirp!">
                        Your timeline fills up with tweets from people you follow. <Link to="/search">Find people to follow</Link>.
                    </Empty>
                )}
                {tl.items.map((t) => (
                    <TweetCard key={t.id} tweet={t} />
                ))}
                {tl.nextCursor && (
                    <div className="more">
                        <button type="button" className="btn btn--outline" onClick={() => void loadMoreTimeline()} disabled={tl.loadingMore}>
                            {tl.loadingMore ? 'Loading…' : 'Show older tweets'}
                        </button>
                    </div>
                )}
            </section>
        </>
    );
}
