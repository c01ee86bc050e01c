// Network helpers of the api-spec test that know nothing of the spec: an SSE reader and a raw
// WebSocket upgrade request.
import { request as httpRequest } from 'node:http';

/**
 * Opens GET base/api/stream; collects the raw text and the parsed frames ({id, event, data[],
 * comment[]}) until s.ctl.abort() (then await s.pump). A non-200 answer is read whole.
 */
export async function openStream(base, query, token, headers = {}) {
    const ctl = new AbortController();
    const h = { Accept: 'text/event-stream', ...headers };
    if (token) h.Authorization = `Bearer ${token}`;
    const res = await fetch(`${base}/api/stream${query}`, { headers: h, signal: ctl.signal });
    const s = { res, text: '', frames: [], ended: false, ctl };
    if (res.status !== 200) {
        s.text = await res.text();
        s.ended = true;
        return s;
    }
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    s.pump = (async () => {
        try {
            for (;;) {
                const { value, done } = await reader.read();
                if (done) break;
                const chunk = dec.decode(value, { stream: true });
                s.text += chunk;
                buf += chunk;
                let i;
                while ((i = buf.indexOf('\n\n')) >= 0) {
                    const block = buf.slice(0, i);
                    buf = buf.slice(i + 2);
                    const f = { id: null, event: null, data: [], comment: [] };
                    for (const line of block.split('\n')) {
                        if (line.startsWith(':')) f.comment.push(line.slice(1).trim());
                        else if (line.startsWith('id: ')) f.id = line.slice(4);
                        else if (line.startsWith('event: ')) f.event = line.slice(7);
                        else if (line.startsWith('data: ')) f.data.push(line.slice(6));
                    }
                    s.frames.push(f);
                }
            }
        } catch {
            // aborted
        }
        s.ended = true;
    })();
    return s;
}

/** A raw upgrade request to /ws; resolves with the collected response (101 or an error). */
export function upgrade(base, headers) {
    return new Promise((resolve, reject) => {
        const req = httpRequest(`${base}/ws`, {
            headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
        });
        req.on('upgrade', (res, socket) => {
            socket.destroy();
            resolve({ status: res.statusCode, contentType: res.headers['content-type'] ?? null, headers: new Headers(), text: '' });
        });
        req.on('response', (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d) => (text += d));
            res.on('end', () => resolve({ status: res.statusCode, contentType: res.headers['content-type'] ?? null, headers: new Headers(), text }));
        });
        req.on('error', reject);
        req.setTimeout(10000, () => req.destroy(new Error('timeout')));
        req.end();
    });
}

