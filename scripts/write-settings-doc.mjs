// `npm run docs:settings`: writes the settings table of src/settings.ts (built into dist/) into
// docs/configuration.md between its markers. test/settings-doc.test.ts fails when it is stale.
import { readFileSync, writeFileSync } from "node:fs";
import { settingsMarkdownTable } from "../dist/src/settings.js";

const path = new URL("../docs/configuration.md", import.meta.url);
const doc = readFileSync(path, "utf8");
const updated = doc.replace(/(<!-- settings:begin -->\n)[\s\S]*?(\n<!-- settings:end -->)/, `$1${settingsMarkdownTable()}$2`);
if (updated === doc && !doc.includes(settingsMarkdownTable())) throw new Error("docs/configuration.md has no settings markers");
writeFileSync(path, updated);
