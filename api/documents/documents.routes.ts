import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join, relative, sep } from "node:path";
import express, { type Response, Router } from "express";
import { AppError } from "../../shared/contract/errors";
import { asyncApiDocument } from "./asyncapi";
import { openApiDocument } from "./openapi";

/** The project's root: the nearest folder above this module with a package.json (source or dist/). */
function projectRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

const ROOT = projectRoot();
const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;

/** Where `npm run build` (client/build.mjs) puts the demo page, the client bundle and the docs page. */
export const PUBLIC_DIR = join(ROOT, "dist", "public");

// Pages may load only their own scripts and styles and talk only to their own origin. The /docs
// page also allows eval: AsyncAPI's parser compiles JSON Schemas (ajv) in the browser; it holds
// no tokens and takes no input.
const csp = (script: string) =>
  `default-src 'self'; script-src ${script}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self' ws: wss:; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'`;
const CSP = csp("'self'");
const DOCS_CSP = csp("'self' 'unsafe-eval'");

/**
 * `/openapi.json` and `/asyncapi.json` (generated once, from the schemas the servers validate
 * with), `/docs` (renders both), and `/` with the demo page and `/client.js` (the typed client's
 * browser bundle), from dist/public.
 */
export function docsRoutes(publicDir = PUBLIC_DIR): Router {
  const router = Router();
  const openapi = JSON.stringify(openApiDocument(VERSION));
  const asyncapi = JSON.stringify(asyncApiDocument(VERSION));
  router.get("/openapi.json", (_req, res) => {
    res.type("application/json").send(openapi);
  });
  router.get("/asyncapi.json", (_req, res) => {
    res.type("application/json").send(asyncapi);
  });
  const built = existsSync(join(publicDir, "index.html"));
  const docsDir = join(publicDir, "docs");
  // The policy follows the file actually sent, not the URL: the static handler decodes and
  // normalises the path, so `/docs%2f..%2findex.html` is the demo page, which holds tokens and
  // must not run under the docs page's 'unsafe-eval'.
  const inDocs = (file: string) => {
    const rel = relative(docsDir, file);
    return rel !== "" && !isAbsolute(rel) && rel.split(sep)[0] !== "..";
  };
  const setHeaders = (res: Response, file: string) => res.setHeader("Content-Security-Policy", inDocs(file) ? DOCS_CSP : CSP);
  router.use((req, res, next) => {
    if (req.method !== "GET" && req.method !== "HEAD") return next();
    if (!built && (req.path === "/" || req.path.startsWith("/docs"))) {
      return next(new AppError("not_found", 404, "The web files are not built: run npm run build"));
    }
    res.setHeader("Content-Security-Policy", CSP);
    next();
  });
  router.get(["/docs", "/docs/"], (_req, res) => {
    const page = join(docsDir, "index.html");
    setHeaders(res, page);
    res.sendFile(page);
  });
  router.use("/docs/vendor", express.static(join(docsDir, "vendor"), { maxAge: "1h", index: false, setHeaders }));
  // Browsers and tools that ask for /favicon.ico without reading the pages' icon link get the same icon.
  router.get("/favicon.ico", (_req, res, next) => {
    const icon = join(publicDir, "favicon.svg");
    if (!existsSync(icon)) return next();
    res.type("image/svg+xml").setHeader("Cache-Control", "public, max-age=86400");
    res.sendFile(icon);
  });
  router.use(express.static(publicDir, { index: "index.html", redirect: false, setHeaders }));
  return router;
}
