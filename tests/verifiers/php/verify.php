<?php
// Reference verifier: PHP example of the Carerix webhook documentation
// (seed 004_7c77e87f17852483.txt, "Webhook verification" > "PHP example").
//
// The verifySignature function between the BEGIN/END markers is copied byte for
// byte from the seed and must stay UNMODIFIED; selftest.sh checks that. Only
// the wrapper below is ours.
//
// Usage: php verify.php SECRET_PEM_FILE SIGNATURE_FILE BODY_FILE
//   SECRET_PEM_FILE  the application secret as returned by the API (PEM, real newlines)
//   SIGNATURE_FILE   the Cx-Signature header value (trailing CR/LF/space/tab stripped)
//   BODY_FILE        the raw request body (bytes, as php://input would give them)
// Prints the function's message; exit 0 = "Signature is valid.",
// 1 = "Signature is invalid.", 2 = anything else (error message, exception, warning).

// ---- BEGIN verbatim from seed 004 ----
function verifySignature($data, $signature, $applicationSecret)
{
$publicKey = openssl_pkey_get_public($applicationSecret);
$verificationResult = openssl_verify($data, base64_decode($signature), $publicKey, OPENSSL_ALGO_SHA256);
if ($verificationResult == 1) {
echo "Signature is valid.";
} elseif ($verificationResult == 0) {
echo "Signature is invalid.";
} else {
echo "Error during verification.";
}
}
// ---- END verbatim from seed 004 ----

function cx_verifier_main(array $argv): int
{
    if (count($argv) !== 4) {
        fwrite(STDERR, "usage: php verify.php SECRET_PEM_FILE SIGNATURE_FILE BODY_FILE\n");
        return 2;
    }
    $warnings = [];
    set_error_handler(function (int $errno, string $errstr) use (&$warnings): bool {
        $warnings[] = $errstr;
        return true;
    });
    ob_start();
    try {
        $applicationSecret = file_get_contents($argv[1]);
        $signature = file_get_contents($argv[2]);
        $data = file_get_contents($argv[3]);
        if ($applicationSecret === false || $signature === false || $data === false) {
            throw new RuntimeException('cannot read an input file');
        }
        $signature = rtrim(ltrim($signature, " \t"), " \t\r\n");
        verifySignature($data, $signature, $applicationSecret);
        $output = ob_get_clean();
    } catch (Throwable $e) {
        ob_end_clean();
        restore_error_handler();
        echo "error\n";
        fwrite(STDERR, "verify.php: " . get_class($e) . ": " . $e->getMessage() . "\n");
        return 2;
    }
    restore_error_handler();
    echo $output, "\n";
    foreach ($warnings as $w) {
        fwrite(STDERR, "verify.php: warning: $w\n");
    }
    if ($output === "Signature is valid.") {
        return 0;
    }
    if ($output === "Signature is invalid.") {
        return 1;
    }
    return 2;
}

exit(cx_verifier_main($argv));
