import { useEffect, type ReactNode } from 'react';
import { setPageTitle } from '../lib/title';

/** The page's h1 (focus target after navigation) and the document title. */
export function PageHeader({ title, sub, children, docTitle }: { title: string; sub?: ReactNode; children?: ReactNode; docTitle?: string }) {
    useEffect(() => {
        setPageTitle(docTitle ?? title);
    }, [title, docTitle]);
    return (
        <header className="page-header">
            <div className="page-header__text">
                <h1 id="page-title" tabIndex={-1}>
                    {title}
                </h1>
                {sub && <p className="page-header__sub">{sub}</p>}
            </div>
            {children}
        </header>
    );
}
