// Log in and sign up. Labelled fields, client-side checks that mirror the server's rules,
// server errors in an alert, and the 429 Retry-After shown in words.
import { useEffect, useId, useState, type FormEvent, type ReactNode } from 'react';
import { ApiError } from '../api/http';
import { Icon } from '../components/Icons';
import { Link, navigate, useLocation } from '../lib/router';
import { setPageTitle } from '../lib/title';
import { HANDLE_RE, codePoints } from '../lib/text';
import { clearSessionNotice, errorText, login, register, useApp } from '../store/app';

function authError(err: unknown): string {
    if (err instanceof ApiError) {
        if (err.status === 429) {
            const s = err.retryAfterSeconds;
            return `Too many attempts. Try again ${s ? `in ${s} s` : 'in a minute'}.`;
        }
        if (err.status === 401) return 'Wrong handle or password.';
        if (err.status === 409) return 'That handle is taken. Try another one.';
    }
    return errorText(err);
}

function Field(props: {
    label: string;
    type?: string;
    value: string;
    onChange: (v: string) => void;
    autoComplete?: string;
    hint?: string;
    error?: string | null;
    autoFocus?: boolean;
    name: string;
}) {
    const id = useId();
    return (
        <div className="field">
            <label htmlFor={id}>{props.label}</label>
            <input
                id={id}
                name={props.name}
                type={props.type ?? 'text'}
                value={props.value}
                onChange={(e) => props.onChange(e.target.value)}
                autoComplete={props.autoComplete}
                autoFocus={props.autoFocus}
                aria-invalid={!!props.error}
                aria-describedby={props.hint || props.error ? `${id}-hint` : undefined}
                spellCheck={false}
                autoCapitalize="off"
                required
            />
            {(props.error || props.hint) && (
                <p id={`${id}-hint`} className={props.error ? 'field__error' : 'field__hint'}>
                    {props.error ?? props.hint}
                </p>
            )}
        </div>
    );
}

function AuthShell({ title, children }: { title: string; children: ReactNode }) {
    useEffect(() => {
        setPageTitle(title);
    }, [title]);
    return (
        <main className="auth" id="main">
            <div className="auth__card">
                <div className="auth__brand" aria-hidden="true">
                    <Icon name="bird" size={40} />
                </div>
                <h1 id="page-title" tabIndex={-1}>
                    {title}
                </h1>
                {children}
            </div>
        </main>
    );
}

function afterLogin(next: string | null) {
    navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true });
}

export function LoginPage() {
    const { query } = useLocation();
    const notice = useApp((s) => s.sessionNotice);
    const [handle, setHandle] = useState('');
    const [password, setPassword] = useState('');
    const [error, setError] = useState<string | null>(null);
    const [busy, setBusy] = useState(false);

    async function submit(e: FormEvent) {
        e.preventDefault();
        setBusy(true);
        setError(null);
        try {
            await login(handle.trim().replace(/^@/, ''), password);
            clearSessionNotice();
            afterLogin(query.get('next'));
        } catch (err) {
            setError(authError(err));
            setBusy(false);
        }
    }

    return (
        <AuthShell title="Log in to Chirp">
            {notice && (
                <p className="notice" role="status">
                    {notice}
                </p>
            )}
            <form onSubmit={submit} className="auth__form" aria-busy={busy} noValidate>
                <Field name="handle" label="Handle" value={handle} onChange={setHandle} autoComplete="username" autoFocus />
                <Field name="password" label="Password" type="password" value={password} onChange={setPassword} autoComplete="current-password" />
                {error && (
                    <p className="form-error" role="alert">
                        {error}
                    </p>
                )}
                <button type="submit" className="btn btn--primary btn--block" disabled={busy || !handle || !password}>
                    {busy ? 'Logging in…' : 'Log in'}
                </button>
            </form>
            <p className="auth__switch">
                New to Chirp? <Link to="/register">Create an account</Link>
            </p>
        </AuthShell>
    );
}

export function RegisterPage() {
    const { query } = useLocation();
    const [handle, setHandle] = useState('');
    const [displayName, setDisplayName] = useState('');
    const [password, setPassword] = useState('');
    const [error, setError] = useState<string | null>(null);
    const [busy, setBusy] = useState(false);
    const [touched, setTouched] = useState(false);

    const h = handle.trim().replace(/^@/, '');
    const handleErr = h && !HANDLE_RE.test(h) ? '3 to 15 letters, digits or underscores.' : null;
    const nameLen = codePoints(displayName.trim());
    const nameErr = touched && (nameLen < 1 || nameLen > 50) ? 'Between 1 and 50 characters.' : null;
    const pwBytes = new TextEncoder().encode(password).length;
    const pwErr = password && (pwBytes < 8 || pwBytes > 128) ? 'At least 8 characters.' : null;
    const valid = HANDLE_RE.test(h) && nameLen >= 1 && nameLen <= 50 && pwBytes >= 8 && pwBytes <= 128;

    async function submit(e: FormEvent) {
        e.preventDefault();
        setTouched(true);
        if (!valid) return;
        setBusy(true);
        setError(null);
        try {
            await register(h, password, displayName.trim());
            afterLogin(query.get('next'));
        } catch (err) {
            setError(authError(err));
            setBusy(false);
        }
    }

    return (
        <AuthShell title="Join Chirp">
            <form onSubmit={submit} className="auth__form" aria-busy={busy} noValidate>
                <Field name="displayName" label="Name" value={displayName} onChange={setDisplayName} autoComplete="name" autoFocus error={nameErr} />
                <Field name="handle" label="Handle" value={handle} onChange={setHandle} autoComplete="username" hint="3–15 letters, digits or _" error={handleErr} />
                <Field name="password" label="Password" type="password" value={password} onChange={setPassword} autoComplete="new-password" hint="At least 8 characters" error={pwErr} />
                {error && (
                    <p className="form-error" role="alert">
                        {error}
                    </p>
                )}
                <button type="submit" className="btn btn--primary btn--block" disabled={busy}>
                    {busy ? 'Creating account…' : 'Create account'}
                </button>
            </form>
            <p className="auth__switch">
                Already have an account? <Link to="/login">Log in</Link>
            </p>
        </AuthShell>
    );
}
