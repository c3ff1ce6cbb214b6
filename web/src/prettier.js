// A small stand-in for the parts of prettier GraphiQL loads for its
// "prettify" button (prettier/standalone and its graphql and JSON
// plugins): graphql's own printer and jsonc-parser's formatter, both in the
// bundle already, instead of 700 KB of prettier. Wired in build.mjs.
import { parse, print } from 'graphql';
import { applyEdits, format as formatEdits } from 'jsonc-parser';

export const printers = {};
export const parsers = {};

export async function format(text, { parser }) {
  if (parser === 'graphql') {
    return print(parse(text, { noLocation: true }));
  }
  return applyEdits(text, formatEdits(text, undefined, { insertSpaces: true, tabSize: 2 }));
}

export default { format };
