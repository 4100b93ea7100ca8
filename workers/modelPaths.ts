/**
 * Weight file paths from a model.json are hostile: a `weightsManifest` entry's `paths` name files
 * relative to the model.json's folder, and nothing else. An absolute path (`/etc/…`, `C:\…`,
 * `\\server\…`), a URL (`file:`, `https:`, `data:`) or a `..` segment (also percent-encoded,
 * `%2e%2e`, which URL parsers read as `..`) would read a file outside that folder, and is an
 * InvalidModelError naming the path before any weight file is read. Browser-safe (no `node:`).
 */
import { InvalidModelError } from '../src/errors.js';

/**
 * `path` as given (a plain relative file path), or an InvalidModelError naming it and `where`,
 * the model.json ("The model file 'https://…/model.json'").
 */
export function checkWeightPath(path: unknown, where: string): string {
  const refuse = (why: string): never => {
    throw new InvalidModelError(
      `${where} lists the weight path ${JSON.stringify(path)} in its weightsManifest, ${why}; weight files must be relative paths inside the model.json's folder.`,
    );
  };
  if (typeof path !== 'string' || path.length === 0) return refuse('which is not a file name');
  if (/[\u0000-\u001f]/.test(path)) return refuse('which has control characters');
  if (/^[\\/]/.test(path)) return refuse('which is absolute');
  if (/^[a-z][a-z0-9+.-]*:/i.test(path)) return refuse('which is absolute (a drive or a URL)');
  if (path.split(/[\\/]/).some((segment) => segment.replace(/%2e/gi, '.') === '..')) return refuse('which climbs out of the model\'s folder (..)');
  return path;
}
