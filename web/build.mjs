// Builds the browser pages into ../internal/web/dist, which the server
// embeds (internal/web). Deterministic: the same sources and lockfile give
// the same bytes, which CI checks (.ci/run web). Each page is one entry
// point.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';

const outdir = '../internal/web/dist';
rmSync(outdir, { recursive: true, force: true });

const common = {
  bundle: true,
  minify: true,
  outdir,
  target: 'es2022',
  legalComments: 'none',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
  loader: { '.ttf': 'file' },
  assetNames: '[name]-[hash]',
  // GraphiQL's prettify uses src/prettier.js rather than prettier.
  alias: Object.fromEntries(
    ['prettier/standalone', 'prettier/plugins/graphql', 'prettier/parser-graphql', 'prettier/plugins/estree', 'prettier/parser-babel']
      .map((p) => [p, './src/prettier.js']),
  ),
};

await Promise.all([
  // Pages.
  build({ ...common, entryPoints: { graphiql: 'src/graphiql.jsx' }, format: 'iife', jsx: 'automatic' }),
  // The console: Preact, no Monaco (its script stays under 200 KB gzipped;
  // internal/web tests the bound).
  build({
    ...common,
    entryPoints: { console: 'src/console.jsx' },
    format: 'iife',
    jsx: 'automatic',
    jsxImportSource: 'preact',
  }),
  // The editor's web workers (MonacoEnvironment in src/graphiql.jsx).
  build({
    ...common,
    entryPoints: {
      'editor.worker': 'monaco-editor/esm/vs/editor/editor.worker.js',
      'json.worker': 'monaco-editor/esm/vs/language/json/json.worker.js',
      'graphql.worker': 'monaco-graphql/esm/graphql.worker.js',
    },
    format: 'iife',
  }),
]);
