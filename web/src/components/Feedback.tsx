// The polite live region for new content and the toast stack for action results.
import type { ReactNode } from 'react';
import { dismissToast, useApp } from '../store/app';

export function LiveAnnouncer() {
    const a = useApp((s) => s.announcement);
    return (
        <div className="sr-only" aria-live="polite" aria-atomic="true" data-testid="announcer">
            {/* keyed so an identical repeated message is re-announced */}
            <span key={a.n}>{a.text}</span>
        </div>
    );
}

export function Toasts() {
    const toasts = useApp((s) => s.toasts);
    return (
        <div className="toasts" role="status" aria-live="polite">
            {toasts.map((t) => (
                <div key={t.id} className={`toast toast--${t.kind}`}>
                    <span>{t.text}</span>
                    <button type="button" className="toast__close" aria-label="Dismiss" onClick={() => dismissToast(t.id)}>
                        ×
                    </button>
                </div>
            ))}
        </div>
    );
}

export function Spinner({ label = 'Loading…' }: { label?: string }) {
    return (
        <div className="spinner" role="status">
            <span className="spinner__ring" aria-hidden="true" />
            <span className="sr-only">{label}</span>
        </div>
    );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
    return (
        <div className="empty">
            <p className="empty__title">{title}</p>
            {children && <div className="empty__body">{children}</div>}
        </div>
    );
}

/** A form's error, announced; `id` is what the field's aria-describedby names. Nothing without an error. */
export function FormError({ id, error }: { id?: string; error: string | null }) {
    if (!error) return null;
    return (
        <p id={id} className="form-error" role="alert">
            {error}
        </p>
    );
}
