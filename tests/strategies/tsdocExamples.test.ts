/**
 * The TSDoc `@example` blocks (they go into the API reference) follow the one-adapter-per-model
 * rule (src/modelLease.ts): a block that calls `createAdapter(model, ...)` twice on the same model
 * disposes the first adapter in between, else the second call throws ModelInUseError. Alternatives
 * are shown commented out. (strategies/vida.ts, alphaBn.ts, roid.ts and tent.ts created two.)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '../..');

function sources(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')).map((f) => path.join(dir, f));
}

/** The code lines of every `@example` block of `text` (the comment's ` * ` stripped). */
function examples(text: string): string[][] {
  const blocks: string[][] = [];
  for (const comment of text.match(/\/\*\*[\s\S]*?\*\//g) ?? []) {
    const lines = comment.split('\n').map((l) => l.replace(/^\s*\/?\*+\/?\s?/, ''));
    let block: string[] | null = null;
    for (const line of lines) {
      if (/^@\w+/.test(line)) {
        block = /^@example\b/.test(line) ? [] : null;
        if (block !== null) blocks.push(block);
      } else if (block !== null) block.push(line);
    }
  }
  return blocks;
}

/** Models given to a second `createAdapter` in a block with no `.dispose()` since the first. */
function secondAdapters(block: string[]): string[] {
  const live = new Set<string>();
  const found: string[] = [];
  for (const line of block) {
    const code = line.replace(/\/\/.*$/, '');
    if (/\.dispose\(\)/.test(code)) live.clear();
    for (const m of code.matchAll(/\bcreateAdapter\(\s*([\w.]+)/g)) {
      if (live.has(m[1]!)) found.push(`${m[1]}: ${line.trim()}`);
      live.add(m[1]!);
    }
  }
  return found;
}

describe('TSDoc examples', () => {
  it('the rule is checked as stated', () => {
    expect(secondAdapters(['await createAdapter(model, {});', 'await createAdapter(model, { a: 1 });'])).toHaveLength(1);
    expect(secondAdapters(['const a = await createAdapter(model, {});', 'a.dispose();', 'await createAdapter(model, {});'])).toEqual([]);
    expect(secondAdapters(['await createAdapter(model, {});', '// await createAdapter(model, {});', 'await createAdapter(other, {});'])).toEqual([]);
    expect(examples('/**\n * Text.\n *\n * @example\n * f(1);\n * @param x y\n */')).toEqual([['f(1);']]);
  });

  it('create at most one adapter per model at a time', () => {
    const files = [...sources('src'), ...sources('strategies'), ...sources('workers')];
    const offending: string[] = [];
    let blocks = 0;
    for (const file of files) {
      for (const block of examples(fs.readFileSync(path.join(ROOT, file), 'utf8'))) {
        blocks++;
        for (const f of secondAdapters(block)) offending.push(`${file}: ${f}`);
      }
    }
    expect(blocks).toBeGreaterThan(10);
    expect(offending).toEqual([]);
  });
});
