// cql-execution + cql-exec-fhir worker for the benchmark: the Python driver
// sends one JSON command per line on stdin and reads one JSON answer per line
// on stdout, so that it can interleave blocks of rxguard and cql-execution
// timing (a busy neighbour then slows both alike) in one process each.
//
// usage: node run.mjs <node_modules dir> <elm.json> <data.json>
// data.json: {today, alt_uln, ast_uln, outcomes: [names], sets: {name: [bundles]}}
// commands:
//   {"cmd": "versions"}
//   {"cmd": "outcomes", "set": name}            -> {patient id: {outcome: value}}
//   {"cmd": "time", "set": name, "mode": m, "seconds": s, "limit": n}
//   {"cmd": "constructor", "count": n}
// Modes (bundles are parsed JSON objects before timing starts):
// - optimal: ELM parsed once, one Executor, one PatientSource reused
//   (reset + loadBundles + exec per patient): the engine at its best;
// - naive: a new PatientSource per patient, as CQL services commonly embed it
//   (its constructor re-parses the FHIR model info);
// - batch: all patients of the set in one PatientSource and one exec call.
// Timings carry CPU time of this process (user + system, all its threads, so
// garbage collection counts) and wall-clock samples per patient.
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { createRequire } from "node:module";

const [modules, elmPath, dataPath] = process.argv.slice(2);
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
  return bundle.entry.find((e) => e.resource && e.resource.resourceType === "Patient").resource.id;
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

function cpuMs() {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

// Whole passes over the patients until `seconds` have passed (at least one pass).
async function timePasses(bundles, seconds, run) {
  const wall = [];
  let patients = 0;
  const cpu0 = cpuMs();
  const deadline = performance.now() + seconds * 1000;
  do {
    for (const bundle of bundles) {
      const t0 = performance.now();
      await run(bundle);
      wall.push(performance.now() - t0);
    }
    patients += bundles.length;
  } while (performance.now() < deadline);
  return { patients, cpu_ms: cpuMs() - cpu0, wall_ms: wall };
}

async function timeBatch(bundles, seconds) {
  const wall = [];
  let patients = 0;
  const cpu0 = cpuMs();
  const deadline = performance.now() + seconds * 1000;
  do {
    const t0 = performance.now();
    shared.reset();
    shared.loadBundles(bundles);
    await executor.exec(shared, executionDateTime);
    wall.push((performance.now() - t0) / bundles.length);
    patients += bundles.length;
  } while (performance.now() < deadline);
  return { patients, cpu_ms: cpuMs() - cpu0, wall_ms: wall };
}

async function time({ set, mode, seconds, limit }) {
  const bundles = data.sets[set].slice(0, limit || undefined);
  if (mode === "optimal") return timePasses(bundles, seconds, (b) => execOne(shared, b));
  if (mode === "naive") return timePasses(bundles, seconds, (b) => execOne(cqlfhir.PatientSource.FHIRv401(), b));
  if (mode === "batch") return timeBatch(bundles, seconds);
  throw new Error(`unknown mode ${mode}`);
}

function constructor({ count }) {
  const wall = [];
  const cpu0 = cpuMs();
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    cqlfhir.PatientSource.FHIRv401();
    wall.push(performance.now() - t0);
  }
  return { patients: count, cpu_ms: cpuMs() - cpu0, wall_ms: wall };
}

function version(pkg) {
  return JSON.parse(fs.readFileSync(path.join(path.resolve(modules), pkg, "package.json"), "utf8")).version;
}

const handlers = {
  versions: () => ({
    node: process.version,
    "cql-execution": version("cql-execution"),
    "cql-exec-fhir": version("cql-exec-fhir"),
    "@cqframework/cql": version("@cqframework/cql"),
  }),
  outcomes: (cmd) => outcomes(data.sets[cmd.set]),
  time,
  constructor,
};

process.stdout.write(JSON.stringify({ ready: true }) + "\n");
for await (const line of readline.createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const cmd = JSON.parse(line);
  const answer = await handlers[cmd.cmd](cmd);
  process.stdout.write(JSON.stringify(answer) + "\n");
}
