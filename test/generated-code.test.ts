/**
 * gen/ is committed and must be exactly what `npm run gen` (buf generate)
 * writes from proto/: regenerate into a scratch copy and compare byte for byte.
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

it("gen/ matches a fresh `buf generate` from proto/", () => {
  const scratch = mkdtempSync(join(tmpdir(), "chatmemory-gen-"));
  try {
    for (const item of ["proto", "buf.yaml", "buf.gen.yaml"]) cpSync(join(root, item), join(scratch, item), { recursive: true });
    symlinkSync(join(root, "node_modules"), join(scratch, "node_modules"));
    const bin = join(root, "node_modules", ".bin");
    execFileSync(join(bin, "buf"), ["generate"], {
      cwd: scratch,
      env: { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH ?? ""}` },
      stdio: "pipe",
    });
    const committed = join(root, "gen");
    const fresh = join(scratch, "gen");
    expect(listFiles(fresh)).toEqual(listFiles(committed));
    for (const file of listFiles(fresh)) {
      expect(readFileSync(join(committed, file), "utf8"), `gen/${file} is stale: run npm run gen`).toBe(readFileSync(join(fresh, file), "utf8"));
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});
