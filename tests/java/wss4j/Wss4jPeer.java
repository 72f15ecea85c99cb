import java.io.FileInputStream;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import javax.xml.namespace.QName;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.dom.DOMSource;
import javax.xml.transform.stream.StreamResult;
import org.apache.ws.security.WSConstants;
import org.apache.ws.security.WSDataRef;
import org.apache.ws.security.WSEncryptionPart;
import org.apache.ws.security.WSSConfig;
import org.apache.ws.security.WSSecurityEngine;
import org.apache.ws.security.WSSecurityEngineResult;
import org.apache.ws.security.components.crypto.Merlin;
import org.apache.ws.security.message.WSSecHeader;
import org.apache.ws.security.message.WSSecSignature;
import org.apache.ws.security.message.WSSecTimestamp;
import org.apache.ws.security.message.token.X509Security;
import org.apache.ws.security.util.WSSecurityUtil;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

/**
 * A WS-Security peer built on Apache WSS4J 1.6 (with Santuario), using its own API and defaults.
 *
 * <pre>
 * sign KEYSTORE.p12 PASSWORD ALIAS IN.xml OUT.xml [--tamper OLD NEW] [--unsigned-wsa NAME]
 *      [--key-identifier issuer-serial|ski|thumbprint] [--sha512]
 * verify SERVER.pem IN.xml
 * </pre>
 *
 * <p>{@code sign} adds a mustUnderstand Security header with a Timestamp (TTL 300 s) and an
 * RSA-SHA256 signature (SHA-256 digests, exclusive C14N) over the Body, the Timestamp and every
 * WS-Addressing 1.0 header, its certificate in a BinarySecurityToken. {@code --unsigned-wsa}
 * leaves the WS-Addressing header NAME out of the signed parts; {@code --tamper} then replaces
 * the first text in the Body equal to OLD by NEW. {@code --key-identifier} names the token in
 * KeyInfo by WSS4J's X509IssuerSerial, X509SubjectKeyIdentifier or ThumbprintSHA1 reference
 * instead of a direct one, the BinarySecurityToken still sent (as a policy with IncludeToken
 * AlwaysToRecipient has CXF do); {@code --sha512} signs RSA-SHA512 with SHA-512 digests.
 * {@code verify} processes the Security header
 * trusting only SERVER.pem and prints one line per check; the exit status is 0 when all pass.
 */
public final class Wss4jPeer {
    static final String WSA = "http://www.w3.org/2005/08/addressing";
    static final String RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
    static final String RSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
    static final String SHA512 = "http://www.w3.org/2001/04/xmlenc#sha512";
    static final List<String> WSA_HEADERS = List.of("Action", "To", "MessageID", "ReplyTo");

    public static void main(String[] args) throws Exception {
        WSSConfig.init();
        if (args.length >= 6 && args[0].equals("sign")) {
            sign(args);
        } else if (args.length == 3 && args[0].equals("verify")) {
            System.exit(verify(args[1], Path.of(args[2])) ? 0 : 1);
        } else {
            System.err.println("usage: sign KEYSTORE PASSWORD ALIAS IN OUT [options]"
                    + " | verify SERVER.pem IN");
            System.exit(2);
        }
    }

