import java.io.File;
import java.io.FileInputStream;
import java.io.InputStream;
import java.security.Key;
import java.security.PublicKey;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import javax.xml.XMLConstants;
import javax.xml.crypto.AlgorithmMethod;
import javax.xml.crypto.KeySelector;
import javax.xml.crypto.KeySelectorException;
import javax.xml.crypto.KeySelectorResult;
import javax.xml.crypto.XMLCryptoContext;
import javax.xml.crypto.dsig.Reference;
import javax.xml.crypto.dsig.SignatureMethod;
import javax.xml.crypto.dsig.XMLSignature;
import javax.xml.crypto.dsig.XMLSignatureFactory;
import javax.xml.crypto.dsig.dom.DOMValidateContext;
import javax.xml.crypto.dsig.keyinfo.KeyInfo;
import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.Attr;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * Checks the XML signature of a WS-Security SOAP message with the JDK's own XML Digital
 * Signature implementation (javax.xml.crypto.dsig), as an independent peer for the tests in
 * tests/test_peers.py. Usage: {@code java VerifySoapSignature SIGNED.xml CERT.pem}.
 *
 * <p>Every {@code wsu:Id} attribute is registered as an XML ID so that {@code URI="#..."}
 * references resolve. The document must hold exactly one {@code ds:Signature}; it is checked
 * with the public key of CERT.pem only (whatever the message's KeyInfo says). Prints {@code
 * VALID} and exits 0, or prints {@code INVALID reason} and exits 1. Exits 2 on a usage error or
 * a file that cannot be read or parsed. DTDs are refused and nothing is fetched.
 */
public final class VerifySoapSignature {
    static final String WSU =
            "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";

    private VerifySoapSignature() {}

    public static void main(String[] args) {
        if (args.length != 2) {
            System.err.println("usage: java VerifySoapSignature SIGNED.xml CERT.pem");
            System.exit(2);
            return;
        }
        Document document;
        PublicKey key;
        try {
            document = parse(new File(args[0]));
            key = readCertificate(new File(args[1])).getPublicKey();
        } catch (Exception e) {
            System.err.println("error: " + describe(e));
            System.exit(2);
            return;
        }
        String reason;
        try {
            reason = check(document, key);
        } catch (Exception e) {
            reason = describe(e);
        }
        if (reason == null) {
            System.out.println("VALID");
            System.exit(0);
        }
        System.out.println("INVALID " + reason);
        System.exit(1);
    }

    static Document parse(File file) throws Exception {
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setNamespaceAware(true);
        factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
        factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        factory.setFeature("http://xml.org/sax/features/external-general-entities", false);
        factory.setFeature("http://xml.org/sax/features/external-parameter-entities", false);
        factory.setAttribute(XMLConstants.ACCESS_EXTERNAL_DTD, "");
        factory.setAttribute(XMLConstants.ACCESS_EXTERNAL_SCHEMA, "");
        factory.setXIncludeAware(false);
        factory.setExpandEntityReferences(false);
        DocumentBuilder builder = factory.newDocumentBuilder();
        builder.setErrorHandler(null);
        return builder.parse(file);
    }

    static X509Certificate readCertificate(File file) throws Exception {
        try (InputStream in = new FileInputStream(file)) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
    }

    /** Returns null when the signature is valid, else the reason it is not. */
    static String check(Document document, PublicKey key) throws Exception {
        String duplicate = registerIds(document);
        if (duplicate != null) {
            return "duplicate wsu:Id " + duplicate;
        }
        NodeList signatures = document.getElementsByTagNameNS(XMLSignature.XMLNS, "Signature");
        if (signatures.getLength() != 1) {
            return "expected exactly one ds:Signature, found " + signatures.getLength();
        }
        DOMValidateContext context =
                new DOMValidateContext(new GivenKey(key), signatures.item(0));
        context.setProperty("org.jcp.xml.dsig.secureValidation", Boolean.TRUE);
        XMLSignatureFactory factory = XMLSignatureFactory.getInstance("DOM");
        XMLSignature signature = factory.unmarshalXMLSignature(context);
        boolean coreValid = signature.validate(context);

        List<String> problems = new ArrayList<>();
        if (!signature.getSignatureValue().validate(context)) {
            problems.add("SignatureValue does not verify");
        }
        List<?> references = signature.getSignedInfo().getReferences();
        if (references.isEmpty()) {
            problems.add("SignedInfo has no Reference");
        }
        for (Object item : references) {
            Reference reference = (Reference) item;
            if (!reference.validate(context)) {
                problems.add("digest mismatch for Reference URI=\"" + reference.getURI() + "\"");
            }
        }
        if (!coreValid && problems.isEmpty()) {
            problems.add("core validation failed");
        }
        return problems.isEmpty() ? null : String.join("; ", problems);
    }

    /** Marks every wsu:Id attribute as an ID; returns a value used twice, or null. */
    static String registerIds(Document document) {
        Set<String> seen = new HashSet<>();
        NodeList elements = document.getElementsByTagNameNS("*", "*");
        for (int i = 0; i < elements.getLength(); i++) {
            Element element = (Element) elements.item(i);
            Attr id = element.getAttributeNodeNS(WSU, "Id");
            if (id != null) {
                if (!seen.add(id.getValue())) {
                    return id.getValue();
                }
                element.setIdAttributeNS(WSU, "Id", true);
            }
        }
        return null;
    }

    /** Hands out the certificate's key for any KeyInfo, if the key fits the algorithm. */
    static final class GivenKey extends KeySelector {
        private final PublicKey key;

        GivenKey(PublicKey key) {
            this.key = key;
        }

        @Override
        public KeySelectorResult select(
                KeyInfo keyInfo, Purpose purpose, AlgorithmMethod method, XMLCryptoContext context)
                throws KeySelectorException {
            String algorithm = method.getAlgorithm().toLowerCase(Locale.ROOT);
            String keyType = key.getAlgorithm();
            boolean fits =
                    (keyType.equals("RSA") && algorithm.contains("#rsa-"))
                            || (keyType.equals("EC") && algorithm.contains("#ecdsa-"));
            if (!(method instanceof SignatureMethod) || !fits) {
                throw new KeySelectorException(
                        "certificate key " + keyType + " does not fit " + method.getAlgorithm());
            }
            return () -> (Key) key;
        }
    }

    /** The exception and its causes on one line. */
    static String describe(Throwable error) {
        StringBuilder text = new StringBuilder(String.valueOf(error));
        for (Throwable cause = error.getCause(); cause != null; cause = cause.getCause()) {
            text.append(" (caused by ").append(cause).append(')');
        }
        return oneLine(text.toString());
    }

    static String oneLine(String message) {
        return String.valueOf(message).replaceAll("\\s+", " ").trim();
    }
}
