// Thin fetch wrapper for /api: bearer token, JSON in and out, the uniform error body
// ({"error": {"code", "message"}}) turned into ApiError, and an Idempotency-Key on every POST
// so one automatic retry after a network failure can never post twice.

export class ApiError extends Error {
    constructor(
        readonly status: number,
        readonly code: string,
        message: string,
        readonly retryAfterSeconds: number | null = null,
    ) {
        super(message);
        this.name = 'ApiError';
    }
}

interface HttpConfig {
    getToken: () => string | null;
    /** Called on any 401 from an authenticated request (expired or revoked token). */
    onUnauthorized: () => void;
}

let config: HttpConfig = { getToken: () => null, onUnauthorized: () => {} };

export function configureHttp(next: HttpConfig): void {
    config = next;
}

export function newIdempotencyKey(): string {
    if (typeof crypto !== 'undefined' && typeof crypto.randomUUID === 'function') {
        try {
            return crypto.randomUUID();
        } catch {
            // not a secure context
        }
    }
    return `k-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
}

export interface RequestOptions {
    body?: unknown;
    signal?: AbortSignal;
    /** Skip the token (login / register). */
    anonymous?: boolean;
}

export async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    const token = opts.anonymous ? null : config.getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (opts.body !== undefined) {
        headers['Content-Type'] = 'application/json';
        body = JSON.stringify(opts.body);
    }
    if (method === 'POST') headers['Idempotency-Key'] = newIdempotencyKey();

    const attempt = () => fetch(path, { method, headers, body, signal: opts.signal, credentials: 'same-origin' });
    let res: Response;
    try {
        res = await attempt();
    } catch (err) {
        if (opts.signal?.aborted) throw err;
        // One retry for a transient network failure; POSTs are safe thanks to the key.
        try {
            await new Promise((r) => setTimeout(r, 400));
            res = await attempt();
        } catch {
            throw new ApiError(0, 'network', 'Network error: check your connection and try again.');
        }
    }

    const text = await res.text();
    let data: unknown = null;
    if (text) {
        try {
            data = JSON.parse(text);
        } catch {
            data = null;
        }
    }
    if (!res.ok) {
        const err = (data as { error?: { code?: string; message?: string } } | null)?.error;
        const retry = res.headers.get('Retry-After');
        const apiErr = new ApiError(
            res.status,
            err?.code ?? `http_${res.status}`,
            err?.message ?? (res.statusText || `Request failed (${res.status})`),
            retry && /^\d+$/.test(retry) ? Number(retry) : null,
        );
        if (res.status === 401 && token) config.onUnauthorized();
        throw apiErr;
    }
    return data as T;
}

export function qs(params: Record<string, string | number | null | undefined>): string {
    const sp = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
        if (v !== null && v !== undefined && v !== '') sp.set(k, String(v));
    }
    const s = sp.toString();
    return s ? `?${s}` : '';
}
