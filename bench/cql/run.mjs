// Run the compiled CQL subset on cql-execution + cql-exec-fhir: first the
// outcomes of every patient (for the differential gate), then timings.
//
// usage: node run.mjs <node_modules dir> <elm.json> <data.json> <out.json>
// data.json: {today, alt_uln, ast_uln, outcomes: [names], seconds,
//             sets: {name: [bundles]}, timed: [set names]}
//
// Modes timed per set (all per patient, bundles already parsed JSON objects):
// - optimal: ELM parsed once, one Executor, one PatientSource reused
//   (reset + loadBundles + exec per patient), as the engine is best embedded;
// - naive: a new PatientSource per patient, as CQL services commonly embed it
//   (the constructor re-parses the FHIR model info);
// - batch: every patient of the set in one PatientSource and one exec call.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const [modules, elmPath, dataPath, outPath] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(modules), "noop.js"));
const cql = require("cql-execution");
const cqlfhir = require("cql-exec-fhir");

const data = JSON.parse(fs.readFileSync(dataPath, "utf8"));
const library = new cql.Library(JSON.parse(fs.readFileSync(elmPath, "utf8")));
const parameters = {
  Today: cql.Date.parse(data.today),
  "ALT ULN": data.alt_uln,
  "AST ULN": data.ast_uln,
};
const executor = new cql.Executor(library, new cql.CodeService({}), parameters);
const executionDateTime = cql.DateTime.parse(`${data.today}T00:00:00.000Z`);
const shared = cqlfhir.PatientSource.FHIRv401();

function patientId(bundle) {
  const entry = bundle.entry.find((e) => e.resource && e.resource.resourceType === "Patient");
  return entry.resource.id;
}

function plain(value) {
  if (value === undefined || value === null) return null;
  if (typeof value === "boolean" || typeof value === "string" || typeof value === "number") return value;
  return String(value);
}

async function execOne(source, bundle) {
  source.reset();
  source.loadBundles([bundle]);
  return executor.exec(source, executionDateTime);
}

async function outcomes(bundles) {
  const found = {};
  for (const bundle of bundles) {
    const id = patientId(bundle);
    const results = (await execOne(shared, bundle)).patientResults[id] || {};
    found[id] = Object.fromEntries(data.outcomes.map((name) => [name, plain(results[name])]));
  }
  return found;
}

function summary(samplesNs, patients) {
  const ms = samplesNs.map((ns) => Number(ns) / 1e6).sort((a, b) => a - b);
  const pick = (q) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))];
  const total = ms.reduce((a, b) => a + b, 0);
  return {
    samples: ms.length,
    patients,
    mean_ms: total / ms.length,
    p50_ms: pick(0.5),
    p95_ms: pick(0.95),
    p99_ms: pick(0.99),
  };
}

// Whole passes over the set until `seconds` have passed (at least one pass after warming up on `warm` patients).
async function timePerPatient(bundles, seconds, run, warm = bundles.length) {
  for (const bundle of bundles.slice(0, warm)) await run(bundle);
  const samples = [];
  const deadline = performance.now() + seconds * 1000;
  do {
    for (const bundle of bundles) {
      const t0 = process.hrtime.bigint();
      await run(bundle);
      samples.push(process.hrtime.bigint() - t0);
    }
  } while (performance.now() < deadline);
  return summary(samples, bundles.length);
}

async function timeBatch(bundles, seconds) {
  const run = async () => {
    shared.reset();
    shared.loadBundles(bundles);
    return executor.exec(shared, executionDateTime);
  };
  await run();
  const samples = [];
  const deadline = performance.now() + seconds * 1000;
  do {
    const t0 = process.hrtime.bigint();
    await run();
    samples.push((process.hrtime.bigint() - t0) / BigInt(bundles.length));
  } while (performance.now() < deadline);
  return summary(samples, bundles.length);
}

function timeConstructor(count) {
  const samples = [];
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    cqlfhir.PatientSource.FHIRv401();
    samples.push(process.hrtime.bigint() - t0);
  }
  return summary(samples, 0);
}

function version(pkg) {
  return JSON.parse(fs.readFileSync(path.join(path.resolve(modules), pkg, "package.json"), "utf8")).version;
}

const report = {
  versions: {
    node: process.version,
    "cql-execution": version("cql-execution"),
    "cql-exec-fhir": version("cql-exec-fhir"),
    "@cqframework/cql": version("@cqframework/cql"),
  },
  outcomes: {},
  timings: {},
};
for (const [name, bundles] of Object.entries(data.sets)) {
  report.outcomes[name] = await outcomes(bundles);
}
for (const name of data.timed) {
  const bundles = data.sets[name];
  report.timings[name] = {
    optimal: await timePerPatient(bundles, data.seconds, (b) => execOne(shared, b)),
    naive: await timePerPatient(bundles, data.seconds, (b) => execOne(cqlfhir.PatientSource.FHIRv401(), b), 5),
    batch: await timeBatch(bundles, data.seconds),
  };
}
report.timings.patient_source_constructor = timeConstructor(data.constructor_samples || 20);
fs.writeFileSync(outPath, JSON.stringify(report));
