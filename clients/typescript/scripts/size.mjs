// The client's size as an app ships it: bundled and minified by esbuild, then gzipped.
import { gzipSync } from "node:zlib";

import { build } from "esbuild";

const result = await build({
  entryPoints: ["dist/index.js"],
  bundle: true,
  minify: true,
  format: "esm",
  platform: "browser",
  write: false,
});
const code = result.outputFiles[0].contents;
console.log(`minified ${code.length} bytes, minified + gzip ${gzipSync(code, { level: 9 }).length} bytes`);
