#!/usr/bin/env node
// Browser tests of the Chirp web client against a real chirpd at $CHIRP_URL.
//
// playwright-core drives Debian's /usr/bin/chromium (never a downloaded browser): two
// independent browser contexts play users A and B. Each scenario fails on a timeout, a
// failed expectation or any console error in either page, saves a screenshot under
// e2e/artifacts/, and the run ends with the line "N passed, M failed" (exit 1 on failure).
//
// Environment: CHIRP_URL (required), CHROMIUM_PATH (/usr/bin/chromium),
//              E2E_HEADFUL=1 to watch, E2E_ONLY=<n,...> to run some scenarios (later
//              scenarios build on earlier ones; prerequisites are set up over the API).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const BASE = (process.env.CHIRP_URL || '').replace(/\/+$/, '');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
const ONLY = process.env.E2E_ONLY ? new Set(process.env.E2E_ONLY.split(',').map((s) => Number(s.trim()))) : null;
const SCENARIO_TIMEOUT_MS = 45_000;

if (!BASE) {
    console.error('e2e: CHIRP_URL is not set (e.g. CHIRP_URL=http://127.0.0.1:8000 npm run e2e)');
    console.log('0 passed, 1 failed');
    process.exit(1);
}

const rand = () => Math.random().toString(36).slice(2, 10);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Expectation extends Error {}
function expect(cond, message) {
    if (!cond) throw new Expectation(message);
}

