import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The README stays a newcomer's page (conventions, "Comments and docs"): short, no commit hashes,
 * a benchmark table that only quotes the generated one, and links that lead somewhere in the repo.
 * Reads files only.
 */
const root = resolve(__dirname, "../../..");
const read = (path: string) => readFileSync(join(root, path), "utf8");
const markdownFiles = ["README.md", ...readdirSync(join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];

const BENCH_HEADER = ["figure", "ours", "baseline", "ratio", "target", "met?"];

/** Fenced code blocks out, so that what a snippet shows is not read as prose or a link. */
const withoutFences = (text: string) => text.replace(/^```[^\n]*\n[\s\S]*?^```[^\n]*$/gm, "");

/** A table row's cells; an escaped pipe (`\|`) stays inside its cell. */
function cells(line: string): string[] {
  return line
    .trim()
    .replace(/^\||\|$/g, "")
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

/** The body rows of every Markdown table whose header is `header`. */
function tableRows(text: string, header: string[]): string[][] {
  const lines = text.split("\n");
  const rows: string[][] = [];
  for (let i = 0; i < lines.length - 1; i += 1) {
    if (!lines[i]!.trim().startsWith("|") || cells(lines[i]!).join("|") !== header.join("|")) continue;
    for (let j = i + 2; j < lines.length && lines[j]!.trim().startsWith("|"); j += 1) rows.push(cells(lines[j]!));
  }
  return rows;
}

/**
 * Words that look like a git commit id: 7 to 40 hex characters with at least one digit and one
 * letter (so `1048576` and `decade` are not), once URLs and UUIDs, where hex is expected, are out.
 */
function commitHashes(text: string): string[] {
  const prose = text.replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, "").replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, "");
  return prose.match(/\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b/gi) ?? [];
}

/** Every link target of a Markdown file: inline links and images, and reference definitions. */
function linkTargets(text: string): string[] {
  const prose = withoutFences(text).replace(/`[^`\n]*`/g, "");
  const inline = [...prose.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!);
  const references = [...prose.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map((m) => m[1]!);
  return [...inline, ...references];
}

const isExternal = (target: string) => /^(https?|mailto):/i.test(target);
const insideRepo = (path: string) => {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
};

describe("the README", () => {
  const readme = read("README.md");

  it("has fewer than 300 lines", () => {
    expect(readme.split("\n").length).toBeLessThan(300);
  });

  it("names no commit", () => {
    expect(commitHashes(readme)).toEqual([]);
  });

  it("gives the two commands and the commands table", () => {
    expect(readme).toContain("npm ci && npm start");
    expect(readme).toContain("npm ci && npm test");
    const commands = tableRows(readme, ["command", "what it does"]).map((r) => r[0]).join(" ");
    for (const command of ["npm start", "npm test", "npm run migrate", "npm run cluster", "npm run cluster:stop", "npm run bench", "docker compose"]) {
      expect(commands, command).toContain(command);
    }
  });

  it("quotes its benchmark rows from bench/results/latest.md, figures unchanged", () => {
    const ours = tableRows(readme, BENCH_HEADER);
    const generated = tableRows(read("bench/results/latest.md"), BENCH_HEADER);
    expect(generated.length).toBeGreaterThan(0);
    // A headline table: about ten rows.
    expect(ours.length).toBeGreaterThanOrEqual(5);
    expect(ours.length).toBeLessThanOrEqual(15);
    // The README may leave out a row's trailing notes in parentheses, nothing else.
    const quotes = (row: string[], g: string[]) => (g[0] === row[0] || g[0]!.startsWith(`${row[0]} (`)) && g.slice(1).join("|") === row.slice(1).join("|");
    const notQuoted = ours.filter((row) => !generated.some((g) => quotes(row, g))).map((row) => `| ${row.join(" | ")} |`);
    expect(notQuoted, "README rows not in bench/results/latest.md with the same figures").toEqual([]);
  });
});

describe("the README and docs/*.md", () => {
  it.each(markdownFiles)("%s: every relative link points at a file in the repo", (file) => {
    const broken: string[] = [];
    for (const target of linkTargets(read(file))) {
      if (isExternal(target) || target.startsWith("#")) continue;
      const path = decodeURIComponent(target.replace(/[#?].*$/, ""));
      const resolved = resolve(root, dirname(file), path);
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || path.startsWith("/") || !insideRepo(resolved)) broken.push(`${target} (outside the repo)`);
      else if (!existsSync(resolved)) broken.push(`${target} (no such file)`);
    }
    expect(broken).toEqual([]);
  });

  it.each(markdownFiles)("%s: names no path outside the repo", (file) => {
    const text = read(file);
    // Relative paths anywhere (links, code, prose) that climb out of the repository.
    const climbing = [...text.matchAll(/(?:^|[\s(`"'[])((?:\.\.\/)+[\w.@/-]*)/gm)].map((m) => m[1]!).filter((p) => !insideRepo(resolve(root, dirname(file), p)));
    // Absolute paths into a home, a scratch folder or another checkout.
    const absolute = text.match(/(?<![\w.:/])\/(?:home|Users|root|tmp|work)\/[\w.@/-]+/g) ?? [];
    expect([...climbing, ...absolute]).toEqual([]);
  });
});

describe("docs/configuration.md", () => {
  it("documents every variable the config loader reads", () => {
    const source = read("shared/config.ts");
    const schema = /const schema = z\.object\(\{\n([\s\S]*?)\n\}\);/.exec(source)?.[1];
    expect(schema, "the zod schema in shared/config.ts").toBeDefined();
    const variables = [...schema!.matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!);
    expect(variables.length).toBeGreaterThan(30);
    const page = read("docs/configuration.md");
    expect(variables.filter((v) => !page.includes(`\`${v}\``))).toEqual([]);
  });

  it("holds every variable of the README's table", () => {
    const page = read("docs/configuration.md");
    const named = tableRows(read("README.md"), ["variable", "default", "meaning"]).flatMap((r) => r[0]!.match(/`[A-Z][A-Z0-9_]*`/g) ?? []);
    expect(named.length).toBeGreaterThan(0);
    expect(named.filter((v) => !page.includes(v))).toEqual([]);
  });
});
