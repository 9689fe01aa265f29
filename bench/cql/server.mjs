// A minimal CDS Hooks order-sign server on cql-execution, for the benchmark's
// `cds_hooks` section: the same request bodies rxguard receives, answered
// from the CQL library (RxguardSubset.cql compiled to ELM) instead of rxguard.
//
// usage: node server.mjs <node_modules dir> <elm.json> <config.json>
// config.json: {port, audiences: [url], issuers: [{iss, jwks, jurisdiction}],
//               max_lifetime, leeway, rules: {outcome: {rule, title, message,
//               action, severity: {US, EU, "": severity}}}}
//
// Engine-optimal, as in run.mjs: the ELM is parsed once and one CodeService,
// one Executor and one PatientSource are reused (reset + loadBundles + exec
// per request). Node's built-in `http` module only, no framework.
//
// Per POST: the ES384 (or other EC/RSA) JWT is verified with node:crypto the
// way rxguard does (allowed alg, issuer allowlist, key by kid, signature, aud
// is the URL called, exp/iat/jti present, exp in the future, iat not in the
// future, lifetime at most max_lifetime, jti once per issuer; rxguard keeps
// the jti in its database, this server in memory); the body is parsed; one
// FHIR Bundle is built from `prefetch` (every searchset's entries and the
// patient) and `context.draftOrders`; the library runs; each rule outcome
// that is true becomes a finding, mapped to cards as rxguard does for an
// order hook: contraindicated -> one critical card, hold -> one warning
// card, anything less -> one info card for all of them. Program-gap cards
// (rxguard's program records) have no counterpart here.
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { createRequire } from "node:module";

const [modules, elmPath, configPath] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(modules), "noop.js"));
const cql = require("cql-execution");
const cqlfhir = require("cql-exec-fhir");
const config = JSON.parse(fs.readFileSync(configPath, "utf8"));

// ------------------------------------------------------------------ the engine, built once

const library = new cql.Library(JSON.parse(fs.readFileSync(elmPath, "utf8")));
const executor = new cql.Executor(library, new cql.CodeService({}));
const source = cqlfhir.PatientSource.FHIRv401();
let today = "";

function setToday() {
  const now = new Date().toISOString().slice(0, 10);
  if (now !== today) {
    today = now;
    // rxguard's server has no default ULN: a result without a reference range is not compared.
    executor.withParameters({ Today: cql.Date.parse(today), "ALT ULN": null, "AST ULN": null });
  }
}

// One evaluation at a time on the shared PatientSource (Node runs one at a time anyway).
let queue = Promise.resolve();
function serialized(fn) {
  const run = queue.then(fn, fn);
  queue = run.catch(() => {});
  return run;
}

async function evaluate(bundle, patientId) {
  setToday();
  source.reset();
  source.loadBundles([bundle]);
  const results = await executor.exec(source, cql.DateTime.fromJSDate(new Date(), 0));
  return results.patientResults[patientId] || {};
}

// ------------------------------------------------------------------ JWT (CDS Hooks 2.0 security)

const HASH = { 256: "sha256", 384: "sha384", 512: "sha512" };
const issuers = new Map();
for (const entry of config.issuers) {
  const keys = new Map();
  for (const jwk of entry.jwks.keys) {
    if (!["EC", "RSA"].includes(jwk.kty) || (jwk.use || "sig") !== "sig") continue;
    keys.set(jwk.kid, { key: crypto.createPublicKey({ key: jwk, format: "jwk" }), kty: jwk.kty, alg: jwk.alg });
  }
  issuers.set(entry.iss, { keys, jurisdiction: entry.jurisdiction || "", tenants: entry.tenants || null });
}
const seen = new Map(); // iss \0 jti -> exp
let remembered = 0;

function remember(iss, jti, exp) {
  const id = `${iss}\u0000${jti}`;
  if (seen.has(id)) return false;
  if (++remembered % 500 === 0) {
    const now = Date.now() / 1000;
    for (const [k, e] of seen) if (e < now) seen.delete(k);
  }
  seen.set(id, exp + config.leeway);
  return true;
}

function verify(authorization) {
  const match = /^bearer\s+(\S+)$/i.exec(authorization || "");
  if (!match) return null;
  const parts = match[1].split(".");
  if (parts.length !== 3) return null;
  let header, claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], "base64url"));
    claims = JSON.parse(Buffer.from(parts[1], "base64url"));
  } catch {
    return null;
  }
  const alg = /^(ES|RS)(256|384|512)$/.exec(header.alg || "");
  const issuer = issuers.get(claims.iss);
  if (!alg || !issuer) return null;
  const key = issuer.keys.get(header.kid);
  if (!key || key.kty !== (alg[1] === "ES" ? "EC" : "RSA") || (key.alg && key.alg !== header.alg)) return null;
  const options = alg[1] === "ES" ? { key: key.key, dsaEncoding: "ieee-p1363" } : key.key;
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
  if (!crypto.verify(HASH[alg[2]], signed, options, Buffer.from(parts[2], "base64url"))) return null;
  const now = Date.now() / 1000;
  const { aud, exp, iat, jti } = claims;
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.some((a) => config.audiences.includes(a))) return null;
  if (typeof exp !== "number" || typeof iat !== "number" || typeof jti !== "string") return null;
  if (exp + config.leeway <= now || iat > now + config.leeway || exp - iat > config.max_lifetime) return null;
  if (jti.length < 1 || jti.length > 255) return null;
  if (issuer.tenants && !issuer.tenants.includes(claims.tenant)) return null;
  if (!remember(claims.iss, jti, exp)) return null;
  return issuer;
}

