// @hey-api/openapi-ts settings for tests/clients/run.sh: the document and output folder come
// from the environment; imports end in `.js`, as Node's ES modules (tsconfig NodeNext) need.
export default {
  input: process.env.CX_OPENAPI,
  output: { path: process.env.CX_TS_OUT, importFileExtension: '.js' },
};
