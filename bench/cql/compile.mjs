// Compile a CQL library to ELM JSON with the JavaScript build of the reference
// CQL-to-ELM translator (@cqframework/cql). No Java, no FHIRHelpers: the FHIR
// 4.0.1 model info comes from the cql-exec-fhir package installed beside it.
//
// usage: node compile.mjs <node_modules dir> <library.cql> <out.elm.json>
// Exits 1 and prints every translator error when the library does not compile.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const [modules, source, out] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(modules), "noop.js"));
globalThis.require = require; // kotlinx-io inside the translator expects a CommonJS require

const cqlPkg = path.join(path.resolve(modules), "@cqframework/cql");
const { NamespaceManager, SystemModelInfoProvider } = await import(path.join(cqlPkg, "cql.mjs"));
const {
  CqlTranslator,
  DefaultModelInfoProvider,
  LibraryManager,
  ModelManager,
  createUcumService,
  stringAsPath,
} = await import(path.join(cqlPkg, "cql-to-elm.mjs"));
const ucum = require("@lhncbc/ucum-lhc").UcumLhcUtils.getInstance();

const modelDir = path.join(path.resolve(modules), "cql-exec-fhir/lib/modelInfos");
const models = new ModelManager(new NamespaceManager());
models.modelInfoLoader.registerModelInfoProvider(new SystemModelInfoProvider());
models.modelInfoLoader.registerModelInfoProvider(new DefaultModelInfoProvider(stringAsPath(modelDir)));

// The translator validates quantity units; only validation is needed to compile.
const unsupported = () => {
  throw new Error("unit arithmetic is not needed at compile time");
};
const validateUnit = (unit) => {
  const status = ucum.validateUnitString(unit).status;
  return status === "valid" ? null : `invalid UCUM unit ${unit}`;
};
const ucumService = createUcumService(unsupported, validateUnit, unsupported, unsupported);
const libraries = new LibraryManager(models, undefined, undefined, ucumService);

const started = performance.now();
const translator = CqlTranslator.fromText(fs.readFileSync(source, "utf8"), libraries);
const json = translator.toJson();
const elm = JSON.parse(json);
const errors = (elm.library.annotation || []).filter(
  (a) => a.type === "CqlToElmError" && a.errorSeverity === "error",
);
if (errors.length) {
  for (const e of errors) console.error(`${source}:${e.startLine}:${e.startChar}: ${e.message}`);
  process.exit(1);
}
fs.writeFileSync(out, json);
console.log(JSON.stringify({ compile_ms: Math.round(performance.now() - started), bytes: json.length }));
