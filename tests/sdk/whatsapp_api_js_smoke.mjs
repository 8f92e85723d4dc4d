// whatsapp-api-js, installed from its registry, against the gateway (Node >= 20, ESM). The SDK
// hard-codes Meta's host, so its fetch ponyfill is where the base URL changes; nothing else does.
// Run by tests/integration/sdks.rs.
// env: GATEWAY_URL (e.g. http://127.0.0.1:8080), GATEWAY_TOKEN, PHONE_ID, WABA_ID
// optional: TO (default 15551234567), MESSAGE_ID (default wamid.TEST),
//           GRAPH_VERSION (default v23.0; "" => strip the /vXX.X segment from every path)
// The package is installed under .cache by `make test`; WHATSAPP_API_JS_DIR says where.
import { pathToFileURL } from "node:url";
const lib = (p) => pathToFileURL(`${process.env.WHATSAPP_API_JS_DIR}/node_modules/whatsapp-api-js/lib/${p}`).href;
const { WhatsAppAPI } = await import(lib("index.js"));
const { Text, Template } = await import(lib("messages/index.js"));

const need = (k) => {
    const v = process.env[k];
    if (!v) { console.error(`missing env ${k}`); process.exit(2); }
    return v;
};
const GATEWAY = need("GATEWAY_URL").replace(/\/+$/, "");
const TOKEN = need("GATEWAY_TOKEN");
const PHONE_ID = need("PHONE_ID");
const WABA_ID = need("WABA_ID");
const TO = process.env.TO || "15551234567";
const MESSAGE_ID = process.env.MESSAGE_ID || "wamid.TEST";
const V = process.env.GRAPH_VERSION ?? "v23.0";

// The SDK hard-codes "https://graph.facebook.com/..." in every method (lib/index.js);
// the only hook is ponyfill.fetch, so rewrite the origin there. URLs on other hosts
// (e.g. the media `url` passed to fetchMedia) are left untouched.
const GRAPH = "https://graph.facebook.com";
function gatewayFetch(input, init) {
    let url = input instanceof URL ? input.href : typeof input === "string" ? input : input.url;
    if (url.startsWith(GRAPH + "/")) {
        let rest = url.slice(GRAPH.length);
        if (!V) rest = rest.replace(/^\/v\d+(\.\d+)?(?=\/|\?|$)/, "");
        url = GATEWAY + rest;
    }
    return fetch(url, init);
}

const wa = new WhatsAppAPI({
    token: TOKEN,
    secure: false,          // no appSecret / webhook signature checks (send-only use)
    v: V || "v23.0",        // must be truthy, else it warns and uses DEFAULT_API_VERSION
    ponyfill: { fetch: gatewayFetch },
});
const graph = (path) => `${GRAPH}/${wa.v}${path}`; // for endpoints the SDK lacks

const failures = [];
function print(obj) { console.log(JSON.stringify(obj)); }

// SDK methods resolve to the parsed JSON body (no HTTP status check): treat `error` as failure.
async function step(name, fn) {
    try {
        const res = await fn();
        if (res && typeof res === "object" && "error" in res) throw new Error(JSON.stringify(res.error));
        print({ step: name, ok: true, result: res });
        return res;
    } catch (e) {
        failures.push(name);
        print({ step: name, ok: false, error: `${e?.name}: ${e?.message}${e?.cause ? " (" + e.cause + ")" : ""}` });
        return undefined;
    }
}
// raw call via the SDK's authenticated fetch helper ($$apiFetch$$ adds Authorization).
async function raw(path, { method = "GET", json, query } = {}) {
    const qs = query ? "?" + new URLSearchParams(query).toString() : "";
    const opts = { method };
    if (json !== undefined) {
        opts.headers = { "Content-Type": "application/json" };
        opts.body = JSON.stringify(json);
    }
    const r = await wa.$$apiFetch$$(graph(path) + qs, opts);
    const text = await r.text();
    let body;
    try { body = JSON.parse(text); } catch { body = text; }
    if (!r.ok) throw new Error(`HTTP ${r.status}: ${text.slice(0, 300)}`);
    return body;
}

