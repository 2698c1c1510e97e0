// Writes ../dist.sha256: a hash of everything the build reads from app/
// (sources, index.html, vite.config.js, package-lock.json). console's Go
// test recomputes it, so a change to app/ without a rebuild of dist/ fails
// `go test` instead of shipping a stale console.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('.', import.meta.url).pathname;

export function sourceFiles() {
  const files = ['index.html', 'package-lock.json', 'vite.config.js'];
  const walk = (dir) => {
    for (const name of readdirSync(join(root, dir))) {
      const rel = `${dir}/${name}`;
      if (statSync(join(root, rel)).isDirectory()) {
        walk(rel);
      } else {
        files.push(rel);
      }
    }
  };
  walk('src');
  return files.sort();
}

const hash = createHash('sha256');
for (const f of sourceFiles()) {
  hash.update(`${f}\0`);
  hash.update(readFileSync(join(root, f)));
  hash.update('\0');
}
writeFileSync(join(root, '..', 'dist.sha256'), `${hash.digest('hex')}\n`);
console.log(`wrote ${relative(process.cwd(), join(root, '..', 'dist.sha256'))}`);
