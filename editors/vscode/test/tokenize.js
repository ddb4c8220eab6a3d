// Tokenizes files with the extension's TextMate grammars through vscode-textmate and oniguruma,
// the engine VS Code itself runs, for the grammar snapshot tests (tests/test_editors.py).
// Usage: node test/tokenize.js SCOPE FILE...   (SCOPE: source.agent, or text.html.markdown for
// Markdown, where a stub Markdown grammar hosts the injection of `agent` code blocks)
// Prints one JSON object: {FILE: [[LINE_TEXT, [[TOKEN_TEXT, [SCOPE...]]...]]...]}.
"use strict";

const fs = require("fs");
const path = require("path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const root = path.join(__dirname, "..");
const grammars = {
  "source.agent": path.join(root, "syntaxes", "agent.tmLanguage.json"),
  "markdown.agent.codeblock": path.join(root, "syntaxes", "agent.markdown.tmLanguage.json"),
};
// Stands in for VS Code's Markdown grammar: a host scope and nothing else, so that what is
// highlighted in a Markdown file comes from the injection alone.
const MARKDOWN_STUB = JSON.stringify({ scopeName: "text.html.markdown", patterns: [] });

async function main() {
  const [scope, ...files] = process.argv.slice(2);
  const wasm = fs.readFileSync(path.join(require.resolve("vscode-oniguruma"), "..", "onig.wasm")).buffer;
  await oniguruma.loadWASM(wasm);
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }),
    loadGrammar: async (name) => {
      if (name === "text.html.markdown") {
        return vsctm.parseRawGrammar(MARKDOWN_STUB, "markdown.json");
      }
      const file = grammars[name];
      return file ? vsctm.parseRawGrammar(fs.readFileSync(file, "utf8"), file) : null;
    },
    getInjections: (name) => (name === "text.html.markdown" ? ["markdown.agent.codeblock"] : undefined),
  });
  const grammar = await registry.loadGrammar(scope);
  if (!grammar) {
    throw new Error(`no grammar for ${scope}`);
  }
  const out = {};
  for (const file of files) {
    let stack = vsctm.INITIAL;
    out[file] = fs.readFileSync(file, "utf8").split(/\r?\n/).map((line) => {
      const result = grammar.tokenizeLine(line, stack);
      stack = result.ruleStack;
      return [line, result.tokens.map((t) => [line.slice(t.startIndex, t.endIndex), t.scopes])];
    });
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
