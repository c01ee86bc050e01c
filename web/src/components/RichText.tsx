import { useMemo } from 'react';
import { Link } from '../lib/router';
import { tokenize } from '../lib/text';

/** Tweet or message text with @mentions → profiles, #hashtags → tag pages, URLs → links. */
export function RichText({ text, mentions }: { text: string; mentions?: readonly string[] }) {
    const pieces = useMemo(() => tokenize(text, mentions), [text, mentions]);
    return (
        <>
            {pieces.map((p, i) => {
                switch (p.kind) {
                    case 'mention':
                        return (
                            <Link key={i} className="entity" to={`/u/${encodeURIComponent(p.handle)}`}>
                                {p.text}
                            </Link>
                        );
                    case 'hashtag':
                        return (
                            <Link key={i} className="entity" to={`/tag/${encodeURIComponent(p.tag)}`}>
                                {p.text}
                            </Link>
                        );
                    case 'url':
                        return (
                            <a key={i} className="entity" href={p.href} target="_blank" rel="noopener noreferrer nofollow">
                                {p.text}
                            </a>
                        );
                    default:
                        return <span key={i}>{p.text}</span>;
                }
            })}
        </>
    );
}