// ------------------------------------------------------------------ request -> FHIR -> cards

function resources(value) {
  if (!value || typeof value !== "object") return [];
  if (value.resourceType === "Bundle") return (value.entry || []).map((e) => e && e.resource).filter(Boolean);
  return value.resourceType ? [value] : [];
}

function patientBundle(body) {
  const entry = [];
  for (const value of Object.values(body.prefetch || {})) for (const r of resources(value)) entry.push({ resource: r });
  for (const r of resources(body.context.draftOrders)) entry.push({ resource: r });
  return { resourceType: "Bundle", type: "collection", entry };
}

const RANK = { ok: 0, info: 0, caution: 1, hold: 2, contraindicated: 3 };

function cards(results, jurisdiction, draftOrders) {
  const display = results["Outcome: Ordered Drug"];
  if (!display) return [];
  const findings = [];
  for (const [outcome, rule] of Object.entries(config.rules)) {
    if (results[outcome] === true) findings.push({ ...rule, counts_as: rule.severity[jurisdiction] });
  }
  findings.sort((a, b) => RANK[b.counts_as] - RANK[a.counts_as] || a.rule.localeCompare(b.rule));
  const orderIds = resources(draftOrders)
    .filter((r) => r.resourceType === "MedicationRequest" && r.id)
    .map((r) => r.id);
  const out = [];
  const lesser = [];
  for (const f of findings) {
    const indicator = { contraindicated: "critical", hold: "warning" }[f.counts_as];
    if (!indicator) {
      lesser.push(f);
      continue;
    }
    const verb = f.counts_as === "contraindicated" ? "contraindicated" : "hold";
    const card = card_(`${display}: ${verb} — ${f.title}`, indicator, detail([f]), `rule:${f.rule}`);
    if (orderIds.length) {
      card.suggestions = [
        {
          label: `Remove the draft ${display} order`,
          uuid: crypto.randomUUID(),
          isRecommended: true,
          actions: orderIds.map((id) => ({
            type: "delete",
            description: `Remove the draft ${display} order`,
            resourceId: `MedicationRequest/${id}`,
          })),
        },
      ];
      card.selectionBehavior = "at-most-one";
    }
    out.push(card);
  }
  if (lesser.length) {
    const titles = lesser.map((f) => f.title).join("; ");
    out.push(card_(`${display}: ${lesser.length} to note — ${titles}`, "info", detail(lesser), `cautions:${display}`));
  }
  return out;
}

function detail(findings) {
  const lines = [];
  for (const f of findings) {
    lines.push(`**${f.title}** (${f.counts_as})`, "", f.message, "", `**Action:** ${f.action}`, "", `Rule \`${f.rule}\``, "");
  }
  return lines.join("\n");
}

function card_(summary, indicator, text, topic) {
  return {
    uuid: crypto.randomUUID(),
    summary: summary.length > 139 ? summary.slice(0, 138) + "…" : summary,
    indicator,
    detail: text,
    source: { label: "RxguardSubset.cql on cql-execution", topic: { system: "urn:rxguard:card-topic", code: topic } },
  };
}

// ------------------------------------------------------------------ HTTP

function send(res, status, value) {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { "content-type": "application/json", "content-length": body.length });
  res.end(body);
}

function problem(res, status, detail) {
  send(res, status, { type: "about:blank", status, detail });
}

async function handle(req, res, raw) {
  if (req.method !== "POST" || req.url !== config.path) return problem(res, 404, "POST the order-sign service");
  const issuer = verify(req.headers.authorization);
  if (!issuer) return problem(res, 401, "a valid JWT signed by a trusted EHR is required");
  let body;
  try {
    body = JSON.parse(raw);
  } catch {
    return problem(res, 400, "the body is not JSON");
  }
  const context = body && body.context;
  if (body.hook !== "order-sign" || !context || typeof context.patientId !== "string") {
    return problem(res, 400, "send a CDS Hooks 2.0 order-sign request with context.patientId");
  }
  if (!context.draftOrders || typeof context.draftOrders !== "object") {
    return problem(res, 400, "context.draftOrders must be a FHIR Bundle of the draft orders");
  }
  if (!body.prefetch || !body.prefetch.patient) return problem(res, 412, "prefetch.patient is required");
  const results = await serialized(() => evaluate(patientBundle(body), context.patientId));
  send(res, 200, { cards: cards(results, issuer.jurisdiction, context.draftOrders) });
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    handle(req, res, Buffer.concat(chunks).toString("utf8")).catch((err) => {
      process.stderr.write(`${err && err.stack}\n`);
      if (!res.headersSent) problem(res, 500, "evaluation failed");
    });
  });
});
server.keepAliveTimeout = 60_000;
server.listen(config.port, "127.0.0.1");
