// The VS Code side of specc: starts `specc lsp` over stdio for `.agent` files (and for `agent` code
// blocks in Markdown, which the injection grammar highlights) and hands it the editor's requests.
// Everything the language knows lives in the server; this file only finds and starts it.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function serverCommand() {
  const configured = vscode.workspace.getConfiguration("specc").get("command") || "specc";
  const folder = vscode.workspace.workspaceFolders && vscode.workspace.workspaceFolders[0];
  // A relative path such as `.venv/bin/specc` is relative to the first workspace folder.
  if (folder && configured.includes("/") && !configured.startsWith("/")) {
    return vscode.Uri.joinPath(folder.uri, configured).fsPath;
  }
  return configured;
}

async function activate(context) {
  const command = serverCommand();
  const server = { command, args: ["lsp"], transport: TransportKind.stdio };
  client = new LanguageClient(
    "specc",
    "specc",
    { run: server, debug: server },
    {
      documentSelector: [
        { scheme: "file", language: "agent" },
        { scheme: "untitled", language: "agent" },
      ],
    },
  );
  try {
    await client.start();
  } catch (error) {
    vscode.window.showErrorMessage(
      `specc: could not start \`${command} lsp\` (${error.message || error}). ` +
        "Install specc (`pip install specc`) or set `specc.command` to its path.",
    );
  }
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration("specc.command") && client) {
        await client.stop();
        await activate(context);
      }
    }),
  );
}

async function deactivate() {
  if (client) {
    await client.stop();
  }
}

module.exports = { activate, deactivate };
