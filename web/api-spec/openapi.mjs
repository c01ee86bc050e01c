// docs/openapi.yaml as a response checker: loads the document, checks it against the
// OpenAPI 3.1 meta-schema, compiles its JSON Schemas (2020-12) with Ajv in strict mode, and
// validates real responses (status, content type, documented headers, body) against the
// operation they answer. Also extracts the route table of src/http/api_routes.cpp.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import YAML from 'yaml';

const SCHEMAS_ID = 'https://chirp.invalid/openapi/schemas';

/** Deep copy of v with every "#/components/schemas/X" $ref pointing into SCHEMAS_ID. */
function absoluteRefs(v) {
    if (Array.isArray(v)) return v.map(absoluteRefs);
    if (v && typeof v === 'object') {
        const out = {};
        for (const [k, x] of Object.entries(v)) {
            if (k === '$ref' && typeof x === 'string' && x.startsWith('#/components/schemas/')) {
                out[k] = `${SCHEMAS_ID}#/$defs/${x.slice('#/components/schemas/'.length)}`;
            } else {
                out[k] = absoluteRefs(x);
            }
        }
        return out;
    }
    return v;
}

/** Ajv errors as one line, naming the property an "additionalProperties" error is about. */
export function errorsText(errors) {
    return (errors ?? [])
        .map((e) => {
            const extra = e.params?.additionalProperty ? ` ('${e.params.additionalProperty}')` : '';
            const allowed = e.params?.allowedValues ? ` (${JSON.stringify(e.params.allowedValues)})` : '';
            return `${e.instancePath || '/'} ${e.message}${extra}${allowed}`;
        })
        .join('; ');
}

/** A path template as a route-table pattern: /api/users/{handle} → /api/users/{}. */
export const templateKey = (t) => t.replace(/\{[^}]+\}/g, '{}');

export class Spec {
    static async load(file) {
        const text = readFileSync(file, 'utf8');
        const doc = YAML.parse(text);
        const meta = new Validator();
        const res = await meta.validate(structuredClone(doc));
        if (!res.valid) {
            throw new Error(`${file} is not a valid OpenAPI document: ${JSON.stringify(res.errors, null, 1).slice(0, 4000)}`);
        }
        if (!String(doc.openapi).startsWith('3.1')) throw new Error(`${file}: expected OpenAPI 3.1, got ${doc.openapi}`);
        return new Spec(doc);
    }

