// A hashtag: the API has no tweet search, so this filters the tweets already loaded in the
// home timeline (and says so).
import { useEffect } from 'react';
import { Empty } from '../components/Feedback';
import { PageHeader } from '../components/PageHeader';
import { TweetCard } from '../components/TweetCard';
import { loadTimeline, useApp } from '../store/app';
import { targetOf } from '../store/state';

export function TagPage({ tag }: { tag: string }) {
    const items = useApp((s) => s.timeline.items);
    useEffect(() => {
        void loadTimeline();
    }, []);
    const t = tag.toLowerCase();
    const matching = items.filter((x) => {
        const o = targetOf(x);
        return (o.hashtags ?? []).some((h) => h.toLowerCase() === t) || o.content.toLowerCase().includes(`#${t}`);
    });
    return (
        <>
            <PageHeader title={`#${tag}`} sub="From your home timeline" />
            {matching.length === 0 ? (
                <Empty title={`No tweets with #${tag} in your timeline yet`} />
            ) : (
                <section aria-label={`Tweets tagged ${tag}`}>
                    {matching.map((x) => (
                        <TweetCard key={x.id} tweet={x} />
                    ))}
                </section>
            )}
        </>
    );
}
