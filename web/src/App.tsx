// The shell: skip link, three columns (nav | main | side panel), the route table, the login
// guard, and focus moved to the new page's heading after each navigation.
import { Suspense, lazy, useEffect, useRef, type ReactNode } from 'react';
import { LiveAnnouncer, Spinner, Toasts } from './components/Feedback';
import { Nav } from './components/Nav';
import { SidePanel } from './components/SidePanel';
import { matchPath, navigate, navigationCount, useLocation } from './lib/router';
import { setUnreadInTitle } from './lib/title';
import { useApp } from './store/app';
import { LoginPage, RegisterPage } from './pages/Auth';
import { HomePage } from './pages/Home';
import { DraftsPage } from './pages/Drafts';
import { ConversationPage, MessagesPage } from './pages/Messages';
import { NotFoundPage } from './pages/NotFound';
import { NotificationsPage } from './pages/Notifications';
import { MeRedirect, ProfilePage } from './pages/Profile';
import { SearchPage } from './pages/Search';
import { StatsPage } from './pages/Stats';
import { TagPage } from './pages/Tag';
import { TweetPage } from './pages/TweetPage';

// The draft editor (CodeMirror) is a separate chunk, loaded when a draft is opened.
const DraftEditorPage = lazy(() => import('./pages/DraftEditor').then((m) => ({ default: m.DraftEditorPage })));

interface Route {
    path: string;
    render: (p: Record<string, string>) => ReactNode;
    /** Open without logging in. */
    public?: boolean;
}

const routes: Route[] = [
    { path: '/', render: () => <HomePage /> },
    { path: '/search', render: () => <SearchPage /> },
    { path: '/tag/:tag', render: (p) => <TagPage tag={p.tag} /> },
    { path: '/notifications', render: () => <NotificationsPage /> },
    { path: '/messages', render: () => <MessagesPage /> },
    { path: '/messages/:id', render: (p) => <ConversationPage key={p.id} id={p.id} /> },
    { path: '/drafts', render: () => <DraftsPage /> },
    {
        path: '/drafts/:id',
        render: (p) => (
            <Suspense fallback={<Spinner label="Loading the editor…" />}>
                <DraftEditorPage key={p.id} id={p.id} />
            </Suspense>
        ),
    },
    { path: '/me', render: () => <MeRedirect /> },
    { path: '/u/:handle', render: (p) => <ProfilePage key={p.handle} handle={p.handle} /> },
    { path: '/u/:handle/followers', render: (p) => <ProfilePage key={p.handle} handle={p.handle} tab="followers" /> },
    { path: '/u/:handle/following', render: (p) => <ProfilePage key={p.handle} handle={p.handle} tab="following" /> },
    { path: '/tweet/:id', render: (p) => <TweetPage key={p.id} id={p.id} /> },
    { path: '/stats', render: () => <StatsPage />, public: true },
];

function resolve(path: string): { route: Route | null; params: Record<string, string> } {
    for (const r of routes) {
        const params = matchPath(r.path, path);
        if (params) return { route: r, params };
    }
    return { route: null, params: {} };
}

function useFocusOnNavigate(href: string) {
    const first = useRef(true);
    useEffect(() => {
        if (first.current && navigationCount() === 0) {
            first.current = false;
            return;
        }
        first.current = false;
        // After the new page rendered: move focus to its heading so screen readers and
        // keyboard users start at the top of the new content.
        const t = window.setTimeout(() => {
            const h = document.getElementById('page-title');
            if (h && !h.contains(document.activeElement) && document.activeElement?.tagName !== 'INPUT' && document.activeElement?.tagName !== 'TEXTAREA') {
                h.focus({ preventScroll: true });
            }
        }, 0);
        return () => window.clearTimeout(t);
    }, [href]);
}

export function App() {
    const { path, href } = useLocation();
    const signedIn = useApp((s) => !!s.session);
    const unread = useApp((s) => s.notifications.unread);
    const { route, params } = resolve(path);
    useEffect(() => setUnreadInTitle(signedIn ? unread : 0), [signedIn, unread]);
    useFocusOnNavigate(href);

    const isAuthPage = path === '/login' || path === '/register';
    useEffect(() => {
        if (!signedIn && !isAuthPage && !route?.public) {
            navigate(`/login${path !== '/' ? `?next=${encodeURIComponent(href)}` : ''}`, { replace: true });
        } else if (signedIn && isAuthPage) {
            navigate('/', { replace: true });
        }
    }, [signedIn, isAuthPage, route, path, href]);

    if (isAuthPage && !signedIn) {
        return (
            <>
                {path === '/login' ? <LoginPage /> : <RegisterPage />}
                <Toasts />
            </>
        );
    }
    if (!signedIn && !route?.public) return null;

    return (
        <>
            <a className="skip-link" href="#main">
                Skip to main content
            </a>
            <div className={`layout${signedIn ? '' : ' layout--public'}`}>
                {signedIn ? (
                    <Nav />
                ) : (
                    <nav className="nav nav--public" aria-label="Primary">
                        <a className="btn btn--primary" href="/login" onClick={(e) => (e.preventDefault(), navigate('/login'))}>
                            Log in
                        </a>
                    </nav>
                )}
                <main id="main" className="main" tabIndex={-1}>
                    {route ? route.render(params) : <NotFoundPage />}
                </main>
                {signedIn && <SidePanel />}
            </div>
            <LiveAnnouncer />
            <Toasts />
        </>
    );
}