/** Poll fn until it returns a truthy value or the time is up. */
async function until(fn, timeoutMs, what) {
    const end = Date.now() + timeoutMs;
    let last;
    for (;;) {
        try {
            last = await fn();
            if (last) return last;
        } catch (err) {
            last = err;
        }
        if (Date.now() > end) {
            throw new Expectation(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? ` (${last.message})` : ''}`);
        }
        await sleep(100);
    }
}

// ---- REST helpers (setup only; the scenarios act through the UI) --------------------------

async function api(method, path, token, body) {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(BASE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let data = null;
    try {
        data = text ? JSON.parse(text) : null;
    } catch {
        data = text;
    }
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text.slice(0, 200)}`);
    return data;
}

// ---- browser ----------------------------------------------------------------------------

const ARGS = [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-dev-shm-usage',
];

/** One user = one persistent context with its own fresh profile directory. */
async function openUser(label, profileRoot) {
    const dir = join(profileRoot, label);
    mkdirSync(dir, { recursive: true });
    const context = await chromium.launchPersistentContext(dir, {
        executablePath: CHROMIUM,
        headless: !process.env.E2E_HEADFUL,
        args: ARGS,
        viewport: { width: 1280, height: 860 },
        baseURL: BASE,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const errors = [];
    page.on('console', (msg) => {
        if (msg.type() === 'error') errors.push(`[${label} console] ${msg.text()}`);
    });
    page.on('pageerror', (err) => errors.push(`[${label} pageerror] ${err.message}`));
    page.setDefaultTimeout(10_000);
    return { label, context, page, errors, handle: '', name: '', token: '' };
}

async function registerViaUi(u) {
    const { page } = u;
    u.handle = `e${rand()}`.slice(0, 12);
    u.name = `${{ A: 'Alice', B: 'Bob', C: 'Carol' }[u.label] ?? 'User'} ${u.handle.slice(1, 5)}`;
    await page.goto('/register');
    await page.getByLabel('Name').fill(u.name);
    await page.getByLabel('Handle').fill(u.handle);
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL((url) => url.pathname === '/', { timeout: 10_000 });
    await page.getByTestId('composer-input').waitFor();
    u.token = await page.evaluate(() => localStorage.getItem('chirp.token'));
    expect(u.token, `${u.label}: no token stored after registering`);
}

async function waitConnected(u, timeout = 10_000) {
    await u.page.locator('[data-testid="conn-status"][data-state="subscribed"]').waitFor({ timeout });
}

async function unreadBadge(u) {
    // One atomic read: the badge may disappear between a count() and a textContent().
    const text = await u.page.evaluate(() => document.querySelector('[data-testid="unread-badge"]')?.textContent ?? '0');
    return Number.parseInt(text.trim(), 10) || 0;
}

async function goHome(u) {
    await u.page.getByRole('link', { name: 'Home', exact: true }).click();
    await u.page.getByTestId('timeline').waitFor();
}

async function postTweet(u, text) {
    const input = u.page.getByTestId('composer-input').first();
    await input.fill(text);
    const [res] = await Promise.all([
        u.page.waitForResponse((r) => r.url().endsWith('/api/tweets') && r.request().method() === 'POST'),
        u.page.getByTestId('composer-submit').first().click(),
    ]);
    expect(res.status() === 201, `POST /api/tweets answered ${res.status()}`);
    return await res.json();
}

function tweetTexts(u) {
    return u.page.locator('[data-testid="timeline"] [data-testid="tweet-text"]').allTextContents();
}

// ---- scenarios ----------------------------------------------------------------------------

const world = { A: null, B: null, tweet: null, tweetText: '', profileRoot: '' };

/** The text of a draft editor (CodeMirror lines, without the collaborators' caret labels). */
function draftText(u) {
    return u.page.evaluate(() => {
        const content = document.querySelector('[data-testid="draft-editor"]');
        if (!content) return null;
        const copy = content.cloneNode(true);
        copy.querySelectorAll('.cm-remote-caret, .cm-widgetBuffer, .cm-placeholder').forEach((e) => e.remove());
        return [...copy.querySelectorAll('.cm-line')].map((l) => l.textContent).join('\n');
    });
}

async function waitDraftLive(u) {
    await u.page.locator('[data-testid="draft-sync"][data-phase="live"]').waitFor({ timeout: 10_000 });
}

async function ensureBasics() {
    const { A, B } = world;
    if (!A.token) await registerViaUi(A);
    if (!B.token) await registerViaUi(B);
    await api('POST', `/api/users/${A.handle}/follow`, B.token);
}

const scenarios = [
    {
        name: 'B follows A; A tweets; B sees it live within 2 s',
        async run() {
            const { A, B } = world;
            await registerViaUi(A);
            await registerViaUi(B);
            // B follows A from A's profile.
            await B.page.goto(`/u/${A.handle}`);
            const follow = B.page.getByTestId('follow-button').first();
            await follow.click();
            await B.page.locator('[data-testid="follow-button"][aria-pressed="true"]').first().waitFor();
            await goHome(B);
            await waitConnected(A);
            await waitConnected(B);

            world.tweetText = `Hello from A ${rand()} #e2e`;
            world.tweet = await postTweet(A, world.tweetText);
            const t0 = Date.now();
            await B.page
                .locator('[data-testid="timeline"] [data-testid="tweet-text"]', { hasText: world.tweetText })
                .waitFor({ timeout: 2000 });
            const ms = Date.now() - t0;
            const url = B.page.url();
            expect(new URL(url).pathname === '/', `B left the home page (${url})`);
            await B.page.screenshot({ path: join(ARTIFACTS, '1-live-tweet-B.png') });
            return `delivered in ${ms} ms`;
        },
    },
    {
        name: "B likes A's tweet; A's unread badge goes up live; A sees it in notifications",
        async run() {
            const { A, B } = world;
            if (!world.tweet) {
                await ensureBasics();
                world.tweetText = `Setup tweet ${rand()}`;
                await goHome(A);
                world.tweet = await postTweet(A, world.tweetText);
                await goHome(B);
            }
            await waitConnected(A);
            await waitConnected(B);
            const before = await unreadBadge(A);
            const card = B.page.locator('[data-testid="timeline"] [data-testid="tweet"]', { hasText: world.tweetText }).first();
            await card.getByTestId('like-button').click();
            await card.locator('[data-testid="like-button"][aria-pressed="true"]').waitFor();
            await until(async () => (await unreadBadge(A)) > before, 3000, "A's unread badge to go up");
            // The like count on A's own copy updates live too.
            await until(
                async () =>
                    (await A.page
                        .locator('[data-testid="tweet"]', { hasText: world.tweetText })
                        .first()
                        .getByTestId('like-count')
                        .textContent()) === '1',
                3000,
                "the like count on A's tweet to read 1",
            );
            await A.page.getByTestId('nav-notifications').click();
            const item = A.page.locator('[data-testid="notification"]', { hasText: 'liked your tweet' }).first();
            await item.waitFor({ timeout: 5000 });
            const text = (await item.textContent()) ?? '';
            expect(text.includes(B.name), `notification does not name ${B.name}: "${text}"`);
            await A.page.screenshot({ path: join(ARTIFACTS, '2-notifications-A.png') });
            await A.page.getByTestId('mark-read').click();
            await until(async () => (await unreadBadge(A)) === 0, 3000, 'the badge to clear after mark as read');
        },
    },
    {
        name: 'DM: A types → B sees "A is typing…"; A sends → B sees it, indicator gone',
        async run() {
            const { A, B } = world;
            if (!A.token || !B.token) await ensureBasics();
            await A.page.getByRole('link', { name: 'Messages', exact: true }).click();
            await A.page.getByTestId('newconv-input').fill(`@${B.handle}`);
            await A.page.getByTestId('newconv-submit').click();
            await A.page.waitForURL(/\/messages\/[^/]+$/);
            const path = new URL(A.page.url()).pathname;
            await B.page.goto(path);
            await B.page.getByTestId('message-list').waitFor();
            await waitConnected(A);
            await waitConnected(B);

            const text = `hi B, it's A ${rand()}`;
            const input = A.page.getByTestId('message-input');
            await input.click();
            await input.pressSequentially(text.slice(0, 8), { delay: 60 });
            const typing = B.page.getByTestId('typing-indicator');
            await until(async () => ((await typing.textContent()) ?? '').includes(`${A.name} is typing`), 3000, 'the typing indicator on B');
            await B.page.screenshot({ path: join(ARTIFACTS, '3-typing-B.png') });
            await input.pressSequentially(text.slice(8), { delay: 20 });
            await input.press('Enter');
            await B.page.locator('[data-testid="message"]', { hasText: text }).waitFor({ timeout: 3000 });
            await until(async () => ((await typing.textContent()) ?? '').trim() === '', 2000, 'the typing indicator to disappear');
            expect((await B.page.locator('[data-testid="message"]', { hasText: text }).count()) === 1, 'message shown more than once on B');
            await B.page.screenshot({ path: join(ARTIFACTS, '3-dm-B.png') });
        },
    },
    {
        name: 'B goes offline; A tweets 3 times; B back online shows them exactly once, in order',
        async run() {
            const { A, B } = world;
            if (!A.token || !B.token) await ensureBasics();
            await goHome(A);
            await goHome(B);
            await waitConnected(B);
            await B.context.setOffline(true);
            await B.page.locator('[data-testid="conn-status"][data-state="offline"]').waitFor({ timeout: 5000 });
            await B.page.screenshot({ path: join(ARTIFACTS, '4-offline-B.png') });

            const tag = rand();
            const texts = [1, 2, 3].map((i) => `missed ${i} ${tag}`);
            for (const t of texts) {
                await postTweet(A, t);
                await A.page.locator('[data-testid="tweet-text"]', { hasText: t }).first().waitFor();
            }
            await sleep(300);
            expect(
                (await tweetTexts(B)).every((t) => !t.includes(tag)),
                'B showed a tweet while offline (the connection was not really cut)',
            );

            await B.context.setOffline(false);
            await waitConnected(B, 15_000);
            await until(
                async () => {
                    const all = await tweetTexts(B);
                    return texts.every((t) => all.some((x) => x.includes(t)));
                },
                5000,
                'the 3 missed tweets on B',
            );
            await sleep(1000); // let any duplicate arrive before counting
            const all = await tweetTexts(B);
            const positions = texts.map((t) => all.findIndex((x) => x.includes(t)));
            for (const [i, t] of texts.entries()) {
                const n = all.filter((x) => x.includes(t)).length;
                expect(n === 1, `"${t}" shown ${n} times`);
                expect(positions[i] >= 0, `"${t}" missing`);
            }
            // Newest first: 3 above 2 above 1.
            expect(positions[2] < positions[1] && positions[1] < positions[0], `wrong order: positions ${positions.join(', ')}`);
            await B.page.screenshot({ path: join(ARTIFACTS, '4-resumed-B.png') });
        },
    },
    {
        name: 'The stats page shows both connections',
        async run() {
            const { A, B } = world;
            if (!A.token || !B.token) await ensureBasics();
            await waitConnected(A);
            await B.page.getByRole('link', { name: 'Live stats', exact: true }).click();
            const value = B.page.getByTestId('stat-connections-value');
            await value.waitFor({ timeout: 8000 });
            await waitConnected(B);
            const n = await until(
                async () => {
                    const v = Number(await value.getAttribute('data-value'));
                    return v >= 2 ? v : 0;
                },
                12_000,
                'connections ≥ 2 on the stats page',
            );
            await B.page.screenshot({ path: join(ARTIFACTS, '5-stats-B.png'), fullPage: true });
            return `connections = ${n}`;
        },
    },
    {
        name: 'Drafts: A and B type into one draft at once, see the merged text and each other\'s cursor; A publishes; a follower sees it live with its co-authors',
        async run() {
            const { A, B } = world;
            if (!A.token || !B.token) await ensureBasics();
            const C = await openUser('C', world.profileRoot);
            try {
                await registerViaUi(C);
                await api('POST', `/api/users/${A.handle}/follow`, C.token);
                await C.page.goto('/');
                await C.page.getByTestId('timeline').waitFor();
                await waitConnected(C);

                // A starts a draft with a first text and invites B by handle.
                const middle = 'together';
                await A.page.getByTestId('nav-drafts').click();
                await A.page.getByTestId('draft-new-input').fill(middle);
                await A.page.getByTestId('draft-new-submit').click();
                await A.page.waitForURL(/\/drafts\/[^/]+$/);
                const draftPath = new URL(A.page.url()).pathname;
                await waitDraftLive(A);
                const before = await unreadBadge(B);
                await A.page.getByTestId('draft-invite-input').fill(`@${B.handle}`);
                await A.page.getByTestId('draft-invite-submit').click();
                await A.page.locator('[data-testid="draft-people"]', { hasText: `@${B.handle}` }).waitFor({ timeout: 5000 });

                // B is told live and opens the draft from the notification.
                await until(async () => (await unreadBadge(B)) > before, 5000, "B's unread badge (draft invite)");
                await B.page.getByTestId('nav-notifications').click();
                const invite = B.page.locator('[data-testid="notification"]', { hasText: 'invited you' }).first();
                await invite.waitFor({ timeout: 5000 });
                await invite.getByRole('link', { name: /invited you/ }).click();
                await B.page.waitForURL((url) => url.pathname === draftPath);
                await waitDraftLive(B);

                // Both type at the same moment: A at the end, B at the start.
                const tag = rand().slice(0, 4);
                const partA = ` live ${tag}`;
                const partB = 'We write ';
                const edA = A.page.getByTestId('draft-editor');
                const edB = B.page.getByTestId('draft-editor');
                await edA.click();
                await A.page.keyboard.press('Control+End');
                await edB.click();
                await B.page.keyboard.press('Control+Home');
                await Promise.all([A.page.keyboard.type(partA, { delay: 45 }), B.page.keyboard.type(partB, { delay: 45 })]);
                const want = partB + middle + partA;
                await until(
                    async () => (await draftText(A)) === want && (await draftText(B)) === want,
                    5000,
                    `both editors to show "${want}"`,
                );
                // Each sees the other's caret with the other's name.
                await A.page.locator('[data-testid="remote-cursor"]', { hasText: B.name }).waitFor({ timeout: 5000 });
                await B.page.locator('[data-testid="remote-cursor"]', { hasText: A.name }).waitFor({ timeout: 5000 });
                const count = await A.page.getByTestId('draft-count').textContent();
                expect(count === String(280 - [...want.trim()].length), `A's counter reads ${count}`);
                await A.page.screenshot({ path: join(ARTIFACTS, '6-draft-A.png') });
                await B.page.screenshot({ path: join(ARTIFACTS, '6-draft-B.png') });

                // A publishes; B's editor closes with a link; C sees the tweet live, with B credited.
                const publish = A.page.locator('[data-testid="draft-publish"]:not([disabled])');
                await publish.waitFor({ timeout: 5000 });
                const [res] = await Promise.all([
                    A.page.waitForResponse((r) => /\/api\/drafts\/[^/]+\/publish$/.test(r.url()) && r.request().method() === 'POST'),
                    publish.click(),
                ]);
                expect(res.status() === 201, `POST …/publish answered ${res.status()}`);
                await B.page.locator('[data-testid="draft-closed"]', { hasText: 'Published' }).waitFor({ timeout: 5000 });
                const card = C.page.locator('[data-testid="timeline"] [data-testid="tweet"]', { hasText: want.trim() }).first();
                await card.waitFor({ timeout: 5000 });
                const credit = (await card.getByTestId('tweet-coauthors').textContent()) ?? '';
                expect(credit.includes(`@${B.handle}`), `co-authors line "${credit}" does not name @${B.handle}`);
                await C.page.screenshot({ path: join(ARTIFACTS, '6-published-C.png') });
                expect(C.errors.length === 0, `console errors:\n    ${C.errors.join('\n    ')}`);
            } finally {
                await C.context.close().catch(() => {});
            }
        },
    },
    {
        name: 'Drafts offline: B types offline while A types; back online both converge; B undoes only its own edit; A discards',
        async run() {
            const { A, B } = world;
            if (!A.token || !B.token) await ensureBasics();
            const middle = `middle ${rand().slice(0, 4)}`;
            const draft = await api('POST', '/api/drafts', A.token, { text: middle });
            await api('POST', `/api/drafts/${draft.id}/collaborators`, A.token, { handle: B.handle });
            await A.page.goto(`/drafts/${draft.id}`);
            await B.page.goto(`/drafts/${draft.id}`);
            await waitDraftLive(A);
            await waitDraftLive(B);
            await waitConnected(B);

            await B.context.setOffline(true);
            await B.page.locator('[data-testid="conn-status"][data-state="offline"]').waitFor({ timeout: 5000 });
            await B.page.getByTestId('draft-editor').click();
            await B.page.keyboard.press('Control+Home');
            await B.page.keyboard.type('offline ', { delay: 20 });
            await B.page.locator('[data-testid="draft-sync"]', { hasText: 'kept' }).waitFor({ timeout: 3000 });
            await A.page.getByTestId('draft-editor').click();
            await A.page.keyboard.press('Control+End');
            await A.page.keyboard.type(' online', { delay: 20 });
            await B.page.screenshot({ path: join(ARTIFACTS, '7-offline-B.png') });

            await B.context.setOffline(false);
            await waitConnected(B, 15_000);
            const want = `offline ${middle} online`;
            await until(async () => (await draftText(A)) === want && (await draftText(B)) === want, 8000, `both editors to show "${want}"`);
            await waitDraftLive(B);

            // Undo on B removes B's typing only (A's " online" stays), on both screens.
            await B.page.getByTestId('draft-editor').click();
            await B.page.keyboard.press('Control+z');
            const after = `${middle} online`;
            await until(async () => (await draftText(A)) === after && (await draftText(B)) === after, 5000, `both editors to show "${after}" after B's undo`);

            await A.page.getByTestId('draft-discard').click();
            await A.page.getByRole('group', { name: 'Confirm discard' }).getByRole('button', { name: 'Discard' }).click();
            await A.page.waitForURL((url) => url.pathname === '/drafts');
            await B.page.locator('[data-testid="draft-closed"]', { hasText: 'discarded' }).waitFor({ timeout: 5000 });
        },
    },
];

// ---- runner -----------------------------------------------------------------------------

async function main() {
    mkdirSync(ARTIFACTS, { recursive: true });
    const profileRoot = mkdtempSync(join(tmpdir(), 'chirp-e2e-'));
    world.profileRoot = profileRoot;
    let passed = 0;
    let failed = 0;
    try {
        world.A = await openUser('A', profileRoot);
        world.B = await openUser('B', profileRoot);
        const users = [world.A, world.B];
        for (const [i, sc] of scenarios.entries()) {
            const n = i + 1;
            if (ONLY && !ONLY.has(n)) continue;
            const errorMarks = users.map((u) => u.errors.length);
            const t0 = Date.now();
            let timer;
            try {
                const note = await Promise.race([
                    sc.run(),
                    new Promise((_, reject) => {
                        timer = setTimeout(() => reject(new Expectation(`scenario took over ${SCENARIO_TIMEOUT_MS / 1000} s`)), SCENARIO_TIMEOUT_MS);
                    }),
                ]);
                const consoleErrors = users.flatMap((u, k) => u.errors.slice(errorMarks[k]));
                if (consoleErrors.length) throw new Expectation(`console errors:\n    ${consoleErrors.join('\n    ')}`);
                passed++;
                console.log(`ok ${n} - ${sc.name} (${Date.now() - t0} ms${note ? `, ${note}` : ''})`);
            } catch (err) {
                failed++;
                console.log(`not ok ${n} - ${sc.name} (${Date.now() - t0} ms)`);
                console.log(`    ${err instanceof Error ? err.message : String(err)}`.replace(/\n/g, '\n    '));
                if (!(err instanceof Expectation) && err instanceof Error && err.stack) {
                    console.log(err.stack.split('\n').slice(1, 4).map((l) => `    ${l.trim()}`).join('\n'));
                }
                const later = users.flatMap((u, k) => u.errors.slice(errorMarks[k]));
                if (later.length && !(err instanceof Error && err.message.startsWith('console errors'))) {
                    console.log(`    console errors during the scenario:\n      ${later.join('\n      ')}`);
                }
                for (const u of users) {
                    await u.page
                        .screenshot({ path: join(ARTIFACTS, `${n}-FAILED-${u.label}.png`) })
                        .catch(() => {});
                }
            } finally {
                clearTimeout(timer);
            }
        }
    } catch (err) {
        failed++;
        console.log(`not ok - setup: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
        for (const u of [world.A, world.B]) await u?.context.close().catch(() => {});
        rmSync(profileRoot, { recursive: true, force: true });
    }
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(failed ? 1 : 0);
}

main();
