// check.js -- the docs test's checks in Node (tests/docs/run.sh):
//   node check.js json YAML JSON          the served /openapi.json is the YAML's content
//   node check.js dom YAML DOM            the rendered page names the document's routes
//   node check.js netlog NETLOG ORIGIN    the browser loaded nothing from other hosts
//   node check.js page HTML               the page's markup loads nothing from other hosts
// js-yaml comes from tools/npm (installed by the test with npm ci).
'use strict';
const fs = require('fs');
const path = require('path');
const yaml = require(path.join(__dirname, '../../tools/npm/node_modules/js-yaml'));
const [mode, a, b] = process.argv.slice(2);
const fail = (msg) => { console.error('docs test: FAILED: ' + msg); process.exit(1); };
// OpenAPI 3.1 documents are YAML 1.2: the core schema (no timestamps)
const load = (file) => yaml.load(fs.readFileSync(file, 'utf8'), { schema: yaml.CORE_SCHEMA });
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

if (mode === 'json') {
    const want = load(a);
    let got;
    try { got = JSON.parse(fs.readFileSync(b, 'utf8')); } catch (e) { fail('/openapi.json is not JSON: ' + e.message); }
    if (!require('util').isDeepStrictEqual(got, want)) fail('/openapi.json differs from ' + a);
    console.log('docs test: ok: /openapi.json parses and equals docs/openapi.yaml (' + Object.keys(want.paths || {}).length + ' paths)');
} else if (mode === 'dom') {
    const doc = load(a);
    // the text a reader sees: no scripts (the page's state holds the whole
    // document as JSON), no styles, no tags; entities decoded
    const text = fs.readFileSync(b, 'utf8')
        .replace(/<script\b[\s\S]*?<\/script>/gi, ' ')
        .replace(/<style\b[\s\S]*?<\/style>/gi, ' ')
        .replace(/<[^>]*>/g, ' ')
        .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
        .replace(/&#([0-9]+);/g, (_, d) => String.fromCodePoint(Number(d)))
        .replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&nbsp;/g, ' ').replace(/&amp;/g, '&');
    const paths = Object.keys(doc.paths || {});
    if (paths.length < 2) fail('the document has fewer than 2 paths');
    if (!text.includes(doc.info.title)) fail('the rendered page does not show info.title "' + doc.info.title + '"');
    const missing = paths.filter((p) => !text.includes(p));
    if (missing.length) fail('the rendered page does not show the paths: ' + missing.join(', '));
    const summaries = [];
    for (const p of paths)
        for (const m of METHODS)
            if (doc.paths[p][m] && doc.paths[p][m].summary) summaries.push(doc.paths[p][m].summary);
    const noSummary = summaries.filter((s) => !text.includes(s));
    if (noSummary.length) fail('the rendered page does not show the summaries: ' + noSummary.join(' | '));
    console.log('docs test: ok: the rendered page shows "' + doc.info.title + '", ' + paths.length + ' paths and ' +
        summaries.length + ' operation summaries');
} else if (mode === 'netlog') {
    // every URL request the browser started: the page's own (its origin)
    // and Chromium's services, which the flags of run.sh cannot all turn
    // off and its --host-resolver-rules keep from leaving the machine
    const browserOwn = new Set(['accounts.google.com', 'clients2.google.com', 'update.googleapis.com']);
    // a browser that did not exit cleanly leaves the events array open
    const raw = fs.readFileSync(a, 'utf8');
    let log;
    try { log = JSON.parse(raw); } catch (e) { log = JSON.parse(raw.replace(/,?\s*$/, '') + ']}'); }
    const start = log.constants.logEventTypes.URL_REQUEST_START_JOB;
    const urls = log.events.filter((e) => e.type === start && e.params && e.params.url).map((e) => e.params.url);
    const page = urls.filter((u) => u.startsWith(b + '/'));
    if (page.length === 0) fail('the net log shows no request to ' + b);
    const other = urls.filter((u) => !u.startsWith(b + '/') && !browserOwn.has(new URL(u).hostname));
    if (other.length) fail('the page made requests to other hosts: ' + [...new Set(other)].join(' '));
    console.log('docs test: ok: the browser fetched only ' + [...new Set(page)].join(' ') + ' for the page');
} else if (mode === 'page') {
    const html = fs.readFileSync(a, 'utf8');
    const loads = [].concat(html.match(/\bsrc\s*=\s*["']?(?:https?:)?\/\/[^"'\s>]+/gi) || [],
        html.match(/<link\b[^>]*\bhref\s*=\s*["']?(?:https?:)?\/\/[^"'\s>]+/gi) || [],
        html.match(/url\(\s*["']?(?:https?:)?\/\/[^)"']+/gi) || []);
    if (loads.length) fail('the page loads from other hosts: ' + loads.join(' '));
    console.log('docs test: ok: the page names no script, style, font or image of another host');
} else {
    fail('usage: check.js json|dom|netlog|page ...');
}
