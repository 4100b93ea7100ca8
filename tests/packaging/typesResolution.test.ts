/**
 * Every import a consumer can write (`edge-tta`, `edge-tta/workers`, `edge-tta/workers/browser.worker`,
 * `edge-tta/workers/node.worker`, `edge-tta/testing`) finds its types under each TypeScript module
 * resolution an app may use: node16 (ESM importer), bundler, and node10 (`"moduleResolution":
 * "node"`, still the setting of many bundler apps, e.g. Angular up to 16). node10 ignores the
 * `exports` map: it found the root's types (the `types` field) but none of the subpaths' (TS2307
 * "Cannot find module 'edge-tta/workers'") until `typesVersions` mapped them. `attw --profile
 * esm-only` (the consumer check) does not look at node10.
 *
 * The resolution is TypeScript's own (`ts.resolveModuleName`) on a virtual app whose
 * `node_modules/edge-tta` is this repository; a `dist/**.d.ts` exists there when its source does,
 * so the test needs no build.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
const APP = '/app';
const INSTALLED = `${APP}/node_modules/edge-tta/`;

/** The repository path of a file of the installed package (dist/x.d.ts stands for its source x.ts). */
function inRepo(path: string): string | undefined {
  if (!path.startsWith(INSTALLED)) return undefined;
  const rel = path.slice(INSTALLED.length);
  if (rel === 'package.json') return join(root, rel);
  if (rel.startsWith('dist/') && rel.endsWith('.d.ts')) return join(root, rel.slice('dist/'.length, -'.d.ts'.length) + '.ts');
  return undefined;
}

const host: ts.ModuleResolutionHost = {
  fileExists: (path) => {
    const real = inRepo(path);
    return real !== undefined && existsSync(real);
  },
  readFile: (path) => {
    const real = inRepo(path);
    return real !== undefined && existsSync(real) ? readFileSync(real, 'utf8') : undefined;
  },
  directoryExists: (path) => path === APP || path.startsWith(`${APP}/node_modules`),
  realpath: (path) => path,
  getCurrentDirectory: () => APP,
};

const RESOLUTIONS = [
  // An ESM importer (.mts) under node16: the `node` condition of `edge-tta/workers` applies.
  { name: 'node16', importer: `${APP}/src/main.mts`, options: { module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16 } },
  { name: 'bundler', importer: `${APP}/src/main.ts`, options: { module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler } },
  { name: 'node10', importer: `${APP}/src/main.ts`, options: { module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Node10 } },
] as const;

const SPECIFIERS = Object.keys(pkg.exports)
  .filter((key) => key !== './package.json')
  .map((key) => (key === '.' ? 'edge-tta' : `edge-tta/${key.slice(2)}`));

describe('the types of every export resolve under node16, bundler and node10 resolution', () => {
  // A new export is covered by the cases below as soon as package.json has it.
  it('reads the exports from package.json', () => {
    expect(SPECIFIERS).toEqual(expect.arrayContaining(['edge-tta', 'edge-tta/workers', 'edge-tta/workers/browser.worker', 'edge-tta/workers/node.worker', 'edge-tta/testing']));
  });

  for (const { name, importer, options } of RESOLUTIONS) {
    it.each(SPECIFIERS)(`${name}: %s`, (specifier) => {
      const { resolvedModule } = ts.resolveModuleName(specifier, importer, { ...options, strict: true }, host);
      expect(resolvedModule?.resolvedFileName, `${specifier} under ${name} resolution`).toMatch(/^\/app\/node_modules\/edge-tta\/dist\/.+\.d\.ts$/);
      expect(resolvedModule?.isExternalLibraryImport).toBe(true);
    });
  }

  it('node10 (typesVersions) gives each subpath the types of its default export condition', () => {
    for (const specifier of SPECIFIERS) {
      const bundler = ts.resolveModuleName(specifier, `${APP}/src/main.ts`, RESOLUTIONS[1].options, host).resolvedModule;
      const node10 = ts.resolveModuleName(specifier, `${APP}/src/main.ts`, RESOLUTIONS[2].options, host).resolvedModule;
      expect(node10?.resolvedFileName, specifier).toBe(bundler?.resolvedFileName);
    }
  });
});
