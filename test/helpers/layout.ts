/**
 * The dependency rule of src/ (docs/architecture.md), checked from the import statements themselves:
 * - every top-level folder has a layer; a file may import from its own top-level folder or from a
 *   folder of a lower layer, never sideways (same layer) and never up;
 * - inside a top-level folder, the graph of its sub-folders has no cycle;
 * - src/ imports nothing from test/, bench/, tools/ or scripts/, and only packages that are runtime
 *   dependencies in package.json (the installed CLI must never load a dev dependency).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';

/** Layers, lowest first. Folders of one layer may not import each other. */
export const LAYERS: readonly (readonly string[])[] = [
  ['util'],
  ['io', 'onnx'],
  ['linalg', 'pictures'],
  ['model', 'data'],
  ['features'],
  ['prototypes'],
  ['network'],
  ['builder', 'explain', 'export', 'evaluate'],
  ['html', 'checks'],
  ['viewer'],
  ['site'],
  ['demo'],
  ['cli'],
];

/**
 * Dev-dependency imports src/ may make, each in one file, with the reason: the installed package
 * never reaches them.
 */
export const DEV_IMPORT_EXCEPTIONS: readonly { file: string; package: string; why: string }[] = [
  { file: 'site/app-script.ts', package: 'esbuild', why: 'bundles the browser app in a checkout; the package ships the bundle prebuilt (dist/site/site-app.js)' },
];

export interface Import {
  /** Importing file, relative to src/ with '/' separators. */
  from: string;
  /** Imported file relative to src/ (may start with '../' when it leaves src/), or a package name. */
  to: string;
  /** True for a bare specifier (a package or a node: builtin). */
  external: boolean;
}

const IMPORT_RE = /(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;(])import\s*\(\s*['"]([^'"]+)['"]\s*\)|(?:^|[\s;])import\s+['"]([^'"]+)['"]|startModuleWorker\(\s*['"]([^'"]+)['"]/gm;

/** Every import of every .ts file under `srcDir`. */
export function scanImports(srcDir: string): Import[] {
  const out: Import[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.ts')) {
        const text = readFileSync(p, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
        const from = relative(srcDir, p).split(sep).join('/');
        for (const m of text.matchAll(IMPORT_RE)) {
          const spec = m[1] ?? m[2] ?? m[3] ?? m[4];
          if (spec.startsWith('.')) out.push({ from, to: relative(srcDir, resolve(dirname(p), spec)).split(sep).join('/'), external: false });
          else out.push({ from, to: spec, external: true });
        }
      }
    }
  };
  walk(srcDir);
  return out;
}

const folderOf = (file: string): string => (file.includes('/') ? file.slice(0, file.lastIndexOf('/')) : '.');
const topOf = (file: string): string => (file.includes('/') ? file.slice(0, file.indexOf('/')) : '.');

/** The package name of a bare specifier ('@scope/name/x' -> '@scope/name'), or null for a builtin. */
function packageOf(spec: string): string | null {
  if (spec.startsWith('node:') || builtinModules.includes(spec.split('/')[0])) return null;
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** Violations of the rule, one line each (empty when the layout is sound). */
export function layoutViolations(imports: readonly Import[], runtimeDependencies: readonly string[], layers: readonly (readonly string[])[] = LAYERS): string[] {
  const layerOf = new Map<string, number>();
  layers.forEach((names, i) => names.forEach((n) => layerOf.set(n, i)));
  const problems: string[] = [];
  const subEdges = new Map<string, Set<string>>();
  for (const imp of imports) {
    if (imp.external) {
      const pkg = packageOf(imp.to);
      if (pkg !== null && DEV_IMPORT_EXCEPTIONS.some((x) => x.file === imp.from && x.package === pkg)) continue;
      if (pkg !== null && !runtimeDependencies.includes(pkg)) problems.push(`${imp.from} imports '${imp.to}', which is not a runtime dependency in package.json`);
      continue;
    }
    if (imp.to.startsWith('../')) {
      if (imp.to !== '../package.json') problems.push(`${imp.from} imports ${imp.to}, outside src/`);
      continue;
    }
    const a = topOf(imp.from);
    const b = topOf(imp.to);
    if (b === '.') {
      problems.push(`${imp.from} imports the library entry ${imp.to}`);
      continue;
    }
    if (a === '.') continue; // the library entry may name anything
    const unknown = [a, b].filter((t) => !layerOf.has(t));
    for (const t of unknown) problems.push(`folder src/${t}/ has no layer in the dependency rule`);
    if (unknown.length) continue;
    if (a !== b) {
      const la = layerOf.get(a)!;
      const lb = layerOf.get(b)!;
      if (lb === la) problems.push(`${imp.from} imports ${imp.to}: ${a}/ and ${b}/ are on the same layer and may not depend on each other`);
      else if (lb > la) problems.push(`${imp.from} imports ${imp.to}: ${a}/ may not import from ${b}/, which is above it`);
      continue;
    }
    const fa = folderOf(imp.from);
    const fb = folderOf(imp.to);
    if (fa !== fb) {
      if (!subEdges.has(fa)) subEdges.set(fa, new Set());
      subEdges.get(fa)!.add(fb);
    }
  }
  // Cycles among sub-folders of one top-level folder (depth-first search, each cycle reported once).
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const seen = new Set<string>();
  const visit = (n: string): void => {
    state.set(n, 'open');
    path.push(n);
    for (const m of subEdges.get(n) ?? []) {
      if (state.get(m) === 'open') {
        const cycle = [...path.slice(path.indexOf(m)), m].join(' -> ');
        if (!seen.has(cycle)) problems.push(`folder cycle: ${cycle}`);
        seen.add(cycle);
      } else if (!state.has(m)) visit(m);
    }
    path.pop();
    state.set(n, 'done');
  };
  for (const n of [...subEdges.keys()].sort()) if (!state.has(n)) visit(n);
  return [...new Set(problems)];
}

/** The folder graph as lines 'a -> b, c' (for docs and failure messages). */
export function folderGraph(imports: readonly Import[]): string[] {
  const edges = new Map<string, Set<string>>();
  for (const imp of imports) {
    if (imp.external || imp.to.startsWith('../')) continue;
    const a = folderOf(imp.from);
    const b = folderOf(imp.to);
    if (a === b) continue;
    if (!edges.has(a)) edges.set(a, new Set());
    edges.get(a)!.add(b);
  }
  return [...edges].sort(([x], [y]) => x.localeCompare(y)).map(([a, bs]) => `${a} -> ${[...bs].sort().join(', ')}`);
}
