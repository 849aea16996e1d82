/**
 * gen/ is committed and must be exactly what `npm run gen` writes from proto/: regenerate into a
 * scratch copy and compare every generated directory byte for byte (a stale, missing or extra
 * file fails). The hand-written files beside them (gen/go/go.mod, gen/python/pyproject.toml and
 * src/) are not generated and not compared.
 */
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "node_modules", ".bin");

/** buf templates and the plugin outputs they own (each `out`, deleted and rewritten by `clean`). */
const TS = { template: "buf.gen.yaml", outputs: ["gen/ts"] };
const CLIENTS = { template: "buf.gen.clients.yaml", outputs: ["gen/go/chatmemory", "gen/python/generated"] };

/** The Go and Python plugins live in .tools/ (scripts/install-client-tools.sh); CI always installs them. */
const clientTools = [".tools/bin/protoc-gen-go", ".tools/bin/protoc-gen-go-grpc", ".tools/venv/bin/protoc-gen-mypy_grpc"];
const haveClientTools = clientTools.every((tool) => existsSync(join(root, tool)));
if (!haveClientTools && process.env.CI) throw new Error(`missing ${clientTools.join(", ")}: run npm run tools`);

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "chatmemory-gen-"));
  for (const item of ["proto", "buf.yaml", TS.template, CLIENTS.template, "scripts/protoc-gen-grpc-python.py"]) {
    cpSync(join(root, item), join(scratch, item), { recursive: true });
  }
  symlinkSync(join(root, "node_modules"), join(scratch, "node_modules"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

function generateAndCompare({ template, outputs }: { template: string; outputs: string[] }, extraPath: string[]): void {
  execFileSync(join(bin, "buf"), ["generate", "--template", template], {
    cwd: scratch,
    env: { ...process.env, PATH: [bin, ...extraPath, process.env.PATH ?? ""].join(delimiter) },
    stdio: "pipe",
  });
  for (const output of outputs) {
    const committed = join(root, output);
    const fresh = join(scratch, output);
    expect(listFiles(fresh).length, `${template} wrote nothing to ${output}`).toBeGreaterThan(0);
    expect(listFiles(committed), `${output}: files differ from a fresh generation (run npm run gen)`).toEqual(listFiles(fresh));
    for (const file of listFiles(fresh)) {
      expect(readFileSync(join(committed, file), "utf8"), `${output}/${file} is stale: run npm run gen`).toBe(
        readFileSync(join(fresh, file), "utf8"),
      );
    }
  }
}

it("gen/ts matches a fresh `buf generate` from proto/", () => {
  generateAndCompare(TS, []);
});

it.skipIf(!haveClientTools)("gen/go and gen/python match a fresh generation with the pinned Go and Python plugins", () => {
  generateAndCompare(CLIENTS, [join(root, ".tools", "bin"), join(root, ".tools", "venv", "bin")]);
});
