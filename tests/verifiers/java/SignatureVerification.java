// Reference verifier: Java example of the Carerix webhook documentation
// (seed 004_7c77e87f17852483.txt, "Webhook verification" > "Java example").
//
// The verifySignature method between the BEGIN/END markers is copied byte for
// byte from the seed (including its lack of indentation) and must stay
// UNMODIFIED; selftest.sh checks that. Only the imports and main() are ours.
//
// Usage: java SignatureVerification SECRET_JSON_FILE SIGNATURE_FILE BODY_FILE
//   SECRET_JSON_FILE  the application secret exactly as it appears inside the
//                     JSON string literal of the API answer (newlines written as
//                     the two characters backslash-n), read as UTF-8, unchanged
//   SIGNATURE_FILE    the Cx-Signature header value (trailing CR/LF/space/tab
//                     is stripped, as an HTTP stack strips it from a header)
//   BODY_FILE         the raw request body; decoded strictly as UTF-8 into a
//                     String, as the seed's `payload` is a String
// Prints true/false; exit 0 = verified, 1 = not verified, 2 = exception.

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.InvalidKeyException;
import java.security.KeyFactory;
import java.security.NoSuchAlgorithmException;
import java.security.Signature;
import java.security.SignatureException;
import java.security.spec.InvalidKeySpecException;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;

public class SignatureVerification {
    public static void main(String[] args) {
        if (args.length != 3) {
            System.err.println("usage: java SignatureVerification SECRET_JSON_FILE SIGNATURE_FILE BODY_FILE");
            System.exit(2);
        }
        boolean verified;
        try {
            // Files.readString decodes strictly: invalid UTF-8 is an exception (exit 2).
            var applicationSecret = Files.readString(Path.of(args[0]), StandardCharsets.UTF_8);
            var signature = stripHeaderWhitespace(Files.readString(Path.of(args[1]), StandardCharsets.UTF_8));
            var payload = Files.readString(Path.of(args[2]), StandardCharsets.UTF_8);
            verified = verifySignature(applicationSecret, signature, payload);
        } catch (Throwable e) {
            System.out.println("error");
            System.err.println("SignatureVerification: " + e);
            System.exit(2);
            return;
        }
        System.out.println(verified);
        System.exit(verified ? 0 : 1);
    }

    private static String stripHeaderWhitespace(String s) {
        int end = s.length();
        while (end > 0) {
            char c = s.charAt(end - 1);
            if (c != '\r' && c != '\n' && c != ' ' && c != '\t') {
                break;
            }
            end--;
        }
        int start = 0;
        while (start < end && (s.charAt(start) == ' ' || s.charAt(start) == '\t')) {
            start++;
        }
        return s.substring(start, end);
    }

// ---- BEGIN verbatim from seed 004 ----
private static boolean verifySignature(String applicationSecret, String signature, String payload) throws NoSuchAlgorithmException, InvalidKeySpecException, InvalidKeyException, SignatureException {
var publicKeyAsString = applicationSecret
.replace("-----BEGIN PUBLIC KEY-----", "")
.replace("\\n", "")
.replace("-----END PUBLIC KEY-----", "");
var payloadBytes = payload.getBytes(StandardCharsets.UTF_8);
var signatureBytes = Base64.getDecoder().decode(signature);
var publicKeyBytes = Base64.getDecoder().decode(publicKeyAsString);
var spec = new X509EncodedKeySpec(publicKeyBytes);
var keyFactory = KeyFactory.getInstance("RSA");
var publicKey = keyFactory.generatePublic(spec);
var signatureWithPublicKey = Signature.getInstance("SHA256withRSA");
signatureWithPublicKey.initVerify(publicKey);
signatureWithPublicKey.update(payloadBytes);
return signatureWithPublicKey.verify(signatureBytes);
}
// ---- END verbatim from seed 004 ----
}
