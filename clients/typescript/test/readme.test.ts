// The README's snippet, exactly: the package packed and installed with npm into an empty
// project, the snippet run there with plain `node` against the real local server.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";

import { startServer } from "./harness.js";

const PACKAGE = resolve(import.meta.dirname, "../..");
const README = resolve(PACKAGE, "../../README.md");

/** The code block after the README's `<!-- client-snippet -->` marker. */
function snippet(): string {
  const text = readFileSync(README, "utf8");
  const found = /<!-- client-snippet -->\s*```js\n([\s\S]*?)```/.exec(text);
  assert.ok(found, "the README has the client snippet");
  return found[1]!;
}

test("npm install and the README's snippet talk to a local server", async (t) => {
  const code = snippet();
  assert.ok(code.trim().split("\n").length < 20, "under 20 lines");
  const server = await startServer();
  const app = mkdtempSync(join(tmpdir(), "messaging-app-"));
  t.after(async () => {
    await server.stop();
    rmSync(app, { recursive: true, force: true });
  });
  const npm = (args: string[], cwd: string) => execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const tarball = npm(["pack", "--silent", "--pack-destination", app], PACKAGE).trim().split("\n").at(-1)!;
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  npm(["install", "--no-audit", "--no-fund", "--offline", join(app, tarball)], app);
  writeFileSync(join(app, "main.js"), code.replace("http://127.0.0.1:8080", server.url));
  // Plain `node`: on Node 20 without a WebSocket the feed polls, which is what this shows.
  const run = spawn("node", ["main.js"], { cwd: app, stdio: ["ignore", "pipe", "inherit"] });
  t.after(() => run.kill());
  let output = "";
  await new Promise<void>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`the snippet printed only: ${output}`)), 30_000);
    run.stdout.on("data", (chunk) => {
      output += chunk;
      if (output.includes("hi bob") && output.includes("unread 1")) {
        clearTimeout(timer);
        done();
      }
    });
    run.once("exit", (code) => code && fail(new Error(`the snippet exited with ${code}: ${output}`)));
  });
});
