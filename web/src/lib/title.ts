// document.title = "(unread) Page · Chirp": pages set the base, the app sets the count.
let base = 'Chirp';
let unread = 0;

function apply(): void {
    document.title = `${unread > 0 ? `(${unread > 99 ? '99+' : unread}) ` : ''}${base}`;
}

export function setPageTitle(title: string): void {
    base = `${title} · Chirp`;
    apply();
}

export function setUnreadInTitle(n: number): void {
    unread = n;
    apply();
}