    constructor(doc) {
        this.doc = doc;
        // strict: unknown keywords (a typo such as "requried") fail the compile.
        this.ajv = new Ajv2020({ strict: true, strictTypes: false, allErrors: true, allowUnionTypes: true });
        addFormats(this.ajv);
        this.ajv.addSchema({ $id: SCHEMAS_ID, $defs: absoluteRefs(doc.components?.schemas ?? {}) });
        this.compiled = new Map();
        // Compile every schema now: a broken one fails before any request.
        for (const name of Object.keys(doc.components?.schemas ?? {})) this.schema(`#/components/schemas/${name}`);
        this.operations = [];
        for (const [path, item] of Object.entries(doc.paths ?? {})) {
            const re = new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`);
            for (const method of ['get', 'put', 'post', 'delete', 'patch', 'head', 'options']) {
                if (item[method]) this.operations.push({ path, method: method.toUpperCase(), re, op: item[method] });
            }
        }
    }

    /** Resolves a local "#/..." reference inside the document. */
    deref(obj) {
        let seen = 0;
        while (obj && obj.$ref) {
            if (!obj.$ref.startsWith('#/') || ++seen > 10) throw new Error(`unsupported $ref ${obj.$ref}`);
            obj = obj.$ref
                .slice(2)
                .split('/')
                .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
                .reduce((o, k) => (o == null ? undefined : o[k]), this.doc);
            if (obj === undefined) throw new Error('dangling $ref');
        }
        return obj;
    }

    /** A compiled validator for a schema object, or for "#/components/schemas/X". */
    schema(s) {
        const key = typeof s === 'string' ? s : JSON.stringify(s);
        let v = this.compiled.get(key);
        if (!v) {
            const schema = typeof s === 'string' ? { $ref: s } : s;
            v = this.ajv.compile(absoluteRefs(schema));
            this.compiled.set(key, v);
        }
        return v;
    }

    /** The operation that answers METHOD path (path without the query), or undefined. */
    find(method, path) {
        return this.operations.find((o) => o.method === method && o.re.test(path));
    }

    /** "METHOD /template" of every operation. */
    operationKeys() {
        return this.operations.map((o) => `${o.method} ${o.path}`);
    }

    /**
     * Problems of a response against a response object ({description, headers, content}).
     * `res` is {status, contentType, headers: Headers, text}. Returns a list of strings.
     */
    checkResponse(responseObj, res, where) {
        const problems = [];
        const r = this.deref(responseObj);
        for (const [name, h0] of Object.entries(r.headers ?? {})) {
            const h = this.deref(h0);
            const value = res.headers.get(name);
            if (value == null) {
                if (h.required) problems.push(`${where}: header ${name} is required but missing`);
                continue;
            }
            if (h.schema) {
                const v = this.schema(h.schema);
                if (!v(value)) problems.push(`${where}: header ${name}: ${value}: ${errorsText(v.errors)}`);
            }
        }
        const content = r.content ?? {};
        const types = Object.keys(content);
        if (types.length === 0) {
            if (res.text) problems.push(`${where}: no body documented, got ${res.text.slice(0, 80)}`);
            return problems;
        }
        const norm = (t) => (t ?? '').toLowerCase().replace(/\s*;\s*/g, '; ').trim();
        const got = norm(res.contentType);
        // A documented type without parameters matches any parameters (`; charset=utf-8`).
        const media = types.find((t) => norm(t) === got || (!t.includes(';') && norm(t) === got.split(';')[0]));
        if (!media) {
            problems.push(`${where}: content type ${JSON.stringify(res.contentType)} is not one of ${types.join(', ')}`);
            return problems;
        }
        const schema = content[media].schema;
        if (!schema) return problems;
        let body = res.text;
        if (got.startsWith('application/json')) {
            try {
                body = JSON.parse(res.text);
            } catch (err) {
                problems.push(`${where}: body is not JSON (${err.message}): ${res.text.slice(0, 120)}`);
                return problems;
            }
        }
        const v = this.schema(schema);
        if (!v(body)) {
            problems.push(`${where}: body does not match the spec: ${errorsText(v.errors)}\n    body: ${res.text.slice(0, 600)}`);
        }
        return problems;
    }

    /** Problems of a response to METHOD path; `status` must be documented for it. */
    check(method, path, res) {
        const o = this.find(method, path);
        const where = `${method} ${path} → ${res.status}`;
        if (!o) return { op: null, problems: [`${where}: no operation in the spec`] };
        const responseObj = o.op.responses?.[String(res.status)];
        if (!responseObj) {
            return {
                op: o,
                problems: [`${where}: status ${res.status} is not documented for ${o.method} ${o.path} (${Object.keys(o.op.responses ?? {}).join(', ')})`],
            };
        }
        return { op: o, problems: this.checkResponse(responseObj, res, where) };
    }
}

/**
 * ["GET /api/users/{}", ...]: every `{method::verb, "/path", handler}` entry of the route
 * table, wherever under srcDir it lives (today src/http/api_routes.cpp).
 */
export function routeTable(srcDir) {
    const verbs = { get: 'GET', post: 'POST', put: 'PUT', del: 'DELETE', patch: 'PATCH' };
    const out = [];
    const files = readdirSync(srcDir, { recursive: true }).filter((f) => /\.(cpp|hpp)$/.test(f));
    for (const f of files) {
        const src = readFileSync(join(srcDir, f), 'utf8');
        const re = /\{\s*method::(\w+)\s*,\s*"(\/[^"]*)"/g;
        for (let m = re.exec(src); m; m = re.exec(src)) {
            if (!verbs[m[1]]) throw new Error(`${f}: unknown verb method::${m[1]}`);
            out.push(`${verbs[m[1]]} ${m[2]}`);
        }
    }
    if (out.length < 10) throw new Error(`${srcDir}: found only ${out.length} routes; has the route table's form changed?`);
    return out;
}

/** The error codes of chirp::errc (its code_string(), wherever under srcDir), without "ok". */
export function errorCodes(srcDir) {
    const files = readdirSync(srcDir, { recursive: true }).filter((f) => /\.(cpp|hpp)$/.test(f));
    for (const f of files) {
        const src = readFileSync(join(srcDir, f), 'utf8');
        const m = /code_string\(errc \w+\)[^{;]*\{([\s\S]*?)\n\}/.exec(src);
        if (!m) continue;
        const codes = [...m[1].matchAll(/return "([a-z_]+)"/g)].map((x) => x[1]).filter((c) => c !== 'ok');
        return [...new Set(codes)];
    }
    throw new Error(`${srcDir}: no definition of code_string(errc) found`);
}
