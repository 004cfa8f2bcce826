'use strict';
// Web Crypto is built into Node 20 and browsers; see package.json for why this stub exists.
module.exports = { default: globalThis.crypto };
