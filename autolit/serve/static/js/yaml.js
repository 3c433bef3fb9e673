// YAML as the server reads it: js-yaml with the YAML 1.1 schema (PyYAML's: yes/no are booleans,
// 1e-3 without a dot is a string), dumped in a form PyYAML reads back the same.
import { load, dump, YAML11_SCHEMA } from "../vendor/js-yaml.js";

export function parseYaml(text) {
  const value = load(text, { schema: YAML11_SCHEMA });
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw new Error("a config is a YAML mapping (key: value lines)");
  return value;
}

export function dumpYaml(value) { return dump(value, { lineWidth: 100, noRefs: true }); }

// One layer's or augmentation's arguments on one line: {out_channels: 32, kernel_size: 3}
export function flow(value) { return dump(value ?? {}, { flowLevel: 0, lineWidth: -1 }).trim(); }

export function parseFlow(text) {
  const value = load(text.trim() || "{}", { schema: YAML11_SCHEMA });
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("arguments are a mapping: {name: value, ...}");
  return value;
}
