#!/usr/bin/env node
// Reference verifier: Node.js example of the Carerix webhook documentation
// (seed 004_7c77e87f17852483.txt, "Webhook verification" > "Node.js example").
//
// The `require` line and the verifySignature function between the BEGIN/END
// markers are copied byte for byte from the seed and must stay UNMODIFIED;
// selftest.sh checks that. Only the wrapper below is ours.
//
// Usage: node verify.js SECRET_PEM_FILE SIGNATURE_FILE BODY_FILE
//   SECRET_PEM_FILE  the application secret as returned by the API (PEM, real newlines)
//   SIGNATURE_FILE   the Cx-Signature header value (trailing CR/LF/space/tab stripped)
//   BODY_FILE        the raw request body, read as a UTF-8 string (the seed passes
//                    a string `data` to verifier.update, which encodes it as UTF-8)
// Prints true/false; exit 0 = verified, 1 = not verified, 2 = exception.
'use strict';

// ---- BEGIN verbatim from seed 004 ----
// Importing Required Modules
const crypto = require('crypto');
function verifySignature(data, signature, applicationSecret) {
const publicKey = crypto.createPublicKey(applicationSecret);
const algorithm = "SHA256";
const verifier = crypto.createVerify(algorithm);
verifier.update(data)
const signatureBuffer = Buffer.from(signature, 'base64');
return verifier.verify(publicKey, signatureBuffer);
}
// ---- END verbatim from seed 004 ----

const fs = require('fs');

function main(argv) {
    if (argv.length !== 3) {
        console.error('usage: node verify.js SECRET_PEM_FILE SIGNATURE_FILE BODY_FILE');
        return 2;
    }
    let isVerified;
    try {
        const applicationSecret = fs.readFileSync(argv[0], 'utf8');
        const signature = fs.readFileSync(argv[1], 'utf8').replace(/^[ \t]+|[ \t\r\n]+$/g, '');
        const data = fs.readFileSync(argv[2], 'utf8');
        isVerified = verifySignature(data, signature, applicationSecret);
    } catch (e) {
        console.log('error');
        console.error(`verify.js: ${e && e.stack ? e.stack : e}`);
        return 2;
    }
    console.log(`${isVerified}`);
    return isVerified === true ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
