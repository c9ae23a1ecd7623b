// Builds what the api serves as static files into dist/public: the typed client's browser bundle
// (/client.js, global `WsAuthClient`), the demo page (/, /demo.js, /demo.css) and the /docs page
// with its renderers copied from their npm packages (swagger-ui-dist, @asyncapi/react-component),
// so nothing is fetched from a CDN. Run by `npm run build` and by the test setup; takes about a second.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "public");
const require = createRequire(import.meta.url);
mkdirSync(join(out, "docs", "vendor"), { recursive: true });

const common = { bundle: true, platform: "browser", target: ["es2020"], minify: true, sourcemap: true, logLevel: "warning", legalComments: "linked" };
await Promise.all([
  build({ ...common, entryPoints: [join(root, "client", "index.ts")], outfile: join(out, "client.js"), format: "iife", globalName: "WsAuthClient" }),
  build({ ...common, entryPoints: [join(root, "client", "pages", "demo", "demo.ts")], outfile: join(out, "demo.js"), format: "iife" }),
]);
for (const file of readdirSync(join(root, "client", "pages", "demo"))) {
  if (/\.(html|css|svg)$/.test(file)) copyFileSync(join(root, "client", "pages", "demo", file), join(out, file));
}
for (const file of readdirSync(join(root, "client", "pages", "api-docs"))) copyFileSync(join(root, "client", "pages", "api-docs", file), join(out, "docs", file));

const vendor = [
  [require.resolve("swagger-ui-dist/swagger-ui-bundle.js"), "swagger-ui-bundle.js"],
  [require.resolve("swagger-ui-dist/swagger-ui.css"), "swagger-ui.css"],
  [require.resolve("@asyncapi/react-component/browser/standalone/index.js"), "asyncapi-standalone.js"],
  [require.resolve("@asyncapi/react-component/styles/default.min.css"), "asyncapi.css"],
];
for (const [from, to] of vendor) copyFileSync(from, join(out, "docs", "vendor", to));
