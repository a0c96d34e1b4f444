// jest 29 gives ESM modules import.meta.url but not import.meta.dirname, which node-opcua's
// packages read at load: rewrite it from import.meta.url (tests only).
const DIRNAME = "decodeURIComponent(new URL('.', import.meta.url).pathname).replace(/\\/$/, '')";
module.exports = {
  process(source) {
    return { code: source.replace(/import\.meta\.dirname/g, `(${DIRNAME})`) };
  },
};