const PNG = Buffer.from(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4DwAAAQEABRjYTgAAAABJRU5ErkJggg==",
    "base64");

await step("send_text", () => wa.sendMessage(PHONE_ID, { phone: TO }, new Text("hello from whatsapp-api-js")));
await step("send_template", () => wa.sendMessage(PHONE_ID, { phone: TO }, new Template("hello_world", "en_US")));
await step("mark_as_read", () => wa.markAsRead(PHONE_ID, MESSAGE_ID));
await step("typing_indicator", () => wa.markAsRead(PHONE_ID, MESSAGE_ID, "text"));

const form = new FormData();
form.append("file", new Blob([PNG], { type: "image/png" }), "pixel.png");
const up = await step("upload_media", () => wa.uploadMedia(PHONE_ID, form));
const info = up?.id ? await step("get_media_url", () => wa.retrieveMedia(up.id)) : undefined;
if (info?.url) {
    await step("download_media", async () => {
        const r = await wa.fetchMedia(info.url); // raw Response; follows redirects
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        const buf = Buffer.from(await r.arrayBuffer());
        if (!info.url.startsWith(GATEWAY + "/")) throw new Error(`the media url is not the gateway's: ${info.url}`);
        if (!buf.equals(PNG)) throw new Error(`downloaded ${buf.length} bytes that differ from the ${PNG.length} uploaded`);
        return { status: r.status, content_type: r.headers.get("content-type"), bytes: buf.length, final_url: r.url };
    });
} else failures.push("download_media(skipped)");

if (process.env.LARGE_MEDIA_ID) {
    await step("download_large_media", async () => {
        const { createHash } = await import("node:crypto");
        const described = await wa.retrieveMedia(process.env.LARGE_MEDIA_ID);
        const r = await wa.fetchMedia(described.url); // follows the redirect to the staged copy
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        const buf = Buffer.from(await r.arrayBuffer());
        const digest = createHash("sha256").update(buf).digest("hex");
        if (buf.length !== Number(process.env.LARGE_MEDIA_BYTES) || digest !== process.env.LARGE_MEDIA_SHA256)
            throw new Error(`downloaded ${buf.length} bytes with sha256 ${digest}`);
        return { bytes: buf.length, final_url_host: new URL(r.url).host };
    });
}

await step("business_profile_get", () => raw(`/${PHONE_ID}/whatsapp_business_profile`,
    { query: { fields: "about,address,description,email,profile_picture_url,websites,vertical" } }));
await step("business_profile_update", () => raw(`/${PHONE_ID}/whatsapp_business_profile`,
    { method: "POST", json: { messaging_product: "whatsapp", about: "whatsapp-api-js smoke test" } }));
await step("templates_list", () => raw(`/${WABA_ID}/message_templates`, { query: { limit: "10" } }));
const tpl = await step("template_create", () => raw(`/${WABA_ID}/message_templates`, {
    method: "POST",
    json: { name: "sdk_smoke_test", language: "en_US", category: "UTILITY",
            components: [{ type: "BODY", text: "Hello from the SDK smoke test" }] },
}));
await step("template_delete", () => raw(`/${WABA_ID}/message_templates`, {
    method: "DELETE", query: tpl?.id ? { name: "sdk_smoke_test", hsm_id: tpl.id } : { name: "sdk_smoke_test" },
}));
await step("phone_numbers_list", () => raw(`/${WABA_ID}/phone_numbers`));

// createQR interpolates `message` into the query string WITHOUT encoding -> encode it here.
const qr = await step("qr_create", () => wa.createQR(PHONE_ID, encodeURIComponent("Hello from whatsapp-api-js"), "png"));
await step("qr_list", () => wa.retrieveQR(PHONE_ID)); // GET .../message_qrdls/ (trailing slash!)
if (qr?.code) await step("qr_delete", () => wa.deleteQR(PHONE_ID, qr.code));
else failures.push("qr_delete(skipped)");
await step("block_users", () => wa.blockUser(PHONE_ID, { phone: TO })); // unversioned path!
await step("flows_list", () => raw(`/${WABA_ID}/flows`));

print({ done: true, failures });
process.exit(failures.length ? 1 : 0);
