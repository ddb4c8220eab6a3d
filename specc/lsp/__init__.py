"""`specc lsp`: the language server for `.agent` files (diagnostics, hover, definitions, references,
completion, quick fixes, formatting). Compiler-side only: it never imports the runtime, Docker or a
network client. `specc.lsp.server` needs pygls (the `lsp` extra); the other modules do not."""