    static void sign(String[] args) throws Exception {
        KeyStore keyStore = KeyStore.getInstance("PKCS12");
        try (InputStream in = new FileInputStream(args[1])) {
            keyStore.load(in, args[2].toCharArray());
        }
        Merlin crypto = new Merlin();
        crypto.setKeyStore(keyStore);
        Document document = parse(Path.of(args[4]));
        String unsigned = null;
        String[] tamper = null;
        int keyIdentifier = WSConstants.BST_DIRECT_REFERENCE;
        boolean sha512 = false;
        for (int i = 6; i < args.length; i++) {
            if (args[i].equals("--unsigned-wsa") && i + 1 < args.length) {
                unsigned = args[++i];
            } else if (args[i].equals("--key-identifier") && i + 1 < args.length) {
                keyIdentifier = switch (args[++i]) {
                    case "issuer-serial" -> WSConstants.ISSUER_SERIAL;
                    case "ski" -> WSConstants.SKI_KEY_IDENTIFIER;
                    case "thumbprint" -> WSConstants.THUMBPRINT_IDENTIFIER;
                    default -> throw new IllegalArgumentException("key identifier " + args[i]);
                };
            } else if (args[i].equals("--sha512")) {
                sha512 = true;
            } else if (args[i].equals("--tamper") && i + 2 < args.length) {
                tamper = new String[] {args[++i], args[++i]};
            } else {
                throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }

        WSSecHeader header = new WSSecHeader();
        header.setMustUnderstand(true);
        header.insertSecurityHeader(document);
        WSSecTimestamp timestamp = new WSSecTimestamp();
        timestamp.setTimeToLive(300);
        timestamp.build(document, header);

        String soapNs = document.getDocumentElement().getNamespaceURI();
        List<WSEncryptionPart> parts = new ArrayList<>();
        parts.add(new WSEncryptionPart(WSConstants.ELEM_BODY, soapNs, ""));
        parts.add(new WSEncryptionPart(WSConstants.TIMESTAMP_TOKEN_LN, WSConstants.WSU_NS, ""));
        Element soapHeader = WSSecurityUtil.getDirectChildElement(document.getDocumentElement(),
                WSConstants.ELEM_HEADER, soapNs);
        for (String name : WSA_HEADERS) {
            if (!name.equals(unsigned)
                    && WSSecurityUtil.getDirectChildElement(soapHeader, name, WSA) != null) {
                parts.add(new WSEncryptionPart(name, WSA, ""));
            }
        }
        WSSecSignature signature = new WSSecSignature();
        signature.setUserInfo(args[3], args[2]);
        signature.setKeyIdentifierType(keyIdentifier);
        signature.setSignatureAlgorithm(sha512 ? RSA_SHA512 : RSA_SHA256);
        signature.setDigestAlgo(sha512 ? SHA512 : WSConstants.SHA256);
        signature.setParts(parts);
        signature.build(document, crypto, header);
        if (keyIdentifier != WSConstants.BST_DIRECT_REFERENCE) {
            X509Security token = new X509Security(document);
            token.setX509Certificate((X509Certificate) keyStore.getCertificate(args[3]));
            token.setID("X509-" + java.util.UUID.randomUUID());
            WSSecurityUtil.prependChildElement(header.getSecurityHeader(), token.getElement());
        }
        for (WSEncryptionPart part : parts) {
            System.out.println("signed\t{" + part.getNamespace() + "}" + part.getName());
        }
        if (tamper != null) {
            Element body = WSSecurityUtil.findBodyElement(document);
            Node text = findText(body, tamper[0]);
            if (text == null) {
                throw new IllegalArgumentException("no text " + tamper[0] + " in the Body");
            }
            text.setNodeValue(tamper[1]);
            System.out.println("tampered\t" + tamper[0] + " -> " + tamper[1]);
        }
        TransformerFactory.newInstance().newTransformer()
                .transform(new DOMSource(document), new StreamResult(Path.of(args[5]).toFile()));
    }

    static Node findText(Node node, String value) {
        for (Node child = node.getFirstChild(); child != null; child = child.getNextSibling()) {
            if (child.getNodeType() == Node.TEXT_NODE && child.getNodeValue().equals(value)) {
                return child;
            }
            Node found = findText(child, value);
            if (found != null) {
                return found;
            }
        }
        return null;
    }

    static boolean verify(String certificatePath, Path in) throws Exception {
        X509Certificate pinned;
        try (InputStream pem = new FileInputStream(certificatePath)) {
            pinned = (X509Certificate) CertificateFactory.getInstance("X.509")
                    .generateCertificate(pem);
        }
        KeyStore trustStore = KeyStore.getInstance("PKCS12");
        trustStore.load(null, null);
        trustStore.setCertificateEntry("server", pinned);
        Merlin trust = new Merlin();
        trust.setTrustStore(trustStore);

        Document document = parse(in);
        List<WSSecurityEngineResult> results;
        try {
            results = new WSSecurityEngine().processSecurityHeader(document, null, null, trust);
        } catch (Exception error) {
            System.out.println("FAIL\tprocessSecurityHeader\t" + error);
            return false;
        }
        if (results == null) {
            System.out.println("FAIL\tprocessSecurityHeader\tno Security header");
            return false;
        }
        System.out.println("ok\tprocessSecurityHeader\t" + results.size() + " results");
        boolean signed = false;
        boolean timestamped = false;
        boolean bodySigned = false;
        Element body = WSSecurityUtil.findBodyElement(document);
        for (WSSecurityEngineResult result : results) {
            int action = (Integer) result.get(WSSecurityEngineResult.TAG_ACTION);
            if (action == WSConstants.TS) {
                timestamped = true;
            } else if (action == WSConstants.SIGN) {
                X509Certificate certificate =
                        (X509Certificate) result.get(WSSecurityEngineResult.TAG_X509_CERTIFICATE);
                signed |= pinned.equals(certificate);
                @SuppressWarnings("unchecked")
                List<WSDataRef> references =
                        (List<WSDataRef>) result.get(WSSecurityEngineResult.TAG_DATA_REF_URIS);
                for (WSDataRef reference : references) {
                    QName name = reference.getName();
                    System.out.println("signed\t" + name);
                    bodySigned |= reference.getProtectedElement() == body;
                }
            }
        }
        return check(signed, "signature by the pinned certificate")
                & check(timestamped, "timestamp")
                & check(bodySigned, "Body signed");
    }

    static boolean check(boolean passed, String what) {
        System.out.println((passed ? "ok" : "FAIL") + "\t" + what);
        return passed;
    }

    static Document parse(Path path) throws Exception {
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setNamespaceAware(true);
        factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        try (InputStream in = Files.newInputStream(path)) {
            return factory.newDocumentBuilder().parse(in);
        }
    }
}
