// A form that takes one or more @handles (comma or space separated) and hands them to an
// action: starting a conversation (Messages) and inviting collaborators (DraftEditor).
// A 404 from the action reads "No user with that handle."; the field is cleared on success.
import { useId, useState, type FormEvent } from 'react';
import { ApiError } from '../api/http';
import { parseHandles } from '../lib/text';
import { errorText } from '../store/app';
import { FormError } from './Feedback';

export function HandleForm({ label, placeholder, submitLabel, primary, className, testId, onHandles }: {
    label: string;
    placeholder: string;
    submitLabel: string;
    primary?: boolean;
    className?: string;
    testId: string; // `${testId}-input`, `${testId}-submit`
    onHandles: (handles: string[]) => Promise<void>;
}) {
    const [value, setValue] = useState('');
    const [error, setError] = useState<string | null>(null);
    const [busy, setBusy] = useState(false);
    const id = useId();

    async function submit(e: FormEvent) {
        e.preventDefault();
        const handles = parseHandles(value);
        if (handles.length === 0) return;
        setBusy(true);
        setError(null);
        try {
            await onHandles(handles);
            setValue('');
        } catch (err) {
            setError(err instanceof ApiError && err.status === 404 ? 'No user with that handle.' : errorText(err));
        } finally {
            setBusy(false);
        }
    }

    return (
        <form className={className ? `newconv ${className}` : 'newconv'} onSubmit={submit} aria-busy={busy}>
            <label htmlFor={id}>{label}</label>
            <div className="newconv__row">
                <input
                    id={id}
                    value={value}
                    onChange={(e) => setValue(e.target.value)}
                    placeholder={placeholder}
                    autoComplete="off"
                    spellCheck={false}
                    aria-describedby={error ? `${id}-err` : undefined}
                    data-testid={`${testId}-input`}
                />
                <button
                    type="submit"
                    className={primary ? 'btn btn--primary' : 'btn btn--outline'}
                    disabled={busy || parseHandles(value).length === 0}
                    data-testid={`${testId}-submit`}
                >
                    {submitLabel}
                </button>
            </div>
            <FormError id={`${id}-err`} error={error} />
        </form>
    );
}
